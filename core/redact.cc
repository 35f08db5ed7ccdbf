#include "core/redact.h"

namespace consentd {

namespace {

// RFC 5322 atext and the dot: what a local part may hold unquoted. '*'
// among them, so an address masked before ("j***@…") is found again.
bool IsLocalChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view(".!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool IsDomainChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-';
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool IsAlnum(char c) { return IsHexDigit(c) || (c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z'); }

// `text` with every e-mail-like token replaced by `replace(token)`.
template <typename Replace>
std::string ReplaceEmails(std::string_view text, Replace replace) {
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
      out += replace(text.substr(begin, end - begin));
      copied = end;
      pos = end;
    } else {
      ++pos;
    }
  }
  out.append(text.substr(copied));
  return out;
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
  return ReplaceEmails(text, [](std::string_view email) { return MaskEmail(email); });
}

std::string RedactIdentifiersInText(std::string_view text) {
  const std::string no_addresses =
      ReplaceEmails(text, [](std::string_view) { return std::string("<address>"); });
  std::string out;
  out.reserve(no_addresses.size());
  const std::string_view t = no_addresses;
  size_t i = 0;
  while (i < t.size()) {
    if (!IsAlnum(t[i])) {
      out.push_back(t[i++]);
      continue;
    }
    size_t end = i;
    while (end < t.size() && IsAlnum(t[end])) ++end;
    const std::string_view word = t.substr(i, end - i);
    bool hex = word.size() == 32;
    for (size_t k = 0; hex && k < word.size(); ++k) hex = IsHexDigit(word[k]);
    if (hex) {
      out += "<hash>";
    } else {
      out.append(word);
    }
    i = end;
  }
  return out;
}

}  // namespace consentd
