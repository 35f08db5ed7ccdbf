// Internal to mapping/: the `mapping:` section's tables for the config
// toolkit (config/yaml_reader.h), and the raw entries they read into. The
// cross-reference checks that run on these entries are in loader.cc.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/yaml_reader.h"
#include "mapping/spec.h"

namespace consentd::mapping::internal {

struct Raw {
  struct Item {
    YAML::Node node;
    Position key_at;
    bool present = false;
  };
  Item systems, identity, skew_window, channels, topics, blocks, erasure;
};

struct TopicEntry {
  TopicSpec spec;
  bool has_name = false;
  Position name_at;
  std::vector<Position> channel_at;
  // The channel list had an error already reported (missing, misspelt
  // key, unknown channel): later checks against it stay quiet.
  bool channels_incomplete = true;
  YAML::Node systems;
  Position systems_at;
};

struct HubSpotTopicSide {
  std::map<std::string, std::int64_t> subscriptions;
  std::map<std::string, Position> at;
};

struct MailchimpTopicSide {
  std::vector<std::pair<MailchimpTopicKind, std::string>> claims;
  bool member_status_false = false;
};

struct BlockEntry {
  BlockSpec spec;
  bool has_name = false;
  bool has_scope = false;
  bool has_reason = false;
  bool side_errors = false;  // a side was rejected (already reported)
  Position name_at;
  YAML::Node systems;
  Position systems_at;
};

struct ErasureEntry {
  ErasureSpec spec;
  bool has_mode = false;
  Position mode_at;
  Position retain_at, legal_ground_at, retention_at;
  Position on_permanent_delete_at;  // line 0: not given
};

const config::Section<SystemSpec>& SystemSection();
const config::Section<IdentitySpec>& IdentitySection();
const config::Section<TopicEntry>& TopicSection();
const config::Section<HubSpotTopicSide>& HubSpotTopicSection();
const config::Section<MailchimpTopicSide>& MailchimpTopicSection();
const config::Section<TopicBinding>& GenericTopicSection();
const config::Section<BlockEntry>& BlockSection();
const config::Section<BlockSide>& HubSpotBlockSection();
const config::Section<BlockSide>& MailchimpBlockSection();
const config::Section<BlockSide>& GenericBlockSection();
const config::Section<ErasureEntry>& ErasureSection();
const config::Section<Raw>& RootSection();

// "12": a position's line, for "(first at line 12)".
std::string Line(Position p);
std::vector<std::string_view> Views(const std::vector<std::string>& names);

}  // namespace consentd::mapping::internal
