// The daemon's components (see component.h for the contract and order).
// None of these headers pulls in Asio: the io_context is only forward
// declared; daemon.cc owns it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/component.h"
#include "daemon/instance_lock.h"
#include "daemon/metrics.h"
#include "daemon/router.h"
#include "net/http_server.h"
#include "store/store.h"

namespace consentd::daemon {

// Log level and format; applies a reloaded log section at once.
class LoggingComponent final : public Component {
 public:
  std::string_view Name() const override { return "logging"; }
  Status Start(const config::Config& config) override;
  void CommitReload(const config::Config& next) override;
  void Stop(std::chrono::steady_clock::time_point deadline, std::function<void()> done) override;
};

// Opens the store at start, closes it (draining queued work) at stop.
// store.path is read once: the daemon keeps the old path on reload.
class StoreComponent final : public Component {
 public:
  // `on_fail_stop` runs on a store thread when the store stops itself (a
  // failed fsync: nothing is durable until a restart).
  explicit StoreComponent(std::function<void(const Status&)> on_fail_stop = nullptr)
      : on_fail_stop_(std::move(on_fail_stop)) {}
  std::string_view Name() const override { return "store"; }
  Status Start(const config::Config& config) override;
  void Stop(std::chrono::steady_clock::time_point deadline, std::function<void()> done) override;

  // The store's group commits, its queue and its WAL fsyncs on /metrics
  // (read at scrape time, on the io thread like Start and Stop; 0 while no
  // store is open).
  void RegisterMetrics(metrics::Registry& registry);

  // Null before Start and after Stop. Borrowed by other components.
  store::Store* store() const { return store_.get(); }
  // The outcome of closing the store (OK before Stop).
  const Status& close_status() const { return close_status_; }

 private:
  std::function<void(const Status&)> on_fail_stop_;
  // Held from before the store opens until after it closed.
  std::optional<InstanceLock> lock_;
  std::unique_ptr<store::Store> store_;
  Status close_status_;
};

// The HTTP listener: /healthz, /readyz, /metrics, and whatever routes later
// components add to router() before Start. A reload with new limits
// applies them to new requests; a reload with a new http.listen binds the
// new address first (failure aborts the reload) and then retires the old
// listener gracefully.
class HttpComponent final : public Component {
 public:
  // `readiness` answers /readyz: OK, or why the daemon is not ready.
  HttpComponent(boost::asio::io_context& io, metrics::Registry& registry,
                std::function<Status()> readiness);
  ~HttpComponent() override;

  std::string_view Name() const override { return "http"; }
  Status Start(const config::Config& config) override;
  Status PrepareReload(const config::Config& next) override;
  void CommitReload(const config::Config& next) override;
  void AbortReload() override;
  void Stop(std::chrono::steady_clock::time_point deadline, std::function<void()> done) override;

  Router& router() { return router_; }
  std::string listening_on() const;  // "ADDRESS:PORT" of the current listener

 private:
  std::unique_ptr<net::HttpServer> MakeServer(const config::HttpConfig& http);
  void AddBuiltinRoutes();
  std::size_t SumOverServers(std::size_t (net::HttpServer::*count)() const) const;
  void Observe(const net::HttpRequest& req, int status, std::chrono::nanoseconds duration);

  boost::asio::io_context& io_;
  metrics::Registry& registry_;
  std::function<Status()> readiness_;
  Router router_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& durations_;
  config::HttpConfig current_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpServer> pending_;                // bound during a reload
  std::vector<std::unique_ptr<net::HttpServer>> retiring_;  // draining after a rebind
  std::chrono::milliseconds shutdown_deadline_{10000};
};

}  // namespace consentd::daemon
