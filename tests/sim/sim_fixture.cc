#include "tests/sim/sim_fixture.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>

namespace consentd::sim::testing {

void WebhookReceiver::Record(Received r) {
  std::lock_guard<std::mutex> lock(mu_);
  received_.push_back(std::move(r));
  cv_.notify_all();
}

std::vector<WebhookReceiver::Received> WebhookReceiver::WaitFor(size_t n) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::seconds(20), [&] { return received_.size() >= n; });
  return received_;
}

std::vector<WebhookReceiver::Received> WebhookReceiver::WaitUntil(
    const std::function<bool(const std::vector<Received>&)>& done) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::seconds(20), [&] { return done(received_); });
  return received_;
}

std::vector<WebhookReceiver::Received> WebhookReceiver::All() {
  std::lock_guard<std::mutex> lock(mu_);
  return received_;
}

SimFixture::SimFixture() = default;
SimFixture::~SimFixture() = default;

hubspot::HubSpotOptions SimFixture::Options() {
  hubspot::HubSpotOptions o;
  o.access_token = "test-token";
  o.client_secret = "test-client-secret";
  o.webhook_first_retry_ms = 20;  // keeps retry tests short
  o.seed = 7;
  return o;
}

void SimFixture::SetUp() {
  io_ = std::make_unique<boost::asio::io_context>();
  net::HttpServerOptions recv_opts;
  receiver_server_ = std::make_unique<net::HttpServer>(
      *io_, recv_opts, [this](net::HttpRequest req, net::Responder respond) {
        const int status = receiver_.status.load();
        receiver_.Record({req.target, req.headers, req.body});
        net::HttpResponse r;
        r.status = status;
        respond(std::move(r));
      });
  ASSERT_TRUE(receiver_server_->Start().ok());
  hubspot::HubSpotOptions o = Options();
  if (o.webhook_url.empty()) o.webhook_url = WebhookUrl();
  server_ = std::make_unique<SimServer>(
      *io_, clock_,
      SimServerOptions{11, std::chrono::milliseconds(2000), std::chrono::milliseconds(30000)});
  server_->AddSystem(std::make_unique<hubspot::HubSpotSystem>(clock_, o), net::HttpServerOptions{});
  ASSERT_TRUE(server_->Start().ok());
  thread_ = std::thread([this] {
    auto guard = boost::asio::make_work_guard(*io_);
    io_->run();
  });
}

void SimFixture::TearDown() {
  if (io_) io_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
  receiver_server_.reset();
  io_.reset();
}

std::string SimFixture::WebhookUrl() const {
  return "http://127.0.0.1:" + std::to_string(receiver_server_->port()) + "/webhooks/hubspot";
}

std::string SimFixture::BaseUrl() const {
  return "http://127.0.0.1:" + std::to_string(server_->port("hubspot"));
}

Reply Send(const std::string& method, const std::string& url, const std::string& body,
           net::HeaderList headers) {
  ClientRequest req;
  req.method = method;
  req.url = url;
  req.headers = std::move(headers);
  if (!body.empty()) req.content_type = "application/json";
  req.body = body;
  req.deadline = std::chrono::milliseconds(20000);
  auto r = HttpRequestSync(std::move(req));
  if (!r.ok()) return Reply{0, {}, r.status().message()};
  return Reply{r->status, r->headers, r->body};
}

Reply SimFixture::Api(const std::string& method, const std::string& target, const std::string& body,
                      net::HeaderList headers) {
  return Send(method, BaseUrl() + target, body, std::move(headers));
}

Reply SimFixture::Control(const std::string& method, const std::string& target,
                          const nlohmann::json& body) {
  return Send(method, BaseUrl() + target, body.is_null() ? "" : body.dump(), {});
}

}  // namespace consentd::sim::testing
