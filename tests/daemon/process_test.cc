// The real consentd binary, started with a temporary config: readiness,
// reload by SIGHUP (bad and good configs), graceful SIGTERM, the systemd
// notify messages, the watchdog, and the proof log's signing key and
// checkpoints (checked with the real consentctl). Conditions are awaited with generous
// timeouts; no duration is asserted.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "core/proof_entry.h"
#include "daemon/admin_api.h"
#include "store/proof_log_store.h"
#include "store/sqlite_store.h"
#include "tests/daemon/notify_listener.h"
#include "tests/daemon/prom_check.h"
#include "tests/net/test_client.h"
#include "tests/support/child_process.h"

namespace consentd::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// "... serving on 127.0.0.1:PORT ..." → PORT (the last one in `text`).
std::uint16_t PortFrom(const std::string& text) {
  const std::string marker = " on 127.0.0.1:";
  const size_t at = text.rfind(marker);
  if (at == std::string::npos) return 0;
  return static_cast<std::uint16_t>(std::atoi(text.c_str() + at + marker.size()));
}

// True if `text` holds "FILE:LINE:COLUMN: " for a file named `file` on a
// line that also contains `context` (before the file name).
bool HasDiagnostic(const std::string& text, const std::string& file,
                   const std::string& context = "") {
  auto digits = [&](size_t& i) {
    const size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    return i > start;
  };
  for (size_t at = text.find(file + ":"); at != std::string::npos;
       at = text.find(file + ":", at + 1)) {
    size_t i = at + file.size() + 1;
    if (!digits(i) || i >= text.size() || text[i++] != ':') continue;
    if (!digits(i) || text.compare(i, 2, ": ") != 0) continue;
    const size_t line_start = text.rfind('\n', at);
    const size_t from = line_start == std::string::npos ? 0 : line_start + 1;
    if (text.substr(from, at - from).find(context) != std::string::npos) return true;
  }
  return false;
}

// consentd as a child process (tests/support/child_process.h), waiting
// kPatience by default.
class Process : public ChildProcess {
 public:
  Process(std::vector<std::string> args, const std::vector<std::string>& env, const fs::path& log)
      : ChildProcess(ConsentdBinary(), std::move(args), env, log) {}
  std::optional<int> WaitExit(std::chrono::milliseconds timeout = kPatience) {
    return ChildProcess::WaitExit(timeout);
  }
};

class ConsentdProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/consentd-daemon-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    config_ = dir_ / "consentd.yaml";
    log_ = dir_ / "consentd.log";
    notify_ = std::make_unique<NotifyListener>((dir_ / "notify.sock").string());
  }
  void TearDown() override {
    process_.reset();
    notify_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string Config(const std::string& level = "info", std::uint16_t port = 0,
                     const std::string& extra = "") {
    return "http:\n  listen: \"127.0.0.1:" + std::to_string(port) + "\"\n" +
           "store:\n  path: " + (dir_ / "state.db").string() + "\n" + "log:\n  level: " + level +
           "\n" + extra;
  }

  // Starts consentd and waits for READY=1; sets port_.
  void Start(const std::string& config_text, std::vector<std::string> env = {}) {
    WriteTextFile(config_, config_text);
    env.push_back("NOTIFY_SOCKET=" + notify_->name());
    process_ = std::make_unique<Process>(std::vector<std::string>{"--config", config_.string()},
                                         env, log_);
    auto ready = notify_->WaitFor("READY=1");
    ASSERT_TRUE(ready) << "no READY=1; log:\n" << Log();
    port_ = PortFrom(*ready);
    ASSERT_NE(port_, 0) << *ready;
  }

  std::string Log() const { return ReadTextFile(log_); }

  PromExposition Scrape(std::uint16_t port) {
    auto r = Fetch(port, "GET", "/metrics");
    if (!r) return {};
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    return ParseExposition(r->body);
  }

  fs::path dir_, config_, log_;
  std::unique_ptr<NotifyListener> notify_;
  std::unique_ptr<Process> process_;
  std::uint16_t port_ = 0;
};

// A usage error exits 2, as documented, whatever CLI11 calls it; help is 0.
TEST_F(ConsentdProcess, UsageErrorsExitTwoAndHelpExitsZero) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--check-config"},
        {"--config"},
        {"--no-such-option"},
        {"--config", "a.yaml", "--check-config", "a.yaml"}}) {
    Process p(args, {}, log_);
    EXPECT_EQ(p.WaitExit(), std::optional<int>(2)) << args[0] << ": " << Log();
  }
  Process help({"--help"}, {}, log_);
  EXPECT_EQ(help.WaitExit(), std::optional<int>(0)) << Log();
}

