#include "core/redact.h"

namespace consentd {

namespace {

bool IsLocalChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '%' || c == '+' || c == '-';
}

bool IsDomainChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-';
}

}  // namespace

std::string MaskEmail(std::string_view email) {
  const size_t at = email.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= email.size()) return "***";
  std::string out;
  out.reserve(email.size() - at + 4);
  out.push_back(email[0]);
  out += "***";
  out += email.substr(at);
  return out;
}

std::string MaskEmailsInText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t copied = 0;  // text[0, copied) is already in out
  size_t pos = 0;
  while ((pos = text.find('@', pos)) != std::string_view::npos) {
    size_t begin = pos;
    while (begin > copied && IsLocalChar(text[begin - 1])) --begin;
    size_t end = pos + 1;
    while (end < text.size() && IsDomainChar(text[end])) ++end;
    // Trailing dots and dashes end a sentence, not a domain.
    while (end > pos + 1 && (text[end - 1] == '.' || text[end - 1] == '-')) --end;
    const std::string_view domain = text.substr(pos + 1, end - pos - 1);
    if (begin < pos && domain.find('.') != std::string_view::npos) {
      out.append(text.substr(copied, begin - copied));
      out += MaskEmail(text.substr(begin, end - begin));
      copied = end;
      pos = end;
    } else {
      ++pos;
    }
  }
  out.append(text.substr(copied));
  return out;
}

}  // namespace consentd
