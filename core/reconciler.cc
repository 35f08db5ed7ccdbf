#include "core/reconciler.h"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "core/keyed_hash.h"
#include "core/notice.h"
#include "core/ordering.h"

namespace consentd {
namespace {

// Two records that say the same thing from the same source at the same
// capture time; they may differ only in the event id that carried them.
bool SameStatement(const ConsentRecord& a, const ConsentRecord& b) {
  return a.status == b.status && a.method == b.method && a.legal_basis == b.legal_basis &&
         a.notice_version == b.notice_version &&
         a.provenance.occurred_at == b.provenance.occurred_at &&
         a.provenance.source_system == b.provenance.source_system;
}

bool SameStatement(const BlockRecord& a, const BlockRecord& b) {
  return a.active == b.active && a.reason == b.reason && a.since == b.since &&
         a.until == b.until && a.provenance.occurred_at == b.provenance.occurred_at &&
         a.provenance.source_system == b.provenance.source_system;
}

constexpr std::string_view kBlockSet = "set";
constexpr std::string_view kBlockCleared = "cleared";
constexpr std::string_view kErased = "erased";

std::string_view BlockValue(bool active) { return active ? kBlockSet : kBlockCleared; }

std::string_view WriteKindName(WriteKind kind) {
  switch (kind) {
    case WriteKind::kConsent:
      return "consent";
    case WriteKind::kBlock:
      return "block";
    case WriteKind::kErasure:
      return "erasure";
  }
  return "unknown";
}

std::string IdempotencyKey(const Write& w, std::string_view key) {
  std::string text = w.target;
  for (std::string_view part : {WriteKindName(w.kind), key, std::string_view(w.desired)}) {
    text.push_back('\x1f');
    text.append(part);
  }
  text.push_back('\x1f');
  text += std::to_string(w.occurred_at);
  return Sha256Hex(text);
}

// Everything Reconcile needs, and the Decision it builds.
class Decider {
 public:
  Decider(const Change& change, const SubjectState& state, const EchoMemory& echoes,
          const Tombstones& tombstones, const Policy& policy)
      : c_(change), s_(state), echoes_(echoes), tombstones_(tombstones), p_(policy) {}

  Decision Run() {
    if (std::string why = Invalid(); !why.empty()) {
      return Finish(Outcome::kRejectedInvalid, why, ProofKind::kRejected, false);
    }
    if (std::optional<Decision> erased = CheckErasure()) return std::move(*erased);
    switch (c_.kind) {
      case ChangeKind::kConsent:
        return DecideConsent();
      case ChangeKind::kBlockSet:
      case ChangeKind::kBlockCleared:
        return DecideBlock();
      case ChangeKind::kErasure:
        return DecideErasure();
      case ChangeKind::kTargetDeleted:
        return DecideTargetDeleted();
    }
    return Finish(Outcome::kRejectedInvalid, "unknown change kind", ProofKind::kRejected, false);
  }

 private:
  const std::string& subject() const { return c_.key.subject; }
  const std::string& source() const { return c_.provenance.source_system; }
  TimestampMs occurred_at() const { return c_.provenance.occurred_at; }

  std::string Invalid() const {
    if (subject().empty()) return "change has no subject";
    if (source().empty()) return "change has no source system";
    if (!s_.subject.empty() && s_.subject != subject()) return "state is for another subject";
    if (c_.kind == ChangeKind::kConsent) {
      if (c_.key.topic.empty() || c_.key.channel.empty()) {
        return "consent change needs topic and channel";
      }
      if (!c_.legal_basis.empty() && !IsKnownLegalBasis(c_.legal_basis)) {
        return "unknown legal basis '" + c_.legal_basis + "'";
      }
    }
    if (c_.kind == ChangeKind::kBlockSet || c_.kind == ChangeKind::kBlockCleared) {
      const bool all = c_.scope.kind == BlockScope::Kind::kAll;
      if (all != c_.scope.value.empty()) return "block scope value missing or unexpected";
    }
    return {};
  }

  // The capture time of the subject's earliest consent or block; the
  // largest time if it holds none.
  TimestampMs FirstStatementAt() const {
    TimestampMs first = std::numeric_limits<TimestampMs>::max();
    for (const auto& [key, record] : s_.consents) {
      first = std::min(first, record.provenance.occurred_at);
    }
    for (const auto& [scope, block] : s_.blocks) {
      first = std::min(first, block.provenance.occurred_at);
    }
    return first;
  }

