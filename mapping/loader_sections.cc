#include "mapping/loader_sections.h"

#include <array>
#include <cstdint>
#include <limits>

#include "config/suggest.h"
#include "core/consent_types.h"

namespace consentd::mapping::internal {

using config::DidYouMean;
using config::Field;
using config::Presence;
using config::ReadContext;
using config::Section;
using config::Shape;
using config::ValueField;

namespace {

// A system's own name for a topic, block or property: a string that is not
// empty. An empty one would bind nothing, and the entry would be left out
// of the mapping without a word.
std::optional<std::string> ReadNativeName(const YAML::Node& n, ReadContext& c,
                                          std::string_view what) {
  std::optional<std::string> v = config::ReadString(n, c, what);
  if (v && v->empty()) {
    c.diag.Error(config::ValuePosition(n, c), "expected " + std::string(what) + ", got \"\"");
    return std::nullopt;
  }
  return v;
}

constexpr std::array<std::string_view, 3> kKinds = {"hubspot", "mailchimp", "generic"};
constexpr std::array<std::string_view, 2> kRoles = {"crm", "journey"};
constexpr std::array<std::string_view, 4> kDirections = {"both", "crm_to_journey", "journey_to_crm",
                                                         "none"};
constexpr std::array<std::string_view, 3> kModes = {"delete", "anonymize", "restrict"};
constexpr std::array<std::string_view, 3> kScopes = {"all", "channel", "address"};
constexpr std::array<std::string_view, 5> kReasons = {"unsubscribed", "bounced", "complaint",
                                                      "manual", "legal"};
constexpr std::array<std::string_view, 2> kIdentityKeys = {"email", "phone"};
// The DPV eu-gdpr Art. 6(1) terms core accepts (IsKnownLegalBasis), for
// suggestions only; IsKnownLegalBasis stays the judge.
constexpr std::array<std::string_view, 16> kLegalBases = {
    "eu-gdpr:A6-1-a",
    "eu-gdpr:A6-1-a-explicit-consent",
    "eu-gdpr:A6-1-a-non-explicit-consent",
    "eu-gdpr:A6-1-b",
    "eu-gdpr:A6-1-b-contract-performance",
    "eu-gdpr:A6-1-b-enter-into-contract",
    "eu-gdpr:A6-1-c",
    "eu-gdpr:A6-1-d",
    "eu-gdpr:A6-1-d-data-subject",
    "eu-gdpr:A6-1-d-natural-person",
    "eu-gdpr:A6-1-e",
    "eu-gdpr:A6-1-e-official-authority",
    "eu-gdpr:A6-1-e-public-interest",
    "eu-gdpr:A6-1-f",
    "eu-gdpr:A6-1-f-controller",
    "eu-gdpr:A6-1-f-third-party",
};

// Index of the chosen value in `choices`, reported like ReadChoice.
template <std::size_t N>
std::optional<std::size_t> ReadIndex(const YAML::Node& n, ReadContext& c,
                                     const std::array<std::string_view, N>& choices) {
  const auto s = config::ReadChoice(n, c, choices);
  if (!s) return std::nullopt;
  for (std::size_t i = 0; i < N; ++i) {
    if (choices[i] == *s) return i;
  }
  return std::nullopt;
}

std::optional<FlowDirection> ReadDirection(const YAML::Node& n, ReadContext& c) {
  constexpr std::array<FlowDirection, 4> kValues = {
      FlowDirection::kBoth, FlowDirection::kCrmToJourney, FlowDirection::kJourneyToCrm,
      FlowDirection::kNone};
  const auto i = ReadIndex(n, c, kDirections);
  return i ? std::optional(kValues[*i]) : std::nullopt;
}

// Canonical names: lower-case letters, digits and '_', starting with a letter
// (they end up in keys, logs and metric labels).
bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.front() < 'a' || s.front() > 'z') return false;
  for (char ch : s) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) return false;
  }
  return true;
}