TEST_F(ConsentdProcess, ServesHealthReadinessAndMetricsOnceReady) {
  ASSERT_NO_FATAL_FAILURE(Start(Config()));
  auto health = Fetch(port_, "GET", "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto ready = Fetch(port_, "GET", "/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);

  auto missing = Fetch(port_, "GET", "/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(CheckProblem(*missing), std::vector<std::string>{});
  auto wrong = Fetch(port_, "DELETE", "/healthz");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 405);
  EXPECT_EQ(wrong->Header("allow"), "GET");
  EXPECT_EQ(CheckProblem(*wrong), std::vector<std::string>{});

  auto m = Scrape(port_);
  EXPECT_EQ(m.errors, std::vector<std::string>{});
  EXPECT_EQ(m.Value("consentd_build_info", {{"version", "0.1.0"}}), 1);
  EXPECT_TRUE(m.Value("consentd_process_uptime_seconds"));
  EXPECT_EQ(m.Value("consentd_http_requests_total",
                    {{"route", "/healthz"}, {"method", "GET"}, {"status", "200"}}),
            1);
  EXPECT_EQ(m.Value("consentd_http_requests_total",
                    {{"route", "unmatched"}, {"method", "GET"}, {"status", "404"}}),
            1);
  EXPECT_EQ(m.types["consentd_http_request_duration_seconds"], "histogram");
  EXPECT_EQ(m.Value("consentd_http_request_duration_seconds_count",
                    {{"route", "/readyz"}, {"method", "GET"}}),
            1);
}

