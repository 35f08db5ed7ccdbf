// net::HttpServer over real sockets on 127.0.0.1: limits, deadlines, the
// connection cap, asynchronous responders and graceful shutdown.
#include "net/http_server.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <sstream>
#include <thread>

#include "tests/net/test_client.h"

namespace consentd::net {
namespace {

using consentd::testing::BuildRequest;
using consentd::testing::CheckProblem;
using consentd::testing::TcpClient;
using consentd::testing::WaitUntil;
using namespace std::chrono_literals;

HttpResponse Text(std::string body) {
  HttpResponse r;
  r.body = std::move(body);
  return r;
}

// Echoes "METHOD PATH BODY".
void Echo(HttpRequest req, Responder respond) {
  respond(Text(req.method + " " + req.path + " " + req.body));
}

class Server {
 public:
  explicit Server(HttpServerOptions options, Handler handler = Echo)
      : work_(boost::asio::make_work_guard(io_)) {
    server_ = std::make_unique<HttpServer>(io_, std::move(options), std::move(handler));
    Status s = server_->Start();  // before io runs: allowed by the contract
    EXPECT_TRUE(s.ok()) << s.ToString();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Server();

  std::uint16_t port() const { return server_->port(); }

  // Runs `f` on the io thread and waits for it.
  template <typename F>
  auto OnIo(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return result.get();
  }
  std::size_t Connections() {
    return OnIo([this] { return server_->active_connections(); });
  }
  std::size_t InFlight() {
    return OnIo([this] { return server_->in_flight_requests(); });
  }
  HttpServer& server() { return *server_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

Server::~Server() {
  OnIo([this] { server_.reset(); });
  work_.reset();
  io_.stop();
  thread_.join();
}

HttpServerOptions Options() {
  HttpServerOptions o;
  o.read_timeout = 20s;
  o.idle_timeout = 60s;
  return o;
}

TEST(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  Server s(Options());
  auto c = TcpClient::Connect(s.port());
  ASSERT_TRUE(c);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c->Send(BuildRequest("POST", "/x", "n" + std::to_string(i))));
    auto r = c->ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "POST /x n" + std::to_string(i));
  }
  EXPECT_EQ(s.Connections(), 1u);
}

TEST(HttpServer, BodyOverLimitGets413ProblemAndClose) {
  auto o = Options();
  o.body_limit = 1024;
  Server s(o);
  auto c = TcpClient::Connect(s.port());
  ASSERT_TRUE(c);
  // Announce more than the limit; send only part of it.
  ASSERT_TRUE(c->Send("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n" +
                      std::string(100, 'a')));
  auto r = c->ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(CheckProblem(*r), std::vector<std::string>{});
  EXPECT_TRUE(c->WaitForClose());
}

TEST(HttpServer, BodyAtLimitIsAccepted) {
  auto o = Options();
  o.body_limit = 1024;
  Server s(o);
  auto r = testing::Fetch(s.port(), "POST", "/ok", std::string(1024, 'b'));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServer, ExpectContinueGetsGoAheadBeforeTheBody) {
  Server s(Options());
  auto c = TcpClient::Connect(s.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(
      c->Send("POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
              "Content-Length: 4\r\n\r\n"));
  auto interim = c->ReadResponse();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c->Send("body"));
  auto r = c->ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST /e body");
}

TEST(HttpServer, ExpectContinueOverTheLimitGets413WithoutTheBody) {
  auto o = Options();
  o.body_limit = 1024;
  Server s(o);
  auto c = TcpClient::Connect(s.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(
      c->Send("POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
              "Content-Length: 5000\r\n\r\n"));
  auto r = c->ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST(HttpServer, StalledRequestGets408) {
  auto o = Options();
  o.read_timeout = 300ms;
  Server s(o);
  auto c = TcpClient::Connect(s.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Send("GET /slow HTTP/1.1\r\nHost: x\r\n"));  // headers never finish
  auto r = c->ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_EQ(CheckProblem(*r), std::vector<std::string>{});
  EXPECT_TRUE(c->WaitForClose());
}

// The read deadline is the whole request's, not each read's: a client
// dripping a byte now and then, each within the timeout, still gets its 408
// once the timeout has passed since the request began.
TEST(HttpServer, ARequestTrickledInByteByByteGets408AtTheWholeRequestsDeadline) {
  auto o = Options();
  o.read_timeout = 600ms;
  Server s(o);
  auto c = TcpClient::Connect(s.port());
  ASSERT_TRUE(c);
  const std::string head = "GET /slow HTTP/1.1\r\nHost: x\r\nX-Pad: ";
  ASSERT_TRUE(c->Send(head));
  const auto began = std::chrono::steady_clock::now();
  // Up to 6 s of one byte per 100 ms: far past the 600 ms deadline unless
  // the server cuts it short (it answers, closes, and a send fails).
  bool closed = false;
  for (int i = 0; i < 60 && !closed; ++i) {
    std::this_thread::sleep_for(100ms);
    closed = !c->Send("a");
  }
  auto r = c->ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_LT(std::chrono::steady_clock::now() - began, 5s) << "no deadline for the whole request";
}

// A body sent in chunks counts against the limit as one with a length.
TEST(HttpServer, AChunkedBodyOverTheLimitGets413) {
  auto o = Options();
  o.body_limit = 1024;
  Server s(o);
  auto c = TcpClient::Connect(s.port());
  ASSERT_TRUE(c);
  const std::string chunk(600, 'c');  // two of them: 1,200 bytes
  std::ostringstream hex;
  hex << std::hex << chunk.size();
  ASSERT_TRUE(c->Send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                      hex.str() + "\r\n" + chunk + "\r\n" + hex.str() + "\r\n" + chunk +
                      "\r\n0\r\n\r\n"));
  auto r = c->ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(CheckProblem(*r), std::vector<std::string>{});
}

// A flood of headers gets 431, not unbounded memory.
TEST(HttpServer, HeadersOverTheLimitGet431) {
  Server s(Options());
  auto c = TcpClient::Connect(s.port());
  ASSERT_TRUE(c);
  std::string head = "GET /x HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 2000; ++i)
    head += "X-H" + std::to_string(i) + ": " + std::string(40, 'h') + "\r\n";
  c->Send(head + "\r\n");  // the server may close before it has read all of it
  auto r = c->ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
}

TEST(HttpServer, IdleKeepAliveConnectionIsClosedWithoutAnswer) {
  auto o = Options();
  o.idle_timeout = 300ms;
  Server s(o);
  auto c = TcpClient::Connect(s.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Send(BuildRequest("GET", "/a")));
  ASSERT_TRUE(c->ReadResponse());
  EXPECT_TRUE(c->WaitForClose());
  EXPECT_EQ(c->received(), "");
}

TEST(HttpServer, SilentNewConnectionIsClosedAfterReadTimeout) {
  auto o = Options();
  o.read_timeout = 300ms;
  Server s(o);
  auto c = TcpClient::Connect(s.port());
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->WaitForClose());
  EXPECT_EQ(c->received(), "");
}

TEST(HttpServer, ConnectionsBeyondTheCapGet503UntilOneCloses) {
  auto o = Options();
  o.max_connections = 2;
  Server s(o);
  std::vector<std::unique_ptr<TcpClient>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(TcpClient::Connect(s.port()));
    ASSERT_TRUE(held.back());
    ASSERT_TRUE(held.back()->Send(BuildRequest("GET", "/held")));
    auto r = held.back()->ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  auto extra = TcpClient::Connect(s.port());
  ASSERT_TRUE(extra);
  ASSERT_TRUE(extra->Send(BuildRequest("GET", "/more")));
  auto r = extra->ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->Header("retry-after"), "1");
  EXPECT_EQ(CheckProblem(*r), std::vector<std::string>{});
  EXPECT_TRUE(extra->WaitForClose());