// "10y", "6m", "4w", "30d".
bool IsRetention(std::string_view s) {
  if (s.size() < 2) return false;
  const char unit = s.back();
  if (unit != 'y' && unit != 'm' && unit != 'w' && unit != 'd') return false;
  if (s.front() == '0') return false;
  for (std::size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return s.size() <= 6;
}

// ---------------------------------------------------------------- raw root

template <typename T>
Field<Raw> RawField(std::string_view key, Presence presence, Raw::Item Raw::*item, Shape shape,
                    const config::KeyTree* sub) {
  return Field<Raw>{key, presence,
                    [item](const YAML::Node& n, ReadContext& c, Raw& out) {
                      out.*item = {n, c.key_at, true};
                    },
                    shape, sub};
}


// The required `name` of a topic or block entry: an identifier, kept with
// its position for the cross-reference checks.
template <typename Entry>
Field<Entry> NameField(std::string kind) {
  return Field<Entry>{
      "name", Presence::kRequired, [kind](const YAML::Node& n, ReadContext& c, Entry& out) {
        auto v = config::ReadString(n, c, "a " + kind + " name");
        if (!v) return;
        if (!IsIdentifier(*v)) {
          c.diag.Error(config::ValuePosition(n, c),
                       kind + " name \"" + *v +
                           "\" must be lower-case letters, digits and '_', starting with a letter");
          return;
        }
        out.spec.name = *v;
        out.has_name = true;
        out.name_at = config::ValuePosition(n, c);
      }};
}

}  // namespace

std::string Line(Position p) { return std::to_string(p.line); }

std::vector<std::string_view> Views(const std::vector<std::string>& names) {
  return {names.begin(), names.end()};
}

// ---------------------------------------------------------------- systems

namespace {

// `reconsent_marker:` as written, checked as a whole once read.
struct MarkerEntry {
  std::optional<std::string> tag, merge_field, value;
  std::optional<bool> enabled;
  Position tag_at, merge_at, value_at;
};

const Section<MarkerEntry>& ReconsentMarkerSection() {
  auto text = [](std::optional<std::string> MarkerEntry::*member, Position MarkerEntry::*at,
                 std::string what) {
    return [member, at, what](const YAML::Node& n, ReadContext& c, MarkerEntry& out) {
      out.*at = config::ValuePosition(n, c);
      out.*member = config::ReadString(n, c, what);
    };
  };
  static const Section<MarkerEntry> s(
      "mapping.systems.*.reconsent_marker",
      {
          Field<MarkerEntry>{"tag", Presence::kOptional,
                             text(&MarkerEntry::tag, &MarkerEntry::tag_at, "a tag name")},
          Field<MarkerEntry>{"merge_field", Presence::kOptional,
                             text(&MarkerEntry::merge_field, &MarkerEntry::merge_at,
                                  "a merge field tag like \"RECONSENT\"")},
          Field<MarkerEntry>{"value", Presence::kOptional,
                             text(&MarkerEntry::value, &MarkerEntry::value_at,
                                  "the merge field's value, e.g. \"{topic}\"")},
          ValueField<MarkerEntry>("enabled", Presence::kOptional, &MarkerEntry::enabled,
                                  config::ReadBool),
      });
  return s;
}

// Empty if `t` is a usable marker template: "{topic}" is the only
// placeholder, and the text is at most `max` bytes once a topic name of up
// to 32 characters is put in.
std::string TemplateProblem(std::string_view t, std::size_t max) {
  constexpr std::string_view kTopic = "{topic}";
  std::size_t placeholders = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '}') return "'}' outside the placeholder {topic}";
    if (t[i] != '{') continue;
    if (t.substr(i, kTopic.size()) != kTopic) {
      return "unknown placeholder at '" + std::string(t.substr(i, 12)) +
             "': only {topic} is replaced";
    }
    ++placeholders;
    i += kTopic.size() - 1;
  }
  if (t.size() - placeholders * kTopic.size() + placeholders * 32 > max) {
    return "too long: Mailchimp takes at most " + std::to_string(max) + " characters";
  }
  return {};
}

// Mailchimp merge tags: upper-case letters, digits and '_', starting with a
// letter, at most 10 characters.
bool IsMergeTag(std::string_view s) {
  if (s.empty() || s.size() > 10 || s.front() < 'A' || s.front() > 'Z') return false;
  for (char ch : s) {
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_')) return false;
  }
  return true;
}