TEST_F(ConsentdProcess, SighupWithBrokenConfigKeepsServingAndLogsTheError) {
  ASSERT_NO_FATAL_FAILURE(Start(Config()));
  WriteTextFile(config_, Config() + "  levle: debug\n");  // unknown key in log:
  process_->Signal(SIGHUP);
  auto reloading = notify_->WaitFor("RELOADING=1");
  ASSERT_TRUE(reloading) << Log();
  EXPECT_NE(reloading->find("MONOTONIC_USEC="), std::string::npos);
  auto ready = notify_->WaitFor("READY=1");
  ASSERT_TRUE(ready);
  EXPECT_NE(ready->find("reload failed"), std::string::npos) << *ready;

  EXPECT_TRUE(HasDiagnostic(Log(), "consentd.yaml", "reload failed")) << Log();
  auto health = Fetch(port_, "GET", "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(Scrape(port_).Value("consentd_config_reloads_total", {{"result", "failure"}}), 1);
}

TEST_F(ConsentdProcess, SighupWithGoodConfigAppliesLogLevelAndNewListenAddress) {
  ASSERT_NO_FATAL_FAILURE(Start(Config("info")));
  ASSERT_TRUE(Fetch(port_, "GET", "/healthz"));
  EXPECT_EQ(Log().find("http GET /healthz"), std::string::npos);  // debug is off

  const std::uint16_t new_port = FreeLoopbackPort();
  WriteTextFile(config_, Config("debug", new_port));
  process_->Signal(SIGHUP);
  ASSERT_TRUE(notify_->WaitFor("RELOADING=1")) << Log();
  auto ready = notify_->WaitFor("READY=1");
  ASSERT_TRUE(ready);
  ASSERT_EQ(PortFrom(*ready), new_port) << *ready << "\n" << Log();

  auto health = Fetch(new_port, "GET", "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_TRUE(WaitUntil([&] { return Log().find("http GET /healthz 200") != std::string::npos; }))
      << Log();
  EXPECT_TRUE(WaitUntil([&] { return TcpClient::Connect(port_) == nullptr; }));
  EXPECT_EQ(Scrape(new_port).Value("consentd_config_reloads_total", {{"result", "success"}}), 1);
  EXPECT_NE(Log().find("listening on 127.0.0.1:" + std::to_string(new_port) +
                       " (was 127.0.0.1:" + std::to_string(port_) + ")"),
            std::string::npos)
      << Log();
}

// The new address is bound before anything else changes: one that is taken
// fails the whole reload, so the old listener serves on and the log level
// the same file changes is not applied either.
TEST_F(ConsentdProcess, SighupToAListenAddressInUseFailsTheReloadAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(Start(Config("info")));
  const std::uint16_t taken = FreeLoopbackPort();
  const int holder = ListenOnLoopback(taken);
  ASSERT_GE(holder, 0);

  WriteTextFile(config_, Config("debug", taken));
  process_->Signal(SIGHUP);
  ASSERT_TRUE(notify_->WaitFor("RELOADING=1")) << Log();
  auto ready = notify_->WaitFor("READY=1");
  ::close(holder);
  ASSERT_TRUE(ready);
  EXPECT_NE(ready->find("reload failed"), std::string::npos) << *ready;
  EXPECT_NE(Log().find("reload failed"), std::string::npos) << Log();
  EXPECT_NE(Log().find(std::to_string(taken)), std::string::npos) << "the error names the address\n"
                                                                  << Log();

  auto health = Fetch(port_, "GET", "/healthz");
  ASSERT_TRUE(health) << "the old listener stopped";
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(Log().find("http GET /healthz"), std::string::npos) << "debug was applied";
  EXPECT_EQ(Scrape(port_).Value("consentd_config_reloads_total", {{"result", "failure"}}), 1);
}

// --- admin API: POST /api/v1/reload and consentctl reload -------------------

class AdminProcess : public ConsentdProcess {
 protected:
  static constexpr const char* kToken = "test-admin-token-0123456789abcdef";
  std::string AdminConfig(const std::string& level = "info") {
    WriteTextFile(dir_ / "admin_token", std::string(kToken) + "\n");
    return Config(level) + "admin:\n  token_file: admin_token\n";
  }
  std::optional<RawResponse> PostReload(const std::string& authorization) {
    auto client = TcpClient::Connect(port_);
    if (!client) return std::nullopt;
    std::vector<std::string> extra;
    if (!authorization.empty()) extra.push_back("Authorization: " + authorization);
    if (!client->Send(BuildRequest("POST", "/api/v1/reload", "", extra))) return std::nullopt;
    return client->ReadResponse();
  }
};

TEST_F(AdminProcess, ReloadIsRefusedWithoutTheRightBearerTokenAndNothingIsReloaded) {
  ASSERT_NO_FATAL_FAILURE(Start(AdminConfig()));
  for (const std::string& auth : {std::string(), std::string("Bearer wrong-token-0123456789"),
                                 std::string("Basic ") + kToken, std::string(kToken)}) {
    auto r = PostReload(auth);
    ASSERT_TRUE(r) << auth;
    EXPECT_EQ(r->status, 401) << auth;
    EXPECT_EQ(r->Header("www-authenticate"), "Bearer realm=\"consentd\"");
    EXPECT_TRUE(CheckProblem(*r).empty()) << r->body;
  }
  EXPECT_EQ(Log().find("RELOADING"), std::string::npos);
  EXPECT_EQ(Scrape(port_).Value("consentd_config_reloads_total", {{"result", "success"}}), 0);
  EXPECT_NE(Log().find("admin: refused POST /api/v1/reload"), std::string::npos) << Log();
  EXPECT_EQ(Log().find(kToken), std::string::npos) << "the token must never be logged";
}

TEST_F(AdminProcess, EveryAdminRouteIsServedAndGuarded) {
  ASSERT_NO_FATAL_FAILURE(Start(AdminConfig()));
  ASSERT_FALSE(daemon::AdminRoutes().empty());
  for (const daemon::AdminRouteInfo& route : daemon::AdminRoutes()) {
    auto r = Fetch(port_, route.method, route.path);
    ASSERT_TRUE(r) << route.path;
    EXPECT_EQ(r->status, 401) << route.method << " " << route.path
                              << ": served (not 404) and guarded";
  }
}

TEST_F(AdminProcess, ReloadWithTheTokenAppliesTheNewConfig) {
  ASSERT_NO_FATAL_FAILURE(Start(AdminConfig("info")));
  WriteTextFile(config_, AdminConfig("debug"));
  auto r = PostReload(std::string("Bearer ") + kToken);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(nlohmann::json::parse(r->body).at("status"), "reloaded");
  EXPECT_EQ(Scrape(port_).Value("consentd_config_reloads_total", {{"result", "success"}}), 1);
  ASSERT_TRUE(Fetch(port_, "GET", "/healthz"));
  EXPECT_TRUE(WaitUntil([&] { return Log().find("http GET /healthz 200") != std::string::npos; }))
      << "debug level from the reloaded file\n" << Log();
}

// Connectors added to a consentd that started without any need a restart,
// and the refusal names them, not `sync:` keys that did not change (the
// running values were the defaults' only until this was fixed).
TEST_F(AdminProcess, AReloadThatAddsTheFirstConnectorsNamesOnlyThem) {
  ASSERT_NO_FATAL_FAILURE(Start(AdminConfig()));
  for (const char* f : {"hs_token", "hs_secret", "mc_key", "mc_secret"}) {
    WriteTextFile(dir_ / f, "a-secret-value-0123456789\n");
  }
  WriteTextFile(config_, AdminConfig() + R"(connectors:
  hubspot: {kind: hubspot, base_url: "http://127.0.0.1:1", token_file: hs_token,
            client_secret_file: hs_secret}
  mailchimp: {kind: mailchimp, base_url: "http://127.0.0.1:1", api_key_file: mc_key,
              list_id: abc123, webhook_secret_file: mc_secret}
mapping:
  systems:
    hubspot: {kind: hubspot, role: crm}
    mailchimp: {kind: mailchimp, role: journey}
  channels:
    email: {hubspot: EMAIL, mailchimp: email}
  topics:
    - {name: newsletter, channels: [email],
       systems: {hubspot: {subscriptions: {email: 1}}, mailchimp: {interest: abc}}}
  erasure: {hubspot: {mode: delete}, mailchimp: {mode: delete}}
)");
  auto r = PostReload(std::string("Bearer ") + kToken);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
  const std::string detail = nlohmann::json::parse(r->body).at("detail");
  EXPECT_NE(detail.find("connectors.hubspot (added) changed, and needs a restart"),
            std::string::npos)
      << detail;
  EXPECT_NE(detail.find("connectors.mailchimp (added)"), std::string::npos) << detail;
  EXPECT_EQ(detail.find("sync."), std::string::npos) << detail;
}

TEST_F(AdminProcess, ReloadOfABrokenFileAnswers422WithLineAndColumnAndKeepsTheRunningConfig) {
  ASSERT_NO_FATAL_FAILURE(Start(AdminConfig()));
  WriteTextFile(config_, AdminConfig() + "log:\n  levle: debug\n");
  auto r = PostReload(std::string("Bearer ") + kToken);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
  EXPECT_TRUE(CheckProblem(*r).empty()) << r->body;
  const std::string detail = nlohmann::json::parse(r->body).at("detail");
  EXPECT_TRUE(HasDiagnostic(detail, "consentd.yaml")) << detail;
  EXPECT_EQ(Scrape(port_).Value("consentd_config_reloads_total", {{"result", "failure"}}), 1);
  auto health = Fetch(port_, "GET", "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(ConsentdProcess, AdminApiIsOffWithoutATokenFileAndSaysHowToTurnItOn) {
  ASSERT_NO_FATAL_FAILURE(Start(Config()));
  auto r = Fetch(port_, "POST", "/api/v1/reload");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("admin.token_file"), std::string::npos) << r->body;
  EXPECT_EQ(Scrape(port_).Value("consentd_config_reloads_total", {{"result", "success"}}), 0);
}

// consentctl holds a token, the daemon runs without: erase and export are
// errors (exit 1), not "nobody has that address" (exit 3, which a script
// would take as done).
TEST_F(ConsentdProcess, ConsentctlEraseAtADaemonWhoseAdminApiIsOffFailsInsteadOfSayingNobody) {
  ASSERT_NO_FATAL_FAILURE(Start(Config()));
  WriteTextFile(dir_ / "admin_token", "test-admin-token-0123456789abcdef\n");
  const std::string url = "http://127.0.0.1:" + std::to_string(port_);
  const std::string token = (dir_ / "admin_token").string();
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"erase", "--email", "ann@example.org"},
        std::vector<std::string>{"export", "--email", "ann@example.org", "--deliver"}}) {
    std::vector<std::string> all = args;
    for (const std::string& a : std::vector<std::string>{"--config", config_.string(), "--url", url,
                                                         "--token-file", token}) {
      all.push_back(a);
    }
    CommandResult r = RunConsentctl(all);
    EXPECT_EQ(r.exit_code, 1) << args[0] << ": " << r.output;
    EXPECT_NE(r.output.find("admin API off"), std::string::npos) << r.output;
  }
  // Nor is any other 404 (here: a wrong base URL path).
  CommandResult wrong =
      RunConsentctl({"erase", "--email", "ann@example.org", "--config", config_.string(), "--url",
                     url + "/nowhere", "--token-file", token});
  EXPECT_EQ(wrong.exit_code, 1) << wrong.output;
  EXPECT_NE(wrong.output.find("HTTP 404"), std::string::npos) << wrong.output;
}

