// Beast/Asio live only in this translation unit (and the HTTP client's):
// their headers cost seconds per file to compile.
#include "net/http_server.h"

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <tuple>
#include <unordered_set>

namespace consentd::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

namespace {

// After an error answer: how long and how much to drain before closing.
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr std::size_t kLingerBytes = 4 << 20;
// Connections being refused with 503 at once; beyond this they are just
// closed (a flood must not cost a coroutine per socket).
constexpr std::size_t kMaxRefusing = 64;
// What a connection's read buffer may hold beyond the header limit: a read
// of body bytes (Beast reads up to 64 KiB at a time) and chunk framing.
constexpr std::size_t kFramingSlack = 64 << 10;

struct Connection {
  explicit Connection(tcp::socket s) : stream(std::move(s)), read_timer(stream.get_executor()) {}
  beast::tcp_stream stream;
  // Read deadlines use their own timer, which cancels the read instead of
  // closing the socket (as tcp_stream's expiry would), so a 408 can still
  // be written.
  asio::steady_timer read_timer;
  std::uint64_t deadline_generation = 0;
  bool timed_out = false;
  bool busy = false;  // a request has begun: being read, handled or answered
};

void ArmReadDeadline(const std::shared_ptr<Connection>& c, std::chrono::milliseconds after) {
  const std::uint64_t generation = ++c->deadline_generation;
  c->timed_out = false;
  c->read_timer.expires_after(after);
  c->read_timer.async_wait([weak = std::weak_ptr<Connection>(c), generation](beast::error_code ec) {
    auto conn = weak.lock();
    // A wait that already completed before being re-armed must not
    // cancel the next phase's read: the generation tells them apart.
    if (ec || !conn || conn->deadline_generation != generation) return;
    conn->timed_out = true;
    beast::error_code ignored;
    conn->stream.socket().cancel(ignored);
  });
}

void DisarmReadDeadline(const std::shared_ptr<Connection>& c) {
  ++c->deadline_generation;
  c->read_timer.cancel();
}

HttpRequest ToHttpRequest(http::request<http::string_body>&& req, std::string remote) {
  HttpRequest out;
  out.method = std::string(req.method_string());
  out.target = std::string(req.target());
  size_t q = out.target.find('?');
  out.path = out.target.substr(0, q);
  if (q != std::string::npos) out.query = out.target.substr(q + 1);
  for (const auto& field : req) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(req.body());
  out.remote_address = std::move(remote);
  return out;
}

http::response<http::string_body> ToBeastResponse(HttpResponse&& r, unsigned version,
                                                  bool keep_alive, const std::string& server) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, server);
  if (!r.content_type.empty()) res.set(http::field::content_type, r.content_type);
  for (auto& [k, v] : r.headers) res.insert(k, v);
  res.body() = std::move(r.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

}  // namespace