void ReadReconsentMarker(const YAML::Node& n, ReadContext& c, SystemSpec& out) {
  MarkerEntry e;
  ReconsentMarkerSection().Read(n, c, e);
  ReconsentMarker& m = out.reconsent_marker;
  m.at = config::ValuePosition(n, c);
  if (e.enabled.has_value() && !*e.enabled) {
    m.kind = ReconsentMarkerKind::kNone;
    if (e.tag || e.merge_field || e.value) {
      c.diag.Warning(m.at,
                     "reconsent_marker is disabled (enabled: false): its other keys are "
                     "ignored");
    }
    return;
  }
  if (e.tag && e.merge_field) {
    c.diag.Error(e.merge_at,
                 "reconsent_marker takes either 'tag' or 'merge_field', not both (tag at line " +
                     Line(e.tag_at) + ")");
    return;
  }
  if (e.merge_field) {
    if (!IsMergeTag(*e.merge_field)) {
      c.diag.Error(e.merge_at, "merge_field \"" + *e.merge_field +
                                   "\" is not a Mailchimp merge tag: 1 to 10 upper-case letters, "
                                   "digits or '_', starting with a letter");
      return;
    }
    m.kind = ReconsentMarkerKind::kMergeField;
    m.merge_field = *e.merge_field;
    if (e.value) {
      // A text merge field holds up to 255 characters.
      if (std::string why = TemplateProblem(*e.value, 255); !why.empty()) {
        c.diag.Error(e.value_at, "reconsent_marker value: " + why);
        return;
      }
      if (e.value->empty()) {
        c.diag.Error(e.value_at,
                     "reconsent_marker value must not be empty (empty means "
                     "\"no re-consent required\")");
        return;
      }
      m.value = *e.value;
    }
    return;
  }
  if (e.value) {
    c.diag.Error(e.value_at,
                 "reconsent_marker 'value' belongs to 'merge_field'; a tag marker "
                 "is named by 'tag'");
    return;
  }
  if (e.tag) {
    if (e.tag->empty()) {
      c.diag.Error(e.tag_at, "reconsent_marker tag must not be empty");
      return;
    }
    // Mailchimp tag names are at most 100 characters.
    if (std::string why = TemplateProblem(*e.tag, 100); !why.empty()) {
      c.diag.Error(e.tag_at, "reconsent_marker tag: " + why);
      return;
    }
    m.kind = ReconsentMarkerKind::kTag;
    m.tag = *e.tag;
    return;
  }
  if (e.enabled.has_value()) {
    // `enabled: true` alone: the documented default, a tag.
    m.kind = ReconsentMarkerKind::kTag;
    return;
  }
  c.diag.Error(m.at,
               "reconsent_marker needs 'tag' (e.g. \"consentd-reconsent-{topic}\"), "
               "'merge_field' (with an optional 'value') or 'enabled: false'");
}

}  // namespace

const Section<SystemSpec>& SystemSection() {
  static const Section<SystemSpec> s(
      "mapping.systems.*",
      {
          Field<SystemSpec>{"kind", Presence::kRequired,
                            [](const YAML::Node& n, ReadContext& c, SystemSpec& out) {
                              constexpr std::array<ConnectorKind, 3> kValues = {
                                  ConnectorKind::kHubSpot, ConnectorKind::kMailchimp,
                                  ConnectorKind::kGeneric};
                              if (auto i = ReadIndex(n, c, kKinds)) out.kind = kValues[*i];
                            }},
          Field<SystemSpec>{"role", Presence::kRequired,
                            [](const YAML::Node& n, ReadContext& c, SystemSpec& out) {
                              if (auto i = ReadIndex(n, c, kRoles)) {
                                out.role = *i == 0 ? SystemRole::kCrm : SystemRole::kJourney;
                              }
                            }},
          ValueField<SystemSpec>("confirms_double_opt_in", Presence::kOptional,
                                 &SystemSpec::confirms_double_opt_in, config::ReadBool),
          ValueField<SystemSpec>("unsubscribe_withdraws_topics", Presence::kOptional,
                                 &SystemSpec::unsubscribe_withdraws_topics, config::ReadBool),
          Field<SystemSpec>{"reconsent_marker", Presence::kOptional, ReadReconsentMarker,
                            Shape::kMapping, &ReconsentMarkerSection()},
      });
  return s;
}

// ---------------------------------------------------------------- identity

