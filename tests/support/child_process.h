// Test support: consentd, consentctl and consentd-sim as real child
// processes (fork/exec), their output in a log file, and the small file and
// port helpers the process-level tests share. Every wait has a timeout;
// nothing here measures time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdio>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace consentd::testing {

// A fresh directory under /tmp, removed (with its content) on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "consentd-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Writes `text` to `p`, mode 0600.
void WriteTextFile(const std::filesystem::path& p, const std::string& text);
std::string ReadTextFile(const std::filesystem::path& p);

// A loopback port that was free a moment ago.
std::uint16_t FreeLoopbackPort();

// A socket listening on 127.0.0.1:`port` (another program holding the
// port), or -1 if it cannot be bound; the caller closes it.
int ListenOnLoopback(std::uint16_t port, int backlog = 4);

// A child process; stdout and stderr appended to `log`. The environment is
// the test's own minus systemd's variables (NOTIFY_SOCKET, WATCHDOG_*,
// JOURNAL_STREAM, LISTEN_*), plus `env`. Killed (SIGKILL) on destruction
// if still running.
class ChildProcess {
 public:
  ChildProcess(const std::string& binary, std::vector<std::string> args,
               const std::vector<std::string>& env, const std::filesystem::path& log);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // The exit code (128 + signal if killed by one), or nullopt if still
  // running after `timeout`.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// Paths of the binaries under test.
std::string ConsentdBinary();
std::string ConsentctlBinary();
std::string SimBinary();

// consentd-sim on ephemeral loopback ports (both systems), started with
// `extra_args`; the ports are read from its "listening on" lines.
class SimProcess {
 public:
  SimProcess(std::vector<std::string> extra_args, const std::filesystem::path& log);
  ~SimProcess();
  SimProcess(const SimProcess&) = delete;
  SimProcess& operator=(const SimProcess&) = delete;

  bool ok() const { return crm_port_ != 0 && journey_port_ != 0; }
  std::uint16_t crm_port() const { return crm_port_; }
  std::uint16_t journey_port() const { return journey_port_; }
  void Signal(int sig);
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::uint16_t crm_port_ = 0;
  std::uint16_t journey_port_ = 0;
  std::FILE* stdout_ = nullptr;
};

// Runs consentctl to its exit, in `working_dir` if given (else the test's
// own); output is stdout and stderr together.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult RunConsentctl(const std::vector<std::string>& args,
                            const std::string& working_dir = "");

}  // namespace consentd::testing
