// The orchestration thread: Asio lives here (and in net/http_server.cc).
#include "daemon/daemon.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <ctime>
#include <optional>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/proof/key_file.h"
#include "daemon/admin_api.h"
#include "daemon/components.h"
#include "daemon/metrics.h"
#include "daemon/notify.h"
#include "daemon/proof_log_component.h"
#include "daemon/sync_component.h"
#include "daemon/watchdog.h"

#ifndef CONSENTD_VERSION
#define CONSENTD_VERSION "unknown"
#endif

namespace consentd::daemon {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// /readyz reports a stuck store after at least this long (the idle
// heartbeat ticks every second), or after http.webhook_ack_deadline if longer.
constexpr std::chrono::seconds kStoreStalledAtLeast{2};

// Logs each line of a (possibly multi-line) error, e.g. every
// FILE:LINE:COLUMN diagnostic of a config.
void LogErrorLines(std::string_view prefix, const Status& s) {
  std::string_view rest = s.message();
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    if (!line.empty()) spdlog::error("{}{}", prefix, line);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
}

std::string_view SignalName(int sig) {
  switch (sig) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGHUP:
      return "SIGHUP";
    default:
      return "signal";
  }
}

}  // namespace

class Daemon::Impl {
 public:
  explicit Impl(std::string config_path)
      : config_path_(std::move(config_path)),
        notifier_(Notifier::FromEnvironment()),
        signals_(io_, SIGTERM, SIGINT, SIGHUP),
        watchdog_timer_(io_) {}

  int Run();
  Status Reload();

 private:
  void RegisterProcessMetrics();
  Status Readiness() const;
  void WaitForSignal();
  void BeginShutdown(int sig);
  void StopAfterStoreFailure(const Status& why);
  void StopFrom(size_t count, Clock::time_point deadline);
  void ArmWatchdog();
  void WatchdogTick();
  void Notify(const Status& s) {
    if (!s.ok()) spdlog::warn("systemd notify: {}", s.ToString());
  }
  std::string ServingStatus() const { return "serving on " + http_->listening_on(); }

  const std::string config_path_;
  // Declared first, destroyed last: every Asio object below belongs to it.
  asio::io_context io_;
  Notifier notifier_;
  asio::signal_set signals_;
  asio::steady_timer watchdog_timer_;
  metrics::Registry registry_;
  metrics::Family<metrics::Counter>* reloads_ = nullptr;  // owned by registry_

  std::shared_ptr<const config::Config> config_;
  // Components in start order; stopped in reverse.
  std::vector<std::unique_ptr<Component>> components_;
  StoreComponent* store_ = nullptr;  // owned by components_
  // Owned by components_; the sync engine reports appended entries to it.
  ProofLogComponent* proof_log_ = nullptr;
  HttpComponent* http_ = nullptr;    // owned by components_
  SyncComponent* sync_ = nullptr;    // owned by components_

  bool stopping_ = false;
  int exit_code_ = 0;
  std::chrono::microseconds watchdog_interval_{0};
  std::optional<WatchdogGate> watchdog_gate_;
  bool watchdog_withheld_ = false;
  // The store's heartbeat as /readyz last saw it change, and when (io
  // thread only; a lower bound on how long the store has been stuck).
};

void Daemon::Impl::RegisterProcessMetrics() {
  registry_
      .AddGauge("consentd_build_info", "Build information; the value is always 1.", {"version"})
      .WithLabels({CONSENTD_VERSION})
      .Set(1);
  const auto started_wall = std::chrono::system_clock::now();
  const auto started = Clock::now();
  registry_
      .AddGauge("process_start_time_seconds", "Start time of the process since the Unix epoch.")
      .Get()
      .Set(std::chrono::duration<double>(started_wall.time_since_epoch()).count());
  registry_.AddCallbackGauge(
      "consentd_process_uptime_seconds", "Seconds since consentd started.",
      [started] { return std::chrono::duration<double>(Clock::now() - started).count(); });
  // Both children exist from the start, so that rate() and alerts see 0.
  reloads_ =
      &registry_.AddCounter("consentd_config_reloads_total",
                            "Configuration reloads, by result (success or failure).", {"result"});
  reloads_->WithLabels({"success"});
  reloads_->WithLabels({"failure"});
}

