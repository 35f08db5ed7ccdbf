// The transport every connector shares: the libcurl client against a real
// loopback net::HttpServer, retry timing (full jitter, Retry-After) and the
// sliding-window rate limiter (time driven by hand).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "connectors/common/http_client.h"
#include "connectors/common/parallel_calls.h"
#include "connectors/common/rate_limiter.h"
#include "connectors/common/retry_policy.h"
#include "net/http_server.h"

namespace consentd::connectors {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

// ---------------------------------------------------------------------------
// A loopback HTTP server (the project's own) on an io thread, reached
// through a TCP forwarder that counts the connections clients open.

// libcurl honours the proxy variables; a CI runner's proxy must not sit
// between these tests and their loopback server. Runs before main, while
// the process has one thread.
const bool kProxyVariablesCleared = [] {
  for (const char* name :
       {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    unsetenv(name);
  }
  return true;
}();

// Forwards every accepted connection to 127.0.0.1:backend, byte for byte.
// Lives on the io thread.
class CountingForwarder {
 public:
  CountingForwarder(asio::io_context& io, std::uint16_t backend)
      : acceptor_(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0)), backend_(backend) {
    Accept();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int accepted() const { return accepted_.load(); }

 private:
  void Accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;  // closed: the test is over
      ++accepted_;
      auto client = std::make_shared<tcp::socket>(std::move(socket));
      auto upstream = std::make_shared<tcp::socket>(acceptor_.get_executor());
      upstream->async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), backend_),
                              [client, upstream](boost::system::error_code cec) {
                                if (cec) return;
                                Pump(client, upstream);
                                Pump(upstream, client);
                              });
      Accept();
    });
  }
  static void Pump(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to) {
    auto buffer = std::make_shared<std::array<char, 16384>>();
    from->async_read_some(
        asio::buffer(*buffer), [from, to, buffer](boost::system::error_code ec, std::size_t n) {
          if (ec) {
            boost::system::error_code ignored;
            to->shutdown(tcp::socket::shutdown_send, ignored);
            return;
          }
          asio::async_write(*to, asio::buffer(*buffer, n),
                            [from, to, buffer](boost::system::error_code wec, std::size_t) {
                              if (!wec) Pump(from, to);
                            });
        });
  }

  tcp::acceptor acceptor_;
  std::uint16_t backend_;
  std::atomic<int> accepted_{0};
};

// Answers by path:
//   /echo            200, body "METHOD|BODY", request headers reflected
//   /status/N        status N (429 carries Retry-After: 7)
//   /slow            never answers until the server is torn down
//   /huge            a body one byte over the client's 64 MiB cap
class TestServer {
 public:
  // Runs `f` on the io thread and waits for it.
  template <typename F>
  auto OnIo(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    asio::post(io_, [&task] { task(); });
    return result.get();
  }

  TestServer() : work_(asio::make_work_guard(io_)) {
    net::HttpServerOptions options;
    options.read_timeout = 20s;
    options.idle_timeout = 60s;
    options.body_limit = 4 << 20;
    server_ = std::make_unique<net::HttpServer>(
        io_, options, [this](net::HttpRequest req, net::Responder respond) {
          Handle(std::move(req), std::move(respond));
        });
    const Status s = server_->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    forwarder_ = std::make_unique<CountingForwarder>(io_, server_->port());
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TestServer() {
    OnIo([this] {
      // Answer what was parked so that no responder is dropped unanswered.
      for (auto& respond : parked_) respond(net::HttpResponse{});
      parked_.clear();
      forwarder_.reset();
      server_.reset();
      return 0;
    });
    work_.reset();
    io_.stop();
    thread_.join();
  }

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(forwarder_->port()) + path;
  }
  int connections_opened() const { return forwarder_->accepted(); }
  std::size_t parked() {
    return OnIo([this] { return parked_.size(); });
  }

 private:
  void Handle(net::HttpRequest req, net::Responder respond) {
    net::HttpResponse res;
    if (req.path == "/echo") {
      res.content_type = "application/json";
      res.body = req.method + "|" + req.body;
      res.headers.emplace_back("X-Echo-Test", std::string(req.Header("x-test").value_or("")));
      res.headers.emplace_back("X-Seen-Agent", std::string(req.Header("user-agent").value_or("")));
      res.headers.emplace_back("X-Seen-Expect", std::string(req.Header("expect").value_or("")));
      res.headers.emplace_back("X-Multi", "one");
      res.headers.emplace_back("X-Multi", "two");
    } else if (req.path.starts_with("/status/")) {
      res.status = std::stoi(req.path.substr(8));
      res.body = "status";
      if (res.status == 429) res.headers.emplace_back("Retry-After", "7");
    } else if (req.path == "/slow") {
      parked_.push_back(std::move(respond));
      return;
    } else if (req.path == "/huge") {
      res.content_type = "application/octet-stream";
      res.body.assign((std::size_t{64} << 20) + 1, 'x');
    } else {
      res.status = 404;
    }
    respond(std::move(res));
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<CountingForwarder> forwarder_;
  std::vector<net::Responder> parked_;  // io thread only
  std::thread thread_;
};

OutboundRequest Request(std::string method, std::string url, std::string body = {}) {
  OutboundRequest r;
  r.method = std::move(method);
  r.url = std::move(url);
  r.body = std::move(body);
  r.headers.emplace_back("X-Test", "hello");
  r.headers.emplace_back("Content-Type", "application/json");
  return r;
}

// A port on which nothing listens: bound (so nobody else takes it) but not
// listening, so a connect is refused.
class RefusingPort {
 public:
  RefusingPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
  }
  ~RefusingPort() { close(fd_); }
  std::uint16_t port() const { return port_; }

