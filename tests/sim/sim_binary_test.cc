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

namespace consentd::sim {
namespace {

class SimBinary : public ::testing::Test {
 protected:
  // Starts consentd-sim with `args`; reads the two "listening on" lines.
  void Start(std::vector<std::string> args) {
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

}  // namespace
}  // namespace consentd::sim
