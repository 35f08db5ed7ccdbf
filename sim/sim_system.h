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
#include <string>

#include "core/clock.h"
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
  int max_attempts = 1;          // vendor retry policy: total attempts
  std::int64_t first_retry_delay_ms = 1000;  // doubled each retry (+ jitter)
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
};

}  // namespace consentd::sim
