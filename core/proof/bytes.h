// Byte-string helpers for the proof log: strict standard base64 (RFC 4648
// §4, padded) and lowercase hex. Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace consentd::proof {

std::string Base64Encode(std::string_view bytes);
// Appends the encoding of `bytes` to `out` (no intermediate string).
void AppendBase64(std::string& out, std::string_view bytes);

// Rejects anything that is not canonical padded base64 (wrong length, bad
// characters, non-zero padding bits), so one value has one spelling.
std::optional<std::string> Base64Decode(std::string_view text);

std::string HexEncode(std::string_view bytes);
std::optional<std::string> HexDecode(std::string_view text);

}  // namespace consentd::proof