 private:
  int fd_;
  std::uint16_t port_ = 0;
};

TEST(CurlHttpClient, RoundTripsEveryMethodWithBodyAndHeaders) {
  TestServer server;
  auto client = MakeCurlHttpClient("consentd-test/1.0");
  // Bodies over 1 MiB: curl would otherwise ask "Expect: 100-continue"
  // first and wait for the go-ahead.
  const std::string big((1 << 20) + 1024, 'b');
  for (const std::string method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    SCOPED_TRACE(method);
    const std::string body = method == "GET" ? "" : method + "-payload-" + big;
    auto r = client->Send(Request(method, server.Url("/echo"), body));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, method + "|" + body);
    EXPECT_EQ(ContentType(*r), "application/json");
    EXPECT_EQ(net::FindHeader(r->headers, "X-Echo-Test"), "hello");
    EXPECT_EQ(net::FindHeader(r->headers, "x-seen-agent"), "consentd-test/1.0");
    EXPECT_EQ(net::FindHeader(r->headers, "x-seen-expect"), "");
  }
}

// A direct request (consentctl's, with the admin token) never goes through
// the proxy the environment names; an ordinary one does.
TEST(CurlHttpClient, ADirectRequestIgnoresTheProxyVariables) {
  TestServer server;
  TestServer proxy;  // anything sent there opens a connection to it
  ASSERT_EQ(setenv("http_proxy", proxy.Url("").c_str(), 1), 0);
  auto client = MakeCurlHttpClient("consentd-test/1.0");
  OutboundRequest direct = Request("GET", server.Url("/echo"), "");
  direct.direct = true;
  auto r = client->Send(direct);
  const int via_proxy_direct = proxy.connections_opened();
  auto proxied = client->Send(Request("GET", server.Url("/echo"), ""));
  unsetenv("http_proxy");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "GET|");
  EXPECT_EQ(via_proxy_direct, 0) << "the direct request went to the proxy";
  EXPECT_EQ(proxy.connections_opened(), 1) << "the proxy variable was not honoured at all";
  (void)proxied;
}

