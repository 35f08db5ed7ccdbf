// The simulated Mailchimp behind a real net::HttpServer on 127.0.0.1: the
// API over sockets, and the 10-connections-per-key limit with requests
// really held open (the way the framework must wire AcquireSlot).
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <memory>
#include <thread>

#include "net/http_server.h"
#include "tests/net/test_client.h"
#include "tests/sim/mailchimp_test_util.h"

namespace consentd::sim::mailchimp::testing {
namespace {

using consentd::testing::BuildRequest;
using consentd::testing::CheckProblem;
using consentd::testing::TcpClient;
using consentd::testing::WaitUntil;
using nlohmann::json;

// A request whose answer the test decides to release later.
struct Held {
  net::HttpRequest req;
  std::shared_ptr<MailchimpSim::ConcurrencySlot> slot;
  net::Responder respond;
};

class SimServer {
 public:
  SimServer()
      : clock_(kStart), sim_(TestOptions(), clock_), work_(boost::asio::make_work_guard(io_)) {
    server_ = std::make_unique<net::HttpServer>(
        io_, net::HttpServerOptions{}, [this](net::HttpRequest req, net::Responder respond) {
          Handle(std::move(req), std::move(respond));
        });
    Status s = server_->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    thread_ = std::thread([this] { io_.run(); });
  }
  template <typename F>
  auto OnIo(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return result.get();
  }

  ~SimServer() {
    OnIo([this] {
      held_.clear();
      server_.reset();
      return 0;
    });
    work_.reset();
    io_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return server_->port(); }
  void set_hold(bool hold) {
    OnIo([&] { return hold_ = hold; });
  }
  size_t held() {
    return OnIo([this] { return held_.size(); });
  }
  int in_flight() {
    return OnIo([this] { return sim_.InFlight(kKey); });
  }

 private:
  // As the framework does: the slot is taken when the request is read and
  // kept until its response is written.
  void Handle(net::HttpRequest req, net::Responder respond) {
    auto slot = std::make_shared<MailchimpSim::ConcurrencySlot>(sim_.AcquireSlot(req));
    if (!hold_ || !slot->admitted()) {
      respond(sim_.HandleApiWithSlot(req, *slot));
      if (!slot->admitted()) {  // the refused one releases the held ones
        for (Held& h : held_) h.respond(sim_.HandleApiWithSlot(h.req, *h.slot));
        held_.clear();
      }
      return;
    }
    held_.push_back({std::move(req), std::move(slot), std::move(respond)});
  }

  ManualClock clock_;
  MailchimpSim sim_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<net::HttpServer> server_;
  std::thread thread_;
  bool hold_ = false;
  std::vector<Held> held_;
};

std::vector<std::string> AuthHeader() {
  return {"Authorization: " + BasicAuth(std::string("anystring:") + kKey)};
}

TEST(SimMailchimpHttp, ServesTheApiOverRealSockets) {
  SimServer server;
  const std::string email = "jane@example.org";
  const std::string path = "/3.0/lists/5e1c0a7b2d/members/" + SubscriberHash(email);
  auto client = TcpClient::Connect(server.port());
  ASSERT_NE(client, nullptr);
  json body = {{"email_address", email}, {"status_if_new", "subscribed"}};
  ASSERT_TRUE(client->Send(BuildRequest("PUT", path, body.dump(), AuthHeader())));
  auto put = client->ReadResponse();
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200) << put->body;
  EXPECT_EQ(json::parse(put->body)["status"], "subscribed");
  // Keep-alive: the same connection, now without credentials.
  ASSERT_TRUE(client->Send(BuildRequest("GET", path)));
  auto denied = client->ReadResponse();
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  EXPECT_TRUE(CheckProblem(*denied).empty());
  EXPECT_EQ(json::parse(denied->body)["title"], "API Key Missing");
  ASSERT_TRUE(
      client->Send(BuildRequest("GET", path, "", {"Authorization: Bearer " + std::string(kKey)})));
  auto got = client->ReadResponse();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(json::parse(got->body)["id"], SubscriberHash(email));
}

TEST(SimMailchimpHttp, EleventhSimultaneousConnectionPerKeyGets429) {
  SimServer server;
  server.set_hold(true);
  std::vector<std::unique_ptr<TcpClient>> clients;
  for (int i = 0; i < 10; ++i) {
    clients.push_back(TcpClient::Connect(server.port()));
    ASSERT_NE(clients.back(), nullptr);
    ASSERT_TRUE(
        clients.back()->Send(BuildRequest("GET", "/3.0/lists/5e1c0a7b2d", "", AuthHeader())));
  }
  ASSERT_TRUE(WaitUntil([&] { return server.held() == 10; }));
  EXPECT_EQ(server.in_flight(), 10);
  auto eleventh = TcpClient::Connect(server.port());
  ASSERT_NE(eleventh, nullptr);
  ASSERT_TRUE(eleventh->Send(BuildRequest("GET", "/3.0/lists/5e1c0a7b2d", "", AuthHeader())));
  auto refused = eleventh->ReadResponse();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429);
  EXPECT_TRUE(CheckProblem(*refused).empty());
  EXPECT_EQ(json::parse(refused->body)["title"], "Too Many Requests");
  for (auto& c : clients) {
    auto r = c->ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(server.in_flight(), 0);
}

}  // namespace
}  // namespace consentd::sim::mailchimp::testing
