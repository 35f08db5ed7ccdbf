// Small helpers shared by the native mappers (internal to mapping/).
#pragma once

#include <string>
#include <string_view>

#include "mapping/spec.h"

namespace consentd::mapping::internal {

// "topic 'x' does not flow from hubspot (direction crm_to_journey)".
std::string NoFlow(std::string_view what, std::string_view name, std::string_view from_or_to,
                   std::string_view system, FlowDirection d);

// True if `haystack` contains `needle`, ASCII case-insensitively.
bool ContainsNoCase(std::string_view haystack, std::string_view needle);

// The block of `spec` with scope `scope` that has a side in `system`, or nullptr.
const BlockSpec* BlockWithSide(const MappingSpec& spec, BlockScope::Kind scope,
                               std::string_view system);

}  // namespace consentd::mapping::internal
