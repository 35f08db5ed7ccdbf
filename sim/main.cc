// consentd-sim: the simulated CRM (HubSpot subset) and journey platform
// (Mailchimp subset) in one process, for consentd's demo and end-to-end
// tests. See docs/simulator.md.
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "core/clock.h"
#include "sim/hubspot/hubspot_system.h"
#include "sim/mailchimp/mailchimp_sim.h"
#include "sim/sim_server.h"
#include "sim/state_file.h"

namespace {

using consentd::Status;

// Maps the framework's per-request admission onto Mailchimp's per-key
// concurrency slots (held through injected latency until answered).
class MailchimpWithSlots final : public consentd::sim::SimSystem {
 public:
  explicit MailchimpWithSlots(std::unique_ptr<consentd::sim::mailchimp::MailchimpSim> sim)
      : sim_(std::move(sim)) {}
  std::string Name() const override { return sim_->Name(); }
  consentd::net::HttpResponse HandleApi(const consentd::net::HttpRequest& req) override {
    return sim_->HandleApi(req);
  }
  consentd::net::HttpResponse HandleControl(const consentd::net::HttpRequest& req) override {
    return sim_->HandleControl(req);
  }
  void SetWebhookSink(consentd::sim::WebhookSink sink) override {
    sim_->SetWebhookSink(std::move(sink));
  }
  consentd::net::HttpResponse FaultResponse(int status) const override {
    return sim_->FaultResponse(status);
  }
  nlohmann::json SaveState() const override { return sim_->SaveState(); }
  Status LoadState(const nlohmann::json& state) override { return sim_->LoadState(state); }
  std::shared_ptr<void> AdmitRequest(const consentd::net::HttpRequest& req) override {
    return std::make_shared<consentd::sim::mailchimp::MailchimpSim::ConcurrencySlot>(
        sim_->AcquireSlot(req));
  }
  consentd::net::HttpResponse HandleAdmittedApi(const consentd::net::HttpRequest& req,
                                                const std::shared_ptr<void>& admission) override {
    if (!admission) return sim_->HandleApi(req);
    return sim_->HandleApiWithSlot(
        req, *std::static_pointer_cast<consentd::sim::mailchimp::MailchimpSim::ConcurrencySlot>(
                 admission));
  }