  // Rule 4. nullopt: not concerned by an erasure, decide normally.
  std::optional<Decision> CheckErasure() {
    std::optional<TombstoneMatch> match = tombstones_.Match(subject(), c_.identifier_hashes);
    if (s_.erased_at) {
      if (!match) match = TombstoneMatch{*s_.erased_at, true};
      match->erased_at = std::max(match->erased_at, *s_.erased_at);
      match->same_subject = true;
    }
    if (!match) return std::nullopt;
    const std::string at = std::to_string(match->erased_at);
    // The erasure is the most restrictive change there is, so it wins ties
    // like a withdrawal does: a change captured within the skew window after
    // it may be older than the erasure (clocks differ; Mailchimp dates a
    // member to the end of its whole second), e.g. a stale poll page still
    // carrying consentd's own write from just before the erasure.
    if (occurred_at() <= match->erased_at + p_.skew_window_ms) {
      return Finish(Outcome::kDroppedErased,
                    "identity erased at " + at + "; change captured at " +
                        std::to_string(occurred_at()) +
                        " is not later than that by more than the clock-skew window (" +
                        std::to_string(p_.skew_window_ms) + " ms)",
                    ProofKind::kRejected, false);
    }
    if (!match->same_subject) {
      // The identity step found no live subject for an erased identity.
      // A deletion or erasure reported for it is about the person already
      // erased (often the target's own report of consentd's erasure): it
      // must not erase a fresh, empty subject and queue erasures nobody
      // can address. Anything else decides normally on the fresh subject.
      // Not such a report when the subject holds something (the person
      // signed up again after the erasure: a new subject with the same
      // address) and the change is an operator's erasure, or names a record
      // the erasure never covered (one of its identifiers is not erased: a
      // new CRM contact of the same address). That person is erased again.
      const bool holds_something =
          !s_.consents.empty() || !s_.blocks.empty() || !s_.identifier_hashes.empty();
      const bool operator_erasure =
          c_.kind == ChangeKind::kErasure && c_.provenance.source_system == "admin";
      bool names_a_new_record = false;
      for (const std::string& h : c_.identifier_hashes) {
        if (!tombstones_.Match(subject(), {h})) names_a_new_record = true;
      }
      // Nor when it names the subject's own record (the subject is linked
      // to every identifier it carries) and is dated after the subject's
      // first statement: that record held the sign-up that came after the
      // erasure. Where a record's id is made from the address (a Mailchimp
      // member's is its hash), the returning person's record has the
      // erased one's id, and every identifier it carries is erased. A late
      // report about another record (the erased contact) stays dropped.
      const bool after_the_return =
          holds_something && occurred_at() > FirstStatementAt() &&
          std::all_of(c_.identifier_hashes.begin(), c_.identifier_hashes.end(),
                      [&](const std::string& h) { return s_.identifier_hashes.contains(h); });
      if ((c_.kind == ChangeKind::kErasure || c_.kind == ChangeKind::kTargetDeleted) &&
          !(holds_something && (operator_erasure || names_a_new_record || after_the_return))) {
        return Finish(Outcome::kDroppedErased,
                      "identity already erased at " + at + ": nothing left to delete",
                      ProofKind::kRejected, false);
      }
      // A withdrawal, refusal or block about the erased record itself
      // (every identifier it carries is erased) for a subject that holds
      // nothing restricts no one: typically the restriction consentd wrote
      // to a record a target keeps (erasure mode restrict or anonymize),
      // read back later with the date of the record's latest edit. Deciding
      // it would make a person out of the erased one's address and write
      // them to the other systems. A sign-up there is a new person's.
      const bool signup =
          c_.kind == ChangeKind::kConsent &&
          (c_.status == ConsentStatus::kGranted || c_.status == ConsentStatus::kPending);
      if (!signup && !holds_something && !names_a_new_record) {
        return Finish(Outcome::kDroppedErased,
                      "identity erased at " + at +
                          ": a withdrawal or block about the erased record restricts no one",
                      ProofKind::kRejected, false);
      }
      return std::nullopt;
    }
    const bool signup = c_.kind == ChangeKind::kConsent && (c_.status == ConsentStatus::kGranted ||
                                                            c_.status == ConsentStatus::kPending);
    if (signup) {
      Decision d;
      d.outcome = Outcome::kNewSubjectRequired;
      d.reason = "sign-up after erasure at " + at + ": reconcile again under a new subject";
      return d;  // no entries: the re-run under the new subject logs it
    }
    return Finish(Outcome::kDroppedErased,
                  "subject erased at " + at + "; only a new sign-up starts a new subject",
                  ProofKind::kRejected, false);
  }

  // True if the subject holds at least one withdrawn or refused consent on
  // a topic synchronised with the source, none granted or pending there,
  // and none of those withdrawals came with this very event (a person who
  // unsubscribes withdraws their topics in the same report: that is theirs,
  // not consentd's write read back).
  bool EveryCarriedTopicIsWithdrawn() const {
    bool any_restrictive = false;
    for (const auto& [key, record] : s_.consents) {
      const TopicPolicy* topic = p_.FindTopic(key.topic);
      if (topic == nullptr || !topic->systems.contains(source())) continue;
      if (record.status == ConsentStatus::kGranted || record.status == ConsentStatus::kPending) {
        return false;
      }
      if (!IsRestrictive(record.status)) continue;
      if (record.provenance.source_system == source() &&
          record.provenance.source_event_id == c_.provenance.source_event_id) {
        return false;
      }
      any_restrictive = true;
    }
    return any_restrictive;
  }

  bool AcceptsSource(const std::map<std::string, Direction>& systems) const {
    if (p_.local_sources.contains(source())) return true;
    const auto it = systems.find(source());
    return it != systems.end() && AcceptsFrom(it->second);
  }

  // Rule 5. True if the change is consentd's own write coming back; forgets
  // the memory when the system reports something else after the write.
  bool IsEcho(const std::string& key, std::string_view value) {
    const EchoRecord* echo = echoes_.Find(source(), key);
    if (echo == nullptr || occurred_at() < echo->written_at - p_.skew_window_ms) return false;
    if (echo->value == value) {
      d_.reason = "echo of consentd's write of '" + echo->value + "' to " + source() + " at " +
                  std::to_string(echo->written_at);
      return true;
    }
    d_.forget_echoes.push_back(EchoRecord{source(), key, {}, 0});
    return false;
  }

