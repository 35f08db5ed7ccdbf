#include "sync/explain.h"

#include <ctime>
#include <nlohmann/json.hpp>

#include "core/keyed_hash.h"
#include "core/may_contact.h"
#include "core/normalise.h"
#include "core/proof/entry_codec.h"
#include "core/redact.h"
#include "store/proof_log_store.h"
#include "sync/subject_store.h"
#include "sync/sync_engine.h"

namespace consentd::sync {
namespace {

constexpr std::string_view kSubjectChain = "subject";

// ---- times (UTC) -----------------------------------------------------------

struct Utc {
  std::string day;   // 2026-01-02
  std::string time;  // 03:04:05 or 03:04:05.250
};

Utc SplitUtc(TimestampMs ms) {
  if (ms < 0) return {"", std::to_string(ms)};
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char day[16];
  char time[16];
  std::strftime(day, sizeof day, "%Y-%m-%d", &tm);
  std::strftime(time, sizeof time, "%H:%M:%S", &tm);
  Utc out{day, time};
  if (const TimestampMs frac = ms % 1000; frac != 0) {
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(frac));
    out.time += buf;
  }
  return out;
}

std::string FullTime(TimestampMs ms) {
  const Utc u = SplitUtc(ms);
  return u.day.empty() ? u.time : u.day + " " + u.time;
}

std::string IsoTime(TimestampMs ms) {
  const Utc u = SplitUtc(ms);
  return u.day.empty() ? u.time : u.day + "T" + u.time + "Z";
}

// The time of day alone when `ms` falls on the same day as `ref` (ref 0:
// no reference yet), else date and time: a chain reads like a diary.
std::string When(TimestampMs ms, TimestampMs ref) {
  if (ref > 0 && SplitUtc(ms).day == SplitUtc(ref).day) return SplitUtc(ms).time;
  return FullTime(ms);
}

std::string Window(TimestampMs skew_ms) {
  if (skew_ms <= 0) return "the skew window";
  if (skew_ms % 1000 == 0) return std::to_string(skew_ms / 1000) + " s";
  return std::to_string(skew_ms) + " ms";
}

// ---- words -----------------------------------------------------------------

bool IsBlockValue(std::string_view s) { return s == "set" || s == "cleared"; }
bool IsRestrictiveValue(std::string_view s) {
  return s == "withdrawn" || s == "refused" || s == "set";
}
bool IsPermissiveValue(std::string_view s) {
  return s == "granted" || s == "pending" || s == "cleared";
}

// A status as a noun: "the hubspot grant", "withdrawal wins".
std::string Noun(std::string_view status) {
  if (status == "granted") return "grant";
  if (status == "pending") return "pending grant";
  if (status == "withdrawn") return "withdrawal";
  if (status == "refused") return "refusal";
  if (status == "not_asked") return "reset to not asked";
  if (status == "set") return "block";
  if (status == "cleared") return "block lift";
  if (status.empty()) return "change";
  return "'" + std::string(status) + "'";
}

std::string MethodWords(std::string_view method) {
  if (method == "double_opt_in") return "double opt-in confirmation";
  if (method == "unsubscribe_link") return "unsubscribe link";
  if (method == "api") return "API";
  return std::string(method);
}

// The text between `prefix` and the next quote in `reason`, or "".
std::string QuotedAfter(std::string_view reason, std::string_view prefix) {
  const std::size_t at = reason.find(prefix);
  if (at == std::string_view::npos) return {};
  const std::size_t from = at + prefix.size();
  const std::size_t to = reason.find('\'', from);
  if (to == std::string_view::npos) return {};
  return std::string(reason.substr(from, to - from));
}

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

bool IsBlockEntry(const ProofEntry& e) {
  return IsBlockValue(e.new_status) || IsBlockValue(e.old_status);
}

std::string ScopeText(const BlockScope& scope) {
  if (scope.kind == BlockScope::Kind::kAddress) return "address:" + MaskEmail(scope.value);
  return BlockScopeString(scope);
}

std::string KeyText(const ConsentKey& key) {
  std::string out = key.topic + "/" + key.channel;
  if (!key.address.empty()) out += " (address " + MaskEmail(key.address) + ")";
  return out;
}

std::string ChainOf(const LoggedEntry& l) {
  const ProofEntry& e = l.entry;
  if (IsBlockEntry(e)) {
    if (!e.topic.empty()) return "block topic:" + e.topic;
    if (!e.channel.empty()) return "block channel:" + e.channel;
    return l.address_block ? "block address" : "block all";
  }
  if (!e.topic.empty() && !e.channel.empty()) return e.topic + "/" + e.channel;
  return std::string(kSubjectChain);
}

bool InTopic(const LoggedEntry& l, std::string_view topic) {
  if (topic.empty() || l.entry.topic == topic) return true;
  return IsBlockEntry(l.entry) && l.entry.topic.empty();  // covers every topic
}

// What one chain has seen so far: the entry whose value is in force (for
// ties and late arrivals) and the last time mentioned (for short times).
struct Chain {
  const LoggedEntry* winner = nullptr;
  TimestampMs last_at = 0;
};

TimestampMs AtOf(const ProofEntry& e) { return e.occurred_at != 0 ? e.occurred_at : e.recorded_at; }

std::string Via(const ProofEntry& e) {
  std::string out = " via " + (e.source_system.empty() ? "an unknown source" : e.source_system);
  if (!e.method.empty()) out += " (" + MethodWords(e.method) + ")";
  return out;
}

// "the hubspot grant of 15:06:40 (#11)"
std::string Describe(const LoggedEntry& l, TimestampMs ref) {
  return "the " + l.entry.source_system + " " + Noun(l.entry.new_status) + " of " +
         When(AtOf(l.entry), ref) + " (#" + std::to_string(l.sequence) + ")";
}

std::string DecidedText(const LoggedEntry& l, const Chain& chain, bool block,
                        const ExplainOptions& options) {
  const ProofEntry& e = l.entry;
  std::string out =
      block ? "block " + std::string(e.new_status == "set" ? "set" : "lifted") : e.new_status;
  out += Via(e);
  if (!e.old_status.empty() && e.old_status != e.new_status && e.old_status != "not_asked") {
    out += ", was " + e.old_status;
  }
  // Rule 3 seen from the winner: a restrictive change captured no later
  // than the permissive one it replaced won only because of the window.
  const LoggedEntry* prev = chain.winner;
  if (prev != nullptr && IsRestrictiveValue(e.new_status) &&
      IsPermissiveValue(prev->entry.new_status) && e.occurred_at <= prev->entry.occurred_at) {
    out += "; " + Describe(*prev, AtOf(e)) + " lost the tie: " + Noun(e.new_status) +
           " wins within " + Window(options.skew_window_ms);
  }
  return out;
}

// The entry's statuses are the current (winning) ones; what lost, and why,
// is in the reconciler's reason (core/reconciler.cc LostReason and the
// duplicate reasons). Keyed on those phrases: tests/sync/explain_test.cc
// produces each through the real engine, so a rewording fails there.
std::string SupersededText(const LoggedEntry& l, const Chain& chain,
                           const ExplainOptions& options) {
  const ProofEntry& e = l.entry;
  const std::string reported = QuotedAfter(e.reason, "reported '");
  const std::string current = e.new_status;
  const std::string mine = "the " + e.source_system + " " +
                           Noun(reported.empty() ? current : reported) + " of " +
                           When(AtOf(e), chain.last_at);
  const std::string to_winner =
      chain.winner ? " to #" + std::to_string(chain.winner->sequence) : std::string();
  if (Contains(e.reason, "the restrictive side wins")) {
    return mine + " lost the tie" + to_winner + ": " + Noun(current) + " wins within " +
           Window(options.skew_window_ms) + "; nothing changed";
  }
  if (Contains(e.reason, "is older than the current")) {
    std::string out = mine + " arrived late: older than the current " + Noun(current);
    if (chain.winner) {
      out += " of " + When(AtOf(chain.winner->entry), AtOf(e)) + " (#" +
             std::to_string(chain.winner->sequence) + ")";
    }
    return out + "; nothing changed";
  }
  if (Contains(e.reason, "same statement") || Contains(e.reason, "same version")) {
    return e.source_system + " repeated the current " + (current.empty() ? "state" : current) +
           " (a redelivery or a second read); nothing changed";
  }
  return e.source_system + " reported something that changed nothing: " + e.reason;
}

// An entry about an outbox row's delivery (sync/deliveries.cc), not about a
// change a system reported.
bool IsDeliveryEntry(const ProofEntry& e) { return e.source_event_id.starts_with("outbox:"); }

std::string Sentence(const LoggedEntry& l, const Chain& chain, std::string_view chain_name,
                     const ExplainOptions& options) {
  const ProofEntry& e = l.entry;
  const bool block = chain_name.starts_with("block");
  switch (e.kind) {
    case ProofKind::kDecided:
      if (chain_name == kSubjectChain) return e.reason + Via(e);
      return DecidedText(l, chain, block, options);
    case ProofKind::kHeldPending:
      return "grant" + Via(e) + " held as pending: the topic needs a double opt-in confirmation";
    case ProofKind::kSuperseded:
      // A delivery's entry (an outbox row not written, or dropped) says
      // itself what happened; the texts below are for reported changes.
      if (IsDeliveryEntry(e)) return e.reason;
      return SupersededText(l, chain, options);
    case ProofKind::kEcho:
      return e.source_system + " reported back consentd's own write" +
             (e.new_status.empty() ? std::string() : " (" + e.new_status + ")") +
             ": an echo, neither applied nor sent again";
    case ProofKind::kPropagated:
      return e.reason.empty() ? "written to " + e.source_system : e.reason;
    case ProofKind::kRejected:
      return "rejected (" + e.source_system + "): " + e.reason;
    case ProofKind::kBlockedByTarget:
      return "not sent, the target refuses it: " + e.reason;
    case ProofKind::kReconsentRequired:
    case ProofKind::kNoticeReconsentRequired:
      return e.reason;
    case ProofKind::kErasureRequested:
      return "erasure requested" + Via(e) + ": terminal";
    case ProofKind::kErasureCompleted:
      return "erased: " + e.reason;
    case ProofKind::kObserved:
      return e.reason.empty() ? "observed from " + e.source_system : e.reason;
    case ProofKind::kConfigChanged:
      return "configuration changed" + (e.reason.empty() ? std::string() : ": " + e.reason);
  }
  return std::string(ProofKindName(e.kind)) + ": " + e.reason;
}

// ---- state -----------------------------------------------------------------

bool BlockConcernsTopic(const BlockScope& scope, std::string_view topic) {
  return topic.empty() || scope.kind != BlockScope::Kind::kTopic || scope.value == topic;
}

std::string BlockLine(const BlockRecord& b) {
  std::string out = ScopeText(b.scope) + ": ";
  if (b.active) {
    out += "active since " + FullTime(b.since);
    if (b.until != 0) out += " until " + FullTime(b.until);
  } else {
    out += "lifted at " + FullTime(b.provenance.occurred_at);
  }
  out += ", reason " + std::string(BlockReasonName(b.reason));
  out += ", source " + b.provenance.source_system;
  return out;
}

std::string ConsentLine(const ConsentRecord& c) {
  std::string out = KeyText(c.key) + ": " + std::string(ConsentStatusName(c.status)) + " since " +
                    FullTime(c.provenance.occurred_at);
  if (!c.legal_basis.empty()) out += ", legal basis " + c.legal_basis;
  out += ", method " + std::string(ConsentMethodName(c.method));
  if (!c.notice_version.empty()) out += ", notice " + c.notice_version;
  out += ", source " + c.provenance.source_system;
  if (!c.reconsent_notice.empty()) {
    out += "; re-consent required: granted for notice " + c.notice_version + ", current " +
           c.reconsent_notice;
  }
  return out;
}

SubjectState StateOf(const SubjectExplanation& x) {
  SubjectState s;
  s.subject = x.subject;
  for (const ConsentRecord& c : x.consents) s.consents[c.key] = c;
  for (const BlockRecord& b : x.blocks) s.blocks[b.scope] = b;
  s.erased_at = x.erased_at;
  return s;
}

MayContactAnswer MayContactNow(const SubjectState& s, const ConsentKey& key,
                               const ExplainOptions& options) {
  return MayContact(s, s.subject, key.channel, key.topic, key.address, options.now, options.policy);
}

}  // namespace

