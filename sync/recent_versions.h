// Record versions consentd decided or wrote recently, per connector, held in
// memory so that reading them again is skipped before the store unit that
// decides the page, instead of by an inbox insert and two tombstone
// look-ups per record inside it (sync/version_memory.h). At 1,000 changes/s
// a Mailchimp poll every 5 s reads back about 5,000 members consentd wrote
// (and each write's echo webhook one more time), and a HubSpot poll the
// 5,000 contacts whose webhooks were decided already (docs/benchmarks.md,
// ninth round).
//
// The memory is a shortcut, never the record: every version it holds was
// remembered in the store first (FreshVersions or RememberVersion, in the
// unit that decided the record or recorded the write), so losing it (a
// restart, eviction) only means the store does the skipping again.
//
// Erasure is terminal (DESIGN.md §2 rule 4): a remembered version of a
// person erased since must be decided again (dropped as erased, logged),
// not skipped. So each version is held with the store's tombstone
// generation (store::Transaction::TombstoneGeneration), which must be the
// same at both ends of the span that made it: from a write's claim to its
// recording, or from the start to the end of the unit that decided it (a
// unit that dropped a record as erased holds nothing). FreshVersions skips
// a held version only while the generation is still the same in the unit
// that decides its read; a newer generation forgets everything.
//
// Like the store, the memory holds one state per slot (sync/
// version_memory.h: "<slot>#<state>"), and a slot given a second state is
// contested and never held again. A store unit that gives a slot another
// state moves the generation on, so a state held here is never trusted
// after the store has contested its slot, even before the memory hears of
// it.
//
// Io thread only (no locking).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "connectors/common/connector.h"
#include "sync/sync_engine.h"
#include "sync/version_memory.h"

namespace consentd::sync {

class RecentVersions {
 public:
  // About 130 bytes per version: 65,536 (~8 MB at most) cover 30 s of
  // writes and decisions at 1,000 changes/s.
  static constexpr std::size_t kDefaultCapacity = 65'536;

  explicit RecentVersions(std::size_t capacity = kDefaultCapacity);

  // Holds `version`, decided or written while the store's tombstone
  // generation stayed `generation`, in its slot (another state there
  // contests the slot: none of its states is held any more). An older generation than the one held
  // is ignored; a newer one forgets what was held. The slot remembered longest ago is forgotten
  // when the memory is full.
  void Remember(const std::string& version, std::int64_t generation);

  // Which of `records` read versions held here (event_id_is_version as in
  // FreshVersions). Records DecidedWhateverItsVersion names are never held.
  HeldVersions Find(const std::vector<connectors::InboundRecord>& records,
                    bool event_id_is_version) const;

  std::size_t size() const { return versions_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::size_t capacity_;
  std::int64_t generation_ = 0;
  // Slot -> the state held in it.
  std::unordered_map<std::string, std::string, Hash, std::equal_to<>> versions_;
  std::deque<const std::string*> order_;  // slots, oldest first; map nodes do not move
};

// The versions of `decided` (the records a unit decided, after
// FreshVersions) to hold once the unit commits: none if the store's
// tombstone generation moved during the unit (`before` -> `after`: it
// erased someone or gave a slot another state) or if it dropped anything
// as erased (a later read of that version must be dropped and logged
// again).
std::vector<std::string> VersionsToHold(const std::vector<connectors::InboundRecord>& decided,
                                        bool event_id_is_version, const IngestSummary& summary,
                                        std::int64_t before, std::int64_t after);

}  // namespace consentd::sync