  // A system that dates every value by its record's last change
  // (Mailchimp's last_changed moves with any edit of the member, a first
  // name included) reports an old grant under a new date after an unrelated
  // edit. While consentd's write of another system's news to it has not
  // landed (queued or in flight: the sync engine loads it, see
  // UndeliveredWriteOf), what it reports is its value from before that
  // write, not a new statement; letting that date win would undo a
  // withdrawal everywhere. Returns that write, or nullptr.
  //
  // Only permissive reports are held back this way. A person who really did
  // subscribe again there in that window gets the withdrawal written (the
  // restrictive side, as in rule 3) and can subscribe again; a restrictive
  // report is never doubted.
  const UndeliveredWrite* NewsNotLandedAtSource(const std::string& key) const {
    if (!p_.ConstraintsFor(source()).grant_time_is_record_time) return nullptr;
    const UndeliveredWrite* w = echoes_.FindUndelivered(source(), key);
    // The source's own value sent back to it (a refresh row) is no news to
    // it: a report after it is a change there.
    if (w == nullptr || w->origin == source()) return nullptr;
    return w;
  }

  // For a system that dates each value by when it was set there (HubSpot
  // stamps a status when consentd's write lands, not when the person made
  // the choice the write carries). A permissive report (`value`) that
  // differs from consentd's last write there, a restrictive one, and is
  // dated no later than consentd's newest delivered write of that same
  // value there was answered (give or take the skew window) is that write
  // read back: consentd's own earlier grant, read before the withdrawal
  // decided since reached the system. Decided as news, its landing date
  // would let it undo the person's later withdrawal. A grant the person
  // made there afterwards is dated later and decided as usual. Returns the
  // reason, or nullopt. Restrictive reports are never doubted (rule 1).
  std::optional<std::string> OwnEarlierWriteReadBack(const std::string& key, std::string_view value,
                                                     bool (*restrictive)(std::string_view)) const {
    if (p_.ConstraintsFor(source()).grant_time_is_record_time) return std::nullopt;
    const EchoRecord* latest = echoes_.Find(source(), key);
    if (latest == nullptr || latest->value == value || !restrictive(latest->value)) {
      return std::nullopt;
    }
    const LandedWrite* landed = echoes_.FindLanded(source(), key);
    if (landed == nullptr || landed->value != value) return std::nullopt;
    if (occurred_at() > landed->landed_at + p_.skew_window_ms) return std::nullopt;
    return "'" + std::string(value) + "' dated " + std::to_string(occurred_at()) +
           ", not later than consentd's write of it to " + source() + " (outbox #" +
           std::to_string(landed->outbox_id) + ") was answered at " +
           std::to_string(landed->landed_at) + " (skew window " +
           std::to_string(p_.skew_window_ms) + " ms): that write read back before consentd's " +
           "later write of '" + latest->value + "' reached " + source() + ", not a new statement";
  }

  // A source that can only say "off" (Change::reports_absence) dates the
  // "off" by its record's last change, so any edit of the record (a first
  // name) re-dates a box that simply has not been ticked yet, e.g. because
  // consentd's write of a grant from elsewhere has not landed there. When
  // the record showed the box off before, and no write of consentd that
  // may tick it may have landed there since (the sync engine loads that:
  // ShownOff, store.h RememberShownOff), "off" against a grant is that
  // same value again. Returns it, or nullptr: then "off" withdraws as
  // usual. An unsubscribe is the person's action and always withdraws.
  const ShownOff* StillShownOff(const std::string& key, ConsentStatus cur_status) const {
    if (!c_.reports_absence || !IsRestrictive(c_.status) || cur_status != ConsentStatus::kGranted ||
        c_.method == ConsentMethod::kUnsubscribeLink ||
        !p_.ConstraintsFor(source()).grant_time_is_record_time) {
      return nullptr;
    }
    return echoes_.FindShownOff(source(), key);
  }

  static bool RestrictiveStatusName(std::string_view v) {
    const Result<ConsentStatus> s = ParseConsentStatus(v);
    return s.ok() && IsRestrictive(*s);
  }
  static bool BlockSetValue(std::string_view v) { return v == kBlockSet; }

  std::string ValueBeforeOwnWrite(const UndeliveredWrite& w, std::string_view what) const {
    const std::string state = w.row_status == "inflight" ? "is in flight" : "is queued";
    return source() + " dates a record by its last change, and consentd's write of '" + w.value +
           "' (from " + w.origin + ") to it, outbox #" + std::to_string(w.outbox_id) + ", " +
           state + ": the " + std::string(what) +
           " it reports is its value from before that write, not a new one";
  }

  // ---- consent -----------------------------------------------------------

