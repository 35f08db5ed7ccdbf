#include "sync/sync_engine.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "connectors/common/desired_state.h"
#include "core/keyed_hash.h"
#include "core/normalise.h"
#include "mapping/policy.h"
#include "store/proof_log_store.h"
#include "sync/erasure_tracking.h"
#include "sync/hint_codec.h"
#include "sync/outbound.h"
#include "sync/read_again.h"
#include "sync/subject_store.h"
#include "sync/version_memory.h"

namespace consentd::sync {

std::vector<connectors::RecordRef> ReadsForHints(const std::vector<PendingHint>& pending) {
  std::vector<connectors::RecordRef> refs;
  std::set<std::string> seen;
  for (const PendingHint& h : pending) {
    connectors::RecordRef what = h.ref;
    what.event_id.clear();
    what.occurred_at = 0;
    if (seen.insert(EncodeRecordRef(what)).second) refs.push_back(h.ref);
  }
  return refs;
}
namespace {

// Outcomes after which the record's identifiers belong to the subject. A
// dropped or rejected record links nothing (an erased person's address
// must not come back through a stale event).
bool KeepsIdentity(Outcome o) {
  return o == Outcome::kApplied || o == Outcome::kHeldPending || o == Outcome::kSuperseded ||
         o == Outcome::kDuplicate || o == Outcome::kEcho;
}

// What `target` shows of a state: each consent's status (with its legal
// basis and re-consent marker) and each active block's end, keyed without
// the subject so that two people's states compare.
std::map<std::string, std::string> ShownAt(const mapping::MappingSpec& spec,
                                           std::string_view target, const SubjectState& state) {
  const SubjectState filtered = FilterForTarget(spec, target, state);
  std::map<std::string, std::string> out;
  for (const auto& [key, r] : filtered.consents) {
    if (r.status == ConsentStatus::kNotAsked) continue;  // as good as no record
    // The legal basis goes with a write (HubSpot), and so does a marker
    // asking for re-consent (Mailchimp).
    out["consent|" + key.topic + "|" + key.channel + "|" + key.address] =
        std::string(ConsentStatusName(r.status)) + "|" + r.legal_basis + "|" + r.reconsent_notice;
  }
  for (const auto& [scope, b] : filtered.blocks) {
    if (b.active) out["block|" + BlockScopeString(scope)] = "until " + std::to_string(b.until);
  }
  return out;
}

// For DecisionNote::what; never an address.
std::string What(const Change& c) {
  switch (c.kind) {
    case ChangeKind::kConsent:
      return "consent " + c.key.topic + "/" + c.key.channel +
             (c.key.address.empty() ? "" : " (one address)");
    case ChangeKind::kBlockSet:
    case ChangeKind::kBlockCleared: {
      const std::string scope = c.scope.kind == BlockScope::Kind::kAddress
                                    ? std::string("address")
                                    : BlockScopeString(c.scope);
      return std::string(c.kind == ChangeKind::kBlockSet ? "block set " : "block cleared ") + scope;
    }
    case ChangeKind::kErasure:
      return "erasure";
    case ChangeKind::kTargetDeleted:
      return "deleted at " + c.provenance.source_system;
  }
  return "change";
}

// True if every change `rec` brings is its system's deletion of it.
bool OnlyDeletions(const connectors::InboundRecord& rec) {
  return !rec.mapped.changes.empty() &&
         std::all_of(rec.mapped.changes.begin(), rec.mapped.changes.end(),
                     [](const Change& c) { return c.kind == ChangeKind::kTargetDeleted; });
}

// True if `rec` shows its record there: it states something about the
// person (a record that maps to nothing, as a member read archived or a
// read dropped as malformed, is no evidence) and reports no deletion or
// erasure. (Whether its existence was read from the system itself or from
// an index that lags behind it is InboundRecord::found_in_lagging_index.)
bool ShowsLiveRecord(const connectors::InboundRecord& rec) {
  return !rec.mapped.changes.empty() &&
         std::none_of(rec.mapped.changes.begin(), rec.mapped.changes.end(), [](const Change& c) {
           return c.kind == ChangeKind::kTargetDeleted || c.kind == ChangeKind::kErasure;
         });
}

// The identifiers one inbound record carries.
struct Identifiers {
  std::string system_id;
  std::string email;  // normalised, or empty
  std::string email_hash;
  std::set<std::string> hashes;  // keyed hashes of both (Change::identifier_hashes)
};

// Whether the canonical record `c` is about was decided at or after `at`
// and before `now` (consentd's clock, as Provenance::recorded_at): by
// another unit of work, not by an earlier record of this one (a person's
// second member in the same page was read at the same time).
bool DecidedSince(const SubjectState& state, const Change& c, TimestampMs at, TimestampMs now) {
  const auto between = [&](TimestampMs recorded) { return recorded >= at && recorded < now; };
  switch (c.kind) {
    case ChangeKind::kConsent: {
      const ConsentRecord* cur = state.FindConsent(c.key);
      return cur != nullptr && between(cur->provenance.recorded_at);
    }
    case ChangeKind::kBlockSet:
    case ChangeKind::kBlockCleared: {
      auto it = state.blocks.find(c.scope);
      return it != state.blocks.end() && between(it->second.provenance.recorded_at);
    }
    default:
      return false;
  }
}

// Decides and applies the records of one Ingest call, and collects its
// proof entries and outbound writes until Finish.
class Ingestor {
 public:
  Ingestor(store::Transaction& txn, const EngineSettings& settings, const Policy& policy,
           const std::string& mapping_hash, std::string_view source, TimestampMs now,
           IngestSummary& summary)
      : txn_(txn),
        settings_(settings),
        policy_(policy),
        mapping_hash_(mapping_hash),
        source_(source),
        now_(now),
        summary_(summary),
        source_writable_(WritesToSystem(source_)) {}

  Status Record(const connectors::InboundRecord& rec) {
    ++summary_.records;
    Result<Identifiers> ids = IdentifiersOf(rec);
    if (!ids.ok()) return ids.status();
    Result<std::optional<std::string>> found = Resolve(*ids);
    if (!found.ok()) return found.status();
    std::string subject;
    if (found->has_value()) {
      subject = **found;
    } else if (OnlyDeletions(rec) && rec.merged_ids.empty() && !Erased(*ids)) {
      // A record deleted at its system, of no one consentd knows (an
      // unsubscribe webhook for an address never synchronised, whose read
      // found nothing): there is nothing to delete anywhere, and storing
      // it would keep a person, address and all, consentd never had. (An
      // erased person's record goes on to be dropped as such, rule 4; one
      // that names records merged into it goes on to fold them in.)
      ++summary_.unknown_deletions;
      return Status::Ok();
    } else {
      Result<std::string> minted = Mint();
      if (!minted.ok()) return minted.status();
      subject = std::move(*minted);
    }
    bool link = false;
    // Records this report shows gone are retired as of the read that showed
    // it: a later read of them (a member added again at its address) is
    // news, an earlier one is not (ReadBeforeItsRecordWasRetired).
    const TimestampMs retired_as_of = RetirementTime(rec.read_at);
    for (const std::string& merged_id : rec.merged_ids) {
      if (merged_id == rec.system_id) continue;
      Result<std::optional<std::string>> m = txn_.FindSubjectBySystemId(source_, merged_id);
      if (!m.ok()) return m.status();
      if (!m->has_value()) continue;
      if (**m != subject) {
        CONSENTD_RETURN_IF_ERROR(Merge(**m, subject, rec.system_id));
        link = true;
      }
      // The merged record is gone from the source: nothing is written to it.
      CONSENTD_RETURN_IF_ERROR(
          RetireRecord(txn_, *settings_.mapping, source_, merged_id, now_, retired_as_of));
    }

    Result<SubjectState> state = LoadState(subject);
    if (!state.ok()) return state.status();
    record_address_ = ids->email;
    record_id_ = rec.system_id;
    record_read_at_ = rec.read_at;
    record_member_subscribed_ = rec.member_subscribed;
    reporter_retired_ = false;
    bool known = false;  // the record brings no identifier the subject lacks
    Result<SubjectIdentity> snapshot = Snapshot(subject, *ids, &known);
    if (!snapshot.ok()) return snapshot.status();
    if (ShowsLiveRecord(rec) && !ReadBeforeItsRecordWasRetired(*snapshot, *ids)) {
      CONSENTD_RETURN_IF_ERROR(NoteRecordThereAgain(rec, *ids, subject, *state, *snapshot));
    }
    for (const Change& mapped : rec.mapped.changes) {
      Change c = mapped;
      if (c.provenance.source_system.empty()) c.provenance.source_system = source_;
      if (c.provenance.source_event_id.empty()) c.provenance.source_event_id = rec.event_id;
      c.provenance.recorded_at = now_;
      c.mapping_hash = mapping_hash_;
      c.identifier_hashes.insert(ids->hashes.begin(), ids->hashes.end());
      c.key.subject = subject;
      // A snapshot read before the canonical state last changed for its key
      // (a newer change decided while its page was on its way) no longer
      // states the system's current state: the system may well hold that
      // newer value by now. Taken as current, it would be "repaired" with a
      // write it does not need (at Mailchimp a re-subscribe goes through
      // double opt-in: a confirmation mail to a subscribed person).
      if (c.snapshot && rec.read_at > 0 && DecidedSince(*state, c, rec.read_at, now_)) {
        c.snapshot = false;
      }
      Result<Decision> d = Decide(c, *state, /*with_echoes=*/true);
      if (!d.ok()) return d.status();
      if (d->outcome == Outcome::kNewSubjectRequired) {
        // Rule 4: a sign-up after the erasure of the subject it names
        // starts a new subject; the erased one stays erased.
        Result<std::string> minted = Mint();
        if (!minted.ok()) return minted.status();
        subject = std::move(*minted);
        *state = SubjectState{};
        state->subject = subject;
        snapshot = Snapshot(subject, *ids, &known);
        if (!snapshot.ok()) return snapshot.status();
        c.key.subject = subject;
        d = Decide(c, *state, /*with_echoes=*/true);
        if (!d.ok()) return d.status();
        if (d->outcome == Outcome::kNewSubjectRequired) {
          return Internal("reconciler asked for a new subject twice");
        }
      }
      CONSENTD_RETURN_IF_ERROR(Apply(*d, c, *state, *snapshot));
      link = link || KeepsIdentity(d->outcome);
    }
    // Relinking what is already current would only move linked_at (which
    // picks the current id among several), so it is skipped.
    const bool relink = link && !known && !state->erased_at && !reporter_retired_;
    // `state` is now what the store holds for the subject: the outbox rows
    // of this call are built from it instead of reading it back. A later
    // record of the same subject reads it from the store.
    outbound_.Remember(std::move(*state));
    fresh_.erase(subject);
    if (relink) return Link(subject, *ids);
    return Status::Ok();
  }

