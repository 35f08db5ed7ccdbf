#include "daemon/components.h"

#include <spdlog/spdlog.h>

#include "daemon/logging.h"
#include "store/erasure_ledger.h"
#include "store/sqlite_store.h"

namespace consentd::daemon {

namespace {

net::HttpServerOptions ServerOptions(const config::HttpConfig& http) {
  net::HttpServerOptions o;
  o.address = http.address;
  o.port = http.port;
  o.body_limit = http.body_limit_bytes;
  o.max_connections = http.max_connections;
  o.read_timeout = http.read_timeout;
  o.idle_timeout = http.idle_timeout;
  return o;
}

net::HttpResponse JsonStatus(int status, std::string_view text) {
  net::HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::string("{\"status\":\"") + std::string(text) + "\"}";
  return r;
}

}  // namespace

// ---------------------------------------------------------------- logging

Status LoggingComponent::Start(const config::Config& config) {
  return ConfigureLogging(config.log);
}

void LoggingComponent::CommitReload(const config::Config& next) {
  // The config was validated: the level is known, so this cannot fail.
  if (Status s = ConfigureLogging(next.log); !s.ok()) {
    spdlog::error("log settings not applied: {}", s.ToString());
    return;
  }
  spdlog::info("log level {}, format {}", next.log.level,
               next.log.format == config::LogFormat::kJson ? "json" : "text");
}

void LoggingComponent::Stop(std::chrono::steady_clock::time_point, std::function<void()> done) {
  spdlog::default_logger()->flush();
  done();
}

// ------------------------------------------------------------------ store

Status StoreComponent::Start(const config::Config& config) {
  Result<InstanceLock> lock = InstanceLock::Acquire(config.store.path);
  if (!lock.ok()) return lock.status().WithContext("store " + config.store.path);
  lock_.emplace(std::move(lock).value());
  store::SqliteStoreOptions options;
  options.path = config.store.path;
  options.erasure_ledger_path = config.sync.erasure_ledger_file;
  options.on_ledger_failure = [path = config.sync.erasure_ledger_file](const Status& s) {
    spdlog::error(
        "privacy: erasure ledger {}: the erasures just committed were not appended "
        "(a restore from a backup would not re-apply them): {}",
        path, s.message());
  };
  options.on_fail_stop = on_fail_stop_;
  auto opened = store::SqliteStore::Open(std::move(options));
  if (!opened.ok()) {
    lock_.reset();
    return opened.status().WithContext("store " + config.store.path);
  }
  // After the store (which reports a missing state directory itself).
  if (!config.sync.erasure_ledger_file.empty()) {
    if (Status writable = store::CheckLedgerWritable(config.sync.erasure_ledger_file);
        !writable.ok()) {
      (void)(*opened)->Close();
      lock_.reset();
      return writable.WithContext("sync.erasure_ledger_file");
    }
  }
  store_ = std::move(opened).value();
  spdlog::info("store open: {}", config.store.path);
  return Status::Ok();
}

void StoreComponent::RegisterMetrics(metrics::Registry& registry) {
  using Stats = store::StoreStats;
  auto stats = [this] { return store_ ? store_->stats() : Stats{}; };
  // A counter without labels whose value is one field of the store's stats.
  auto counter = [&registry, stats](std::string_view name, std::string_view help, auto field) {
    registry.AddCallbackFamily(name, help, metrics::MetricType::kCounter, {}, [stats, field] {
      return std::vector<metrics::Registry::LabeledValue>{
          {{}, static_cast<double>(field(stats()))}};
    });
  };
  counter("consentd_store_transactions_total", "Store transactions begun (group commits).",
          [](const Stats& s) { return s.batches; });
  counter("consentd_store_failed_transactions_total",
          "Store transactions rolled back, or committed but not made durable (a failed fsync).",
          [](const Stats& s) { return s.failed_batches; });
  counter("consentd_store_submissions_total",
          "Units of work the store ran (webhook groups, poll pages, deliveries, ...).",
          [](const Stats& s) { return s.submissions; });
  registry.AddCallbackGauge("consentd_store_queued_submissions",
                            "Units of work waiting for the store right now.",
                            [stats] { return static_cast<double>(stats().queued); });
  counter("consentd_erasure_ledger_write_failures_total",
          "Transactions with erasures whose records could not be appended to the erasure ledger "
          "(sync.erasure_ledger_file): a restore from a backup would not re-apply those.",
          [](const Stats& s) { return s.erasure_ledger_failures; });
  registry.AddCallbackGauge(
      "consentd_erasure_ledger_backlog",
      "Erasure ledger records whose append failed and that wait for the next try (every 10 s "
      "with store activity, and at stop); 0 once the ledger has them all.",
      [stats] { return static_cast<double>(stats().erasure_ledger_backlog); });
  counter("consentd_store_wal_syncs_total",
          "fsyncs of the write-ahead log, each making the commits before it durable.",
          [](const Stats& s) { return s.wal_syncs; });
  counter("consentd_store_wal_sync_seconds_total",
          "Time spent in those fsyncs; divided by their count, the disk's flush latency.",
          [](const Stats& s) { return s.wal_sync_seconds; });
}

void StoreComponent::Stop(std::chrono::steady_clock::time_point, std::function<void()> done) {
  if (store_) {
    // Close drains queued work and commits it: blocking the io thread is
    // fine here, the listener is already closed.
    close_status_ = store_->Close();
    if (!close_status_.ok()) {
      spdlog::error("store close failed: {}", close_status_.ToString());
    } else {
      spdlog::info("store closed");
    }
    store_.reset();
  }
  lock_.reset();
  done();
}

// ------------------------------------------------------------------- http

HttpComponent::HttpComponent(boost::asio::io_context& io, metrics::Registry& registry,
                             std::function<Status()> readiness)
    : io_(io),
      registry_(registry),
      readiness_(std::move(readiness)),
      requests_(registry.AddCounter("consentd_http_requests_total",
                                    "HTTP requests answered, by route, method and status.",
                                    {"route", "method", "status"})),
      durations_(registry.AddHistogram(
          "consentd_http_request_duration_seconds",
          "Time from a request fully read to its answer fully written.", {"route", "method"})) {
  AddBuiltinRoutes();
  // Summed over the current listener and any that still drain after a
  // rebind; read at scrape time (the counters are atomic).
  registry.AddCallbackGauge("consentd_http_connections_active", "Open HTTP connections.", [this] {
    return static_cast<double>(SumOverServers(&net::HttpServer::active_connections));
  });
  registry.AddCallbackGauge(
      "consentd_http_requests_in_flight", "HTTP requests begun and not yet fully answered.",
      [this] { return static_cast<double>(SumOverServers(&net::HttpServer::in_flight_requests)); });
}

std::size_t HttpComponent::SumOverServers(std::size_t (net::HttpServer::*count)() const) const {
  std::size_t n = server_ ? (server_.get()->*count)() : 0;
  for (const auto& s : retiring_) n += (s.get()->*count)();
  return n;
}

HttpComponent::~HttpComponent() = default;

void HttpComponent::AddBuiltinRoutes() {
  router_.Add("GET", "/healthz",
              [](net::HttpRequest, net::Responder respond) { respond(JsonStatus(200, "ok")); });
  router_.Add("GET", "/readyz", [this](net::HttpRequest, net::Responder respond) {
    Status s = readiness_ ? readiness_() : Status::Ok();
    if (s.ok()) {
      respond(JsonStatus(200, "ready"));
    } else {
      net::HttpResponse r = net::Problem(503, "Service Unavailable", s.message());
      r.headers.emplace_back("Retry-After", "1");
      respond(std::move(r));
    }
  });
  router_.Add("GET", "/metrics", [this](net::HttpRequest, net::Responder respond) {
    net::HttpResponse r;
    r.content_type = std::string(metrics::Registry::kContentType);
    r.body = registry_.Render();
    respond(std::move(r));
  });
}

void HttpComponent::Observe(const net::HttpRequest& req, int status,
                            std::chrono::nanoseconds duration) {
  const std::string route(req.path.empty() ? "unparsed" : router_.RouteLabel(req.path));
  const std::string method(req.method.empty() ? "none" : MethodLabel(req.method));
  requests_.WithLabels({route, method, std::to_string(status)}).Inc();
  const double seconds = std::chrono::duration<double>(duration).count();
  durations_.WithLabels({route, method}).Observe(seconds);
  // The path only: queries may carry personal data.
  spdlog::debug("http {} {} {} {:.3f}ms from {}", req.method, req.path, status, seconds * 1e3,
                req.remote_address);
}

std::unique_ptr<net::HttpServer> HttpComponent::MakeServer(const config::HttpConfig& http) {
  auto server = std::make_unique<net::HttpServer>(io_, ServerOptions(http), router_.AsHandler());
  server->SetObserver([this](const net::HttpRequest& req, int status, std::chrono::nanoseconds d) {
    Observe(req, status, d);
  });
  return server;
}

std::string HttpComponent::listening_on() const {
  return current_.address + ":" + std::to_string(server_ ? server_->port() : current_.port);
}

Status HttpComponent::Start(const config::Config& config) {
  current_ = config.http;
  shutdown_deadline_ = config.shutdown_deadline;
  server_ = MakeServer(config.http);
  CONSENTD_RETURN_IF_ERROR(server_->Start());
  spdlog::info("listening on {}", listening_on());
  return Status::Ok();
}

Status HttpComponent::PrepareReload(const config::Config& next) {
  if (next.http.address == current_.address && next.http.port == current_.port) {
    return Status::Ok();
  }
  pending_ = MakeServer(next.http);
  if (Status s = pending_->Start(); !s.ok()) {
    pending_.reset();
    return s.WithContext("http.listen");
  }
  return Status::Ok();
}

void HttpComponent::CommitReload(const config::Config& next) {
  shutdown_deadline_ = next.shutdown_deadline;
  if (pending_) {
    const std::string was = listening_on();  // before the swap: the old listener's
    std::unique_ptr<net::HttpServer> old = std::move(server_);
    server_ = std::move(pending_);
    current_ = next.http;
    spdlog::info("listening on {} (was {}); old listener drains", listening_on(), was);
    net::HttpServer* raw = old.get();
    retiring_.push_back(std::move(old));
    raw->Shutdown(shutdown_deadline_, [this, raw] {
      std::erase_if(retiring_, [raw](const auto& s) { return s.get() == raw; });
    });
    return;
  }
  current_ = next.http;
  server_->UpdateLimits(ServerOptions(next.http));
}

void HttpComponent::AbortReload() {
  if (pending_) pending_->StopAccepting();
  pending_.reset();
}

void HttpComponent::Stop(std::chrono::steady_clock::time_point deadline,
                         std::function<void()> done) {
  auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (remaining.count() < 0) remaining = std::chrono::milliseconds(0);
  std::vector<net::HttpServer*> servers;
  if (server_) servers.push_back(server_.get());
  for (auto& s : retiring_) servers.push_back(s.get());
  if (servers.empty()) {
    done();
    return;
  }
  auto left = std::make_shared<std::size_t>(servers.size());
  auto finish = std::make_shared<std::function<void()>>(std::move(done));
  for (net::HttpServer* s : servers) {
    s->Shutdown(remaining, [left, finish] {
      if (--*left == 0) (*finish)();
    });
  }
}

}  // namespace consentd::daemon
