// A scripted loopback HTTP server for connector tests that need an answer
// the simulator does not give (a vendor's partial failure, a made-up API):
// it records every request and answers by a handler the test sets (on the
// io thread). A real net::HttpServer, reached through the real client.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "net/http_server.h"

namespace consentd::connectors::testing {

class ScriptServer {
 public:
  using Script = std::function<net::HttpResponse(const net::HttpRequest&)>;

  ScriptServer() : work_(boost::asio::make_work_guard(io_)) {
    server_ = std::make_unique<net::HttpServer>(
        io_, net::HttpServerOptions{}, [this](net::HttpRequest req, net::Responder respond) {
          net::HttpResponse res;
          {
            std::lock_guard lock(mu_);
            requests_.push_back(req);
            res = script_ ? script_(req) : net::HttpResponse{};
          }
          respond(std::move(res));
        });
    EXPECT_TRUE(server_->Start().ok());
    thread_ = std::thread([this] { io_.run(); });
  }
  ~ScriptServer() {
    boost::asio::post(io_, [this] { server_.reset(); });
    work_.reset();
    thread_.join();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  void Answer(Script s) {
    std::lock_guard lock(mu_);
    script_ = std::move(s);
  }
  std::vector<net::HttpRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<net::HttpServer> server_;
  std::thread thread_;
  std::mutex mu_;
  Script script_;
  std::vector<net::HttpRequest> requests_;
};

inline net::HttpResponse JsonAnswer(int status, const nlohmann::json& body) {
  net::HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump();
  return r;
}

}  // namespace consentd::connectors::testing
