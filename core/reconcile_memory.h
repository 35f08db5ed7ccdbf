// The two memories the reconciler consults besides the subject's state:
// what consentd itself wrote to each system (echo memory, DESIGN.md §2
// rule 5) and the tombstones of erased subjects (rule 4).
//
// Plain data: the store loads the relevant rows into these before calling
// Reconcile and persists the Decision's updates in the same transaction.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"

namespace consentd {

// "consentd wrote `value` for `key` to `system` at `written_at`".
// key: ConsentKeyString(key) for consents, BlockEchoKey(...) (core/reconciler.h)
// for blocks.
// value: the status name for consents, "set"/"cleared" for blocks.
struct EchoRecord {
  std::string system;
  std::string key;
  std::string value;
  TimestampMs written_at = 0;

  bool operator==(const EchoRecord&) const = default;
};

// "consentd's newest write of `value` for `key` to `system` has not landed
// there, and it is news there": its outbox row is queued or in flight, and
// no row carrying that value was delivered since it was decided. `origin` is the
// system whose report the value came from (its provenance), so the
// reconciler can tell news the target lacks from the target's own value
// sent back to it.
struct UndeliveredWrite {
  std::string system;
  std::string key;
  std::string value;  // as EchoRecord::value
  std::string origin;
  std::int64_t outbox_id = 0;
  std::string row_status;  // "pending" or "inflight"

  bool operator==(const UndeliveredWrite&) const = default;
};

// "consentd's newest delivered write to `system` that held `value` for
// `key` was answered at `landed_at`" (the outbox row's completion time).
// For a system that dates each value by when it was set there (HubSpot's
// status timestamps), a report of `value` dated no later than that is the
// write itself read back.
struct LandedWrite {
  std::string system;
  std::string key;
  std::string value;  // as EchoRecord::value
  std::int64_t outbox_id = 0;
  TimestampMs landed_at = 0;

  bool operator==(const LandedWrite&) const = default;
};

// "The reporting record at `system` showed `key` off, by its own date first
// at `seen_at`, in a read begun after every write of consentd there that
// may have landed, and no such write is in flight" (store.h,
// RememberShownOff). An "off" it reports now is the same value again, not
// the person withdrawing.
struct ShownOff {
  std::string system;
  std::string key;
  TimestampMs seen_at = 0;

  bool operator==(const ShownOff&) const = default;
};

// At most one record per (system, key): the last thing consentd wrote.
class EchoMemory {
 public:
  void Remember(EchoRecord record);
  void Forget(std::string_view system, std::string_view key);
  // nullptr if consentd has written nothing for (system, key).
  const EchoRecord* Find(std::string_view system, std::string_view key) const;
  std::size_t size() const { return records_.size(); }

  // Loaded by the caller only where it matters (a permissive report from a
  // system that dates every value by its record's last change, against a
  // restrictive state); never updated by a Decision.
  void RememberUndelivered(UndeliveredWrite write);
  // nullptr if no undelivered write of (system, key) was loaded.
  const UndeliveredWrite* FindUndelivered(std::string_view system, std::string_view key) const;

  // Loaded by the caller only where it matters (a permissive report, from a
  // system that dates each value itself, that differs from consentd's last
  // write there, which was restrictive), for the reported value; never
  // updated by a Decision.
  void RememberLanded(LandedWrite write);
  // nullptr if no landed write of (system, key) was loaded.
  const LandedWrite* FindLanded(std::string_view system, std::string_view key) const;

  // Loaded by the caller only where it matters (an "off" reported by a
  // system that can only say "off", against a grant); never updated by a
  // Decision (the sync engine keeps it from what each system reports).
  void RememberShownOff(ShownOff shown);
  // nullptr if (system, key) is not known to show off.
  const ShownOff* FindShownOff(std::string_view system, std::string_view key) const;

 private:
  std::map<std::pair<std::string, std::string>, EchoRecord, std::less<>> records_;
  std::map<std::pair<std::string, std::string>, UndeliveredWrite, std::less<>> undelivered_;
  std::map<std::pair<std::string, std::string>, LandedWrite, std::less<>> landed_;
  std::map<std::pair<std::string, std::string>, ShownOff, std::less<>> shown_off_;
};

// An erased subject: its id, the keyed hashes of its identifiers, and the
// capture time of the erasure request.
struct Tombstone {
  std::string subject;
  std::set<std::string> identifier_hashes;
  TimestampMs erased_at = 0;

  bool operator==(const Tombstone&) const = default;
};

struct TombstoneMatch {
  TimestampMs erased_at = 0;  // the latest matching erasure
  bool same_subject = false;  // a matching tombstone has this subject id
};

class Tombstones {
 public:
  void Add(Tombstone tombstone);
  // The tombstones matching `subject` by id or any of `hashes`; nullopt if
  // none does.
  std::optional<TombstoneMatch> Match(std::string_view subject,
                                      const std::set<std::string>& hashes) const;
  const std::vector<Tombstone>& entries() const { return entries_; }

 private:
  std::vector<Tombstone> entries_;
};

}  // namespace consentd
