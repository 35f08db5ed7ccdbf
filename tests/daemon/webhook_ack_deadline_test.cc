// WebhookAckDeadline on a real io_context and timer: a webhook whose
// commit does not answer in time gets 503 + Retry-After, once; one answered
// in time gets only its own answer.
#include "daemon/webhook_ack_deadline.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace consentd::daemon {
namespace {

using std::chrono::milliseconds;

struct Answers {
  std::vector<int> statuses;
  std::vector<std::string> retry_after;
  net::Responder Responder() {
    return [this](net::HttpResponse r) {
      statuses.push_back(r.status);
      for (const auto& [k, v] : r.headers) {
        if (k == "Retry-After") retry_after.push_back(v);
      }
    };
  }
};

// Runs `io` until `after` has passed (the timers due by then have run).
void RunFor(boost::asio::io_context& io, milliseconds after) {
  boost::asio::steady_timer stop(io, after);
  stop.async_wait([&io](const boost::system::error_code&) { io.stop(); });
  io.restart();
  io.run();
}

TEST(WebhookAckDeadline, AWebhookNotStoredInTimeGets503OnceAndItsLateAnswerIsDropped) {
  boost::asio::io_context io;
  std::vector<std::string> expired;
  WebhookAckDeadline acks(io, milliseconds(50),
                          [&](const std::string& connector) { expired.push_back(connector); });
  Answers a;
  net::Responder respond = acks.Track("hubspot", a.Responder());
  EXPECT_EQ(acks.waiting(), 1u);
  RunFor(io, milliseconds(150));
  ASSERT_EQ(a.statuses, std::vector<int>{503});
  EXPECT_EQ(a.retry_after, std::vector<std::string>{"5"});
  EXPECT_EQ(expired, std::vector<std::string>{"hubspot"});
  EXPECT_EQ(acks.waiting(), 0u);
  respond({200, "application/json", {}, "{}"});  // the commit, late
  EXPECT_EQ(a.statuses, std::vector<int>{503}) << "one answer per request";
}

TEST(WebhookAckDeadline, AWebhookStoredInTimeGetsItsOwnAnswerOnly) {
  boost::asio::io_context io;
  int expired = 0;
  WebhookAckDeadline acks(io, milliseconds(50), [&](const std::string&) { ++expired; });
  Answers first, second;
  net::Responder r1 = acks.Track("mailchimp", first.Responder());
  net::Responder r2 = acks.Track("mailchimp", second.Responder());
  r1({200, "application/json", {}, "{}"});
  RunFor(io, milliseconds(150));
  EXPECT_EQ(first.statuses, std::vector<int>{200});
  EXPECT_EQ(second.statuses, std::vector<int>{503}) << "the second was never stored";
  EXPECT_EQ(expired, 1);
  r1({200, "application/json", {}, "{}"});
  EXPECT_EQ(first.statuses, std::vector<int>{200});
}

TEST(WebhookAckDeadline, ANewDeadlineAppliesToWebhooksTrackedAfterIt) {
  boost::asio::io_context io;
  WebhookAckDeadline acks(io, milliseconds(50), nullptr);
  acks.set_deadline(milliseconds(5000));
  Answers a;
  net::Responder respond = acks.Track("hubspot", a.Responder());
  RunFor(io, milliseconds(150));
  EXPECT_TRUE(a.statuses.empty()) << "still within the new deadline";
  respond({200, "application/json", {}, "{}"});
  EXPECT_EQ(a.statuses, std::vector<int>{200});
  acks.Cancel();
}

// A reload that shortens the deadline must not leave the webhooks already
// waiting on the old, longer one.
TEST(WebhookAckDeadline, AShorterDeadlineAlsoShortensTheWaitOfWebhooksAlreadyWaiting) {
  boost::asio::io_context io;
  WebhookAckDeadline acks(io, milliseconds(60'000), nullptr);
  Answers a;
  net::Responder respond = acks.Track("hubspot", a.Responder());
  RunFor(io, milliseconds(20));
  acks.set_deadline(milliseconds(50));
  RunFor(io, milliseconds(200));
  EXPECT_EQ(a.statuses, std::vector<int>{503});
}

// The shorter deadline counts from each webhook's arrival, not from the
// reload: one that has already waited longer is answered at once.
TEST(WebhookAckDeadline, AShorterDeadlineCountsFromEachWebhooksArrival) {
  boost::asio::io_context io;
  WebhookAckDeadline acks(io, milliseconds(60'000), nullptr);
  Answers a;
  net::Responder respond = acks.Track("hubspot", a.Responder());
  RunFor(io, milliseconds(1000));
  acks.set_deadline(milliseconds(900));
  RunFor(io, milliseconds(100));
  EXPECT_EQ(a.statuses, std::vector<int>{503}) << "waited 1 s: past the new 0.9 s at the reload";
}

}  // namespace
}  // namespace consentd::daemon
