// The outbound HTTP port of the connectors: blocking requests with a
// deadline, over libcurl (CurlHttpClient) in production and in tests
// (tests talk to consentd-sim over loopback; fakes only where a test must
// script an exact failure).
//
// Thread-safety: Send may be called from several threads at once (the
// daemon's worker pool); connections are reused per thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/status.h"
#include "net/http_types.h"

namespace consentd::connectors {

struct OutboundRequest {
  std::string method = "GET";
  std::string url;  // absolute: base_url + path + query
  net::HeaderList headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};  // whole request, connect included
  // A search: takes the connector's search budget too (HubSpot limits its
  // search endpoints apart, see RateLimit). Ignored by the transport.
  bool search = false;
  // A delivery: beyond half the in-flight cap it yields to reads and polls
  // waiting for a slot (RateLimiter, CallPriority). Ignored by the
  // transport.
  bool background = false;
  // Never through a proxy, whatever http_proxy / ALL_PROXY say: consentctl's
  // calls to the daemon's admin API carry its bearer token, which a proxy
  // set for the operator's shell would see in clear text.
  bool direct = false;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Any HTTP status is a response (the caller classifies it). Transport
  // failures are errors: DeadlineExceeded on timeout, Unavailable for
  // connection refused/reset/DNS, InvalidArgument for a malformed URL.
  // The response body is capped at 64 MiB (ResourceExhausted beyond).
  virtual Result<net::HttpResponse> Send(const OutboundRequest& request) = 0;
};

// libcurl, HTTP/1.1 keep-alive, one easy handle per calling thread,
// TLS verification on. `user_agent` is sent with every request.
std::unique_ptr<HttpClient> MakeCurlHttpClient(std::string user_agent);

// Content-Type of a response (net::HttpResponse keeps it apart from the
// other headers).
inline const std::string& ContentType(const net::HttpResponse& r) { return r.content_type; }

}  // namespace consentd::connectors
