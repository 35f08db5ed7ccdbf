#include "core/model.h"

namespace consentd {
namespace {

bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::string ConsentKeyString(const ConsentKey& key) {
  return key.subject + "|" + key.topic + "|" + key.channel + "|" + key.address;
}

std::string_view BlockScopeKindName(BlockScope::Kind kind) {
  switch (kind) {
    case BlockScope::Kind::kAll:
      return "all";
    case BlockScope::Kind::kChannel:
      return "channel";
    case BlockScope::Kind::kAddress:
      return "address";
    case BlockScope::Kind::kTopic:
      return "topic";
  }
  return "all";
}

std::string BlockScopeString(const BlockScope& scope) {
  switch (scope.kind) {
    case BlockScope::Kind::kAll:
      return "all";
    case BlockScope::Kind::kChannel:
      return "channel:" + scope.value;
    case BlockScope::Kind::kAddress:
      return "address:" + scope.value;
    case BlockScope::Kind::kTopic:
      return "topic:" + scope.value;
  }
  return "unknown";
}

Result<BlockScope> ParseBlockScope(std::string_view text) {
  if (text == "all") return BlockScope::All();
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) {
    return InvalidArgument("block scope must be 'all' or '<kind>:<value>'");
  }
  const std::string_view kind = text.substr(0, colon);
  std::string value(text.substr(colon + 1));
  if (kind == "channel") return BlockScope::Channel(std::move(value));
  if (kind == "address") return BlockScope::Address(std::move(value));
  if (kind == "topic") return BlockScope::Topic(std::move(value));
  return InvalidArgument("unknown block scope kind '" + std::string(kind) + "'");
}

bool BlockCovers(const BlockScope& scope, std::string_view channel, std::string_view topic,
                 std::string_view address) {
  switch (scope.kind) {
    case BlockScope::Kind::kAll:
      return true;
    case BlockScope::Kind::kChannel:
      return scope.value == channel;
    case BlockScope::Kind::kTopic:
      return scope.value == topic;
    case BlockScope::Kind::kAddress:
      // Without an address the caller may be about to use any of them:
      // privacy by default treats every address block as covering.
      return address.empty() || EqualsIgnoreAsciiCase(scope.value, address);
  }
  return true;  // unknown scope: restrictive by default
}

const ConsentRecord* SubjectState::FindConsent(const ConsentKey& key) const {
  const auto it = consents.find(key);
  return it == consents.end() ? nullptr : &it->second;
}

}  // namespace consentd