TEST_F(ConsentdProcess, ATooShortAdminTokenIsAStartFailureNamingTheFile) {
  WriteTextFile(dir_ / "admin_token", "short\n");
  WriteTextFile(config_, Config() + "admin:\n  token_file: admin_token\n");
  process_ = std::make_unique<Process>(std::vector<std::string>{"--config", config_.string()},
                                       std::vector<std::string>{}, log_);
  EXPECT_EQ(process_->WaitExit(), 1);
  // Refused when the configuration is read, at the key's value.
  EXPECT_NE(Log().find("consentd.yaml:"), std::string::npos) << Log();
  EXPECT_NE(Log().find("admin_token has 5 characters"), std::string::npos) << Log();
  EXPECT_NE(Log().find("at least 16"), std::string::npos) << Log();
}

TEST_F(AdminProcess, ConsentctlReloadGoesThroughTheApiAndRefusesToSendABrokenFile) {
  ASSERT_NO_FATAL_FAILURE(Start(AdminConfig()));
  const std::string url = "http://127.0.0.1:" + std::to_string(port_);
  CommandResult ok = RunConsentctl({"reload", "--config", config_.string(), "--url", url});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("reloaded"), std::string::npos) << ok.output;
  EXPECT_EQ(Scrape(port_).Value("consentd_config_reloads_total", {{"result", "success"}}), 1);

  WriteTextFile(config_, AdminConfig() + "log:\n  levle: debug\n");
  CommandResult bad = RunConsentctl({"reload", "--config", config_.string(), "--url", url});
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_TRUE(HasDiagnostic(bad.output, "consentd.yaml")) << bad.output;
  EXPECT_NE(bad.output.find("not sent"), std::string::npos) << bad.output;
  // Refused before sending: the daemon saw no reload at all.
  EXPECT_EQ(Scrape(port_).Value("consentd_config_reloads_total", {{"result", "failure"}}), 0);

  WriteTextFile(config_, AdminConfig());
  WriteTextFile(dir_ / "other_token", "another-token-0123456789abcdef\n");
  CommandResult wrong = RunConsentctl({"reload", "--config", config_.string(), "--url", url,
                                       "--token-file", (dir_ / "other_token").string()});
  EXPECT_EQ(wrong.exit_code, 1) << wrong.output;
  EXPECT_NE(wrong.output.find("consentd at " + url + " refused the admin token in " +
                              (dir_ / "other_token").string()),
            std::string::npos)
      << wrong.output;
}

