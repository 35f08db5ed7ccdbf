// `consentctl explain`: one subject's canonical state and the proof-log
// decisions behind it, in plain words (docs/operations.md, "Explaining a
// subject's state").
//
// ExplainHistory and the Format functions are pure (testable without a
// store); ExplainSubjectByEmail reads the store inside the caller's unit of
// work (store thread only). Nothing here prints an address: the subject is
// named by its pseudonym, address blocks and address consents by a masked
// address (core/redact.h), linked addresses only by their count.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"
#include "core/policy.h"
#include "core/proof_entry.h"
#include "core/status.h"
#include "store/store.h"

namespace consentd::sync {

struct ExplainOptions {
  std::string topic;  // only this topic's states and entries; empty = all
  // The skew window the decisions were made with (the mapping's); 0 =
  // unknown (no mapping at hand): sentences then say "the skew window".
  TimestampMs skew_window_ms = 0;
  // "May contact now?" is answered at `now` (0: not answered), with the
  // policy's double opt-in rules when one is given.
  TimestampMs now = 0;
  const Policy* policy = nullptr;
};

// One stored proof-log entry of the subject, as ExplainHistory reads it.
struct LoggedEntry {
  std::uint64_t sequence = 0;
  ProofEntry entry;
  // A block entry whose scope is an address (the address itself is only in
  // the sealed evidence, so the loader says so here).
  bool address_block = false;
};

// One entry explained: the chain it belongs to ("newsletter/email",
// "block all", "subject" for entries about the whole subject) and the
// sentence, e.g. "#12 15:06:39 withdrawn via mailchimp (unsubscribe link);
// the hubspot grant of 15:06:40 (#11) lost the tie: withdrawal wins within 2 s".
struct ExplainedStep {
  std::uint64_t sequence = 0;
  std::string chain;
  ProofKind kind = ProofKind::kObserved;
  TimestampMs at = 0;  // occurred_at, else recorded_at
  std::string text;
};

struct SubjectExplanation {
  std::string subject;
  std::map<std::string, std::set<std::string>> linked;  // system -> ids (e-mail links excluded)
  int linked_addresses = 0;                             // e-mail addresses, never named
  std::optional<TimestampMs> erased_at;
  std::vector<ConsentRecord> consents;  // current state (filtered by topic)
  std::vector<BlockRecord> blocks;      // blocks that concern the topic (all without one)
  std::vector<ExplainedStep> history;   // oldest first
};

// Explains `entries` (one subject's, in sequence order): keeps those of
// `options.topic` (consent entries of that topic, and block entries without
// a topic, which cover every topic) and words each from its kind, statuses,
// method, source, times and the reconciler's reason. A restrictive decision
// that beat a later-or-equal grant, and a grant superseded by "the
// restrictive side wins", are told as a lost tie.
std::vector<ExplainedStep> ExplainHistory(const std::vector<LoggedEntry>& entries,
                                          const ExplainOptions& options);

// Human-readable report (several lines, UTC times) and the same as one JSON
// object {"subject", "erased", "erased_at", "linked", "linked_addresses",
// "consents", "blocks", "history"}.
std::string FormatExplanation(const SubjectExplanation& e, const ExplainOptions& options);
std::string FormatExplanationJson(const SubjectExplanation& e, const ExplainOptions& options);

// The one-line answer when no subject has the address: `erased_at` is the
// erasure time when an erased identity's tombstone matches the address.
std::string NotFoundMessage(std::optional<TimestampMs> erased_at);

struct ExplainLookup {
  std::optional<SubjectExplanation> found;
  // Not found, but a tombstone matches the address: erased then.
  std::optional<TimestampMs> tombstone_erased_at;
};

// Finds the subject whose linked addresses include `email` (sync_engine.h
// FindSubjectByEmail) and loads its identity, state (subject_store.h) and
// proof-log entries. InvalidArgument if the address does not normalise;
// DataLoss if a stored record or entry does not decode.
Result<ExplainLookup> ExplainSubjectByEmail(store::Transaction& txn, std::string_view identity_key,
                                            std::string_view email, const ExplainOptions& options);

}  // namespace consentd::sync
