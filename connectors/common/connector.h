// The connector port (issue #5, DESIGN.md §3): what the daemon's sync
// machinery needs from one external system, and nothing else. A connector
// speaks only its own system: auth, paging, webhook verification and
// parsing, native <-> canonical mapping (through mapping/), and the class of
// every error. It never touches the store, the reconciler or Asio; the
// daemon owns cursors, retries, rate limits and scheduling.
//
// Flow: a webhook is a HINT. ParseWebhook verifies the raw bytes and names
// the records the event is about; the daemon stores the hint durably
// (inbox), answers 2xx, and later calls Read for those records so every
// decision is taken on the system's current, API-read state (Mailchimp does
// not sign its webhooks; HubSpot's carry no legal basis). Pollers call Poll
// with the stored cursor. The dispatcher calls Deliver with claimed outbox
// rows.
//
// `consentctl` uses three more calls: MapRecordPayload and
// ParseWebhookUnverified (offline, for `map`) run the same parse and
// mapping steps as Read and ParseWebhook on a sample payload;
// ListNativeTopics (online, for `check-config --online`) lists what the
// system offers, mapped or not.
//
// Thread-safety: ParseWebhook, MapRecordPayload, ParseWebhookUnverified and
// the accessors are const, pure and may run on any thread. Check, Read,
// Poll, Deliver and ListNativeTopics block (libcurl) and run on the
// daemon's worker pool; they may run concurrently with each other. Every
// HTTP call they make has a deadline (HttpClient).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/common/desired_state.h"
#include "core/clock.h"
#include "core/status.h"
#include "mapping/map_result.h"
#include "net/http_types.h"

