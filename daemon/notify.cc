#include "daemon/notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace consentd::daemon {

namespace {

std::string StatusLine(std::string_view status) {
  std::string line = "STATUS=";
  // One line: a newline would start a new assignment.
  for (char c : status) line.push_back(c == '\n' ? ' ' : c);
  return line;
}

std::uint64_t MonotonicUsec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

Notifier::Notifier(std::string socket_name) : socket_name_(std::move(socket_name)) {}

Notifier::~Notifier() {
  if (fd_ >= 0) ::close(fd_);
}

Notifier Notifier::FromEnvironment() {
  const char* name = std::getenv("NOTIFY_SOCKET");
  return Notifier(name ? std::string(name) : std::string());
}

Status Notifier::Send(std::string_view message) {
  if (!enabled()) return Status::Ok();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_name_.size() >= sizeof(addr.sun_path) ||
      (socket_name_[0] != '/' && socket_name_[0] != '@')) {
    return InvalidArgument("NOTIFY_SOCKET is not a usable socket name: " + socket_name_);
  }
  std::memcpy(addr.sun_path, socket_name_.data(), socket_name_.size());
  if (socket_name_[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const auto addr_len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_name_.size());
  if (fd_ < 0) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return Unavailable(std::string("notify socket: ") + std::strerror(errno));
  }
  const ssize_t n = ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&addr), addr_len);
  if (n < 0) return Unavailable(std::string("notify send: ") + std::strerror(errno));
  return Status::Ok();
}

Status Notifier::Ready(std::string_view status) { return Send("READY=1\n" + StatusLine(status)); }

Status Notifier::Reloading(std::string_view status) {
  return Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(MonotonicUsec()) + "\n" +
              StatusLine(status));
}

Status Notifier::Stopping(std::string_view status) {
  return Send("STOPPING=1\n" + StatusLine(status));
}

Status Notifier::SetStatus(std::string_view status) { return Send(StatusLine(status)); }

Status Notifier::Watchdog() { return Send("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> Notifier::WatchdogInterval() {
  const char* usec = std::getenv("WATCHDOG_USEC");
  if (!usec || !*usec) return std::nullopt;
  if (const char* pid = std::getenv("WATCHDOG_PID"); pid && *pid) {
    if (std::strtoll(pid, nullptr, 10) != static_cast<long long>(::getpid())) return std::nullopt;
  }
  char* end = nullptr;
  const long long v = std::strtoll(usec, &end, 10);
  if (*end != '\0' || v <= 0) return std::nullopt;
  return std::chrono::microseconds(v);
}

}  // namespace consentd::daemon
