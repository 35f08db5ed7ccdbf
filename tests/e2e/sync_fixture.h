// End-to-end fixture: the real consentd binary against the real
// consentd-sim binary over loopback, with a mapping bound to the
// simulator's subscription types, interests and block property.
//
// SetUp starts consentd-sim (rate limits off unless a test says otherwise),
// reads the simulator's interest ids, writes a config and secret files into
// a temp directory, points the simulator's webhooks at consentd, and starts
// consentd; TearDown stops consentd with SIGTERM (exit 0 expected) and runs
// `consentctl verify` on its store.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tests/net/test_client.h"
#include "tests/support/child_process.h"

namespace consentd::testing {

using Json = nlohmann::json;

struct SyncOptions {
  std::string poll_interval = "0s";       // "0s": webhooks only
  std::string poll_overlap = "2s";        // "0s": a page lost is not read again by the next poll
  bool unlimited_hubspot_budget = false;  // no request or search budget for HubSpot
  bool rate_limits = false;               // the simulator's vendor limits
  std::string extra_config;               // appended to the config
  std::string http_config;                // keys added under http: ("  key: value\n")
  // mapping.erasure.mailchimp (e.g. "{mode: delete, on_permanent_delete: erase}").
  std::string mailchimp_erasure = "{mode: delete}";
  // The keys under sync: (retries quick, so that the tests need not wait).
  std::string sync_config = "  retry_base: 50ms\n  retry_cap: 1s\n  max_attempts: 30\n";
};

inline SyncOptions WithPolling(std::string interval) {
  SyncOptions o;
  o.poll_interval = std::move(interval);
  return o;
}

class SyncE2E : public ::testing::Test {
 protected:
  void SetUp() override {}
  void TearDown() override;

  // Starts both processes. Call once per test (first line).
  void StartAll(SyncOptions options = {});
  // Stops consentd (SIGTERM) and starts it again on the same store.
  void RestartConsentd();
  void StartConsentd();
  void StopConsentd();

  // The simulators' control and vendor APIs. Fail the test on a transport error.
  Json Crm(const std::string& method, const std::string& path, const Json& body = nullptr);
  Json Journey(const std::string& method, const std::string& path, const Json& body = nullptr);
  // The simulated Mailchimp answers every write (POST, PUT, PATCH) with
  // `status` until its faults are cleared.
  void FailEveryJourneyWrite(int status);
  int CrmStatus(const std::string& method, const std::string& path, const Json& body = nullptr);

  // HubSpot status of `subscription_id` for `email` ("SUBSCRIBED", ...), or
  // "" if the contact or status is unknown.
  std::string CrmSubscription(const std::string& email, int subscription_id);
  // She signs up for the Newsletter at Mailchimp (confirmed) and withdraws
  // it there; each waits until HubSpot shows it. Fails the test otherwise.
  // Signs `email` up for the newsletter at the journey and confirms it;
  // returns once the CRM shows the grant.
  void SignUpAtTheJourney(const std::string& email);
  void SubscribeThenWithdrawAtTheJourney(const std::string& email);
  // Both sign up for Product news in the CRM and reach the journey as
  // members; then the CRM merges `merged`'s contact into `survivor`'s, and
  // consentd has taken the merge. Fails the test otherwise.
  void SignUpBothThenMergeInTheCrm(const std::string& survivor, const std::string& merged);
  // Raises product_news's notice version in the config file from 2026-01
  // to 2026-02 (not reloaded). Fails the test if the file does not hold it.
  void RaiseProductNewsNoticeInTheFile();
  // A fault rule: every Mailchimp list write is answered `status` (403: a
  // key that may read but not write). Returns the rule's id.
  int RefuseJourneyWrites(int status);
  // The contact's property value, "" if unknown.
  std::string CrmProperty(const std::string& email, const std::string& property);
  // The Mailchimp member (API view) or null.
  Json Member(const std::string& email);
  std::string MemberStatus(const std::string& email);
  bool MemberInterest(const std::string& email, const std::string& interest_name);

  // Vendor API request counts from the simulator's /_sim/counters:
  // the number of calls to routes that start with `method + " " + prefix`.
  int CountCalls(const std::string& system, const std::string& method, const std::string& prefix);

  // consentd's /metrics value for a sample line prefix, e.g.
  // "consentd_decisions_total{outcome=\"echo\",source=\"mailchimp\"}"; 0 if absent.
  double Metric(const std::string& sample);
  // Sum of every sample of `family` whose labels contain `label_fragment`.
  double MetricSum(const std::string& family, const std::string& label_fragment = "");

  // Posts a Mailchimp webhook (form-encoded `body`) to consentd with the
  // configured secret, as the simulator would; the HTTP status, 0 on a
  // transport error.
  int PostMailchimpWebhook(const std::string& body);
  // The same, with the whole answer; nullopt on a transport error.
  std::optional<RawResponse> MailchimpWebhook(const std::string& body);

  // A request to consentd's admin API (/api/v1/...) with the bearer token.
  // `patience`: how long to wait for the answer.
  std::optional<RawResponse> Admin(const std::string& method, const std::string& path,
                                   std::chrono::milliseconds patience = kPatience);

  bool Eventually(const std::function<bool()>& condition,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

  std::string Log() const { return ReadTextFile(dir_->path() / "consentd.log"); }
  CommandResult Ctl(std::vector<std::string> args);

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<SimProcess> sim_;
  std::unique_ptr<ChildProcess> consentd_;
  std::uint16_t port_ = 0;
  std::string config_path_;
  std::map<std::string, std::string> interest_ids_;  // by name ("Newsletter")
  SyncOptions options_;
};

// Subscription types of the simulated HubSpot portal (docs/simulator.md).
inline constexpr int kNewsletter = 101;
inline constexpr int kProductUpdates = 102;
inline constexpr int kEvents = 103;

}  // namespace consentd::testing