namespace consentd::connectors {

// How a failed call or a refused write is treated.
enum class ErrorClass {
  kRetryable,        // transport error, 429, 5xx, timeout: try again later
  kPermanent,        // 4xx that will not change by retrying: dead letter
  kBlockedByTarget,  // the target refuses this transition (DESIGN rule 7):
                     // terminal and visible, never retried
};
std::string_view ErrorClassName(ErrorClass c);  // "retryable", ...

// Classifies a Status from a connector call: Unavailable, DeadlineExceeded
// and ResourceExhausted are retryable, BlockedByTarget is blocked, the rest
// permanent.
ErrorClass ClassOf(const Status& status);

// A refused credential (401, 403: Unauthenticated, PermissionDenied) is the
// connector's failure, not a row's: the daemon retries such rows until the
// target takes a delivery again, without running out of attempts (a token
// revoked over a weekend must not dead-letter everything queued meanwhile).
inline bool IsCredentialRefusal(const Status& status) {
  return status.code() == StatusCode::kUnauthenticated ||
         status.code() == StatusCode::kPermissionDenied;
}

// What one webhook event says happened to one record.
enum class RecordHint {
  kChanged,          // something about the record changed: re-read it
  kDeleted,          // archived / deleted (may come back)
  kPrivacyDeletion,  // the system erased the person (HubSpot gdpr-delete)
  kMerged,           // `merged_ids` were merged into `system_id`
  kEmailChanged,     // the record's address changed (old in `old_email`)
};
std::string_view RecordHintName(RecordHint h);

// One record a webhook event is about.
struct RecordRef {
  std::string event_id;   // the sender's id for the event (inbox dedupe key)
  std::string system_id;  // HubSpot contact id; Mailchimp subscriber hash
  std::string email;      // normalised address when the event carries it
  RecordHint hint = RecordHint::kChanged;
  std::vector<std::string> merged_ids;  // kMerged
  std::string old_email;                // kEmailChanged
  TimestampMs occurred_at = 0;          // the event's own time
  // A self-contained, verified event (the generic protocol's JSON,
  // connectors/generic/protocol.h): Read maps it without calling the
  // system. Empty for a plain hint.
  std::string event_json;
};

// One record read from a system (Read or Poll), mapped to canonical
// changes. `mapped.changes` have key.subject empty: the sync engine
// resolves the subject from system_id / email. A record the system no
// longer has yields a kTargetDeleted change (or kErasure for a privacy
// deletion), so deletions found by a read are decided like any change.
struct InboundRecord {
  std::string event_id;   // provenance.source_event_id of the changes
  std::string system_id;  // may be empty when only the address is known
  std::string email;      // normalised; empty if unknown
  std::vector<std::string> merged_ids;  // system ids merged into this one
  mapping::MapResult mapped;
  // Names the version of the record that was read, when the system has one:
  // the event id the connector's poll gives that version (HubSpot:
  // "poll:<id>:<lastmodifieddate>"; Mailchimp: "poll:<unique_email_id>:
  // <second>#<state digest>", whose part before '#' is a slot holding one
  // state). The same version id means the same mapped state. A version
  // decided once (or written by consentd, DeliveryResult::version_id) is
  // remembered under it, so a poll or hint that reads it again skips it,
  // unless its slot has held two states (contested) or the person it names
  // was erased since (daemon, sync/version_memory.h). Empty: always
  // decided.
  std::string version_id;
  // When the read that returned this began, on consentd's clock (the
  // daemon and resync set it; 0: not known). A record retired after then
  // (store::IdentityLink::retired_at) is not made live again by it: the
  // read shows the record as it was before it was retired.
  TimestampMs read_at = 0;
  // The record is a member its system holds subscribed (Mailchimp): a
  // double opt-in consentd waits for there is confirmed, whatever topics
  // flow back from it (sync/outbound.h, AwaitingConfirmationKey).
  bool member_subscribed = false;
  // The record was found through an index that lags behind the system's
  // writes (HubSpot's CRM search): that it exists is as of some time
  // before read_at. Such a record does not end a permanent deletion
  // recorded for the person there by itself: it has the record read again
  // from the system (docs/model.md, rule 7).
  bool found_in_lagging_index = false;
  // Set when the system failed this one record in an answer that gave the
  // others (HubSpot: a batch read's per-input error other than "not
  // found"): nothing of it was read, `mapped` is empty, and `not_read` says
  // why (for logs; no personal data). The record is not decided: the
  // daemon stores `read_again` as a hint of its own, read after a backoff
  // (sync/read_again.h), so that one record the system keeps failing holds
  // up no other. An answer that failed every input is an error instead.
  std::string not_read;
  // With not_read: what to read (the daemon sets the event id). Its
  // system_id becomes part of that event id, which reaches the proof log:
  // a connector whose ids derive from the address (Mailchimp's subscriber
  // hash) leaves it empty and names the record by `email` (the event id
  // then carries a nonce).
  RecordRef read_again;
};

// Sets read_at of every record in `records` to `at`, or keeps an earlier
// one the connector set (a self-contained event shows its record as of the
// event, not of the read).
inline void StampReadAt(std::vector<InboundRecord>& records, TimestampMs at) {
  for (InboundRecord& r : records) {
    if (r.read_at <= 0 || r.read_at > at) r.read_at = at;
  }
}

// One claimed outbox row for this connector (the daemon decoded it).
struct OutboundItem {
  std::int64_t outbox_id = 0;
  std::string idempotency_key;
  DesiredState desired;
  int attempt = 1;  // 1 on the first try
};

// The outcome of one OutboundItem.
struct DeliveryResult {
  std::int64_t outbox_id = 0;
  Status status;  // OK: the target holds the desired state now
  ErrorClass error_class = ErrorClass::kRetryable;  // when !status.ok()
  // The target's Retry-After (seconds or HTTP-date), when it sent one.
  std::optional<std::chrono::milliseconds> retry_after;
  // The target's id for the subject after the write (linked by the engine).
  std::string system_id;
  // Written as pending (the target's double opt-in) instead of subscribed.
  bool reconsent = false;
  // An erasure (status OK) found the record already gone at the target
  // (404 / "already deleted"): the erasure request's target is
  // already_done rather than done (store/erasure_requests.h).
  bool already_gone = false;
  // What was written or why it was refused, for logs and the proof log.
  // Never personal data.
  std::string detail;
  // Set (status OK) only when the target's answer shows that it holds
  // exactly the state written: the version id (InboundRecord::version_id)
  // a read of the record now gives. consentd's own write read back is then
  // skipped, not decided again as an echo. Empty: nothing is remembered and
  // the read-back is decided.
  std::string version_id;
  // Set (status OK) when values of the desired state were left out because
  // the target holds a newer change of its own that consentd has not
  // decided yet (HubSpot: a grant not written over a newer unsubscribe;
  // Mailchimp: a member someone else unsubscribed, not re-subscribed):
  // their echo-memory keys (ConsentKeyString). consentd forgets what it
  // remembered writing there, so that the target's later reports of those
  // keys are decided, not taken for its own write coming back.
  std::vector<std::string> kept_out;
  // Set (status OK, with kept_out) when the target was left exactly as it
  // was: every value of the write was kept out and nothing was sent
  // (Mailchimp: a member someone else unsubscribed). The proof log then
  // files the row as not written (superseded), not as propagated.
  bool nothing_written = false;
  // Set (status not OK) when the target's answer shows the write changed
  // nothing there: an HTTP refusal (a 4xx, the vendor's own 503) or a
  // per-record error in a batch answer. Unset, a failed write may have
  // landed (no answer, a timeout, another 5xx) and is noted as such, as a
  // successful one is (store.h, NoteMayShowOn).
  bool known_not_written = false;
};

struct PollPage {
  std::vector<InboundRecord> records;
  // Stored with these records, in the same transaction, once they are
  // durable. Opaque to the daemon.
  std::string next_cursor;
  bool more = false;  // another page is ready now (poll again at once)
};

// A topic as the system itself names it: a HubSpot subscription type, a
// Mailchimp interest or marketing permission.
struct NativeTopic {
  std::string id;       // as the mapping names it ("101", "f4e96e6f14")
  std::string name;     // the system's title, for people
  std::string channel;  // the system's channel name ("EMAIL", "email")
  bool mapped = false;  // a topic of the mapping binds it
};

class Connector {
 public:
  virtual ~Connector() = default;

