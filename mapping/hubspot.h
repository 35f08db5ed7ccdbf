// HubSpot ⇄ canonical: plain structs for what the HubSpot connector reads
// from and writes to the communication preferences (v4) and contacts APIs,
// and the pure functions that map them through the administrator's
// mapping. Each mapping line is documented in docs/mapping.md.
//
// The Mapper borrows the spec (REQUIRES: it outlives the Mapper); it is
// immutable and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/model.h"
#include "core/status.h"
#include "mapping/map_result.h"
#include "mapping/spec.h"

namespace consentd::mapping::hubspot {

enum class SubscriptionState { kSubscribed, kUnsubscribed, kNotSpecified };
std::string_view SubscriptionStateName(SubscriptionState s);  // "SUBSCRIBED", ...
Result<SubscriptionState> ParseSubscriptionState(std::string_view name);

// One subscription status of one contact (v4 PublicStatus, or a webhook).
struct SubscriptionStatus {
  std::int64_t subscription_id = 0;
  SubscriptionState status = SubscriptionState::kNotSpecified;
  std::string channel = "EMAIL";  // HubSpot's channel name
  std::string legal_basis;        // "CONSENT_WITH_NOTICE", ...; may be empty
  std::string legal_basis_explanation;
  TimestampMs timestamp = 0;     // when the status was set, per HubSpot
  std::string source_of_status;  // HubSpot's "source"
  std::string event_id;
  // Set by the connector: this is consentd's own write read back (its
  // explanation, and HubSpot's source for consentd's writes once learnt;
  // HubSpot keeps an explanation someone else's change replaced). Its
  // method and notice are then the ones consentd wrote in the explanation.
  bool written_by_consentd = false;
};

// The contact unsubscribed from (or was resubscribed to) all of a channel.
struct UnsubscribeAll {
  std::string channel = "EMAIL";
  bool unsubscribed = true;
  TimestampMs timestamp = 0;
  std::string event_id;
};

// A contact property changed (webhook contact.propertyChange or a poll).
struct PropertyChange {
  std::string property;
  std::string value;  // new value; empty = cleared
  std::string email;  // the contact's address (for address blocks)
  TimestampMs timestamp = 0;
  std::string event_id;
};

// Writes for the connector to send.
// How every legal basis explanation consentd writes begins: with the
// status's `source`, it tells consentd's own writes from anyone else's.
inline constexpr std::string_view kOwnExplanationPrefix = "consentd: ";

// The explanation consentd writes with a status: the prefix, the state it
// wrote, and why ("consentd: UNSUBSCRIBED; Newsletter, ..."). HubSpot keeps
// an explanation when a later change brings none (the person's unsubscribe
// link, say), so the state named tells such a change from consentd's own
// write even before the status `source` of consentd's writes is learnt
// (after a restart).
std::string OwnExplanation(SubscriptionState written, std::string_view why);

// Who wrote a status whose explanation is `explanation`, as far as the
// explanation tells: someone else (no prefix, or consentd's explanation
// kept by a change to another state), consentd, or consentd as far as an
// explanation written before it named the state can tell (the prefix
// alone).
enum class ExplanationWriter { kOther, kConsentd, kConsentdStateUnnamed };
ExplanationWriter WriterOfExplanation(std::string_view explanation, SubscriptionState status);
// The method consentd wrote in its own explanation for `status` (the
// "via <method>" it ends with), or nullopt if consentd did not write it.
std::optional<ConsentMethod> MethodOfOwnExplanation(std::string_view explanation,
                                                    SubscriptionState status);
// The notice version consentd named in its own explanation ("…, notice
// <version>, …"), or nullopt if it named none. Only for an explanation
// MethodOfOwnExplanation took as consentd's.
std::optional<std::string> NoticeOfOwnExplanation(std::string_view explanation);

struct StatusWrite {
  std::int64_t subscription_id = 0;
  std::string channel;  // "EMAIL", ...
  SubscriptionState status_state = SubscriptionState::kNotSpecified;
  std::string legal_basis;  // HubSpot enum, e.g. "CONSENT_WITH_NOTICE"
  std::string legal_basis_explanation;
  // When the statement written was captured (the canonical record's
  // occurred_at), and whether HubSpot's own changes of this subscription
  // flow into consentd (the topic's direction): the connector never writes
  // SUBSCRIBED over a newer UNSUBSCRIBED that someone else set there and
  // consentd will decide (hubspot_deliver.cc).
  TimestampMs captured_at = 0;
  bool reported_back = false;
  std::string echo_key;  // ConsentKeyString of the record written
  bool operator==(const StatusWrite&) const = default;
};
struct UnsubscribeAllWrite {
  std::string channel;
  bool operator==(const UnsubscribeAllWrite&) const = default;
};
struct PropertyWrite {
  std::string property;
  std::string value;  // empty = clear the property
  bool operator==(const PropertyWrite&) const = default;
};
struct Writes {
  std::vector<StatusWrite> statuses;
  std::vector<UnsubscribeAllWrite> unsubscribe_all;
  std::vector<PropertyWrite> properties;
  std::vector<std::string> notes;  // why a part yields no write
  bool empty() const { return statuses.empty() && unsubscribe_all.empty() && properties.empty(); }
};

// DPV legal basis -> HubSpot's enum: A6-1-a* CONSENT_WITH_NOTICE,
// A6-1-b* PERFORMANCE_OF_CONTRACT, every other basis (f: legitimate
// interest; c, d, e have no HubSpot term) LEGITIMATE_INTEREST_OTHER.
std::string LegalBasisToHubSpot(std::string_view dpv);
// HubSpot's enum -> DPV: CONSENT_WITH_NOTICE A6-1-a, LEGITIMATE_INTEREST_*
// A6-1-f, PERFORMANCE_OF_CONTRACT A6-1-b; "" for NON_GDPR,
// PROCESS_AND_STORE, empty or unknown (the topic's basis is used then).
std::string LegalBasisFromHubSpot(std::string_view hubspot);

class Mapper {
 public:
  // REQUIRES: `system` is a hubspot system of `spec`; `spec` outlives this.
  Mapper(const MappingSpec& spec, std::string system);

  // Native -> canonical.
  MapResult FromStatus(const SubscriptionStatus& s) const;
  MapResult FromUnsubscribeAll(const UnsubscribeAll& u) const;
  MapResult FromProperty(const PropertyChange& p) const;

  // Canonical desired state -> HubSpot writes (absolute state).
  Writes ToConsent(const ConsentRecord& record) const;
  Writes ToBlock(const BlockRecord& block) const;
  // Every mapped consent and block of `state`.
  Writes ToState(const SubjectState& state) const;

 private:
  Change Base(TimestampMs at, const std::string& event_id) const;
  const MappingSpec& spec_;
  std::string system_;
  SystemRole role_ = SystemRole::kCrm;
  std::string hash_;
};

}  // namespace consentd::mapping::hubspot
