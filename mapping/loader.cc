// The `mapping:` section: the shape is read by the tables in
// loader_sections.cc, then the cross-references are checked here in a fixed
// order (systems, channels, topics, blocks, erasure) whatever the key order
// in the file, so that names can be checked against what was declared.
#include "mapping/loader.h"

#include <fstream>
#include <set>
#include <sstream>

#include "config/suggest.h"
#include "core/file_read.h"
#include "mapping/loader_sections.h"

namespace consentd::mapping {
namespace {

using internal::BlockEntry;
using internal::BlockSection;
using internal::ErasureEntry;
using internal::ErasureSection;
using internal::GenericBlockSection;
using internal::GenericTopicSection;
using internal::HubSpotBlockSection;
using internal::HubSpotTopicSection;
using internal::HubSpotTopicSide;
using internal::IdentitySection;
using internal::Line;
using internal::MailchimpBlockSection;
using internal::MailchimpTopicSection;
using internal::MailchimpTopicSide;
using internal::Raw;
using internal::RootSection;
using internal::SystemSection;
using internal::TopicEntry;
using internal::TopicSection;
using internal::Views;

using config::DidYouMean;
using config::ReadContext;

// ---------------------------------------------------------------- checks

class Loader {
 public:
  Loader(ReadContext& c, MappingSpec& out) : c_(c), out_(out) {}

  void Run(const YAML::Node& node) {
    Raw raw;
    RootSection().Read(node, c_, raw);
    const Position saved = c_.key_at;
    if (raw.systems.present) With(raw.systems, [&] { Systems(raw.systems.node); });
    if (raw.identity.present) {
      With(raw.identity, [&] { IdentitySection().Read(raw.identity.node, c_, out_.identity); });
    }
    if (raw.skew_window.present) {
      With(raw.skew_window, [&] {
        if (auto d = config::ReadDuration(raw.skew_window.node, c_, std::chrono::milliseconds(0),
                                          std::chrono::hours(1))) {
          out_.skew_window = *d;
        }
      });
    }
    if (raw.channels.present) With(raw.channels, [&] { Channels(raw.channels.node); });
    if (raw.topics.present) With(raw.topics, [&] { Topics(raw.topics.node); });
    if (raw.blocks.present) With(raw.blocks, [&] { Blocks(raw.blocks.node); });
    if (raw.erasure.present) With(raw.erasure, [&] { Erasure(raw.erasure.node); });
    c_.key_at = saved;
    Finish(saved);
  }

 private:
  template <typename F>
  void With(const Raw::Item& item, F f) {
    const Position saved = c_.key_at;
    c_.key_at = item.key_at;
    f();
    c_.key_at = saved;
  }

  std::vector<std::string> SystemNames() const {
    std::vector<std::string> names;
    for (const auto& [name, s] : out_.systems) names.push_back(name);
    return names;
  }

  // The system named by `key`, or an error with a suggestion.
  const SystemSpec* KnownSystem(const std::string& name, const YAML::Node& key) {
    if (const SystemSpec* s = out_.FindSystem(name)) return s;
    const auto names = SystemNames();
    c_.diag.Error(config::PositionOf(key),
                  "unknown system '" + name + "'" + DidYouMean(name, Views(names)) +
                      (names.empty() ? "; declare it under 'systems'" : ""));
    return nullptr;
  }

  void Systems(const YAML::Node& n) {
    std::map<SystemRole, const SystemSpec*> by_role;
    config::ReadNamedMappings(
        n, c_, [&](const std::string& name, const YAML::Node& key, const YAML::Node& value) {
          SystemSpec s;
          s.name = name;
          s.at = config::PositionOf(key);
          SystemSection().Read(value, c_, s);
          if (s.kind != ConnectorKind::kMailchimp && value.IsMap() &&
              value["confirms_double_opt_in"].IsDefined()) {
            c_.diag.Warning(s.at, "'confirms_double_opt_in' only applies to mailchimp systems");
          }
          if (s.kind != ConnectorKind::kMailchimp && value.IsMap() &&
              value["reconsent_marker"].IsDefined()) {
            c_.diag.Warning(s.reconsent_marker.at,
                            "'reconsent_marker' only applies to mailchimp systems: other systems "
                            "are not told about re-consent");
          }
          auto [it, inserted] = out_.systems.emplace(name, s);
          // Only a role that was read as written can clash or be clashed
          // with: a misspelt one has its own error and must not also claim
          // the default role from the system that really has it.
          const bool role_read = value.IsMap() && value["role"].IsScalar() &&
                                 (value["role"].Scalar() == "crm" ||
                                  value["role"].Scalar() == "journey");
          if (!role_read) return;
          auto [prev, first] = by_role.emplace(s.role, &it->second);
          if (!first) {
            c_.diag.Error(config::PositionOf(value["role"]),
                          "system '" + name + "' has role " + std::string(SystemRoleName(s.role)) +
                              ", already taken by '" + prev->second->name + "' (line " +
                              Line(prev->second->at) + "): one system per role");
          }
        });
    if (out_.systems.empty()) {
      c_.diag.Warning(c_.key_at, "no system is declared: nothing will be synchronised");
    } else if (out_.systems.size() == 1) {
      c_.diag.Warning(c_.key_at, "only one system is declared: nothing will be synchronised");
    }
  }

