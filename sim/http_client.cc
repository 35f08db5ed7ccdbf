// The only sim translation unit besides sim_server.cc and
// webhook_dispatcher.cc that includes Beast.
#include "sim/http_client.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <map>
#include <memory>
#include <vector>

namespace consentd::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr std::uint64_t kMaxResponseBody = 1 << 20;
// An idle pooled connection older than this is closed rather than reused:
// below consentd's default keep-alive idle timeout (30 s), so a reused one
// is rarely found closed.
constexpr auto kMaxIdle = std::chrono::seconds(20);

using Clock = std::chrono::steady_clock;

// Connects without a resolver round trip for a literal address (the usual
// 127.0.0.1); "localhost" is resolved.
asio::awaitable<Status> Connect(beast::tcp_stream& stream, const LoopbackUrl& url) {
  boost::system::error_code parse_ec;
  const asio::ip::address address = asio::ip::make_address(url.host, parse_ec);
  boost::system::error_code cec;
  if (!parse_ec) {
    auto [ec] = co_await stream.async_connect(tcp::endpoint(address, url.port), kAwait);
    cec = ec;
  } else {
    tcp::resolver resolver(co_await asio::this_coro::executor);
    auto [rec, endpoints] =
        co_await resolver.async_resolve(url.host, std::to_string(url.port), kAwait);
    if (rec) co_return Unavailable("resolve " + url.host + ": " + rec.message());
    auto [ec, ep] = co_await stream.async_connect(endpoints, kAwait);
    cec = ec;
  }
  if (cec) {
    co_return cec == beast::error::timeout ? Status(DeadlineExceeded("connect timed out"))
                                           : Unavailable("connect: " + cec.message());
  }
  co_return Status::Ok();
}

http::request<http::string_body> MakeRequest(ClientRequest& req, const LoopbackUrl& url,
                                             bool keep_alive) {
  http::request<http::string_body> out{http::string_to_verb(req.method), url.target, 11};
  out.set(http::field::host, url.host + ":" + std::to_string(url.port));
  out.set(http::field::user_agent, "consentd-sim");
  if (!req.content_type.empty()) out.set(http::field::content_type, req.content_type);
  for (auto& [k, v] : req.headers) out.insert(k, v);
  out.body() = std::move(req.body);
  out.keep_alive(keep_alive);
  out.prepare_payload();
  return out;
}

// One request and its answer on a connected stream.
struct Exchanged {
  Result<ClientResponse> response = Unavailable("no answer");
  bool keep_alive = false;    // the answer allows another request
  bool nothing_back = false;  // failed without a timeout before any answer byte
};

asio::awaitable<Exchanged> Exchange(beast::tcp_stream& stream,
                                    http::request<http::string_body>& out) {
  Exchanged x;
  auto [wec, wn] = co_await http::async_write(stream, out, kAwait);
  if (wec) {
    const bool timeout = wec == beast::error::timeout;
    x.response = timeout ? Status(DeadlineExceeded("write timed out"))
                         : Unavailable("write: " + wec.message());
    x.nothing_back = !timeout;
    co_return x;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, kAwait);
  if (ec) {
    const bool timeout = ec == beast::error::timeout;
    x.response =
        timeout ? Status(DeadlineExceeded("read timed out")) : Unavailable("read: " + ec.message());
    x.nothing_back = !timeout && !parser.got_some();
    co_return x;
  }
  auto res = parser.release();
  ClientResponse r;
  r.status = static_cast<int>(res.result_int());
  for (const auto& f : res)
    r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  r.body = std::move(res.body());
  x.keep_alive = res.keep_alive();
  x.response = std::move(r);
  co_return x;
}

void Close(beast::tcp_stream& stream) {
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.close();
}

asio::awaitable<void> Run(ClientRequest req, LoopbackUrl url, ClientCallback cb) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(req.deadline);
  if (Status s = co_await Connect(stream, url); !s.ok()) {
    cb(std::move(s));
    co_return;
  }
  http::request<http::string_body> out = MakeRequest(req, url, /*keep_alive=*/false);
  Exchanged x = co_await Exchange(stream, out);
  if (x.response.ok()) Close(stream);
  cb(std::move(x.response));
}

}  // namespace

class HttpConnectionPool::State {
 public:
  explicit State(std::size_t max_idle) : max_idle_(max_idle) {}