std::vector<ExplainedStep> ExplainHistory(const std::vector<LoggedEntry>& entries,
                                          const ExplainOptions& options) {
  std::vector<ExplainedStep> out;
  std::map<std::string, Chain> chains;
  for (const LoggedEntry& l : entries) {
    if (!InTopic(l, options.topic)) continue;
    ExplainedStep step;
    step.sequence = l.sequence;
    step.chain = ChainOf(l);
    step.kind = l.entry.kind;
    step.at = AtOf(l.entry);
    Chain& chain = chains[step.chain];
    // A superseded change names its own capture time in the sentence (a
    // delivery's entry does not).
    step.text = "#" + std::to_string(l.sequence) + " ";
    if (l.entry.kind != ProofKind::kSuperseded || IsDeliveryEntry(l.entry)) {
      step.text += When(step.at, chain.last_at) + " ";
    }
    step.text += Sentence(l, chain, step.chain, options);
    if (l.entry.kind == ProofKind::kDecided || l.entry.kind == ProofKind::kHeldPending) {
      chain.winner = &l;
    }
    chain.last_at = step.at;
    out.push_back(std::move(step));
  }
  return out;
}

std::string NotFoundMessage(std::optional<TimestampMs> erased_at) {
  // consentctl export --deliver exits 3 on these first words (cli/admin_client.cc).
  std::string out = "no subject with this address; it may never have been seen, or it was erased";
  if (erased_at) out += " (an erased identity matches it: erased at " + FullTime(*erased_at) + ")";
  return out;
}

