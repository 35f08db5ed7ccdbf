// The reconciler: decides what one incoming change means for the canonical
// state, what the proof log records and what each other system is told
// (DESIGN.md §2, the seven rules; docs/model.md explains the decisions).
//
// Reconcile is pure: the same inputs give the same Decision, bit for bit.
// Time comes only from the change (occurred_at, recorded_at). The sync
// engine calls it on the store thread for every incoming change and then,
// in ONE transaction, applies the Decision with ApplyToState /
// ApplyToMemory (or their SQL equivalents), appends `proof` and enqueues
// `writes`. Thread-safe (no shared state).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/change.h"
#include "core/model.h"
#include "core/policy.h"
#include "core/proof_entry.h"
#include "core/reconcile_memory.h"

namespace consentd {

enum class Outcome {
  kApplied,             // the change is the new canonical state for its key
  kHeldPending,         // a grant without required evidence, applied as pending
  kSuperseded,          // lost to the current version (older, or a lost tie)
  kDuplicate,           // exactly the current version again: nothing to do
  kEcho,                // the system reported back what consentd wrote to it
  kDroppedErased,       // about an erased identity, not after the erasure
  kNewSubjectRequired,  // a sign-up after the subject's erasure: see below
  kRejectedUnmapped,    // topic/channel/system not mapped in this direction
  kRejectedInvalid,     // malformed change (missing subject, topic, ...)
};

std::string_view OutcomeName(Outcome outcome);

enum class WriteKind { kConsent, kBlock, kErasure };

// The echo-memory key of a block: "subject|block|<scope>".
std::string BlockEchoKey(std::string_view subject, const BlockScope& scope);
// The echo-memory value of a block write: "set" or "cleared".
std::string_view BlockEchoValue(bool active);

// A system reported the subject's record permanently deleted.
struct TargetDeletion {
  std::string system;
  TimestampMs at = 0;

  bool operator==(const TargetDeletion&) const = default;
};

// One outbound write: the desired ABSOLUTE state for a key at a target,
// never a toggle (rule 6).
struct Write {
  std::string target;
  WriteKind kind = WriteKind::kConsent;
  std::string subject;
  ConsentRecord consent;  // kConsent: the desired record (status may be
                          // pending when `reconsent` is set)
  BlockRecord block;      // kBlock: the desired block record
  std::string desired;    // status name, "set"/"cleared", or "erased"
  // Capture time of the event this write answers (the canonical record's
  // occurred_at, or the superseded change's for a repair write).
  TimestampMs occurred_at = 0;
  // Lower-case hex SHA-256 of (target, kind, key, desired, occurred_at):
  // the same write always gets the same key, so the outbox and the target
  // can drop repeats.
  std::string idempotency_key;
  // Written as pending because the target cannot re-subscribe directly.
  bool reconsent = false;

  bool operator==(const Write&) const = default;
};

struct Decision {
  Outcome outcome = Outcome::kRejectedInvalid;
  std::string reason;  // why, for logs and `explain`; no personal data

  // State effects (apply all of them or none, in one transaction):
  std::optional<ConsentRecord> consent;          // new record for the change's key
  std::optional<BlockRecord> block;              // new record for the change's scope
  bool erase_subject = false;                    // wipe the subject, keep erased_at
  std::optional<Tombstone> tombstone;            // persist with the erasure
  std::optional<TargetDeletion> target_deleted;  // record it per system
  std::set<std::string> identifier_hashes;       // link to the subject

  std::vector<ProofEntry> proof;            // append in this order
  std::vector<Write> writes;                // enqueue in the outbox
  std::vector<Write> blocked_by_target;     // refused by the target: never sent,
                                            // visible (also in `proof`)
  std::vector<EchoRecord> remember_echoes;  // one per write
  std::vector<EchoRecord> forget_echoes;    // system + key only
};

// Decides `change` against the subject's current state.
//
//   current     the state of change.key.subject (empty state if unknown)
//   echoes      what consentd last wrote per (system, key)
//   tombstones  erasures matching the subject id or the change's hashes
//   policy      mapping and constraints in force
//
// Erasure: a change whose occurred_at is not after a matching erasure is
// kDroppedErased. A grant or pending change AFTER the erasure of the very
// subject it names yields kNewSubjectRequired and no effects: the caller
// mints a new subject id, links the change's identifiers to it and calls
// Reconcile again with that id and an empty state (the tombstone matches
// only by hash then, and the change is decided normally).
Decision Reconcile(const Change& change, const SubjectState& current, const EchoMemory& echoes,
                   const Tombstones& tombstones, const Policy& policy);

// Applies a decision's state effects to `state` (its subject is set if it
// was empty). What the store does in SQL; used by tests and simulators.
void ApplyToState(const Decision& decision, std::string_view subject, SubjectState& state);
// Applies a decision's echo-memory and tombstone effects.
void ApplyToMemory(const Decision& decision, EchoMemory& echoes, Tombstones& tombstones);

}  // namespace consentd
