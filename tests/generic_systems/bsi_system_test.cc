// The BSI-like CRM and Studio behave as the generic connector's tests
// assume: signed protocol events, double opt-in, Sperren, refusals,
// deletion from every campaign, cursor paging, idempotent writes.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "connectors/generic/protocol.h"
#include "core/clock.h"
#include "net/http_server.h"
#include "tests/generic_systems/bsi_harness.h"

namespace consentd::testing::bsi {
namespace {

using nlohmann::json;

// Records the webhooks the systems send.
class Receiver {
 public:
  Receiver()
      : server_(io_, net::HttpServerOptions{}, [this](net::HttpRequest r, net::Responder done) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            got_.push_back(std::move(r));
          }
          cv_.notify_all();
          net::HttpResponse ok;
          ok.status = 204;
          done(std::move(ok));
        }) {
    started_ = server_.Start().ok();
    thread_ = std::thread([this] {
      auto guard = boost::asio::make_work_guard(io_);
      io_.run();
    });
  }
  ~Receiver() {
    io_.stop();
    thread_.join();
  }
  std::string Url(std::string_view name) const {
    return "http://127.0.0.1:" + std::to_string(server_.port()) + "/webhooks/" + std::string(name);
  }
  // Waits until n requests arrived (or 10 s passed) and returns them all.
  std::vector<net::HttpRequest> WaitFor(std::size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return got_.size() >= n; });
    return got_;
  }
  bool started_ = false;

 private:
  boost::asio::io_context io_;
  net::HttpServer server_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<net::HttpRequest> got_;
};

class BsiSystems : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(receiver_.started_);
    ASSERT_TRUE(h_.ok());
  }
  Receiver receiver_;
  BsiHarness h_{receiver_.Url("bsi_crm"), receiver_.Url("bsi_studio")};
  SystemClock clock_;
};

TEST_F(BsiSystems, WebhooksAreSignedProtocolEventsThatConsentdAccepts) {
  ASSERT_EQ(h_.Control(Flavour::kCrm, "POST", "/person/optin",
                       {{"email", "Anna@Example.org"},
                        {"topic", "produktinfo"},
                        {"channel", "sms"},
                        {"status", "granted"}})
                .status,
            200);
  const auto got = receiver_.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path, "/webhooks/bsi_crm");
  ASSERT_TRUE(
      connectors::generic::VerifyEventRequest(got[0], {std::string(kCrmSecret)}, clock_.NowMs())
          .ok());
  EXPECT_EQ(
      connectors::generic::VerifyEventRequest(got[0], {std::string(kStudioSecret)}, clock_.NowMs())
          .code(),
      StatusCode::kUnauthenticated);
  Result<std::vector<connectors::generic::ProtocolEvent>> events =
      connectors::generic::ParseEvents(got[0].body);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].type, "consent.changed");
  EXPECT_EQ((*events)[0].email, "Anna@example.org");
  EXPECT_EQ((*events)[0].data["topic"], "produktinfo");
  EXPECT_EQ((*events)[0].data["status"], "granted");
  EXPECT_EQ((*events)[0].data["method"], "form");
}

