// Test fixture: a SimServer with the HubSpot system on 127.0.0.1 (ephemeral
// port), its io_context on a background thread, a blocking client, and a
// webhook receiver (net::HttpServer) on the same io_context.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "net/http_server.h"
#include "sim/http_client.h"
#include "sim/hubspot/hubspot_system.h"
#include "sim/sim_server.h"

namespace consentd::sim::testing {

struct Reply {
  int status = 0;  // 0: transport error (e.g. dropped connection)
  net::HeaderList headers;
  std::string body;
  nlohmann::json Json() const { return nlohmann::json::parse(body, nullptr, false); }
  std::string Header(std::string_view name) const {
    auto h = net::FindHeader(headers, name);
    return h ? std::string(*h) : std::string();
  }
};

// Records every webhook POST; answers with `status` (settable).
class WebhookReceiver {
 public:
  struct Received {
    std::string path;  // as requested (path + query)
    net::HeaderList headers;
    std::string body;
  };
  std::atomic<int> status{204};
  // Waits (up to 20 s) until at least n requests have arrived.
  std::vector<Received> WaitFor(size_t n);
  // Waits (up to 20 s) until `done` holds for what has arrived.
  std::vector<Received> WaitUntil(const std::function<bool(const std::vector<Received>&)>& done);
  std::vector<Received> All();
  void Record(Received r);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> received_;
};

class SimFixture : public ::testing::Test {
 protected:
  SimFixture();
  ~SimFixture() override;
  // Hook for tests that need other options (set before SetUp runs).
  virtual hubspot::HubSpotOptions Options();
  void SetUp() override;
  void TearDown() override;

  // HubSpot API call with the right bearer token (unless headers say otherwise).
  Reply Api(const std::string& method, const std::string& target, const std::string& body = "",
            net::HeaderList headers = {{"Authorization", "Bearer test-token"}});
  Reply Api(const std::string& method, const std::string& target, const nlohmann::json& body) {
    return Api(method, target, body.dump());
  }
  Reply Control(const std::string& method, const std::string& target,
                const nlohmann::json& body = nullptr);
  std::string WebhookUrl() const;
  std::string BaseUrl() const;

  SystemClock clock_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<SimServer> server_;
  std::unique_ptr<net::HttpServer> receiver_server_;
  WebhookReceiver receiver_;
  std::thread thread_;
};

Reply Send(const std::string& method, const std::string& url, const std::string& body,
           net::HeaderList headers);

}  // namespace consentd::sim::testing
