// The outbox side of one sync-engine call: the writes the decisions asked
// for, collected per (target, subject), and turned into ONE outbox row each
// carrying the subject's whole desired state for that target
// (connectors/common/desired_state.h). Internal to sync/; store thread only.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>

#include "core/reconciler.h"
#include "mapping/spec.h"
#include "store/store.h"
#include "sync/subject_store.h"

namespace consentd::sync {

// What `spec` sends to `target` of `state`: consents of topics bound in
// `target` whose flow reaches its role, on channels it maps; blocks whose
// scope has a side in `target` flowing to it. Nothing for an unknown target.
SubjectState FilterForTarget(const mapping::MappingSpec& spec, std::string_view target,
                             const SubjectState& state);

// The topics whose re-consent marker `target` shows as absolute state: those
// sent to it whose notice version has risen, if it shows markers at all.
std::set<std::string> NoticeMarkerTopics(const mapping::MappingSpec& spec, const Policy& policy,
                                         std::string_view target);

class OutboundBatch {
 public:
  // Records `w`. `identity` is the subject's identity before the decision
  // was applied (an erasure removes the links the target row still needs).
  void Add(const Write& w, const SubjectIdentity& identity);
  bool empty() const { return pending_.empty(); }

  // `state` is the subject's state as the store holds it now (after this
  // call's decisions): Flush uses it instead of reading it back. The caller
  // must Remember again or Forget whenever the stored state changes later.
  void Remember(SubjectState state);
  // The stored state of `subject` changed in a way not remembered: Flush
  // reads it from the store.
  void Forget(const std::string& subject) { states_.erase(subject); }
  // `from` was merged into `into` (its identities moved): the writes
  // collected for `from` in this call become writes for `into`, so the
  // target gets the merged state under identities that still exist. A row
  // for `from` itself would find no identity and no state left to send.
  void Merged(const std::string& from, const std::string& into);
  // Sends `subject`'s whole state to `target`, whatever this call decided
  // (after a merge, the survivor's record at any system may disagree with
  // the combined state, the system the winning change came from included).
  // `after`, if not empty, gives the rows idempotency keys of their own
  // (derived with it), so that they are queued even where the same state is
  // already in flight or dead: one key is never written twice at once, so
  // they are written after it (a write that landed out of order must be
  // followed by the current state whatever else is on its way).
  // Flush remembers what such a row writes (echo memory, rule 5), as the
  // reconciler does for the writes it decides: the target's report of it is
  // consentd's own write coming back, not a statement made when it landed.
  void AddState(const std::string& target, const std::string& subject,
                const SubjectIdentity& identity, std::string_view after = {});
  // As AddState, to every record of `subject` at `target` but the one at
  // `except_address` (the record that reported the change itself), unless
  // this call also asks for the whole state everywhere there.
  void AddStateToOtherRecords(const std::string& target, const std::string& subject,
                              const SubjectIdentity& identity, const std::string& except_address);
  // An erasure at `target` of every record of `subject` there but the one
  // at `except_address`: the record whose own deletion at `target` was the
  // person's erasure (a journey platform that keeps a member per address
  // holds the person's others still). Nothing is queued when no other
  // record is known.
  void AddErasureOfOtherRecords(const std::string& target, const std::string& subject,
                                const SubjectIdentity& identity, const std::string& except_address);

  // Enqueues one row per (target, subject), with the subject's state as it
  // is in the store now; counts rows per target into `enqueued`. With
  // `policy`, a target that shows re-consent markers gets the topics whose
  // notice version has risen as DesiredState::notice_marker_topics. With
  // `held_dead`, a row not queued because the same state is a dead letter
  // (replayed by the operator, never re-added) is noted there: the dead
  // row's id, by target.
  Status Flush(store::Transaction& txn, const mapping::MappingSpec& spec,
               std::string_view mapping_hash, std::string_view identity_key, TimestampMs now,
               std::map<std::string, int>& enqueued, const Policy* policy = nullptr,
               std::map<std::string, std::set<std::int64_t>>* held_dead = nullptr);

 private:
  struct Pending {
    bool erase = false;
    std::set<std::string> reconsent_topics;
    SubjectIdentity identity;  // as first seen in this call
    std::string after;         // AddState's `after`
    bool whole_state = false;  // AddState: the state is written whatever was decided
    bool every_record = false;               // AddState: at every record, none left out
    std::set<std::string> except_addresses;  // AddStateToOtherRecords, AddErasureOfOtherRecords
  };
  std::map<std::pair<std::string, std::string>, Pending> pending_;  // (target, subject)
  std::map<std::string, SubjectState> states_;                      // subject -> Remember
};

// A member the target took as `pending` (re-consent through its double
// opt-in, RecordDeliveries) is marked in the echo memory under this key of
// its subject, with the value kAwaitingConfirmation, until the target
// reports it confirmed or unsubscribed (SyncEngine). While marked, every
// row to the target carries the member's grants as re-consent topics, so
// it stays `pending`, and what consentd decides to write there is
// remembered as `pending` (its read-back). Not pruned after a day.
inline constexpr std::string_view kAwaitingConfirmation = "awaiting_confirmation";
std::string AwaitingConfirmationKey(std::string_view subject);
Result<bool> AwaitsConfirmation(store::Transaction& txn, std::string_view target,
                                std::string_view subject);

// Echo memory (rule 5) of a row that writes `state` to `target` whole:
// one value per consent and block it shows, as of `now`. A key remembered
// with the same value keeps its older time; a grant awaiting re-consent is
// not remembered (nor any grant without `policy`). Flush calls it for
// AddState's rows; a dead letter sent again (dlq replay) is remembered
// again with it.
Status RememberStateWritten(store::Transaction& txn, const std::string& target,
                            const SubjectState& state, const Policy* policy, TimestampMs now);

// A dead letter sent again (dlq replay): what it writes is remembered as of
// `now` (RememberStateWritten), since its memory was taken back when it
// died. Nothing for an erasure, or a row that does not decode (it fails
// again as before).
Status RememberDeadLetterSentAgain(store::Transaction& txn, const store::OutboxRow& row,
                                   const Policy* policy, TimestampMs now);

// Takes back the echo memory of a row that will never write `state` to
// `target`: it died (a dead letter), or it repeats a dead letter and was not
// queued. A value is forgotten only where this row's unit remembered it
// (same value, written at `made_at`, the row's creation) and no other row of
// the person for `target` made then or later (another of their records, a
// newer state; `except_id` is the dead row) is still to be, or was,
// written. Otherwise the person's own later statement of that value there
// would pass as consentd's echo: logged as one, not decided as theirs.
// A row that dies again after a replay keeps its memory (remembered at the
// replay, not at `made_at`).
Status ForgetEchoesNeverDelivered(store::Transaction& txn, const std::string& target,
                                  const SubjectState& state, TimestampMs made_at,
                                  std::int64_t except_id);

// Retires the record (system, system_id) (Transaction::RetireSystemId).
// Where `system` keeps a record per address (Mailchimp), nothing is written
// at that record's address any more (RecordsOf), so the person's writes
// queued there are superseded first: nothing newer would replace them. A
// system written at the address linked last (HubSpot) keeps them.
// `retired_at`: as of when the record is gone (the start of the read that
// showed it; IdentityLink::retired_at); `now` dates the superseded rows.
Status RetireRecord(store::Transaction& txn, const mapping::MappingSpec& spec,
                    std::string_view system, std::string_view system_id, TimestampMs now,
                    TimestampMs retired_at);

}  // namespace consentd::sync