  void Channels(const YAML::Node& n) {
    config::ReadNamedMappings(
        n, c_, [&](const std::string& name, const YAML::Node& key, const YAML::Node& value) {
          const Position at = config::PositionOf(key);
          bool known = false;
          for (std::string_view k : kChannelNames) known = known || k == name;
          if (!known) {
            c_.diag.Error(at, "unknown channel '" + name + "'" + DidYouMean(name, kChannelNames) +
                                  "; channels are email, sms, whatsapp, postal, phone");
            return;
          }
          ChannelSpec ch;
          ch.name = name;
          ch.at = at;
          config::ReadNamedMappings(
              value, c_,
              [&](const std::string& sys, const YAML::Node& skey, const YAML::Node& svalue) {
                const SystemSpec* s = KnownSystem(sys, skey);
                auto native = config::ReadString(svalue, c_, "the system's name for the channel");
                if (s == nullptr || !native) return;
                const auto& allowed = CapabilitiesOf(s->kind).native_channels;
                if (!allowed.empty() && !allowed.contains(*native)) {
                  bad_natives_.insert(name + "|" + sys);
                  std::vector<std::string> names(allowed.begin(), allowed.end());
                  std::string list;
                  for (const auto& a : names) list += (list.empty() ? "" : ", ") + a;
                  c_.diag.Error(config::ValuePosition(svalue, c_),
                                std::string(ConnectorKindName(s->kind)) + " has no channel '" +
                                    *native + "'" + DidYouMean(*native, Views(names)) +
                                    "; it knows: " + list);
                  return;
                }
                ch.native[sys] = *native;
              });
          out_.channels.emplace(name, std::move(ch));
        });
  }

  void Topics(const YAML::Node& n) {
    std::map<std::string, Position> names;
    // Native claims: "system|what|id" -> topic and where.
    std::map<std::string, std::pair<std::string, Position>> claims;
    config::ReadList(n, c_, [&](const YAML::Node& item) {
      TopicEntry e;
      e.spec.at = config::PositionOf(item);
      TopicSection().Read(item, c_, e);
      if (e.has_name) {
        auto [prev, inserted] = names.emplace(e.spec.name, e.name_at);
        if (!inserted) {
          c_.diag.Error(e.name_at, "duplicate topic '" + e.spec.name + "' (first at line " +
                                       Line(prev->second) + ")");
          return;
        }
      }
      TopicChannels(e);
      TopicSystems(e, claims);
      if (e.has_name) out_.topics.push_back(std::move(e.spec));
    });
  }

  void TopicChannels(TopicEntry& e) {
    std::vector<std::string> declared;
    for (const auto& [name, ch] : out_.channels) declared.push_back(name);
    std::vector<std::string> kept;
    for (std::size_t i = 0; i < e.spec.channels.size(); ++i) {
      const std::string& ch = e.spec.channels[i];
      const Position at = e.channel_at[i];
      if (!out_.channels.contains(ch)) {
        bool canonical = false;
        for (std::string_view k : kChannelNames) canonical = canonical || k == ch;
        if (canonical) {
          c_.diag.Error(at, "channel '" + ch + "' is not declared under 'mapping.channels'");
          e.channels_incomplete = true;
        } else {
          c_.diag.Error(at, "unknown channel '" + ch + "'" +
                                DidYouMean(ch, declared.empty() ? std::vector<std::string_view>(
                                                                      std::begin(kChannelNames),
                                                                      std::end(kChannelNames))
                                                                : Views(declared)));
          e.channels_incomplete = true;
        }
        continue;
      }
      bool again = false;
      for (const auto& k : kept) again = again || k == ch;
      if (again) {
        c_.diag.Warning(at, "channel '" + ch + "' is listed twice");
        continue;
      }
      kept.push_back(ch);
    }
    e.spec.channels = kept;
    if (e.has_name && kept.empty() && !e.channels_incomplete) {
      c_.diag.Error(e.name_at, "topic '" + e.spec.name + "' names no channel");
    }
  }

