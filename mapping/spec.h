// MappingSpec: what the administrator wrote in the `mapping:` section of the
// consentd configuration (docs/mapping.md), as typed, validated values.
//
// Built by mapping/loader.h, turned into the reconciler's Policy by
// mapping/policy.h, and used by the native mappers (mapping/hubspot.h,
// mapping/mailchimp.h). A plain value: immutable once loaded, safe to share
// between threads for reading. `at` fields say where an item was written
// (for messages); they are not part of the mapping hash.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.h"
#include "core/model.h"
#include "core/status.h"

namespace consentd::mapping {

using config::Position;

// What kind of system a connector speaks to.
enum class ConnectorKind { kHubSpot, kMailchimp, kGeneric };
std::string_view ConnectorKindName(ConnectorKind kind);  // "hubspot", ...

// Which side of the sync a system is on (directions are written in roles).
enum class SystemRole { kCrm, kJourney };
std::string_view SystemRoleName(SystemRole role);  // "crm", "journey"

// Flow of a topic or block between the two systems.
enum class FlowDirection { kBoth, kCrmToJourney, kJourneyToCrm, kNone };
std::string_view FlowDirectionName(FlowDirection d);  // "both", "crm_to_journey", ...

enum class ErasureMode { kDelete, kAnonymize, kRestrict };
std::string_view ErasureModeName(ErasureMode mode);  // "delete", "anonymize", "restrict"

// The canonical channel names consentd knows.
inline constexpr std::string_view kChannelNames[] = {"email", "sms", "whatsapp", "postal", "phone"};

// What each connector kind can do (the table in docs/mapping.md).
struct ConnectorCapabilities {
  std::set<ErasureMode> erasure_modes;
  // Native channel names the system accepts; empty = any name.
  std::set<std::string> native_channels;
  // Canonical block scopes the system can carry.
  std::set<BlockScope::Kind> block_scopes;
};
const ConnectorCapabilities& CapabilitiesOf(ConnectorKind kind);

// How a journey platform shows that a person must re-consent to a topic
// whose notice version rose (issue #7; docs/mapping.md "Re-consent"), so a
// journey can ask again. `{topic}` in `tag` and `value` is replaced by the
// canonical topic name. Mailchimp only.
enum class ReconsentMarkerKind { kTag, kMergeField, kNone };
std::string_view ReconsentMarkerKindName(ReconsentMarkerKind kind);  // "tag", ...

struct ReconsentMarker {
  ReconsentMarkerKind kind = ReconsentMarkerKind::kTag;
  std::string tag = "consentd-reconsent-{topic}";  // kTag: the member tag
  std::string merge_field;                         // kMergeField: its tag, e.g. "RECONSENT"
  std::string value = "{topic}";                   // kMergeField: per topic, joined by ","
  Position at;

  // The tag or merge-field value for `topic`.
  std::string For(std::string_view topic) const;
};

struct SystemSpec {
  std::string name;  // connector instance name (as under `connectors:`)
  ConnectorKind kind = ConnectorKind::kGeneric;
  SystemRole role = SystemRole::kCrm;
  // Mailchimp: the audience runs double opt-in, so `subscribed` is a
  // confirmed grant (method double_opt_in).
  bool confirms_double_opt_in = false;
  // Mailchimp: `unsubscribed` withdraws every topic mapped on the audience.
  bool unsubscribe_withdraws_topics = true;
  // Mailchimp: the re-consent marker (default: a tag).
  ReconsentMarker reconsent_marker;
  Position at;