  // Appends the collected proof entries and enqueues the outbound rows.
  Status Finish() {
    CONSENTD_RETURN_IF_ERROR(outbound_.Flush(txn_, *settings_.mapping, mapping_hash_,
                                             settings_.identity_key, now_, summary_.enqueued,
                                             &policy_, &summary_.held_dead));
    if (proof_.empty()) return Status::Ok();
    const std::size_t n = proof_.size();
    Result<store::ProofAppendResult> r = store::AppendProofEntries(txn_, std::move(proof_), now_);
    if (!r.ok()) return r.status();
    summary_.proof_entries += n;
    return Status::Ok();
  }

 private:
  Result<Identifiers> IdentifiersOf(const connectors::InboundRecord& rec) const {
    Identifiers ids;
    ids.system_id = rec.system_id;
    if (!rec.email.empty()) {
      // An address that does not normalise identifies no one.
      if (Result<std::string> e = NormaliseEmail(rec.email); e.ok()) ids.email = std::move(*e);
    }
    if (!ids.email.empty()) {
      Result<std::string> h =
          IdentifierHash(settings_.identity_key, IdentifierKind::kEmail, ids.email);
      if (!h.ok()) return h.status();
      ids.email_hash = *h;
      ids.hashes.insert(std::move(*h));
    }
    if (!ids.system_id.empty()) {
      Result<std::string> h =
          IdentifierHash(settings_.identity_key, IdentifierKind::kNativeId, ids.system_id, source_);
      if (!h.ok()) return h.status();
      ids.hashes.insert(std::move(*h));
    }
    return ids;
  }

  // System id first (the source's own key), then the e-mail's keyed hash.
  Result<std::optional<std::string>> Resolve(const Identifiers& ids) {
    if (!ids.system_id.empty()) {
      Result<std::optional<std::string>> s = txn_.FindSubjectBySystemId(source_, ids.system_id);
      if (!s.ok() || s->has_value()) return s;
    }
    if (!ids.email_hash.empty()) return txn_.FindSubjectByEmailHash(ids.email_hash);
    return std::optional<std::string>();
  }

  Status Link(const std::string& subject, const Identifiers& ids) {
    if (!ids.system_id.empty()) {
      CONSENTD_RETURN_IF_ERROR(
          txn_.LinkSystemId({subject, source_, ids.system_id, now_, ids.email}));
    }
    if (!ids.email.empty()) {
      CONSENTD_RETURN_IF_ERROR(txn_.LinkEmailHash(subject, ids.email_hash, now_));
      CONSENTD_RETURN_IF_ERROR(
          txn_.LinkSystemId({subject, std::string(kEmailLinkSystem), ids.email, now_, ""}));
    }
    return Status::Ok();
  }

  // The subject's identity as outbound rows need it, including what this
  // record brings (its links are written only after the decisions). `known`:
  // the record's ids are already the subject's current ones.
  Result<SubjectIdentity> Snapshot(const std::string& subject, const Identifiers& ids,
                                   bool* known) {
    Result<SubjectIdentity> identity =
        fresh_.contains(subject) ? SubjectIdentity{} : LoadIdentity(txn_, subject);
    if (!identity.ok()) return identity.status();
    if (ReadBeforeItsRecordWasRetired(*identity, ids)) {
      // A poll page or read-back on its way while the record was retired
      // shows it as it was: its changes are decided (capture time orders
      // them), but it is neither linked live again nor written to.
      *known = true;
      return identity;
    }
    const auto current = identity->system_ids.find(source_);
    // Known also means its link knows the record's address (links made
    // before schema v13 learn it here).
    std::string linked_address;
    if (const auto sys = identity->record_addresses.find(source_);
        sys != identity->record_addresses.end()) {
      if (const auto r = sys->second.find(ids.system_id); r != sys->second.end()) {
        linked_address = r->second;
      }
    }
    *known = identity->email == ids.email &&
             (ids.system_id.empty() ||
              (current != identity->system_ids.end() && current->second == ids.system_id &&
               (ids.email.empty() || linked_address == ids.email)));
    if (!ids.email.empty()) {
      identity->email = ids.email;
      identity->emails.insert(ids.email);
    }
    if (!ids.system_id.empty()) {
      identity->system_ids[source_] = ids.system_id;
      identity->all_ids.emplace(source_, ids.system_id);
      if (!ids.email.empty()) identity->record_addresses[source_][ids.system_id] = ids.email;
    }
    return identity;
  }

  // Rule 7 holds while the person's record at the system stays deleted. A
  // record of theirs read there after consentd decided the deletion (HubSpot
  // restores an archived contact; the person subscribes again at their
  // address) exists again: the deletion no longer stands, the proof log
  // says so, and the system gets the person's whole state, which it missed
  // while writes to it were refused. A read begun before the deletion was
  // decided shows the record as it was and changes nothing (the deletion's
  // own time stands in for rows recorded before schema v20).
  Status NoteRecordThereAgain(const connectors::InboundRecord& rec, const Identifiers& ids,
                              const std::string& subject, SubjectState& state,
                              const SubjectIdentity& snapshot) {
    if (record_read_at_ <= 0 || state.erased_at || !state.deleted_at_target.contains(source_)) {
      return Status::Ok();
    }
    Result<std::optional<TimestampMs>> decided_at = txn_.TargetDeletionRecordedAt(subject, source_);
    if (!decided_at.ok()) return decided_at.status();
    if (!decided_at->has_value() || record_read_at_ <= **decided_at) return Status::Ok();
    if (rec.found_in_lagging_index) {
      // The index may still list a record deleted a moment ago: it is read
      // from the system itself (a hint of consentd's own, decided whatever
      // its version, since this one's is remembered as decided now).
      return ReadAgainFromTheSystem(ids);
    }
    CONSENTD_RETURN_IF_ERROR(txn_.ForgetTargetDeletion(subject, source_));
    state.deleted_at_target.erase(source_);
    LogObserved(subject, "a record of the person at " + source_ + " exists again (read at " +
                             std::to_string(record_read_at_) +
                             ", after the deletion there was recorded at " +
                             std::to_string(**decided_at) + "): writes go there again");
    // Under a key of its own: an equal state that died against the deleted
    // record (a dead letter under the state's key) would absorb it.
    if (source_writable_) {
      outbound_.AddState(source_, subject, snapshot,
                         "there again, read at " + std::to_string(record_read_at_));
    }
    return Status::Ok();
  }