  // The connector instance name (the key under `connectors:`).
  virtual const std::string& name() const = 0;

  // Verifies `req` on its raw bytes (constant time) and parses it.
  // `public_url` is the full URL the sender called (HubSpot signs it).
  // Errors: Unauthenticated (bad, missing or stale signature/secret: 401,
  // nothing stored), InvalidArgument naming the problem (400).
  // An event the connector does not care about yields no RecordRef.
  virtual Result<std::vector<RecordRef>> ParseWebhook(const net::HttpRequest& req,
                                                      std::string_view public_url,
                                                      TimestampMs now) const = 0;

  // Most items one Deliver call takes (the API's batch size).
  virtual int max_batch() const = 0;

  // How many Read calls the daemon may run at once for one set of hinted
  // records, each on its own slice of the refs. 1 (the default) for
  // connectors that read a set in one batch request; more where every ref
  // costs its own request and the vendor limits connections, not requests
  // (Mailchimp).
  virtual int read_parallelism() const { return 1; }
  // Sets of at least this many refs are read whole, in one Read call that
  // answers most of them with one request (Mailchimp: the members changed
  // last), never sliced; 0 (the default): never.
  virtual int whole_set_read_min() const { return 0; }

  // Credentials valid and every mapped topic/interest/subscription exists.
  // Run at start and on reload; /readyz shows the outcome.
  virtual Status Check() = 0;

  // Reads the current state of the records `refs` name (batched where the
  // API allows). One InboundRecord per ref that still exists or was
  // deleted; refs the system cannot resolve at all are dropped with a note.
  // A retryable error means nothing was read: the daemon tries again.
  virtual Result<std::vector<InboundRecord>> Read(const std::vector<RecordRef>& refs) = 0;

  // Fetches the next page of changes after `cursor` ("" = from the
  // beginning of time, i.e. a full initial read). The connector takes an
  // upper bound before fetching, keeps an overlap window, and returns a
  // cursor that never moves past data it did not return.
  virtual Result<PollPage> Poll(std::string_view cursor, TimestampMs now) = 0;

  // Whether a Poll from "" reads every record's current state (a
  // snapshot), which a full reconciliation (sync/resync.h) compares with
  // the canonical state. False for a change feed (the generic connector's
  // poll: events, some superseded by later ones) or no poll at all: a
  // resync of it would take old events for the system's state.
  virtual bool PollsSnapshots() const { return true; }

  // Applies the items (absolute state; batched). One result per item, in
  // any order. Must not throw; transport failures are per-item retryable.
  virtual std::vector<DeliveryResult> Deliver(const std::vector<OutboundItem>& items) = 0;

  // What the connector learnt from the system's answers that must outlive
  // a restart (HubSpot: the status `source` of consentd's own writes, which
  // tells them from anyone else's). The daemon stores it when it changed
  // after a delivery and hands it back to a new instance before its first
  // Deliver. Opaque text; empty: nothing learnt. Thread-safe.
  virtual std::string LearntState() const { return {}; }
  virtual void RestoreLearntState(const std::string& /*state*/) {}

  // A reload that rebuilds a connector (a new mapping, rotated secrets)
  // hands the new instance the one it replaces, before the new one's first
  // call: what only memory held carries over (Mailchimp: the members its
  // own writes left unsubscribed). `previous` may still be delivering on
  // other threads; what it learns after this call is not carried over.
  virtual void TakeOverMemory(const Connector& /*previous*/) {}

  // --- Inspection (consentctl) ---

  // Offline, no HTTP: maps one record in the JSON shape Read gets from the
  // API (per system, docs/operations.md "Trying a payload") exactly as Read
  // maps it. The event id is "payload:<system id>". InvalidArgument naming
  // what is wrong when the JSON is not such a record.
  virtual Result<std::vector<InboundRecord>> MapRecordPayload(std::string_view json) const = 0;

  // ParseWebhook's parsing without its authentication, for an unsigned
  // sample body. Never for live traffic: nothing is verified.
  virtual Result<std::vector<RecordRef>> ParseWebhookUnverified(std::string_view body,
                                                                TimestampMs now) const = 0;

  // Every active native topic of the system, `mapped` set for those the
  // mapping binds. Errors as Check's.
  virtual Result<std::vector<NativeTopic>> ListNativeTopics() = 0;
};

}  // namespace consentd::connectors