  void Claim(std::map<std::string, std::pair<std::string, Position>>& claims,
             const std::string& key, const std::string& what, const std::string& owner, Position at,
             std::string_view owner_kind = "topic") {
    auto [prev, inserted] = claims.emplace(key, std::make_pair(owner, at));
    if (!inserted) {
      c_.diag.Error(at, what + " is already mapped to " + std::string(owner_kind) + " '" +
                            prev->second.first + "' (line " + Line(prev->second.second) +
                            "): one native name maps to one canonical " + std::string(owner_kind));
    }
  }

  void TopicSystems(TopicEntry& e,
                    std::map<std::string, std::pair<std::string, Position>>& claims) {
    if (!e.systems.IsDefined() || e.systems.IsNull()) {
      if (e.has_name) {
        c_.diag.Warning(e.name_at, "topic '" + e.spec.name +
                                       "' is mapped to no system: it is never synchronised");
      }
      return;
    }
    const Position saved = c_.key_at;
    c_.key_at = e.systems_at;
    config::ReadNamedMappings(
        e.systems, c_, [&](const std::string& sys, const YAML::Node& key, const YAML::Node& value) {
          const SystemSpec* s = KnownSystem(sys, key);
          if (s == nullptr) return;
          TopicBinding b;
          b.system = sys;
          b.kind = s->kind;
          b.at = config::PositionOf(key);
          switch (s->kind) {
            case ConnectorKind::kHubSpot: {
              HubSpotTopicSide side;
              HubSpotTopicSection().Read(value, c_, side);
              for (const auto& [ch, id] : side.subscriptions) {
                const Position at = side.at[ch];
                if (!TopicHasChannel(e, ch, at)) continue;
                const std::string native = out_.NativeChannel(ch, sys);
                if (native.empty()) {
                  if (bad_natives_.contains(ch + "|" + sys)) continue;
                  c_.diag.Error(at, "channel '" + ch + "' has no name in system '" + sys +
                                        "': add it under mapping.channels." + ch + "." + sys);
                  continue;
                }
                Claim(claims, sys + "|subscription|" + native + "|" + std::to_string(id),
                      "subscription type " + std::to_string(id) + " on " + native, e.spec.name, at);
                b.subscriptions[ch] = id;
              }
              break;
            }
            case ConnectorKind::kMailchimp: {
              MailchimpTopicSide side;
              MailchimpTopicSection().Read(value, c_, side);
              if (side.claims.size() != 1) {
                c_.diag.Error(b.at, "topic '" + e.spec.name + "' in mailchimp system '" + sys +
                                        "' needs exactly one of 'interest', 'marketing_permission' "
                                        "or 'member_status: true'");
                return;
              }
              b.mailchimp_kind = side.claims[0].first;
              b.mailchimp_id = side.claims[0].second;
              bool has_channel = false;
              for (const auto& ch : e.spec.channels) {
                has_channel = has_channel || !out_.NativeChannel(ch, sys).empty();
              }
              if (!has_channel && !e.spec.channels.empty()) {
                c_.diag.Error(b.at, "topic '" + e.spec.name + "' has no channel that system '" +
                                        sys + "' carries (add 'email' with " + sys +
                                        ": email under mapping.channels)");
              }
              const std::string kind(MailchimpTopicKindName(b.mailchimp_kind));
              Claim(claims, sys + "|" + kind + "|" + b.mailchimp_id,
                    b.mailchimp_kind == MailchimpTopicKind::kMemberStatus
                        ? "the member status of '" + sys + "'"
                        : kind + " '" + b.mailchimp_id + "' of '" + sys + "'",
                    e.spec.name, b.at);
              break;
            }
            case ConnectorKind::kGeneric:
              GenericTopicSection().Read(value, c_, b);
              if (!b.native_topic.empty()) {
                Claim(claims, sys + "|topic|" + b.native_topic,
                      "topic '" + b.native_topic + "' of '" + sys + "'", e.spec.name, b.at);
              }
              break;
          }
          e.spec.bindings[sys] = std::move(b);
        });
    c_.key_at = saved;
  }

