// In-process harness: the BSI-like CRM and Studio (bsi_system.h) on one
// consentd-sim SimServer (ephemeral loopback ports), its io_context on a
// background thread, and blocking helpers for their APIs. Used by the
// systems' own tests and by the generic connector's end-to-end tests.
//
// Thread-safety: the helpers may be called from any one test thread; the
// systems themselves only run on the harness's io thread.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "core/clock.h"
#include "net/http_types.h"
#include "sim/sim_server.h"
#include "tests/generic_systems/bsi_system.h"

namespace boost::asio {
class io_context;
}

namespace consentd::testing::bsi {

inline constexpr std::string_view kCrmToken = "crm-test-token";
// Studio verifies consentd's requests with this Standard Webhooks secret.
inline constexpr std::string_view kStudioKey = "whsec_dGhlIHN0dWRpbyByZXF1ZXN0IGtleSAxMjM0";
inline constexpr std::string_view kCrmSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
inline constexpr std::string_view kStudioSecret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

struct Reply {
  int status = 0;  // 0: transport error
  net::HeaderList headers;
  std::string body;
  nlohmann::json Json() const { return nlohmann::json::parse(body, nullptr, false); }
};

class BsiHarness {
 public:
  // Webhook URLs may be empty and set later with SetWebhook.
  BsiHarness(std::string crm_webhook, std::string studio_webhook);
  ~BsiHarness();
  BsiHarness(const BsiHarness&) = delete;
  BsiHarness& operator=(const BsiHarness&) = delete;

  bool ok() const { return started_; }
  std::uint16_t port(Flavour f) const;
  std::string BaseUrl(Flavour f) const;  // http://127.0.0.1:PORT (no API prefix)

  // The REST API with the right credentials; `path` after the prefix.
  Reply Api(Flavour f, const std::string& method, const std::string& path,
            const nlohmann::json& body = nullptr, net::HeaderList extra = {});
  // /_sim/<name>/<path> (system control) or /_sim/<path> (framework) .
  Reply Control(Flavour f, const std::string& method, const std::string& path,
                const nlohmann::json& body = nullptr);
  Reply Framework(Flavour f, const std::string& method, const std::string& path,
                  const nlohmann::json& body = nullptr);
  void SetWebhook(Flavour f, const std::string& url);

  // The contact as the system holds it, or null.
  nlohmann::json Contact(Flavour f, const std::string& email);
  // "thema|channel|address" status, "" if none.
  std::string OptIn(Flavour f, const std::string& email, const std::string& thema,
                    const std::string& channel, const std::string& address = "");
  bool SperreActive(Flavour f, const std::string& email, const std::string& key);
  // API calls counted by the framework whose route starts with `prefix`
  // ("PUT /crm/v1/contacts").
  int CountCalls(Flavour f, const std::string& prefix);

 private:
  SystemClock clock_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<sim::SimServer> server_;
  std::thread thread_;
  bool started_ = false;
  int signed_requests_ = 0;
};

}  // namespace consentd::testing::bsi
