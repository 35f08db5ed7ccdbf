// Checks shared by consentctl options that carry text into the store or a
// JSON request: an address, an operator's note.
#pragma once

#include <CLI/CLI.hpp>

namespace consentd::cli {

// Refuses a value that is not valid UTF-8 (a terminal in Latin-1, a byte
// pasted from a binary file) as a usage error naming the option. Such a
// value cannot be sent as JSON, and kept in the store it would break every
// later JSON view of the row.
const CLI::Validator& Utf8Text();

}  // namespace consentd::cli