  // Queues a hint of consentd's own for the current record of `source_`:
  // it is read again by its id (sync/version_memory.h, kRereadEventPrefix).
  // One per read that asked for it: a repeat is a duplicate.
  Status ReadAgainFromTheSystem(const Identifiers& ids) {
    connectors::RecordRef ref;
    ref.event_id = std::string(kRereadEventPrefix) + "live:" + ids.system_id + ":" +
                   std::to_string(record_read_at_);
    ref.system_id = ids.system_id;
    ref.email = ids.email;
    ref.hint = connectors::RecordHint::kChanged;
    ref.occurred_at = now_;
    if (ref.system_id.empty() && ref.email.empty()) return Status::Ok();  // nothing to read by
    Result<bool> fresh = StoreOwnHint(txn_, source_, ref, now_);
    if (!fresh.ok()) return fresh.status();
    if (*fresh) summary_.hinted.insert(source_);
    return Status::Ok();
  }

  // As of when a record stops existing for sync: `known_gone_at`, the
  // earliest time it is known gone (the start of the read that showed it,
  // or the deletion's own time), at most now; now when not known. A read
  // begun after that time that shows the record is news (it was added
  // again); one begun before is not.
  TimestampMs RetirementTime(TimestampMs known_gone_at) const {
    return known_gone_at > 0 ? std::min(known_gone_at, now_) : now_;
  }

  // Retired already (by an earlier report, resync or merge); records retired
  // before schema v16 cannot be told from live ones without an address.
  static bool Retired(const store::IdentityLink& l) {
    return l.retired_at > 0 || !l.retired_address.empty();
  }

  bool ReadBeforeItsRecordWasRetired(const SubjectIdentity& identity,
                                     const Identifiers& ids) const {
    if (record_read_at_ <= 0 || ids.system_id.empty()) return false;
    const auto sys = identity.retired_at.find(source_);
    if (sys == identity.retired_at.end()) return false;
    const auto r = sys->second.find(ids.system_id);
    return r != sys->second.end() && r->second >= record_read_at_;
  }

  Result<Decision> Decide(const Change& c, const SubjectState& state, bool with_echoes) {
    EchoMemory echoes;
    std::string echo_key;
    if (c.kind == ChangeKind::kConsent) echo_key = ConsentKeyString(c.key);
    if (c.kind == ChangeKind::kBlockSet || c.kind == ChangeKind::kBlockCleared) {
      echo_key = BlockEchoKey(c.key.subject, c.scope);
    }
    if (with_echoes && !echo_key.empty()) {
      Result<const std::optional<store::EchoRow>*> w =
          LatestWrite(c.provenance.source_system, echo_key);
      if (!w.ok()) return w.status();
      if (const std::optional<store::EchoRow>& row = **w; row.has_value()) {
        echoes.Remember(EchoRecord{row->system, row->key, row->value, row->written_at});
      } else if (c.kind == ChangeKind::kConsent && c.status == ConsentStatus::kPending &&
                 policy_.ConstraintsFor(c.provenance.source_system).resubscribe_via_pending) {
        // A member awaiting its double opt-in's confirmation is `pending`
        // by consentd's write, however long ago (the per-topic memory is
        // pruned after a day; the mark is not): its read is that echo.
        Result<const std::optional<store::EchoRow>*> mark =
            LatestWrite(c.provenance.source_system, AwaitingConfirmationKey(c.key.subject));
        if (!mark.ok()) return mark.status();
        if (const std::optional<store::EchoRow>& m = **mark; m.has_value()) {
          echoes.Remember(EchoRecord{m->system, echo_key,
                                     std::string(ConsentStatusName(ConsentStatus::kPending)),
                                     m->written_at});
        }
      }
    }
    if (with_echoes &&
        ReportsAgainstOwnRestrictiveWrite(c, echoes.Find(c.provenance.source_system, echo_key))) {
      Result<std::optional<LandedWrite>> w = LandedWriteOf(c, echo_key);
      if (!w.ok()) return w.status();
      if (w->has_value()) echoes.RememberLanded(std::move(**w));
    }
    if (with_echoes && ReportsAgainstRestrictiveState(c, state)) {
      Result<std::optional<UndeliveredWrite>> w = UndeliveredWriteOf(c, echo_key);
      if (!w.ok()) return w.status();
      if (w->has_value()) echoes.RememberUndelivered(std::move(**w));
    }
    if (with_echoes && MayBeShownOffStill(c, state)) {
      Result<std::optional<store::ShownOffRow>> row =
          txn_.FindStandingShownOff(c.provenance.source_system, record_address_, RecordKey(c.key));
      if (!row.ok()) return row.status();
      if (row->has_value()) {
        echoes.RememberShownOff(ShownOff{c.provenance.source_system, echo_key, (*row)->seen_at});
      }
    }
    Tombstones tombstones;
    for (const std::string& h : c.identifier_hashes) {
      Result<std::optional<TimestampMs>> erased_at = TombstoneOf(h);
      if (!erased_at.ok()) return erased_at.status();
      if (erased_at->has_value()) tombstones.Add(Tombstone{{}, {h}, **erased_at});
    }
    return Reconcile(c, state, echoes, tombstones, policy_);
  }

  // Whether the reconciler may need to know that the reporting record
  // showed `c`'s key off before (ShownOff, core/reconcile_memory.h): an
  // "off" from a source that dates every value by its record's last change,
  // against a grant.
  bool MayBeShownOffStill(const Change& c, const SubjectState& state) const {
    if (c.kind != ChangeKind::kConsent || !c.reports_absence || !IsRestrictive(c.status) ||
        record_address_.empty() ||
        !policy_.ConstraintsFor(c.provenance.source_system).grant_time_is_record_time) {
      return false;
    }
    const ConsentRecord* cur = state.FindConsent(c.key);
    return cur != nullptr && cur->status == ConsentStatus::kGranted;
  }

  // The record's own key for a consent (store.h, ShownOffRow): without the
  // subject, which a record shared or merged may report under another.
  static std::string RecordKey(const ConsentKey& key) {
    return key.topic + "|" + key.channel + "|" + key.address;
  }

  // What the reporting record shows, kept for a source that dates every
  // value by its record's last change (store.h, RememberShownOff), unless
  // the report was not taken (about an erased person, unmapped, invalid):
  // "off" is remembered unless its read began before a write there that may
  // have landed (the store checks); "on" forgets it, and so does the
  // record's deletion.
  Status KeepWhatTheRecordShows(const Decision& d, const Change& c) {
    if (replaying_merge_ || c.provenance.source_system != source_ || record_address_.empty() ||
        !policy_.ConstraintsFor(source_).grant_time_is_record_time) {
      return Status::Ok();
    }
    // A report not taken stores nothing (one about an erased person must not
    // leave their address behind).
    switch (d.outcome) {
      case Outcome::kDroppedErased:
      case Outcome::kNewSubjectRequired:
      case Outcome::kRejectedUnmapped:
      case Outcome::kRejectedInvalid:
        return Status::Ok();
      default:
        break;
    }
    // The record deleted, or showing a box on: nothing seen there before
    // holds, and a read begun before now (decided later) may not show it,
    // so it must not make consentd remember "off" again.
    if (d.target_deleted && d.target_deleted->system == source_) {
      CONSENTD_RETURN_IF_ERROR(txn_.ForgetShownOffOfRecord(source_, record_address_));
      return txn_.NoteMayShowOn(c.key.subject, source_, record_address_, now_);
    }
    if (c.kind != ChangeKind::kConsent) return Status::Ok();
    const std::string key = RecordKey(c.key);
    if (!IsRestrictive(c.status)) {
      return txn_.NoteShownOn(c.key.subject, source_, record_address_, key, now_);
    }
    return txn_.RememberShownOff(store::ShownOffRow{c.key.subject, source_, record_address_, key,
                                                    c.provenance.occurred_at, record_read_at_});
  }

