// Redaction of personal data for logs and error messages. The one shared
// place that decides how an e-mail address looks when it must be mentioned:
// "jane.doe@example.com" → "j***@example.com". Pure and thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace consentd {

// Masks one address: the first character of the local part, "***", then
// "@domain". Input without a usable '@' yields "***" (nothing leaks).
std::string MaskEmail(std::string_view email);

// Masks every e-mail-like token in free text (a log line, an error from a
// vendor). Already masked tokens are left as they are.
std::string MaskEmailsInText(std::string_view text);

}  // namespace consentd
