#include "core/punycode.h"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace consentd {
namespace {

// RFC 3492 §5 parameter values for Punycode.
constexpr std::uint32_t kBase = 36;
constexpr std::uint32_t kTMin = 1;
constexpr std::uint32_t kTMax = 26;
constexpr std::uint32_t kSkew = 38;
constexpr std::uint32_t kDamp = 700;
constexpr std::uint32_t kInitialBias = 72;
constexpr std::uint32_t kInitialN = 0x80;
constexpr std::uint64_t kMaxInt = std::numeric_limits<std::uint32_t>::max();

char EncodeDigit(std::uint32_t d) {
  // 0..25 -> 'a'..'z', 26..35 -> '0'..'9'
  return d < 26 ? static_cast<char>('a' + d) : static_cast<char>('0' + (d - 26));
}

// RFC 3492 §6.1 bias adaptation.
std::uint32_t Adapt(std::uint32_t delta, std::uint32_t num_points, bool first_time) {
  delta = first_time ? delta / kDamp : delta / 2;
  delta += delta / num_points;
  std::uint32_t k = 0;
  while (delta > ((kBase - kTMin) * kTMax) / 2) {
    delta /= kBase - kTMin;
    k += kBase;
  }
  return k + (((kBase - kTMin + 1) * delta) / (delta + kSkew));
}

}  // namespace

Result<std::vector<char32_t>> DecodeUtf8(std::string_view utf8) {
  std::vector<char32_t> out;
  out.reserve(utf8.size());
  std::size_t i = 0;
  while (i < utf8.size()) {
    const auto b0 = static_cast<unsigned char>(utf8[i]);
    std::size_t len = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if (b0 < 0x80) {
      len = 1, cp = b0, min = 0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2, cp = b0 & 0x1Fu, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3, cp = b0 & 0x0Fu, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4, cp = b0 & 0x07u, min = 0x10000;
    } else {
      return InvalidArgument("malformed UTF-8 (bad lead byte)");
    }
    if (i + len > utf8.size()) return InvalidArgument("malformed UTF-8 (truncated)");
    for (std::size_t j = 1; j < len; ++j) {
      const auto b = static_cast<unsigned char>(utf8[i + j]);
      if ((b & 0xC0) != 0x80) return InvalidArgument("malformed UTF-8 (bad continuation)");
      cp = (cp << 6) | (b & 0x3Fu);
    }
    if (cp < min) return InvalidArgument("malformed UTF-8 (overlong)");
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return InvalidArgument("malformed UTF-8 (not a scalar value)");
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void AppendUtf8(char32_t cp, std::string& out) {
  const auto c = static_cast<std::uint32_t>(cp);
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

Result<std::string> PunycodeEncode(const std::vector<char32_t>& input) {
  std::string output;
  for (char32_t c : input) {
    if (c < kInitialN) output.push_back(static_cast<char>(c));
  }
  const auto b = static_cast<std::uint32_t>(output.size());
  std::uint32_t h = b;
  if (b > 0) output.push_back('-');

  std::uint32_t n = kInitialN;
  std::uint64_t delta = 0;
  std::uint32_t bias = kInitialBias;
  const auto length = static_cast<std::uint32_t>(input.size());
  while (h < length) {
    // The smallest code point not yet handled.
    std::uint32_t m = std::numeric_limits<std::uint32_t>::max();
    for (char32_t c : input) {
      const auto cv = static_cast<std::uint32_t>(c);
      if (cv >= n && cv < m) m = cv;
    }
    delta += static_cast<std::uint64_t>(m - n) * (h + 1);
    if (delta > kMaxInt) return InvalidArgument("punycode overflow");
    n = m;
    for (char32_t c : input) {
      const auto cv = static_cast<std::uint32_t>(c);
      if (cv < n && ++delta > kMaxInt) return InvalidArgument("punycode overflow");
      if (cv != n) continue;
      auto q = static_cast<std::uint32_t>(delta);
      for (std::uint32_t k = kBase;; k += kBase) {
        const std::uint32_t t = k <= bias ? kTMin : (k >= bias + kTMax ? kTMax : k - bias);
        if (q < t) break;
        output.push_back(EncodeDigit(t + (q - t) % (kBase - t)));
        q = (q - t) / (kBase - t);
      }
      output.push_back(EncodeDigit(q));
      bias = Adapt(static_cast<std::uint32_t>(delta), h + 1, h == b);
      delta = 0;
      ++h;
    }
    ++delta;
    ++n;
  }
  return output;
}

}  // namespace consentd