  // True if `c` is a permissive report (a grant, pending, or a lifted block)
  // from a system that dates every value by its record's last change, about
  // a key the subject's state holds restrictive: the one case where the
  // reconciler needs to know whether consentd's own write to that system
  // has landed (NewsNotLandedAtSource in core/reconciler.cc). Everything
  // else needs no outbox read.
  bool ReportsAgainstRestrictiveState(const Change& c, const SubjectState& state) const {
    if (!policy_.ConstraintsFor(c.provenance.source_system).grant_time_is_record_time) {
      return false;
    }
    if (fresh_.contains(c.key.subject)) return false;  // no rows yet
    if (c.kind == ChangeKind::kConsent) {
      if (c.status != ConsentStatus::kGranted && c.status != ConsentStatus::kPending) return false;
      const ConsentRecord* cur = state.FindConsent(c.key);
      return cur != nullptr && IsRestrictive(cur->status);
    }
    if (c.kind == ChangeKind::kBlockCleared) {
      const auto it = state.blocks.find(c.scope);
      return it != state.blocks.end() && it->second.active;
    }
    return false;
  }

  // True if `c` is a permissive report (a grant, pending, or a lifted block)
  // from a system that dates each value by when it was set there, and
  // consentd's last write there (`latest`) is a different, restrictive
  // value: the one case where the reconciler needs consentd's newest
  // delivered write of the reported value there (OwnEarlierWriteReadBack
  // in core/reconciler.cc).
  bool ReportsAgainstOwnRestrictiveWrite(const Change& c, const EchoRecord* latest) const {
    if (latest == nullptr) return false;
    if (policy_.ConstraintsFor(c.provenance.source_system).grant_time_is_record_time) return false;
    if (c.kind == ChangeKind::kConsent) {
      if (c.status != ConsentStatus::kGranted && c.status != ConsentStatus::kPending) return false;
      const Result<ConsentStatus> written = ParseConsentStatus(latest->value);
      return written.ok() && IsRestrictive(*written) &&
             latest->value != ConsentStatusName(c.status);
    }
    return c.kind == ChangeKind::kBlockCleared && latest->value == BlockEchoValue(true);
  }

  // consentd's newest delivered row to `c`'s source, for the subject and
  // the record's address, that held `c`'s own value for `c`'s key, and
  // when the target answered it; nullopt if none of the newest
  // kLandedRowsLooked delivered rows did. Rows are read once per call,
  // subject and address.
  static constexpr int kLandedRowsLooked = 16;
  Result<std::optional<LandedWrite>> LandedWriteOf(const Change& c, const std::string& echo_key) {
    const std::string& system = c.provenance.source_system;
    const auto cache_key = std::tuple{system, c.key.subject, record_address_};
    auto it = landed_.find(cache_key);
    if (it == landed_.end()) {
      std::vector<DeliveredRow> loaded;
      Result<std::vector<store::OutboxRow>> done =
          txn_.ListDeliveredRows(system, c.key.subject, record_address_, kLandedRowsLooked);
      if (!done.ok()) return done.status();
      for (const store::OutboxRow& row : *done) {
        Result<connectors::DesiredState> d = connectors::DecodeDesiredState(row.desired_json);
        if (!d.ok()) return d.status();
        loaded.push_back(DeliveredRow{row.id, row.updated_at, std::move(*d)});
      }
      it = landed_.emplace(cache_key, std::move(loaded)).first;
    }
    const std::string reported = c.kind == ChangeKind::kConsent
                                     ? std::string(ConsentStatusName(c.status))
                                     : std::string(BlockEchoValue(false));
    for (const DeliveredRow& row : it->second) {  // newest first
      if (row.desired.erase) break;
      const std::optional<KeyValue> value = ValueOf(row.desired, c);
      if (!value || value->value != reported) continue;
      return std::optional<LandedWrite>(
          LandedWrite{system, echo_key, value->value, row.id, row.answered_at});
    }
    return std::optional<LandedWrite>();
  }

  struct DeliveredRow {
    std::int64_t id = 0;
    TimestampMs answered_at = 0;  // the row's updated_at: when it was marked done
    connectors::DesiredState desired;
  };

  struct QueuedRow {
    std::int64_t id = 0;
    std::string status;
    connectors::DesiredState desired;
  };
  struct OutboxPair {
    std::optional<QueuedRow> queued;                    // the newest row, if not yet delivered
    std::optional<connectors::DesiredState> delivered;  // the newest delivered row
  };
  struct KeyValue {
    std::string value;   // ConsentStatusName, or "set" / "cleared" for a block
    std::string origin;  // provenance.source_system
    TimestampMs occurred_at = 0;
    // The same decision: the same value from the same system captured at
    // the same time. Not the same value alone: a person who subscribed at
    // the source after an earlier withdrawal was delivered, then withdrew
    // again elsewhere, has a new withdrawal with the old one's value.
    bool SameDecision(const KeyValue& o) const {
      return value == o.value && origin == o.origin && occurred_at == o.occurred_at;
    }
  };

  // consentd's write of `c`'s key to `c`'s source that has not landed there
  // yet and brings it news, or nullopt. That is: the newest outbox row of
  // that source, subject and the record's address is queued or in flight
  // (a dead letter or a delivered row is not: after those the source's
  // reports count again), it holds a value for the key, and the newest
  // delivered row does not hold the same decision (then it reached the
  // source before, and the queued row only carries it again). With no
  // delivered row left (they are kept a day), the value is taken as not
  // delivered: the restrictive side, as in rule 3. Rows are read once per
  // call, subject and address.
  Result<std::optional<UndeliveredWrite>> UndeliveredWriteOf(const Change& c,
                                                             const std::string& echo_key) {
    const std::string& system = c.provenance.source_system;
    const auto cache_key = std::tuple{system, c.key.subject, record_address_};
    auto it = undelivered_.find(cache_key);
    if (it == undelivered_.end()) {
      Result<OutboxPair> loaded = LoadOutboxPair(system, c.key.subject);
      if (!loaded.ok()) return loaded.status();
      it = undelivered_.emplace(cache_key, std::move(*loaded)).first;
    }
    const OutboxPair& rows = it->second;
    if (!rows.queued.has_value() || rows.queued->desired.erase) {
      return std::optional<UndeliveredWrite>();
    }
    UndeliveredWrite w{system, echo_key, {}, {}, rows.queued->id, rows.queued->status};
    const std::optional<KeyValue> queued = ValueOf(rows.queued->desired, c);
    if (!queued) return std::optional<UndeliveredWrite>();
    w.value = queued->value;
    w.origin = queued->origin;
    if (rows.delivered.has_value()) {
      const std::optional<KeyValue> delivered = ValueOf(*rows.delivered, c);
      if (delivered && delivered->SameDecision(*queued)) return std::optional<UndeliveredWrite>();
    }
    return std::optional<UndeliveredWrite>(std::move(w));
  }

  // What `desired` holds for `c`'s key, or nullopt if it holds nothing.
  static std::optional<KeyValue> ValueOf(const connectors::DesiredState& desired, const Change& c) {
    if (c.kind == ChangeKind::kConsent) {
      for (const auto& [key, record] : desired.state.consents) {
        if (key.topic == c.key.topic && key.channel == c.key.channel &&
            key.address == c.key.address) {
          return KeyValue{std::string(ConsentStatusName(record.status)),
                          record.provenance.source_system, record.provenance.occurred_at};
        }
      }
      return std::nullopt;
    }
    const auto b = desired.state.blocks.find(c.scope);
    if (b == desired.state.blocks.end()) return std::nullopt;
    return KeyValue{b->second.active ? "set" : "cleared", b->second.provenance.source_system,
                    b->second.provenance.occurred_at};
  }