  Decision DecideConsent() {
    const TopicPolicy* topic = p_.FindTopic(c_.key.topic);
    if (topic == nullptr) return Unmapped("topic '" + c_.key.topic + "' is not mapped");
    if (!topic->channels.contains(c_.key.channel)) {
      return Unmapped("channel '" + c_.key.channel + "' is not mapped for topic '" + c_.key.topic +
                      "'");
    }
    if (!AcceptsSource(topic->systems)) {
      return Unmapped("'" + source() + "' is not an inbound source for topic '" + c_.key.topic +
                      "'");
    }
    const std::string key = ConsentKeyString(c_.key);
    const ConsentRecord* cur = s_.FindConsent(c_.key);
    const ConsentStatus cur_status = cur ? cur->status : ConsentStatus::kNotAsked;
    const NoticeTimeline& notice = topic->notice;
    // The current record is a grant for an older notice: re-consent is
    // required (whether or not the walk has marked it yet).
    const std::string awaited = cur ? ReconsentNoticeFor(*cur, notice) : std::string();
    if (c_.status == ConsentStatus::kGranted || c_.status == ConsentStatus::kPending) {
      if (const UndeliveredWrite* w = NewsNotLandedAtSource(key)) {
        const Result<ConsentStatus> written = ParseConsentStatus(w->value);
        if (written.ok() && IsRestrictive(*written)) {
          return Finish(Outcome::kSuperseded, ValueBeforeOwnWrite(*w, "grant"),
                        ProofKind::kSuperseded, true, cur_status, cur_status);
        }
      }
      if (std::optional<std::string> why =
              OwnEarlierWriteReadBack(key, ConsentStatusName(c_.status), &RestrictiveStatusName)) {
        // As for any report that loses: the source is told the canonical
        // state again (a repeat of a row still queued adds nothing).
        if (cur != nullptr && (occurred_at() >= cur->provenance.occurred_at || c_.snapshot) &&
            c_.status != cur_status && SourceWritable(topic->systems)) {
          AddConsentWrite(source(), *cur, c_.status, occurred_at(), key);
        }
        return Finish(Outcome::kSuperseded, *why, ProofKind::kSuperseded, true, cur_status,
                      cur_status);
      }
    }
    if (const ShownOff* off = StillShownOff(key, cur_status)) {
      // A resync's read says the source is behind: it gets the canonical
      // state again (a repeat of a row still queued adds nothing).
      if (c_.snapshot && SourceWritable(topic->systems)) {
        AddConsentWrite(source(), *cur, c_.status, occurred_at(), key);
      }
      return Finish(Outcome::kDuplicate,
                    "reported as off, as " + source() + " showed it already at " +
                        std::to_string(off->seen_at) +
                        " and no write of consentd there may have landed since: the same value "
                        "read again (re-dated by another edit of the record), not a withdrawal",
                    ProofKind::kSuperseded, true, cur_status, cur_status);
    }
    if (!AnswersReconsent(awaited, notice, key) && IsEcho(key, ConsentStatusName(c_.status))) {
      return Finish(Outcome::kEcho, d_.reason, ProofKind::kEcho, true, cur_status, cur_status);
    }
    if (!awaited.empty() && c_.status == ConsentStatus::kGranted &&
        p_.ConstraintsFor(source()).grant_time_is_record_time) {
      return Finish(Outcome::kDuplicate,
                    source() + " dates a consent by its record's last change, not by the grant: " +
                        "the grant read again is not an answer to the re-consent to notice " +
                        awaited,
                    ProofKind::kSuperseded, true, cur_status, cur_status);
    }

    if (c_.reports_absence && IsRestrictive(c_.status)) {
      if (cur_status == ConsentStatus::kNotAsked) {
        return Finish(Outcome::kDuplicate, "reported as not set and never asked: nothing to withdraw",
                      ProofKind::kSuperseded, true, cur_status, cur_status);
      }
      // Not yet confirmed is "off" there too (a pending topic stays
      // unticked on a subscribed member): it says nothing new.
      if (cur_status == ConsentStatus::kPending) {
        return Finish(Outcome::kDuplicate,
                      "reported as not set while pending (not yet confirmed): nothing new",
                      ProofKind::kSuperseded, true, cur_status, cur_status);
      }
      // A target that only shows "off" while a block is active (Mailchimp's
      // `unsubscribed`, which consentd itself writes for a block) does not
      // say the person withdrew the topic: the block explains it.
      for (const auto& [scope, block] : s_.blocks) {
        if (block.active && BlockCovers(scope, c_.key.channel, c_.key.topic, c_.key.address)) {
          return Finish(Outcome::kDuplicate,
                        "reported as off while the block '" + BlockScopeString(scope) +
                            "' is active: the block explains it",
                        ProofKind::kSuperseded, true, cur_status, cur_status);
        }
      }
    }

    ConsentRecord cand{c_.key,
                       c_.status,
                       c_.legal_basis,
                       c_.method,
                       GrantNoticeVersion(notice, c_.notice_version, occurred_at()),
                       c_.provenance,
                       {}};
    // Rule 1: a grant without the evidence the topic needs is only pending.
    const bool held = cand.status == ConsentStatus::kGranted && topic->requires_double_opt_in &&
                      cand.method != ConsentMethod::kDoubleOptIn;
    if (held) cand.status = ConsentStatus::kPending;
    if (cand.legal_basis.empty() &&
        (cand.status == ConsentStatus::kGranted || cand.status == ConsentStatus::kPending)) {
      cand.legal_basis = std::string(kLegalBasisConsent);
    }
    cand.reconsent_notice = ReconsentNoticeFor(cand, notice);

    if (cur != nullptr) {
      // The same statement read again (a webhook and a poll, or two polls,
      // about one change): only the event id differs.
      if (SameStatement(cand, *cur)) {
        // Nothing to tell anyone; the record still takes the greater event
        // id, so the state does not depend on which copy arrived first.
        if (CompareConsentVersions(cand, *cur, p_.skew_window_ms) > 0) d_.consent = cand;
        return Finish(Outcome::kDuplicate, "same statement as the current state",
                      ProofKind::kSuperseded, true, cur_status, cur_status);
      }
      const auto cmp = CompareConsentVersions(cand, *cur, p_.skew_window_ms);
      if (cmp == 0) {
        return Finish(Outcome::kDuplicate, "same version as the current state",
                      ProofKind::kSuperseded, true, cur_status, cur_status);
      }
      if (cmp < 0) {
        std::string why = LostReason(cur->provenance.occurred_at, ConsentStatusName(cand.status),
                                     ConsentStatusName(cur_status));
        // The source is newer but lost a tie, or its snapshot is behind: it
        // disagrees with the canonical state, so tell it (absolute state).
        if ((occurred_at() >= cur->provenance.occurred_at || c_.snapshot) &&
            cand.status != cur_status && SourceWritable(topic->systems)) {
          AddConsentWrite(source(), *cur, cand.status, occurred_at(), key);
        }
        return Finish(Outcome::kSuperseded, why, ProofKind::kSuperseded, true, cur_status,
                      cur_status);
      }
    }

    d_.consent = cand;
    const std::string cur_marker = cur ? cur->reconsent_notice : std::string();
    std::set<std::string> written;
    if (cand.status != cur_status) {
      for (const auto& [system, direction] : topic->systems) {
        if (system == source() || !WritesTo(direction)) continue;
        // A grant for an older notice is not a grant for the current one:
        // only targets that show the re-consent marker hear of it.
        if (!cand.reconsent_notice.empty() && !p_.ConstraintsFor(system).reconsent_marker) {
          continue;
        }
        AddConsentWrite(system, cand, cur_status, cand.provenance.occurred_at, key);
        written.insert(system);
      }
    }
    if (cand.reconsent_notice != cur_marker) {
      // The marker follows the record everywhere it is shown, the source
      // included (it does not know that its report answered anything).
      for (const auto& [system, direction] : topic->systems) {
        if (written.contains(system) || !WritesTo(direction) ||
            !p_.ConstraintsFor(system).reconsent_marker) {
          continue;
        }
        AddConsentWrite(system, cand, system == source() ? cand.status : cur_status,
                        cand.provenance.occurred_at, key);
      }
    }
    std::string why = "latest capture time wins";
    if (!cand.reconsent_notice.empty()) {
      why += "; a grant for notice " + cand.notice_version + ", captured before notice " +
             cand.reconsent_notice + " took effect: re-consent required";
      if (cur_marker.empty()) {
        ProofEntry e = Entry(ProofKind::kNoticeReconsentRequired, false);
        e.old_status = ConsentStatusName(cur_status);
        e.new_status = "reconsent_required";
        e.notice_version = cand.notice_version;
        e.reason = "granted for notice " + cand.notice_version + ", current " +
                   cand.reconsent_notice + ": re-consent required";
        d_.proof.push_back(std::move(e));
      }
    } else if (!awaited.empty()) {
      why += "; answers the re-consent to notice " + awaited;
    }
    if (held) {
      return Finish(Outcome::kHeldPending,
                    "grant without double opt-in confirmation held as pending",
                    ProofKind::kHeldPending, true, cur_status, cand.status);
    }
    return Finish(Outcome::kApplied, why, ProofKind::kDecided, true, cur_status, cand.status);
  }