Status Daemon::Impl::Readiness() const {
  if (stopping_) return Unavailable("shutting down");
  if (!store_ || !store_->store() || !store_->store()->IsOpen()) {
    return Unavailable("store is not open");
  }
  // A store that commits nothing (a disk that does not flush, another
  // process holding the database's lock) acknowledges no webhook: not ready,
  // once that has lasted longer than a webhook may wait for its commit. The
  // heartbeat grows after every unit of work and every second when idle;
  // the stall counts from its last beat, whenever /readyz is asked.
  const Clock::duration stalled =
      std::max(Clock::duration::zero(), Clock::now() - store_->store()->LastHeartbeatAt());
  const Clock::duration limit =
      std::max<Clock::duration>(config_->http.webhook_ack_deadline, kStoreStalledAtLeast);
  if (stalled > limit) {
    return Unavailable(
        "store has committed nothing for " +
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(stalled).count()) +
        " ms (a slow disk, or another process holding the database's lock): webhooks are "
        "answered 503");
  }
  // A transaction that waited out the lock's busy timeout fails, and the
  // heartbeat moves on: until one commits again, say so.
  if (store_->store()->stats().last_batch_failed) {
    return Unavailable(
        "the store's last transaction did not commit (another process holding the database's "
        "lock?): webhooks are answered 503 until one does");
  }
  if (sync_) return sync_->Readiness();
  return Status::Ok();
}

int Daemon::Impl::Run() {
  auto loaded = config::LoadConfigFile(config_path_);
  if (!loaded.ok()) {
    // Logging is not configured yet: plain lines on stderr, as check-config.
    std::fprintf(stderr, "%s\n", loaded.status().message().c_str());
    notifier_.SetStatus("configuration invalid").ok();
    return 1;
  }
  config_ = std::make_shared<const config::Config>(std::move(loaded).value());

  RegisterProcessMetrics();
  components_.push_back(std::make_unique<LoggingComponent>());
  auto store = std::make_unique<StoreComponent>(
      [this](const Status& why) { asio::post(io_, [this, why] { StopAfterStoreFailure(why); }); });
  store_ = store.get();
  store_->RegisterMetrics(registry_);
  components_.push_back(std::move(store));
  // After the store: its final checkpoint is written before the store closes.
  auto proof_log = std::make_unique<ProofLogComponent>(io_, *store_);
  proof_log_ = proof_log.get();
  proof_log_->RegisterMetrics(registry_);
  components_.push_back(std::move(proof_log));
  // HTTP is built before sync (sync adds its routes to HTTP's router) but
  // started after it and stopped before it: no webhook arrives while the
  // sync component is not running.
  auto http = std::make_unique<HttpComponent>(io_, registry_, [this] { return Readiness(); });
  http_ = http.get();
  auto sync = std::make_unique<SyncComponent>(io_, *store_, *proof_log_, http_->router(), registry_);
  sync_ = sync.get();
  components_.push_back(std::move(sync));
  auto admin = std::make_unique<AdminComponent>(
      http_->router(), [this] { return Reload(); },
      [this](std::function<void(std::vector<ConnectorCheck>)> done) {
        sync_->WhenChecksAnswer(AdminComponent::kReloadCheckWait, std::move(done));
      });
  AddSyncAdminRoutes(http_->router(), *admin, *sync_);
  components_.push_back(std::move(admin));
  components_.push_back(std::move(http));

  const auto start_deadline = Clock::now() + config_->shutdown_deadline;
  for (size_t i = 0; i < components_.size(); ++i) {
    if (Status s = components_[i]->Start(*config_); !s.ok()) {
      // Logging may not be up if it is the one that failed: say it on stderr too.
      LogErrorLines(std::string(components_[i]->Name()) + ": ", s);
      if (i == 0) std::fprintf(stderr, "consentd: %s\n", s.ToString().c_str());
      Notify(notifier_.SetStatus(std::string("failed to start ") +
                                 std::string(components_[i]->Name()) + ": " + s.message()));
      exit_code_ = 1;
      stopping_ = true;
      StopFrom(i, start_deadline);
      io_.run();
      // A stop after a clean run says "stopped (exit code 0)"; a start
      // that failed says so, with what failed, as the log's last line.
      spdlog::error("consentd did not start: {}: {} (exit code {})", components_[i]->Name(),
                    s.message(), exit_code_);
      spdlog::default_logger()->flush();
      return exit_code_;
    }
  }

  for (auto& c : components_) c->Started();

  // What --check-config prints as warnings goes to the log too: under
  // systemd nobody sees a terminal.
  for (const std::string& w : config_->warnings) spdlog::warn("configuration: {}", w);
  spdlog::info("consentd {} ready ({}, config {})", CONSENTD_VERSION, ServingStatus(),
               config_path_);
  Notify(notifier_.Ready(ServingStatus()));
  WaitForSignal();
  if (auto interval = Notifier::WatchdogInterval()) {
    watchdog_interval_ = *interval;
    watchdog_gate_.emplace(*interval, store_->store()->Heartbeat(), Clock::now());
    spdlog::info("systemd watchdog: ping every {} ms", watchdog_interval_.count() / 2000);
    ArmWatchdog();
  }
  io_.run();
  spdlog::info("consentd stopped (exit code {})", exit_code_);
  spdlog::default_logger()->flush();
  return exit_code_;
}

