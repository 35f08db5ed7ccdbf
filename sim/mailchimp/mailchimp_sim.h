// MailchimpSim: the simulated journey platform, a subset of the Mailchimp
// Marketing API 3.0 served under /3.0/ (one audience), with Mailchimp's
// auth, validation, error documents, compliance rules and webhooks, and a
// control API (seed, act as a person or admin, read state, reset).
//
// Thread-safety: none; the simulator's io thread drives it (SimSystem).
// The clock is borrowed and must outlive the object.
//
// Concurrency limit (10 simultaneous connections per API key, 429 beyond):
// a request occupies a slot from the moment the framework reads it until its
// response is written, which HandleApi alone cannot see (it is synchronous;
// injected latency happens around it). So the framework calls
// AdmitRequest(req) when the request is read, keeps the returned object
// until the response is written, and answers with HandleAdmittedApi(req,
// admission) (the same as AcquireSlot + HandleApiWithSlot). HandleApi(req)
// takes and drops a slot within the call: correct answers, but a 429 only
// when other requests hold slots.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "core/clock.h"
#include "sim/mailchimp/audience.h"
#include "sim/mailchimp/webhooks.h"
#include "sim/sim_system.h"

namespace consentd::sim::mailchimp {

struct MailchimpOptions {
  // HTTP Basic "anystring:KEY" or "Bearer KEY". Mailchimp keys end in the
  // data centre ("-us1"); any non-empty string works here.
  std::string api_key = "00000000000000000000000000000000-us1";
  // Where webhooks go; the receiver's secret rides in its query
  // ("http://127.0.0.1:8080/webhooks/mailchimp?secret=s3cr3t"). Empty: none.
  std::string webhook_url;
  std::uint64_t seed = 1;           // default seed of the control API's /seed
  bool rate_limits_enabled = true;  // the 10-connections-per-key limit
  int seed_members = 0;             // members seeded at start and on reset
  int max_concurrent_per_key = 10;
  std::string list_id = "5e1c0a7b2d";
  // sources/events/retries of the webhook (its url is `webhook_url`).
  WebhookConfig webhook;
};

class MailchimpSim final : public SimSystem {
 public:
  MailchimpSim(MailchimpOptions options, const Clock& clock);
  ~MailchimpSim() override;
  MailchimpSim(const MailchimpSim&) = delete;
  MailchimpSim& operator=(const MailchimpSim&) = delete;

  std::string Name() const override { return "mailchimp"; }
  net::HttpResponse HandleApi(const net::HttpRequest& req) override;
  net::HttpResponse HandleControl(const net::HttpRequest& req) override;
  void SetWebhookSink(WebhookSink sink) override;
  std::shared_ptr<void> AdmitRequest(const net::HttpRequest& req) override;
  net::HttpResponse HandleAdmittedApi(const net::HttpRequest& req,
                                      const std::shared_ptr<void>& admission) override;
  // Injected faults answer in Mailchimp's problem format.
  net::HttpResponse FaultResponse(int status) const override;
  // The audience and the webhook settings (a URL given in the options wins
  // over a saved one). audience_state.cc.
  nlohmann::json SaveState() const override;
  Status LoadState(const nlohmann::json& state) override;

  // One request's hold on its API key's concurrency budget; released when
  // destroyed. Move-only; may outlive the MailchimpSim.
  class ConcurrencySlot {
   public:
    ConcurrencySlot() = default;  // admitted, counts nothing
    ConcurrencySlot(ConcurrencySlot&& other) noexcept;
    ConcurrencySlot& operator=(ConcurrencySlot&& other) noexcept;
    ~ConcurrencySlot();
    // False when the key already had its maximum in flight: the request
    // will be answered 429.
    bool admitted() const { return admitted_; }

   private:
    friend class MailchimpSim;
    void Release();
    std::shared_ptr<std::map<std::string, int>> in_flight_;
    std::string key_;
    bool admitted_ = true;
  };

  // Takes a slot for the request's API key (requests without a valid key
  // take none: they are answered 401).
  ConcurrencySlot AcquireSlot(const net::HttpRequest& req);
  net::HttpResponse HandleApiWithSlot(const net::HttpRequest& req, const ConcurrencySlot& slot);

  const Audience& audience() const { return audience_; }
  const WebhookConfig& webhook_config() const { return webhook_; }
  // Requests in flight for `key` (tests, metrics).
  int InFlight(const std::string& key) const;

 private:
  struct SentWebhook {
    std::string type, source, body;
    bool sent = false;  // false: filtered out by events/sources or no url
  };

  std::optional<std::string> ApiKeyOf(const net::HttpRequest& req) const;
  net::HttpResponse Error(const ApiError& e) const;
  net::HttpResponse Json(int status, const nlohmann::json& body) const;
  net::HttpResponse Route(const net::HttpRequest& req);
  void OnEvent(const MemberEvent& e);
  void ResetState();

  // API handlers (mailchimp_api.cc).
  net::HttpResponse GetMembers(const net::HttpRequest& req);
  net::HttpResponse WriteMember(const net::HttpRequest& req, const std::string& hash);
  net::HttpResponse BatchSubscribe(const net::HttpRequest& req);
  net::HttpResponse InterestCategories(const net::HttpRequest& req,
                                       const std::vector<std::string>& segments);
  // GET / POST /lists/{id}/members/{hash}/tags (member_tags.cc).
  net::HttpResponse MemberTags(const net::HttpRequest& req, const std::string& hash);

  MailchimpOptions options_;
  const Clock& clock_;
  WebhookConfig webhook_;
  WebhookSink sink_;
  Audience audience_;
  std::shared_ptr<std::map<std::string, int>> in_flight_;
  std::deque<SentWebhook> webhook_log_;
  mutable std::uint64_t instance_counter_ = 0;  // error documents' `instance`
};

}  // namespace consentd::sim::mailchimp
