#include "mapping/native_util.h"

#include <cctype>

namespace consentd::mapping::internal {

std::string NoFlow(std::string_view what, std::string_view name, std::string_view from_or_to,
                   std::string_view system, FlowDirection d) {
  return std::string(what) + " '" + std::string(name) + "' does not flow " +
         std::string(from_or_to) + " " + std::string(system) + " (direction " +
         std::string(FlowDirectionName(d)) + ")";
}

bool ContainsNoCase(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    bool match = true;
    for (std::size_t j = 0; j < needle.size() && match; ++j) {
      match = std::tolower(static_cast<unsigned char>(haystack[i + j])) ==
              std::tolower(static_cast<unsigned char>(needle[j]));
    }
    if (match) return true;
  }
  return false;
}

const BlockSpec* BlockWithSide(const MappingSpec& spec, BlockScope::Kind scope,
                               std::string_view system) {
  for (const BlockSpec& b : spec.blocks) {
    if (b.scope == scope && b.sides.contains(std::string(system))) return &b;
  }
  return nullptr;
}

}  // namespace consentd::mapping::internal