// consentctl reload takes the address and the token from the file it sends;
// where the file changes either, the daemon still has the old one, and the
// failure says so and names the ways round it.
TEST_F(AdminProcess, ConsentctlReloadOfAFileThatMovesTheListenerOrTheTokenSaysWhatToDo) {
  ASSERT_NO_FATAL_FAILURE(Start(AdminConfig()));
  const std::uint16_t elsewhere = FreeLoopbackPort();
  WriteTextFile(config_, Config("info", elsewhere) + "admin:\n  token_file: admin_token\n");
  CommandResult moved = RunConsentctl({"reload", "--config", config_.string()});
  EXPECT_EQ(moved.exit_code, 1) << moved.output;
  EXPECT_NE(
      moved.output.find("cannot reach consentd at http://127.0.0.1:" + std::to_string(elsewhere)),
      std::string::npos)
      << moved.output;
  EXPECT_NE(moved.output.find("consentd still listens on the old address: pass it with --url, "
                              "or use 'systemctl reload consentd' (SIGHUP)"),
            std::string::npos)
      << moved.output;

  WriteTextFile(config_, AdminConfig());
  WriteTextFile(dir_ / "admin_token", "a-new-token-0123456789abcdef\n");
  const std::string url = "http://127.0.0.1:" + std::to_string(port_);
  CommandResult rotated = RunConsentctl({"reload", "--config", config_.string(), "--url", url});
  EXPECT_EQ(rotated.exit_code, 1) << rotated.output;
  EXPECT_NE(rotated.output.find("the running consentd still expects the old one: pass it with "
                                "--token-file, or use 'systemctl reload consentd' (SIGHUP)"),
            std::string::npos)
      << rotated.output;
  // SIGHUP reads the new token, after which consentctl gets through with it.
  process_->Signal(SIGHUP);
  ASSERT_TRUE(notify_->WaitFor("READY=1")) << Log();
  CommandResult after = RunConsentctl({"reload", "--config", config_.string(), "--url", url});
  EXPECT_EQ(after.exit_code, 0) << after.output;
  // A base URL written with a trailing slash is the same consentd.
  CommandResult slash = RunConsentctl({"reload", "--config", config_.string(), "--url", url + "/"});
  EXPECT_EQ(slash.exit_code, 0) << slash.output;
}

TEST_F(ConsentdProcess, SigtermLetsAnInFlightRequestFinishThenExitsZero) {
  ASSERT_NO_FATAL_FAILURE(Start(Config()));
  auto slow = TcpClient::Connect(port_);
  ASSERT_TRUE(slow);
  const std::string req = BuildRequest("GET", "/healthz", "0123456789");
  ASSERT_TRUE(slow->Send(req.substr(0, req.size() - 5)));
  // In flight: the slow request plus the scrape that observes it.
  ASSERT_TRUE(WaitUntil(
      [&] { return Scrape(port_).Value("consentd_http_requests_in_flight").value_or(0) >= 2; }));

  process_->Signal(SIGTERM);
  ASSERT_TRUE(notify_->WaitFor("STOPPING=1")) << Log();
  ASSERT_TRUE(slow->Send(req.substr(req.size() - 5)));
  auto r = slow->ReadResponse();
  ASSERT_TRUE(r) << Log();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_EQ(process_->WaitExit(), 0) << Log();
  EXPECT_NE(Log().find("store closed"), std::string::npos) << Log();
}

TEST_F(ConsentdProcess, SigtermWithAStalledRequestExitsZeroAfterTheDeadline) {
  ASSERT_NO_FATAL_FAILURE(Start(Config("info", 0, "shutdown:\n  deadline: 300ms\n")));
  auto stalled = TcpClient::Connect(port_);
  ASSERT_TRUE(stalled);
  ASSERT_TRUE(stalled->Send("GET /healthz HTTP/1.1\r\n"));
  ASSERT_TRUE(WaitUntil(
      [&] { return Scrape(port_).Value("consentd_http_requests_in_flight").value_or(0) >= 2; }));
  process_->Signal(SIGTERM);
  EXPECT_EQ(process_->WaitExit(), 0) << Log();
  EXPECT_TRUE(stalled->WaitForClose());
}

TEST_F(ConsentdProcess, WatchdogPingsWhileIoLoopAndStoreMakeProgress) {
  ASSERT_NO_FATAL_FAILURE(Start(Config(), {"WATCHDOG_USEC=1000000"}));
  ASSERT_TRUE(notify_->WaitFor("WATCHDOG=1")) << Log();
  ASSERT_TRUE(notify_->WaitFor("WATCHDOG=1")) << Log();
  process_->Signal(SIGTERM);
  EXPECT_EQ(process_->WaitExit(), 0) << Log();
}

TEST_F(ConsentdProcess, SendsNoWatchdogWithoutWatchdogUsec) {
  ASSERT_NO_FATAL_FAILURE(Start(Config()));
  process_->Signal(SIGTERM);
  ASSERT_TRUE(notify_->WaitFor("STOPPING=1"));
  EXPECT_EQ(process_->WaitExit(), 0) << Log();
  for (const auto& m : notify_->all()) EXPECT_EQ(m.find("WATCHDOG=1"), std::string::npos);
}

