#include "mapping/policy.h"

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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
    tc.reconsent_marker = s.ShowsReconsentMarker();
    // Mailchimp dates a member's state by last_changed, which any edit moves.
    tc.grant_time_is_record_time = s.kind == ConnectorKind::kMailchimp;
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
    // Only when not the default, so mappings written before it keep their hash.
    const ReconsentMarker& m = s.reconsent_marker;
    const ReconsentMarker default_marker;
    if (m.kind != default_marker.kind || m.tag != default_marker.tag ||
        m.merge_field != default_marker.merge_field || m.value != default_marker.value) {
      systems[name]["reconsent_marker"] = {{"kind", ReconsentMarkerKindName(m.kind)},
                                           {"tag", m.tag},
                                           {"merge_field", m.merge_field},
                                           {"value", m.value}};
    }
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
                      {"scope", std::string(BlockScopeKindName(b.scope))},
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
    // Only when set: mappings without it keep their hash.
    if (e.on_permanent_delete == ErasureSpec::OnPermanentDelete::kErase) {
      erasure[system]["on_permanent_delete"] = "erase";
    }
  }
  j["erasure"] = erasure;
  // nlohmann::json objects are std::map-ordered: keys come out sorted.
  return j.dump();
}

std::string MappingHash(const MappingSpec& spec) { return Sha256Hex(CanonicalMappingText(spec)); }

namespace {

using nlohmann::json;

// The canonical JSON of each named item of one list ("topics", "blocks").
std::map<std::string, json> ItemsByName(const json& canonical, const char* list) {
  std::map<std::string, json> out;
  for (const json& item : canonical.at(list)) out[item.at("name").get<std::string>()] = item;
  return out;
}

// "a -> b" lines for the scalar members that differ, then one line for the
// members that are objects/arrays ("bindings changed").
void DescribeItemChange(const std::string& what, const json& before, const json& after,
                        std::vector<std::string>& lines) {
  std::vector<std::string> structural;
  for (const auto& [key, value] : after.items()) {
    const json old = before.contains(key) ? before.at(key) : json();
    if (old == value) continue;
    if (value.is_primitive() && old.is_primitive()) {
      auto show = [](const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
      lines.push_back(what + ": " + key + " " + show(old) + " -> " + show(value));
    } else {
      structural.push_back(key);
    }
  }
  for (const std::string& key : structural) lines.push_back(what + ": " + key + " changed");
}

void DescribeList(const json& before, const json& after, const char* list, const char* noun,
                  const char* removed_note, std::vector<std::string>& lines) {
  const auto old_items = ItemsByName(before, list);
  const auto new_items = ItemsByName(after, list);
  for (const auto& [name, item] : new_items) {
    auto it = old_items.find(name);
    if (it == old_items.end()) {
      lines.push_back(std::string(noun) + " " + name + " added (direction " +
                      item.value("direction", std::string("both")) + ")");
    } else {
      DescribeItemChange(std::string(noun) + " " + name, it->second, item, lines);
    }
  }
  for (const auto& [name, item] : old_items) {
    if (!new_items.contains(name)) {
      lines.push_back(std::string(noun) + " " + name + " removed: " + removed_note);
    }
  }
}

}  // namespace

std::vector<std::string> DescribeMappingChange(const MappingSpec& before,
                                               const MappingSpec& after) {
  using nlohmann::json;
  const json old_j = json::parse(CanonicalMappingText(before));
  const json new_j = json::parse(CanonicalMappingText(after));
  std::vector<std::string> lines;
  if (old_j == new_j) return lines;
  DescribeList(old_j, new_j, "topics", "topic", "it no longer propagates", lines);
  DescribeList(old_j, new_j, "blocks", "block", "it no longer propagates", lines);
  for (const auto& [system, e] : new_j.at("erasure").items()) {
    const json& erasure = old_j.at("erasure");
    if (!erasure.contains(system)) {
      lines.push_back("erasure for " + system + " added (mode " +
                      e.value("mode", std::string()) + ")");
    } else {
      DescribeItemChange("erasure for " + system, erasure.at(system), e, lines);
    }
  }
  for (const auto& [system, e] : old_j.at("erasure").items()) {
    if (!new_j.at("erasure").contains(system)) lines.push_back("erasure for " + system + " removed");
  }
  std::vector<std::string> rest;
  for (const auto& [key, value] : new_j.items()) {
    if (key == "topics" || key == "blocks" || key == "erasure") continue;
    if (!old_j.contains(key) || old_j.at(key) != value) rest.push_back(key);
  }
  for (const auto& [key, value] : old_j.items()) {
    if (!new_j.contains(key)) rest.push_back(key);
  }
  for (const std::string& key : rest) lines.push_back(key + " changed");
  if (lines.empty()) lines.emplace_back("order of topics or blocks changed");
  return lines;
}

}  // namespace consentd::mapping
