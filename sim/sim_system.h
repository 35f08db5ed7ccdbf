// NOTE for simjourney (from simcrm, additive only, nothing existing changed):
//  - OutgoingWebhook::body_for_attempt (optional): HubSpot puts attemptNumber
//    in the body, so the body can be rebuilt per attempt. Leave it empty.
//  - SimSystem::FaultResponse(status) (virtual, has a default): the body the
//    framework sends for an injected 5xx/429 fault; override it to answer
//    in the vendor's error format (Mailchimp: application/problem+json with
//    type/title/status/detail/instance). Optional.
//  - SimSystem::AdmitRequest / HandleAdmittedApi (virtual, have defaults):
//    the framework calls AdmitRequest when a request is read, keeps the
//    returned object alive until the answer is handed to the server (after
//    injected latency), and calls HandleAdmittedApi instead of HandleApi.
//    consentd-sim's main.cc maps these onto MailchimpSim::AcquireSlot /
//    HandleApiWithSlot with a small wrapper, so you need not change anything.
//  - The framework's /_sim/state and /_sim/reset call your HandleControl
//    with GET /state and POST /reset (paths without the /_sim/<name> prefix).
//
// The contract between consentd-sim's framework (server, control API,
// fault injection, webhook delivery) and each simulated vendor system.
//
// A SimSystem is an in-memory, deterministic model of one vendor's API
// subset. It is driven on the simulator's io thread only (not thread-safe),
// sees every API request after the framework's fault injection, and emits
// outgoing webhooks as OutgoingWebhook values that the framework delivers
// (with the vendor's retry policy and the configured delivery faults).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "core/clock.h"
#include "core/status.h"
#include "net/http_types.h"

namespace consentd::sim {

struct OutgoingWebhook {
  std::string url;               // full target URL (http://127.0.0.1:PORT/...)
  std::string content_type;      // application/json, application/x-www-form-urlencoded
  net::HeaderList headers;       // signatures etc. (signed at send time if
                                 // the signer below is set)
  std::string body;
  // HubSpot signs with the request's timestamp at each attempt: when set,
  // called before each attempt to (re)compute headers for this attempt.
  std::function<net::HeaderList(const OutgoingWebhook&, TimestampMs now)> sign;
  // Optional: when set, called before each attempt (0-based) to build the
  // body for that attempt (HubSpot's attemptNumber is inside the body).
  std::function<std::string(int attempt)> body_for_attempt;
  int max_attempts = 1;          // vendor retry policy: total attempts
  std::int64_t first_retry_delay_ms = 1000;  // doubled each retry (+ jitter)
  // Optional: called once on the io thread when this webhook no longer
  // occupies the sender: its first attempt was answered (any status) or
  // failed, or a fault dropped, held or delayed it. Retries do not count.
  // A system that batches events (HubSpot) sends the next batch then.
  std::function<void()> on_first_answer;
};

using WebhookSink = std::function<void(OutgoingWebhook)>;

class SimSystem {
 public:
  virtual ~SimSystem() = default;

  // Short name used in routes and counters: "hubspot" or "mailchimp".
  virtual std::string Name() const = 0;

  // A vendor API request (path as the vendor has it, e.g. "/crm/v3/...",
  // "/3.0/lists/..."). Auth, validation, rate limits and vendor error
  // bodies are the system's job.
  virtual net::HttpResponse HandleApi(const net::HttpRequest& req) = 0;

  // The control API for this system, under /_sim/<Name()>/... (path given
  // without that prefix): seed, act as a person or admin, read state, reset.
  virtual net::HttpResponse HandleControl(const net::HttpRequest& req) = 0;

  // Where this system sends its webhooks; set by the framework at start.
  virtual void SetWebhookSink(WebhookSink sink) = 0;

  // The whole state needed to behave the same after a restart (consentd-sim
  // --state-file): data, id counters, blocklists, webhook settings. Not
  // rate-limit windows or in-flight deliveries. LoadState replaces the
  // current state; on error (InvalidArgument naming the bad field) the
  // state is unspecified and the caller must not serve it.
  virtual nlohmann::json SaveState() const = 0;
  virtual Status LoadState(const nlohmann::json& state) = 0;

  // Optional: a hold on a per-request resource (e.g. a concurrency slot),
  // taken when the request is read and released after it is answered.
  virtual std::shared_ptr<void> AdmitRequest(const net::HttpRequest& /*req*/) {
    return nullptr;
  }
  virtual net::HttpResponse HandleAdmittedApi(const net::HttpRequest& req,
                                              const std::shared_ptr<void>& /*admission*/) {
    return HandleApi(req);
  }

  // The answer to an injected fault (500/502/503/429) in the vendor's error
  // format. The framework adds Retry-After itself when the fault says so.
  virtual net::HttpResponse FaultResponse(int status) const {
    return net::Problem(status, net::ReasonPhrase(status), "injected fault");
  }
};

}  // namespace consentd::sim
