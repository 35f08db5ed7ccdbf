// Delivery of an access export (daemon/export_delivery.h) to a real
// loopback HTTP server over the real libcurl client: the receiver verifies
// the Standard Webhooks signature with the configured secret; transport
// errors and 5xx are retried under one webhook id, 4xx is final.
#include "daemon/export_delivery.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "connectors/common/webhook_signatures.h"
#include "net/http_server.h"

namespace consentd::daemon {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kExport = R"({"subject":"s-1","consents":[]})";

struct Received {
  std::string id, timestamp, signature, body, content_type;
};

// A loopback server answering with scripted statuses (then 200), on its own
// io thread.
class Receiver {
 public:
  explicit Receiver(std::deque<int> statuses) : statuses_(std::move(statuses)) {
    server_ = std::make_unique<net::HttpServer>(
        io_, net::HttpServerOptions{}, [this](net::HttpRequest req, net::Responder respond) {
          int status = 200;
          {
            std::lock_guard lock(mu_);
            got_.push_back({std::string(req.Header("webhook-id").value_or("")),
                            std::string(req.Header("webhook-timestamp").value_or("")),
                            std::string(req.Header("webhook-signature").value_or("")), req.body,
                            std::string(req.Header("Content-Type").value_or(""))});
            if (!statuses_.empty()) {
              status = statuses_.front();
              statuses_.pop_front();
            }
          }
          respond({status, "text/plain", {}, "ok\n"});
        });
    EXPECT_TRUE(server_->Start().ok());
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Receiver() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()) + "/x"; }
  std::vector<Received> got() {
    std::lock_guard lock(mu_);
    return got_;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  std::unique_ptr<net::HttpServer> server_;
  std::thread thread_;
  std::mutex mu_;
  std::deque<int> statuses_;
  std::vector<Received> got_;
};

class ExportDelivery : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "consentd-delivery-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    config_.secret_file = (dir_ / "secret").string();
    std::ofstream(config_.secret_file) << kSecret << "\n";
    config_.timeout = std::chrono::seconds(5);
    http_ = connectors::MakeCurlHttpClient("consentd-test");
    deps_.http = http_.get();
    deps_.now = [] { return SystemClock().NowMs(); };
    deps_.sleep = [this](std::chrono::milliseconds d) { sleeps_.push_back(d); };
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path dir_;
  config::ExportDeliveryConfig config_;
  std::unique_ptr<connectors::HttpClient> http_;
  ExportDeliveryDeps deps_;
  std::vector<std::chrono::milliseconds> sleeps_;
};

TEST_F(ExportDelivery, ReceiverVerifiesTheStandardWebhooksSignatureOverTheExactExport) {
  Receiver receiver({});
  config_.url = receiver.url();
  Result<ExportDeliveryOutcome> r = DeliverExport(config_, kExport, deps_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->delivered);
  EXPECT_EQ(r->attempts, 1);
  EXPECT_EQ(r->http_status, 200);
  const auto got = receiver.got();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, kExport);
  EXPECT_EQ(got[0].id, r->webhook_id);
  EXPECT_EQ(got[0].content_type, "application/json");
  Status verified = connectors::StandardWebhooksVerify(
      kSecret, got[0].id, got[0].timestamp, got[0].signature, got[0].body, SystemClock().NowMs());
  EXPECT_TRUE(verified.ok()) << verified.ToString();
  // Another secret does not verify it: the signature is bound to the secret.
  EXPECT_FALSE(connectors::StandardWebhooksVerify("whsec_b3RoZXJvdGhlcm90aGVyb3RoZXI=", got[0].id,
                                                  got[0].timestamp, got[0].signature, got[0].body,
                                                  SystemClock().NowMs())
                   .ok());
}

TEST_F(ExportDelivery, ServerErrorsAreRetriedWithBackoffUnderOneWebhookId) {
  Receiver receiver({503, 500});
  config_.url = receiver.url();
  Result<ExportDeliveryOutcome> r = DeliverExport(config_, kExport, deps_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->delivered);
  EXPECT_EQ(r->attempts, 3);
  const auto got = receiver.got();
  ASSERT_EQ(got.size(), 3u);
  for (const auto& g : got) EXPECT_EQ(g.id, r->webhook_id);
  ASSERT_EQ(sleeps_.size(), 2u);
  EXPECT_LT(sleeps_[0], sleeps_[1]);
}

TEST_F(ExportDelivery, ClientErrorIsFinalAndSaysWhy) {
  Receiver receiver({422});
  config_.url = receiver.url();
  Result<ExportDeliveryOutcome> r = DeliverExport(config_, kExport, deps_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->delivered);
  EXPECT_EQ(r->attempts, 1);
  EXPECT_EQ(r->http_status, 422);
  EXPECT_NE(r->reason.find("422"), std::string::npos) << r->reason;
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(ExportDelivery, UnreachableEndpointIsRetriedThenReported) {
  std::string url;
  {
    Receiver gone({});
    url = gone.url();
  }  // closed: connection refused from now on
  config_.url = url;
  Result<ExportDeliveryOutcome> r = DeliverExport(config_, kExport, deps_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->delivered);
  EXPECT_EQ(r->attempts, kExportDeliveryMaxAttempts);
  EXPECT_EQ(r->http_status, 0);
  EXPECT_NE(r->reason.find("could not be reached"), std::string::npos) << r->reason;
}

// consentctl waits LongestExportDelivery for the answer: it must cover every
// attempt at its full timeout and every sleep between them, as DeliverExport
// really does them.
TEST_F(ExportDelivery, TheLongestDeliveryCoversEveryAttemptAndEverySleep) {
  std::string url;
  {
    Receiver gone({});
    url = gone.url();
  }
  config_.url = url;
  Result<ExportDeliveryOutcome> r = DeliverExport(config_, kExport, deps_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::chrono::milliseconds slept{0};
  for (const auto d : sleeps_) slept += d;
  EXPECT_EQ(LongestExportDelivery(config_, deps_.first_backoff),
            config_.timeout * r->attempts + slept);
  config_.timeout = std::chrono::minutes(5);  // the largest timeout the config allows
  EXPECT_EQ(LongestExportDelivery(config_, std::chrono::milliseconds(500)),
            std::chrono::minutes(20) + std::chrono::milliseconds(3500));
}

TEST_F(ExportDelivery, MissingSecretSendsNothing) {
  Receiver receiver({});
  config_.url = receiver.url();
  config_.secret_file = (dir_ / "absent").string();
  Result<ExportDeliveryOutcome> r = DeliverExport(config_, kExport, deps_);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(receiver.got().empty());
}

}  // namespace
}  // namespace consentd::daemon
