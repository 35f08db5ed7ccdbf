// HttpServer: a small HTTP/1.1 server on Boost.Beast with C++20 coroutines,
// used by the daemon (ingress, health, metrics, admin API) and consentd-sim.
//
// Every connection has a read deadline and every body a size limit (STYLE
// habit 4); keep-alive is supported; the number of concurrent connections is
// capped (beyond it, new connections get 503 and are closed). Handlers are
// asynchronous: they receive a Responder that MUST be called exactly once,
// from any thread, e.g. after a durable commit on the store thread.
//
// Deadlines: a new connection must start a request within read_timeout, a
// kept-alive one within idle_timeout, else it is closed without an answer.
// Once a request has begun, all of it must arrive within read_timeout, else
// 408. Oversized bodies get 413, oversized headers 431, garbage 400; after
// such an answer the server half-closes and drains briefly so that the
// client reads the answer instead of a reset.
//
// Shutdown: idle connections close at once; a request that has begun (being
// read, handled or answered) completes, with `Connection: close`, unless the
// shutdown deadline passes first.
//
// Thread-safety: every member function is called on the io_context's thread
// (or before it runs); the io_context must be run by exactly one thread. The
// handler and the observer run on that thread.
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

namespace consentd::net {

using Responder = std::function<void(HttpResponse)>;
using Handler = std::function<void(HttpRequest, Responder)>;

// Called once per finished request (for metrics/access logs): the request
// (body moved out), the status sent, and the time from the end of reading
// the request to the end of writing the response.
using RequestObserver =
    std::function<void(const HttpRequest&, int status, std::chrono::nanoseconds duration)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;            // 0: ephemeral (tests)
  std::size_t body_limit = 1 << 20;  // 1 MiB; larger → 413
  std::size_t header_limit = 16 << 10;
  std::chrono::milliseconds read_timeout{10000};  // per request, incl. headers
  std::chrono::milliseconds idle_timeout{30000};  // keep-alive idle
  std::chrono::milliseconds write_timeout{30000};
  std::size_t max_connections = 1024;
  std::string server_name = "consentd";
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, HttpServerOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void SetObserver(RequestObserver observer);

  // Replaces limits and timeouts (not address/port: those need a new
  // server). Applies to connections accepted and requests begun afterwards.
  void UpdateLimits(const HttpServerOptions& options);

  // Binds and starts accepting. Returns the error if the address cannot be
  // bound (in use, bad address).
  Status Start();

  // The bound port (after Start), useful with port 0.
  std::uint16_t port() const;

  // Stops accepting new connections; in-flight requests go on. Idle
  // keep-alive connections are closed.
  void StopAccepting();

  // StopAccepting, then waits (asynchronously, on the io thread) until no
  // request is in flight or `deadline` passes, then closes every connection
  // and calls `done`.
  void Shutdown(std::chrono::milliseconds deadline, std::function<void()> done);

  // Open connections (not counting ones being refused with 503), and
  // requests begun but not yet fully answered. These two may be read from
  // any thread (metrics).
  std::size_t active_connections() const;
  std::size_t in_flight_requests() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace consentd::net