const Section<IdentitySpec>& IdentitySection() {
  static const Section<IdentitySpec> s(
      "mapping.identity",
      {
          Field<IdentitySpec>{"keys", Presence::kOptional,
                              [](const YAML::Node& n, ReadContext& c, IdentitySpec& out) {
                                out.keys.clear();
                                config::ReadList(n, c, [&](const YAML::Node& item) {
                                  if (auto i = ReadIndex(item, c, kIdentityKeys)) {
                                    out.keys.emplace_back(kIdentityKeys[*i]);
                                    // Accepted so that a mapping written for
                                    // it loads; said, since it does nothing.
                                    if (out.keys.back() == "phone") {
                                      c.diag.Warning(
                                          config::ValuePosition(item, c),
                                          "identity key 'phone' is not used yet: consentd links "
                                          "a person's records by the systems' ids and the "
                                          "normalised e-mail address only");
                                    }
                                  }
                                });
                              }},
          Field<IdentitySpec>{"default_country_code", Presence::kOptional,
                              [](const YAML::Node& n, ReadContext& c, IdentitySpec& out) {
                                auto v = config::ReadString(n, c, "a calling code like \"49\"");
                                if (!v) return;
                                bool digits = !v->empty() && v->size() <= 3 && v->front() != '0';
                                for (char ch : *v) digits = digits && ch >= '0' && ch <= '9';
                                if (!digits) {
                                  c.diag.Error(config::ValuePosition(n, c),
                                               "expected a country calling code of 1 to 3 digits "
                                               "without '+' or leading 0 (e.g. \"49\"), got \"" +
                                                   *v + "\"");
                                  return;
                                }
                                out.default_country_code = *v;
                                c.diag.Warning(config::ValuePosition(n, c),
                                               "default_country_code is not used yet (linking "
                                               "by phone is not implemented)");
                              }},
      });
  return s;
}

// ---------------------------------------------------------------- topics

const Section<TopicEntry>& TopicSection() {
  static const Section<TopicEntry> s(
      "mapping.topics[]",
      {
          NameField<TopicEntry>("topic"),
          Field<TopicEntry>{"title", Presence::kOptional,
                            [](const YAML::Node& n, ReadContext& c, TopicEntry& out) {
                              if (auto v = config::ReadString(n, c)) out.spec.title = *v;
                            }},
          Field<TopicEntry>{"notice_version", Presence::kOptional,
                            [](const YAML::Node& n, ReadContext& c, TopicEntry& out) {
                              if (auto v = config::ReadString(n, c)) out.spec.notice_version = *v;
                            }},
          Field<TopicEntry>{"double_opt_in", Presence::kOptional,
                            [](const YAML::Node& n, ReadContext& c, TopicEntry& out) {
                              if (auto v = config::ReadBool(n, c)) out.spec.double_opt_in = *v;
                            }},
          Field<TopicEntry>{"legal_basis", Presence::kOptional,
                            [](const YAML::Node& n, ReadContext& c, TopicEntry& out) {
                              auto v =
                                  config::ReadString(n, c, "a legal basis like eu-gdpr:A6-1-a");
                              if (!v) return;
                              if (!IsKnownLegalBasis(*v)) {
                                c.diag.Error(config::ValuePosition(n, c),
                                             "unknown legal basis \"" + *v +
                                                 "\": expected a GDPR Art. 6(1) term such as "
                                                 "eu-gdpr:A6-1-a" +
                                                 DidYouMean(*v, kLegalBases));
                                return;
                              }
                              out.spec.legal_basis = *v;
                            }},
          Field<TopicEntry>{"channels", Presence::kRequired,
                            [](const YAML::Node& n, ReadContext& c, TopicEntry& out) {
                              out.channels_incomplete = false;
                              if (!n.IsSequence()) out.channels_incomplete = true;
                              config::ReadList(n, c, [&](const YAML::Node& item) {
                                if (auto v = config::ReadString(item, c, "a channel name")) {
                                  out.spec.channels.push_back(*v);
                                  out.channel_at.push_back(config::ValuePosition(item, c));
                                } else {
                                  out.channels_incomplete = true;
                                }
                              });
                            }},
          Field<TopicEntry>{"direction", Presence::kOptional,
                            [](const YAML::Node& n, ReadContext& c, TopicEntry& out) {
                              if (auto d = ReadDirection(n, c)) out.spec.direction = *d;
                            }},
          Field<TopicEntry>{"systems", Presence::kOptional,
                            [](const YAML::Node& n, ReadContext& c, TopicEntry& out) {
                              out.systems = n;
                              out.systems_at = c.key_at;
                            }},
      });
  return s;
}

const Section<HubSpotTopicSide>& HubSpotTopicSection() {
  static const Section<HubSpotTopicSide> s(
      "mapping.topics[].systems.<hubspot>",
      {
          Field<HubSpotTopicSide>{"subscriptions", Presence::kRequired,
                                  [](const YAML::Node& n, ReadContext& c, HubSpotTopicSide& out) {
                                    if (n.IsMap() && n.size() == 0) {
                                      c.diag.Error(config::ValuePosition(n, c),
                                                   "expected a subscription type id per channel, "
                                                   "like {email: 12345}, got an empty mapping");
                                      return;
                                    }
                                    config::ReadNamedMappings(
                                        n, c,
                                        [&](const std::string& channel, const YAML::Node& key,
                                            const YAML::Node& value) {
                                          if (auto id = config::ReadInteger(
                                                  value, c, 1,
                                                  std::numeric_limits<std::int64_t>::max())) {
                                            out.subscriptions[channel] = *id;
                                            out.at[channel] = config::PositionOf(key);
                                          }
                                        });
                                  }},
      });
  return s;
}