  // The newest row of `system` and `subject` for the record's address if it
  // is queued or in flight, and the newest delivered one.
  Result<OutboxPair> LoadOutboxPair(const std::string& system, const std::string& subject) {
    OutboxPair out;
    Result<std::optional<store::OutboxRow>> row =
        txn_.FindNewestOutboxRow(system, subject, record_address_);
    if (!row.ok()) return row.status();
    if (!row->has_value() || ((*row)->status != store::OutboxStatus::kPending &&
                              (*row)->status != store::OutboxStatus::kInflight)) {
      return out;
    }
    Result<connectors::DesiredState> desired = connectors::DecodeDesiredState((*row)->desired_json);
    if (!desired.ok()) return desired.status();
    out.queued = QueuedRow{(*row)->id, std::string(store::OutboxStatusName((*row)->status)),
                           std::move(*desired)};
    Result<std::optional<store::OutboxRow>> done =
        txn_.FindNewestDeliveredRow(system, subject, record_address_);
    if (!done.ok()) return done.status();
    if (done->has_value()) {
      Result<connectors::DesiredState> d = connectors::DecodeDesiredState((*done)->desired_json);
      if (!d.ok()) return d.status();
      out.delivered = std::move(*d);
    }
    return out;
  }

  // A subject minted for the record being decided: nothing about it is
  // stored yet but what this record writes (tracked in memory), so its
  // state, links and echo memory need no reads until the record is done.
  Result<std::string> Mint() {
    Result<std::string> id = MintSubjectId();
    if (id.ok()) fresh_.insert(*id);
    return id;
  }

  Result<SubjectState> LoadState(const std::string& subject) {
    if (!fresh_.contains(subject)) return LoadSubjectState(txn_, subject, settings_.identity_key);
    SubjectState state;
    state.subject = subject;
    return state;
  }

  // The last write consentd remembers for (system, key) (echo memory, rule
  // 5), read once per call and kept in step with what Apply writes. A key of
  // a fresh subject has no stored write.
  Result<const std::optional<store::EchoRow>*> LatestWrite(const std::string& system,
                                                           const std::string& key) {
    auto it = echoes_.find({system, key});
    if (it == echoes_.end()) {
      std::optional<store::EchoRow> row;
      if (!OfFreshSubject(key)) {
        Result<std::optional<store::EchoRow>> w = txn_.FindLatestWrite(system, key);
        if (!w.ok()) return w.status();
        row = std::move(*w);
      }
      it = echoes_.emplace(std::pair{system, key}, std::move(row)).first;
    }
    return &it->second;
  }

  // Whether `subject`'s member at `system` awaits its double opt-in's
  // confirmation (sync/outbound.h, AwaitingConfirmationKey), read once per
  // call.
  Result<bool> AwaitsConfirmationCached(const std::string& system, const std::string& subject) {
    Result<const std::optional<store::EchoRow>*> mark =
        LatestWrite(system, AwaitingConfirmationKey(subject));
    if (!mark.ok()) return mark.status();
    return (*mark)->has_value();
  }

  // A report from a system whose re-subscriptions go through its double
  // opt-in that the member is subscribed (a grant), unsubscribed (a block
  // set), or gone ends its wait for the confirmation. A pending member's
  // own report (pending topics, boxes left unticked) does not.
  // A record that shows the member subscribed ends it too, whatever topics
  // flow back from it; a merge's replay of stored records is no report.
  Status ForgetAwaitedConfirmation(const Change& c) {
    const bool ends_wait =
        record_member_subscribed_ ||
        (c.kind == ChangeKind::kConsent && c.status == ConsentStatus::kGranted) ||
        c.kind == ChangeKind::kBlockSet || c.kind == ChangeKind::kErasure ||
        c.kind == ChangeKind::kTargetDeleted;
    if (replaying_merge_ || !ends_wait ||
        !policy_.ConstraintsFor(source_).resubscribe_via_pending) {
      return Status::Ok();
    }
    const std::string key = AwaitingConfirmationKey(c.key.subject);
    Result<const std::optional<store::EchoRow>*> mark = LatestWrite(source_, key);
    if (!mark.ok()) return mark.status();
    if (!(*mark)->has_value()) return Status::Ok();
    CONSENTD_RETURN_IF_ERROR(txn_.ForgetWrites(source_, key));
    echoes_.insert_or_assign(std::pair{source_, key}, std::nullopt);
    return Status::Ok();
  }

  // True if `system` shows a block of `scope` as its unsubscribe-all.
  bool ShowsBlockAsUnsubscribeAll(const std::string& system, const BlockScope& scope) const {
    if (scope.kind != BlockScope::Kind::kChannel) return false;
    for (const mapping::BlockSpec& b : settings_.mapping->blocks) {
      const auto side = b.sides.find(system);
      if (b.scope == scope.kind && side != b.sides.end() && side->second.unsubscribe_all) {
        return true;
      }
    }
    return false;
  }

  // True if the store is known to hold no write for (system, key) (so
  // there is nothing to forget), without reading it.
  bool NoStoredWrite(const std::string& system, const std::string& key) const {
    const auto it = echoes_.find({system, key});
    if (it != echoes_.end()) return !it->second.has_value();
    return OfFreshSubject(key);
  }

  // Echo keys start with the subject ("<subject>|...", ConsentKeyString,
  // BlockEchoKey).
  bool OfFreshSubject(std::string_view echo_key) const {
    const std::size_t bar = echo_key.find('|');
    return bar != std::string_view::npos && fresh_.contains(std::string(echo_key.substr(0, bar)));
  }

  // True if an identifier of `ids` was erased (a tombstone holds it).
  bool Erased(const Identifiers& ids) {
    for (const std::string& h : ids.hashes) {
      Result<std::optional<TimestampMs>> at = TombstoneOf(h);
      if (!at.ok() || at->has_value()) return true;  // unreadable: decide as before
    }
    return false;
  }

  // When the identifier with keyed hash `h` was erased (rule 4), read once
  // per call: every change of a record carries the same hashes.
  Result<std::optional<TimestampMs>> TombstoneOf(const std::string& h) {
    if (auto it = tombstones_.find(h); it != tombstones_.end()) return it->second;
    Result<std::optional<store::TombstoneRow>> t = txn_.FindTombstone(h);
    if (!t.ok()) return t.status();
    std::optional<TimestampMs> erased_at;
    if (t->has_value()) erased_at = (*t)->erased_at;
    tombstones_.emplace(h, erased_at);
    return erased_at;
  }

