#include "tests/generic_systems/bsi_harness.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>

#include "connectors/common/webhook_signatures.h"
#include "net/http_server.h"
#include "sim/http_client.h"

namespace consentd::testing::bsi {
namespace {

Reply Send(const std::string& method, const std::string& url, const nlohmann::json& body,
           net::HeaderList headers) {
  sim::ClientRequest req;
  req.method = method;
  req.url = url;
  req.headers = std::move(headers);
  if (!body.is_null()) {
    req.content_type = "application/json";
    req.body = body.dump();
  }
  req.deadline = std::chrono::milliseconds(10000);
  Result<sim::ClientResponse> r = sim::HttpRequestSync(std::move(req));
  if (!r.ok()) return Reply{0, {}, r.status().message()};
  return Reply{r->status, r->headers, r->body};
}

}  // namespace

BsiHarness::BsiHarness(std::string crm_webhook, std::string studio_webhook)
    : io_(std::make_unique<boost::asio::io_context>()) {
  server_ = std::make_unique<sim::SimServer>(
      *io_, clock_,
      sim::SimServerOptions{7, std::chrono::milliseconds(3000), std::chrono::milliseconds(1000)});
  BsiOptions crm;
  crm.flavour = Flavour::kCrm;
  crm.credential = std::string(kCrmToken);
  crm.webhook_url = std::move(crm_webhook);
  crm.webhook_secret = std::string(kCrmSecret);
  BsiOptions studio;
  studio.flavour = Flavour::kStudio;
  studio.credential = std::string(kStudioKey);
  studio.webhook_url = std::move(studio_webhook);
  studio.webhook_secret = std::string(kStudioSecret);
  server_->AddSystem(MakeBsiSystem(clock_, std::move(crm)), net::HttpServerOptions{});
  server_->AddSystem(MakeBsiSystem(clock_, std::move(studio)), net::HttpServerOptions{});
  started_ = server_->Start().ok();
  thread_ = std::thread([this] {
    auto guard = boost::asio::make_work_guard(*io_);
    io_->run();
  });
}

BsiHarness::~BsiHarness() {
  io_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
  io_.reset();
}

std::uint16_t BsiHarness::port(Flavour f) const { return server_->port(SystemName(f)); }

std::string BsiHarness::BaseUrl(Flavour f) const {
  return "http://127.0.0.1:" + std::to_string(port(f));
}

Reply BsiHarness::Api(Flavour f, const std::string& method, const std::string& path,
                      const nlohmann::json& body, net::HeaderList extra) {
  if (f == Flavour::kCrm) {
    extra.emplace_back("Authorization", "Bearer " + std::string(kCrmToken));
  } else {
    const std::string payload = body.is_null() ? std::string() : body.dump();
    const std::int64_t ts = clock_.NowMs() / 1000;
    const std::string id = "msg_test_" + std::to_string(++signed_requests_);
    Result<std::string> sig =
        connectors::StandardWebhooksSign(std::string(kStudioKey), id, ts, payload);
    extra.emplace_back("webhook-id", id);
    extra.emplace_back("webhook-timestamp", std::to_string(ts));
    extra.emplace_back("webhook-signature", sig.ok() ? *sig : std::string());
  }
  return Send(method, BaseUrl(f) + ApiPrefix(f) + path, body, std::move(extra));
}

Reply BsiHarness::Control(Flavour f, const std::string& method, const std::string& path,
                          const nlohmann::json& body) {
  return Send(method, BaseUrl(f) + "/_sim/" + SystemName(f) + path, body, {});
}

Reply BsiHarness::Framework(Flavour f, const std::string& method, const std::string& path,
                            const nlohmann::json& body) {
  return Send(method, BaseUrl(f) + "/_sim" + path, body, {});
}

void BsiHarness::SetWebhook(Flavour f, const std::string& url) {
  Control(f, "POST", "/webhook", {{"url", url}});
}

nlohmann::json BsiHarness::Contact(Flavour f, const std::string& email) {
  Reply r =
      Send("GET", BaseUrl(f) + "/_sim/" + SystemName(f) + "/contact?email=" + email, nullptr, {});
  return r.status == 200 ? r.Json() : nlohmann::json();
}

std::string BsiHarness::OptIn(Flavour f, const std::string& email, const std::string& thema,
                              const std::string& channel, const std::string& address) {
  const nlohmann::json c = Contact(f, email);
  if (c.is_null()) return "";
  const std::string key = thema + "|" + channel + "|" + address;
  if (!c["optins"].contains(key)) return "";
  return c["optins"][key]["status"].get<std::string>();
}

bool BsiHarness::SperreActive(Flavour f, const std::string& email, const std::string& key) {
  const nlohmann::json c = Contact(f, email);
  return !c.is_null() && c["sperren"].contains(key) && c["sperren"][key]["active"] == true;
}

int BsiHarness::CountCalls(Flavour f, const std::string& prefix) {
  const nlohmann::json counters = Framework(f, "GET", "/counters").Json();
  int n = 0;
  if (!counters.is_object() || !counters.contains(SystemName(f))) return 0;
  for (const auto& [route, statuses] : counters[SystemName(f)].items()) {
    if (route.rfind(prefix, 0) != 0) continue;
    for (const auto& [status, count] : statuses.items()) n += count.get<int>();
  }
  return n;
}

}  // namespace consentd::testing::bsi
