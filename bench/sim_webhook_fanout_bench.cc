// consentd-sim webhook fan-out: how many HubSpot webhooks per second the
// simulator emits, signs and delivers while it serves the API calls that
// cause them. The simulator runs on one io thread (as in the binary); the
// receiver on another; C client threads each make form sign-ups through
// the control API (one sign-up = one webhook POST with 3 events).
//
//   sim_webhook_fanout_bench [signups=4000] [client_threads=4]
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "net/http_server.h"
#include "sim/http_client.h"
#include "sim/hubspot/hubspot_system.h"
#include "sim/sim_server.h"

using namespace consentd;

int main(int argc, char** argv) {
  const int signups = argc > 1 ? std::atoi(argv[1]) : 4000;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 4;

  boost::asio::io_context recv_io;
  std::atomic<int> received{0};
  std::atomic<long> events{0};
  net::HttpServer receiver(recv_io, {}, [&](net::HttpRequest req, net::Responder respond) {
    long n = 0;
    for (char c : req.body) n += c == '{';
    events += n;
    ++received;
    net::HttpResponse r;
    r.status = 204;
    respond(std::move(r));
  });
  if (!receiver.Start().ok()) return 1;

  SystemClock clock;
  boost::asio::io_context io;
  sim::SimServer server(io, clock, sim::SimServerOptions{});
  sim::hubspot::HubSpotOptions o;
  o.rate_limits = false;
  o.webhook_url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/webhooks/hubspot";
  server.AddSystem(std::make_unique<sim::hubspot::HubSpotSystem>(clock, o), {});
  if (!server.Start().ok()) return 1;
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port("hubspot"));

  std::thread sim_thread([&] {
    auto g = boost::asio::make_work_guard(io);
    io.run();
  });
  std::thread recv_thread([&] {
    auto g = boost::asio::make_work_guard(recv_io);
    recv_io.run();
  });

  const auto start = std::chrono::steady_clock::now();
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < threads; ++t) {
    clients.emplace_back([&] {
      for (int i = next++; i < signups; i = next++) {
        sim::ClientRequest req;
        req.url = base + "/_sim/hubspot/person/signup";
        req.content_type = "application/json";
        req.body = "{\"email\":\"bench" + std::to_string(i) + "@example.com\"}";
        auto r = sim::HttpRequestSync(std::move(req));
        if (!r.ok() || r->status != 200) ++failed;
      }
    });
  }
  for (auto& c : clients) c.join();
  const auto api_done = std::chrono::steady_clock::now();
  while (received < signups - failed &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const auto end = std::chrono::steady_clock::now();
  const double api_s = std::chrono::duration<double>(api_done - start).count();
  const double total_s = std::chrono::duration<double>(end - start).count();
  std::printf("sim_webhook_fanout: signups=%d client_threads=%d failed=%d\n", signups, threads,
              failed.load());
  std::printf("  api calls/s          %.0f\n", signups / api_s);
  std::printf("  webhooks delivered   %d in %.3f s = %.0f webhooks/s (%.0f events/s)\n",
              received.load(), total_s, received / total_s, static_cast<double>(events) / total_s);
  io.stop();
  recv_io.stop();
  sim_thread.join();
  recv_thread.join();
  return failed == 0 ? 0 : 1;
}