  // Makes `d` durable (proof entries and outbox rows at Finish) and
  // applies it to the in-memory `state` for the record's next change.
  Status Apply(const Decision& decided, const Change& c, SubjectState& state,
               const SubjectIdentity& snapshot) {
    const std::string& subject = c.key.subject;
    // In a system that keeps a record per address, the permanent deletion
    // of one of the person's records while another lives is the end of
    // that record, not of the person there: it is retired (nothing more is
    // written to it) and the person's other records keep getting writes.
    // Recorded for the person, it would refuse all of them as
    // blocked_by_target. The last record's deletion is the person's.
    Decision one_record;
    const bool retire_reporter = decided.target_deleted &&
                                 decided.target_deleted->system == source_ &&
                                 HasOtherRecordAtSource(snapshot);
    if (retire_reporter) {
      one_record = decided;
      one_record.target_deleted.reset();
    }
    const Decision& d = retire_reporter ? one_record : decided;
    ++summary_.outcomes[d.outcome];
    DecisionNote note{source_, subject, What(c), d.outcome, d.reason, {}};
    for (const Write& w : d.blocked_by_target) note.blocked_targets.push_back(w.target);
    summary_.notes.push_back(std::move(note));
    for (const Write& w : d.writes) outbound_.Add(w, snapshot);
    CONSENTD_RETURN_IF_ERROR(ForgetAwaitedConfirmation(c));
    // A channel block lifted at a system that shows it as its
    // unsubscribe-all: the grants on that channel were held back from it
    // (FilterForTarget) and go there now, with the whole state (no decided
    // write goes back to the source).
    if (d.outcome == Outcome::kApplied && d.block && !d.block->active &&
        ShowsBlockAsUnsubscribeAll(source_, d.block->scope)) {
      outbound_.AddState(source_, subject, snapshot);
    }
    // The source gets no erasure row, since it erased first; but a source
    // that keeps a record per address erased only the record that reported
    // it, and the person's others there go now.
    const bool erase_others_at_source = d.erase_subject && HasOtherRecordToEraseAtSource(snapshot);
    if (erase_others_at_source) {
      outbound_.AddErasureOfOtherRecords(source_, subject, snapshot,
                                         ReportingRecordAddress(snapshot));
    }
    CONSENTD_RETURN_IF_ERROR(KeepWhatTheRecordShows(decided, c));
    CONSENTD_RETURN_IF_ERROR(RefreshSourceRow(d, subject, snapshot));
    if (d.consent) CONSENTD_RETURN_IF_ERROR(SaveConsent(txn_, *d.consent, now_));
    if (d.block) CONSENTD_RETURN_IF_ERROR(SaveBlock(txn_, *d.block, now_));
    if (d.target_deleted) {
      CONSENTD_RETURN_IF_ERROR(
          txn_.RecordTargetDeletion(subject, d.target_deleted->system, d.target_deleted->at, now_));
      // Rule 7 covers writes decided from now on; those decided before and
      // still queued (waiting out a backoff) would create the record again.
      if (policy_.ConstraintsFor(d.target_deleted->system).deletion_is_permanent) {
        CONSENTD_RETURN_IF_ERROR(
            txn_.SupersedeQueuedWritesAfterDeletion(d.target_deleted->system, subject, now_));
      }
    }
    if (retire_reporter) {
      if (const std::string id = ReportingRecordId(snapshot); !id.empty()) {
        CONSENTD_RETURN_IF_ERROR(RetireRecord(txn_, *settings_.mapping, source_, id, now_,
                                              RetirementTime(record_read_at_)));
      }
      reporter_retired_ = true;  // not linked live again by this record
    }
    for (const EchoRecord& r : d.forget_echoes) {
      if (!NoStoredWrite(r.system, r.key)) {
        CONSENTD_RETURN_IF_ERROR(txn_.ForgetWrites(r.system, r.key));
      }
      echoes_.insert_or_assign(std::pair{r.system, r.key}, std::nullopt);
    }
    for (const EchoRecord& r : d.remember_echoes) {
      // One remembered value per (system, key), as EchoMemory holds it.
      if (!NoStoredWrite(r.system, r.key)) {
        CONSENTD_RETURN_IF_ERROR(txn_.ForgetWrites(r.system, r.key));
      }
      store::EchoRow row{r.system, r.key, r.value, r.written_at};
      // A member awaiting its double opt-in's confirmation is written
      // `pending` whatever the grant (AddReconsentsOutstanding): that is
      // what it reports back.
      if (r.value == ConsentStatusName(ConsentStatus::kGranted) &&
          policy_.ConstraintsFor(r.system).resubscribe_via_pending) {
        Result<bool> awaits = AwaitsConfirmationCached(r.system, subject);
        if (!awaits.ok()) return awaits.status();
        if (*awaits) row.value = std::string(ConsentStatusName(ConsentStatus::kPending));
      }
      CONSENTD_RETURN_IF_ERROR(txn_.RememberWrite(row));
      echoes_.insert_or_assign(std::pair{r.system, r.key}, std::move(row));
    }
    for (ProofEntry e : d.proof) {
      e.recorded_at = now_;
      proof_.push_back(std::move(e));
    }
    if (d.erase_subject) {
      const TimestampMs erased_at = d.tombstone ? d.tombstone->erased_at : c.provenance.occurred_at;
      CONSENTD_RETURN_IF_ERROR(txn_.EraseSubject(subject));
      CONSENTD_RETURN_IF_ERROR(txn_.MarkSubjectErased(subject, erased_at));
      fresh_.erase(subject);  // its erased marker is stored now
      // The person's outbox rows go, in every system: queued writes are moot
      // (the source gets no erasure row, and a write sent to it after its
      // own deletion would fail and stay as a dead letter with the address),
      // and finished ones only hold the address and state. Rows in flight
      // go when answered (RecordDeliveries); the erasure rows come after.
      CONSENTD_RETURN_IF_ERROR(txn_.ForgetRowsOfErasedSubject(subject));
      // The request and its per-target states (store/erasure_requests.h).
      CONSENTD_RETURN_IF_ERROR(
          OpenErasureRequest(txn_, *settings_.mapping, c, d, now_, erase_others_at_source));
      if (d.tombstone) {
        for (const std::string& h : d.tombstone->identifier_hashes) {
          CONSENTD_RETURN_IF_ERROR(txn_.AddTombstone({h, erased_at}));
          tombstones_.erase(h);  // read again: the store keeps the later time
        }
      }
      // consentd's own copy is gone: logging this destroys the subject's
      // evidence key (crypto-shredding); the targets follow via the outbox.
      ProofEntry e;
      e.recorded_at = now_;
      e.occurred_at = erased_at;
      e.subject = subject;
      e.kind = ProofKind::kErasureCompleted;
      e.source_system = "consentd";
      e.source_event_id = c.provenance.source_event_id;
      e.mapping_hash = mapping_hash_;
      e.reason = "canonical state and identifiers erased; evidence key destroyed";
      proof_.push_back(e);
      // The subjects merged into this one are the same person: their
      // evidence keys go too (their entries are sealed under their own).
      Result<std::vector<std::string>> merged = txn_.ListMergedInto(subject);
      if (!merged.ok()) return merged.status();
      for (const std::string& m : *merged) {
        // Whatever is still filed under the merged pseudonym goes as well:
        // its dead letters (kept by the merge) and finished rows hold the
        // address, its echo memory may.
        CONSENTD_RETURN_IF_ERROR(txn_.EraseSubject(m));
        CONSENTD_RETURN_IF_ERROR(txn_.ForgetRowsOfErasedSubject(m));
        CONSENTD_RETURN_IF_ERROR(txn_.MarkSubjectErased(m, erased_at));
        ProofEntry me = e;
        me.subject = m;
        me.reason = "merged into " + subject + ", erased with it; evidence key destroyed";
        proof_.push_back(std::move(me));
      }
    }
    ApplyToState(d, subject, state);
    return Status::Ok();
  }

