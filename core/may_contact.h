// MayContact: the single answer to "may we contact subject S on channel C
// about topic T (at address A) at time `at`?" (DESIGN.md §1). Every part
// of consentd that needs the answer calls this; nothing re-implements it.
//
// Pure and thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/model.h"
#include "core/policy.h"

namespace consentd {

enum class ContactReason {
  kGranted,      // consent granted, nothing blocks: allowed
  kNotGranted,   // the consent status is not granted (see `status`)
  kUnconfirmed,  // granted, but the topic needs double opt-in evidence
  kBlocked,      // an active block covers the contact (see `block`)
  kErased,       // the subject is erased
  // granted for an older notice version than the topic's current one: the
  // person must be asked again (core/notice.h)
  kReconsentRequired,
};

std::string_view ContactReasonName(ContactReason reason);

struct MayContactAnswer {
  bool allowed = false;
  ContactReason reason = ContactReason::kNotGranted;
  ConsentStatus status = ConsentStatus::kNotAsked;  // governing consent status
  std::optional<ConsentRecord> consent;             // the governing record, if any
  std::optional<BlockRecord> block;                 // a covering active block, if any

  // One line for operators ("consentctl explain"), without addresses:
  // e.g. "blocked: address block (bounced) from hubspot since 1700000000000".
  std::string Explain() const;
};

// Allowed iff the governing consent is granted (and, when `policy` is
// given and the topic requires double opt-in, was granted by a double
// opt-in confirmation) and no block active at `at` covers (channel, topic,
// address). The governing consent is the record for `address` if there is
// one, else the record without address. `state` is the subject's state as
// loaded (pass an empty state for an unknown subject); if its subject
// differs from `subject`, nothing is known and the answer is not_asked.
// A grant that awaits re-consent to a newer notice (reconsent_notice set)
// is not allowed: it covers the old notice only.
// When both a status and a block forbid contact, the block is reported
// (it outlives any re-consent) and the status is still filled in.
MayContactAnswer MayContact(const SubjectState& state, std::string_view subject,
                            std::string_view channel, std::string_view topic,
                            std::string_view address, TimestampMs at,
                            const Policy* policy = nullptr);

}  // namespace consentd
