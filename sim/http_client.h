// A small asynchronous HTTP/1.1 client for consentd-sim's outgoing webhooks
// (and its tests): loopback targets only, one deadline covering connect,
// write and read, and a response body cap. AsyncHttpRequest opens one
// connection per request; HttpConnectionPool keeps connections alive
// between requests to the same target.
//
// The callback runs on the io_context's thread, exactly once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "net/http_types.h"

namespace boost::asio {
class io_context;
}

namespace consentd::sim {

struct ClientRequest {
  std::string method = "POST";
  std::string url;  // http://127.0.0.1:PORT/path?query (or localhost, [::1])
  net::HeaderList headers;
  std::string content_type;
  std::string body;
  std::chrono::milliseconds deadline{5000};
};

struct ClientResponse {
  int status = 0;
  net::HeaderList headers;
  std::string body;
};

using ClientCallback = std::function<void(Result<ClientResponse>)>;

struct LoopbackUrl {
  std::string host;
  std::uint16_t port = 80;
  std::string target;  // path and query, at least "/"
};

// kInvalidArgument for anything but http:// to a loopback host.
Result<LoopbackUrl> ParseLoopbackUrl(const std::string& url);

// Transport errors come back as kUnavailable, a missed deadline as
// kDeadlineExceeded; any HTTP status is a successful Result.
void AsyncHttpRequest(boost::asio::io_context& io, ClientRequest request, ClientCallback callback);

// Sends requests over kept-alive connections, per target (host and port):
// an idle connection is reused, else a new one is opened; one whose answer
// is not keep-alive is closed. At 1,000 webhooks/s a connect, accept and
// close per request cost both the sim and its receiver more than the
// request itself (issue #5). A reused connection the peer has closed in the
// meantime fails before an answer arrives: the request is then sent once
// more on a new connection (the receiver dedupes by event id, as it must
// for the sender's own retries).
//
// Thread-safety: Send on the io_context's thread only (or before it runs).
// Requests in flight keep the pool's state alive past its destruction.
class HttpConnectionPool {
 public:
  explicit HttpConnectionPool(boost::asio::io_context& io, std::size_t max_idle_per_target = 64);
  ~HttpConnectionPool();
  HttpConnectionPool(const HttpConnectionPool&) = delete;
  HttpConnectionPool& operator=(const HttpConnectionPool&) = delete;

  // As AsyncHttpRequest.
  void Send(ClientRequest request, ClientCallback callback);

  // Connections opened so far (a reused one counts once).
  std::uint64_t connections_opened() const;

  class State;

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<State> state_;
};

// Blocking convenience for tests and tools: runs its own io_context.
Result<ClientResponse> HttpRequestSync(ClientRequest request);

}  // namespace consentd::sim
