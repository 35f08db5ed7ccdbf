// Change: one canonical change about a subject, as the mapping produces it
// from a system's webhook or poll page, or as the admin API makes it. The
// reconciler's input (core/reconciler.h).
//
// A plain value; not thread-safe.
#pragma once

#include <map>
#include <set>
#include <string>

#include "core/consent_types.h"
#include "core/model.h"

namespace consentd {

enum class ChangeKind {
  kConsent,        // a consent status for `key`
  kBlockSet,       // a block on `scope` starts (restrictive)
  kBlockCleared,   // a block on `scope` ends
  kErasure,        // the subject asks to be forgotten (terminal)
  kTargetDeleted,  // the source system permanently deleted the subject's record
};

std::string_view ChangeKindName(ChangeKind kind);

struct Change {
  ChangeKind kind = ChangeKind::kConsent;
  // key.subject is always set (the subject the identity step resolved);
  // topic, channel and address only for kConsent.
  ConsentKey key;

  // kConsent: the reported status and how it was given.
  ConsentStatus status = ConsentStatus::kNotAsked;
  std::string legal_basis;  // "eu-gdpr:A6-1-a"; empty = Art. 6(1)(a) for grants
  // The source can only say "not set" (a Mailchimp interest box left
  // unticked, a member that is not unsubscribed): it withdraws an earlier
  // grant or pending consent, or lifts an active block, but where nothing
  // was asked or blocked it states nothing, so it never creates an explicit
  // withdrawal or clearing (which would then be written to the other system);
  // and "off" while an active block covers the key is explained by the block.
  bool reports_absence = false;
  ConsentMethod method = ConsentMethod::kForm;
  std::string notice_version;

  // kBlockSet / kBlockCleared. A set block starts at occurred_at.
  BlockScope scope;
  BlockReason block_reason = BlockReason::kManual;
  TimestampMs block_until = 0;  // 0 = indefinitely

  // occurred_at = the source's capture time (orders changes, rule 2);
  // recorded_at = when consentd received it; source system and event id.
  Provenance provenance;
  std::string signature_scheme;  // verified webhook signature scheme, if any
  std::string mapping_hash;      // mapping in force when it was mapped
  // The source's current state, read in full (a resync, sync/resync.h),
  // not an event. When it is older than the canonical state and says
  // something else, the source is behind: it is written the canonical state
  // (as after a lost tie). A late event is only superseded (rule 2).
  bool snapshot = false;

  // Keyed hashes (core/keyed_hash.h) of the identifiers the change carried,
  // computed by the identity step; matched against tombstones (rule 4).
  std::set<std::string> identifier_hashes;
  // Personal evidence (ip, user agent, form fields) for the proof log.
  std::map<std::string, std::string> evidence;
};

}  // namespace consentd