 private:
  std::unique_ptr<consentd::sim::mailchimp::MailchimpSim> sim_;
};

struct Settings {
  std::string crm_listen = "127.0.0.1:8081";
  std::string journey_listen = "127.0.0.1:8082";
  std::string crm_webhook, journey_webhook;
  std::uint64_t seed = 1;
  std::string hubspot_token = "sim-hubspot-token";
  std::string hubspot_client_secret = "sim-hubspot-client-secret";
  std::string mailchimp_key = "00000000000000000000000000000000-us1";
  bool no_rate_limits = false;
  int crm_seed_contacts = 0;
  int journey_seed_members = 0;
  std::int64_t webhook_retry_ms = 1000;
  std::string state_file;  // empty: state in memory only
};

// YAML file: keys mirror the flags (see docs/simulator.md); flags given on
// the command line win.
Status LoadConfig(const std::string& file, Settings& s, const CLI::App& app) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::Exception& e) {
    return consentd::InvalidArgument(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                                     std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  auto set = [&](const char* flag, const YAML::Node& node, auto& target) -> Status {
    if (!node || app.count(flag) > 0) return Status::Ok();
    try {
      target = node.as<std::decay_t<decltype(target)>>();
    } catch (const YAML::Exception& e) {
      return consentd::InvalidArgument(file + ":" + std::to_string(node.Mark().line + 1) + ":" +
                                       std::to_string(node.Mark().column + 1) + ": bad value for " +
                                       flag);
    }
    return Status::Ok();
  };
  std::uint64_t seed = s.seed;
  bool rate_limits = !s.no_rate_limits;
  for (Status st :
       {set("--seed", root["seed"], seed),
        set("--no-rate-limits", root["rate_limits"], rate_limits),
        set("--webhook-retry-ms", root["webhook_retry_ms"], s.webhook_retry_ms),
        set("--state-file", root["state_file"], s.state_file),
        set("--crm-listen", root["crm"]["listen"], s.crm_listen),
        set("--crm-webhook", root["crm"]["webhook"], s.crm_webhook),
        set("--hubspot-token", root["crm"]["token"], s.hubspot_token),
        set("--hubspot-client-secret", root["crm"]["client_secret"], s.hubspot_client_secret),
        set("--crm-seed-contacts", root["crm"]["seed_contacts"], s.crm_seed_contacts),
        set("--journey-listen", root["journey"]["listen"], s.journey_listen),
        set("--journey-webhook", root["journey"]["webhook"], s.journey_webhook),
        set("--mailchimp-key", root["journey"]["api_key"], s.mailchimp_key),
        set("--journey-seed-members", root["journey"]["seed_members"], s.journey_seed_members)}) {
    if (!st.ok()) return st;
  }
  s.seed = seed;
  s.no_rate_limits = !rate_limits;
  return Status::Ok();
}

consentd::Result<consentd::net::HttpServerOptions> Listen(const std::string& addr) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos)
    return consentd::InvalidArgument("expected ADDR:PORT, got " + addr);
  consentd::net::HttpServerOptions o;
  o.address = addr.substr(0, colon);
  if (!o.address.empty() && o.address.front() == '[')
    o.address = o.address.substr(1, o.address.size() - 2);
  try {
    const int port = std::stoi(addr.substr(colon + 1));
    if (port < 0 || port > 65535) throw std::out_of_range("port");
    o.port = static_cast<std::uint16_t>(port);
  } catch (const std::exception&) {
    return consentd::InvalidArgument("bad port in " + addr);
  }
  o.max_connections = 4096;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"consentd-sim: simulated HubSpot (CRM) and Mailchimp (journey platform)"};
  Settings s;
  std::string config;
  app.add_option("--config", config, "YAML file with the settings below (flags win)");
  app.add_option("--crm-listen", s.crm_listen, "HubSpot API ADDR:PORT (port 0: ephemeral)");
  app.add_option("--journey-listen", s.journey_listen, "Mailchimp API ADDR:PORT (under /3.0/)");
  app.add_option("--crm-webhook", s.crm_webhook, "URL that receives HubSpot webhooks");
  app.add_option("--journey-webhook", s.journey_webhook, "URL that receives Mailchimp webhooks");
  app.add_option("--seed", s.seed, "seed for data, ids and faults");
  app.add_option("--hubspot-token", s.hubspot_token, "private-app access token (Bearer)");
  app.add_option("--hubspot-client-secret", s.hubspot_client_secret, "signs webhooks (v3)");
  app.add_option("--mailchimp-key", s.mailchimp_key, "Mailchimp API key");
  app.add_flag("--no-rate-limits", s.no_rate_limits, "lift vendor rate limits (benchmarks)");
  app.add_option("--crm-seed-contacts", s.crm_seed_contacts, "contacts seeded at start and reset");
  app.add_option("--journey-seed-members", s.journey_seed_members,
                 "members seeded at start and reset");
  app.add_option("--webhook-retry-ms", s.webhook_retry_ms, "first retry delay of HubSpot webhooks");
  app.add_option("--state-file", s.state_file,
                 "load state from FILE at start (if it exists), save it there on SIGTERM/SIGINT");
  CLI11_PARSE(app, argc, argv);
  if (!config.empty()) {
    if (Status st = LoadConfig(config, s, app); !st.ok()) {
      std::fprintf(stderr, "consentd-sim: %s\n", st.message().c_str());
      return 2;
    }
  }
  auto crm = Listen(s.crm_listen);
  auto journey = Listen(s.journey_listen);
  for (const auto* r : {&crm, &journey}) {
    if (!r->ok()) {
      std::fprintf(stderr, "consentd-sim: %s\n", r->status().message().c_str());
      return 2;
    }
  }

  boost::asio::io_context io;
  consentd::SystemClock clock;
  consentd::sim::SimServerOptions sim_options;
  sim_options.seed = s.seed;
  consentd::sim::SimServer server(io, clock, sim_options);

  consentd::sim::hubspot::HubSpotOptions hs;
  hs.access_token = s.hubspot_token;
  hs.client_secret = s.hubspot_client_secret;
  hs.webhook_url = s.crm_webhook;
  hs.rate_limits = !s.no_rate_limits;
  hs.seed = s.seed;
  hs.seed_contacts = s.crm_seed_contacts;
  hs.webhook_first_retry_ms = s.webhook_retry_ms;
  auto hubspot = std::make_unique<consentd::sim::hubspot::HubSpotSystem>(clock, hs);
  consentd::sim::SimSystem* hubspot_ptr = hubspot.get();
  server.AddSystem(std::move(hubspot), crm.value());

  consentd::sim::mailchimp::MailchimpOptions mc;
  mc.api_key = s.mailchimp_key;
  mc.webhook_url = s.journey_webhook;
  mc.seed = s.seed;
  mc.rate_limits_enabled = !s.no_rate_limits;
  mc.seed_members = s.journey_seed_members;
  auto mailchimp = std::make_unique<MailchimpWithSlots>(
      std::make_unique<consentd::sim::mailchimp::MailchimpSim>(mc, clock));
  consentd::sim::SimSystem* mailchimp_ptr = mailchimp.get();
  server.AddSystem(std::move(mailchimp), journey.value());

  std::string state_note;  // printed after the "listening" lines scripts read
  if (!s.state_file.empty()) {
    Status st = consentd::sim::LoadStateFile(s.state_file, {hubspot_ptr, mailchimp_ptr});
    if (st.code() == consentd::StatusCode::kNotFound) {
      state_note = "state file " + s.state_file + " does not exist yet, starting empty";
    } else if (!st.ok()) {
      // Never start empty over a file we could not read: that would lose it
      // at the next save.
      std::fprintf(stderr, "consentd-sim: %s\n", st.message().c_str());
      return 1;
    } else {
      state_note = "state loaded from " + s.state_file;
    }
  }

  // Installed before the ports are announced, so a SIGTERM sent right after
  // the "listening" lines always takes the graceful path.
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    server.Shutdown(std::chrono::milliseconds(2000), [&io] { io.stop(); });
  });
  if (Status st = server.Start(); !st.ok()) {
    std::fprintf(stderr, "consentd-sim: %s\n", st.ToString().c_str());
    return 1;
  }
  // One line per system: scripts and tests read the bound ports from it.
  std::printf("consentd-sim: hubspot listening on %s:%u\n", crm->address.c_str(),
              static_cast<unsigned>(server.port("hubspot")));
  std::printf("consentd-sim: mailchimp listening on %s:%u\n", journey->address.c_str(),
              static_cast<unsigned>(server.port("mailchimp")));
  if (!state_note.empty()) std::printf("consentd-sim: %s\n", state_note.c_str());
  std::fflush(stdout);

  io.run();
  if (!s.state_file.empty()) {
    if (Status st = consentd::sim::SaveStateFile(s.state_file, {hubspot_ptr, mailchimp_ptr});
        !st.ok()) {
      std::fprintf(stderr, "consentd-sim: %s\n", st.message().c_str());
      return 1;
    }
    std::printf("consentd-sim: state saved to %s\n", s.state_file.c_str());
  }
  std::printf("consentd-sim: stopped\n");
  return 0;
}