  bool TopicHasChannel(const TopicEntry& e, const std::string& ch, Position at) {
    for (const auto& c : e.spec.channels) {
      if (c == ch) return true;
    }
    if (e.channels_incomplete) return false;
    c_.diag.Error(at, "channel '" + ch + "' is not one of topic '" + e.spec.name + "''s channels" +
                          DidYouMean(ch, Views(e.spec.channels)));
    return false;
  }

  void Blocks(const YAML::Node& n) {
    std::map<std::string, Position> names;
    std::map<std::string, std::pair<std::string, Position>> claims;
    config::ReadList(n, c_, [&](const YAML::Node& item) {
      BlockEntry e;
      e.spec.at = config::PositionOf(item);
      BlockSection().Read(item, c_, e);
      if (!e.has_reason) {
        e.spec.reason = e.spec.scope == BlockScope::Kind::kAddress   ? BlockReason::kBounced
                        : e.spec.scope == BlockScope::Kind::kChannel ? BlockReason::kUnsubscribed
                                                                     : BlockReason::kManual;
      }
      if (e.has_name) {
        auto [prev, inserted] = names.emplace(e.spec.name, e.name_at);
        if (!inserted) {
          c_.diag.Error(e.name_at, "duplicate block '" + e.spec.name + "' (first at line " +
                                       Line(prev->second) + ")");
          return;
        }
      }
      if (!e.has_scope) return;
      if (e.systems.IsDefined() && !e.systems.IsNull()) {
        const Position saved = c_.key_at;
        c_.key_at = e.systems_at;
        config::ReadNamedMappings(
            e.systems, c_,
            [&](const std::string& sys, const YAML::Node& key, const YAML::Node& value) {
              const SystemSpec* s = KnownSystem(sys, key);
              if (s == nullptr || !BlockSideOf(e, *s, key, value, claims)) e.side_errors = true;
            });
        c_.key_at = saved;
      }
      if (e.spec.sides.empty()) {
        if (e.has_name && !e.side_errors) {
          c_.diag.Error(
              e.systems_at.line > 0 ? e.systems_at : e.name_at,
              "block '" + e.spec.name + "' has no side: name at least one system under 'systems'");
        }
        return;
      }
      if (e.has_name) out_.blocks.push_back(std::move(e.spec));
    });
  }

  // False if the side was rejected (reported).
  bool BlockSideOf(BlockEntry& e, const SystemSpec& s, const YAML::Node& key,
                   const YAML::Node& value,
                   std::map<std::string, std::pair<std::string, Position>>& claims) {
    BlockSide side;
    side.system = s.name;
    side.kind = s.kind;
    side.at = config::PositionOf(key);
    const std::string scope =
        BlockScopeString(BlockScope{e.spec.scope, ""})
            .substr(0, BlockScopeString(BlockScope{e.spec.scope, ""}).find(':'));
    switch (s.kind) {
      case ConnectorKind::kHubSpot: {
        HubSpotBlockSection().Read(value, c_, side);
        if (e.spec.scope == BlockScope::Kind::kChannel) {
          if (!side.unsubscribe_all || !side.property.empty()) {
            c_.diag.Error(side.at,
                          "a channel block in hubspot is its per-channel "
                          "'unsubscribe_all: true' (no 'property')");
            return false;
          }
          Claim(claims, s.name + "|unsubscribe_all", "hubspot's unsubscribe_all", e.spec.name,
                side.at, "block");
        } else {
          if (side.property.empty() || side.value.empty() || side.unsubscribe_all) {
            c_.diag.Error(side.at, (scope == "address" ? "an " : "a ") + scope +
                                       " block in hubspot is a contact 'property' and the 'value' "
                                       "that means blocked");
            return false;
          }
          Claim(claims, s.name + "|property|" + side.property,
                "property '" + side.property + "' of '" + s.name + "'", e.spec.name, side.at,
                "block");
        }
        break;
      }
      case ConnectorKind::kMailchimp: {
        MailchimpBlockSection().Read(value, c_, side);
        if (side.member_status.empty()) return false;
        const std::string want =
            e.spec.scope == BlockScope::Kind::kAddress ? "cleaned" : "unsubscribed";
        if (side.member_status != want) {
          c_.diag.Error(config::PositionOf(value["status"]),
                        (scope == "address" ? "an " : "a ") + scope +
                            " block in mailchimp is member status '" + want + "', not '" +
                            side.member_status + "'");
          return false;
        }
        Claim(claims, s.name + "|status|" + side.member_status,
              "member status '" + side.member_status + "' of '" + s.name + "'", e.spec.name,
              side.at, "block");
        break;
      }
      case ConnectorKind::kGeneric:
        GenericBlockSection().Read(value, c_, side);
        if (side.native_block.empty()) return false;
        // One native block name per block: events name it, and two blocks
        // sharing it could not be told apart.
        Claim(claims, s.name + "|block|" + side.native_block,
              "block '" + side.native_block + "' of '" + s.name + "'", e.spec.name, side.at,
              "block");
        break;
    }
    e.spec.sides[s.name] = std::move(side);
    return true;
  }

