// The only sim translation unit besides sim_server.cc and
// webhook_dispatcher.cc that includes Beast.
#include "sim/http_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <memory>

namespace consentd::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr std::uint64_t kMaxResponseBody = 1 << 20;

asio::awaitable<void> Run(ClientRequest req, LoopbackUrl url, ClientCallback cb) {
  auto ex = co_await asio::this_coro::executor;
  beast::tcp_stream stream(ex);
  stream.expires_after(req.deadline);
  tcp::resolver resolver(ex);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(url.host, std::to_string(url.port), kAwait);
  if (rec) {
    cb(Unavailable("resolve " + url.host + ": " + rec.message()));
    co_return;
  }
  auto [cec, ep] = co_await stream.async_connect(endpoints, kAwait);
  if (cec) {
    cb(cec == beast::error::timeout ? Status(DeadlineExceeded("connect timed out"))
                                    : Unavailable("connect: " + cec.message()));
    co_return;
  }
  http::request<http::string_body> out{http::string_to_verb(req.method), url.target, 11};
  out.set(http::field::host, url.host + ":" + std::to_string(url.port));
  out.set(http::field::user_agent, "consentd-sim");
  if (!req.content_type.empty()) out.set(http::field::content_type, req.content_type);
  for (auto& [k, v] : req.headers) out.insert(k, v);
  out.body() = std::move(req.body);
  out.keep_alive(false);
  out.prepare_payload();
  auto [wec, wn] = co_await http::async_write(stream, out, kAwait);
  if (wec) {
    cb(wec == beast::error::timeout ? Status(DeadlineExceeded("write timed out"))
                                    : Unavailable("write: " + wec.message()));
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, kAwait);
  if (ec) {
    cb(ec == beast::error::timeout ? Status(DeadlineExceeded("read timed out"))
                                   : Unavailable("read: " + ec.message()));
    co_return;
  }
  auto res = parser.release();
  ClientResponse r;
  r.status = static_cast<int>(res.result_int());
  for (const auto& f : res)
    r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  r.body = std::move(res.body());
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  cb(std::move(r));
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