  // The most recently used idle connection to `key` (the others may time
  // out at the peer), or nullptr.
  std::unique_ptr<beast::tcp_stream> TakeIdle(const std::string& key) {
    auto it = idle_.find(key);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    const auto now = Clock::now();
    while (!list.empty()) {
      Idle last = std::move(list.back());
      list.pop_back();
      if (now - last.since < kMaxIdle) return std::move(last.stream);
      Close(*last.stream);
    }
    return nullptr;
  }

  void PutIdle(const std::string& key, std::unique_ptr<beast::tcp_stream> stream) {
    auto& list = idle_[key];
    if (list.size() >= max_idle_) {
      Close(*stream);
      return;
    }
    stream->expires_never();
    list.push_back({std::move(stream), Clock::now()});
  }

  std::uint64_t opened = 0;

 private:
  struct Idle {
    std::unique_ptr<beast::tcp_stream> stream;
    Clock::time_point since;
  };
  const std::size_t max_idle_;
  std::map<std::string, std::vector<Idle>> idle_;  // "host:port" -> idle connections
};

namespace {

asio::awaitable<void> RunPooled(std::shared_ptr<HttpConnectionPool::State> state, ClientRequest req,
                                LoopbackUrl url, ClientCallback cb) {
  auto ex = co_await asio::this_coro::executor;
  const auto until = Clock::now() + req.deadline;
  const std::string key = url.host + ":" + std::to_string(url.port);
  http::request<http::string_body> out = MakeRequest(req, url, /*keep_alive=*/true);
  for (;;) {
    std::unique_ptr<beast::tcp_stream> stream = state->TakeIdle(key);
    const bool reused = stream != nullptr;
    if (!reused) {
      stream = std::make_unique<beast::tcp_stream>(ex);
      stream->expires_at(until);
      ++state->opened;
      if (Status s = co_await Connect(*stream, url); !s.ok()) {
        cb(std::move(s));
        co_return;
      }
    }
    stream->expires_at(until);
    Exchanged x = co_await Exchange(*stream, out);
    // Closed by the peer while idle: again, on a new connection (a new
    // connection that fails is an answer).
    if (!x.response.ok() && reused && x.nothing_back) continue;
    if (x.response.ok() && x.keep_alive) {
      state->PutIdle(key, std::move(stream));
    } else {
      Close(*stream);
    }
    cb(std::move(x.response));
    co_return;
  }
}

}  // namespace

Result<LoopbackUrl> ParseLoopbackUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) return InvalidArgument("only http:// URLs: " + url);
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  LoopbackUrl out;
  out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return InvalidArgument("bad IPv6 host in " + url);
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      port = authority.substr(close + 2);
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host != "127.0.0.1" && host != "localhost" && host != "::1") {
    return InvalidArgument("consentd-sim only sends to loopback hosts, not '" + std::string(host) +
                           "'");
  }
  out.host = std::string(host);
  if (!port.empty()) {
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
    if (ec != std::errc() || p != port.data() + port.size() || out.port == 0) {
      return InvalidArgument("bad port in " + url);
    }
  }
  return out;
}

void AsyncHttpRequest(asio::io_context& io, ClientRequest request, ClientCallback callback) {
  auto url = ParseLoopbackUrl(request.url);
  if (!url.ok()) {
    callback(url.status());
    return;
  }
  asio::co_spawn(io, Run(std::move(request), std::move(url).value(), std::move(callback)),
                 [](std::exception_ptr) {});
}

HttpConnectionPool::HttpConnectionPool(asio::io_context& io, std::size_t max_idle_per_target)
    : io_(io), state_(std::make_shared<State>(std::max<std::size_t>(1, max_idle_per_target))) {}

HttpConnectionPool::~HttpConnectionPool() = default;

void HttpConnectionPool::Send(ClientRequest request, ClientCallback callback) {
  auto url = ParseLoopbackUrl(request.url);
  if (!url.ok()) {
    callback(url.status());
    return;
  }
  asio::co_spawn(io_,
                 RunPooled(state_, std::move(request), std::move(url).value(), std::move(callback)),
                 [](std::exception_ptr) {});
}

std::uint64_t HttpConnectionPool::connections_opened() const { return state_->opened; }

Result<ClientResponse> HttpRequestSync(ClientRequest request) {
  asio::io_context io;
  std::optional<Result<ClientResponse>> out;
  AsyncHttpRequest(io, std::move(request),
                   [&out](Result<ClientResponse> r) { out.emplace(std::move(r)); });
  io.run();
  if (!out) return Internal("request ended without an answer");
  return *std::move(out);
}

}  // namespace consentd::sim