  held.pop_back();
  ASSERT_TRUE(WaitUntil([&] { return s.Connections() < 2; }));
  auto again = testing::Fetch(s.port(), "GET", "/again");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

TEST(HttpServer, MalformedRequestGets400) {
  Server s(Options());
  auto c = TcpClient::Connect(s.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Send("NOT A REQUEST\r\n\r\n"));
  auto r = c->ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(CheckProblem(*r), std::vector<std::string>{});
}

// The parser's limits do not cover a chunk-size line or a trailer that
// never ends: those bytes wait in the connection's buffer until parsed.
// The buffer is capped, so a client cannot grow the daemon's memory for
// as long as it sends (before any signature is checked); it gets a 400 at
// once, not a 408 after the read timeout.
TEST(HttpServer, EndlessChunkFramingGets400NotUnboundedMemory) {
  auto o = Options();
  o.read_timeout = 5s;
  Server s(o);
  const std::string head = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string& framing : {std::string("1;"), std::string("0\r\nX-T: ")}) {
    auto c = TcpClient::Connect(s.port());
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->Send(head + framing + std::string(160 << 10, 'a')));
    auto r = c->ReadResponse();
    ASSERT_TRUE(r) << framing;
    EXPECT_EQ(r->status, 400) << framing << ": " << r->body;
    EXPECT_EQ(CheckProblem(*r), std::vector<std::string>{});
  }
  // Chunked bodies within the limits still arrive whole.
  auto c = TcpClient::Connect(s.port());
  ASSERT_TRUE(c);
  const std::string chunk(100 << 10, 'b');
  std::ostringstream hex;
  hex << std::hex << chunk.size();
  ASSERT_TRUE(c->Send(head + hex.str() + "\r\n" + chunk + "\r\n0\r\n\r\n"));
  auto ok = c->ReadResponse();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body.substr(0, 200);
  EXPECT_EQ(ok->body, "POST /x " + chunk);
}

