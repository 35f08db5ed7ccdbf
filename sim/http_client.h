// A small asynchronous HTTP/1.1 client for consentd-sim's outgoing webhooks
// (and its tests): one request per connection, loopback targets only, one
// deadline covering connect, write and read, and a response body cap.
//
// The callback runs on the io_context's thread, exactly once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
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

// Blocking convenience for tests and tools: runs its own io_context.
Result<ClientResponse> HttpRequestSync(ClientRequest request);

}  // namespace consentd::sim