void Daemon::Impl::WaitForSignal() {
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;  // cancelled: shutting down
    spdlog::info("received {}", SignalName(sig));
    if (sig == SIGHUP) {
      Reload().ok();  // logged inside
    } else {
      BeginShutdown(sig);
    }
    WaitForSignal();
  });
}

Status Daemon::Impl::Reload() {
  if (stopping_) return FailedPrecondition("shutting down; reload ignored");
  Notify(notifier_.Reloading("reloading configuration"));
  auto fail = [&](const Status& s) {
    LogErrorLines("reload failed, keeping the running configuration: ", s);
    reloads_->WithLabels({"failure"}).Inc();
    Notify(notifier_.Ready(ServingStatus() + "; last reload failed"));
    return s;
  };

  auto loaded = config::LoadConfigFile(config_path_);
  if (!loaded.ok()) return fail(loaded.status());
  config::Config next = std::move(loaded).value();
  if (next.store.path != config_->store.path) {
    spdlog::warn("store.path changed to {}: takes effect after a restart; still using {}",
                 next.store.path, config_->store.path);
    // Keys kept beside the database by default move with it, i.e. also at
    // the restart; not a change of their own that would refuse the reload.
    if (next.sync.identity_key_file == config::DefaultIdentityKeyPath(next.store.path)) {
      next.sync.identity_key_file = config_->sync.identity_key_file;
    }
    if (next.sync.erasure_ledger_file == config::DefaultErasureLedgerPath(next.store.path)) {
      next.sync.erasure_ledger_file = config_->sync.erasure_ledger_file;
    }
    if (next.proof_log.signing_key_file == proof::DefaultSigningKeyPath(next.store.path)) {
      next.proof_log.signing_key_file = config_->proof_log.signing_key_file;
    }
    next.store.path = config_->store.path;
  }

  size_t prepared = 0;
  for (; prepared < components_.size(); ++prepared) {
    Status s;
    try {
      s = components_[prepared]->PrepareReload(next);
    } catch (const std::exception& e) {
      // Never out of a reload: on SIGHUP that would stop the daemon.
      s = Internal(std::string("preparing the reload failed: ") + e.what());
    }
    if (!s.ok()) {
      for (size_t j = prepared; j-- > 0;) components_[j]->AbortReload();
      // Lines that name the file already say where; others say which part.
      const bool located = s.message().starts_with(config_path_ + ":");
      return fail(located ? s : s.WithContext(components_[prepared]->Name()));
    }
  }
  for (auto& c : components_) c->CommitReload(next);
  config_ = std::make_shared<const config::Config>(std::move(next));
  reloads_->WithLabels({"success"}).Inc();
  spdlog::info("configuration reloaded from {}", config_path_);
  for (const std::string& w : config_->warnings) spdlog::warn("configuration: {}", w);
  Notify(notifier_.Ready(ServingStatus()));
  return Status::Ok();
}