  // True if this system shows re-consent markers (a mailchimp system whose
  // marker is not switched off).
  bool ShowsReconsentMarker() const {
    return kind == ConnectorKind::kMailchimp && reconsent_marker.kind != ReconsentMarkerKind::kNone;
  }
  // True if the system keeps a record per address (Mailchimp: a member per
  // address, named by its hash), so one person can have several records
  // there and each gets the person's writes (sync/outbound.cc). A CRM folds
  // a merged contact into the survivor: a write to the merged address could
  // create that contact again. Generic systems are written at one address.
  bool KeepsRecordPerAddress() const { return kind == ConnectorKind::kMailchimp; }
  // True if an erasure here names each of the person's other records with
  // its id (DesiredState::also_erase_ids): a generic system's erasure
  // request addresses a record by id or address, and one that keeps both
  // records of a person merged elsewhere must lose both. (HubSpot folds
  // merged contacts into the survivor, whose erasure takes them along;
  // Mailchimp's connector erases its members by address.)
  bool ErasesEveryRecordById() const { return kind == ConnectorKind::kGeneric; }
};

// How each system names one canonical channel.
struct ChannelSpec {
  std::string name;                           // canonical: "email", "sms", ...
  std::map<std::string, std::string> native;  // system -> native name ("EMAIL")
  Position at;
};

enum class MailchimpTopicKind { kInterest, kMarketingPermission, kMemberStatus };
std::string_view MailchimpTopicKindName(MailchimpTopicKind kind);

// What a topic is in one system.
struct TopicBinding {
  std::string system;
  ConnectorKind kind = ConnectorKind::kGeneric;
  // hubspot: canonical channel -> subscription type id.
  std::map<std::string, std::int64_t> subscriptions;
  // mailchimp: an interest id, a marketing permission id, or the member
  // status itself (id empty).
  MailchimpTopicKind mailchimp_kind = MailchimpTopicKind::kInterest;
  std::string mailchimp_id;
  // generic: the system's own topic name.
  std::string native_topic;
  Position at;
};

struct TopicSpec {
  std::string name;  // canonical topic ("Thema")
  std::string title;
  std::string notice_version;
  bool double_opt_in = false;
  std::string legal_basis = "eu-gdpr:A6-1-a";
  std::vector<std::string> channels;  // canonical channel names
  FlowDirection direction = FlowDirection::kBoth;
  std::map<std::string, TopicBinding> bindings;  // system -> binding
  Position at;
};

// One system's side of a block.
struct BlockSide {
  std::string system;
  ConnectorKind kind = ConnectorKind::kGeneric;
  // hubspot (scope all / address): a contact property and the value that
  // means "blocked" (any other value means "not blocked").
  std::string property;
  std::string value;
  // hubspot (scope channel): the per-channel "unsubscribe from all".
  bool unsubscribe_all = false;
  // mailchimp: the member status that is this block ("unsubscribed" for
  // scope all / channel, "cleaned" for scope address).
  std::string member_status;
  // generic: the system's block name.
  std::string native_block;
  Position at;
};

struct BlockSpec {
  std::string name;
  BlockScope::Kind scope = BlockScope::Kind::kAll;
  BlockReason reason = BlockReason::kManual;  // recorded when the block is set
  FlowDirection direction = FlowDirection::kBoth;
  std::map<std::string, BlockSide> sides;  // system -> side
  Position at;
};

struct ErasureSpec {
  std::string system;
  ErasureMode mode = ErasureMode::kDelete;
  // restrict: what is kept, on which legal ground, for how long ("10y").
  std::vector<std::string> retain;
  std::string legal_ground;
  std::string retention;
  // mailchimp: what a member permanently deleted in this system means.
  // kRecord (default): only that the record is gone there (it cannot be
  // re-added, DESIGN rule 7); kErase: the person was forgotten on request,
  // so consentd erases them everywhere (docs/mapping.md "Erasure").
  enum class OnPermanentDelete { kRecord, kErase };
  OnPermanentDelete on_permanent_delete = OnPermanentDelete::kRecord;
  Position at;
};

struct IdentitySpec {
  // Identifiers that link a subject across systems, in order of trust.
  std::vector<std::string> keys{"email"};
  // Calling code for national phone numbers ("49"); required with "phone".
  std::string default_country_code;
};

struct MappingSpec {
  std::map<std::string, SystemSpec> systems;
  IdentitySpec identity;
  std::chrono::milliseconds skew_window{2000};
  std::map<std::string, ChannelSpec> channels;
  std::vector<TopicSpec> topics;               // in the order written
  std::vector<BlockSpec> blocks;               // in the order written
  std::map<std::string, ErasureSpec> erasure;  // system -> erasure

  const SystemSpec* FindSystem(std::string_view name) const;
  // The systems that do not keep a record per address (SystemSpec::
  // KeepsRecordPerAddress is false), by name.
  std::set<std::string, std::less<>> SystemsWithoutRecordPerAddress() const;
  const TopicSpec* FindTopic(std::string_view name) const;
  // The system with `role`, or nullptr (at most one per role).
  const SystemSpec* SystemWithRole(SystemRole role) const;
  // The native name of `channel` in `system`, or "" if not mapped there.
  std::string NativeChannel(std::string_view channel, std::string_view system) const;
  // The canonical channel `system` calls `native`, or "".
  std::string CanonicalChannel(std::string_view native, std::string_view system) const;
};

// True if changes flow from a system with `role` into consentd under `d`,
// and true if consentd writes them to a system with `role`.
bool FlowsFrom(FlowDirection d, SystemRole role);
bool FlowsTo(FlowDirection d, SystemRole role);

}  // namespace consentd::mapping