TEST(CurlHttpClient, KeepsRepeatedResponseHeadersAsPairsInOrder) {
  TestServer server;
  auto client = MakeCurlHttpClient("consentd-test");
  auto r = client->Send(Request("GET", server.Url("/echo")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::string> multi;
  for (const auto& [name, value] : r->headers) {
    if (name == "x-multi") multi.push_back(value);
  }
  EXPECT_EQ(multi, (std::vector<std::string>{"one", "two"}));
  // Content-Type is kept apart from the other headers.
  EXPECT_FALSE(net::FindHeader(r->headers, "content-type").has_value());
}

TEST(CurlHttpClient, PassesHttpErrorStatusesThroughAsResponses) {
  TestServer server;
  auto client = MakeCurlHttpClient("consentd-test");
  auto not_found = client->Send(Request("GET", server.Url("/status/404")));
  ASSERT_TRUE(not_found.ok()) << not_found.status().ToString();
  EXPECT_EQ(not_found->status, 404);

  auto limited = client->Send(Request("POST", server.Url("/status/429"), "{}"));
  ASSERT_TRUE(limited.ok()) << limited.status().ToString();
  EXPECT_EQ(limited->status, 429);
  const auto retry_after = net::FindHeader(limited->headers, "Retry-After");
  ASSERT_TRUE(retry_after.has_value());
  EXPECT_EQ(ParseRetryAfter(*retry_after, 0), milliseconds(7000));

  auto unavailable = client->Send(Request("GET", server.Url("/status/503")));
  ASSERT_TRUE(unavailable.ok());
  EXPECT_EQ(unavailable->status, 503);
}

TEST(CurlHttpClient, NoAnswerWithinTimeoutIsDeadlineExceeded) {
  TestServer server;
  auto client = MakeCurlHttpClient("consentd-test");
  auto req = Request("POST", server.Url("/slow"), "{}");
  req.timeout = 200ms;
  auto r = client->Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  EXPECT_EQ(server.parked(), 1u);  // the request did reach the server
  // The handle stays usable after a timeout.
  auto after = client->Send(Request("GET", server.Url("/echo")));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->status, 200);
}

TEST(CurlHttpClient, ConnectionRefusedIsUnavailable) {
  RefusingPort port;
  auto client = MakeCurlHttpClient("consentd-test");
  auto r =
      client->Send(Request("GET", "http://127.0.0.1:" + std::to_string(port.port()) + "/echo"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_TRUE(r.status().IsRetryable());
}

// A transport error's text reaches the outbox, dead letters and the proof
// log's reasons: it names the host, never the path or query, where an
// address or a credential can be.
TEST(CurlHttpClient, ATransportErrorNamesTheHostButNotThePathOrQuery) {
  RefusingPort port;
  auto client = MakeCurlHttpClient("consentd-test");
  const std::string origin = "http://127.0.0.1:" + std::to_string(port.port());
  auto r = client->Send(Request(
      "GET", "http://user:pw@127.0.0.1:" + std::to_string(port.port()) +
                 "/crm/v3/objects/contacts/anna%40example.org?idProperty=email&hapikey=k3y#f"));
  ASSERT_FALSE(r.ok());
  const std::string text = r.status().ToString();
  EXPECT_NE(text.find("(" + origin + ")"), std::string::npos) << text;
  for (const std::string part : {"anna", "contacts", "idProperty", "k3y", "pw", "user"}) {
    EXPECT_EQ(text.find(part), std::string::npos) << part << " in " << text;
  }

  TestServer server;
  auto slow = Request("POST", server.Url("/slow?email=bo%40example.org"), "{}");
  slow.timeout = 200ms;
  auto timed_out = client->Send(slow);
  ASSERT_FALSE(timed_out.ok());
  EXPECT_EQ(timed_out.status().ToString().find("bo%40"), std::string::npos)
      << timed_out.status().ToString();
}

TEST(CurlHttpClient, MalformedRequestsAreInvalidArgument) {
  auto client = MakeCurlHttpClient("consentd-test");
  for (const std::string url : {"http://[::1/x", "ftp://127.0.0.1/x", "file:///etc/passwd", ""}) {
    SCOPED_TRACE(url);
    auto r = client->Send(Request("GET", url));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  }
  auto bad_header = Request("GET", "http://127.0.0.1:1/");
  bad_header.headers.emplace_back("X-Injected", "a\r\nHost: evil");
  EXPECT_EQ(client->Send(bad_header).status().code(), StatusCode::kInvalidArgument);
  auto no_deadline = Request("GET", "http://127.0.0.1:1/");
  no_deadline.timeout = 0ms;
  EXPECT_EQ(client->Send(no_deadline).status().code(), StatusCode::kInvalidArgument);
  auto bad_method = Request("GE T", "http://127.0.0.1:1/");
  EXPECT_EQ(client->Send(bad_method).status().code(), StatusCode::kInvalidArgument);
}

TEST(CurlHttpClient, BodyOverSixtyFourMebibytesIsResourceExhausted) {
  TestServer server;
  auto client = MakeCurlHttpClient("consentd-test");
  auto r = client->Send(Request("GET", server.Url("/huge")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().ToString();
}

TEST(CurlHttpClient, SequentialRequestsFromOneThreadReuseOneConnection) {
  TestServer server;
  auto client = MakeCurlHttpClient("consentd-test");
  // On a fresh thread, so no handle (and no cached connection) exists yet.
  std::thread worker([&] {
    for (int i = 0; i < 5; ++i) {
      auto r = client->Send(Request("POST", server.Url("/echo"), std::to_string(i)));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->body, "POST|" + std::to_string(i));
    }
    // A second client on the same thread shares the thread's handle.
    auto other = MakeCurlHttpClient("consentd-test-2");
    auto r = other->Send(Request("GET", server.Url("/echo")));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(net::FindHeader(r->headers, "x-seen-agent"), "consentd-test-2");
  });
  worker.join();
  EXPECT_EQ(server.connections_opened(), 1);
}

TEST(CurlHttpClient, FourThreadsSendConcurrentlyEachOnItsOwnConnection) {
  TestServer server;
  auto client = MakeCurlHttpClient("consentd-test");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string body = std::to_string(t) + ":" + std::to_string(i);
        auto r = client->Send(Request("PUT", server.Url("/echo"), body));
        if (r.ok() && r->status == 200 && r->body == "PUT|" + body) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_EQ(server.connections_opened(), kThreads);
}

// ---------------------------------------------------------------------------
// Retry timing.

TEST(NextDelay, FullJitterIsUniformOverTheDoublingWindow) {
  const BackoffPolicy policy;  // base 1 s, cap 5 min
  std::mt19937_64 rng(42);
  for (int attempt = 1; attempt <= 12; ++attempt) {
    SCOPED_TRACE(attempt);
    const std::int64_t window = std::min<std::int64_t>(300000, 1000LL << (attempt - 1));
    std::int64_t lo = window;
    std::int64_t hi = 0;
    for (int i = 0; i < 2000; ++i) {
      const std::int64_t d = NextDelay(policy, attempt, std::nullopt, rng).count();
      ASSERT_GE(d, 0);
      ASSERT_LE(d, window);
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    // The whole window is used, from near 0 to near its top.
    EXPECT_LT(lo, window / 10);
    EXPECT_GT(hi, window - window / 10);
  }
}

TEST(NextDelay, WindowDoublesUntilTheCapAndNeverOverflows) {
  BackoffPolicy policy;
  policy.base = 100ms;
  policy.cap = 1000ms;
  std::mt19937_64 rng(7);
  auto max_of = [&](int attempt) {
    std::int64_t hi = 0;
    for (int i = 0; i < 2000; ++i) {
      hi = std::max(hi, NextDelay(policy, attempt, std::nullopt, rng).count());
    }
    return hi;
  };
  EXPECT_LE(max_of(1), 100);
  EXPECT_GT(max_of(2), 100);
  EXPECT_LE(max_of(2), 200);
  EXPECT_GT(max_of(4), 400);
  EXPECT_LE(max_of(4), 800);
  EXPECT_GT(max_of(5), 800);
  EXPECT_LE(max_of(5), 1000);
  EXPECT_LE(max_of(64), 1000);
  EXPECT_LE(max_of(1000000), 1000);
  EXPECT_LE(max_of(0), 100);  // treated as the first attempt
}

TEST(NextDelay, RetryAfterIsAFloorWithTenPercentSpread) {
  const BackoffPolicy policy;
  std::mt19937_64 rng(3);
  std::int64_t hi = 0;
  for (int i = 0; i < 2000; ++i) {
    // Window 1 s, but the target asked for 30 s.
    const std::int64_t d = NextDelay(policy, 1, milliseconds(30000), rng).count();
    ASSERT_GE(d, 30000);
    ASSERT_LE(d, 33000);
    hi = std::max(hi, d);
  }
  EXPECT_GT(hi, 30000);  // spread, not lockstep
  // Beyond the cap too: the target knows best when it is ready.
  EXPECT_GE(NextDelay(policy, 3, milliseconds(3600000), rng).count(), 3600000);
  // A short Retry-After does not shorten a longer backoff window.
  for (int i = 0; i < 2000; ++i) {
    const std::int64_t d = NextDelay(policy, 12, milliseconds(1000), rng).count();
    ASSERT_GE(d, 1000);
    ASSERT_LE(d, 300000);
  }
  EXPECT_EQ(NextDelay(policy, 1, milliseconds(0), rng).count() <= 1000, true);
}

constexpr TimestampMs kOct21 = 1445412480000;  // Wed, 21 Oct 2015 07:28:00 GMT

TEST(ParseRetryAfter, ReadsDeltaSeconds) {
  EXPECT_EQ(ParseRetryAfter("120", kOct21), milliseconds(120000));
  EXPECT_EQ(ParseRetryAfter("0", kOct21), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter(" 5 ", kOct21), milliseconds(5000));
}

TEST(ParseRetryAfter, ReadsAllThreeHttpDateForms) {
  const TimestampMs now = kOct21 - 10000;
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now), milliseconds(10000));
  EXPECT_EQ(ParseRetryAfter("Wednesday, 21-Oct-15 07:28:00 GMT", now), milliseconds(10000));
  EXPECT_EQ(ParseRetryAfter("Wed Oct 21 07:28:00 2015", now), milliseconds(10000));
  // asctime pads a one-digit day with a space.
  const TimestampMs nov6 = 784111777000;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(ParseRetryAfter("Sun Nov  6 08:49:37 1994", nov6 - 1500), milliseconds(1500));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", nov6 - 1500), milliseconds(1500));
  // A two-digit year more than 50 years ahead is the previous century.
  EXPECT_EQ(ParseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", nov6 - 1500), milliseconds(1500));
}

// An HTTP-date is the sender's clock: measured against the answer's own
// Date, a local clock ahead of it by a minute still waits the 30 s asked
// (against the local clock it would wait nothing and trip the limit again).
TEST(RetryAfterOfAnswer, MeasuresAnHttpDateAgainstTheAnswersOwnDate) {
  const TimestampMs local_ahead = kOct21 + 60'000;
  const std::string_view sent = "Wed, 21 Oct 2015 07:28:00 GMT";
  const std::string_view retry = "Wed, 21 Oct 2015 07:28:30 GMT";
  EXPECT_EQ(RetryAfterOfAnswer(retry, sent, local_ahead), milliseconds(30000));
  EXPECT_EQ(ParseRetryAfter(retry, local_ahead), milliseconds(0));
  // Without a (valid) Date, the local clock; seconds need no clock.
  EXPECT_EQ(RetryAfterOfAnswer(retry, std::nullopt, kOct21), milliseconds(30000));
  EXPECT_EQ(RetryAfterOfAnswer(retry, "yesterday", kOct21), milliseconds(30000));
  EXPECT_EQ(RetryAfterOfAnswer("7", sent, local_ahead), milliseconds(7000));
  EXPECT_EQ(RetryAfterOfAnswer(std::nullopt, sent, kOct21), std::nullopt);
}

// A target asking for days (or for more milliseconds than an int64 holds
// once jitter is added) is asked again after an hour.
TEST(ParseRetryAfter, IsCappedAtAnHour) {
  EXPECT_EQ(ParseRetryAfter("3600", kOct21), kMaxRetryAfter);
  EXPECT_EQ(ParseRetryAfter("3601", kOct21), kMaxRetryAfter);
  EXPECT_EQ(ParseRetryAfter("9000000000000000", kOct21), kMaxRetryAfter);
  // More digits than 64 bits hold: still a request to wait, not malformed.
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999", kOct21), kMaxRetryAfter);
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 09:28:00 GMT", kOct21), kMaxRetryAfter);
  EXPECT_EQ(ParseRetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", kOct21), kMaxRetryAfter);
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 08:27:59 GMT", kOct21), milliseconds(3599000));
  BackoffPolicy policy;
  std::mt19937_64 rng(7);
  const milliseconds d = NextDelay(policy, 3, ParseRetryAfter("9000000000000000", kOct21), rng);
  EXPECT_GE(d, kMaxRetryAfter);
  EXPECT_LE(d, kMaxRetryAfter + kMaxRetryAfter / 10);
}

TEST(ParseRetryAfter, DateInThePastGivesZero) {
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", kOct21 + 5000), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", kOct21), milliseconds(0));
}

TEST(ParseRetryAfter, MalformedValuesAreNullopt) {
  for (const char* value :
       {"", "   ", "soon", "-1", "1.5", "12abc", "0x10", "Wed, 21 Oct 2015 07:28:00 UTC",
        "Wed, 21 Oct 2015 07:28:00", "Wed, 32 Oct 2015 07:28:00 GMT",
        "Sun, 29 Feb 2015 07:28:00 GMT", "Wed, 21 Foo 2015 07:28:00 GMT",
        "Wed, 21 Oct 2015 24:28:00 GMT", "Xyz, 21 Oct 2015 07:28:00 GMT",
        "Wed, 21 Oct 15 07:28:00 GMT", "Wed, 21-Oct-15 07:28:00 GMT",
        "Wed Oct 21 07:28:00 2015 GMT", "Wed, 21 Oct 2015 07:28:00 GMT x"}) {
    EXPECT_EQ(ParseRetryAfter(value, kOct21), std::nullopt) << "'" << value << "'";
  }
  // 29 Feb of a leap year is a date.
  EXPECT_TRUE(ParseRetryAfter("Mon, 29 Feb 2016 00:00:00 GMT", kOct21).has_value());
}

// ---------------------------------------------------------------------------
// Rate limits (time passed in by hand).

RateLimit Limit(int requests, std::int64_t interval_ms, int max_in_flight = 0) {
  return RateLimit{requests, milliseconds(interval_ms), max_in_flight};
}

TEST(RateLimiter, NeverMoreThanNStartsInAnyWindowYetTheWholeBudgetIsUsed) {
  RateLimiter limiter(Limit(5, 1000));
  std::vector<std::int64_t> starts;
  // A greedy caller that asks again exactly when told to, with ragged
  // arrival times mixed in.
  std::mt19937_64 rng(11);
  std::int64_t t = 0;
  while (t < 10000) {
    const std::int64_t wait = limiter.TryAcquire(t);
    if (wait == 0) {
      starts.push_back(t);
      limiter.Release();
      t += static_cast<std::int64_t>(rng() % 3) * 97;  // sometimes several at once
    } else {
      ASSERT_GT(wait, 0);
      t += wait;
    }
  }
  for (std::size_t i = 0; i < starts.size(); ++i) {
    const auto in_window = std::count_if(starts.begin(), starts.end(), [&](std::int64_t s) {
      return s >= starts[i] && s < starts[i] + 1000;
    });
    ASSERT_LE(in_window, 5) << "window starting at " << starts[i];
  }
  EXPECT_GE(starts.size(), 40u);

  // A caller that always asks again at the moment told loses no slot: 5 per
  // second over 10 s.
  RateLimiter greedy(Limit(5, 1000));
  int started = 0;
  for (std::int64_t now = 0; now < 10000;) {
    const std::int64_t wait = greedy.TryAcquire(now);
    if (wait == 0) {
      ++started;
      greedy.Release();
    }
    now += wait;
  }
  EXPECT_EQ(started, 50);
}

TEST(RateLimiter, FullBudgetIsUsableAtOnceAndFreesAsTheWindowSlides) {
  RateLimiter limiter(Limit(5, 1000));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.TryAcquire(0), 0);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(limiter.TryAcquire(400), 0);
  EXPECT_EQ(limiter.used(400), 5);
  EXPECT_EQ(limiter.TryAcquire(400), 600);  // the starts at 0 leave at 1000
  EXPECT_EQ(limiter.TryAcquire(999), 1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.TryAcquire(1000), 0);
  EXPECT_EQ(limiter.TryAcquire(1000), 400);  // then the ones from 400
  EXPECT_EQ(limiter.used(1000), 5);
  EXPECT_EQ(limiter.used(1400), 3);
}

TEST(RateLimiter, ASlotCountsFromWhenItsRequestFinished) {
  // The vendor counts a request on arrival, which may be long after our
  // start when it queued: the slot is re-dated to the finish.
  // (Plus one clock tick: both clocks are read in whole milliseconds.)
  RateLimiter limiter(RateLimit{2, std::chrono::milliseconds(1000), 0});
  RateGrant first;
  ASSERT_EQ(limiter.TryAcquire(0, CallKind::kPlain, &first), 0);
  EXPECT_EQ(first.recorded, 0);
  ASSERT_EQ(limiter.TryAcquire(10), 0);
  EXPECT_EQ(limiter.TryAcquire(20), 980);  // frees 1000 ms after the first start
  limiter.Release(first, 400);             // ...but the first took 400 ms
  EXPECT_EQ(limiter.TryAcquire(1005), 5);  // the start at 10 leaves at 1010
  EXPECT_EQ(limiter.TryAcquire(1010), 0);
  EXPECT_EQ(limiter.TryAcquire(1011), 390);  // the first counts until 1401, not 1000
  EXPECT_EQ(limiter.TryAcquire(1401), 0);
}

// A call slower than the window (HubSpot's 10 s window, a 10 s timeout)
// may reach the vendor just before it finishes: it counts until its finish
// plus the window, not only until its start plus the window.
TEST(RateLimiter, ACallSlowerThanTheWindowCountsUntilItFinishes) {
  RateLimiter limiter(Limit(2, 1000));
  RateGrant first, second;
  ASSERT_EQ(limiter.TryAcquire(0, CallKind::kPlain, &first), 0);
  ASSERT_EQ(limiter.TryAcquire(10, CallKind::kPlain, &second), 0);
  // Both are still in flight at 1500: their starts have left the window,
  // but they have not reached the vendor yet, as far as we know.
  bool until_release = false;
  EXPECT_EQ(limiter.TryAcquire(1500, CallKind::kPlain, nullptr, CallPriority::kForeground,
                               &until_release),
            1);
  EXPECT_TRUE(until_release) << "only a call's end frees a slot";
  EXPECT_EQ(limiter.used(1500), 2);
  limiter.Release(first, 2000);              // it counts until 3001 from here
  EXPECT_EQ(limiter.TryAcquire(2500), 501);  // the second is still in flight
  limiter.Release(second, 2600);
  EXPECT_EQ(limiter.TryAcquire(3000), 1);
  EXPECT_EQ(limiter.TryAcquire(3001), 0);
  EXPECT_EQ(limiter.used(3001), 2);  // the second (until 3601) and this one
}

TEST(RateLimiter, InFlightCapBlocksUntilARelease) {
  RateLimiter limiter(Limit(0, 1000, 2));
  EXPECT_EQ(limiter.TryAcquire(0), 0);
  EXPECT_EQ(limiter.TryAcquire(0), 0);
  EXPECT_EQ(limiter.in_flight(), 2);
  EXPECT_EQ(limiter.TryAcquire(5000), 1);  // time does not help
  limiter.Release();
  EXPECT_EQ(limiter.in_flight(), 1);
  EXPECT_EQ(limiter.TryAcquire(5000), 0);
  EXPECT_EQ(limiter.in_flight(), 2);
}

// Deliveries (background) may use every connection reads leave idle, but
// beyond half the cap they yield to a read waiting for one; below half
// they are never refused for it.
TEST(RateLimiter, BackgroundCallsBorrowIdleSlotsAndYieldBeyondHalfToAWaitingRead) {
  RateLimiter limiter(Limit(0, 1000, 4));
  constexpr auto kBg = CallPriority::kBackground;
  RateGrant bg[4];
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.TryAcquire(0, CallKind::kPlain, &bg[i], kBg), 0);
  RateGrant fg;
  EXPECT_EQ(limiter.TryAcquire(0, CallKind::kPlain, &fg), 0);  // the last slot
  EXPECT_EQ(limiter.TryAcquire(0), 1);                         // a read waits
  limiter.ForegroundWaiting(+1);
  limiter.Release(bg[0], 1);
  // Two deliveries still hold half: the free slot is the read's.
  EXPECT_EQ(limiter.TryAcquire(1, CallKind::kPlain, &bg[3], kBg), 1);
  RateGrant fg2;
  EXPECT_EQ(limiter.TryAcquire(1, CallKind::kPlain, &fg2), 0);
  limiter.ForegroundWaiting(-1);
  limiter.Release(fg, 2);
  limiter.Release(fg2, 2);
  // Nobody waits: deliveries borrow the idle slots again.
  EXPECT_EQ(limiter.TryAcquire(2, CallKind::kPlain, &bg[0], kBg), 0);
  EXPECT_EQ(limiter.TryAcquire(2, CallKind::kPlain, &bg[3], kBg), 0);
  EXPECT_EQ(limiter.in_flight(), 4);
}

TEST(RateLimiter, BackgroundCallsBelowHalfAreNotRefusedForWaitingReads) {
  RateLimiter limiter(Limit(0, 1000, 4));
  RateGrant fg[3];
  for (RateGrant& g : fg) EXPECT_EQ(limiter.TryAcquire(0, CallKind::kPlain, &g), 0);
  limiter.ForegroundWaiting(+1);  // a fourth read will want the last slot
  RateGrant bg;
  EXPECT_EQ(limiter.TryAcquire(0, CallKind::kPlain, &bg, CallPriority::kBackground), 0);
  EXPECT_EQ(limiter.TryAcquire(0), 1);  // full
  limiter.Release(bg, 1);
  EXPECT_EQ(limiter.in_flight(), 3);
}

// A refusal for a slot says so: only a Release (or an Update, or the last
// waiting read's leaving) ends it, so the caller waits for that, not a
// millisecond at a time. A window's refusal is ended by time.
TEST(RateLimiter, ARefusalForASlotSaysThatOnlyAReleaseEndsIt) {
  RateLimiter limiter(Limit(2, 1000, 1));
  bool until_release = true;
  RateGrant g;
  EXPECT_EQ(limiter.TryAcquire(0, CallKind::kPlain, &g, CallPriority::kForeground, &until_release),
            0);
  EXPECT_FALSE(until_release);
  EXPECT_EQ(
      limiter.TryAcquire(0, CallKind::kPlain, nullptr, CallPriority::kForeground, &until_release),
      1);
  EXPECT_TRUE(until_release);
  const std::uint64_t seen = limiter.Generation();
  limiter.ForegroundWaiting(+1);  // a waiter arriving frees nothing
  EXPECT_EQ(limiter.Generation(), seen);
  limiter.ForegroundWaiting(-1);  // the last one leaving may free a background call
  EXPECT_GT(limiter.Generation(), seen);
  limiter.Release(g, 10);
  EXPECT_EQ(limiter.TryAcquire(20, CallKind::kPlain, &g, CallPriority::kForeground, &until_release),
            0);
  limiter.Release(g, 30);
  EXPECT_GT(
      limiter.TryAcquire(40, CallKind::kPlain, nullptr, CallPriority::kForeground, &until_release),
      0);  // the window: two in 1,000 ms
  EXPECT_FALSE(until_release);
}

TEST(RateLimiter, CallsRefusedForTheInFlightCapSpendNoBudget) {
  RateLimiter limiter(Limit(3, 1000, 1));
  EXPECT_EQ(limiter.TryAcquire(0), 0);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(limiter.TryAcquire(0), 1);
  EXPECT_EQ(limiter.used(0), 1);
  limiter.Release();
  EXPECT_EQ(limiter.TryAcquire(0), 0);
  limiter.Release();
  EXPECT_EQ(limiter.TryAcquire(0), 0);
  limiter.Release();
  EXPECT_EQ(limiter.TryAcquire(0), 1000);
}

TEST(RateLimiter, BackoffPausesEveryRequestUntilItEnds) {
  RateLimiter limiter(Limit(100, 1000));
  limiter.Backoff(100, 2000);
  EXPECT_EQ(limiter.TryAcquire(100), 2000);
  EXPECT_EQ(limiter.TryAcquire(2099), 1);
  limiter.Backoff(500, 100);  // a shorter pause does not cut the longer one
  EXPECT_EQ(limiter.TryAcquire(1000), 1100);
  EXPECT_EQ(limiter.TryAcquire(2100), 0);
  EXPECT_EQ(limiter.used(2100), 1);
}

TEST(RateLimiter, UpdateAppliesTheNewBudgetToTheCurrentWindow) {
  RateLimiter limiter(Limit(5, 1000));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.TryAcquire(i * 100), 0);  // 0, 100, 200
  limiter.Update(Limit(2, 1000));
  EXPECT_EQ(limiter.limit().requests, 2);
  // Two of the three must leave the window: the one at 100 leaves at 1100.
  EXPECT_EQ(limiter.TryAcquire(300), 800);
  EXPECT_EQ(limiter.TryAcquire(1100), 0);
  limiter.Update(Limit(10, 1000, 4));
  EXPECT_EQ(limiter.limit().max_in_flight, 4);
  EXPECT_EQ(limiter.in_flight(), 4);  // none released so far
  EXPECT_EQ(limiter.TryAcquire(1100), 1);
  limiter.Release();
  EXPECT_EQ(limiter.TryAcquire(1100), 0);
  limiter.Update(Limit(0, 1000, 0));  // limits off
  for (int i = 0; i < 100; ++i) EXPECT_EQ(limiter.TryAcquire(1100), 0);
}

