// The canonical consent model (DESIGN.md §1): subjects and their
// identities, consents per (subject, topic, channel[, address]), blocks,
// and the per-subject state the reconciler decides on.
//
// Plain value types: copyable, no invariants beyond those stated, not
// thread-safe (each thread owns its copies). Addresses stored here are
// normalised (core/normalise.h) and may be personal data: they never go
// into a proof-log field in clear (only into ProofEntry::evidence).
#pragma once

#include <compare>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/consent_types.h"
#include "core/status.h"

namespace consentd {

// A person as consentd knows them: an internal id (a pseudonym such as
// "s-0f3c..."), the native id in each system and normalised identifiers.
struct Subject {
  std::string id;
  std::map<std::string, std::string> native_ids;  // system name -> native id
  std::set<std::string> emails;                   // NormaliseEmail form
  std::set<std::string> phones;                   // E.164
};

// What a consent is about. `address` is optional: empty means "whatever
// address the subject has on that channel"; a non-empty address makes a
// consent for that one address (it then governs that address alone).
struct ConsentKey {
  std::string subject;
  std::string topic;    // canonical topic ("Thema"), e.g. "newsletter"
  std::string channel;  // "email", "sms", ...
  std::string address;  // normalised, or empty

  auto operator<=>(const ConsentKey&) const = default;
};

// A stable text form "subject|topic|channel|address" (echo memory, logs).
std::string ConsentKeyString(const ConsentKey& key);

// What a block covers. Text form: "all", "channel:<c>", "address:<a>",
// "topic:<t>".
struct BlockScope {
  enum class Kind { kAll, kChannel, kAddress, kTopic };
  Kind kind = Kind::kAll;
  std::string value;  // empty for kAll

  static BlockScope All() { return {}; }
  static BlockScope Channel(std::string c) { return {Kind::kChannel, std::move(c)}; }
  static BlockScope Address(std::string a) { return {Kind::kAddress, std::move(a)}; }
  static BlockScope Topic(std::string t) { return {Kind::kTopic, std::move(t)}; }

  auto operator<=>(const BlockScope&) const = default;
};

// The kind alone: "all", "channel", "address", "topic".
std::string_view BlockScopeKindName(BlockScope::Kind kind);
std::string BlockScopeString(const BlockScope& scope);
// InvalidArgument for an unknown kind or a missing value.
Result<BlockScope> ParseBlockScope(std::string_view text);

// True if a block with this scope covers contacting (channel, topic,
// address). Addresses compare case-insensitively in ASCII (as e-mail
// match keys do); an empty `address` is covered by every address block
// (the caller did not say which address it would use).
bool BlockCovers(const BlockScope& scope, std::string_view channel, std::string_view topic,
                 std::string_view address);

// Where a record came from: the version fields that order changes
// (DESIGN.md §2 rule 2) and the provenance the proof log needs.
struct Provenance {
  TimestampMs occurred_at = 0;  // source's capture time
  TimestampMs recorded_at = 0;  // when consentd received it
  std::string source_system;    // connector name, "admin", "api"
  std::string source_event_id;

  bool operator==(const Provenance&) const = default;
};

// The canonical consent for one key: the winning change's values.
struct ConsentRecord {
  ConsentKey key;
  ConsentStatus status = ConsentStatus::kNotAsked;
  std::string legal_basis;  // e.g. "eu-gdpr:A6-1-a"
  ConsentMethod method = ConsentMethod::kForm;
  std::string notice_version;  // purpose / notice version shown
  Provenance provenance;
  // Non-empty while this grant is for an older notice than the topic's
  // current one: the current version the person must re-consent to
  // (core/notice.h). Not part of the version order; set by the reconciler
  // and the re-consent walk, cleared when the person answers.
  std::string reconsent_notice;

  bool operator==(const ConsentRecord&) const = default;
};

// The canonical block for one (subject, scope). A cleared block stays as a
// record (active = false) so that late, older "set" events can be ordered
// against the clearing.
struct BlockRecord {
  std::string subject;
  BlockScope scope;
  bool active = false;
  BlockReason reason = BlockReason::kManual;
  TimestampMs since = 0;  // active from (inclusive)
  TimestampMs until = 0;  // active to (exclusive); 0 = indefinitely
  Provenance provenance;  // source_system is the block's "source"

  // True if the block restricts contact at time `at`.
  bool ActiveAt(TimestampMs at) const {
    return active && since <= at && (until == 0 || at < until);
  }
  bool operator==(const BlockRecord&) const = default;
};

// Everything the reconciler and MayContact need to know about one subject.
// Keys of `consents` have key.subject == subject.
struct SubjectState {
  std::string subject;
  std::map<ConsentKey, ConsentRecord> consents;
  std::map<BlockScope, BlockRecord> blocks;
  // Keyed hashes (core/keyed_hash.h) of the subject's identifiers; they
  // become the tombstone when the subject is erased.
  std::set<std::string> identifier_hashes;
  // Set once the subject is erased (terminal; the state is then empty).
  std::optional<TimestampMs> erased_at;
  // Systems that report the subject's record permanently deleted, and when
  // (a target that cannot re-add it refuses later writes, rule 7).
  std::map<std::string, TimestampMs> deleted_at_target;

  // The record for `key`, or nullptr (which means not_asked).
  const ConsentRecord* FindConsent(const ConsentKey& key) const;

  bool operator==(const SubjectState&) const = default;
};

}  // namespace consentd
