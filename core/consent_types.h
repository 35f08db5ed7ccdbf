// The small vocabularies of the canonical consent model (DESIGN.md §1):
// consent status, how consent was expressed, block reasons and GDPR legal
// bases. Each has a stable string name that is part of the proof-log and
// database format; never rename one, only add.
//
// Pure and thread-safe (no state).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace consentd {

// Opt-in state for one (subject, topic, channel[, address]).
// Unknown is always kNotAsked (privacy by default, DESIGN.md §2 rule 1).
enum class ConsentStatus {
  kNotAsked,   // "not_asked": nothing known; never contact
  kPending,    // "pending": double opt-in sent, not confirmed
  kGranted,    // "granted"
  kWithdrawn,  // "withdrawn": once granted, now taken back
  kRefused,    // "refused": explicitly declined
};

std::string_view ConsentStatusName(ConsentStatus status);
// Parses a stable name; InvalidArgument for anything else (no guessing).
Result<ConsentStatus> ParseConsentStatus(std::string_view name);

// True for the statuses that win ties within the skew window (rule 3).
bool IsRestrictive(ConsentStatus status);

// How the person expressed the change.
enum class ConsentMethod {
  kForm,             // "form"
  kDoubleOptIn,      // "double_opt_in": the confirmation of a double opt-in
  kUnsubscribeLink,  // "unsubscribe_link"
  kAdmin,            // "admin"
  kApi,              // "api"
  kImport,           // "import"
};

std::string_view ConsentMethodName(ConsentMethod method);
Result<ConsentMethod> ParseConsentMethod(std::string_view name);

// Why a block ("Sperre") exists.
enum class BlockReason {
  kUnsubscribed,  // "unsubscribed"
  kBounced,       // "bounced"
  kComplaint,     // "complaint"
  kManual,        // "manual"
  kLegal,         // "legal"
};

std::string_view BlockReasonName(BlockReason reason);
Result<BlockReason> ParseBlockReason(std::string_view name);

// GDPR Art. 6(1) legal bases in the DPV "eu-gdpr:" prefix form, e.g.
// "eu-gdpr:A6-1-a" or "eu-gdpr:A6-1-a-explicit-consent" (DPV 2.3 terms).
inline constexpr std::string_view kLegalBasisConsent = "eu-gdpr:A6-1-a";

// True if `basis` is one of the Art. 6(1) terms of DPV eu-gdpr 2.3.
bool IsKnownLegalBasis(std::string_view basis);
// "eu-gdpr:A6-1-a" -> "https://w3id.org/dpv/legal/eu/gdpr#A6-1-a";
// InvalidArgument for an unknown basis.
Result<std::string> LegalBasisIri(std::string_view basis);

}  // namespace consentd