TEST(RateLimiter, ConcurrentCallersShareOneBudget) {
  RateLimiter limiter(Limit(40, 1000));
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (limiter.TryAcquire(500) == 0) {
          ++granted;
          limiter.Release();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 40);
  EXPECT_EQ(limiter.in_flight(), 0);
}

// ---------------------------------------------------------------------------
// Parallel calls: the blocking calls of one delivery, side by side.

TEST(ParallelCalls, RunsEveryIndexOnceAndReturnsWhenAllHaveReturned) {
  ParallelCalls calls(3);
  std::vector<std::atomic<int>> runs(200);
  calls.ForEach(runs.size(), [&](std::size_t i) {
    if (i % 7 == 0) std::this_thread::sleep_for(1ms);
    runs[i].fetch_add(1);
  });
  for (std::size_t i = 0; i < runs.size(); ++i) EXPECT_EQ(runs[i].load(), 1) << "index " << i;
}

TEST(ParallelCalls, CallsRunAtOnceOnTheHelpersAndTheCaller) {
  ParallelCalls calls(2);
  std::mutex mu;
  std::condition_variable all_started;
  int started = 0;
  std::atomic<int> saw_all{0};
  // Each call waits for the other two to have started: one after another,
  // the first would wait in vain.
  calls.ForEach(3, [&](std::size_t) {
    std::unique_lock lock(mu);
    ++started;
    all_started.notify_all();
    if (all_started.wait_for(lock, 10s, [&] { return started == 3; })) saw_all.fetch_add(1);
  });
  EXPECT_EQ(saw_all.load(), 3);
}

