#include "core/normalise.h"

#include <vector>

#include "core/punycode.h"

namespace consentd {
namespace {

constexpr std::size_t kMaxLocalPart = 64;  // RFC 5321 §4.5.3.1.1
constexpr std::size_t kMaxLabel = 63;      // RFC 1035 §2.3.4
constexpr std::size_t kMaxDomain = 253;
constexpr std::size_t kMinE164Digits = 7;   // e.g. Niue: +683 and 4 digits
constexpr std::size_t kMaxE164Digits = 15;  // ITU-T E.164 §6

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Simple (1:1) lower-case mapping for the scripts most often seen in
// European domain names. Full UTS #46 mapping is out of scope.
char32_t SimpleLower(char32_t c) {
  if (c < 0x80) return static_cast<char32_t>(AsciiLower(static_cast<char>(c)));
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;  // Latin-1
  if (c >= 0x100 && c <= 0x137) return c | 1u;               // Latin Ext-A
  if (c >= 0x139 && c <= 0x148) return (c & 1u) ? c + 1 : c;
  if (c >= 0x14A && c <= 0x177) return c | 1u;
  if (c == 0x178) return 0xFF;
  if (c >= 0x179 && c <= 0x17E) return (c & 1u) ? c + 1 : c;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;  // Greek
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 0x25;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 0x3F;
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;  // Cyrillic
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  if (c == 0x1E9E) return 0xDF;  // capital sharp s
  return c;
}

// Lower-cases one domain label and returns its ASCII form.
Result<std::string> NormaliseLabel(std::string_view label) {
  if (label.empty()) return InvalidArgument("e-mail domain has an empty label");
  auto cps = DecodeUtf8(label);
  if (!cps.ok()) return cps.status().WithContext("e-mail domain");
  bool ascii = true;
  for (char32_t& c : *cps) {
    c = SimpleLower(c);
    if (c >= 0x80) {
      ascii = false;
      continue;
    }
    const char ch = static_cast<char>(c);
    if (!IsAsciiAlpha(ch) && !IsDigit(ch) && ch != '-') {
      return InvalidArgument("e-mail domain contains a character not allowed in a host name");
    }
  }
  std::string out;
  if (ascii) {
    for (char32_t c : *cps) out.push_back(static_cast<char>(c));
  } else {
    auto encoded = PunycodeEncode(*cps);
    if (!encoded.ok()) return encoded.status();
    out = "xn--" + *encoded;
  }
  if (out.size() > kMaxLabel) return InvalidArgument("e-mail domain label longer than 63 octets");
  if (out.front() == '-' || out.back() == '-') {
    return InvalidArgument("e-mail domain label starts or ends with '-'");
  }
  return out;
}

// Splits a domain on '.' and the IDNA full-stop variants (U+3002, U+FF0E,
// U+FF61), which UTS #46 maps to '.'.
std::vector<std::string> SplitDomain(std::string_view domain) {
  // Built by appending rather than with std::string::replace, which trips
  // GCC 12's -Wrestrict false positive at -O3.
  std::string unified;
  unified.reserve(domain.size());
  for (std::size_t i = 0; i < domain.size();) {
    bool replaced = false;
    for (std::string_view dot : {"\xE3\x80\x82", "\xEF\xBC\x8E", "\xEF\xBD\xA1"}) {
      if (domain.substr(i, dot.size()) == dot) {
        unified.push_back('.');
        i += dot.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) unified.push_back(domain[i++]);
  }
  std::vector<std::string> labels;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= unified.size(); ++i) {
    if (i == unified.size() || unified[i] == '.') {
      labels.push_back(unified.substr(start, i - start));
      start = i + 1;
    }
  }
  return labels;
}

}  // namespace

Result<std::string> NormaliseEmail(std::string_view raw) {
  const std::string_view s = Trim(raw);
  if (s.empty()) return InvalidArgument("empty e-mail address");
  const auto at = s.find('@');
  if (at == std::string_view::npos) return InvalidArgument("e-mail address has no '@'");
  if (s.find('@', at + 1) != std::string_view::npos) {
    return InvalidArgument("e-mail address has more than one '@'");
  }
  const std::string_view local = s.substr(0, at);
  std::string_view domain = s.substr(at + 1);
  if (local.empty()) return InvalidArgument("e-mail address has an empty local part");
  if (local.size() > kMaxLocalPart)
    return InvalidArgument("e-mail local part longer than 64 octets");
  for (char c : local) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u == 0x7F) {
      return InvalidArgument("e-mail local part contains whitespace or a control character");
    }
    if (c == '"' || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' || c == ';' ||
        c == ':' || c == '[' || c == ']' || c == '\\') {
      return InvalidArgument("e-mail local part contains a character that needs quoting");
    }
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return InvalidArgument("e-mail local part has a misplaced '.'");
  }
  if (!DecodeUtf8(local).ok()) return InvalidArgument("e-mail local part is not valid UTF-8");

  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);  // root dot
  if (domain.empty()) return InvalidArgument("e-mail address has an empty domain");
  const std::vector<std::string> labels = SplitDomain(domain);
  if (labels.size() < 2) return InvalidArgument("e-mail domain has no '.'");
  std::string out(local);
  out.push_back('@');
  const std::size_t domain_start = out.size();
  std::string tld;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    auto label = NormaliseLabel(labels[i]);
    if (!label.ok()) return label.status();
    if (i > 0) out.push_back('.');
    out += *label;
    tld = std::move(*label);
  }
  if (out.size() - domain_start > kMaxDomain)
    return InvalidArgument("e-mail domain longer than 253 octets");
  bool numeric_tld = true;
  for (char c : tld) numeric_tld = numeric_tld && IsDigit(c);
  if (numeric_tld) return InvalidArgument("e-mail domain has a numeric top-level label");
  return out;
}