TEST(HttpServer, ResponderMayBeCalledLaterFromAnotherThread) {
  std::vector<std::thread> workers;
  Server s(Options(), [&workers](HttpRequest req, Responder respond) {
    workers.emplace_back([req = std::move(req), respond = std::move(respond)] {
      std::this_thread::sleep_for(50ms);
      respond(Text("later " + req.path));
    });
  });
  auto r = testing::Fetch(s.port(), "GET", "/p");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "later /p");
  for (auto& t : workers) t.join();
}

TEST(HttpServer, DroppedResponderGives500) {
  Server s(Options(), [](HttpRequest, Responder) {});
  auto r = testing::Fetch(s.port(), "GET", "/dropped");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(CheckProblem(*r), std::vector<std::string>{});
}

TEST(HttpServer, HandlerExceptionGives500) {
  Server s(Options(), [](HttpRequest, Responder) { throw std::runtime_error("boom"); });
  auto r = testing::Fetch(s.port(), "GET", "/throws");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
}

TEST(HttpServer, ObserverSeesEveryAnswerWithItsStatus) {
  auto o = Options();
  o.body_limit = 10;
  Server s(o);
  std::vector<std::pair<std::string, int>> seen;
  s.OnIo([&] {
    s.server().SetObserver([&seen](const HttpRequest& req, int status, std::chrono::nanoseconds) {
      seen.emplace_back(req.path, status);
    });
    return 0;
  });
  ASSERT_TRUE(testing::Fetch(s.port(), "GET", "/one"));
  ASSERT_TRUE(testing::Fetch(s.port(), "POST", "/two", std::string(11, 'x')));
  ASSERT_TRUE(WaitUntil([&] { return s.OnIo([&] { return seen.size(); }) == 2; }));
  auto copy = s.OnIo([&] { return seen; });
  EXPECT_EQ(copy[0], std::make_pair(std::string("/one"), 200));
  EXPECT_EQ(copy[1], std::make_pair(std::string("/two"), 413));
}

TEST(HttpServer, UpdatedLimitsApplyToNewRequests) {
  auto o = Options();
  o.body_limit = 1024;
  Server s(o);
  auto before = testing::Fetch(s.port(), "POST", "/x", std::string(100, 'a'));
  ASSERT_TRUE(before);
  EXPECT_EQ(before->status, 200);
  o.body_limit = 10;
  s.OnIo([&] {
    s.server().UpdateLimits(o);
    return 0;
  });
  auto after = testing::Fetch(s.port(), "POST", "/x", std::string(100, 'a'));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 413);
}

TEST(HttpServer, ShutdownLetsABegunRequestFinishWithConnectionClose) {
  Server s(Options());
  auto c = TcpClient::Connect(s.port());
  ASSERT_TRUE(c);
  const std::string req = BuildRequest("POST", "/upload", "0123456789");
  ASSERT_TRUE(c->Send(req.substr(0, req.size() - 5)));  // half of the body
  ASSERT_TRUE(WaitUntil([&] { return s.InFlight() == 1; }));

  std::promise<void> done;
  s.OnIo([&] {
    s.server().Shutdown(20s, [&done] { done.set_value(); });
    return 0;
  });
  // The listener is closed: new connections are refused.
  EXPECT_TRUE(WaitUntil([&] { return TcpClient::Connect(s.port()) == nullptr; }));

  ASSERT_TRUE(c->Send(req.substr(req.size() - 5)));
  auto r = c->ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST /upload 0123456789");
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_EQ(done.get_future().wait_for(testing::kPatience), std::future_status::ready);
}

TEST(HttpServer, ShutdownClosesIdleKeepAliveConnectionsAtOnce) {
  Server s(Options());  // idle timeout 60 s: a close now is the shutdown's
  auto c = TcpClient::Connect(s.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Send(BuildRequest("GET", "/a")));
  ASSERT_TRUE(c->ReadResponse());
  std::promise<void> done;
  s.OnIo([&] {
    s.server().Shutdown(20s, [&done] { done.set_value(); });
    return 0;
  });
  EXPECT_TRUE(c->WaitForClose());
  EXPECT_EQ(done.get_future().wait_for(testing::kPatience), std::future_status::ready);
}

TEST(HttpServer, ShutdownDeadlineCutsARequestThatNeverCompletes) {
  Server s(Options());
  auto c = TcpClient::Connect(s.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Send("GET /never HTTP/1.1\r\n"));
  ASSERT_TRUE(WaitUntil([&] { return s.InFlight() == 1; }));
  std::promise<void> done;
  s.OnIo([&] {
    s.server().Shutdown(200ms, [&done] { done.set_value(); });
    return 0;
  });
  EXPECT_EQ(done.get_future().wait_for(testing::kPatience), std::future_status::ready);
  EXPECT_TRUE(c->WaitForClose());
}

TEST(HttpServer, StartFailsWhenTheAddressIsTaken) {
  Server first(Options());
  boost::asio::io_context io;
  auto o = Options();
  o.port = first.port();
  HttpServer second(io, o, Echo);
  Status st = second.Start();
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace consentd::net
