// Two small systems that model consent the way BSI CRM and BSI Studio do,
// for the generic connector's tests (issue #9): consentd talks to them only
// through the configuration in config/examples/bsi-crm-studio.yaml.
//
//   CRM ("bsi_crm", /crm/v1, Authorization: Bearer <credential>): contacts,
//     opt-ins per topic ("Thema") and channel, double opt-in for the Themen
//     that require it (a grant by form or API is held "pending" until the
//     person confirms), blocks ("Sperren"): werbesperre (everything),
//     kanalsperre (one channel), adresssperre (one address); deletion.
//   Studio ("bsi_studio", /studio/v1, requests signed per Standard Webhooks
//     with <credential>: webhook-id/-timestamp/-signature): contacts in
//     campaigns, opt-ins, the same Sperren; refuses a grant for an address
//     under an active adresssperre (409 transition_refused); deletion
//     removes the contact from every campaign.
//
// REST API (p = the prefix; {email} percent-encoded):
//   PUT    p/contacts/{email}/optins/{thema}/{channel}   {status, address?, legal_basis?,
//                                                        method?, notice_version?, occurred_at?}
//   PUT    p/contacts/{email}/sperren/{sperre}            {active, channel?, address?, reason?,
//                                                        occurred_at?}
//   DELETE p/contacts/{email}            204; 404 when unknown
//   GET    p/contacts/{email}            the contact
//   GET    p/changes?cursor=N&limit=M   {items:[flat change], next_cursor, has_more}
//   GET    p/themen                      {themen:[{name,title,channel,double_opt_in}]}
//   GET    p/health
// A repeated Idempotency-Key gets the first answer again, nothing re-applied.
// Every change that alters state (by a person or by an API write) is logged
// for polling and sent as a consentd protocol event, signed per Standard
// Webhooks, to `webhook_url`.
//
// Control API (under /_sim/<name>/, see sim/sim_server.h for faults and
// counters): POST person/optin {email, topic, channel, status, method?,
// address?, occurred_at?, webhook?}, POST person/confirm {email, topic,
// channel}, POST person/sperre {email, sperre, active, channel?, address?,
// reason?, occurred_at?, webhook?}, POST person/delete {email},
// POST person/merge {email, merged_email, webhook?} (CRM merge: subject.merged),
// POST campaigns/<c>/members {email}, POST replay {change_id} (sends that
// change's webhook again), GET contact?email=..., GET stats.
// `webhook: false` records the change without sending its webhook (a lost
// webhook). Runs on the simulator's io thread only (not thread-safe).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "sim/sim_system.h"

namespace consentd::testing::bsi {

struct Thema {
  std::string name;  // native topic name
  std::string title;
  std::vector<std::string> channels;  // native channel names
  bool double_opt_in = false;         // honoured by the CRM flavour only
};

enum class Flavour { kCrm, kStudio };

struct BsiOptions {
  Flavour flavour = Flavour::kCrm;
  std::string credential;      // bearer token (CRM) or request-signing secret (Studio)
  std::string webhook_url;     // where events go; empty: none are sent
  std::string webhook_secret;  // "whsec_..." (Standard Webhooks)
  std::vector<Thema> themen;   // empty: DefaultThemen()
  std::int64_t webhook_retry_ms = 200;
};

// newsletter (email, double opt-in), produktinfo (email, sms), events (email).
std::vector<Thema> DefaultThemen();

std::unique_ptr<sim::SimSystem> MakeBsiSystem(const Clock& clock, BsiOptions options);

// "bsi_crm" / "bsi_studio"; "/crm/v1" / "/studio/v1".
std::string SystemName(Flavour f);
std::string ApiPrefix(Flavour f);

}  // namespace consentd::testing::bsi
