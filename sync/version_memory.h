// Record versions decided once (InboundRecord::version_id). A version read
// for a webhook hint, returned by a poll, or written by consentd itself
// (DeliveryResult::version_id) is remembered as a processed inbox row of
// its source under the version id; a later read of the same version (the
// poll after the hint, the read-back of consentd's own write) holds the
// same mapped state, so deciding it again would change nothing and is
// skipped.
//
// A version id a connector gives (InboundRecord::version_id) may name a
// slot of its record and the state read in it, "<slot>#<state>"
// (Mailchimp: the member and the second of last_changed, then a digest of
// the state). A slot that only ever held one state skips a read of it. A
// slot given a second state is *contested* from then on: every read of it
// is decided, whichever state it shows, because the order in which its
// reads and consentd's own writes were remembered need not be the order
// in which the record took those states. So a record that goes from one
// state to another and back within its slot (within one second) has the
// third read decided, not skipped as the first state's version. Rare (two
// states of one record within one second) and cheap: a slot is read only
// around its second. A version id without '#' is a slot of its own
// (HubSpot's: the contact and its lastmodifieddate in milliseconds), and
// so is an event id that stands for the version (a poll record without
// version_id), whatever characters it holds: slots are the connector's to
// declare.
//
// Erasure is terminal (DESIGN.md §2 rule 4): a remembered version of a
// person who has been erased since is decided again, so a stale read of
// the erased record is dropped as erased and logged, never silently
// skipped. The erasure's tombstones (keyed hashes of the record's system
// id and address) say so; nothing needs to be found and deleted in the
// inbox at erasure time.
//
// Runs inside a store unit of work (store thread only).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/common/connector.h"
#include "core/clock.h"
#include "core/status.h"
#include "store/store.h"

namespace consentd::sync {

struct FreshRecords {
  std::vector<connectors::InboundRecord> records;  // to decide, in order
  int skipped = 0;                                 // versions decided before
  int skipped_held = 0;  // of those, skipped as held in RecentVersions (no store work)
};

// Which records read a version consentd decided or wrote lately, as
// RecentVersions held them at tombstone generation `generation`
// (sync/recent_versions.h).
struct HeldVersions {
  std::vector<bool> held;  // by record; empty: none
  int count = 0;
  std::int64_t generation = 0;
};

// How the event id of a hint consentd queues itself begins: a record to
// read again because a target kept values out (RecordDeliveries). A record
// read for such a hint is decided whatever its version: the version id may
// not move with the change that kept them out (a status set again to the
// value it had leaves HubSpot's lastmodifieddate alone, but not its date).
inline constexpr std::string_view kRereadEventPrefix = "consentd:reread:";

// What separates a version's slot from its state ("<slot>#<state>"). A
// state never holds one.
inline constexpr char kVersionStateSeparator = '#';

// A version (as VersionOf gives it) split at its last
// kVersionStateSeparator; without one, the whole id is the slot and the
// state is empty.
struct VersionSlot {
  std::string_view slot;
  std::string_view state;
};
VersionSlot SplitVersion(std::string_view version);

// Whether `rec` is decided even if its version was decided before: it
// merges identities (whoever read that version did not know the merge), or
// it was read for a hint of consentd's own (kRereadEventPrefix).
bool DecidedWhateverItsVersion(const connectors::InboundRecord& rec);

// The version a record read: its version_id or, with
// `event_id_is_version`, its event id if it has none; empty if neither. An
// event id holding kVersionStateSeparator gets one more at its end, so
// that SplitVersion gives the whole id as the slot.
std::string VersionOf(const connectors::InboundRecord& rec, bool event_id_is_version);

// `records` of `source`, less those whose version is the one state its
// slot remembers (not contested). A record's version is its version_id or, with
// `event_id_is_version` (poll pages: the event id names the version read),
// its event id; a record without one is always decided, and so is one
// DecidedWhateverItsVersion names. The versions decided are remembered in
// their slots. `identity_key`: the key of the
// identifier hashes (tombstones). The records `held` names are skipped
// without store work while the store's tombstone generation is still
// held->generation (no erasure and no slot given another state since they
// were held); otherwise they are treated like the rest.
Result<FreshRecords> FreshVersions(store::Transaction& txn, std::string_view identity_key,
                                   std::string_view source,
                                   std::vector<connectors::InboundRecord> records,
                                   bool event_id_is_version, TimestampMs now,
                                   const HeldVersions* held = nullptr);

// Remembers `version_id` of a record of `source` as decided (consentd's
// own write, as the target answered it), in its slot (another state
// there contests the slot). Idempotent.
Status RememberVersion(store::Transaction& txn, std::string_view source,
                       std::string_view version_id, TimestampMs now);

}  // namespace consentd::sync