  void Erasure(const YAML::Node& n) {
    config::ReadNamedMappings(
        n, c_, [&](const std::string& sys, const YAML::Node& key, const YAML::Node& value) {
          const SystemSpec* s = KnownSystem(sys, key);
          ErasureEntry e;
          e.spec.system = sys;
          e.spec.at = config::PositionOf(key);
          ErasureSection().Read(value, c_, e);
          if (s == nullptr || !e.has_mode) return;
          if (e.on_permanent_delete_at.line > 0 && s->kind != ConnectorKind::kMailchimp) {
            // Only Mailchimp has a permanent deletion distinct from archiving.
            c_.diag.Error(e.on_permanent_delete_at,
                          "'on_permanent_delete' is for mailchimp systems; '" + sys + "' is " +
                              std::string(ConnectorKindName(s->kind)));
            return;
          }
          const auto& modes = CapabilitiesOf(s->kind).erasure_modes;
          if (!modes.contains(e.spec.mode)) {
            std::string list;
            for (ErasureMode m : modes)
              list += (list.empty() ? "" : ", ") + std::string(ErasureModeName(m));
            c_.diag.Error(e.mode_at, "erasure mode '" + std::string(ErasureModeName(e.spec.mode)) +
                                         "' is not supported by " +
                                         std::string(ConnectorKindName(s->kind)) + " system '" +
                                         sys + "' (it supports: " + list + ")");
            return;
          }
          if (e.spec.mode == ErasureMode::kRestrict) {
            if (e.spec.retain.empty()) {
              c_.diag.Error(e.retain_at.line > 0 ? e.retain_at : e.spec.at,
                            "erasure mode 'restrict' for '" + sys +
                                "' needs 'retain': the data categories kept (e.g. [invoices])");
            }
            if (e.spec.legal_ground.empty()) {
              c_.diag.Error(e.legal_ground_at.line > 0 ? e.legal_ground_at : e.spec.at,
                            "erasure mode 'restrict' for '" + sys +
                                "' needs 'legal_ground': why the data is kept");
            }
            if (e.spec.retention.empty() && e.retention_at.line == 0) {
              c_.diag.Error(e.spec.at,
                            "erasure mode 'restrict' for '" + sys +
                                "' needs 'retention': how long the data is kept (e.g. 10y)");
            }
          } else {
            for (Position p : {e.retain_at, e.legal_ground_at, e.retention_at}) {
              if (p.line > 0) {
                c_.diag.Warning(p, "ignored: only erasure mode 'restrict' keeps data");
              }
            }
            e.spec.retain.clear();
            e.spec.legal_ground.clear();
            e.spec.retention.clear();
          }
          out_.erasure[sys] = std::move(e.spec);
        });
  }