const Section<MailchimpTopicSide>& MailchimpTopicSection() {
  auto id_field = [](std::string_view key, MailchimpTopicKind kind) {
    return Field<MailchimpTopicSide>{
        key, Presence::kOptional,
        [kind](const YAML::Node& n, ReadContext& c, MailchimpTopicSide& out) {
          if (auto v = ReadNativeName(n, c, "an id")) out.claims.emplace_back(kind, *v);
        }};
  };
  static const Section<MailchimpTopicSide> s(
      "mapping.topics[].systems.<mailchimp>",
      {
          id_field("interest", MailchimpTopicKind::kInterest),
          id_field("marketing_permission", MailchimpTopicKind::kMarketingPermission),
          Field<MailchimpTopicSide>{
              "member_status", Presence::kOptional,
              [](const YAML::Node& n, ReadContext& c, MailchimpTopicSide& out) {
                if (auto v = config::ReadBool(n, c)) {
                  if (*v) {
                    out.claims.emplace_back(MailchimpTopicKind::kMemberStatus, "");
                  } else {
                    out.member_status_false = true;
                  }
                }
              }},
      });
  return s;
}

const Section<TopicBinding>& GenericTopicSection() {
  static const Section<TopicBinding> s(
      "mapping.topics[].systems.<generic>",
      {
          ValueField<TopicBinding>("topic", Presence::kRequired, &TopicBinding::native_topic,
                                   [](const YAML::Node& n, ReadContext& c) {
                                     return ReadNativeName(n, c, "a topic name");
                                   }),
      });
  return s;
}

// ---------------------------------------------------------------- blocks

const Section<BlockEntry>& BlockSection() {
  static const Section<BlockEntry> s(
      "mapping.blocks[]",
      {
          NameField<BlockEntry>("block"),
          Field<BlockEntry>{"scope", Presence::kRequired,
                            [](const YAML::Node& n, ReadContext& c, BlockEntry& out) {
                              constexpr std::array<BlockScope::Kind, 3> kValues = {
                                  BlockScope::Kind::kAll, BlockScope::Kind::kChannel,
                                  BlockScope::Kind::kAddress};
                              if (auto i = ReadIndex(n, c, kScopes)) {
                                out.spec.scope = kValues[*i];
                                out.has_scope = true;
                              }
                            }},
          Field<BlockEntry>{"reason", Presence::kOptional,
                            [](const YAML::Node& n, ReadContext& c, BlockEntry& out) {
                              if (auto i = ReadIndex(n, c, kReasons)) {
                                out.spec.reason = *ParseBlockReason(kReasons[*i]);
                                out.has_reason = true;
                              }
                            }},
          Field<BlockEntry>{"direction", Presence::kOptional,
                            [](const YAML::Node& n, ReadContext& c, BlockEntry& out) {
                              if (auto d = ReadDirection(n, c)) out.spec.direction = *d;
                            }},
          Field<BlockEntry>{"systems", Presence::kRequired,
                            [](const YAML::Node& n, ReadContext& c, BlockEntry& out) {
                              out.systems = n;
                              out.systems_at = c.key_at;
                            }},
      });
  return s;
}

const Section<BlockSide>& HubSpotBlockSection() {
  static const Section<BlockSide> s(
      "mapping.blocks[].systems.<hubspot>",
      {
          ValueField<BlockSide>("property", Presence::kOptional, &BlockSide::property,
                                [](const YAML::Node& n, ReadContext& c) {
                                  return ReadNativeName(n, c, "a contact property name");
                                }),
          ValueField<BlockSide>("value", Presence::kOptional, &BlockSide::value,
                                [](const YAML::Node& n, ReadContext& c) {
                                  return config::ReadString(n, c, "the property value");
                                }),
          ValueField<BlockSide>("unsubscribe_all", Presence::kOptional, &BlockSide::unsubscribe_all,
                                config::ReadBool),
      });
  return s;
}

