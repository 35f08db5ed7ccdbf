// Durable erasure requests (GDPR Art. 17, issue #7 "Forget"): one request
// per erasure decision, whatever its source (the operator, a CRM privacy
// deletion, a journey platform's permanent deletion), with one row per
// target system that follows its own state machine:
//
//   pending ──claim──► sent ──► done          the target erased the record
//      │                 │ └──► already_done  the target said it was gone (404/409)
//      │                 ├────► failed        dead-lettered (reason kept)
//      │                 └────► unsupported   the target/mode cannot erase
//      └── (the same outcomes straight from pending)
//   failed | unsupported ──dlq replay──► pending
//   any state but done/already_done ──operator──► manual (done by hand, note kept)
//
// done, already_done and manual are settled; a request is "open" until every
// target is settled, and "overdue" when it is open after its deadline
// (OneMonthAfter(requested_at), core/legal_deadline.h). The source's own
// target is done from the start (it erased first), unless the person has
// other records there (a journey member per address): then it is pending
// with the row that erases them.
//
// Requests are created in the unit of work of the erasure decision and
// updated in the unit of work of each delivery outcome, so the request and
// the outbox never disagree after a crash.
//
// Store thread only, inside a unit of work (store.h); SQLite backend only
// (FailedPrecondition otherwise). Nothing here holds personal data: the
// subject is its pseudonym, and an operator's note loses every address and
// subscriber hash (core/redact.h) before it is kept.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "store/store.h"

namespace consentd::store {

enum class ErasureTargetState {
  kPending,
  kSent,
  kDone,
  kAlreadyDone,
  kUnsupported,
  kFailed,
  kManual
};

// "pending", "sent", "done", "already_done", "unsupported", "failed", "manual".
std::string_view ErasureTargetStateName(ErasureTargetState s);
std::optional<ErasureTargetState> ParseErasureTargetState(std::string_view name);
// done, already_done or manual: nothing more will happen to this target.
bool IsSettled(ErasureTargetState s);
// The state machine above (a state to itself is not a transition).
bool ErasureTransitionAllowed(ErasureTargetState from, ErasureTargetState to);

inline constexpr std::string_view kDefaultErasureLegalGround = "GDPR Art. 17(1)";

struct ErasureTarget {
  std::string target;  // connector instance ("hubspot", "mailchimp")
  ErasureTargetState state = ErasureTargetState::kPending;
  std::string mode;            // delete | anonymize | restrict (mapping.erasure.<system>.mode)
  std::string retained;        // restrict: the categories kept, comma-separated
  std::string reason;          // why it is in this state (no personal data)
  std::int64_t outbox_id = 0;  // 0: no outbox row (source, unsupported)
  TimestampMs updated_at = 0;
};

struct ErasureRequestRecord {
  std::string id;       // the erasure decision's source event id
  std::string subject;  // pseudonym of the erased subject
  std::string source;   // "admin", "hubspot", "mailchimp", ...
  std::string requested_by;
  std::string legal_ground{kDefaultErasureLegalGround};
  TimestampMs requested_at = 0;
  TimestampMs deadline = 0;            // 0 on create: OneMonthAfter(requested_at)
  std::vector<ErasureTarget> targets;  // by target name

  bool open() const;
  bool overdue(TimestampMs now) const;
};

// Inserts `request` and its targets (updated_at = now). AlreadyExists if a
// request with that id is there.
Status CreateErasureRequest(Transaction& txn, ErasureRequestRecord request, TimestampMs now);

// Who asked (the operator's name for an admin request). NotFound if no such request.
Status SetErasureRequestedBy(Transaction& txn, std::string_view id, std::string_view requested_by);

// The outbox row that carries the erasure of `subject` to `target` (set
// when it is enqueued). No request for the subject: nothing happens (an
// erasure queued before requests were recorded).
Status AttachErasureOutbox(Transaction& txn, std::string_view subject, std::string_view target,
                           std::int64_t outbox_id, TimestampMs now);

// Targets whose outbox rows were just claimed go pending -> sent.
Status MarkErasureTargetsSent(Transaction& txn, const std::vector<OutboxRow>& claimed,
                              TimestampMs now);

// The delivery outcome for the erasure of `subject` at `target`. A
// transition the state machine does not allow is ignored (a late outcome
// after an operator marked the target manual); no request: nothing happens.
Status RecordErasureOutcome(Transaction& txn, std::string_view subject, std::string_view target,
                            ErasureTargetState state, std::string_view reason, TimestampMs now);

// Whether the erasure of `subject` at `target` is settled (done,
// already_done, or marked manual by an operator). No request: false.
Result<bool> ErasureSettledAt(Transaction& txn, std::string_view subject, std::string_view target);

// A dead-lettered outbox row replayed: its failed/unsupported target is
// pending again. Any other row: nothing happens.
Status ReopenErasureTarget(Transaction& txn, std::int64_t outbox_id, TimestampMs now);

// The operator erased `target` by hand: state manual with `note`. NotFound
// for an unknown request or target; FailedPrecondition if it is already
// done or already_done.
Status MarkErasureTargetManual(Transaction& txn, std::string_view id, std::string_view target,
                               std::string_view note, TimestampMs now);

Result<std::optional<ErasureRequestRecord>> GetErasureRequest(Transaction& txn,
                                                              std::string_view id);
// The request that erased `subject`, if any.
Result<std::optional<ErasureRequestRecord>> FindErasureRequestBySubject(Transaction& txn,
                                                                        std::string_view subject);

struct ErasureListOptions {
  bool open_only = false;
  bool overdue_only = false;  // open and past the deadline at `now`
  int limit = 1000;
};
// Newest first.
Result<std::vector<ErasureRequestRecord>> ListErasureRequests(Transaction& txn, TimestampMs now,
                                                              const ErasureListOptions& options);

// For the gauges consentd_erasures_open / consentd_erasures_overdue.
struct OpenErasureCounts {
  std::int64_t open = 0;
  std::int64_t overdue = 0;
};
Result<OpenErasureCounts> CountOpenErasures(Transaction& txn, TimestampMs now);

// The JSON shape of GET /api/v1/erasures and `consentctl erasures --json`:
// {"id","subject","source","requested_by","legal_ground","requested_at_ms",
//  "deadline_ms","overdue","state":"open|done","targets":[{"target","state",
//  "mode","retained","reason","outbox_id","updated_at_ms"}]}
nlohmann::json ErasureRequestJson(const ErasureRequestRecord& r, TimestampMs now);
// {"erasures": [...]}
nlohmann::json ErasureRequestsJson(const std::vector<ErasureRequestRecord>& list, TimestampMs now);

}  // namespace consentd::store