void Daemon::Impl::BeginShutdown(int sig) {
  if (stopping_) {
    spdlog::info("already stopping; {} ignored", SignalName(sig));
    return;
  }
  stopping_ = true;
  const auto deadline = Clock::now() + config_->shutdown_deadline;
  spdlog::info("stopping: finishing in-flight requests (deadline {} ms)",
               config_->shutdown_deadline.count());
  Notify(notifier_.Stopping("stopping"));
  watchdog_timer_.cancel();
  // A reload's answer waiting for the connectors' checks goes out now: the
  // HTTP server, stopped first, waits for the requests it is answering.
  if (sync_) sync_->StopWaitingForChecks();
  StopFrom(components_.size(), deadline);
}

// The store stopped itself (a failed fsync: the kernel may have dropped
// pages SQLite took as written). Nothing is acknowledged any more, and
// only a restart recovers from what is really on disk: exit non-zero so
// that systemd (Restart=on-failure) starts consentd again.
void Daemon::Impl::StopAfterStoreFailure(const Status& why) {
  exit_code_ = 1;
  spdlog::critical("store stopped: {}; exiting with code 1 so that consentd is restarted",
                   why.ToString());
  if (stopping_) return;
  stopping_ = true;
  const auto deadline = Clock::now() + config_->shutdown_deadline;
  Notify(notifier_.Stopping("store failed: restarting"));
  watchdog_timer_.cancel();
  if (sync_) sync_->StopWaitingForChecks();  // as in BeginShutdown
  StopFrom(components_.size(), deadline);
}

// Stops components_[count-1] .. components_[0], one after the other.
void Daemon::Impl::StopFrom(size_t count, Clock::time_point deadline) {
  if (count == 0) {
    if (store_ && !store_->close_status().ok()) exit_code_ = 1;
    signals_.cancel();
    watchdog_timer_.cancel();
    io_.stop();
    return;
  }
  Component& c = *components_[count - 1];
  spdlog::debug("stopping {}", c.Name());
  c.Stop(deadline, [this, count, deadline] {
    // Posted: `done` may run inside the component's own call stack.
    asio::post(io_, [this, count, deadline] { StopFrom(count - 1, deadline); });
  });
}

void Daemon::Impl::ArmWatchdog() {
  watchdog_timer_.expires_after(watchdog_interval_ / 2);
  watchdog_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    WatchdogTick();
    ArmWatchdog();
  });
}

// Runs on the io thread (see WatchdogGate for the rule).
void Daemon::Impl::WatchdogTick() {
  const auto now = Clock::now();
  if (watchdog_gate_->MayPing(store_->store()->Heartbeat(), now)) {
    if (watchdog_withheld_) spdlog::info("store thread makes progress again; watchdog resumed");
    watchdog_withheld_ = false;
    Notify(notifier_.Watchdog());
  } else if (!watchdog_withheld_) {
    watchdog_withheld_ = true;
    spdlog::error(
        "store thread made no progress for {} ms; withholding the watchdog ping",
        std::chrono::duration_cast<std::chrono::milliseconds>(watchdog_gate_->StalledFor(now))
            .count());
  }
}

Daemon::Daemon(std::string config_path) : impl_(std::make_unique<Impl>(std::move(config_path))) {}
Daemon::~Daemon() = default;
int Daemon::Run() { return impl_->Run(); }
Status Daemon::Reload() { return impl_->Reload(); }

}  // namespace consentd::daemon
