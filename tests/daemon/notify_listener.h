// Test support: a datagram socket that stands in for systemd's
// NOTIFY_SOCKET and collects what the daemon sends. Header-only.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace consentd::testing {

class NotifyListener {
 public:
  // `name`: a filesystem path or "@abstract".
  explicit NotifyListener(std::string name) : name_(std::move(name)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name_.data(), name_.size());
    if (name_[0] == '@') addr.sun_path[0] = '\0';
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0) << std::strerror(errno);
  }
  ~NotifyListener() {
    ::close(fd_);
    if (name_[0] == '/') ::unlink(name_.c_str());
  }
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  const std::string& name() const { return name_; }

  // The next datagram, or nullopt after `timeout`.
  std::optional<std::string> Receive(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    all_.emplace_back(buf, static_cast<size_t>(n));
    return all_.back();
  }

  // Skips datagrams until one contains `needle`; nullopt on timeout.
  std::optional<std::string> WaitFor(const std::string& needle,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto m = Receive(left);
      if (!m) return std::nullopt;
      if (m->find(needle) != std::string::npos) return m;
    }
  }

  // Everything received so far, in order.
  const std::vector<std::string>& all() const { return all_; }

 private:
  std::string name_;
  int fd_ = -1;
  std::vector<std::string> all_;
};

}  // namespace consentd::testing