  // True if a grant captured since the current notice took effect answers
  // a pending re-consent even though consentd wrote the same status to the
  // source earlier: a write made before the notice changed cannot come
  // back as a statement captured after it, so it is not an echo.
  bool AnswersReconsent(const std::string& awaited, const NoticeTimeline& notice,
                        const std::string& key) const {
    if (awaited.empty() || c_.status != ConsentStatus::kGranted || notice.empty()) return false;
    const TimestampMs since = notice.periods.back().since;
    if (occurred_at() < since) return false;
    const EchoRecord* echo = echoes_.Find(source(), key);
    return echo != nullptr && echo->written_at < since;
  }

  bool SourceWritable(const std::map<std::string, Direction>& systems) const {
    const auto it = systems.find(source());
    return it != systems.end() && WritesTo(it->second);
  }

  // True if the person's record at `target` is subscribed anyway: another
  // topic it carries is granted and no block is active. A target whose
  // re-subscription goes through its double opt-in asks it for the record's
  // status, not for one topic of a record that stays subscribed (a
  // Mailchimp interest is ticked again as it is).
  bool KeptSubscribedByAnotherGrant(const std::string& target, const ConsentKey& key) const {
    for (const auto& [scope, block] : s_.blocks) {
      if (block.active) return false;
    }
    for (const auto& [other, record] : s_.consents) {
      if (other == key || record.status != ConsentStatus::kGranted) continue;
      const TopicPolicy* topic = p_.FindTopic(other.topic);
      if (topic != nullptr && topic->systems.contains(target)) return true;
    }
    return false;
  }