  // A merge (`from` into `into`): `from`'s identities move over and each of
  // its records is decided against `into`'s state like a change, so the
  // usual order applies (restrictive side within the skew window, else the
  // latest). Both histories stay in the proof log under their pseudonyms.
  // `survivor_id`: the record in the source that the other was merged into.
  Status Merge(const std::string& from, const std::string& into, const std::string& survivor_id) {
    Result<SubjectState> merged = LoadSubjectState(txn_, from, settings_.identity_key);
    if (!merged.ok()) return merged.status();
    if (merged->erased_at) return Status::Ok();
    // `into` was found by that record (not by its address): the survivor
    // shows `into`'s state, as far as consentd's writes have landed.
    Result<std::optional<std::string>> survivor_holder =
        txn_.FindSubjectBySystemId(source_, survivor_id);
    if (!survivor_holder.ok()) return survivor_holder.status();
    const bool survivor_is_into = survivor_holder->value_or("") == into;
    for (const auto& [system, at] : merged->deleted_at_target) {
      const mapping::SystemSpec* spec = settings_.mapping->FindSystem(system);
      if (spec != nullptr && spec->KeepsRecordPerAddress()) {
        // There the deletion was of `from`'s record (its address), not of
        // the person: `into`'s own records stay writable, and `from`'s
        // records there go out of use (nothing is written to them).
        Result<std::vector<store::IdentityLink>> links = txn_.ListSystemIds(from);
        if (!links.ok()) return links.status();
        for (const store::IdentityLink& l : *links) {
          if (l.system != system || Retired(l)) continue;  // one retired keeps its own time
          // Gone since the deletion, not since the merge: a read of it
          // begun in between that shows it is news (it was added again).
          CONSENTD_RETURN_IF_ERROR(RetireRecord(txn_, *settings_.mapping, system, l.system_id, now_,
                                                RetirementTime(at)));
        }
        continue;
      }
      // Dated as decided for `from`: a read of `into`'s record begun since
      // shows it live after that deletion.
      Result<std::optional<TimestampMs>> decided_at = txn_.TargetDeletionRecordedAt(from, system);
      if (!decided_at.ok()) return decided_at.status();
      CONSENTD_RETURN_IF_ERROR(
          txn_.RecordTargetDeletion(into, system, at, decided_at->value_or(now_)));
    }
    CONSENTD_RETURN_IF_ERROR(GiveTheSurvivorsDeletedMembersUp(from, into));
    CONSENTD_RETURN_IF_ERROR(txn_.MoveIdentities(from, into));
    // `from`'s queued writes hold its state before the merge under its own
    // key: no row of `into` supersedes them, and one sent after the combined
    // state (waiting for a retry) would undo it. Each target they were for
    // gets the combined state instead (below).
    Result<std::vector<std::string>> had_queued =
        txn_.SupersedeQueuedRowsOfMergedSubject(from, into, now_);
    if (!had_queued.ok()) return had_queued.status();
    // Both subjects change here outside Record's view: rows for them read
    // the store again (Record remembers `into` anew when it is done), and
    // writes collected for `from` in this call go to `into`.
    outbound_.Merged(from, into);
    fresh_.erase(from);
    fresh_.erase(into);  // it has `from`'s links now
    Result<SubjectState> state = LoadSubjectState(txn_, into, settings_.identity_key);
    if (!state.ok()) return state.status();
    Result<SubjectIdentity> snapshot = LoadIdentity(txn_, into);
    if (!snapshot.ok()) return snapshot.status();

    // What the merging system showed of each person before (see below).
    const std::map<std::string, std::string> survivor_showed =
        ShownAt(*settings_.mapping, source_, *state);
    const std::map<std::string, std::string> merged_showed =
        ShownAt(*settings_.mapping, source_, *merged);
    std::vector<Change> changes;
    for (const auto& [key, r] : merged->consents) {
      Change c;
      c.kind = ChangeKind::kConsent;
      c.key = key;
      c.status = r.status;
      c.legal_basis = r.legal_basis;
      c.method = r.method;
      c.notice_version = r.notice_version;
      c.provenance = r.provenance;
      changes.push_back(std::move(c));
    }
    for (const auto& [scope, b] : merged->blocks) {
      Change c;
      c.kind = b.active ? ChangeKind::kBlockSet : ChangeKind::kBlockCleared;
      c.scope = scope;
      c.block_reason = b.reason;
      c.block_until = b.until;
      c.provenance = b.provenance;
      changes.push_back(std::move(c));
    }
    replaying_merge_ = true;
    for (Change& c : changes) {
      c.key.subject = into;
      c.mapping_hash = mapping_hash_;
      // No echo memory: these are consentd's own records, not a report.
      Result<Decision> d = Decide(c, *state, /*with_echoes=*/false);
      if (!d.ok()) return d.status();
      Status applied = Apply(*d, c, *state, *snapshot);
      if (!applied.ok()) {
        replaying_merge_ = false;
        return applied;
      }
    }
    replaying_merge_ = false;
    // Each system that knows the person now holds two records, and the
    // survivor's may disagree with the combined state even where the winning
    // change came from that same system (it came from the merged record).
    // So every such system gets the whole state, not only those the
    // decisions above wrote to, and so does every target `from` had writes
    // queued for (it may hold no record of the person yet).
    // (The decisions above change no identity: `snapshot` is still current.)
    // Except the merging system when both its records already showed the
    // combined state: a write there changes nothing, yet it lands after the
    // person's next change there whenever that comes between this read and
    // the delivery, and undoes it (a withdrawal made just after the merge
    // was lost that way: HubSpot keeps the last write, not the latest
    // capture).
    // A write of `from`'s that was queued or is still in flight there may
    // not land (a failed one is not retried: deliveries.cc, WhyNotRetried),
    // so the merged record's side is not known to be shown: write.
    Result<bool> merged_rows_open = txn_.HasOpenOutbox(source_, from);
    if (!merged_rows_open.ok()) return merged_rows_open.status();
    const std::map<std::string, std::string> combined =
        ShownAt(*settings_.mapping, source_, *state);
    const bool source_holds_it =
        survivor_is_into && survivor_showed == combined && merged_showed == combined &&
        !*merged_rows_open &&
        std::find(had_queued->begin(), had_queued->end(), source_) == had_queued->end();
    std::set<std::string> targets(had_queued->begin(), had_queued->end());
    for (const auto& [system, system_id] : snapshot->system_ids) targets.insert(system);
    for (const std::string& system : targets) {
      if (system == source_ && source_holds_it) continue;
      if (WritesToSystem(system)) outbound_.AddState(system, into, *snapshot);
    }
    // A member of `from`'s awaiting its double opt-in's confirmation is the
    // person's: the survivor's rows must keep it pending too.
    targets.insert(source_);
    for (const std::string& system : targets) {
      if (!policy_.ConstraintsFor(system).resubscribe_via_pending) continue;
      Result<std::optional<store::EchoRow>> mark =
          txn_.FindLatestWrite(system, AwaitingConfirmationKey(from));
      if (!mark.ok()) return mark.status();
      if (!mark->has_value()) continue;
      const std::string key = AwaitingConfirmationKey(into);
      CONSENTD_RETURN_IF_ERROR(txn_.ForgetWrites(system, key));
      store::EchoRow row{system, key, (*mark)->value, (*mark)->written_at};
      CONSENTD_RETURN_IF_ERROR(txn_.RememberWrite(row));
      echoes_.insert_or_assign(std::pair{system, key}, std::move(row));
    }
    CONSENTD_RETURN_IF_ERROR(txn_.EraseSubject(from));  // its leftovers; not an erasure
    CONSENTD_RETURN_IF_ERROR(txn_.RecordMerge(from, into, now_));
    LogObserved(from, "merged into " + into + " (" + source_ + ")");
    LogObserved(into, "absorbed " + from + " (" + source_ + ")");
    return Status::Ok();
  }

  // The other side of a merge's deletions: where the system keeps a record
  // per address and `into`'s records there were permanently deleted (its
  // deletion there is recorded), but `from` brings a live one, the person
  // lives on there. The deletion no longer stands for the person, and
  // `into`'s deleted records go out of use instead (a write there would be
  // refused: the address is forgotten).
  Status GiveTheSurvivorsDeletedMembersUp(const std::string& from, const std::string& into) {
    Result<std::vector<std::pair<std::string, TimestampMs>>> deletions =
        txn_.ListTargetDeletions(into);
    if (!deletions.ok()) return deletions.status();
    if (deletions->empty()) return Status::Ok();
    Result<std::vector<store::IdentityLink>> from_links = txn_.ListSystemIds(from);
    if (!from_links.ok()) return from_links.status();
    Result<std::vector<store::IdentityLink>> into_links = txn_.ListSystemIds(into);
    if (!into_links.ok()) return into_links.status();
    for (const auto& [system, at] : *deletions) {
      const mapping::SystemSpec* spec = settings_.mapping->FindSystem(system);
      if (spec == nullptr || !spec->KeepsRecordPerAddress()) continue;
      const bool from_lives_there = std::any_of(
          from_links->begin(), from_links->end(),
          [&](const store::IdentityLink& l) { return l.system == system && !l.address.empty(); });
      if (!from_lives_there) continue;
      for (const store::IdentityLink& l : *into_links) {
        if (l.system != system || Retired(l)) continue;
        CONSENTD_RETURN_IF_ERROR(
            RetireRecord(txn_, *settings_.mapping, system, l.system_id, now_, RetirementTime(at)));
      }
      CONSENTD_RETURN_IF_ERROR(txn_.ForgetTargetDeletion(into, system));
      // The log said the record there was deleted; it says why writes go
      // there again.
      LogObserved(into, "the permanent deletion at " + system +
                            " no longer stands for the person: " + from +
                            ", merged in, has a live record there; the deleted one is retired");
    }
    return Status::Ok();
  }

  // A proof entry of what this call saw happen to `subject` at the source
  // (a merge and what follows from it), not a decision.
  void LogObserved(const std::string& subject, std::string reason) {
    ProofEntry e;
    e.recorded_at = now_;
    e.subject = subject;
    e.kind = ProofKind::kObserved;
    e.source_system = source_;
    e.mapping_hash = mapping_hash_;
    e.reason = std::move(reason);
    proof_.push_back(std::move(e));
  }

  // A row for the reporting system that is pending or in flight was built
  // before this change: delivered, it would overwrite the system's newer
  // value with the older one (and its read-back would pass as an echo). A
  // row with the state after this change follows it, so the system ends up
  // holding the current state. A subject first seen in this call has no rows.
  Status RefreshSourceRow(const Decision& d, const std::string& subject,
                          const SubjectIdentity& snapshot) {
    const bool changed = d.outcome == Outcome::kApplied || d.outcome == Outcome::kHeldPending;
    if (!changed || (!d.consent && !d.block)) return Status::Ok();
    if (fresh_.contains(subject) || !source_writable_) return Status::Ok();
    // A system that keeps a record per address (after a CRM merge, a member
    // per address of the person) has told this through one of them: the
    // person's other records there get the new state too, as they would
    // from any other system. (Not a grant held for its double opt-in: that
    // is the record's own confirmation under way.)
    // A row still open to the source (to the reporting record too) would
    // land after this change with an older state: the whole state goes to
    // every record then, which supersedes it.
    Result<bool> open = txn_.HasOpenOutbox(source_, subject);
    if (!open.ok()) return open.status();
    if (*open) {
      outbound_.AddState(source_, subject, snapshot);
    } else if (d.outcome == Outcome::kApplied && HasOtherRecordAtSource(snapshot)) {
      outbound_.AddStateToOtherRecords(source_, subject, snapshot, record_address_);
    }
    return Status::Ok();
  }