TEST_F(BsiSystems, CrmHoldsGrantsPendingUntilTheDoubleOptInIsConfirmed) {
  Reply r = h_.Api(Flavour::kCrm, "PUT", "/contacts/b%40example.org/optins/newsletter/email",
                   {{"status", "granted"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["status"], "pending");
  EXPECT_EQ(h_.OptIn(Flavour::kCrm, "b@example.org", "newsletter", "email"), "pending");
  h_.Control(Flavour::kCrm, "POST", "/person/confirm",
             {{"email", "b@example.org"}, {"topic", "newsletter"}, {"channel", "email"}});
  EXPECT_EQ(h_.OptIn(Flavour::kCrm, "b@example.org", "newsletter", "email"), "granted");
  // Studio has no double opt-in of its own: the grant stands.
  r = h_.Api(Flavour::kStudio, "PUT", "/contacts/b%40example.org/optins/newsletter/email",
             {{"status", "granted"}, {"method", "double_opt_in"}});
  EXPECT_EQ(r.Json()["status"], "granted");
}

TEST_F(BsiSystems, StudioRefusesAGrantForABlockedAddress) {
  ASSERT_EQ(h_.Api(Flavour::kStudio, "PUT", "/contacts/c%40example.org/sperren/adresssperre",
                   {{"active", true}, {"reason", "bounced"}})
                .status,
            200);
  Reply r = h_.Api(Flavour::kStudio, "PUT", "/contacts/c%40example.org/optins/events/email",
                   {{"status", "granted"}});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.Json()["error"]["code"], "transition_refused");
  // Withdrawals are always taken.
  r = h_.Api(Flavour::kStudio, "PUT", "/contacts/c%40example.org/optins/events/email",
             {{"status", "withdrawn"}});
  EXPECT_EQ(r.status, 200);
}

TEST_F(BsiSystems, DeletionRemovesTheContactFromEveryCampaign) {
  for (const char* c : {"fruehling", "sommer"}) {
    h_.Control(Flavour::kStudio, "POST", std::string("/campaigns/") + c + "/members",
               {{"email", "d@example.org"}});
  }
  EXPECT_EQ(h_.Contact(Flavour::kStudio, "d@example.org")["campaigns"].size(), 2u);
  EXPECT_EQ(h_.Api(Flavour::kStudio, "DELETE", "/contacts/d%40example.org").status, 204);
  EXPECT_TRUE(h_.Contact(Flavour::kStudio, "d@example.org").is_null());
  EXPECT_EQ(h_.Control(Flavour::kStudio, "GET", "/stats").Json()["campaign_removals"], 2);
  EXPECT_EQ(h_.Api(Flavour::kStudio, "DELETE", "/contacts/d%40example.org").status, 404);
  const auto got = receiver_.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  auto events = connectors::generic::ParseEvents(got[0].body);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  EXPECT_EQ((*events)[0].type, "subject.erased");
}

TEST_F(BsiSystems, ChangesArePagedByCursor) {
  for (const char* e : {"e1@example.org", "e2@example.org", "e3@example.org"}) {
    h_.Control(Flavour::kCrm, "POST", "/person/sperre",
               {{"email", e}, {"sperre", "werbesperre"}, {"active", true}, {"webhook", false}});
  }
  json page = h_.Api(Flavour::kCrm, "GET", "/changes?limit=2").Json();
  ASSERT_EQ(page["items"].size(), 2u);
  EXPECT_EQ(page["has_more"], true);
  EXPECT_EQ(page["items"][0]["sperre"], "werbesperre");
  EXPECT_EQ(page["items"][0]["active"], true);
  page = h_.Api(Flavour::kCrm, "GET",
                "/changes?limit=2&cursor=" + page["next_cursor"].get<std::string>())
             .Json();
  ASSERT_EQ(page["items"].size(), 1u);
  EXPECT_EQ(page["items"][0]["email"], "e3@example.org");
  EXPECT_EQ(page["has_more"], false);
  EXPECT_EQ(page["next_cursor"], "3");
}

TEST_F(BsiSystems, ARepeatedIdempotencyKeyIsNotAppliedTwice) {
  const net::HeaderList key = {{"Idempotency-Key", "k-1"}};
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(h_.Api(Flavour::kStudio, "PUT", "/contacts/f%40example.org/sperren/kanalsperre",
                     {{"active", true}, {"channel", "sms"}}, key)
                  .status,
              200);
  }
  EXPECT_EQ(h_.Control(Flavour::kStudio, "GET", "/stats").Json()["idempotent_replays"], 1);
  EXPECT_EQ(h_.Api(Flavour::kStudio, "GET", "/changes").Json()["items"].size(), 1u);
  EXPECT_TRUE(h_.SperreActive(Flavour::kStudio, "f@example.org", "kanalsperre|sms"));
}

TEST_F(BsiSystems, WrongCredentialsAreRefused) {
  EXPECT_EQ(h_.Api(Flavour::kCrm, "GET", "/health").status, 200);
  // The right header is sent too, after the wrong one: FindHeader takes the first.
  Reply r = h_.Api(Flavour::kCrm, "GET", "/health", nullptr, {{"Authorization", "Bearer nope"}});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(h_.Api(Flavour::kStudio, "GET", "/health").status, 200);
  r = h_.Api(Flavour::kStudio, "GET", "/health", nullptr,
             {{"webhook-id", "m"}, {"webhook-timestamp", "1"}, {"webhook-signature", "v1,AAAA"}});
  EXPECT_EQ(r.status, 401);
}

}  // namespace
}  // namespace consentd::testing::bsi