  // Adds the write of `desired` to `target`, applying the target's
  // constraints (rule 7). `target_has` is what the target is believed to
  // hold now.
  void AddConsentWrite(const std::string& target, const ConsentRecord& desired,
                       ConsentStatus target_has, TimestampMs answers, const std::string& key) {
    const TargetConstraints limits = p_.ConstraintsFor(target);
    Write w;
    w.target = target;
    w.kind = WriteKind::kConsent;
    w.subject = subject();
    w.consent = desired;
    w.occurred_at = answers;
    if (limits.resubscribe_via_pending && desired.status == ConsentStatus::kGranted &&
        IsRestrictive(target_has) && !KeptSubscribedByAnotherGrant(target, desired.key)) {
      w.consent.status = ConsentStatus::kPending;
      w.reconsent = true;
    }
    w.desired = std::string(ConsentStatusName(w.consent.status));
    w.idempotency_key = IdempotencyKey(w, key);
    if (BlockedAtTarget(w)) return;
    if (w.reconsent) {
      ProofEntry e = Entry(ProofKind::kReconsentRequired, false);
      e.old_status = ConsentStatusName(target_has);
      e.new_status = w.desired;
      e.reason = target + " cannot re-subscribe directly: re-consent written as pending";
      d_.proof.push_back(std::move(e));
    }
    Emit(std::move(w), key);
  }

  // ---- blocks ------------------------------------------------------------

  Decision DecideBlock() {
    const BlockScope& scope = c_.scope;
    if (scope.kind == BlockScope::Kind::kChannel && !p_.IsChannelMapped(scope.value)) {
      return Unmapped("channel '" + scope.value + "' is not mapped");
    }
    if (scope.kind == BlockScope::Kind::kTopic && p_.FindTopic(scope.value) == nullptr) {
      return Unmapped("topic '" + scope.value + "' is not mapped");
    }
    if (!AcceptsSource(p_.block_systems)) {
      return Unmapped("'" + source() + "' is not an inbound source for blocks");
    }
    const bool set = c_.kind == ChangeKind::kBlockSet;
    const std::string key = BlockEchoKey(subject(), scope);
    const auto it = s_.blocks.find(scope);
    const BlockRecord* cur = it == s_.blocks.end() ? nullptr : &it->second;
    const std::string cur_value = cur ? std::string(BlockValue(cur->active)) : std::string();
    if (!set) {
      if (const UndeliveredWrite* w = NewsNotLandedAtSource(key); w && w->value == kBlockSet) {
        return Finish(Outcome::kSuperseded, ValueBeforeOwnWrite(*w, "lifted block"),
                      ProofKind::kSuperseded, true, cur_value, cur_value);
      }
      if (std::optional<std::string> why =
              OwnEarlierWriteReadBack(key, BlockValue(false), &BlockSetValue)) {
        if (cur != nullptr && (occurred_at() >= cur->provenance.occurred_at || c_.snapshot) &&
            cur->active && SourceWritable(p_.block_systems)) {
          AddBlockWrite(source(), *cur, occurred_at(), key);
        }
        return Finish(Outcome::kSuperseded, *why, ProofKind::kSuperseded, true, cur_value,
                      cur_value);
      }
    }
    if (IsEcho(key, BlockValue(set))) {
      return Finish(Outcome::kEcho, d_.reason, ProofKind::kEcho, true, cur_value, cur_value);
    }
    if (c_.reports_absence && !set && (cur == nullptr || !cur->active)) {
      return Finish(Outcome::kDuplicate, "reported as not blocked and no block is known",
                    ProofKind::kSuperseded, true, cur_value, cur_value);
    }
    // Mailchimp's `unsubscribed` is also what consentd writes for a channel
    // block: read back while another active block covers the same contact,
    // it is explained by that block and sets no new one.
    if (c_.reports_absence && set && (cur == nullptr || !cur->active)) {
      for (const auto& [other_scope, other] : s_.blocks) {
        if (other_scope == scope || !other.active) continue;
        const bool covers =
            other_scope.kind == BlockScope::Kind::kAll ||
            (other_scope.kind == BlockScope::Kind::kChannel &&
             (scope.kind == BlockScope::Kind::kAll || scope == other_scope));
        if (covers) {
          return Finish(Outcome::kDuplicate,
                        "reported as blocked while the block '" + BlockScopeString(other_scope) +
                            "' is active: that block explains it",
                        ProofKind::kSuperseded, true, cur_value, cur_value);
        }
      }
      // It is also what consentd writes when every topic the source carries
      // is withdrawn or refused (no audience-wide mail to someone who
      // wants none): read back, it is explained by those withdrawals.
      if (EveryCarriedTopicIsWithdrawn()) {
        return Finish(Outcome::kDuplicate,
                      "reported as blocked while every topic " + source() +
                          " carries is withdrawn or refused: that explains it",
                      ProofKind::kSuperseded, true, cur_value, cur_value);
      }
    }

    BlockRecord cand;
    cand.subject = subject();
    cand.scope = scope;
    cand.active = set;
    cand.reason = c_.block_reason;
    cand.since = occurred_at();
    cand.until = set ? c_.block_until : 0;
    cand.provenance = c_.provenance;

    if (cur != nullptr) {
      if (SameStatement(cand, *cur)) {
        if (CompareBlockVersions(cand, *cur, p_.skew_window_ms) > 0) d_.block = cand;
        return Finish(Outcome::kDuplicate, "same statement as the current state",
                      ProofKind::kSuperseded, true, cur_value, cur_value);
      }
      const auto cmp = CompareBlockVersions(cand, *cur, p_.skew_window_ms);
      if (cmp == 0) {
        return Finish(Outcome::kDuplicate, "same version as the current state",
                      ProofKind::kSuperseded, true, cur_value, cur_value);
      }
      if (cmp < 0) {
        std::string why = LostReason(cur->provenance.occurred_at, BlockValue(set), cur_value);
        if ((occurred_at() >= cur->provenance.occurred_at || c_.snapshot) && set != cur->active &&
            SourceWritable(p_.block_systems)) {
          AddBlockWrite(source(), *cur, occurred_at(), key);
        }
        return Finish(Outcome::kSuperseded, why, ProofKind::kSuperseded, true, cur_value,
                      cur_value);
      }
    }

    d_.block = cand;
    const bool was_active = cur != nullptr && cur->active;
    if (set != was_active) {
      for (const auto& [system, direction] : p_.block_systems) {
        if (system == source() || !WritesTo(direction)) continue;
        AddBlockWrite(system, cand, cand.provenance.occurred_at, key);
      }
    }
    return Finish(Outcome::kApplied, set ? "block set" : "block cleared", ProofKind::kDecided, true,
                  cur_value, std::string(BlockValue(set)));
  }