std::string FormatExplanation(const SubjectExplanation& x, const ExplainOptions& options) {
  std::string out = "subject " + x.subject + " (times in UTC)\n";
  out += "linked:";
  if (x.linked.empty()) out += " no system ids";
  bool first = true;
  for (const auto& [system, ids] : x.linked) {
    for (const std::string& id : ids) {
      out += std::string(first ? " " : ", ") + system + " " + id;
      first = false;
    }
  }
  out += "; " + std::to_string(x.linked_addresses) + " e-mail address" +
         (x.linked_addresses == 1 ? "" : "es") + "\n";
  out +=
      "erased: " + (x.erased_at ? "yes, at " + FullTime(*x.erased_at) : std::string("no")) + "\n";
  if (!options.topic.empty()) out += "topic: " + options.topic + "\n";

  const SubjectState state = StateOf(x);
  out += "\nconsents:" + std::string(x.consents.empty() ? " none (not asked)\n" : "\n");
  for (const ConsentRecord& c : x.consents) {
    out += "  " + ConsentLine(c) + "\n";
    if (options.now != 0) {
      out += "    may contact now: " + MayContactNow(state, c.key, options).Explain() + "\n";
    }
  }
  out += "blocks:" + std::string(x.blocks.empty() ? " none\n" : "\n");
  for (const BlockRecord& b : x.blocks) out += "  " + BlockLine(b) + "\n";

  out += "\nhistory (oldest first):" + std::string(x.history.empty() ? " none\n" : "\n");
  // Chains in order of first appearance, each oldest first.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const ExplainedStep*>> by_chain;
  for (const ExplainedStep& s : x.history) {
    auto& steps = by_chain[s.chain];
    if (steps.empty()) order.push_back(s.chain);
    steps.push_back(&s);
  }
  for (const std::string& chain : order) {
    out += "  " + chain + "\n";
    for (const ExplainedStep* s : by_chain[chain]) out += "    " + s->text + "\n";
  }
  return out;
}