std::string EmailMatchKey(std::string_view normalised) {
  std::string out(normalised);
  for (char& c : out) c = AsciiLower(c);
  return out;
}

Result<std::string> NormalisePhone(std::string_view raw, std::string_view default_country_code) {
  std::string_view s = Trim(raw);
  if (s.size() >= 4 && AsciiLower(s[0]) == 't' && AsciiLower(s[1]) == 'e' &&
      AsciiLower(s[2]) == 'l' && s[3] == ':') {
    s.remove_prefix(4);
  }
  if (s.empty()) return InvalidArgument("empty phone number");

  bool international = false;
  std::string digits;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (IsDigit(c)) {
      digits.push_back(c);
    } else if (c == '+') {
      if (international || !digits.empty())
        return InvalidArgument("phone number has a misplaced '+'");
      international = true;
    } else if (c == '(' && international && s.substr(i, 3) == "(0)") {
      i += 2;  // "+49 (0)30 ...": the trunk prefix is not dialled from abroad
    } else if (c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')') {
      continue;
    } else {
      return InvalidArgument("phone number contains a character that is not a digit or separator");
    }
  }
  if (digits.empty()) return InvalidArgument("phone number has no digits");

  std::string e164;
  if (international) {
    e164 = digits;
  } else if (digits.starts_with("00")) {
    e164 = digits.substr(2);
  } else {
    if (default_country_code.empty() || default_country_code.size() > 3 ||
        default_country_code.front() == '0') {
      return InvalidArgument("national phone number needs a valid default country calling code");
    }
    for (char c : default_country_code) {
      if (!IsDigit(c)) return InvalidArgument("default country calling code must be digits");
    }
    const std::string_view national =
        std::string_view(digits).substr(digits.front() == '0' ? 1 : 0);
    e164 = std::string(default_country_code) + std::string(national);
  }
  if (e164.empty() || e164.front() == '0') {
    return InvalidArgument("phone number has a country calling code starting with 0");
  }
  if (e164.size() < kMinE164Digits) return InvalidArgument("phone number too short for E.164");
  if (e164.size() > kMaxE164Digits)
    return InvalidArgument("phone number longer than 15 digits (E.164)");
  return "+" + e164;
}

}  // namespace consentd
