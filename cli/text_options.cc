#include "cli/text_options.h"

#include <string>

#include "core/json_string.h"

namespace consentd::cli {

const CLI::Validator& Utf8Text() {
  static const CLI::Validator v(
      [](std::string& value) -> std::string {
        if (ValidUtf8(value)) return {};
        return "not valid UTF-8 (byte " + std::to_string(FirstInvalidUtf8(value) + 1) +
               "); give the text in UTF-8";
      },
      "UTF-8");
  return v;
}

}  // namespace consentd::cli
