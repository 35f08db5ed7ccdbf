#include "connectors/mailchimp/wire_format.h"

#include <openssl/evp.h>

#include <cstdint>
#include <cstdio>

namespace consentd::connectors::mailchimp {
namespace {

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t y;
  unsigned m, d, hh, mm, ss;
};

Civil ToCivil(TimestampMs t) {
  std::int64_t secs = t >= 0 ? t / 1000 : (t - 999) / 1000;
  std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  auto sod = static_cast<unsigned>(secs - days * 86400);
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
  return {y, m, d, sod / 3600, sod / 60 % 60, sod % 60};
}

bool Digits(std::string_view s, size_t pos, size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + static_cast<unsigned>(s[i] - '0');
  }
  return true;
}

}  // namespace

std::string Md5Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // MD5 is only an identifier here (Mailchimp's), never a security measure.
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr) != 1) {
    return {};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0x0f]);
  }
  return out;
}

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string SubscriberHash(std::string_view email) { return Md5Hex(LowerAscii(email)); }

std::string FormatIso(TimestampMs t) {
  Civil c = ToCivil(t);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02u:%02u:%02u+00:00",
                static_cast<long long>(c.y), c.m, c.d, c.hh, c.mm, c.ss);
  return buf;
}

std::string FormatFiredAt(TimestampMs t) {
  Civil c = ToCivil(t);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u %02u:%02u:%02u", static_cast<long long>(c.y),
                c.m, c.d, c.hh, c.mm, c.ss);
  return buf;
}

std::optional<TimestampMs> ParseDateTime(std::string_view s) {
  unsigned y, mo, d, h, mi, sec;
  if (!Digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !Digits(s, 5, 2, mo) || s[7] != '-' ||
      !Digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != ' ') || !Digits(s, 11, 2, h) ||
      s[13] != ':' || !Digits(s, 14, 2, mi) || s[16] != ':' || !Digits(s, 17, 2, sec))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  size_t pos = 19;
  std::int64_t ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    std::int64_t scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      ms += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  std::int64_t offset_min = 0;
  if (pos < s.size()) {
    if (s[pos] == 'Z' && pos + 1 == s.size()) {
      ++pos;
    } else if ((s[pos] == '+' || s[pos] == '-' || s[pos] == ' ') && s.size() == pos + 6 &&
               s[pos + 3] == ':') {
      unsigned oh, om;
      if (!Digits(s, pos + 1, 2, oh) || !Digits(s, pos + 4, 2, om)) return std::nullopt;
      offset_min = (s[pos] == '-' ? -1 : 1) * static_cast<std::int64_t>(oh * 60 + om);
      pos = s.size();
    } else {
      return std::nullopt;
    }
  }
  if (pos != s.size()) return std::nullopt;
  std::int64_t days = DaysFromCivil(y, mo, d);
  std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
  return secs * 1000 + ms;
}

std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  auto encode = [](std::string_view s, std::string& out) {
    for (unsigned char c : s) {
      if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_' || c == '.' || c == '*') {
        out.push_back(static_cast<char>(c));
      } else if (c == ' ') {
        out.push_back('+');
      } else {
        out.push_back('%');
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0x0f]);
      }
    }
  };
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out.push_back('&');
    encode(k, out);
    out.push_back('=');
    encode(v, out);
  }
  return out;
}

}  // namespace consentd::connectors::mailchimp
