// Test support: a blocking HTTP/1.1 client on plain POSIX sockets (no Asio,
// so tests compile fast), and checks shared by the net and daemon tests.
// Every wait has a generous timeout; nothing here measures time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace consentd::testing {

inline constexpr std::chrono::milliseconds kPatience{20000};

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class TcpClient {
 public:
  // Connects to 127.0.0.1:port; nullptr if the connection is refused.
  static std::unique_ptr<TcpClient> Connect(std::uint16_t port);
  ~TcpClient();
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  bool Send(std::string_view data);
  // One response (Content-Length framed), or nullopt on timeout/close.
  std::optional<RawResponse> ReadResponse(std::chrono::milliseconds timeout = kPatience);
  // True if the peer closes (EOF or reset) within the timeout. Bytes that
  // arrive meanwhile are kept in received().
  bool WaitForClose(std::chrono::milliseconds timeout = kPatience);
  const std::string& received() const { return buffer_; }

 private:
  explicit TcpClient(int fd) : fd_(fd) {}
  // Reads more bytes; false on EOF, error or timeout.
  bool ReadMore(std::chrono::steady_clock::time_point until, bool* closed);
  int fd_;
  std::string buffer_;
};

// "METHOD PATH HTTP/1.1" with Host, optional body (Content-Length) and
// extra header lines ("Name: value").
std::string BuildRequest(std::string_view method, std::string_view path, std::string_view body = {},
                         std::vector<std::string> extra = {});

// One request on a fresh connection.
std::optional<RawResponse> Fetch(std::uint16_t port, std::string_view method, std::string_view path,
                                 std::string_view body = {});

// Polls `condition` until true or the timeout passes.
bool WaitUntil(const std::function<bool()>& condition,
               std::chrono::milliseconds timeout = kPatience);

// Checks an RFC 9457 answer: Content-Type application/problem+json, body
// valid against tests/data/http/rfc9457-problem.schema.json (a subset
// validator: type, properties, minimum, maximum, required), and status
// present and equal to the HTTP status. Returns the problems found.
std::vector<std::string> CheckProblem(const RawResponse& r);

}  // namespace consentd::testing