const Section<BlockSide>& MailchimpBlockSection() {
  static const Section<BlockSide> s(
      "mapping.blocks[].systems.<mailchimp>",
      {
          ValueField<BlockSide>(
              "status", Presence::kRequired, &BlockSide::member_status,
              [](const YAML::Node& n, ReadContext& c) {
                constexpr std::array<std::string_view, 2> kStatuses = {"unsubscribed", "cleaned"};
                return config::ReadChoice(n, c, kStatuses);
              }),
      });
  return s;
}

const Section<BlockSide>& GenericBlockSection() {
  static const Section<BlockSide> s(
      "mapping.blocks[].systems.<generic>",
      {
          ValueField<BlockSide>("block", Presence::kRequired, &BlockSide::native_block,
                                [](const YAML::Node& n, ReadContext& c) {
                                  return ReadNativeName(n, c, "a block name");
                                }),
      });
  return s;
}

// ---------------------------------------------------------------- erasure

const Section<ErasureEntry>& ErasureSection() {
  static const Section<ErasureEntry> s(
      "mapping.erasure.*",
      {
          Field<ErasureEntry>{"mode", Presence::kRequired,
                              [](const YAML::Node& n, ReadContext& c, ErasureEntry& out) {
                                constexpr std::array<ErasureMode, 3> kValues = {
                                    ErasureMode::kDelete, ErasureMode::kAnonymize,
                                    ErasureMode::kRestrict};
                                if (auto i = ReadIndex(n, c, kModes)) {
                                  out.spec.mode = kValues[*i];
                                  out.has_mode = true;
                                  out.mode_at = config::ValuePosition(n, c);
                                }
                              }},
          Field<ErasureEntry>{"retain", Presence::kOptional,
                              [](const YAML::Node& n, ReadContext& c, ErasureEntry& out) {
                                out.retain_at = c.key_at;
                                config::ReadList(n, c, [&](const YAML::Node& item) {
                                  if (auto v = config::ReadString(item, c, "a data category")) {
                                    out.spec.retain.push_back(*v);
                                  }
                                });
                              }},
          Field<ErasureEntry>{"legal_ground", Presence::kOptional,
                              [](const YAML::Node& n, ReadContext& c, ErasureEntry& out) {
                                out.legal_ground_at = c.key_at;
                                if (auto v = config::ReadString(n, c)) out.spec.legal_ground = *v;
                              }},
          Field<ErasureEntry>{"retention", Presence::kOptional,
                              [](const YAML::Node& n, ReadContext& c, ErasureEntry& out) {
                                out.retention_at = c.key_at;
                                auto v = config::ReadString(n, c, "a period like \"10y\"");
                                if (!v) return;
                                if (!IsRetention(*v)) {
                                  c.diag.Error(config::ValuePosition(n, c),
                                               "expected a retention period: a number and d, w, "
                                               "m or y (e.g. \"10y\", \"6m\"), got \"" +
                                                   *v + "\"");
                                  return;
                                }
                                out.spec.retention = *v;
                              }},
          Field<ErasureEntry>{
              "on_permanent_delete", Presence::kOptional,
              [](const YAML::Node& n, ReadContext& c, ErasureEntry& out) {
                constexpr std::array<std::string_view, 2> kNames = {"record", "erase"};
                if (auto i = ReadIndex(n, c, kNames)) {
                  out.spec.on_permanent_delete = *i == 1 ? ErasureSpec::OnPermanentDelete::kErase
                                                         : ErasureSpec::OnPermanentDelete::kRecord;
                  out.on_permanent_delete_at = c.key_at;
                }
              }},
      });
  return s;
}

// ---------------------------------------------------------------- root

const Section<Raw>& RootSection() {
  static const Section<Raw> s(
      "mapping",
      {
          RawField<Raw>("systems", Presence::kRequired, &Raw::systems, Shape::kNamedMappings,
                        &SystemSection()),
          RawField<Raw>("identity", Presence::kOptional, &Raw::identity, Shape::kMapping,
                        &IdentitySection()),
          RawField<Raw>("skew_window", Presence::kOptional, &Raw::skew_window, Shape::kValue,
                        nullptr),
          RawField<Raw>("channels", Presence::kRequired, &Raw::channels, Shape::kValue, nullptr),
          RawField<Raw>("topics", Presence::kRequired, &Raw::topics, Shape::kList, &TopicSection()),
          RawField<Raw>("blocks", Presence::kOptional, &Raw::blocks, Shape::kList, &BlockSection()),
          RawField<Raw>("erasure", Presence::kOptional, &Raw::erasure, Shape::kNamedMappings,
                        &ErasureSection()),
      });
  return s;
}

}  // namespace consentd::mapping::internal
