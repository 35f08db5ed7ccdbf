#include "mapping/policy.h"

#include <nlohmann/json.hpp>

#include "core/keyed_hash.h"

namespace consentd::mapping {
namespace {

// Adds `to` into `have`: inbound + outbound = both.
Direction Merge(std::optional<Direction> have, Direction to) {
  if (!have || *have == to) return to;
  return Direction::kBoth;
}

std::optional<Direction> CoreDirection(FlowDirection d, SystemRole role) {
  const bool from = FlowsFrom(d, role);
  const bool to = FlowsTo(d, role);
  if (from && to) return Direction::kBoth;
  if (from) return Direction::kInbound;
  if (to) return Direction::kOutbound;
  return std::nullopt;
}

std::string ScopeName(BlockScope::Kind kind) {
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

}  // namespace

Policy ToPolicy(const MappingSpec& spec) {
  Policy p;
  p.skew_window_ms = spec.skew_window.count();
  for (const TopicSpec& t : spec.topics) {
    TopicPolicy tp;
    tp.requires_double_opt_in = t.double_opt_in;
    tp.channels.insert(t.channels.begin(), t.channels.end());
    for (const auto& [system, binding] : t.bindings) {
      const SystemSpec* s = spec.FindSystem(system);
      if (s == nullptr) continue;
      if (auto d = CoreDirection(t.direction, s->role)) tp.systems[system] = *d;
    }
    p.topics[t.name] = std::move(tp);
  }
  std::map<std::string, std::optional<Direction>> blocks;
  for (const BlockSpec& b : spec.blocks) {
    for (const auto& [system, side] : b.sides) {
      const SystemSpec* s = spec.FindSystem(system);
      if (s == nullptr) continue;
      if (auto d = CoreDirection(b.direction, s->role)) {
        blocks[system] = Merge(blocks[system], *d);
      }
    }
  }
  for (const auto& [system, d] : blocks) {
    if (d) p.block_systems[system] = *d;
  }
  for (const auto& [name, s] : spec.systems) {
    TargetConstraints tc;
    tc.resubscribe_via_pending = s.kind == ConnectorKind::kMailchimp;
    const auto e = spec.erasure.find(name);
    tc.deletion_is_permanent = e == spec.erasure.end() || e->second.mode == ErasureMode::kDelete;
    p.constraints[name] = tc;
  }
  return p;
}

std::string CanonicalMappingText(const MappingSpec& spec) {
  using nlohmann::json;
  json j;
  j["version"] = 1;
  j["skew_window_ms"] = spec.skew_window.count();
  j["identity"] = {{"keys", spec.identity.keys},
                   {"default_country_code", spec.identity.default_country_code}};
  json systems = json::object();
  for (const auto& [name, s] : spec.systems) {
    systems[name] = {{"kind", ConnectorKindName(s.kind)},
                     {"role", SystemRoleName(s.role)},
                     {"confirms_double_opt_in", s.confirms_double_opt_in},
                     {"unsubscribe_withdraws_topics", s.unsubscribe_withdraws_topics}};
  }
  j["systems"] = systems;
  json channels = json::object();
  for (const auto& [name, c] : spec.channels) channels[name] = c.native;
  j["channels"] = channels;
  json topics = json::array();  // order as written: it is how they are listed
  for (const TopicSpec& t : spec.topics) {
    json bindings = json::object();
    for (const auto& [system, b] : t.bindings) {
      json jb = {{"kind", ConnectorKindName(b.kind)}};
      switch (b.kind) {
        case ConnectorKind::kHubSpot:
          jb["subscriptions"] = b.subscriptions;
          break;
        case ConnectorKind::kMailchimp:
          jb["mailchimp_kind"] = MailchimpTopicKindName(b.mailchimp_kind);
          jb["id"] = b.mailchimp_id;
          break;
        case ConnectorKind::kGeneric:
          jb["topic"] = b.native_topic;
          break;
      }
      bindings[system] = jb;
    }
    topics.push_back({{"name", t.name},
                      {"title", t.title},
                      {"notice_version", t.notice_version},
                      {"double_opt_in", t.double_opt_in},
                      {"legal_basis", t.legal_basis},
                      {"channels", t.channels},
                      {"direction", FlowDirectionName(t.direction)},
                      {"systems", bindings}});
  }
  j["topics"] = topics;
  json blocks = json::array();
  for (const BlockSpec& b : spec.blocks) {
    json sides = json::object();
    for (const auto& [system, s] : b.sides) {
      sides[system] = {{"kind", ConnectorKindName(s.kind)},
                       {"property", s.property},
                       {"value", s.value},
                       {"unsubscribe_all", s.unsubscribe_all},
                       {"member_status", s.member_status},
                       {"block", s.native_block}};
    }
    blocks.push_back({{"name", b.name},
                      {"scope", ScopeName(b.scope)},
                      {"reason", BlockReasonName(b.reason)},
                      {"direction", FlowDirectionName(b.direction)},
                      {"systems", sides}});
  }
  j["blocks"] = blocks;
  json erasure = json::object();
  for (const auto& [system, e] : spec.erasure) {
    erasure[system] = {{"mode", ErasureModeName(e.mode)},
                       {"retain", e.retain},
                       {"legal_ground", e.legal_ground},
                       {"retention", e.retention}};
  }
  j["erasure"] = erasure;
  // nlohmann::json objects are std::map-ordered: keys come out sorted.
  return j.dump();
}

std::string MappingHash(const MappingSpec& spec) { return Sha256Hex(CanonicalMappingText(spec)); }

}  // namespace consentd::mapping
