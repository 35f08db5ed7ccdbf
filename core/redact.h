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

// For text that is kept for good (the reasons in the proof log, which an
// erasure cannot remove): every e-mail-like token, masked or not, becomes
// "<address>", and every word of exactly 32 hex digits "<hash>" (Mailchimp's
// subscriber hash, the MD5 of the address, is in its member URLs, and so in
// its error messages).
std::string RedactIdentifiersInText(std::string_view text);

}  // namespace consentd