std::string FormatExplanationJson(const SubjectExplanation& x, const ExplainOptions& options) {
  nlohmann::ordered_json j;
  j["subject"] = x.subject;
  j["erased"] = x.erased_at.has_value();
  j["erased_at"] = x.erased_at ? nlohmann::ordered_json(IsoTime(*x.erased_at)) : nullptr;
  auto& linked = j["linked"] = nlohmann::ordered_json::array();
  for (const auto& [system, ids] : x.linked) {
    for (const std::string& id : ids) linked.push_back({{"system", system}, {"id", id}});
  }
  j["linked_addresses"] = x.linked_addresses;
  if (!options.topic.empty()) j["topic"] = options.topic;
  const SubjectState state = StateOf(x);
  auto& consents = j["consents"] = nlohmann::ordered_json::array();
  for (const ConsentRecord& c : x.consents) {
    nlohmann::ordered_json r = {
        {"topic", c.key.topic},
        {"channel", c.key.channel},
        {"status", ConsentStatusName(c.status)},
        {"since", IsoTime(c.provenance.occurred_at)},
        {"legal_basis", c.legal_basis},
        {"method", ConsentMethodName(c.method)},
        {"notice_version", c.notice_version},
        {"source_system", c.provenance.source_system},
    };
    if (!c.reconsent_notice.empty()) r["reconsent_required_for_notice"] = c.reconsent_notice;
    if (!c.key.address.empty()) r["address"] = MaskEmail(c.key.address);
    if (options.now != 0) {
      const MayContactAnswer a = MayContactNow(state, c.key, options);
      r["may_contact"] = a.allowed;
      r["may_contact_reason"] = ContactReasonName(a.reason);
    }
    consents.push_back(std::move(r));
  }
  auto& blocks = j["blocks"] = nlohmann::ordered_json::array();
  for (const BlockRecord& b : x.blocks) {
    nlohmann::ordered_json r = {
        {"scope", ScopeText(b.scope)},
        {"reason", BlockReasonName(b.reason)},
        {"active", b.active},
        {"since", IsoTime(b.since)},
        {"until", b.until != 0 ? nlohmann::ordered_json(IsoTime(b.until)) : nullptr},
        {"source_system", b.provenance.source_system},
    };
    blocks.push_back(std::move(r));
  }
  auto& history = j["history"] = nlohmann::ordered_json::array();
  for (const ExplainedStep& s : x.history) {
    history.push_back({{"sequence", s.sequence},
                       {"chain", s.chain},
                       {"kind", ProofKindName(s.kind)},
                       {"at", IsoTime(s.at)},
                       {"text", s.text}});
  }
  return j.dump(2);
}

