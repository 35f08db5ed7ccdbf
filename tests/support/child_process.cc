#include "tests/support/child_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

extern char** environ;

namespace consentd::testing {
namespace fs = std::filesystem;

namespace {

std::vector<std::string> ChildEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    std::string v(*e);
    if (v.rfind("NOTIFY_SOCKET=", 0) == 0 || v.rfind("WATCHDOG_", 0) == 0 ||
        v.rfind("JOURNAL_STREAM=", 0) == 0 || v.rfind("LISTEN_", 0) == 0) {
      continue;
    }
    envs.push_back(v);
  }
  envs.insert(envs.end(), extra.begin(), extra.end());
  return envs;
}

// fork + execve with stdout/stderr on `out_fd` (closed in the parent by
// the caller). Returns the child's pid.
pid_t Spawn(const std::string& binary, std::vector<std::string> args,
            const std::vector<std::string>& env, int out_fd, bool stderr_too,
            const std::string& working_dir = "") {
  std::vector<std::string> envs = ChildEnvironment(env);
  args.insert(args.begin(), binary);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_fd, 1);
    if (stderr_too) ::dup2(out_fd, 2);
    if (!working_dir.empty() && ::chdir(working_dir.c_str()) != 0) ::_exit(127);
    ::execve(binary.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

std::optional<int> Reap(pid_t pid, std::optional<int>& exit_code,
                        std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!exit_code) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() >= until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_code;
}

}  // namespace

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void WriteTextFile(const fs::path& p, const std::string& text) {
  {
    std::ofstream out(p, std::ios::trunc);
    out << text;
  }
  // 0600 whatever the umask: tests write secret files with this, and
  // consentd warns about a secret file other users can read.
  std::error_code ec;
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write, ec);
}

std::string ReadTextFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int ListenOnLoopback(std::uint16_t port, int backlog) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, backlog) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::uint16_t FreeLoopbackPort() {
  // Drawn from below the kernel's ephemeral range (32768 and up by
  // default), where every bind to port 0 (the simulator, other tests'
  // servers, outgoing connections) lands: a port handed out here cannot be
  // taken by one of those between this call and the bind of the process
  // it is for. Random, so that tests running in parallel do not draw the
  // same one; checked free by a bind.
  thread_local std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(20000, 32000);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(pick(rng)));
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (free) return ntohs(addr.sin_port);
  }
  // Everything drawn was taken: let the kernel choose, as before.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

ChildProcess::ChildProcess(const std::string& binary, std::vector<std::string> args,
                           const std::vector<std::string>& env, const fs::path& log) {
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_ = Spawn(binary, std::move(args), env, fd, true);
  ::close(fd);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void ChildProcess::Signal(int sig) { ::kill(pid_, sig); }

std::optional<int> ChildProcess::WaitExit(std::chrono::milliseconds timeout) {
  return Reap(pid_, exit_code_, timeout);
}

std::string ConsentdBinary() { return CONSENTD_BINARY_DIR "/daemon/consentd"; }
std::string ConsentctlBinary() { return CONSENTD_BINARY_DIR "/cli/consentctl"; }
std::string SimBinary() { return CONSENTD_BINARY_DIR "/sim/consentd-sim"; }

SimProcess::SimProcess(std::vector<std::string> extra_args, const fs::path& log) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return;
  std::vector<std::string> args = {"--crm-listen", "127.0.0.1:0", "--journey-listen",
                                   "127.0.0.1:0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  // stdout (the port lines) to the pipe, stderr to the log.
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  std::vector<std::string> envs = ChildEnvironment({});
  args.insert(args.begin(), SimBinary());
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(out[1], 1);
    ::dup2(log_fd, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(log_fd);
  FILE* in = ::fdopen(out[0], "r");
  char line[256];
  for (int i = 0; i < 2 && std::fgets(line, sizeof line, in); ++i) {
    const std::string l(line);
    const size_t colon = l.rfind(':');
    if (colon == std::string::npos) continue;
    const auto port = static_cast<std::uint16_t>(std::atoi(l.c_str() + colon + 1));
    (l.find("hubspot") != std::string::npos ? crm_port_ : journey_port_) = port;
  }
  // Kept open until the sim is gone: a later line (e.g. "state saved")
  // must not meet a closed pipe.
  stdout_ = in;
}

SimProcess::~SimProcess() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (stdout_) std::fclose(stdout_);
}

void SimProcess::Signal(int sig) { ::kill(pid_, sig); }

std::optional<int> SimProcess::WaitExit(std::chrono::milliseconds timeout) {
  return Reap(pid_, exit_code_, timeout);
}

CommandResult RunConsentctl(const std::vector<std::string>& args, const std::string& working_dir) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return {};
  const pid_t pid = Spawn(ConsentctlBinary(), args, {}, out[1], true, working_dir);
  ::close(out[1]);
  CommandResult result;
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) {
    result.output.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace consentd::testing
