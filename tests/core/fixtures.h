// Shared builders for the core tests: one policy that resembles a real
// mapping (HubSpot and Mailchimp both ways, a legacy shop inbound only)
// and short constructors for changes.
#pragma once

#include <string>

#include "core/change.h"
#include "core/policy.h"
#include "core/reconciler.h"

namespace consentd::testing {

inline constexpr char kSubject[] = "s-1";

// "newsletter": double opt-in required, e-mail, HubSpot + Mailchimp both ways.
// "offers": no double opt-in, e-mail and sms, plus "legacy" inbound only.
// Mailchimp: re-subscription via pending; deletion is permanent.
inline Policy TestPolicy() {
  Policy p;
  p.skew_window_ms = 2000;
  TopicPolicy newsletter;
  newsletter.requires_double_opt_in = true;
  newsletter.channels = {"email"};
  newsletter.systems = {{"hubspot", Direction::kBoth}, {"mailchimp", Direction::kBoth}};
  TopicPolicy offers;
  offers.channels = {"email", "sms"};
  offers.systems = {{"hubspot", Direction::kBoth},
                    {"mailchimp", Direction::kBoth},
                    {"legacy", Direction::kInbound}};
  p.topics = {{"newsletter", newsletter}, {"offers", offers}};
  p.block_systems = {{"hubspot", Direction::kBoth}, {"mailchimp", Direction::kBoth}};
  p.constraints["mailchimp"] =
      TargetConstraints{.resubscribe_via_pending = true, .deletion_is_permanent = true};
  return p;
}

inline Change ConsentChange(std::string topic, ConsentStatus status, TimestampMs at,
                            std::string system = "hubspot",
                            ConsentMethod method = ConsentMethod::kForm,
                            std::string subject = kSubject) {
  Change c;
  c.kind = ChangeKind::kConsent;
  c.key = ConsentKey{std::move(subject), std::move(topic), "email", ""};
  c.status = status;
  c.method = method;
  c.provenance.occurred_at = at;
  c.provenance.recorded_at = at + 500;
  c.provenance.source_system = system;
  c.provenance.source_event_id =
      system + "-" + std::to_string(at) + "-" + std::string(ConsentStatusName(status));
  c.evidence = {{"ip", "192.0.2.7"}};
  return c;
}

inline Change BlockChange(BlockScope scope, bool set, TimestampMs at,
                          std::string system = "hubspot",
                          BlockReason reason = BlockReason::kManual) {
  Change c;
  c.kind = set ? ChangeKind::kBlockSet : ChangeKind::kBlockCleared;
  c.key.subject = kSubject;
  c.scope = std::move(scope);
  c.block_reason = reason;
  c.provenance.occurred_at = at;
  c.provenance.recorded_at = at + 500;
  c.provenance.source_system = system;
  c.provenance.source_event_id = system + "-block-" + std::to_string(at);
  return c;
}

// A subject with its memories, applying each decision as the store would.
struct World {
  Policy policy = TestPolicy();
  SubjectState state;
  EchoMemory echoes;
  Tombstones tombstones;

  Decision Feed(const Change& c) {
    Decision d = Reconcile(c, state, echoes, tombstones, policy);
    ApplyToState(d, c.key.subject, state);
    ApplyToMemory(d, echoes, tombstones);
    return d;
  }
  ConsentStatus Status(const std::string& topic) const {
    const ConsentRecord* r = state.FindConsent(ConsentKey{state.subject, topic, "email", ""});
    return r ? r->status : ConsentStatus::kNotAsked;
  }
};

}  // namespace consentd::testing