  bool HasOtherRecordAtSource(const SubjectIdentity& snapshot) const {
    const mapping::SystemSpec* system = settings_.mapping->FindSystem(source_);
    if (system == nullptr || !system->KeepsRecordPerAddress()) return false;
    const auto records = snapshot.record_addresses.find(source_);
    if (records == snapshot.record_addresses.end()) return false;
    return std::any_of(records->second.begin(), records->second.end(), [&](const auto& r) {
      return r.first != record_id_ && r.second != record_address_;
    });
  }

  // True if the source keeps several records of a person (a member per
  // address; a generic system's records by id), the mapping writes to it,
  // and the person has a record there besides the one being decided.
  bool HasOtherRecordToEraseAtSource(const SubjectIdentity& snapshot) const {
    const mapping::SystemSpec* system = settings_.mapping->FindSystem(source_);
    if (system == nullptr || !source_writable_ ||
        !(system->KeepsRecordPerAddress() || system->ErasesEveryRecordById())) {
      return false;
    }
    const auto records = snapshot.record_addresses.find(source_);
    if (records == snapshot.record_addresses.end()) return false;
    const std::string reporter = ReportingRecordAddress(snapshot);
    return std::any_of(records->second.begin(), records->second.end(), [&](const auto& r) {
      return r.first != record_id_ && r.second != reporter;
    });
  }

  // The id of the record being decided: as it reported it, else the id
  // linked with its address.
  std::string ReportingRecordId(const SubjectIdentity& snapshot) const {
    if (!record_id_.empty()) return record_id_;
    const auto records = snapshot.record_addresses.find(source_);
    if (records == snapshot.record_addresses.end() || record_address_.empty()) return "";
    for (const auto& [id, address] : records->second) {
      if (address == record_address_) return id;
    }
    return "";
  }

  // The address of the record being decided: as it reported it, else as
  // consentd linked it (a deletion may name the record by id alone).
  std::string ReportingRecordAddress(const SubjectIdentity& snapshot) const {
    if (!record_address_.empty()) return record_address_;
    const auto records = snapshot.record_addresses.find(source_);
    if (records == snapshot.record_addresses.end()) return "";
    const auto it = records->second.find(record_id_);
    return it == records->second.end() ? "" : it->second;
  }

  // True if the mapping writes any topic or block to `system`.
  bool WritesToSystem(const std::string& system) const {
    if (policy_.local_sources.contains(system)) return false;
    if (const auto b = policy_.block_systems.find(system);
        b != policy_.block_systems.end() && WritesTo(b->second)) {
      return true;
    }
    for (const auto& [topic, t] : policy_.topics) {
      if (const auto d = t.systems.find(system); d != t.systems.end() && WritesTo(d->second)) {
        return true;
      }
    }
    return false;
  }

  store::Transaction& txn_;
  const EngineSettings& settings_;
  const Policy& policy_;
  const std::string& mapping_hash_;
  const std::string source_;
  const TimestampMs now_;
  IngestSummary& summary_;
  std::vector<ProofEntry> proof_;
  OutboundBatch outbound_;
  // Subjects minted for the current record (see Mint).
  std::set<std::string> fresh_;
  // Per-call read caches, kept in step with this call's own writes.
  std::map<std::pair<std::string, std::string>, std::optional<store::EchoRow>> echoes_;
  // (system, subject, address) -> its outbox rows as UndeliveredWriteOf
  // needs them, read once per call.
  std::map<std::tuple<std::string, std::string, std::string>, OutboxPair> undelivered_;
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<DeliveredRow>> landed_;
  // The address of the record being decided (its outbox rows are per address).
  std::string record_address_;
  std::string record_id_;  // the current record's id in the source
  bool reporter_retired_ = false;   // Apply retired the current record (its deletion)
  TimestampMs record_read_at_ = 0;  // the current record's InboundRecord::read_at
  bool record_member_subscribed_ = false;  // its InboundRecord::member_subscribed
  bool replaying_merge_ = false;           // Merge replays stored records through Apply
  std::map<std::string, std::optional<TimestampMs>> tombstones_;
  // The mapping writes to the system this call's records come from.
  const bool source_writable_;
};

}  // namespace

SyncEngine::SyncEngine(EngineSettings settings) : settings_(std::move(settings)) {
  SetMapping(settings_.mapping);
}

void SyncEngine::SetMapping(std::shared_ptr<const mapping::MappingSpec> mapping) {
  settings_.mapping = std::move(mapping);
  if (settings_.mapping) {
    mapping_hash_ = mapping::MappingHash(*settings_.mapping);
  } else {
    mapping_hash_.clear();
  }
  RebuildPolicy();
}

Result<IngestSummary> SyncEngine::AcceptHints(store::Transaction& txn, std::string_view source,
                                              const std::vector<connectors::RecordRef>& refs,
                                              TimestampMs now) {
  IngestSummary summary;
  for (const connectors::RecordRef& ref : refs) {
    store::InboxRow row;
    row.source = std::string(source);
    row.received_at = now;
    row.payload = EncodeRecordRef(ref);
    // A sender without event ids: the content is the id, so a resent
    // identical event is still recognised.
    row.event_id = ref.event_id.empty() ? "sha256:" + Sha256Hex(row.payload) : ref.event_id;
    Result<bool> fresh = txn.InsertInbox(row);
    if (!fresh.ok()) return fresh.status();
    ++(*fresh ? summary.records : summary.duplicates);
  }
  return summary;
}

Result<std::vector<PendingHint>> SyncEngine::PendingHints(store::Transaction& txn,
                                                          std::string_view source, int limit) {
  Result<std::vector<store::InboxRow>> rows = txn.ListUnprocessedInbox(source, limit);
  if (!rows.ok()) return rows.status();
  std::vector<PendingHint> out;
  out.reserve(rows->size());
  for (const store::InboxRow& row : *rows) {
    PendingHint hint;
    hint.source = row.source;
    hint.received_at = row.received_at;
    // An undecodable payload still comes back (with its event id only), so
    // the caller can mark it done instead of seeing it forever.
    if (Result<connectors::RecordRef> ref = DecodeRecordRef(row.payload); ref.ok()) {
      hint.ref = std::move(*ref);
    }
    hint.ref.event_id = row.event_id;
    out.push_back(std::move(hint));
  }
  return out;
}

Status SyncEngine::MarkHintsDone(store::Transaction& txn, std::string_view source,
                                 const std::vector<std::string>& event_ids, TimestampMs now) {
  for (const std::string& id : event_ids) {
    CONSENTD_RETURN_IF_ERROR(txn.MarkInboxProcessed(source, id, now));
  }
  return Status::Ok();
}

Result<IngestSummary> SyncEngine::Ingest(store::Transaction& txn, std::string_view source,
                                         const std::vector<connectors::InboundRecord>& records,
                                         TimestampMs now) {
  if (!settings_.mapping) return FailedPrecondition("sync engine: no mapping in force");
  CONSENTD_RETURN_IF_ERROR(EnsureNoticesLoaded(txn));
  IngestSummary summary;
  Ingestor ingestor(txn, settings_, policy_, mapping_hash_, source, now, summary);
  for (const connectors::InboundRecord& rec : records) {
    // Not read (InboundRecord::not_read): nothing to decide; the caller
    // has it read again (sync/read_again.h).
    if (!rec.not_read.empty()) continue;
    CONSENTD_RETURN_IF_ERROR(ingestor.Record(rec));
  }
  CONSENTD_RETURN_IF_ERROR(ingestor.Finish());
  // A report about an erased person (a webhook echoing the deletion, with
  // the address) was dropped: its hint leaves the inbox with this unit, and
  // the copies the write-ahead log keeps of it go after the batch.
  if (const auto dropped = summary.outcomes.find(Outcome::kDroppedErased);
      dropped != summary.outcomes.end() && dropped->second > 0) {
    txn.NoteErasedDataRemoved();
  }
  return summary;
}

}  // namespace consentd::sync
