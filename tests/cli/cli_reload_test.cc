// consentctl reload reads the daemon's answer: each connector's check is
// printed, and a reload applied while one failed or had not answered exits
// 3 (in force, not ready), one where all passed exits 0. The daemon's side
// (the answer waiting for the checks) is tested end to end in
// tests/e2e/admin_e2e_test.cc; here a canned answer on a real loopback
// server covers the answers that need a check to hang (ready: null).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <thread>

#include "net/http_server.h"
#include "tests/support/child_process.h"

namespace consentd::cli {
namespace {

using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunConsentctl;
using testing::TempDir;
using testing::WriteTextFile;

constexpr const char* kToken = "cli-reload-token-0123456789abcdef";

// Answers every request with `body` (200), as consentd's admin API would.
class CannedDaemon {
 public:
  explicit CannedDaemon(std::string body) : body_(std::move(body)) {
    server_ = std::make_unique<net::HttpServer>(io_, net::HttpServerOptions{},
                                                [this](net::HttpRequest, net::Responder respond) {
                                                  respond({200, "application/json", {}, body_});
                                                });
    EXPECT_TRUE(server_->Start().ok());
    thread_ = std::thread([this] { io_.run(); });
  }
  ~CannedDaemon() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

 private:
  std::string body_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  std::unique_ptr<net::HttpServer> server_;
  std::thread thread_;
};

CommandResult ReloadAgainst(const std::string& answer) {
  TempDir dir("cli-reload");
  WriteTextFile(dir.path() / "admin_token", std::string(kToken) + "\n");
  WriteTextFile(dir.path() / "consentd.yaml", "http:\n  listen: \"127.0.0.1:0\"\nstore:\n  path: " +
                                                  (dir.path() / "state.db").string() +
                                                  "\nadmin:\n  token_file: admin_token\n");
  CannedDaemon daemon(answer);
  return RunConsentctl(
      {"reload", "--config", (dir.path() / "consentd.yaml").string(), "--url", daemon.url()});
}

TEST(CliReload, EveryCheckPassedExitsZeroAndSaysSo) {
  CommandResult r = ReloadAgainst(
      R"({"status":"reloaded","connectors":[{"name":"hubspot","ready":true,"check":"ok"},)"
      R"({"name":"mailchimp","ready":true,"check":"ok"}]})");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("reloaded"));
  EXPECT_THAT(r.output, HasSubstr("hubspot: check passed"));
  EXPECT_THAT(r.output, HasSubstr("mailchimp: check passed"));
  EXPECT_THAT(r.output, Not(HasSubstr("not ready")));
}

TEST(CliReload, AFailedCheckExitsThreeAndNamesItsReason) {
  CommandResult r = ReloadAgainst(
      R"({"status":"reloaded","connectors":[{"name":"hubspot","ready":false,)"
      R"("check":"FAILED_PRECONDITION: HubSpot has no active subscription type 987"},)"
      R"({"name":"mailchimp","ready":true,"check":"ok"}]})");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_THAT(r.output, HasSubstr("hubspot: check FAILED: FAILED_PRECONDITION: HubSpot has no "
                                  "active subscription type 987"));
  EXPECT_THAT(r.output, HasSubstr("mailchimp: check passed"));
  EXPECT_THAT(r.output, HasSubstr("in force"));
  EXPECT_THAT(r.output, HasSubstr("not ready"));
}

// A check that had not answered when the answer was due (ready: null) is
// not taken as passed.
TEST(CliReload, ACheckThatHadNotAnsweredExitsThree) {
  CommandResult r =
      ReloadAgainst(R"({"status":"reloaded","connectors":[{"name":"hubspot","ready":null,)"
                    R"("check":"still running"},{"name":"mailchimp","ready":true,"check":"ok"}]})");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_THAT(r.output, HasSubstr("hubspot: check not answered yet"));
  EXPECT_THAT(r.output, HasSubstr("not ready"));
}

// A daemon without connectors (or one that does not report checks) has
// reloaded: exit 0.
TEST(CliReload, AnAnswerWithoutConnectorsIsAPlainReload) {
  for (const std::string& answer : {std::string(R"({"status":"reloaded","connectors":[]})"),
                                    std::string(R"({"status":"reloaded"})")}) {
    CommandResult r = ReloadAgainst(answer);
    EXPECT_EQ(r.exit_code, 0) << answer << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("reloaded"));
    EXPECT_THAT(r.output, Not(HasSubstr("check")));
  }
}

}  // namespace
}  // namespace consentd::cli