  void AddBlockWrite(const std::string& target, const BlockRecord& desired, TimestampMs answers,
                     const std::string& key) {
    Write w;
    w.target = target;
    w.kind = WriteKind::kBlock;
    w.subject = subject();
    w.block = desired;
    w.desired = std::string(BlockValue(desired.active));
    w.occurred_at = answers;
    w.idempotency_key = IdempotencyKey(w, key);
    if (BlockedAtTarget(w)) return;
    Emit(std::move(w), key);
  }

  // ---- erasure and deletion ---------------------------------------------

  Decision DecideErasure() {
    Tombstone t;
    t.subject = subject();
    t.identifier_hashes = s_.identifier_hashes;
    t.identifier_hashes.insert(c_.identifier_hashes.begin(), c_.identifier_hashes.end());
    t.erased_at = occurred_at();
    d_.erase_subject = true;
    d_.tombstone = std::move(t);
    // Every system consentd writes anything to holds the person: topics
    // alone (a journey platform that receives no blocks) count as much as
    // blocks.
    std::set<std::string> targets;
    for (const auto& [system, direction] : p_.block_systems) {
      if (WritesTo(direction)) targets.insert(system);
    }
    for (const auto& [topic, t_policy] : p_.topics) {
      for (const auto& [system, direction] : t_policy.systems) {
        if (WritesTo(direction)) targets.insert(system);
      }
    }
    for (const std::string& system : targets) {
      if (system == source() || p_.local_sources.contains(system)) continue;
      Write w;
      w.target = system;
      w.kind = WriteKind::kErasure;
      w.subject = subject();
      w.desired = std::string(kErased);
      w.occurred_at = occurred_at();
      w.idempotency_key = IdempotencyKey(w, subject());
      d_.writes.push_back(std::move(w));  // no echo memory: the subject is gone
    }
    return Finish(Outcome::kApplied, "erasure requested: terminal", ProofKind::kErasureRequested,
                  false);
  }

  Decision DecideTargetDeleted() {
    const auto it = s_.deleted_at_target.find(source());
    if (it != s_.deleted_at_target.end() && it->second <= occurred_at()) {
      return Finish(Outcome::kDuplicate, "already recorded as deleted at " + source(),
                    ProofKind::kSuperseded, false);
    }
    d_.target_deleted = TargetDeletion{source(), occurred_at()};
    return Finish(Outcome::kApplied, "record permanently deleted at " + source(),
                  ProofKind::kObserved, false);
  }

  // ---- shared ------------------------------------------------------------

  // Rule 7: a permanently deleted record cannot be re-added. Records the
  // refusal (visible, never retried) and returns true.
  bool BlockedAtTarget(const Write& w) {
    if (!s_.deleted_at_target.contains(w.target) ||
        !p_.ConstraintsFor(w.target).deletion_is_permanent) {
      return false;
    }
    ProofEntry e = Entry(ProofKind::kBlockedByTarget, false);
    e.new_status = w.desired;
    e.reason = "record permanently deleted at " + w.target + ": it cannot be re-added";
    d_.proof.push_back(std::move(e));
    d_.blocked_by_target.push_back(w);
    return true;
  }

  void Emit(Write w, const std::string& key) {
    d_.remember_echoes.push_back(EchoRecord{w.target, key, w.desired, c_.provenance.recorded_at});
    d_.writes.push_back(std::move(w));
  }

  std::string LostReason(TimestampMs cur_at, std::string_view reported,
                         std::string_view current) const {
    const std::string head = "reported '" + std::string(reported) + "' captured at " +
                             std::to_string(occurred_at()) + " ";
    if (occurred_at() < cur_at) {
      return head + "is older than the current '" + std::string(current) + "' captured at " +
             std::to_string(cur_at);
    }
    return head + "loses to the current '" + std::string(current) + "' captured at " +
           std::to_string(cur_at) + ": the restrictive side wins within the skew window";
  }

