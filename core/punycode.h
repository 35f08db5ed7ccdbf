// Punycode (RFC 3492) encoding and strict UTF-8 decoding, used to turn
// internationalised domain labels into their ASCII ("xn--") form.
//
// Pure and thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace consentd {

// Decodes strict UTF-8 (no overlong forms, no surrogates, <= U+10FFFF).
// InvalidArgument on malformed input.
Result<std::vector<char32_t>> DecodeUtf8(std::string_view utf8);

// Appends the UTF-8 form of one code point. REQUIRES: a valid scalar value.
void AppendUtf8(char32_t cp, std::string& out);

// RFC 3492 §6.3 encoder: code points -> Punycode, without the "xn--"
// prefix. Basic (ASCII) code points are copied as they are (no case
// folding here). InvalidArgument on overflow.
Result<std::string> PunycodeEncode(const std::vector<char32_t>& code_points);

}  // namespace consentd