Result<ExplainLookup> ExplainSubjectByEmail(store::Transaction& txn, std::string_view identity_key,
                                            std::string_view email, const ExplainOptions& options) {
  Result<std::optional<std::string>> subject = FindSubjectByEmail(txn, identity_key, email);
  if (!subject.ok()) return subject.status();
  ExplainLookup out;
  if (!subject->has_value()) {
    // An erasure removes the links but leaves the tombstone (keyed hashes).
    Result<std::string> normalised = NormaliseEmail(email);
    if (!normalised.ok()) return normalised.status();
    Result<std::string> hash = IdentifierHash(identity_key, IdentifierKind::kEmail, *normalised);
    if (!hash.ok()) return hash.status();
    Result<std::optional<store::TombstoneRow>> t = txn.FindTombstone(*hash);
    if (!t.ok()) return t.status();
    if (t->has_value()) out.tombstone_erased_at = (*t)->erased_at;
    return out;
  }
  SubjectExplanation x;
  x.subject = **subject;
  Result<SubjectIdentity> identity = LoadIdentity(txn, x.subject);
  if (!identity.ok()) return identity.status();
  for (const auto& [system, id] : identity->all_ids) x.linked[system].insert(id);
  x.linked_addresses = static_cast<int>(identity->emails.size());
  Result<SubjectState> state = LoadSubjectState(txn, x.subject, identity_key);
  if (!state.ok()) return state.status();
  x.erased_at = state->erased_at;
  for (const auto& [key, c] : state->consents) {
    if (options.topic.empty() || key.topic == options.topic) x.consents.push_back(c);
  }
  for (const auto& [scope, b] : state->blocks) {
    if (BlockConcernsTopic(scope, options.topic)) x.blocks.push_back(b);
  }

  std::vector<LoggedEntry> entries;
  Status s = store::ForEachSubjectProofEntry(
      txn, x.subject, [&](std::uint64_t sequence, std::string_view bytes) -> Status {
        Result<proof::DecodedEntry> d = proof::DecodeEntry(bytes);
        if (!d.ok()) {
          return DataLoss("proof entry #" + std::to_string(sequence) + ": " + d.status().message());
        }
        LoggedEntry l{sequence, std::move(d->entry), false};
        // Whether a scope-less block entry is an address block is only in
        // its sealed evidence: opened after the scan, never printed.
        if (IsBlockEntry(l.entry) && l.entry.topic.empty() && l.entry.channel.empty() &&
            !d->sealed.empty()) {
          l.address_block = true;  // provisional, checked below
        }
        entries.push_back(std::move(l));
        return Status::Ok();
      });
  if (!s.ok()) return s;
  for (LoggedEntry& l : entries) {
    if (!l.address_block) continue;
    Result<std::map<std::string, std::string>> evidence = store::OpenProofEvidence(txn, l.sequence);
    l.address_block = evidence.ok() && evidence->contains("address");
  }
  x.history = ExplainHistory(entries, options);
  out.found = std::move(x);
  return out;
}

}  // namespace consentd::sync