class HttpServer::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, HttpServerOptions options, Handler handler)
      : io_(io), options_(std::move(options)), handler_(std::move(handler)), acceptor_(io) {}

  Status Start() {
    beast::error_code ec;
    auto address = asio::ip::make_address(options_.address, ec);
    if (ec)
      return InvalidArgument("bad listen address '" + options_.address + "': " + ec.message());
    tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      beast::error_code ignored;
      acceptor_.close(ignored);
      return Unavailable("cannot listen on " + options_.address + ":" +
                         std::to_string(options_.port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    accepting_ = true;
    asio::co_spawn(io_, Accept(shared_from_this()), asio::detached);
    return Status::Ok();
  }

  void UpdateLimits(const HttpServerOptions& o) {
    std::string address = options_.address;
    std::uint16_t port = options_.port;
    options_ = o;
    options_.address = std::move(address);
    options_.port = port;
  }

  void StopAccepting() {
    if (!accepting_) return;
    accepting_ = false;
    beast::error_code ec;
    acceptor_.close(ec);
    // Idle keep-alive connections would otherwise wait for their deadline.
    for (const auto& c : connections_) {
      if (!c->busy) c->stream.socket().close(ec);
    }
  }

  void Shutdown(std::chrono::milliseconds deadline, std::function<void()> done) {
    StopAccepting();
    auto until = std::chrono::steady_clock::now() + deadline;
    asio::co_spawn(io_, WaitForDrain(shared_from_this(), until, std::move(done)), asio::detached);
  }

  std::uint16_t port_ = 0;
  // Atomic so that metrics may read them from any thread.
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<std::size_t> connection_count_{0};
  // Owned here (not only by their sessions) so that shutdown can reach them.
  std::unordered_set<std::shared_ptr<Connection>> connections_;
  RequestObserver observer_;

 private:
  // Decrements a counter when a coroutine frame ends, however it ends.
  template <typename N>
  struct CountGuard {
    explicit CountGuard(N& n) : n_(n) { ++n_; }
    ~CountGuard() { --n_; }
    CountGuard(const CountGuard&) = delete;
    CountGuard& operator=(const CountGuard&) = delete;
    N& n_;
  };

  static asio::awaitable<void> Accept(std::shared_ptr<Impl> self) {
    while (self->accepting_) {
      auto [ec, socket] = co_await self->acceptor_.async_accept(kAwait);
      if (ec == asio::error::operation_aborted || !self->accepting_) break;
      if (ec) {
        // EMFILE and friends: back off briefly instead of spinning.
        asio::steady_timer t(self->io_, std::chrono::milliseconds(50));
        co_await t.async_wait(kAwait);
        continue;
      }
      auto conn = std::make_shared<Connection>(std::move(socket));
      if (self->connections_.size() >= self->options_.max_connections) {
        if (self->refusing_ >= kMaxRefusing) {
          beast::error_code ignored;
          conn->stream.socket().close(ignored);
        } else {
          asio::co_spawn(self->io_, RefuseOverloaded(self, conn), asio::detached);
        }
        continue;
      }
      // Counted now, not when the session starts running: several accepts
      // may complete before any new session runs.
      self->connections_.insert(conn);
      ++self->connection_count_;
      asio::co_spawn(self->io_, Session(self, conn), asio::detached);
    }
  }

  static asio::awaitable<void> RefuseOverloaded(std::shared_ptr<Impl> self,
                                                std::shared_ptr<Connection> c) {
    CountGuard<std::size_t> refusing(self->refusing_);
    HttpResponse r = Problem(503, "Service Unavailable", "too many concurrent connections");
    r.headers.emplace_back("Retry-After", "1");
    co_await WriteAndLingeringClose(self, c, std::move(r));
  }

  // Calls the handler and suspends until its Responder is called. If every
  // copy of the Responder is dropped without a call, the request gets 500
  // instead of hanging forever.
  static asio::awaitable<HttpResponse> CallHandler(std::shared_ptr<Impl> self, HttpRequest req) {
    return asio::async_initiate<decltype(asio::use_awaitable), void(HttpResponse)>(
        [self, req = std::move(req)](auto completion) mutable {
          using Completion = decltype(completion);
          struct Once {
            Once(Completion c, asio::any_io_executor e)
                : completion(std::move(c)), ex(std::move(e)) {}
            ~Once() {
              if (!called.exchange(true)) {
                Fire(Problem(500, "Internal Server Error", "request was dropped by its handler"));
              }
            }
            void Fire(HttpResponse r) {
              asio::post(ex, [c = std::make_shared<Completion>(std::move(completion)),
                              r = std::move(r)]() mutable { (*c)(std::move(r)); });
            }
            Completion completion;
            asio::any_io_executor ex;
            std::atomic<bool> called{false};
          };
          auto ex = asio::get_associated_executor(completion, self->io_.get_executor());
          auto once = std::make_shared<Once>(std::move(completion), ex);
          Responder respond = [once](HttpResponse r) {
            if (!once->called.exchange(true)) once->Fire(std::move(r));
          };
          try {
            self->handler_(std::move(req), std::move(respond));
          } catch (const std::exception& e) {
            if (!once->called.exchange(true)) {
              once->Fire(Problem(500, "Internal Server Error", e.what()));
            }
          }
        },
        asio::use_awaitable);
  }

  static asio::awaitable<void> Session(std::shared_ptr<Impl> self, std::shared_ptr<Connection> c) {
    std::string remote;
    {
      beast::error_code ec;
      auto ep = c->stream.socket().remote_endpoint(ec);
      if (!ec) remote = ep.address().to_string();
    }
    // Capped: the parser's limits do not cover every byte it must hold
    // before it can parse them (a chunk-size line with an endless
    // extension, an endless trailer); unparsed bytes stay in this buffer,
    // which would otherwise grow as long as a client sends. Body bytes
    // move out into the body as they are parsed, so the cap only bounds
    // framing. Past it: buffer_overflow, answered 400.
    beast::flat_buffer buffer(self->options_.header_limit + kFramingSlack);
    bool first = true;
    while (true) {
      // Phase 1: wait for the first bytes of a request. Silence here is not
      // an error: the connection is closed without an answer.
      if (buffer.size() == 0) {
        if (!self->accepting_) break;
        ArmReadDeadline(c, first ? self->options_.read_timeout : self->options_.idle_timeout);
        auto [ec, n] = co_await c->stream.async_read_some(buffer.prepare(4096), kAwait);
        DisarmReadDeadline(c);
        if (ec || n == 0) break;
        buffer.commit(n);
      }
      first = false;

      // Phase 2: the request has begun; all of it must arrive in time.
      c->busy = true;
      CountGuard<std::atomic<std::size_t>> in_flight(self->in_flight_);
      http::request_parser<http::string_body> parser;
      parser.body_limit(self->options_.body_limit);
      parser.header_limit(static_cast<std::uint32_t>(self->options_.header_limit));
      ArmReadDeadline(c, self->options_.read_timeout);
      auto [ec, n] = co_await http::async_read_header(c->stream, buffer, parser, kAwait);
      if (!ec && !parser.is_done()) {
        // A client that asks before sending its body (curl does, above
        // 1 KiB) gets the go-ahead; one over the limit was refused above.
        if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
          http::response<http::empty_body> go_on{http::status::continue_, 11};
          auto [cec, cn] = co_await http::async_write(c->stream, go_on, kAwait);
          ec = cec;
        }
        if (!ec) std::tie(ec, n) = co_await http::async_read(c->stream, buffer, parser, kAwait);
      }
      DisarmReadDeadline(c);
      std::optional<HttpResponse> refusal;
      if (c->timed_out) {
        refusal = Problem(408, "Request Timeout", "request not received in time");
      } else if (ec == http::error::body_limit) {
        refusal =
            Problem(413, "Content Too Large",
                    "request body exceeds " + std::to_string(self->options_.body_limit) + " bytes");
      } else if (ec == http::error::header_limit) {
        refusal = Problem(431, "Request Header Fields Too Large", "request headers too large");
      } else if (ec == http::error::buffer_overflow) {
        refusal = Problem(400, "Bad Request", "chunk framing or trailer too large");
      } else if (ec && ec != http::error::end_of_stream && ec != asio::error::eof &&
                 ec != asio::error::operation_aborted && ec != asio::error::connection_reset &&
                 !self->closing_all_) {
        refusal = Problem(400, "Bad Request", ec.message());
      }
      if (refusal) {
        const int status = refusal->status;
        HttpRequest summary;
        summary.remote_address = remote;
        // The request line may be known even when the header is not done
        // (a body limit trips while the header is being finished).
        if (parser.got_some()) {
          summary.method = std::string(parser.get().method_string());
          summary.target = std::string(parser.get().target());
          summary.path = summary.target.substr(0, summary.target.find('?'));
        }
        auto started = std::chrono::steady_clock::now();
        co_await WriteAndLingeringClose(self, c, std::move(*refusal));
        if (self->observer_) {
          self->observer_(summary, status, std::chrono::steady_clock::now() - started);
        }
        break;
      }
      if (ec) break;
      auto beast_req = parser.release();
      const unsigned version = beast_req.version();
      const bool keep_alive = beast_req.keep_alive();
      HttpRequest req = ToHttpRequest(std::move(beast_req), remote);
      HttpRequest summary{req.method, req.target, req.path, req.query, {}, {}, remote};

      auto started = std::chrono::steady_clock::now();
      HttpResponse response = co_await CallHandler(self, std::move(req));
      if (response.drop_connection) break;  // simulated network fault (sim)
      const int status = response.status;
      auto res = ToBeastResponse(std::move(response), version, keep_alive && self->accepting_,
                                 self->options_.server_name);
      c->stream.expires_after(self->options_.write_timeout);
      auto [wec, wn] = co_await http::async_write(c->stream, res, kAwait);
      c->stream.expires_never();
      c->busy = false;
      if (self->observer_) {
        self->observer_(summary, status, std::chrono::steady_clock::now() - started);
      }
      if (wec || !res.keep_alive()) break;
    }
    beast::error_code ec;
    c->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    c->stream.socket().close(ec);
    if (self->connections_.erase(c)) --self->connection_count_;
  }

  // Writes a final answer, half-closes, and drains what the client is still
  // sending (bounded in time and bytes): closing a socket with unread data
  // makes the kernel send a reset, which can destroy the answer in flight.
  static asio::awaitable<void> WriteAndLingeringClose(std::shared_ptr<Impl> self,
                                                      std::shared_ptr<Connection> c,
                                                      HttpResponse r) {
    auto res = ToBeastResponse(std::move(r), 11, false, self->options_.server_name);
    c->stream.expires_after(self->options_.write_timeout);
    auto [wec, wn] = co_await http::async_write(c->stream, res, kAwait);
    beast::error_code ec;
    if (!wec) {
      c->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      c->stream.expires_after(kLingerTime);
      std::array<char, 16384> sink;
      std::size_t drained = 0;
      while (drained < kLingerBytes) {
        auto [rec, rn] = co_await c->stream.async_read_some(asio::buffer(sink), kAwait);
        if (rec) break;
        drained += rn;
      }
    }
    c->stream.socket().close(ec);
  }

  static asio::awaitable<void> WaitForDrain(std::shared_ptr<Impl> self,
                                            std::chrono::steady_clock::time_point until,
                                            std::function<void()> done) {
    asio::steady_timer timer(self->io_);
    while (self->in_flight_ > 0 && std::chrono::steady_clock::now() < until) {
      timer.expires_after(std::chrono::milliseconds(10));
      co_await timer.async_wait(kAwait);
    }
    self->closing_all_ = true;
    beast::error_code ec;
    for (const auto& c : self->connections_) c->stream.socket().close(ec);
    if (done) done();
  }

  asio::io_context& io_;
  HttpServerOptions options_;
  Handler handler_;
  tcp::acceptor acceptor_;
  bool accepting_ = false;
  bool closing_all_ = false;
  std::size_t refusing_ = 0;
};

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, Handler handler)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { impl_->StopAccepting(); }

void HttpServer::SetObserver(RequestObserver observer) { impl_->observer_ = std::move(observer); }
void HttpServer::UpdateLimits(const HttpServerOptions& options) { impl_->UpdateLimits(options); }
Status HttpServer::Start() { return impl_->Start(); }
std::uint16_t HttpServer::port() const { return impl_->port_; }
void HttpServer::StopAccepting() { impl_->StopAccepting(); }
void HttpServer::Shutdown(std::chrono::milliseconds deadline, std::function<void()> done) {
  impl_->Shutdown(deadline, std::move(done));
}
std::size_t HttpServer::active_connections() const { return impl_->connection_count_; }
std::size_t HttpServer::in_flight_requests() const { return impl_->in_flight_; }

}  // namespace consentd::net