TEST(ParallelCalls, WithoutHelpersEverythingRunsInOrderOnTheCaller) {
  ParallelCalls calls(0);
  std::vector<std::size_t> order;
  std::vector<std::thread::id> threads;
  calls.ForEach(5, [&](std::size_t i) {
    order.push_back(i);
    threads.push_back(std::this_thread::get_id());
  });
  EXPECT_EQ(order, (std::vector<std::size_t>{0, 1, 2, 3, 4}));
  for (const auto& id : threads) EXPECT_EQ(id, std::this_thread::get_id());
}

TEST(ParallelCalls, HelpersKeepTheirConnectionsBetweenUses) {
  TestServer server;
  auto client = MakeCurlHttpClient("consentd-test");
  ParallelCalls calls(2);
  std::atomic<int> ok{0};
  for (int round = 0; round < 5; ++round) {
    calls.ForEach(6, [&](std::size_t i) {
      auto r = client->Send(Request("PUT", server.Url("/echo"), std::to_string(i)));
      if (r.ok() && r->status == 200) ok.fetch_add(1);
    });
  }
  EXPECT_EQ(ok.load(), 30);
  // The caller's connection and one per helper: a thread started per
  // call would open a connection each time.
  EXPECT_LE(server.connections_opened(), 3);
}

TEST(ParallelCalls, AnExceptionReachesTheCallerAfterEveryIndexHasRun) {
  ParallelCalls calls(2);
  std::vector<std::atomic<int>> runs(20);
  EXPECT_THROW(calls.ForEach(runs.size(),
                             [&](std::size_t i) {
                               runs[i].fetch_add(1);
                               if (i % 5 == 1)
                                 throw std::runtime_error("call " + std::to_string(i));
                             }),
               std::runtime_error);
  for (std::size_t i = 0; i < runs.size(); ++i) EXPECT_EQ(runs[i].load(), 1) << "index " << i;
  std::atomic<int> after{0};  // the helpers are still there
  calls.ForEach(10, [&](std::size_t) { after.fetch_add(1); });
  EXPECT_EQ(after.load(), 10);
}

TEST(ParallelCalls, SeveralCallersShareTheHelpers) {
  ParallelCalls calls(2);
  std::atomic<int> runs{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int k = 0; k < 20; ++k) calls.ForEach(25, [&](std::size_t) { runs.fetch_add(1); });
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(runs.load(), 4 * 20 * 25);
}

}  // namespace
}  // namespace consentd::connectors
