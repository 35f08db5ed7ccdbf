// JSON strings written by hand, for the places that write JSON text
// straight into a string instead of building a tree: the proof log's
// canonical entries (core/proof/entry_codec.h) and the simulator's large
// answers (sim/json_writer.h). Escaping is RFC 8785's, which is also what
// nlohmann's dump() writes: \" \\ \b \t \n \f \r, other control
// characters as \u00xx (lower-case hex), every other byte as it is. Pure.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace consentd {

// True if `s` is well-formed UTF-8 (no overlong forms, surrogates or code
// points past U+10FFFF).
bool ValidUtf8(std::string_view s);
// The offset of the first byte that does not start a well-formed UTF-8
// sequence, or npos if `s` is well-formed.
std::size_t FirstInvalidUtf8(std::string_view s);

// Appends `s` quoted and escaped. Valid UTF-8 in gives valid UTF-8 out;
// other bytes are copied unchecked.
void AppendJsonEscaped(std::string& out, std::string_view s);

// As AppendJsonEscaped, but false (and nothing appended) if `s` is not
// valid UTF-8: a canonical form has exactly one spelling.
bool AppendJsonString(std::string& out, std::string_view s);

}  // namespace consentd
