// consentd's own writes as their target answered them
// (DeliveryResult::version_id), held in memory so that reading them back
// (Mailchimp's echo webhook and its next poll, about 5,000 members per 5 s
// poll at 1,000 changes/s) is skipped before the store unit that decides
// the page, instead of by an inbox insert and two tombstone look-ups per
// record inside it (sync/version_memory.h; docs/benchmarks.md, ninth
// round).
//
// The memory is a shortcut, never the record: each version it holds was
// remembered in the store first (RememberVersion, in the unit that
// recorded the delivery), so losing it (a restart, eviction) only means
// the store does the skipping again.
//
// Erasure is terminal (DESIGN.md §2 rule 4): a remembered version of a
// person erased since must be decided again (dropped as erased, logged),
// not skipped. So every version is held with the store's tombstone
// generation (store::Transaction::TombstoneGeneration), read both when
// the write was claimed and when it was recorded: a version is held only
// if the two agree (no erasure while the write was in flight), and
// FreshVersions skips it only if the generation is still the same in the
// unit that decides its read-back. A new generation forgets everything.
//
// Io thread only (no locking).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "connectors/common/connector.h"
#include "sync/version_memory.h"

namespace consentd::sync {

class OwnWrites {
 public:
  // About 130 bytes per version: 32,768 cover 30 s of writes at 1,000/s.
  static constexpr std::size_t kDefaultCapacity = 32'768;

  explicit OwnWrites(std::size_t capacity = kDefaultCapacity);

  // Holds `version`, written while the store's tombstone generation was
  // `generation` from its claim to its recording. An older generation than
  // the one held is ignored; a newer one forgets what was held. The
  // oldest version is forgotten when the memory is full.
  void Remember(std::string version, std::int64_t generation);

  // Which of `records` read versions held here (event_id_is_version as in
  // FreshVersions). Records that merge identities are never held.
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
  std::unordered_set<std::string, Hash, std::equal_to<>> versions_;
  std::deque<const std::string*> order_;  // oldest first; set nodes do not move
};

}  // namespace consentd::sync