TEST_F(ConsentdProcess, JournalStreamGetsSyslogLevelPrefixes) {
  WriteTextFile(log_, "");
  struct stat st {};
  ASSERT_EQ(::stat(log_.c_str(), &st), 0);
  const std::string stream = std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
                             std::to_string(static_cast<unsigned long long>(st.st_ino));
  ASSERT_NO_FATAL_FAILURE(Start(Config(), {"JOURNAL_STREAM=" + stream}));
  const std::string log = Log();
  EXPECT_NE(log.find("<6>info  listening on 127.0.0.1:"), std::string::npos) << log;
}

TEST_F(ConsentdProcess, JsonLogFormatWritesOneJsonObjectPerLine) {
  ASSERT_NO_FATAL_FAILURE(Start(Config("info", 0, "  format: json\n")));
  process_->Signal(SIGTERM);
  EXPECT_EQ(process_->WaitExit(), 0);
  std::istringstream lines(Log());
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << line;
    if (!j.is_discarded()) {
      EXPECT_TRUE(j.contains("message")) << line;
    }
    ++n;
  }
  EXPECT_GT(n, 2);
}

// A second consentd on the same database is refused before it opens the
// store (it would claim, poll and deliver everything a second time); the
// first keeps running, and once it stopped the database is free again.
TEST_F(ConsentdProcess, ASecondConsentdOnTheSameDatabaseIsRefusedAndTheFirstRunsOn) {
  ASSERT_NO_FATAL_FAILURE(Start(Config()));
  const fs::path second_log = dir_ / "second.log";
  Process second({"--config", config_.string()}, {}, second_log);
  EXPECT_EQ(second.WaitExit(), 1) << ReadTextFile(second_log);
  const std::string refused = ReadTextFile(second_log);
  EXPECT_NE(refused.find("another consentd is running on " + (dir_ / "state.db").string()),
            std::string::npos)
      << refused;
  EXPECT_EQ(refused.find("store open"), std::string::npos) << refused;
  auto health = Fetch(port_, "GET", "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  process_->Signal(SIGTERM);
  ASSERT_EQ(process_->WaitExit(), 0) << Log();
  Process third({"--config", config_.string()}, {}, dir_ / "third.log");
  EXPECT_TRUE(WaitUntil([&] {
    return ReadTextFile(dir_ / "third.log").find("ready") != std::string::npos;
  })) << ReadTextFile(dir_ / "third.log");
  third.Signal(SIGTERM);
  EXPECT_EQ(third.WaitExit(), 0) << ReadTextFile(dir_ / "third.log");
}

TEST_F(ConsentdProcess, StartupFailureExitsOneWithTheReason) {
  // Hold a port so that the daemon cannot listen on it.
  int holder = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(holder, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(holder, reinterpret_cast<sockaddr*>(&addr), &len);
  WriteTextFile(config_, Config("info", ntohs(addr.sin_port)));
  Process p({"--config", config_.string()}, {"NOTIFY_SOCKET=" + notify_->name()}, log_);
  EXPECT_EQ(p.WaitExit(), 1) << Log();
  EXPECT_NE(Log().find("cannot listen"), std::string::npos) << Log();
  for (const auto& m : notify_->all()) EXPECT_EQ(m.find("READY=1"), std::string::npos);
  ::close(holder);
}

// An erasure left out of the ledger would not be re-applied after a restore
// from a backup: consentd does not start where it cannot write the ledger,
// says why, and leaves the database free for the start that follows the fix.
TEST_F(ConsentdProcess, ALedgerThatCannotBeWrittenIsAStartFailureNamingIt) {
  const fs::path missing = dir_ / "no-such-dir" / "erasures.ledger";
  WriteTextFile(config_,
                Config("info", 0, "sync:\n  erasure_ledger_file: " + missing.string() + "\n"));
  Process p({"--config", config_.string()}, {"NOTIFY_SOCKET=" + notify_->name()}, log_);
  EXPECT_EQ(p.WaitExit(), 1) << Log();
  EXPECT_NE(Log().find("sync.erasure_ledger_file: erasure ledger " + missing.string() +
                       " cannot be written (its directory " + (dir_ / "no-such-dir").string()),
            std::string::npos)
      << Log();
  for (const auto& m : notify_->all()) EXPECT_EQ(m.find("READY=1"), std::string::npos);

  fs::create_directory(dir_ / "no-such-dir");
  ASSERT_NO_FATAL_FAILURE(
      Start(Config("info", 0, "sync:\n  erasure_ledger_file: " + missing.string() + "\n")));
  process_->Signal(SIGTERM);
  EXPECT_EQ(process_->WaitExit(), 0) << Log();
}

TEST_F(ConsentdProcess, CheckConfigExitsZeroWhenValidAndOneWithLineAndColumn) {
  WriteTextFile(config_, Config());
  Process good({"--check-config", config_.string()}, {}, log_);
  EXPECT_EQ(good.WaitExit(), 0) << Log();

  const fs::path bad = dir_ / "bad.yaml";
  WriteTextFile(bad, Config() + "  levle: debug\n");
  Process broken({"--check-config", bad.string()}, {}, log_);
  EXPECT_EQ(broken.WaitExit(), 1) << Log();
  EXPECT_TRUE(HasDiagnostic(Log(), "bad.yaml")) << Log();
}

TEST_F(ConsentdProcess, VersionPrintsTheVersion) {
  Process p({"--version"}, {}, log_);
  EXPECT_EQ(p.WaitExit(), 0);
  EXPECT_EQ(Log(), "consentd 0.1.0\n");
}

struct CliRun {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

CliRun Consentctl(const std::string& args) {
  const std::string cmd = std::string(CONSENTD_BINARY_DIR) + "/cli/consentctl " + args + " 2>&1";
  CliRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Appends `count` entries to the proof log while consentd is not running
// (as the sync engine will while it runs).
void AppendEntries(const fs::path& db, int count) {
  store::SqliteStoreOptions o;
  o.path = db.string();
  auto opened = store::SqliteStore::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::vector<ProofEntry> entries;
  for (int i = 0; i < count; ++i) {
    ProofEntry e;
    e.recorded_at = 1764400000000 + i;
    e.occurred_at = 1764399999000 + i;
    e.subject = "subject-" + std::to_string(i);
    e.kind = ProofKind::kDecided;
    e.topic = "newsletter";
    e.channel = "email";
    e.old_status = "not_asked";
    e.new_status = "granted";
    e.legal_basis = "eu-gdpr:A6-1-a";
    e.source_system = "hubspot";
    e.source_event_id = "evt-" + std::to_string(i);
    entries.push_back(std::move(e));
  }
  Status s = (*opened)->Run([&](store::Transaction& txn) {
    return store::AppendProofEntries(txn, entries, 1764400001000).status();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE((*opened)->Close().ok());
}

TEST_F(ConsentdProcess, FirstStartCreatesA0600SigningKeyAndTheLogVerifies) {
  ASSERT_NO_FATAL_FAILURE(Start(Config()));
  process_->Signal(SIGTERM);
  ASSERT_EQ(process_->WaitExit(), 0) << Log();

  const fs::path key = dir_ / "proof_signing.key";
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0) << Log();
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(Log().find("verifier key consentd/proof-log+"), std::string::npos) << Log();
  EXPECT_EQ(Log().find(ReadTextFile(key)), std::string::npos) << "private key logged";

  const CliRun verify = Consentctl("verify --config '" + config_.string() + "'");
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  EXPECT_EQ(verify.out.rfind("OK: 0 entries", 0), 0u) << verify.out;
}

TEST_F(ConsentdProcess, SecondStartReusesTheKeyAndSignsNewEntriesAtShutdown) {
  ASSERT_NO_FATAL_FAILURE(Start(Config()));
  process_->Signal(SIGTERM);
  ASSERT_EQ(process_->WaitExit(), 0) << Log();
  const CliRun key1 = Consentctl("log key --config '" + config_.string() + "'");
  ASSERT_EQ(key1.exit_code, 0) << key1.out;

  ASSERT_NO_FATAL_FAILURE(AppendEntries(dir_ / "state.db", 3));
  ASSERT_NO_FATAL_FAILURE(Start(Config()));
  process_->Signal(SIGTERM);
  ASSERT_EQ(process_->WaitExit(), 0) << Log();

  const CliRun key2 = Consentctl("log key --config '" + config_.string() + "'");
  EXPECT_EQ(key2.exit_code, 0) << key2.out;
  EXPECT_EQ(key2.out, key1.out);
  // The final checkpoint covers the three entries appended while stopped.
  const CliRun checkpoint = Consentctl("log checkpoint --config '" + config_.string() + "'");
  EXPECT_EQ(checkpoint.exit_code, 0) << checkpoint.out;
  EXPECT_EQ(checkpoint.out.rfind("consentd/proof-log\n3\n", 0), 0u) << checkpoint.out;
  const CliRun verify = Consentctl("verify --config '" + config_.string() + "'");
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  EXPECT_EQ(verify.out.rfind("OK: 3 entries, 1 checkpoint verified", 0), 0u) << verify.out;
  // The journal keeps the signed size and root, outside the database:
  // a checkpoint's third line is its root.
  std::istringstream lines(checkpoint.out);
  std::string origin, size, root;
  std::getline(lines, origin);
  std::getline(lines, size);
  std::getline(lines, root);
  EXPECT_NE(Log().find("proof log checkpoint signed: 3 entries, root " + root), std::string::npos)
      << root << "\n"
      << Log();
}

TEST_F(ConsentdProcess, ConfiguredKeyFileIsUsedByConsentdAndConsentctl) {
  fs::create_directory(dir_ / "keys");
  ASSERT_NO_FATAL_FAILURE(Start(Config("info", 0,
                                       "proof_log:\n  signing_key_file: keys/log.key\n"
                                       "  origin: example.org/consent\n")));
  process_->Signal(SIGTERM);
  ASSERT_EQ(process_->WaitExit(), 0) << Log();
  EXPECT_TRUE(fs::exists(dir_ / "keys/log.key"));
  EXPECT_FALSE(fs::exists(dir_ / "proof_signing.key"));
  const CliRun key = Consentctl("log key --config '" + config_.string() + "'");
  EXPECT_EQ(key.exit_code, 0) << key.out;
  EXPECT_EQ(key.out.rfind("example.org/consent+", 0), 0u) << key.out;
  EXPECT_EQ(Consentctl("verify --config '" + config_.string() + "'").exit_code, 0);
}

TEST_F(ConsentdProcess, IntervalCheckpointIsSignedWhileRunningAndKeyChangeNeedsARestart) {
  ASSERT_NO_FATAL_FAILURE(AppendEntries(dir_ / "state.db", 2));
  const std::string interval = "proof_log:\n  checkpoint_interval: 1s\n";
  ASSERT_NO_FATAL_FAILURE(Start(Config("info", 0, interval)));
  const std::string checkpoint = "log checkpoint --config '" + config_.string() + "'";
  EXPECT_TRUE(WaitUntil([&] { return Consentctl(checkpoint).exit_code == 0; })) << Log();
  EXPECT_EQ(Consentctl(checkpoint).out.rfind("consentd/proof-log\n2\n", 0), 0u);

  WriteTextFile(config_, Config("info", 0, interval + "  signing_key_file: other.key\n"));
  process_->Signal(SIGHUP);
  EXPECT_TRUE(WaitUntil([&] {
    return Log().find("proof_log.signing_key_file/origin changed: takes effect after a restart") !=
           std::string::npos;
  })) << Log();
  process_->Signal(SIGTERM);
  ASSERT_EQ(process_->WaitExit(), 0) << Log();
  EXPECT_FALSE(fs::exists(dir_ / "other.key"));
}

// A failed fsync of the WAL stops the store: the kernel may have dropped
// pages SQLite took as written, so nothing is acknowledged any more. consentd
// exits 1 (systemd's Restart=on-failure starts it again, and SQLite recovers
// from what is on disk) instead of staying up refusing every write. The
// failure is real to consentd: fdatasync() itself returns EIO.
TEST_F(ConsentdProcess, AFailedFsyncMakesConsentdExitOneSoThatItIsRestarted) {
  // The preloaded library comes before the sanitizer runtime (asan preset).
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::optional<std::string> asan_before =
      asan != nullptr ? std::optional<std::string>(asan) : std::nullopt;
  const std::string asan_options =
      ((asan != nullptr && *asan != '\0') ? std::string(asan) + ":" : std::string()) +
      "verify_asan_link_order=0";
  ::setenv("ASAN_OPTIONS", asan_options.c_str(), 1);
  const auto restore_asan_options = [&] {
    if (asan_before) {
      ::setenv("ASAN_OPTIONS", asan_before->c_str(), 1);
    } else {
      ::unsetenv("ASAN_OPTIONS");
    }
  };
  const fs::path flag = dir_ / "fail-fdatasync";
  const std::string config = Config("info", 0, "proof_log:\n  checkpoint_interval: 1s\n");
  ASSERT_NO_FATAL_FAILURE(Start(config, {std::string("LD_PRELOAD=") + FAIL_FDATASYNC_PRELOAD,
                                         "CONSENTD_TEST_FAIL_FDATASYNC_IF=" + flag.string()}));
  restore_asan_options();
  WriteTextFile(flag, "");
  // New entries: the next interval's checkpoint is a durable commit.
  ASSERT_NO_FATAL_FAILURE(AppendEntries(dir_ / "state.db", 2));
  const std::optional<int> code = process_->WaitExit();
  ASSERT_TRUE(code.has_value()) << "still running after a failed fsync; log:\n" << Log();
  EXPECT_EQ(*code, 1) << Log();
  EXPECT_NE(Log().find("store stopped: "), std::string::npos) << Log();
  EXPECT_NE(Log().find("exiting with code 1 so that consentd is restarted"), std::string::npos)
      << Log();
  // It stopped without checkpointing (what it held in memory is not
  // trusted), though the disk flushes again (one fdatasync failed): the
  // WAL is left for the restart, which recovers from it.
  EXPECT_FALSE(fs::exists(flag)) << "the failure was never injected";
  EXPECT_TRUE(fs::exists(dir_ / "state.db-wal"));
  ASSERT_NO_FATAL_FAILURE(Start(config));
  auto ready = Fetch(port_, "GET", "/readyz");
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->status, 200) << ready->body;
  process_->Signal(SIGTERM);
  EXPECT_EQ(process_->WaitExit(), 0) << Log();
}

TEST_F(ConsentdProcess, GroupReadableSigningKeyIsAStartFailureNamingTheKey) {
  ASSERT_NO_FATAL_FAILURE(Start(Config()));
  process_->Signal(SIGTERM);
  ASSERT_EQ(process_->WaitExit(), 0) << Log();
  const fs::path key = dir_ / "proof_signing.key";
  ASSERT_EQ(::chmod(key.c_str(), 0644), 0);

  Process p({"--config", config_.string()}, {"NOTIFY_SOCKET=" + notify_->name()}, log_);
  EXPECT_EQ(p.WaitExit(), 1) << Log();
  EXPECT_NE(Log().find("proof_log: signing key " + key.string()), std::string::npos) << Log();
}

}  // namespace
}  // namespace consentd::testing