  void Finish(Position section_at) {
    if (out_.topics.empty() && out_.blocks.empty() && !c_.diag.has_errors()) {
      // Valid, and a reload of it would stop every topic: said, not refused.
      c_.diag.Warning(section_at, "no topic or block is mapped: nothing will be synchronised");
    }
    // A member-status topic speaks for the whole audience.
    for (const TopicSpec& t : out_.topics) {
      for (const auto& [sys, b] : t.bindings) {
        if (b.kind != ConnectorKind::kMailchimp ||
            b.mailchimp_kind != MailchimpTopicKind::kMemberStatus) {
          continue;
        }
        int others = 0;
        for (const TopicSpec& u : out_.topics) others += &u != &t && u.bindings.contains(sys);
        if (others > 0) {
          c_.diag.Warning(b.at, "topic '" + t.name + "' is the member status of '" + sys +
                                    "', which also carries " + std::to_string(others) +
                                    " other topic(s): the member status is meant for a "
                                    "single-topic audience");
        }
      }
    }
    // A Mailchimp marker is written per topic: each topic's tag (at most
    // 100 characters) and the merge field's joined value (at most 255)
    // must fit, whatever the topic's name is.
    for (const auto& [name, s] : out_.systems) {
      if (s.kind != ConnectorKind::kMailchimp) continue;
      const ReconsentMarker& m = s.reconsent_marker;
      std::size_t joined = 0;
      for (const TopicSpec& t : out_.topics) {
        if (!t.bindings.contains(name)) continue;
        const std::string marker = m.For(t.name);
        if (m.kind == ReconsentMarkerKind::kTag && marker.size() > 100) {
          c_.diag.Error(t.at, "topic '" + t.name + "': its re-consent tag in '" + name +
                                  "' would be " + std::to_string(marker.size()) +
                                  " characters, over Mailchimp's 100: shorten the topic's name "
                                  "or reconsent_marker.tag");
        }
        if (m.kind == ReconsentMarkerKind::kMergeField) joined += (joined > 0) + marker.size();
      }
      if (joined > 255) {
        c_.diag.Error(m.at, "reconsent_marker of '" + name +
                                "': the merge field would hold up to " + std::to_string(joined) +
                                " characters with every topic awaiting re-consent, over "
                                "Mailchimp's 255 for a text field: shorten 'value' or topic names");
      }
    }
    for (const auto& [name, s] : out_.systems) {
      if (!out_.erasure.contains(name)) {
        c_.diag.Warning(s.at, "no erasure mode for system '" + name + "': it defaults to delete");
        ErasureSpec e;
        e.system = name;
        e.at = s.at;
        out_.erasure[name] = e;
      }
    }
  }

  ReadContext& c_;
  MappingSpec& out_;
  std::set<std::string> bad_natives_;  // "channel|system" rejected in channels:
};

std::string AbsoluteDirOf(const std::string& file) {
  const auto slash = file.rfind('/');
  return slash == std::string::npos ? "." : file.substr(0, slash);
}

Position KeyPosition(const YAML::Node& root, std::string_view key) {
  if (!root.IsMap()) return {1, 1};
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) return config::PositionOf(it->first);
  }
  return {1, 1};
}

Result<MappingSpec> Finish(config::Diagnostics& diag, MappingSpec spec,
                           std::vector<std::string>* warnings) {
  if (warnings != nullptr) *warnings = diag.WarningLines();
  CONSENTD_RETURN_IF_ERROR(diag.ToStatus());
  return spec;
}

}  // namespace

void ReadMapping(const YAML::Node& node, config::ReadContext& c, MappingSpec& out) {
  Loader(c, out).Run(node);
}

const config::KeyTree& MappingKeys() { return RootSection(); }

Result<MappingSpec> LoadMapping(const YAML::Node& node, const std::string& file,
                                std::vector<std::string>* warnings) {
  config::Diagnostics diag(file);
  ReadContext ctx{diag, AbsoluteDirOf(file), ""};
  const Position at = config::PositionOf(node);
  ctx.key_at = at.line > 0 ? at : Position{1, 1};
  MappingSpec spec;
  ReadMapping(node, ctx, spec);
  return Finish(diag, std::move(spec), warnings);
}

Result<MappingSpec> LoadMappingFromConfigString(const std::string& yaml, const std::string& file,
                                                std::vector<std::string>* warnings) {
  config::Diagnostics diag(file);
  diag.SetText(yaml);
  ReadContext ctx{diag, AbsoluteDirOf(file), ""};
  MappingSpec spec;
  if (!config::CheckUtf8(yaml, diag)) return Finish(diag, std::move(spec), warnings);
  try {
    const YAML::Node root = YAML::Load(yaml);
    const YAML::Node node = root.IsMap() ? root["mapping"] : YAML::Node();
    if (!node.IsDefined()) {
      diag.Error({1, 1}, "missing required key 'mapping'");
    } else {
      ctx.key_at = KeyPosition(root, "mapping");
      ReadMapping(node, ctx, spec);
    }
  } catch (const YAML::Exception& e) {
    Position at = config::PositionOf(e.mark);
    if (at.line == 0) at = {1, 1};
    diag.Error(at, "YAML syntax error: " + e.msg);
  }
  return Finish(diag, std::move(spec), warnings);
}

Result<MappingSpec> LoadMappingFromConfigFile(const std::string& path,
                                              std::vector<std::string>* warnings) {
  Result<std::string> text = ReadWholeFile(path, "config file");
  if (!text.ok()) return InvalidArgument(text.status().message());
  return LoadMappingFromConfigString(*text, path, warnings);
}

}  // namespace consentd::mapping
