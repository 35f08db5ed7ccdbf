// The consentd-sim binary: both systems from one command on ephemeral
// ports, the control API on both, graceful exit on SIGTERM.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sim/http_client.h"
#include "sim/mailchimp/subscriber_hash.h"

namespace consentd::sim {
namespace {

class SimBinary : public ::testing::Test {
 protected:
  // Starts consentd-sim with `args`; reads the two "listening on" lines.
  void Start(std::vector<std::string> args) {
    if (stdout_) std::fclose(stdout_);
    stdout_ = nullptr;
    crm_port_ = journey_port_ = 0;
    int out[2];
    ASSERT_EQ(pipe(out), 0);
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      std::vector<char*> argv;
      static std::string bin = std::string(CONSENTD_BINARY_DIR) + "/sim/consentd-sim";
      argv.push_back(bin.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    close(out[1]);
    stdout_ = fdopen(out[0], "r");
    char line[256];
    for (int i = 0; i < 2 && std::fgets(line, sizeof line, stdout_); ++i) {
      std::string l(line);
      const size_t colon = l.rfind(':');
      const int port = std::stoi(l.substr(colon + 1));
      (l.find("hubspot") != std::string::npos ? crm_port_ : journey_port_) = port;
    }
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_) std::fclose(stdout_);
  }
  int Stop() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // Runs consentd-sim to its exit; returns the exit code and its stderr.
  static std::pair<int, std::string> RunToExit(std::vector<std::string> args) {
    int err[2];
    if (pipe(err) != 0) return {-1, "pipe"};
    const pid_t pid = fork();
    if (pid == 0) {
      dup2(err[1], STDERR_FILENO);
      close(err[0]);
      close(err[1]);
      std::vector<char*> argv;
      static std::string bin = std::string(CONSENTD_BINARY_DIR) + "/sim/consentd-sim";
      argv.push_back(bin.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    close(err[1]);
    std::string text;
    char buf[512];
    for (ssize_t n; (n = read(err[0], buf, sizeof buf)) > 0;)
      text.append(buf, static_cast<size_t>(n));
    close(err[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
  }
  static Result<ClientResponse> Send(int port, const std::string& method, const std::string& target,
                                     const std::string& body, net::HeaderList h = {}) {
    return HttpRequestSync({method, "http://127.0.0.1:" + std::to_string(port) + target,
                            std::move(h), "application/json", body,
                            std::chrono::milliseconds(10000)});
  }
  static Result<ClientResponse> Get(int port, const std::string& target, net::HeaderList h = {}) {
    return HttpRequestSync({"GET", "http://127.0.0.1:" + std::to_string(port) + target,
                            std::move(h), "", "", std::chrono::milliseconds(10000)});
  }

  pid_t pid_ = -1;
  FILE* stdout_ = nullptr;
  int crm_port_ = 0, journey_port_ = 0;
};

TEST_F(SimBinary, ServesBothSystemsAndStopsOnSigterm) {
  Start({"--crm-listen", "127.0.0.1:0", "--journey-listen", "127.0.0.1:0", "--seed", "5",
         "--crm-seed-contacts", "3", "--hubspot-token", "tok"});
  ASSERT_GT(crm_port_, 0);
  ASSERT_GT(journey_port_, 0);
  auto contacts = Get(crm_port_, "/crm/v3/objects/contacts", {{"Authorization", "Bearer tok"}});
  ASSERT_TRUE(contacts.ok());
  EXPECT_EQ(contacts->status, 200);
  EXPECT_EQ(nlohmann::json::parse(contacts->body)["results"].size(), 3u);
  // The control API answers on both ports with the whole state.
  for (int port : {crm_port_, journey_port_}) {
    auto state = Get(port, "/_sim/state");
    ASSERT_TRUE(state.ok());
    auto j = nlohmann::json::parse(state->body);
    EXPECT_TRUE(j.contains("hubspot"));
    EXPECT_TRUE(j.contains("mailchimp"));
  }
  EXPECT_EQ(Stop(), 0);
}

TEST_F(SimBinary, ReadsSettingsFromYaml) {
  const std::string file = ::testing::TempDir() + "/consentd-sim-test.yaml";
  std::ofstream(file) << "seed: 9\ncrm:\n  listen: 127.0.0.1:0\n  token: yaml-token\n"
                         "journey:\n  listen: 127.0.0.1:0\n";
  Start({"--config", file});
  ASSERT_GT(crm_port_, 0);
  auto r = Get(crm_port_, "/crm/v3/objects/contacts", {{"Authorization", "Bearer yaml-token"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Stop(), 0);
}

TEST_F(SimBinary, StateFileKeepsChangesAcrossARestart) {
  const std::string file = ::testing::TempDir() + "/consentd-sim-state-test.json";
  std::remove(file.c_str());
  const std::vector<std::string> args = {
      "--crm-listen",    "127.0.0.1:0", "--journey-listen", "127.0.0.1:0",
      "--hubspot-token", "tok",         "--state-file",     file};
  const net::HeaderList hs_auth = {{"Authorization", "Bearer tok"}};
  const net::HeaderList mc_auth = {
      {"Authorization", "Bearer 00000000000000000000000000000000-us1"}};
  Start(args);
  ASSERT_GT(crm_port_, 0);
  auto created = Send(crm_port_, "POST", "/crm/v3/objects/contacts",
                      R"({"properties":{"email":"keep@example.com"}})", hs_auth);
  ASSERT_TRUE(created.ok());
  ASSERT_EQ(created->status, 201) << created->body;
  const std::string kept_id = nlohmann::json::parse(created->body)["id"];
  auto gone = Send(crm_port_, "POST", "/crm/v3/objects/contacts",
                   R"({"properties":{"email":"gone@example.com"}})", hs_auth);
  ASSERT_TRUE(gone.ok());
  const std::string gone_id = nlohmann::json::parse(gone->body)["id"];
  auto deleted = Send(crm_port_, "POST", "/crm/v3/objects/contacts/gdpr-delete",
                      R"({"objectId":")" + gone_id + R"("})", hs_auth);
  ASSERT_TRUE(deleted.ok());
  ASSERT_EQ(deleted->status, 204) << deleted->body;
  auto state = Get(journey_port_, "/_sim/mailchimp/state");
  ASSERT_TRUE(state.ok());
  const std::string list_id = nlohmann::json::parse(state->body)["list"]["id"];
  const std::string member_path =
      "/3.0/lists/" + list_id + "/members/" + mailchimp::SubscriberHash("member@example.com");
  auto put =
      Send(journey_port_, "PUT", member_path,
           R"({"email_address":"member@example.com","status_if_new":"subscribed"})", mc_auth);
  ASSERT_TRUE(put.ok());
  ASSERT_EQ(put->status, 200) << put->body;
  EXPECT_EQ(Stop(), 0);
  ASSERT_TRUE(std::ifstream(file).good());

  Start(args);
  ASSERT_GT(crm_port_, 0);
  auto read = Get(crm_port_, "/crm/v3/objects/contacts/" + kept_id, hs_auth);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->status, 200) << read->body;
  auto again = Send(crm_port_, "POST", "/crm/v3/objects/contacts",
                    R"({"properties":{"email":"gone@example.com"}})", hs_auth);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->status, 201) << again->body;  // still blocklisted
  auto member = Get(journey_port_, member_path, mc_auth);
  ASSERT_TRUE(member.ok());
  EXPECT_EQ(member->status, 200) << member->body;
  EXPECT_EQ(nlohmann::json::parse(member->body)["status"], "subscribed");
  EXPECT_EQ(Stop(), 0);
  std::remove(file.c_str());
}

TEST_F(SimBinary, CorruptStateFileExitsNonZeroNamingTheFile) {
  const std::string file = ::testing::TempDir() + "/consentd-sim-corrupt-state.json";
  std::ofstream(file) << "{\"version\":1,\"hubspot\":";
  auto [code, err] = RunToExit(
      {"--crm-listen", "127.0.0.1:0", "--journey-listen", "127.0.0.1:0", "--state-file", file});
  EXPECT_NE(code, 0);
  EXPECT_NE(err.find(file), std::string::npos) << err;
  std::remove(file.c_str());
}

}  // namespace
}  // namespace consentd::sim