  Decision Unmapped(std::string why) {
    return Finish(Outcome::kRejectedUnmapped, std::move(why), ProofKind::kRejected, false);
  }

  // The proof entry for this change. Evidence (personal data) only when
  // the change is kept; addresses only ever go into evidence.
  ProofEntry Entry(ProofKind kind, bool with_evidence) const {
    ProofEntry e;
    e.recorded_at = c_.provenance.recorded_at;
    e.occurred_at = occurred_at();
    e.subject = subject();
    e.kind = kind;
    e.source_system = source();
    e.source_event_id = c_.provenance.source_event_id;
    e.signature_scheme = c_.signature_scheme;
    e.mapping_hash = c_.mapping_hash;
    std::string address;
    if (c_.kind == ChangeKind::kConsent) {
      e.topic = c_.key.topic;
      e.channel = c_.key.channel;
      e.legal_basis = c_.legal_basis;
      e.method = ConsentMethodName(c_.method);
      e.notice_version = c_.notice_version;
      address = c_.key.address;
    } else if (c_.kind == ChangeKind::kBlockSet || c_.kind == ChangeKind::kBlockCleared) {
      if (c_.scope.kind == BlockScope::Kind::kTopic) e.topic = c_.scope.value;
      if (c_.scope.kind == BlockScope::Kind::kChannel) e.channel = c_.scope.value;
      if (c_.scope.kind == BlockScope::Kind::kAddress) address = c_.scope.value;
    }
    if (with_evidence) {
      e.evidence = c_.evidence;
      if (!address.empty()) e.evidence["address"] = address;
    }
    return e;
  }

  Decision Finish(Outcome outcome, std::string why, ProofKind kind, bool keep,
                  std::string_view old_status = {}, std::string_view new_status = {}) {
    ProofEntry e = Entry(kind, keep);
    e.old_status = old_status;
    e.new_status = new_status;
    e.reason = why;
    // The decision entry comes first, then per-target entries.
    d_.proof.insert(d_.proof.begin(), std::move(e));
    d_.outcome = outcome;
    d_.reason = std::move(why);
    if (keep) d_.identifier_hashes = c_.identifier_hashes;
    return std::move(d_);
  }
  Decision Finish(Outcome outcome, std::string why, ProofKind kind, bool keep,
                  ConsentStatus old_status, ConsentStatus new_status) {
    return Finish(outcome, std::move(why), kind, keep, ConsentStatusName(old_status),
                  ConsentStatusName(new_status));
  }

  const Change& c_;
  const SubjectState& s_;
  const EchoMemory& echoes_;
  const Tombstones& tombstones_;
  const Policy& p_;
  Decision d_;
};

}  // namespace

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kApplied:
      return "applied";
    case Outcome::kHeldPending:
      return "held_pending";
    case Outcome::kSuperseded:
      return "superseded";
    case Outcome::kDuplicate:
      return "duplicate";
    case Outcome::kEcho:
      return "echo";
    case Outcome::kDroppedErased:
      return "dropped_erased";
    case Outcome::kNewSubjectRequired:
      return "new_subject_required";
    case Outcome::kRejectedUnmapped:
      return "rejected_unmapped";
    case Outcome::kRejectedInvalid:
      return "rejected_invalid";
  }
  return "unknown";
}

std::string_view ChangeKindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kConsent:
      return "consent";
    case ChangeKind::kBlockSet:
      return "block_set";
    case ChangeKind::kBlockCleared:
      return "block_cleared";
    case ChangeKind::kErasure:
      return "erasure";
    case ChangeKind::kTargetDeleted:
      return "target_deleted";
  }
  return "unknown";
}

std::string BlockEchoKey(std::string_view subject, const BlockScope& scope) {
  return std::string(subject) + "|block|" + BlockScopeString(scope);
}

std::string_view BlockEchoValue(bool active) { return BlockValue(active); }

Decision Reconcile(const Change& change, const SubjectState& current, const EchoMemory& echoes,
                   const Tombstones& tombstones, const Policy& policy) {
  return Decider(change, current, echoes, tombstones, policy).Run();
}

void ApplyToState(const Decision& decision, std::string_view subject, SubjectState& state) {
  if (state.subject.empty()) state.subject = std::string(subject);
  if (decision.erase_subject) {
    SubjectState erased;
    erased.subject = state.subject;
    erased.erased_at = decision.tombstone ? decision.tombstone->erased_at : 0;
    state = std::move(erased);
    return;
  }
  if (decision.consent) state.consents[decision.consent->key] = *decision.consent;
  if (decision.block) state.blocks[decision.block->scope] = *decision.block;
  if (decision.target_deleted) {
    auto [it, inserted] = state.deleted_at_target.emplace(decision.target_deleted->system,
                                                          decision.target_deleted->at);
    if (!inserted) it->second = std::min(it->second, decision.target_deleted->at);
  }
  state.identifier_hashes.insert(decision.identifier_hashes.begin(),
                                 decision.identifier_hashes.end());
}

void ApplyToMemory(const Decision& decision, EchoMemory& echoes, Tombstones& tombstones) {
  for (const EchoRecord& r : decision.forget_echoes) echoes.Forget(r.system, r.key);
  for (const EchoRecord& r : decision.remember_echoes) echoes.Remember(r);
  if (decision.tombstone) tombstones.Add(*decision.tombstone);
}

}  // namespace consentd
