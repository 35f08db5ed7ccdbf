#include "daemon/sync_component.h"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <latch>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "config/reload_scope.h"
#include "connectors/common/budgeted_http_client.h"
#include "connectors/common/desired_state.h"
#include "connectors/common/http_client.h"
#include "connectors/common/rate_limiter.h"
#include "connectors/common/retry_policy.h"
#include "core/clock.h"
#include "core/time_format.h"
#include "daemon/connector_factory.h"
#include "daemon/export_delivery.h"
#include "daemon/log_throttle.h"
#include "daemon/shared_read.h"
#include "daemon/stats_history_routes.h"
#include "daemon/sync_metrics.h"
#include "daemon/webhook_ack_deadline.h"
#include "daemon/webhook_batcher.h"
#include "mapping/policy.h"
#include "privacy/export.h"
#include "store/config_history.h"
#include "store/erasure_ledger.h"
#include "store/erasure_requests.h"
#include "store/outbox_stats.h"
#include "store/proof_log_status.h"
#include "sync/consent_stats.h"
#include "sync/explain.h"
#include "sync/ledger_replay.h"
#include "sync/outbound.h"
#include "sync/read_again.h"
#include "sync/read_again_schedule.h"
#include "sync/recent_versions.h"
#include "sync/resync.h"
#include "sync/sync_engine.h"
#include "sync/version_memory.h"

namespace consentd::daemon {
namespace asio = boost::asio;
using connectors::Connector;

namespace {

constexpr std::string_view kWebhookPrefix = "/webhooks/";

// "outbox #7" or "outbox #7, #8, #9 (3 rows)", at most five ids named:
// "outbox #7, #8, #9, #10, #11, ... (50 rows)".
std::string OutboxRowsText(const std::vector<std::int64_t>& ids) {
  constexpr std::size_t kNamed = 5;
  std::string out = "outbox";
  for (std::size_t i = 0; i < ids.size() && i < kNamed; ++i) {
    out += (i == 0 ? " #" : ", #") + std::to_string(ids[i]);
  }
  if (ids.size() > kNamed) out += ", ...";
  if (ids.size() > 1) out += " (" + std::to_string(ids.size()) + " rows)";
  return out;
}
// Most hints one read round takes. A HubSpot sign-up brings 2-3 events
// (one read); a round costs one durable commit and a few batch reads
// whatever its size, so under load the rounds must grow, or the hints
// queue behind them (issue #5: 100 capped the rounds at ~2,500 events/s).
constexpr int kHintBatch = 500;
// Hint rounds in flight per connector: a round's read overlaps the commit
// of the one before (issue #5: serial rounds made every hint wait a whole
// read and commit of the round ahead of it).
constexpr int kHintRounds = 2;
// A claimed outbox row is re-claimable after this long without an outcome
// (a crash, or a call stuck past its deadline).
constexpr std::chrono::milliseconds kLeaseSlack{30000};
// When nothing is due, the dispatcher looks again this often for retries
// that became due (a change wakes it at once).
constexpr std::chrono::milliseconds kDispatchIdle{1000};
constexpr std::chrono::milliseconds kHousekeepingEvery{5000};
// The consent-count gauges cost a pass over all subjects: every 12th run
// (once a minute), through the ConsentStats cache.
constexpr std::uint64_t kConsentMetricsEveryRuns = 12;
// Connector checks again (credentials, mapped topics), for /readyz: every
// 6th run (30 s) while the last one failed, so a system that comes up after
// consentd is seen soon; every 120th (10 min) while it passes, so revoked
// credentials or a deleted topic are seen too. A few calls each.
constexpr std::uint64_t kRecheckFailingEveryRuns = 6;
constexpr std::uint64_t kRecheckPassingEveryRuns = 120;

TimestampMs NowMs() { return SystemClock().NowMs(); }

std::string PollerName(std::string_view connector) { return "poll:" + std::string(connector); }

// Worker threads: enough for every connector's in-flight cap, bounded.
// Delivery batches of one connector in flight at once: half its in-flight
// cap (a batch may need several calls), else 4; at most its share of the
// shared pool (kMaxPoolShareOfAConnector).
int MaxParallelBatches(const config::ConnectorRateLimit& limit) {
  return std::clamp(limit.max_in_flight > 0 ? limit.max_in_flight / 2 : 4, 1,
                    kMaxPoolShareOfAConnector);
}

std::size_t PoolSize(const config::Config& config) {
  std::size_t n = 2;
  for (const auto& [name, c] : config.connectors) {
    n += static_cast<std::size_t>(c.rate_limit.max_in_flight > 0 ? c.rate_limit.max_in_flight : 4);
  }
  return std::min<std::size_t>(n, 32);
}

// Polls and full reconciliations read whole pages of a system (at 1,000
// changes/s, a Mailchimp poll parses about 3 MB of JSON every 5 s) in
// bursts. On threads of their own ("consentd-poll") at a lower CPU
// priority (nice +10 over the process's: allowed unprivileged, and a
// thread's nice is its own on Linux) they take the CPU the per-change work
// leaves over instead of holding up hint reads and deliveries on a busy
// machine (docs/benchmarks.md, ninth round). On an idle machine they run
// as fast as before.
constexpr int kBulkNiceIncrement = 10;
constexpr int kMaxNice = 19;

void LowerThisThreadsPriority() {
  pthread_setname_np(pthread_self(), "consentd-poll");
  const auto tid = static_cast<id_t>(gettid());
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, tid);  // -1 is a valid answer
  if (errno == 0 &&
      setpriority(PRIO_PROCESS, tid, std::min(kMaxNice, nice + kBulkNiceIncrement)) == 0) {
    return;
  }
  spdlog::warn("sync: cannot lower the priority of a poll thread: {}", std::strerror(errno));
}

std::unique_ptr<asio::thread_pool> MakeBulkPool(std::size_t threads) {
  auto pool = std::make_unique<asio::thread_pool>(threads);
  // One task per thread: each lowers its own thread's priority and waits
  // until all have (so that no thread takes two), and so does the caller
  // (so that every poll thread is set when the daemon says it is ready).
  auto started = std::make_shared<std::latch>(static_cast<std::ptrdiff_t>(threads + 1));
  for (std::size_t i = 0; i < threads; ++i) {
    asio::post(*pool, [started] {
      LowerThisThreadsPriority();
      started->arrive_and_wait();
    });
  }
  started->arrive_and_wait();
  return pool;
}

connectors::RateLimit ToRateLimit(const config::ConnectorRateLimit& r) {
  return {r.requests, r.interval, r.max_in_flight, r.search_requests, r.search_interval};
}

// One line for a unit's decisions: "hubspot: 412 decisions (applied 300,
// echo 112); each at debug".
std::string FormatOutcomes(const sync::IngestSummary& summary) {
  std::map<std::string, std::map<Outcome, int>> by_source;
  for (const auto& n : summary.notes) ++by_source[n.source][n.outcome];
  std::string line;
  for (const auto& [source, outcomes] : by_source) {
    int total = 0;
    std::string parts;
    for (const auto& [outcome, count] : outcomes) {
      total += count;
      parts += (parts.empty() ? "" : ", ") + std::string(OutcomeName(outcome)) + " " +
               std::to_string(count);
    }
    line += (line.empty() ? "" : "; ") + source + ": " + std::to_string(total) + " decisions (" +
            parts + ")";
  }
  return line + "; each at debug";
}

std::string FormatNote(const sync::DecisionNote& n) {
  std::string line = n.source + ": " + n.subject + " " + n.what + ": " +
                     std::string(OutcomeName(n.outcome)) +
                     (n.reason.empty() ? "" : " (" + n.reason + ")");
  for (const auto& target : n.blocked_targets) {
    line += "; " + target + " refuses it: blocked_by_target, not sent";
  }
  return line;
}

}  // namespace

// The versions a unit decided, to hold in Link::recent_versions once it
// commits, with the tombstone generation it ran at.
struct DecidedVersions {
  std::vector<std::string> versions;
  std::int64_t generation = 0;
};

// Runtime state of one connector. Scheduling fields are touched on the io
// thread only; the connector itself on pool threads (shared_ptr copies keep
// it alive across a reload that replaces it).
struct Link {
  Link(asio::io_context& io, const config::ConnectorConfig& c)
      : config(c),
        limiter(ToRateLimit(c.rate_limit)),
        read_again_timer(io),
        poll_timer(io),
        dispatch_timer(io),
        hint_timer(io),
        resync_timer(io) {}

  config::ConnectorConfig config;
  connectors::RateLimiter limiter;
  connectors::BudgetStats budget;
  std::unique_ptr<connectors::BudgetedHttpClient> http;
  std::shared_ptr<Connector> connector;
  // Of the secret files `connector` was built with (ConnectorSecretsDigest):
  // a reload rebuilds the connector when they changed.
  std::string secrets_digest;

  mutable std::mutex check_mu;
  Status check = Unavailable("not checked yet");
  // Set (under check_mu) when the target refused a delivery for its
  // credentials (401, 403), cleared by the next delivery it takes: a token
  // that may read but not write passes Check() and is shown here instead.
  Status deliveries_refused;
  // When such a refusal last ran the check again (at most every 30 s).
  std::chrono::steady_clock::time_point refusal_checked_at;
  // Refused webhooks are logged at most once per 10 s (anyone can send
  // them, and each line names the URL the request claims): the first of a
  // spell, then one with how many were refused meanwhile.
  LogThrottle webhook_refusal_log{std::chrono::seconds(10)};
  bool check_running = false;  // io thread
  bool check_again = false;    // io thread
  // Checks started and the last one answered, numbered from 1 (io thread):
  // what a reload waits for (WhenChecksAnswer).
  std::uint64_t checks_started = 0;
  std::uint64_t checks_answered = 0;

  // Hints: up to kHintRounds rounds at once, so one round's read overlaps
  // the previous round's commit. One listing at a time; the event ids a
  // round holds are not handed to another; rounds submit their decisions
  // in the order they were listed (KickHints).
  int hint_rounds = 0;
  bool hints_listing = false;
  bool hints_dirty = false;
  bool hints_backoff = false;  // a failed read waits on hint_timer
  int hint_failures = 0;
  std::set<std::string> hints_claimed;
  std::uint64_t hint_rounds_listed = 0;
  std::uint64_t hint_rounds_submitted = 0;
  std::map<std::uint64_t, std::function<void()>> hint_rounds_read;  // by listing order
  // Hints of records the system failed on their own (sync/read_again.h):
  // listings pass over them until their record's backoff has run out, so a
  // record the system keeps failing is read at that pace while every other
  // hint goes on.
  sync::ReadAgainSchedule read_again;
  asio::steady_timer read_again_timer;
  asio::steady_timer poll_timer;
  bool poll_running = false;  // a poll cycle (cursor read, pages, decisions) is under way
  int poll_failures = 0;
  // A poll cycle fetches the next page while the pages before it are
  // decided (PollFetch, PollDecide): at most one fetch and one decision in
  // flight, at most kPollPagesAhead fetched pages waiting.
  bool poll_fetching = false;
  bool poll_deciding = false;
  bool poll_more = false;    // the last page fetched said there is more
  bool poll_failed = false;  // fetch no more; the cycle ends once what is in flight returns
  std::chrono::milliseconds poll_retry{0};  // after a failed cycle
  std::string poll_next_cursor;             // where the fetch after the last decided page starts
  std::deque<connectors::PollPage> poll_ready;
  // Versions of this system's records decided or written lately, so that
  // reading them again (echo webhook, poll) is skipped before the store unit.
  sync::RecentVersions recent_versions;
  // Dispatcher.
  asio::steady_timer dispatch_timer;
  // store::Store::ForeignCommitsSeen at this link's last claim: when it
  // moves, another process (consentctl resync) may have queued hints that
  // nothing here announced, and the hint reader lists them.
  std::uint64_t foreign_commits_seen = 0;
  asio::steady_timer hint_timer;
  int deliveries_in_flight = 0;
  // Outbox rows this process is delivering now (io thread). A call can
  // outlast its claim's lease (a batch of member writes waiting for the
  // request budget); a claim that returns such a row again must not start
  // a second copy, which could land after a newer state for the same key.
  std::set<std::int64_t> delivering;
  std::atomic<bool> caught_up{false};  // the last poll page said "no more"
  bool claim_pending = false;
  bool dispatch_dirty = false;
  int max_parallel_batches = 2;
  // The connector's LearntState as stored (cursor LearntStateKey): loaded
  // with the first claim, before the first Deliver, again for a connector
  // rebuilt by a reload; stored when a delivery changed it.
  bool learnt_loaded = false;
  std::string learnt_saved;
  // Full reconciliation (sync/resync.h), every sync.resync_interval.
  asio::steady_timer resync_timer;
  bool resync_running = false;
  LinkActivity activity;  // for the status page (daemon/sync_status.h)
  // Webhooks (HandleWebhook): the "accepted" counter child and the batcher
  // that groups concurrent webhooks into one store submission
  // (daemon/webhook_batcher.h); both made on first use, on the io thread.
  metrics::Counter* webhooks_accepted = nullptr;
  std::unique_ptr<WebhookBatcher> webhooks;
};

class SyncComponent::Impl {
  // A WhenChecksAnswer waiting for the checks it names.
  struct CheckWaiter {
    std::map<std::string, std::uint64_t> awaited;  // connector -> Link::checks_started number
    // The mapping records (RecordMapping) submitted before the wait began:
    // the reload's answer means its mapping is recorded as in force, which
    // `consentctl resync` checks right after.
    std::uint64_t mapping_records = 0;
    std::function<void(std::vector<ConnectorCheck>)> done;
    std::unique_ptr<asio::steady_timer> timer;
  };

 public:
  Impl(asio::io_context& io, const StoreComponent& store, ProofLogComponent& proof_log,
       Router& router, metrics::Registry& registry)
      : io_(io),
        store_(store),
        proof_log_(proof_log),
        registry_(registry),
        metrics_(registry, [] { return NowMs(); }) {
    // Families live in SyncMetrics (daemon/sync_metrics.h, docs/monitoring.md).
    webhooks_ = &metrics_.webhooks;
    deliveries_ = &metrics_.deliveries;
    propagation_ = &metrics_.propagation;
    polls_ = &metrics_.polls;
    resyncs_ = &metrics_.resyncs;
    resync_drift_ = &metrics_.resync_drift;
    router.AddPrefix("POST", std::string(kWebhookPrefix), "/webhooks/{connector}",
                     [this](net::HttpRequest req, net::Responder respond) {
                       HandleWebhook(std::move(req), std::move(respond));
                     });
    // Mailchimp checks that a webhook URL exists with a GET before saving it.
    router.AddPrefix("GET", std::string(kWebhookPrefix), "/webhooks/{connector}",
                     [this](net::HttpRequest req, net::Responder respond) {
                       const std::string name = req.path.substr(kWebhookPrefix.size());
                       if (links_.count(name) == 0) {
                         respond(net::Problem(404, "Not Found", "no connector named " + name));
                       } else {
                         respond({200, "text/plain; charset=utf-8", {}, "ok\n"});
                       }
                     });
  }

  ~Impl() {
    if (pool_) pool_->join();
    if (bulk_pool_) bulk_pool_->join();
  }

  Status Start(const config::Config& config) {
    privacy_ = config.privacy;
    // Also without connectors: a reload that adds the first one is refused
    // (that needs a restart), naming the `sync:` keys that differ from
    // these, not from the defaults.
    sync_ = config.sync;
    if (config.connectors.empty()) {
      spdlog::info("sync: no connectors configured; consentd only serves its own API");
      return Status::Ok();
    }
    if (!config.has_mapping) return FailedPrecondition("connectors need a mapping section");
    // Made on the first start; after that, only the key the store's hashes
    // were made with is accepted (sync::OpenIdentityKey).
    Result<std::string> key = Internal("identity key not read");
    Status opened = store()->Run([&](store::Transaction& txn) -> Status {
      key = sync::OpenIdentityKey(txn, config.sync.identity_key_file,
                                  sync::IdentityKeyUse::kCreateAndBind, NowMs());
      return key.status();
    });
    if (!opened.ok()) return opened;
    mapping_ = std::make_shared<const mapping::MappingSpec>(config.mapping);
    identity_key_ = key.value();
    engine_ = std::make_unique<sync::SyncEngine>(sync::EngineSettings{mapping_, key.value()});
    sync_ = config.sync;
    acks_ = std::make_unique<WebhookAckDeadline>(
        io_, config.http.webhook_ack_deadline,
        [this](const std::string& connector) { WebhookTimedOut(connector); });
    backoff_.base = sync_.retry_base;
    backoff_.cap = sync_.retry_cap;
    backoff_.max_attempts = sync_.max_attempts;
    curl_ = connectors::MakeCurlHttpClient("consentd/" CONSENTD_VERSION);
    for (const auto& [name, c] : config.connectors) {
      auto link = std::make_unique<Link>(io_, c);
      link->http = std::make_unique<connectors::BudgetedHttpClient>(
          *curl_, link->limiter, stop_, link->budget, QuotaRefusalOf(c.kind));
      // The digest first: a file rotated while the connector is built then
      // shows as changed at the next reload, not as unchanged.
      Result<std::string> digest = ConnectorSecretsDigest(c);
      if (!digest.ok()) return digest.status().WithContext("connector " + name);
      link->secrets_digest = *std::move(digest);
      auto made = MakeConnector(c, mapping_, *link->http);
      if (!made.ok()) return made.status().WithContext("connector " + name);
      link->connector = std::shared_ptr<Connector>(std::move(made).value());
      link->max_parallel_batches = MaxParallelBatches(c.rate_limit);
      RegisterBudgetMetrics(*link);
      links_.emplace(name, std::move(link));
    }
    pool_ = std::make_unique<asio::thread_pool>(PoolSize(config));
    // A poll and a resync per connector at once: a resync can take minutes
    // and must not hold up the polls.
    bulk_pool_ = MakeBulkPool(std::clamp<std::size_t>(2 * config.connectors.size(), 2, 8));
    spdlog::info("sync: {} connector(s), mapping {}", links_.size(),
                 engine_->mapping_hash().substr(0, 12));
    // Read now, so that a ledger that cannot be read (a directory where
    // the file belongs, a line that is not a record) fails the start;
    // applied once every component has started (Started).
    Result<std::vector<store::LedgerRecord>> ledger =
        store::ReadLedger(config.sync.erasure_ledger_file);
    if (!ledger.ok()) return ledger.status();
    ledger_path_ = config.sync.erasure_ledger_file;
    ledger_at_start_ = std::move(ledger).value();
    housekeeping_ = std::make_unique<asio::steady_timer>(io_);
    Housekeeping();
    return Status::Ok();
  }

  // Every component started, nothing served yet: a start that failed after
  // this component's (the port taken, say) records no mapping in force and
  // marks no grant for re-consent.
  void Started() {
    if (links_.empty()) return;
    // Queued before any unit that decides with this mapping.
    RecordMapping(engine_->mapping_hash(), {"in force at start"}, "consentd");
    ApplyNoticeVersions();  // next on the store thread: before any decision
    // Before any hint, poll or delivery: a restored database must not send
    // a person erased since its backup anywhere again. The links start
    // once it has committed (StartLinks).
    ReplayErasureLedger(ledger_path_, std::move(ledger_at_start_));
    ledger_at_start_.clear();
  }

  // Checks, hint rounds, deliveries, polls and resyncs of every connector;
  // held until the erasure ledger was compared with the database.
  void StartLinks() {
    held_ = false;
    if (stopping_) return;
    for (auto& [name, link] : links_) {
      RunCheck(*link);
      KickHints(*link);  // hints a crash left behind
      Dispatch(*link);   // rows a crash left behind
      if (link->config.poll_interval.count() > 0) Poll(*link);
      // A change feed (or no poll) has no snapshot to reconcile against.
      if (sync_.resync_interval.count() > 0 && link->connector->PollsSnapshots()) {
        ScheduleFirstResync(*link);
      }
    }
  }

  Status PrepareReload(const config::Config& next) {
    prepared_connectors_.clear();
    prepared_digests_.clear();
    prepared_spec_.reset();
    // Without connectors nothing of sync runs, and nothing of it is in force.
    if (links_.empty() && next.connectors.empty()) return Status::Ok();
    // Connectors are built from their keys at start; changing one safely
    // mid-flight (claims, leases, cursors, timers) needs a restart. A reload
    // that changes such a key is refused as a whole, naming it.
    config::Config running;
    running.sync = sync_;
    for (const auto& [name, link] : links_) running.connectors.emplace(name, link->config);
    const std::vector<std::string> keys = config::KeysNeedingRestart(running, next);
    if (!keys.empty()) {
      // One line per key, as the file's own errors: FILE:LINE:COLUMN of
      // the connector's entry (a removed one: of `connectors:`), of the
      // `sync:` key changed (one left out: of `sync:`). Only the file
      // where the file has neither.
      std::string lines;
      for (const std::string& k : keys) {
        config::Position at;
        if (k.starts_with("connectors.")) {
          const std::string name = k.substr(11, k.find_first_of(". ", 11) - 11);
          auto c = next.connectors.find(name);
          at = c != next.connectors.end() ? c->second.at : next.connectors_at;
        } else if (k.starts_with("sync.")) {
          auto key = next.sync.keys_at.find(k.substr(5));
          if (key == next.sync.keys_at.end()) key = next.sync.keys_at.find("");
          if (key != next.sync.keys_at.end()) at = key->second;
        }
        lines += (lines.empty() ? "" : "\n") + next.Where(at) + ": " + k +
                 " changed, and needs a restart rather than a reload";
      }
      return FailedPrecondition(lines);
    }
    if (links_.empty()) return Status::Ok();
    // Every secret file is read again: one that cannot be read fails the
    // reload. A connector is rebuilt when the mapping changed (all are),
    // its secrets did (a rotated token or webhook secret) or its in-flight
    // cap did (a Mailchimp connector sizes its side-by-side reads and
    // delivery threads by it when built), before anything is applied, so a
    // reload that cannot build one changes nothing.
    const bool mapping_changed = MappingChanged(next.mapping);
    auto spec =
        mapping_changed ? std::make_shared<const mapping::MappingSpec>(next.mapping) : mapping_;
    std::map<std::string, std::shared_ptr<Connector>> made_all;
    std::map<std::string, std::string> digests;
    for (auto& [name, link] : links_) {
      const config::ConnectorConfig& c = next.connectors.at(name);
      Result<std::string> digest = ConnectorSecretsDigest(c);  // before the build, as at start
      if (!digest.ok()) return digest.status().WithContext("connector " + name);
      if (!mapping_changed && *digest == link->secrets_digest &&
          c.rate_limit.max_in_flight == link->config.rate_limit.max_in_flight) {
        continue;
      }
      auto made = MakeConnector(c, spec, *link->http);
      if (!made.ok()) return made.status().WithContext("connector " + name);
      made_all.emplace(name, std::shared_ptr<Connector>(std::move(made).value()));
      digests.emplace(name, *std::move(digest));
    }
    if (mapping_changed) prepared_spec_ = std::move(spec);
    prepared_connectors_ = std::move(made_all);
    prepared_digests_ = std::move(digests);
    return Status::Ok();
  }

  void AbortReload() {
    prepared_connectors_.clear();
    prepared_digests_.clear();
    prepared_spec_.reset();
  }

  bool MappingChanged(const mapping::MappingSpec& next) const {
    // mapping_ is the io thread's copy of what the engine decides by (the
    // engine's own hash is the store thread's to read).
    return next.topics.size() != mapping_->topics.size() ||
           mapping::MappingHash(next) != mapping::MappingHash(*mapping_);
  }

  void CommitReload(const config::Config& next) {
    privacy_ = next.privacy;  // read per delivery: takes effect at once
    if (links_.empty()) return;
    acks_->set_deadline(next.http.webhook_ack_deadline);
    const bool mapping_changed = prepared_spec_ != nullptr;
    auto spec = prepared_spec_;
    for (auto& [name, link] : links_) {
      // The whole budget at once: the limiter, the batches in flight, and
      // what the status page measures the use against. (The worker pool
      // keeps the size it started with: docs/configuration.md.)
      const config::ConnectorRateLimit& limit = next.connectors.at(name).rate_limit;
      const int old_max_in_flight = link->config.rate_limit.max_in_flight;
      // Only a changed limit starts the budget afresh: a reload for
      // anything else keeps what the vendor's 429s taught it.
      if (link->limiter.limit() != ToRateLimit(limit)) link->limiter.Update(ToRateLimit(limit));
      link->config.rate_limit = limit;
      link->max_parallel_batches = MaxParallelBatches(limit);
      if (auto made = prepared_connectors_.find(name); made != prepared_connectors_.end()) {
        made->second->TakeOverMemory(*link->connector);
        link->connector = made->second;
        link->learnt_loaded = false;  // the new instance learnt nothing yet
        const std::string& digest = prepared_digests_.at(name);
        if (!mapping_changed && digest != link->secrets_digest) {
          spdlog::info("sync: {}: secret files changed; the connector now uses them", name);
        }
        if (limit.max_in_flight != old_max_in_flight) {
          spdlog::info(
              "sync: {}: rate_limit.max_in_flight changed from {} to {}; the connector was "
              "rebuilt for it (0: unlimited)",
              name, old_max_in_flight, limit.max_in_flight);
        }
        if (digest != link->secrets_digest) {
          // A refusal was of the old credentials: the new ones have not
          // been refused. The check below and the next delivery say
          // whether they are taken.
          std::lock_guard lock(link->check_mu);
          link->deliveries_refused = Status::Ok();
        }
        link->secrets_digest = digest;
      }
      // Every reload checks again (credentials, topics): /readyz follows.
      RunCheck(*link);
    }
    prepared_connectors_.clear();
    prepared_digests_.clear();
    prepared_spec_.reset();
    if (mapping_changed) {
      consent_stats_.Forget();  // counts are per mapped topic
      const std::vector<std::string> lines = mapping::DescribeMappingChange(*mapping_, *spec);
      for (const std::string& line : lines) spdlog::info("sync: mapping: {}", line);
      mapping_ = spec;
      // Between units of work on the store thread: no decision sees half.
      Submit([engine = engine_.get(), spec](store::Transaction&) {
        engine->SetMapping(spec);
        return Status::Ok();
      });
      // The next unit on the store thread, before any decision under it.
      RecordMapping(mapping::MappingHash(*spec), lines, "admin");
      ApplyNoticeVersions();
      spdlog::info("sync: mapping reloaded");
    }
  }

  void Stop(std::chrono::steady_clock::time_point deadline, std::function<void()> done) {
    stopping_ = true;
    stop_.store(true);
    StopWaitingForChecks();  // (the daemon did so when the stop began)
    if (housekeeping_) housekeeping_->cancel();
    if (acks_) acks_->Cancel();  // waiting webhooks are answered by their commits
    for (auto& [name, link] : links_) {
      link->poll_timer.cancel();
      link->dispatch_timer.cancel();
      link->hint_timer.cancel();
      link->read_again_timer.cancel();
      link->resync_timer.cancel();
    }
    WaitIdle(deadline, std::move(done));
  }

  void RequestErasure(std::string email, std::string requested_by,
                      std::function<void(Result<ErasureRequest>)> done) {
    if (!engine_) return done(FailedPrecondition("no connectors configured"));
    auto request = std::make_shared<ErasureRequest>();
    auto summary = std::make_shared<sync::IngestSummary>();
    SubmitThen(
        [this, email = std::move(email), requested_by = std::move(requested_by), request,
         summary](store::Transaction& txn) -> Status {
          Result<std::optional<std::string>> subject =
              sync::FindSubjectByEmail(txn, identity_key_, email);
          if (!subject.ok()) return subject.status();
          if (!subject->has_value()) {
            // consentctl erase exits 3 on these words (cli/admin_client.cc).
            return NotFound("no subject with this address (never seen, or already erased)");
          }
          const TimestampMs now = NowMs();
          const connectors::InboundRecord rec = sync::AdminErasureRecord(
              **subject, email, now, requested_by, engine_->mapping_hash(), now);
          Result<sync::IngestSummary> r =
              sync::IngestErasure(txn, *engine_, "admin", rec, requested_by, now);
          if (!r.ok()) return r.status();
          *summary = std::move(r).value();
          Result<std::optional<store::ErasureRequestRecord>> stored =
              store::GetErasureRequest(txn, rec.event_id);
          if (!stored.ok()) return stored.status();
          if (stored->has_value()) {
            request->request_json =
                store::ErasureRequestJson(**stored, now)
                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
          }
          request->id = rec.event_id;
          request->subject = **subject;
          request->requested_at = now;
          for (const auto& [target, n] : summary->enqueued) {
            if (n > 0) request->targets.push_back(target);
          }
          return Status::Ok();
        },
        [this, request, summary, done = std::move(done)](Status s) {
          if (!s.ok()) return done(s);
          Apply(*summary);
          done(*request);
        });
  }

  // The erasures the ledger lists and the database does not hold (a restore
  // from a backup; sync/ledger_replay.h), in one unit of work: each subject
  // erased again, dated when the ledger says it was erased (a sign-up made
  // after that is a new person, as always), then the tombstones still
  // missing added back; the database's erasures the ledger lacks are
  // appended to it afterwards. The links start only once it has committed,
  // so nothing of a restored person is decided or sent first. A ledger that
  // cannot be read is a start failure naming the file (and line); a unit
  // that fails holds synchronisation, with the reason on /readyz.
  void ReplayErasureLedger(const std::string& path, std::vector<store::LedgerRecord> read) {
    // Also with an empty ledger: the database's erasures are written to it
    // (the first start of a version with a ledger, or a lost ledger).
    auto records = std::make_shared<std::vector<store::LedgerRecord>>(std::move(read));
    auto out = std::make_shared<sync::LedgerReplayOutcome>();
    SubmitThen(
        [this, records, out](store::Transaction& txn) -> Status {
          Result<sync::LedgerReplayOutcome> r =
              sync::ReapplyLedger(txn, *engine_, *records, NowMs());
          if (!r.ok()) return r.status();
          *out = std::move(r).value();
          return Status::Ok();
        },
        [this, out, path](Status s) {
          if (!s.ok()) {
            // Nothing is decided or sent while a restored database may still
            // hold people erased since its backup; webhooks are stored.
            spdlog::error(
                "erasure ledger {}: not compared with the database: {}; synchronisation held "
                "until a restart",
                path, s.ToString());
            std::lock_guard lock(ledger_mu_);
            ledger_status_ = s.WithContext("erasure ledger " + path +
                                           " not applied, synchronisation held (restart)");
            return;
          }
          Apply(out->summary);
          if (!out->missing_from_ledger.empty()) {
            if (Status a = store::AppendToLedger(path, out->missing_from_ledger); !a.ok()) {
              spdlog::error("erasure ledger {}: the database's erasures not written to it: {}",
                            path, a.ToString());
            } else {
              spdlog::info(
                  "erasure ledger {}: {} erased subject(s) and tombstone(s) of the database "
                  "written to it",
                  path, out->missing_from_ledger.size());
            }
          }
          if (!out->erased.empty()) {
            std::string list;
            for (const std::string& subject : out->erased) {
              list += (list.empty() ? "" : ", ") + subject;
            }
            spdlog::warn(
                "erasure ledger {}: {} erasure(s) missing from the database (restored from a "
                "backup?) made again: {}",
                path, out->erased.size(), list);
          }
          for (const auto& w : out->erased_without_address) {
            spdlog::error(
                "erasure ledger {}: subject {} (restored from a backup?) erased again in consentd "
                "as {}'s erasure of record {}, for want of an address: that system was not asked "
                "again; check that the record is gone there",
                path, w.subject, w.system, w.system_id);
          }
          for (const std::string& subject : out->not_erased) {
            spdlog::error(
                "erasure ledger {}: subject {} was erased, but the database (restored from a "
                "backup?) holds it and the erasure made again was refused: erase it by hand",
                path, subject);
          }
          if (out->tombstones_restored > 0) {
            spdlog::warn(
                "erasure ledger {}: {} tombstone(s) missing from the database added back "
                "(restored from a backup?)",
                path, out->tombstones_restored);
          }
          StartLinks();
        });
  }

  void ExportSubject(std::string email, std::function<void(Result<std::string>)> done) {
    if (!engine_) return done(FailedPrecondition("no connectors configured"));
    auto json = std::make_shared<std::string>();
    auto policy = std::make_shared<const Policy>(mapping::ToPolicy(*mapping_));
    SubmitThen(
        [this, email = std::move(email), json, policy](store::Transaction& txn) -> Status {
          privacy::ExportRequest request;
          request.email = email;
          request.identity_key = identity_key_;
          request.policy = policy.get();
          request.now = NowMs();
          Result<std::string> r = privacy::BuildSubjectExport(txn, request);
          if (!r.ok()) return r.status();
          *json = std::move(r).value();
          return Status::Ok();
        },
        [json, done = std::move(done)](Status s) {
          if (!s.ok()) return done(s);
          done(std::move(*json));
        },
        /*durable=*/false);
  }

  void ConsentStats(std::function<void(Result<std::string>)> done) {
    if (!mapping_) return done(FailedPrecondition("no mapping: no connectors configured"));
    consent_stats_.Get(SyncComponent::kStatsMaxAge, std::move(done), [this](auto finish) {
      auto json = std::make_shared<std::string>();
      SubmitThen(
          [this, mapping = mapping_, json](store::Transaction& txn) -> Status {
            Result<sync::ConsentStats> r = sync::ComputeConsentStats(txn, *mapping, NowMs());
            if (!r.ok()) return r.status();
            *json = sync::ConsentStatsJson(*r);
            metrics_.SetConsentCounts(*r);
            return Status::Ok();
          },
          [json, finish](Status s) {
            if (s.ok()) return finish(*json);
            finish(s);
          },
          /*durable=*/false);
    });
  }

  // Keeps the consent_subjects gauges fresh (ConsentStats sets them).
  void RefreshConsentMetrics() {
    ConsentStats([](const Result<std::string>& r) {
      if (!r.ok()) spdlog::warn("sync: consent counts for /metrics: {}", r.status().ToString());
    });
  }

  // --- status page (issue #8; daemon/status_routes.cc) ---------------------

  void CollectStatus(std::function<void(Result<SyncStatus>)> done) {
    auto out = std::make_shared<SyncStatus>();
    out->now = NowMs();
    out->started_at = metrics_.started_at();
    for (const auto& [name, link] : links_) {
      ConnectorStatus c;
      c.name = name;
      c.kind = std::string(mapping::ConnectorKindName(link->config.kind));
      if (mapping_) {
        if (const mapping::SystemSpec* sys = mapping_->FindSystem(name)) {
          c.role = std::string(mapping::SystemRoleName(sys->role));
        }
      }
      {
        std::lock_guard lock(link->check_mu);
        // As /readyz: the check, then deliveries refused for credentials.
        const Status& why = !link->check.ok() ? link->check : link->deliveries_refused;
        c.ready = why.ok();
        c.check_message = why.ok() ? "ok" : why.ToString();
      }
      const LinkActivity& a = link->activity;
      c.polling = link->config.poll_interval.count() > 0;
      c.last_poll_ok = a.last_poll_ok;
      c.poll_caught_up = link->caught_up.load();
      c.webhooks_received = a.webhooks_received;
      c.webhooks_refused = a.webhooks_refused;
      c.last_webhook = a.last_webhook;
      c.requests_sent = link->budget.requests.load();
      c.budget_waits = link->budget.waits.load();
      c.rate_limited = link->budget.rate_limited.load();
      std::tie(c.requests_last_minute, c.requests_window_ms) =
          a.RequestsInLastMinute(out->now, c.requests_sent);
      const config::ConnectorRateLimit& limit = link->config.rate_limit;
      if (limit.requests > 0 && limit.interval.count() > 0 && c.requests_window_ms > 0) {
        const double allowed = static_cast<double>(limit.requests) *
                               static_cast<double>(c.requests_window_ms) /
                               static_cast<double>(limit.interval.count());
        c.budget_used_fraction = static_cast<double>(c.requests_last_minute) / allowed;
      }
      c.consecutive_delivery_failures = a.consecutive_delivery_failures;
      c.delivery_health = DeliveryHealth(a.consecutive_delivery_failures);
      c.deliveries_done = a.deliveries_done;
      c.deliveries_failed = a.deliveries_failed;
      c.deliveries_last_minute = a.deliveries.LastMinute(out->now);
      out->connectors.push_back(std::move(c));
    }
    out->decisions_total = static_cast<std::int64_t>(recent_.total());
    out->decisions_last_minute = decisions_minute_.LastMinute(out->now);
    const auto& items = recent_.items();
    out->recent.assign(items.rbegin(), items.rend());
    if (links_.empty()) return done(std::move(*out));
    StatusStoreFigures([out, done = std::move(done)](Result<StoreFigures> figures) {
      if (!figures.ok()) return done(figures.status());
      // One row per connector, zeros for those with nothing undelivered.
      for (const ConnectorStatus& c : out->connectors) {
        store::TargetOutboxStats t;
        t.target = c.name;
        for (const auto& o : figures->outbox) {
          if (o.target == c.name) t = o;
        }
        out->outbox.push_back(std::move(t));
      }
      out->proof_log = figures->proof_log;
      done(std::move(*out));
    });
  }

  // The status call's figures from the store: counting a large backlog's
  // rows takes the store thread a while, so every status call within
  // kStatusFiguresMaxAge of the last count shares it, as do calls that come
  // while a count runs (each open status page asks every 2 s).
  struct StoreFigures {
    std::vector<store::TargetOutboxStats> outbox;
    store::ProofLogStatus proof_log;
  };
  static constexpr std::chrono::milliseconds kStatusFiguresMaxAge{1000};

  void StatusStoreFigures(std::function<void(Result<StoreFigures>)> done) {
    status_figures_.Get(kStatusFiguresMaxAge, std::move(done), [this](auto finish) {
      auto figures = std::make_shared<StoreFigures>();
      SubmitThen(
          [figures](store::Transaction& txn) -> Status {
            Result<std::vector<store::TargetOutboxStats>> outbox = store::ListOutboxStats(txn);
            if (!outbox.ok()) return outbox.status();
            Result<store::ProofLogStatus> proof = store::GetProofLogStatus(txn);
            if (!proof.ok()) return proof.status();
            figures->outbox = std::move(outbox).value();
            figures->proof_log = *proof;
            return Status::Ok();
          },
          [figures, finish](Status s) {
            if (s.ok()) return finish(*figures);
            finish(s);
          },
          /*durable=*/false);
    });
  }

  void DeadLetters(int limit, std::function<void(Result<std::vector<store::OutboxRow>>)> done) {
    if (links_.empty()) return done(std::vector<store::OutboxRow>());
    auto rows = std::make_shared<std::vector<store::OutboxRow>>();
    SubmitThen(
        [rows, limit](store::Transaction& txn) -> Status {
          auto r = txn.ListOutbox(store::OutboxStatus::kDead, 0, limit);
          if (!r.ok()) return r.status();
          *rows = std::move(r).value();
          return Status::Ok();
        },
        [rows, done = std::move(done)](Status s) {
          if (!s.ok()) return done(s);
          done(std::move(*rows));
        },
        /*durable=*/false);
  }

  void ReplayDeadLetters(std::optional<std::int64_t> id, std::string requested_by,
                         std::function<void(Result<store::DeadLetterReplay>)> done) {
    if (links_.empty()) return done(FailedPrecondition("no connectors configured"));
    auto out = std::make_shared<store::DeadLetterReplay>();
    auto policy = std::make_shared<const Policy>(mapping::ToPolicy(*mapping_));
    SubmitThen(
        [id, out, policy, address_sharing = mapping_->SystemsWithoutRecordPerAddress()](
            store::Transaction& txn) -> Status {
          const TimestampMs now = NowMs();
          auto r = store::ReplayDeadLetters(txn, id, now, address_sharing);
          if (!r.ok()) return r.status();
          for (const store::OutboxRow& row : r->replayed) {
            // An erasure's target goes back from failed to pending with its row.
            CONSENTD_RETURN_IF_ERROR(store::ReopenErasureTarget(txn, row.id, now));
            // Its echo memory went when it died: the target's report of
            // the write is consentd's own again.
            CONSENTD_RETURN_IF_ERROR(
                sync::RememberDeadLetterSentAgain(txn, row, policy.get(), now));
          }
          *out = std::move(r).value();
          return Status::Ok();
        },
        [this, out, requested_by = std::move(requested_by), done = std::move(done)](Status s) {
          if (!s.ok()) return done(s);
          std::set<std::string> targets;
          for (const store::OutboxRow& r : out->replayed) {
            spdlog::info("sync: {}: dead letter #{} replayed (back to pending) by {}", r.target,
                         r.id, requested_by);
            targets.insert(r.target);
          }
          for (const std::string& t : targets) {
            auto it = links_.find(t);
            if (it != links_.end()) Dispatch(*it->second);
          }
          done(std::move(*out));
        });
  }

  // GET /api/v1/erasures (no `id`) and /api/v1/erasures/status (`id`).
  void DeliverExport(std::string email, std::string requested_by,
                     std::function<void(Result<ExportDeliveryOutcome>)> done) {
    if (privacy_.export_delivery.url.empty()) {
      return done(FailedPrecondition(
          "export delivery is off: configure privacy.export_delivery (url, secret_file)"));
    }
    ExportSubject(std::move(email), [this, requested_by = std::move(requested_by),
                                     done = std::move(done)](Result<std::string> json) mutable {
      if (!json.ok()) return done(json.status());
      if (stopping_) return done(Unavailable("shutting down"));
      OnPool(
          [this, config = privacy_.export_delivery, json = std::move(json).value()] {
            ExportDeliveryDeps deps;
            deps.http = curl_.get();
            deps.now = [] { return NowMs(); };
            deps.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
            return daemon::DeliverExport(config, json, deps);
          },
          [requested_by, done = std::move(done)](Result<ExportDeliveryOutcome> r) {
            // Never the address: the webhook id ties this line to the receiver's log.
            if (!r.ok()) {
              spdlog::error("privacy: access export delivery requested by {} not attempted: {}",
                            requested_by, r.status().ToString());
            } else if (r->delivered) {
              spdlog::info("privacy: access export {} delivered (HTTP {}, {} attempt(s)), "
                           "requested by {}",
                           r->webhook_id, r->http_status, r->attempts, requested_by);
            } else {
              spdlog::warn("privacy: access export {} not delivered, requested by {}: {}",
                           r->webhook_id, requested_by, r->reason);
            }
            done(std::move(r));
          });
    });
  }

  void StatsHistory(TimestampMs since, int limit, std::function<void(Result<std::string>)> done) {
    auto json = std::make_shared<std::string>();
    SubmitThen(
        [since, limit, json](store::Transaction& txn) -> Status {
          Result<std::string> r = StatsHistoryJson(txn, since, limit);
          if (!r.ok()) return r.status();
          *json = std::move(r).value();
          return Status::Ok();
        },
        [json, done = std::move(done)](Status s) {
          if (!s.ok()) return done(s);
          done(std::move(*json));
        },
        /*durable=*/false);
  }

  void ReadErasures(std::optional<std::string> id, bool open_only, bool overdue_only,
                    std::function<void(Result<std::string>)> done) {
    auto json = std::make_shared<std::string>();
    // Text that is not UTF-8 (a note stored before notes were checked) is
    // shown replaced rather than failing the whole list.
    SubmitThen(
        [id = std::move(id), open_only, overdue_only, json](store::Transaction& txn) -> Status {
          const TimestampMs now = NowMs();
          if (id) {
            auto r = store::GetErasureRequest(txn, *id);
            if (!r.ok()) return r.status();
            if (!r->has_value()) return NotFound("no erasure request " + *id);
            *json = store::ErasureRequestJson(**r, now).dump(
                -1, ' ', false, nlohmann::json::error_handler_t::replace);
            return Status::Ok();
          }
          store::ErasureListOptions options;
          options.open_only = open_only;
          options.overdue_only = overdue_only;
          auto r = store::ListErasureRequests(txn, now, options);
          if (!r.ok()) return r.status();
          *json = store::ErasureRequestsJson(*r, now).dump(
              -1, ' ', false, nlohmann::json::error_handler_t::replace);
          return Status::Ok();
        },
        [json, done = std::move(done)](Status s) {
          if (!s.ok()) return done(s);
          done(std::move(*json));
        },
        /*durable=*/false);
  }

  void ExplainSubject(std::string email, std::function<void(Result<std::string>)> done) {
    if (!engine_) return done(FailedPrecondition("no connectors configured"));
    auto json = std::make_shared<std::string>();
    auto policy = std::make_shared<const Policy>(mapping::ToPolicy(*mapping_));
    SubmitThen(
        [this, email = std::move(email), json, policy](store::Transaction& txn) -> Status {
          sync::ExplainOptions options;
          options.skew_window_ms = policy->skew_window_ms;
          options.now = NowMs();
          options.policy = policy.get();
          Result<sync::ExplainLookup> r =
              sync::ExplainSubjectByEmail(txn, identity_key_, email, options);
          if (!r.ok()) return r.status();
          if (!r->found) return NotFound(sync::NotFoundMessage(r->tombstone_erased_at));
          *json = sync::FormatExplanationJson(*r->found, options);
          return Status::Ok();
        },
        [json, done = std::move(done)](Status s) {
          if (!s.ok()) return done(s);
          done(std::move(*json));
        },
        /*durable=*/false);
  }

  Status Readiness() const {
    {
      std::lock_guard lock(ledger_mu_);
      if (!ledger_status_.ok()) return ledger_status_;
    }
    for (const auto& [name, link] : links_) {
      std::lock_guard lock(link->check_mu);
      if (!link->check.ok()) return link->check.WithContext("connector " + name);
      if (!link->deliveries_refused.ok()) {
        return link->deliveries_refused.WithContext("connector " + name);
      }
    }
    return Status::Ok();
  }

  void WhenChecksAnswer(std::chrono::milliseconds wait,
                        std::function<void(std::vector<ConnectorCheck>)> done) {
    auto waiter = std::make_shared<CheckWaiter>();
    // The check each connector owes now: the one running, or the one due
    // after it (a reload while a check ran asks for another, with the new
    // connector). A later reload's or re-check's answer does not stand in
    // for a check that has not answered, nor hold up one that has.
    for (const auto& [name, link] : links_) {
      waiter->awaited[name] = link->check_again     ? link->checks_started + 1
                              : link->check_running ? link->checks_started
                                                    : link->checks_answered;
    }
    waiter->mapping_records = mapping_records_submitted_;
    if (stopping_ || Answered(*waiter)) return done(ChecksFor(*waiter));
    waiter->done = std::move(done);
    waiter->timer = std::make_unique<asio::steady_timer>(io_, wait);
    check_waiters_.push_back(waiter);
    waiter->timer->async_wait([this, waiter](const boost::system::error_code&) {
      // Cancelled or not: answered once, by whichever comes first.
      const auto it = std::find(check_waiters_.begin(), check_waiters_.end(), waiter);
      if (it == check_waiters_.end()) return;
      check_waiters_.erase(it);
      waiter->done(ChecksFor(*waiter));
    });
  }

  void StopWaitingForChecks() {
    // Each waiter's timer handler answers it with what is known.
    for (const auto& w : check_waiters_) w->timer->cancel();
  }

 private:
  store::Store* store() const { return store_.store(); }

  // Records the mapping now in force in the proof log (config_changed) if
  // it differs from the last one recorded (store/config_history.h).
  void RecordMapping(std::string hash, std::vector<std::string> lines, std::string source) {
    ++mapping_records_submitted_;
    auto appended = std::make_shared<bool>(false);
    SubmitThen(
        [hash, lines = std::move(lines), source, appended](store::Transaction& txn) -> Status {
          Result<std::optional<store::ConfigChange>> r =
              store::RecordMappingInForce(txn, hash, lines, source, NowMs());
          if (!r.ok()) return r.status();
          if (r->has_value()) {
            *appended = true;
            spdlog::info("proof log: #{} config_changed: mapping {} in force",
                         (*r)->sequence, hash.substr(0, 12));
          }
          return Status::Ok();
        },
        [this, appended](Status s) {
          if (!s.ok()) {
            spdlog::error("sync: recording the mapping in the proof log: {}", s.ToString());
          } else if (*appended) {
            proof_log_.EntriesAppended(1);
          }
          // Failed or not, it is over: a reload's answer no longer waits.
          ++mapping_records_done_;
          AnswerCheckWaiters();
        });
  }

  // Re-consent when terms change (issue #7, sync/reconsent.cc): records new
  // notice versions of the mapping just recorded, then walks the stored
  // grants page by page (one unit each, so ingest interleaves).
  void ApplyNoticeVersions() {
    auto update = std::make_shared<sync::NoticeUpdate>();
    SubmitThen(
        [engine = engine_.get(), update](store::Transaction& txn) -> Status {
          Result<sync::NoticeUpdate> r = engine->ApplyNoticeVersions(txn, NowMs());
          if (!r.ok()) return r.status();
          *update = std::move(r).value();
          return Status::Ok();
        },
        [this, update](Status s) {
          if (!s.ok()) {
            spdlog::error("sync: notice versions: {} (re-checked at the next start or reload)",
                          s.ToString());
            return;
          }
          for (const std::string& line : update->lines) spdlog::info("sync: {}", line);
          if (update->walk_pending) WalkReconsent();
        });
  }

  void WalkReconsent() {
    if (stopping_) return;  // resumed from its durable position at the next start
    auto page = std::make_shared<sync::ReconsentWalkPage>();
    SubmitThen(
        [engine = engine_.get(), page](store::Transaction& txn) -> Status {
          Result<sync::ReconsentWalkPage> r = engine->WalkReconsent(txn, NowMs());
          if (!r.ok()) return r.status();
          *page = std::move(r).value();
          return Status::Ok();
        },
        [this, page](Status s) {
          if (!s.ok()) {
            spdlog::error("sync: re-consent walk: {} (resumed at the next start or reload)",
                          s.ToString());
            return;
          }
          if (page->marked > 0 || page->cleared > 0) {
            spdlog::info("sync: re-consent: {} grant(s) now await re-consent, {} no longer",
                         page->marked, page->cleared);
            consent_stats_.Forget();  // the counts moved between buckets
          }
          Apply(page->summary);
          if (!page->done) WalkReconsent();
        });
  }

  // Submits work whose failure is only logged (bookkeeping).
  void Submit(store::Work work) {
    store()->Submit(std::move(work), [](const Status& s) {
      if (!s.ok()) spdlog::error("sync: store: {}", s.ToString());
    });
  }

  // Runs `work` on the store; `then(status)` on the io thread.
  void SubmitThen(store::Work work, std::function<void(Status)> then, bool durable = true) {
    ++in_flight_;
    store()->Submit(
        std::move(work),
        [this, then = std::move(then)](const Status& s) {
          asio::post(io_, [this, then, s] {
            --in_flight_;
            then(s);
          });
        },
        store::SubmitOptions{durable});
  }

  // Runs `call` on the pool (`bulk`: on the bulk pool); `then(result)` on
  // the io thread.
  template <typename Call, typename Then>
  void OnPool(Call call, Then then, bool bulk = false) {
    ++in_flight_;
    asio::post(bulk ? *bulk_pool_ : *pool_, [this, call = std::move(call),
                                             then = std::move(then)]() mutable {
      auto result = call();
      asio::post(io_, [this, then = std::move(then), result = std::move(result)]() mutable {
        --in_flight_;
        then(std::move(result));
      });
    });
  }

  void WaitIdle(std::chrono::steady_clock::time_point deadline, std::function<void()> done) {
    if (in_flight_ == 0 || std::chrono::steady_clock::now() >= deadline) {
      if (in_flight_ != 0) {
        spdlog::warn("sync: stopping with {} call(s) unfinished; their claims expire", in_flight_);
      }
      done();
      return;
    }
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(20));
    timer->async_wait([this, timer, deadline, done = std::move(done)](auto) mutable {
      WaitIdle(deadline, std::move(done));
    });
  }

  void RegisterBudgetMetrics(Link& link) {
    Link* l = &link;
    metrics_.AddConnector({link.config.name, &link.budget, &link.caught_up,
                           [l] {
                             std::lock_guard lock(l->check_mu);
                             return l->check.ok() && l->deliveries_refused.ok();
                           },
                           link.config.poll_interval.count() > 0, &link.limiter});
  }

  // Runs the connector's Check() on the pool and keeps its answer for
  // /readyz. One at a time per connector: asked while one runs (a reload
  // built a new connector), it runs again once that one answers. Logged
  // when the answer changes.
  void RunCheck(Link& link) {
    if (link.check_running) {
      link.check_again = true;
      return;
    }
    link.check_running = true;
    const std::uint64_t number = ++link.checks_started;
    auto connector = link.connector;
    OnPool([connector] { return connector->Check(); },
           [this, &link, number](Status s) {
             link.check_running = false;
             link.checks_answered = number;
             std::string before;
             {
               std::lock_guard lock(link.check_mu);
               before = link.check.ToString();
               link.check = s;
             }
             if (s.ToString() != before) {
               if (s.ok()) {
                 spdlog::info("sync: {}: check passed", link.config.name);
               } else {
                 spdlog::error("sync: {}: check failed: {}", link.config.name, s.ToString());
               }
             }
             if (link.check_again && !stopping_) {
               link.check_again = false;
               RunCheck(link);
             }
             AnswerCheckWaiters();
           });
  }

  // The connector's check `w` waits for has answered (or it has none).
  bool Answered(const Link& link, const CheckWaiter& w) const {
    const auto it = w.awaited.find(link.config.name);
    return it == w.awaited.end() || link.checks_answered >= it->second;
  }
  bool Answered(const CheckWaiter& w) const {
    if (mapping_records_done_ < w.mapping_records) return false;
    for (const auto& [name, link] : links_) {
      if (!Answered(*link, w)) return false;
    }
    return true;
  }

  // Each connector's answer to the check `w` waits for (or a later one);
  // nullopt for one that has not answered.
  std::vector<ConnectorCheck> ChecksFor(const CheckWaiter& w) const {
    std::vector<ConnectorCheck> out;
    for (const auto& [name, link] : links_) {
      ConnectorCheck c{name, std::nullopt};
      if (Answered(*link, w)) {
        std::lock_guard lock(link->check_mu);
        c.status = link->check;
      }
      out.push_back(std::move(c));
    }
    return out;
  }

  // Answers the waiters whose checks have all answered (their timers then
  // find nothing left to do).
  void AnswerCheckWaiters() {
    std::vector<std::shared_ptr<CheckWaiter>> ready;
    std::erase_if(check_waiters_, [&](const std::shared_ptr<CheckWaiter>& w) {
      if (!Answered(*w)) return false;
      ready.push_back(w);
      return true;
    });
    for (const auto& w : ready) {
      w->timer->cancel();
      w->done(ChecksFor(*w));
    }
  }

  // --- housekeeping -------------------------------------------------------

  // Every kHousekeepingEvery: outbox depth and age per target and open
  // erasures for /metrics (scrapes never run SQL), the consent counts now
  // and then, and pruning of what is no longer needed (processed inbox
  // rows past the retention, done outbox rows after a day, echo memory
  // older than a day).
  void Housekeeping() {
    if (stopping_) return;
    auto outbox = std::make_shared<std::map<std::string, SyncMetrics::OutboxTarget>>();
    auto erasures = std::make_shared<store::OpenErasureCounts>();
    const auto retention = sync_.inbox_retention;
    if (++housekeeping_runs_ % kConsentMetricsEveryRuns == 1) RefreshConsentMetrics();
    for (auto& [name, link] : links_) {
      bool passing = false;
      {
        std::lock_guard lock(link->check_mu);
        passing = link->check.ok();
      }
      if (housekeeping_runs_ % (passing ? kRecheckPassingEveryRuns : kRecheckFailingEveryRuns) ==
          0) {
        RunCheck(*link);
      }
    }
    SubmitThen(
        [outbox, erasures, retention, mapping = mapping_](store::Transaction& txn) {
          const TimestampMs now = NowMs();
          constexpr TimestampMs kDay = 24 * 3600 * 1000LL;
          auto stats = store::ListOutboxStats(txn);
          if (!stats.ok()) return stats.status();
          for (const auto& t : *stats) {
            (*outbox)[t.target] = {t.pending, t.inflight, t.dead, t.oldest_pending_created_at};
          }
          auto open = store::CountOpenErasures(txn, now);
          if (!open.ok()) return open.status();
          *erasures = *open;
          if (auto r = SnapshotConsentStatsIfDue(txn, *mapping, now); !r.ok()) return r.status();
          if (auto r = txn.PruneInbox(now - retention.count()); !r.ok()) return r.status();
          if (auto r = txn.PruneOutboxDone(now - store::kDoneOutboxRowsKeptMs); !r.ok()) {
            return r.status();
          }
          if (auto r = txn.PruneWrites(now - kDay); !r.ok()) return r.status();
          if (auto r = txn.PruneShownOff(now - kDay); !r.ok()) return r.status();
          return Status::Ok();
        },
        [this, outbox, erasures](Status s) {
          if (s.ok()) {
            metrics_.SetOutbox(std::move(*outbox));
            metrics_.SetErasures(erasures->open, erasures->overdue);
          } else {
            spdlog::warn("sync: housekeeping: {}", s.ToString());
          }
          if (stopping_) return;
          for (auto& [name, link] : links_) {
            link->activity.SampleRequests(NowMs(), link->budget.requests.load());
          }
          housekeeping_->expires_after(kHousekeepingEvery);
          housekeeping_->async_wait([this](const boost::system::error_code& ec) {
            if (!ec) Housekeeping();
          });
        },
        /*durable=*/false);
  }

  // --- ingress ---------------------------------------------------------

  // The URL the system called, which HubSpot signs: webhook_url, else as
  // a reverse proxy reports it (X-Forwarded-Proto/-Host, as nginx and most
  // proxies set them), else consentd's own. Trusting the headers weakens
  // nothing: a forged one only changes the URL a signature is checked
  // against, and a valid signature for it still needs HubSpot's secret.
  std::string PublicUrl(const Link& link, const net::HttpRequest& req) const {
    if (!link.config.webhook_url.empty()) return link.config.webhook_url;
    std::string scheme = "http";
    if (auto proto = req.Header("X-Forwarded-Proto"); proto && (*proto == "https")) {
      scheme = "https";
    }
    auto host = req.Header("X-Forwarded-Host");
    if (!host || host->empty()) host = req.Header("Host");
    return scheme + "://" + std::string(host.value_or("localhost")) + req.target;
  }

  void HandleWebhook(net::HttpRequest req, net::Responder respond) {
    const std::string name = req.path.substr(kWebhookPrefix.size());
    auto it = links_.find(name);
    if (it == links_.end()) {
      respond(net::Problem(404, "Not Found", "no connector named " + name));
      return;
    }
    Link& link = *it->second;
    if (stopping_) {
      webhooks_->WithLabels({name, "unavailable"}).Inc();
      net::HttpResponse r = net::Problem(503, "Service Unavailable", "shutting down");
      r.headers.emplace_back("Retry-After", "5");
      respond(std::move(r));
      return;
    }
    const TimestampMs now = NowMs();
    const std::string public_url = PublicUrl(link, req);
    Result<std::vector<connectors::RecordRef>> refs =
        link.connector->ParseWebhook(req, public_url, now);
    if (!refs.ok()) {
      const bool auth = refs.status().code() == StatusCode::kUnauthenticated;
      webhooks_->WithLabels({name, auth ? "unauthenticated" : "invalid"}).Inc();
      ++link.activity.webhooks_refused;
      // HubSpot signs the URL it calls; naming the one checked against
      // shows a proxy's https:// or host at a glance (the log only: the
      // caller learns nothing new; Mailchimp's URL holds its secret).
      if (const std::optional<std::uint64_t> held_back =
              link.webhook_refusal_log.Allow(std::chrono::steady_clock::now())) {
        std::string signed_url_hint;
        if (auth && link.config.kind == mapping::ConnectorKind::kHubSpot) {
          // The request's own Host and target: cut short, as anyone can
          // send them.
          const std::string url =
              public_url.size() > 300 ? public_url.substr(0, 300) + "..." : public_url;
          signed_url_hint =
              link.config.webhook_url.empty()
                  ? " (signed URL taken as " + url +
                        " from the request's headers; behind a proxy set connectors." + name +
                        ".webhook_url to the URL HubSpot calls)"
                  : " (signed URL taken as " + url + ", from webhook_url)";
        }
        const std::string more = *held_back > 0 ? "; " + std::to_string(*held_back) +
                                                      " more refused since the last such line"
                                                : "";
        spdlog::warn("sync: {}: webhook refused: {}{}{}", name, refs.status().ToString(),
                     signed_url_hint, more);
      }
      if (auth) {
        respond(net::Problem(401, "Unauthorized", refs.status().message()));
      } else {
        respond(net::Problem(400, "Bad Request", refs.status().message()));
      }
      return;
    }
    if (refs.value().empty()) {
      webhooks_->WithLabels({name, "ignored"}).Inc();
      respond({200, "application/json", {}, "{\"accepted\":0}"});
      return;
    }
    if (link.webhooks == nullptr) {
      link.webhooks_accepted = &webhooks_->WithLabels({name, "accepted"});
      link.webhooks = std::make_unique<WebhookBatcher>(
          [this, name](store::Transaction& txn, const WebhookBatcher::Delivery& d) -> Result<int> {
            auto r = engine_->AcceptHints(txn, name, d.refs, d.received_at);
            if (!r.ok()) return r.status();
            return r->duplicates;
          },
          [this, &link](WebhookBatcher::Delivery& d, const Status& s) {
            WebhookStored(link, d, s);
          },
          [this](std::function<void()> fn) { asio::post(io_, std::move(fn)); });
    }
    link.webhooks->Add(*store(),
                       {std::move(refs).value(), now, acks_->Track(name, std::move(respond)), 0});
  }

  // A webhook was answered 503 because the store did not commit it within
  // http.webhook_ack_deadline. Logged at most every 10 s: a stalled store
  // times out every webhook.
  void WebhookTimedOut(const std::string& connector) {
    webhooks_->WithLabels({connector, "timeout"}).Inc();
    ++webhooks_timed_out_;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_timeout_warning_ < std::chrono::seconds(10)) return;
    last_timeout_warning_ = now;
    spdlog::warn(
        "sync: {}: webhook not stored within the ack deadline, answered 503 (the store is slow "
        "or locked; {} so far, {} still waiting)",
        connector, webhooks_timed_out_, acks_->waiting());
  }

  // io thread: answers a webhook (2xx: its hints are durable) and wakes the
  // hint reader.
  void WebhookStored(Link& link, WebhookBatcher::Delivery& d, const Status& s) {
    if (s.ok()) {
      link.webhooks_accepted->Inc();
      const std::size_t accepted = d.refs.size() - static_cast<std::size_t>(d.duplicates);
      std::string body = "{\"accepted\":";
      body += std::to_string(accepted);
      body += ",\"duplicates\":";
      body += std::to_string(d.duplicates);
      body += '}';
      d.respond({200, "application/json", {}, std::move(body)});
      ++link.activity.webhooks_received;
      link.activity.last_webhook = d.received_at;
      HintsStored(link, std::move(d.refs), d.received_at, d.duplicates);
      return;
    }
    webhooks_->WithLabels({link.config.name, "unavailable"}).Inc();
    ++link.activity.webhooks_refused;
    net::HttpResponse r =
        net::Problem(503, "Service Unavailable", "not stored, please retry: " + s.message());
    r.headers.emplace_back("Retry-After", "1");
    d.respond(std::move(r));
  }

  // --- hints -> Read -> decide -----------------------------------------

  // A webhook's hints are durable: with a round free, they are read at
  // once, without listing them back from the store first (issue #5: that
  // listing cost every hint a store round trip, behind whatever the store
  // thread was doing). Otherwise, and for a delivery that repeated hints
  // already stored (they may be done) or names one without an event id (its
  // id is derived from its content), they wait for the next listing.
  void HintsStored(Link& link, std::vector<connectors::RecordRef> refs, TimestampMs received_at,
                   int duplicates) {
    const bool all_named = std::all_of(refs.begin(), refs.end(), [&link](const auto& r) {
      return !r.event_id.empty() && link.hints_claimed.count(r.event_id) == 0;
    });
    if (stopping_ || duplicates > 0 || !all_named || refs.empty() || link.hints_listing ||
        link.hints_backoff || link.hint_rounds >= kHintRounds ||
        refs.size() > static_cast<std::size_t>(kHintBatch)) {
      KickHints(link);
      return;
    }
    ++link.hint_rounds;
    auto pending = std::make_shared<std::vector<sync::PendingHint>>();
    pending->reserve(refs.size());
    for (auto& ref : refs) {
      link.hints_claimed.insert(ref.event_id);
      pending->push_back({link.config.name, std::move(ref), received_at});
    }
    ReadHints(link, pending, link.hint_rounds_listed++);
    // Hints a failed or full round left in the store are listed as before.
    if (link.hints_dirty) KickHints(link);
  }

  void KickHints(Link& link) {
    if (stopping_ || held_) return;  // stored webhooks wait in the inbox
    if (link.hints_listing || link.hints_backoff || link.hint_rounds >= kHintRounds) {
      link.hints_dirty = true;
      return;
    }
    link.hints_listing = true;
    link.hints_dirty = false;
    ++link.hint_rounds;
    auto pending = std::make_shared<std::vector<sync::PendingHint>>();
    const std::string name = link.config.name;
    // The oldest unprocessed hints, past those a round in flight holds and
    // those deferred (Link::read_again).
    const int limit = kHintBatch + static_cast<int>(link.hints_claimed.size()) +
                      static_cast<int>(link.read_again.deferred());
    SubmitThen(
        [this, name, pending, limit](store::Transaction& txn) {
          auto r = engine_->PendingHints(txn, name, limit);
          if (!r.ok()) return r.status();
          *pending = std::move(r).value();
          return Status::Ok();
        },
        [this, &link, pending](Status s) {
          link.hints_listing = false;
          const auto now = std::chrono::steady_clock::now();
          std::erase_if(*pending, [&link, now](const sync::PendingHint& h) {
            if (link.hints_claimed.count(h.ref.event_id) != 0) return true;
            return link.read_again.PassOver(h.ref.event_id, now);
          });
          if (pending->size() > static_cast<std::size_t>(kHintBatch)) pending->resize(kHintBatch);
          if (!s.ok() || pending->empty()) {
            --link.hint_rounds;
            if (!s.ok()) spdlog::error("sync: {}: hints: {}", link.config.name, s.ToString());
            if (link.hints_dirty) KickHints(link);
            return;
          }
          for (const auto& h : *pending) link.hints_claimed.insert(h.ref.event_id);
          ReadHints(link, pending, link.hint_rounds_listed++);
          // A full round may have left more behind; a webhook may have come.
          if (link.hints_dirty || pending->size() == static_cast<std::size_t>(kHintBatch)) {
            KickHints(link);
          }
        },
        /*durable=*/false);
  }

  // Runs the read rounds' continuations in listing order: a round's
  // decisions are submitted after those of every round listed before it.
  void SubmitHintRound(Link& link, std::uint64_t round, std::function<void()> then) {
    link.hint_rounds_read.emplace(round, std::move(then));
    while (!link.hint_rounds_read.empty() &&
           link.hint_rounds_read.begin()->first == link.hint_rounds_submitted) {
      auto next = std::move(link.hint_rounds_read.begin()->second);
      link.hint_rounds_read.erase(link.hint_rounds_read.begin());
      ++link.hint_rounds_submitted;
      next();
    }
  }

  // A round is over: its hints are free again (done, or pending for a
  // later round).
  void EndHintRound(Link& link, const std::shared_ptr<std::vector<sync::PendingHint>>& pending) {
    for (const auto& h : *pending) link.hints_claimed.erase(h.ref.event_id);
    --link.hint_rounds;
  }

  // The ReadAgainKey of the record a deferred hint names.
  static std::string ReadAgainKeyOf(const connectors::RecordRef& ref) {
    connectors::InboundRecord rec;
    rec.read_again = ref;
    return sync::ReadAgainKey(rec);
  }

  // Defers the hints (event id, sync::ReadAgainKey of its record) of
  // records the system failed on their own (sync::ReadAgainSchedule): each
  // is read again, with whatever else waits, when its record's backoff has
  // run out.
  void DeferReadAgain(Link& link, const std::vector<sync::ReadAgainSchedule::Hint>& hints,
                      const std::string& why) {
    if (stopping_ || hints.empty()) return;
    const sync::ReadAgainSchedule::Deferral d =
        link.read_again.Defer(hints, std::chrono::steady_clock::now(), backoff_, rng_);
    spdlog::warn(
        "sync: {}: {} record(s) could not be read ({}); read again in {} ms or so, the others go "
        "on",
        link.config.name, d.records, why, d.first_delay.count());
    ArmReadAgainTimer(link);
  }

  // Wakes the hint listing when the earliest deferred hint still ahead is
  // due. One already due is listed by the next listing (the timer, or a
  // listing under way or held back, which lists again when it can).
  void ArmReadAgainTimer(Link& link) {
    if (stopping_) return;
    const sync::ReadAgainSchedule::Wake wake =
        link.read_again.Next(std::chrono::steady_clock::now());
    // Due already (a step that ended while this ran, a listing that was
    // held back): listed now, or by the listing under way when it ends.
    if (wake.any_due) KickHints(link);
    if (!wake.next) return;
    link.read_again_timer.expires_at(*wake.next);  // a wait already armed ends aborted
    link.read_again_timer.async_wait([this, &link](const boost::system::error_code& ec) {
      if (!ec) ArmReadAgainTimer(link);  // lists those due, waits for the next
    });
  }

  using ReadResult = Result<std::vector<connectors::InboundRecord>>;

  // A connector's Read, its records stamped with the time it began
  // (InboundRecord::read_at: a record retired while the read was on its
  // way is not made live again by it).
  static ReadResult ReadStamped(connectors::Connector& connector,
                                const std::vector<connectors::RecordRef>& refs) {
    const TimestampMs read_at = NowMs();
    ReadResult read = connector.Read(refs);
    if (read.ok()) connectors::StampReadAt(*read, read_at);
    return read;
  }

  // Reads `refs` on the pool: in one Read, or, for a connector whose reads
  // cost a request per ref (read_parallelism() > 1), in that many slices
  // read at once, unless the set is large enough for the connector to read
  // it whole (whole_set_read_min()). The records come back in the order of
  // `refs`. A failed slice stands for the whole set, as a failed single
  // Read would (a retryable failure first: then everything is read again).
  // `then` runs on the io thread.
  void ReadRefs(const std::shared_ptr<connectors::Connector>& connector,
                std::vector<connectors::RecordRef> refs, std::function<void(ReadResult)> then) {
    const std::size_t want = std::min<std::size_t>(
        refs.size(), static_cast<std::size_t>(std::max(1, connector->read_parallelism())));
    const int whole = connector->whole_set_read_min();
    if (want <= 1 || (whole > 0 && refs.size() >= static_cast<std::size_t>(whole))) {
      OnPool([connector, refs = std::move(refs)] { return ReadStamped(*connector, refs); },
             std::move(then));
      return;
    }
    const std::size_t per = (refs.size() + want - 1) / want;
    const std::size_t slices = (refs.size() + per - 1) / per;
    struct Gather {
      std::vector<std::optional<ReadResult>> parts;
      std::size_t left = 0;
      std::function<void(ReadResult)> then;
    };
    auto gather = std::make_shared<Gather>();
    gather->parts.resize(slices);
    gather->left = slices;
    gather->then = std::move(then);
    for (std::size_t i = 0; i < slices; ++i) {
      const auto from = refs.begin() + static_cast<std::ptrdiff_t>(i * per);
      const auto to = refs.begin() + static_cast<std::ptrdiff_t>(std::min(refs.size(), (i + 1) * per));
      std::vector<connectors::RecordRef> slice(from, to);
      OnPool([connector, slice = std::move(slice)] { return ReadStamped(*connector, slice); },
             [gather, i](ReadResult part) {
               gather->parts[i] = std::move(part);
               if (--gather->left > 0) return;
               const std::optional<ReadResult>* failed = nullptr;
               for (const auto& p : gather->parts) {
                 if ((*p).ok()) continue;
                 if (failed == nullptr || (p->status().IsRetryable() &&
                                           !(*failed)->status().IsRetryable())) {
                   failed = &p;
                 }
               }
               if (failed != nullptr) {
                 gather->then((*failed)->status());
                 return;
               }
               std::vector<connectors::InboundRecord> all;
               for (auto& p : gather->parts) {
                 for (auto& rec : p->value()) all.push_back(std::move(rec));
               }
               gather->then(std::move(all));
             });
    }
  }

  void ReadHints(Link& link, std::shared_ptr<std::vector<sync::PendingHint>> pending,
                 std::uint64_t round) {
    // One read per distinct reference; every event id is marked done with
    // the round.
    std::vector<connectors::RecordRef> refs = sync::ReadsForHints(*pending);
    ReadRefs(link.connector, std::move(refs),
             [this, &link, pending, round](Result<std::vector<connectors::InboundRecord>> read) {
               auto records = std::make_shared<Result<std::vector<connectors::InboundRecord>>>(
                   std::move(read));
               SubmitHintRound(link, round, [this, &link, pending, records] {
                 DecideHints(link, pending, std::move(*records));
               });
             });
  }

  void DecideHints(Link& link, std::shared_ptr<std::vector<sync::PendingHint>> pending,
                   Result<std::vector<connectors::InboundRecord>> records) {
    if (stopping_) {
      EndHintRound(link, pending);
      return;
    }
    std::vector<std::string> ids;
    for (const auto& h : *pending) ids.push_back(h.ref.event_id);
    if (!records.ok() && records.status().IsRetryable() && !pending->empty() &&
        std::all_of(pending->begin(), pending->end(), [](const sync::PendingHint& h) {
          return h.ref.event_id.starts_with(sync::kNotReadEventPrefix);
        })) {
      // Only records the system failed before, read again and failing as a
      // whole: they wait their own backoff, and the connector's other hints
      // are not held up behind them. (A round with other hints failing as
      // a whole, the system down, backs the connector off, below.)
      EndHintRound(link, pending);
      std::vector<sync::ReadAgainSchedule::Hint> deferred;
      for (const auto& h : *pending) deferred.emplace_back(h.ref.event_id, ReadAgainKeyOf(h.ref));
      DeferReadAgain(link, deferred, records.status().message());
      if (link.hints_dirty) KickHints(link);
      return;
    }
    if (!records.ok() && records.status().IsRetryable()) {
      // Nothing was read: the hints stay pending and are read again.
      EndHintRound(link, pending);
      const int attempt = ++link.hint_failures;
      auto delay = connectors::NextDelay(backoff_, attempt, std::nullopt, rng_);
      spdlog::warn("sync: {}: reading {} hinted record(s) failed, again in {} ms: {}",
                   link.config.name, ids.size(), delay.count(), records.status().ToString());
      link.hints_backoff = true;
      link.hint_timer.expires_after(delay);  // a wait already armed ends aborted
      link.hint_timer.async_wait([this, &link](const boost::system::error_code& ec) {
        if (ec) return;
        link.hints_backoff = false;
        KickHints(link);
      });
      return;
    }
    link.hint_failures = 0;
    std::vector<connectors::InboundRecord> got;
    if (records.ok()) {
      got = std::move(records).value();
      metrics_.records.WithLabels({link.config.name, "webhook"})
          .Inc(static_cast<double>(got.size()));
    } else {
      spdlog::error("sync: {}: {} hinted record(s) cannot be read, dropped: {}", link.config.name,
                    ids.size(), records.status().ToString());
    }
    Decide(link, std::move(got), ids, /*cursor=*/std::nullopt, [this, &link, pending](Status s) {
      EndHintRound(link, pending);
      if (!s.ok()) {
        spdlog::error("sync: {}: deciding hints failed: {}", link.config.name, s.ToString());
        link.hints_dirty = true;  // they stay pending: the next round lists them
        return;
      }
      // Hints that came while the rounds were busy (hints_dirty) are listed;
      // a full listing lists again by itself (KickHints).
      if (link.hints_dirty) KickHints(link);
    });
  }

  // Ingests `records` from `link`, marking `hint_ids` done and advancing
  // the poll cursor (if given) in the same transaction. A version decided
  // before (a hint's read, a poll page, consentd's own write) is skipped
  // unless its person was erased since (sync/version_memory.h); a poll
  // record's event id names its version, so overlapping pages dedupe too.
  // Versions decided or written recently are found in memory first
  // (sync/recent_versions.h), which spares the store unit their look-ups;
  // the versions this unit decides are held there once it commits.
  void Decide(Link& link, std::vector<connectors::InboundRecord> records,
              std::vector<std::string> hint_ids, std::optional<std::string> cursor,
              std::function<void(Status)> then) {
    auto summary = std::make_shared<sync::IngestSummary>();
    const std::string name = link.config.name;
    const bool event_id_is_version = cursor.has_value();
    // Records the system failed on their own are neither decided nor
    // remembered as decided: each is queued to be read again
    // (sync/read_again.h), in this unit, so a cursor moving past them
    // loses nothing.
    auto not_read =
        std::make_shared<std::vector<connectors::InboundRecord>>(sync::TakeNotRead(records));
    auto queued = std::make_shared<std::vector<std::string>>();
    link.read_again.Forget(records);
    sync::HeldVersions held = link.recent_versions.Find(records, event_id_is_version);
    auto decided = std::make_shared<DecidedVersions>();
    SubmitThen(
        [this, name, records = std::move(records), hint_ids = std::move(hint_ids),
         cursor = std::move(cursor), summary, event_id_is_version, held = std::move(held), decided,
         not_read, queued](store::Transaction& txn) mutable {
          const TimestampMs now = NowMs();
          if (!not_read->empty()) {
            auto q = sync::QueueReadsAgain(txn, name, *not_read, now);
            if (!q.ok()) return q.status();
            *queued = std::move(q).value();
          }
          const std::int64_t generation = txn.TombstoneGeneration();
          auto fresh =
              sync::FreshVersions(txn, identity_key_, name, std::move(records), event_id_is_version,
                                  now, held.count > 0 ? &held : nullptr);
          if (!fresh.ok()) return fresh.status();
          if (!fresh->records.empty()) {
            auto r = engine_->Ingest(txn, name, fresh->records, now);
            if (!r.ok()) return r.status();
            *summary = std::move(r).value();
          }
          summary->duplicates = fresh->skipped;
          decided->generation = generation;
          decided->versions = sync::VersionsToHold(fresh->records, event_id_is_version, *summary,
                                                   generation, txn.TombstoneGeneration());
          if (!hint_ids.empty()) {
            CONSENTD_RETURN_IF_ERROR(engine_->MarkHintsDone(txn, name, hint_ids, now));
          }
          if (cursor) CONSENTD_RETURN_IF_ERROR(txn.AdvanceCursor(PollerName(name), *cursor, now));
          return Status::Ok();
        },
        [this, &link, name, summary, decided, not_read, queued, then = std::move(then)](Status s) {
          if (s.ok()) {
            if (!queued->empty()) {
              std::vector<sync::ReadAgainSchedule::Hint> deferred;
              for (std::size_t i = 0; i < queued->size(); ++i) {
                deferred.emplace_back((*queued)[i], sync::ReadAgainKey((*not_read)[i]));
              }
              DeferReadAgain(link, deferred, not_read->front().not_read);
            }
            for (std::string& v : decided->versions) {
              link.recent_versions.Remember(v, decided->generation);
            }
            if (summary->duplicates > 0) {
              metrics_.skipped.WithLabels({name}).Inc(static_cast<double>(summary->duplicates));
            }
            Apply(*summary);
          }
          then(s);
        });
  }

  // After a committed unit: metrics, log lines, checkpoints, wake targets.
  // A unit of more than kDecisionsLoggedEach decisions (a poll page, an
  // initial sync) logs one summary line at info and each decision at debug:
  // formatting tens of thousands of lines cost more than deciding them.
  void Apply(const sync::IngestSummary& summary) {
    if (summary.unknown_deletions > 0) {
      spdlog::info(
          "sync: {} record(s) reported deleted that belong to no one consentd knows: nothing "
          "stored",
          summary.unknown_deletions);
    }
    static constexpr std::size_t kDecisionsLoggedEach = 20;
    const bool each_at_info = summary.notes.size() <= kDecisionsLoggedEach;
    const auto each_level = each_at_info ? spdlog::level::info : spdlog::level::debug;
    const bool log_each = spdlog::should_log(each_level) || spdlog::should_log(spdlog::level::debug);
    const TimestampMs now = NowMs();
    // Only the last RecentDecisions::kCapacity non-duplicates stay visible.
    std::size_t recent_from = 0;
    for (std::size_t i = summary.notes.size(), kept = 0; i-- > 0;) {
      if (summary.notes[i].outcome == Outcome::kDuplicate) continue;
      if (++kept == RecentDecisions::kCapacity) {
        recent_from = i;
        break;
      }
    }
    std::int64_t decided = 0;
    for (std::size_t i = 0; i < summary.notes.size(); ++i) {
      const sync::DecisionNote& note = summary.notes[i];
      metrics_.Decided(note.source, note.what, note.outcome);
      const bool duplicate = note.outcome == Outcome::kDuplicate;
      if (!duplicate) ++decided;
      const bool kept = !duplicate && i >= recent_from;
      if (!duplicate && !kept) recent_.CountUnkept(1);
      if (!log_each && !kept) continue;
      const std::string line = FormatNote(note);
      spdlog::log(duplicate ? spdlog::level::debug : each_level, "{}", line);
      if (kept) recent_.Add(now, line);
    }
    if (decided > 0) decisions_minute_.Add(now, decided);
    if (!each_at_info && spdlog::should_log(spdlog::level::info)) {
      spdlog::info("{}", FormatOutcomes(summary));
    }
    if (summary.proof_entries > 0) proof_log_.EntriesAppended(summary.proof_entries);
    for (const auto& [target, n] : summary.enqueued) {
      auto it = links_.find(target);
      if (it != links_.end() && n > 0) Dispatch(*it->second);
    }
    // Records to read again (a delivery kept values out): list their hints.
    for (const std::string& source : summary.hinted) {
      auto it = links_.find(source);
      if (it != links_.end()) KickHints(*it->second);
    }
  }

  // --- poller ------------------------------------------------------------

  void SchedulePoll(Link& link, std::chrono::milliseconds after) {
    link.poll_timer.expires_after(after);
    link.poll_timer.async_wait([this, &link](const boost::system::error_code& ec) {
      if (!ec) Poll(link);
    });
  }

  // One poll cycle: the durable cursor is read, then pages are fetched in
  // order, each from the cursor the page before it returned, while the
  // pages already fetched are decided. The pages waiting when the store
  // becomes free are decided as one unit of work that also advances the
  // cursor to the end of the last of them (a cursor never moves past data
  // that is not durable with it). A failed fetch ends the cycle once the
  // pages before it are decided; a failed decision drops the pages after
  // it, and the next cycle starts again from the durable cursor.
  static constexpr std::size_t kPollPagesAhead = 4;    // fetched, not yet decided
  static constexpr std::size_t kPollPagesPerUnit = 8;  // decided in one unit of work

  void Poll(Link& link) {
    if (stopping_ || held_ || link.poll_running) return;
    link.poll_running = true;
    link.poll_failed = false;
    link.poll_more = false;
    link.poll_ready.clear();
    auto cursor = std::make_shared<std::string>();
    const std::string name = link.config.name;
    SubmitThen(
        [name, cursor](store::Transaction& txn) {
          auto c = txn.GetCursor(PollerName(name));
          if (!c.ok()) return c.status();
          if (c.value()) *cursor = *c.value();
          return Status::Ok();
        },
        [this, &link, cursor](Status s) {
          if (!s.ok()) {
            link.poll_running = false;
            spdlog::error("sync: {}: cursor: {}", link.config.name, s.ToString());
            SchedulePoll(link, link.config.poll_interval);
            return;
          }
          PollFetch(link, std::move(*cursor));
        },
        /*durable=*/false);
  }

  void PollFetch(Link& link, std::string cursor) {
    link.poll_fetching = true;
    auto connector = link.connector;
    OnPool(
        [connector, cursor = std::move(cursor)] {
          const TimestampMs read_at = NowMs();
          Result<connectors::PollPage> page = connector->Poll(cursor, read_at);
          if (page.ok()) connectors::StampReadAt(page->records, read_at);
          return page;
        },
        [this, &link](Result<connectors::PollPage> page) { OnPage(link, std::move(page)); },
        /*bulk=*/true);
  }

  void OnPage(Link& link, Result<connectors::PollPage> page) {
    const std::string& name = link.config.name;
    link.poll_fetching = false;
    if (stopping_ || link.poll_failed) {  // a decision failed: this page is not wanted
      PollCycleStep(link);
      return;
    }
    if (!page.ok()) {
      polls_->WithLabels({name, "failed"}).Inc();
      const int attempt = ++link.poll_failures;
      auto delay = std::min(link.config.poll_interval,
                            connectors::NextDelay(backoff_, attempt, std::nullopt, rng_));
      spdlog::warn("sync: {}: poll failed, again in {} ms: {}", name, delay.count(),
                   page.status().ToString());
      link.poll_failed = true;
      link.poll_retry = delay;
      PollCycleStep(link);
      return;
    }
    link.poll_failures = 0;
    link.activity.last_poll_ok = NowMs();
    polls_->WithLabels({name, "ok"}).Inc();
    metrics_.PollSucceeded(name, NowMs());
    metrics_.records.WithLabels({name, "poll"})
        .Inc(static_cast<double>(page.value().records.size()));
    link.poll_more = page.value().more;
    if (link.poll_more) link.caught_up.store(false);
    link.poll_ready.push_back(std::move(page).value());
    PollCycleStep(link);
  }

  // Starts what the cycle can start (the next fetch, the next decision) or
  // ends the cycle when nothing is left in flight.
  void PollCycleStep(Link& link) {
    if (stopping_) {
      if (!link.poll_fetching && !link.poll_deciding) link.poll_running = false;
      return;
    }
    if (!link.poll_failed && link.poll_more && !link.poll_fetching &&
        link.poll_ready.size() < kPollPagesAhead) {
      PollFetch(link, link.poll_ready.empty() ? link.poll_next_cursor
                                              : link.poll_ready.back().next_cursor);
    }
    if (!link.poll_deciding && !link.poll_ready.empty()) PollDecide(link);
    if (link.poll_fetching || link.poll_deciding) return;
    link.poll_running = false;
    if (link.poll_failed) {
      SchedulePoll(link, link.poll_retry);
    } else if (link.poll_more) {
      Poll(link);  // not reached: a page with more is followed by a fetch or a decision
    } else {
      SchedulePoll(link, link.config.poll_interval);
    }
  }

  void PollDecide(Link& link) {
    std::vector<connectors::InboundRecord> records;
    std::string cursor;
    bool more = false;
    for (std::size_t n = 0; n < kPollPagesPerUnit && !link.poll_ready.empty(); ++n) {
      connectors::PollPage& page = link.poll_ready.front();
      if (records.empty()) {
        records = std::move(page.records);
      } else {
        records.insert(records.end(), std::make_move_iterator(page.records.begin()),
                       std::make_move_iterator(page.records.end()));
      }
      cursor = std::move(page.next_cursor);
      more = page.more;
      link.poll_ready.pop_front();
    }
    // The next fetch (if any) starts from where the last taken page ended.
    link.poll_next_cursor = cursor;
    link.poll_deciding = true;
    Decide(link, std::move(records), {}, std::move(cursor), [this, &link, more](Status s) {
      link.poll_deciding = false;
      if (!s.ok()) {
        spdlog::error("sync: {}: poll page not stored: {}", link.config.name, s.ToString());
        link.poll_failed = true;  // the pages after it wait for the next cycle
        link.poll_ready.clear();
        link.poll_retry = link.config.poll_interval;
      } else if (!more) {
        link.caught_up.store(true);
      }
      PollCycleStep(link);
    });
  }

  // --- full reconciliation ------------------------------------------------

  // The first periodic run after a start: one interval after the last
  // complete run (kept in the store), so that restarts more frequent than
  // the interval do not put it off for ever; never run: one interval after
  // start (a fresh start's first poll reads everything). Not within a
  // minute of start either: the first poll goes first.
  void ScheduleFirstResync(Link& link) {
    auto last = std::make_shared<std::optional<TimestampMs>>();
    const std::string key = sync::LastResyncKey(link.config.name);
    SubmitThen(
        [key, last](store::Transaction& txn) {
          Result<std::optional<std::string>> stored = txn.GetCursor(key);
          if (!stored.ok()) return stored.status();
          if (stored->has_value()) {
            char* end = nullptr;
            const long long at = std::strtoll((*stored)->c_str(), &end, 10);
            if (end != nullptr && *end == '\0' && at > 0) *last = at;
          }
          return Status::Ok();
        },
        [this, &link, last](Status s) {
          if (stopping_) return;
          if (!s.ok()) {
            spdlog::warn("sync: {}: reading the last resync's time: {}", link.config.name,
                         s.ToString());
          }
          const auto after = sync::FirstResyncDelay(*last, sync_.resync_interval, NowMs(),
                                                    std::chrono::minutes(1));
          spdlog::debug("sync: {}: first resync in {} s", link.config.name, after.count() / 1000);
          ScheduleResync(link, after);
        },
        /*durable=*/false);
  }

  void ScheduleResync(Link& link, std::chrono::milliseconds after) {
    link.resync_timer.expires_after(after);
    link.resync_timer.async_wait([this, &link](const boost::system::error_code& ec) {
      if (!ec) Resync(link);
    });
  }

  // Reads the connector's whole snapshot on the pool and decides it page by
  // page (one unit of work each, sync/resync.h): drift is repaired through
  // the outbox like any decision. Stop() ends it after the current page.
  void Resync(Link& link) {
    if (stopping_ || link.resync_running) return;
    link.resync_running = true;
    auto connector = link.connector;
    sync::ResyncOptions options;
    options.stop = &stop_;
    // The connector maps by the mapping in force now: a reload during the
    // run swaps both, and the pages after it are read again by the new one.
    auto ended_by_reload = std::make_shared<std::atomic<bool>>(false);
    options.guard =
        sync::MappingUnchangedGuard(*engine_, mapping::MappingHash(*mapping_), ended_by_reload);
    // Each committed page: metrics, log lines, proof-log count, wake targets.
    options.on_page_committed = [this](const sync::IngestSummary& page) {
      asio::post(io_, [this, page] { Apply(page); });
    };
    OnPool(
        [this, connector, options] {
          return sync::RunResync(*store(), *engine_, *connector, options);
        },
        [this, &link, ended_by_reload](Result<sync::ResyncReport> report) {
          link.resync_running = false;
          const std::string& name = link.config.name;
          auto next = sync_.resync_interval;
          if (!report.ok() && ended_by_reload->load()) {
            resyncs_->WithLabels({name, "stopped"}).Inc();
            next = std::min<std::chrono::milliseconds>(next, std::chrono::minutes(1));
            spdlog::info("sync: {}: resync ended by a reload, again in {} s with the new mapping",
                         name, next.count() / 1000);
          } else if (!report.ok()) {
            resyncs_->WithLabels({name, "failed"}).Inc();
            // Try again sooner than a whole interval (a vendor outage).
            next = std::min<std::chrono::milliseconds>(next, std::chrono::minutes(5));
            spdlog::warn("sync: {}: resync failed, again in {} s: {}", name,
                         next.count() / 1000, report.status().ToString());
          } else {
            resyncs_->WithLabels({name, report->complete ? "ok" : "stopped"}).Inc();
            resync_drift_->WithLabels({name, "consentd_behind"})
                .Inc(static_cast<double>(report->consentd_behind));
            resync_drift_->WithLabels({name, "system_behind"})
                .Inc(static_cast<double>(report->system_behind));
            if (report->missing > 0) {
              resync_drift_->WithLabels({name, "missing"})
                  .Inc(static_cast<double>(report->missing));
            }
            if (report->missing_over_limit) {
              spdlog::warn("sync: resync {}", sync::FormatResyncReport(*report));
            } else {
              spdlog::info("sync: resync {}", sync::FormatResyncReport(*report));
            }
          }
          if (!stopping_) ScheduleResync(link, next);
        },
        /*bulk=*/true);
  }

  // --- dispatcher ----------------------------------------------------------

  void ArmDispatchTimer(Link& link) {
    link.dispatch_timer.expires_after(kDispatchIdle);
    link.dispatch_timer.async_wait([this, &link](const boost::system::error_code& ec) {
      if (!ec) Dispatch(link);
    });
  }

  void Dispatch(Link& link) {
    if (stopping_ || held_) return;
    if (link.claim_pending || link.deliveries_in_flight >= link.max_parallel_batches) {
      link.dispatch_dirty = true;
      return;
    }
    link.claim_pending = true;
    link.dispatch_dirty = false;
    const std::string name = link.config.name;
    const int limit = std::max(1, link.connector->max_batch());
    const auto lease = link.config.request_timeout * 4 + kLeaseSlack;
    auto rows = std::make_shared<std::vector<store::OutboxRow>>();
    auto generation = std::make_shared<std::int64_t>(0);
    // What the connector learnt before a restart (or a reload), before it
    // delivers anything.
    const bool load_learnt = !link.learnt_loaded;
    auto learnt = std::make_shared<std::optional<std::string>>();
    // Rows still being delivered here are not claimed again when their
    // lease runs out first (a batch waiting for the request budget, a long
    // Retry-After): the claim would count an attempt that was never made,
    // and a row could reach the dead letters early.
    SubmitThen(
        [name, limit, lease, rows, generation, load_learnt, learnt,
         delivering = link.delivering](store::Transaction& txn) {
          const TimestampMs now = NowMs();
          if (load_learnt) {
            auto stored = txn.GetCursor(LearntStateKey(name));
            if (!stored.ok()) return stored.status();
            *learnt = std::move(stored).value();
          }
          auto r = txn.ClaimOutbox(name, now, limit, now + lease.count(), delivering);
          if (!r.ok()) return r.status();
          *rows = std::move(r).value();
          *generation = txn.TombstoneGeneration();
          // Erasure targets of claimed rows: pending -> sent.
          return store::MarkErasureTargetsSent(txn, *rows, now);
        },
        [this, &link, rows, limit, generation, load_learnt, learnt](Status s) {
          link.claim_pending = false;
          // The claims run at least every kDispatchIdle: hints another
          // process queued are read within about that.
          if (const std::uint64_t foreign = store()->ForeignCommitsSeen();
              foreign != link.foreign_commits_seen) {
            link.foreign_commits_seen = foreign;
            KickHints(link);
          }
          if (s.ok() && load_learnt && !link.learnt_loaded) {
            link.learnt_loaded = true;
            if (learnt->has_value()) {
              link.learnt_saved = **learnt;
              link.connector->RestoreLearntState(link.learnt_saved);
            }
          }
          if (!s.ok()) {
            spdlog::error("sync: {}: claiming outbox rows: {}", link.config.name, s.ToString());
            ArmDispatchTimer(link);
            return;
          }
          if (rows->empty()) {
            if (link.dispatch_dirty) {
              Dispatch(link);
            } else if (link.deliveries_in_flight == 0) {
              ArmDispatchTimer(link);  // retries that become due later
            }
            return;
          }
          const bool full = static_cast<int>(rows->size()) >= limit;
          // The claim skipped the rows in flight when it was submitted, and
          // only a claim's answer starts deliveries; this keeps a row from
          // ever being in flight twice should that change.
          std::erase_if(*rows, [&link](const store::OutboxRow& row) {
            return !link.delivering.insert(row.id).second;
          });
          if (rows->empty()) {
            if (link.dispatch_dirty) {
              Dispatch(link);
            } else if (link.deliveries_in_flight == 0) {
              ArmDispatchTimer(link);
            }
            return;
          }
          Deliver(link, std::move(*rows), *generation);
          // A full batch: there may be more; claim the next in parallel.
          if (full || link.dispatch_dirty) Dispatch(link);
        },
        /*durable=*/false);
  }

  // `claimed_at`: the store's tombstone generation when `rows` were claimed
  // (RecentVersions).
  void Deliver(Link& link, std::vector<store::OutboxRow> rows, std::int64_t claimed_at) {
    ++link.deliveries_in_flight;
    std::vector<connectors::OutboundItem> items;
    std::vector<connectors::DeliveryResult> undecodable;
    for (const auto& row : rows) {
      auto desired = connectors::DecodeDesiredState(row.desired_json);
      if (!desired.ok()) {
        connectors::DeliveryResult bad;
        bad.outbox_id = row.id;
        bad.status = desired.status();
        bad.error_class = connectors::ErrorClass::kPermanent;
        bad.detail = "undecodable outbox row: " + desired.status().message();
        undecodable.push_back(std::move(bad));
        continue;
      }
      items.push_back({row.id, row.idempotency_key, std::move(desired).value(), row.attempts});
    }
    auto connector = link.connector;
    auto shared_rows = std::make_shared<std::vector<store::OutboxRow>>(std::move(rows));
    OnPool(
        [connector, items = std::move(items), undecodable = std::move(undecodable)]() mutable {
          std::vector<connectors::DeliveryResult> results;
          if (!items.empty()) results = connector->Deliver(items);
          for (auto& u : undecodable) results.push_back(std::move(u));
          return results;
        },
        [this, &link, shared_rows, claimed_at,
         used = connector](std::vector<connectors::DeliveryResult> results) {
          // A reload may have rebuilt the connector while this batch was
          // on its way: the old instance's answers say nothing of the new
          // credentials' standing.
          Record(link, shared_rows, std::move(results), claimed_at,
                 /*current_connector=*/used == link.connector);
        });
  }

  static bool IsErasureRow(const std::vector<store::OutboxRow>& rows, std::int64_t id) {
    for (const store::OutboxRow& row : rows) {
      if (row.id != id) continue;
      Result<connectors::DesiredState> d = connectors::DecodeDesiredState(row.desired_json);
      return d.ok() && d->erase;
    }
    return false;
  }

  void Record(Link& link, std::shared_ptr<std::vector<store::OutboxRow>> rows,
              std::vector<connectors::DeliveryResult> results, std::int64_t claimed_at,
              bool current_connector = true) {
    const std::string name = link.config.name;
    // Every claimed row gets an outcome: a connector that forgot one is
    // treated as a transient failure for that row.
    std::set<std::int64_t> answered;
    for (const auto& r : results) answered.insert(r.outbox_id);
    for (const auto& row : *rows) {
      if (answered.count(row.id) == 0) {
        connectors::DeliveryResult missing;
        missing.outbox_id = row.id;
        missing.status = Unavailable("the connector returned no outcome for this row");
        results.push_back(std::move(missing));
      }
    }
    // A refused credential (401, 403) is the connector's, not the row's: a
    // revoked or rotated token must not dead-letter every row in flight.
    // The rows are retried with backoff until the target takes a delivery
    // again, however long (connectors::IsCredentialRefusal), /readyz names
    // the refusal until then, and the connector is checked again (at most
    // every 30 s).
    const Status* refused = nullptr;
    bool taken = false;
    for (auto& r : results) {
      taken |= r.status.ok();
      if (r.status.ok() || r.error_class != connectors::ErrorClass::kPermanent) continue;
      if (connectors::IsCredentialRefusal(r.status)) {
        r.error_class = connectors::ErrorClass::kRetryable;
        refused = &r.status;
      }
    }
    if (current_connector && (refused != nullptr || taken)) {
      std::lock_guard lock(link.check_mu);
      link.deliveries_refused =
          refused != nullptr
              ? Status(refused->code(),
                       "deliveries refused for its credentials (retried): " + refused->message())
              : Status::Ok();
    }
    const auto steady_now = std::chrono::steady_clock::now();
    if (current_connector && refused != nullptr && !stopping_ &&
        steady_now - link.refusal_checked_at >= std::chrono::seconds(30)) {
      link.refusal_checked_at = steady_now;
      RunCheck(link);
    }
    std::map<std::int64_t, TimestampMs> retry_at;
    const TimestampMs now = NowMs();
    // Answers that came back while consentd stops (a call refused before
    // it was made: "shutting down") cost no row its last attempt: the row
    // is claimed again after the restart.
    const int max_attempts = stopping_ ? std::numeric_limits<int>::max() : backoff_.max_attempts;
    std::vector<std::pair<std::string, std::vector<std::int64_t>>> failures;  // why -> rows
    std::map<std::int64_t, int> attempts;
    for (const auto& row : *rows) attempts[row.id] = row.attempts;
    for (const auto& r : results) {
      if (r.status.ok()) {
        deliveries_->WithLabels({name, "done"}).Inc();
        ++link.activity.deliveries_done;
        link.activity.deliveries.Add(now);
        link.activity.consecutive_delivery_failures = 0;
        continue;
      }
      ++link.activity.deliveries_failed;
      ++link.activity.consecutive_delivery_failures;
      deliveries_->WithLabels({name, std::string(connectors::ErrorClassName(r.error_class))}).Inc();
      // As sync/deliveries.cc decides: retryable rows die once attempts run
      // out, except an erasure's, which is retried until it is done.
      const bool dead =
          r.error_class != connectors::ErrorClass::kRetryable ||
          (attempts[r.outbox_id] >= max_attempts && !IsErasureRow(*rows, r.outbox_id) &&
           !connectors::IsCredentialRefusal(r.status));
      metrics_.DeliveryFailed(name, r.error_class, r.status, dead);
      const auto delay =
          connectors::NextDelay(backoff_, std::max(1, attempts[r.outbox_id]), r.retry_after, rng_);
      retry_at[r.outbox_id] = now + delay.count();
      // Connectors often give the failure's message as the detail too: said
      // once.
      const bool detail_adds = !r.detail.empty() && r.detail != r.status.message();
      std::string why = std::string(connectors::ErrorClassName(r.error_class)) + ": " +
                        std::string(r.status.message()) +
                        (detail_adds ? " (" + r.detail + ")" : "");
      auto same = std::find_if(failures.begin(), failures.end(),
                               [&](const auto& f) { return f.first == why; });
      if (same == failures.end()) {
        failures.emplace_back(std::move(why), std::vector<std::int64_t>{r.outbox_id});
      } else {
        same->second.push_back(r.outbox_id);
      }
    }
    // One line per distinct failure: an outage fails a whole batch the same
    // way, and fifty identical lines hid what else happened.
    for (const auto& [why, ids] : failures) {
      spdlog::warn("sync: {}: {} {}", name, OutboxRowsText(ids), why);
    }
    for (const auto& row : *rows) {
      bool ok = false;
      for (const auto& r : results) ok |= (r.outbox_id == row.id && r.status.ok());
      if (ok && row.created_at > 0) {
        // Wall-clock times: a clock stepped back must not make the sum of a
        // histogram shrink (rate() would read it as a reset).
        propagation_->WithLabels({name}).Observe(
            static_cast<double>(std::max<TimestampMs>(0, now - row.created_at)) / 1000.0);
      }
    }
    auto summary = std::make_shared<sync::IngestSummary>();
    // The versions the target answered, held in memory once recorded if no
    // erasure came while they were in flight (sync/recent_versions.h).
    auto written = std::make_shared<std::vector<std::string>>();
    for (const auto& result : results) {
      if (result.status.ok() && !result.version_id.empty()) written->push_back(result.version_id);
    }
    auto recorded_at = std::make_shared<std::int64_t>(0);
    // What the connector learnt from these answers, stored with them.
    std::string learnt = link.connector->LearntState();
    const bool save_learnt = link.learnt_loaded && !learnt.empty() && learnt != link.learnt_saved;
    SubmitThen(
        [this, name, rows, results = std::move(results), retry_at, max_attempts, summary,
         recorded_at, save_learnt, learnt](store::Transaction& txn) {
          const TimestampMs at = NowMs();
          if (save_learnt) {
            CONSENTD_RETURN_IF_ERROR(txn.AdvanceCursor(LearntStateKey(name), learnt, at));
          }
          auto r =
              engine_->RecordDeliveries(txn, name, *rows, results, retry_at, max_attempts, at);
          if (!r.ok()) return r.status();
          *summary = std::move(r).value();
          // What the target answered it holds now: its read-back is skipped.
          for (const auto& result : results) {
            if (!result.status.ok() || result.version_id.empty()) continue;
            CONSENTD_RETURN_IF_ERROR(sync::RememberVersion(txn, name, result.version_id, at));
          }
          // At the end: a version that gave its slot another state here
          // moved the generation on, and is then not held.
          *recorded_at = txn.TombstoneGeneration();
          return Status::Ok();
        },
        [this, &link, rows, summary, written, recorded_at, claimed_at, save_learnt,
         learnt](Status s) {
          --link.deliveries_in_flight;
          if (s.ok() && save_learnt) link.learnt_saved = learnt;
          for (const store::OutboxRow& row : *rows) link.delivering.erase(row.id);
          if (s.ok() && *recorded_at == claimed_at) {
            for (const std::string& v : *written) link.recent_versions.Remember(v, claimed_at);
          }
          if (s.ok()) Apply(*summary);
          if (!s.ok()) {
            // The claims expire and the rows are delivered again (absolute
            // state, idempotent at the target).
            spdlog::error("sync: {}: recording deliveries failed: {}", link.config.name,
                          s.ToString());
          }
          Dispatch(link);
        });
  }

  asio::io_context& io_;
  const StoreComponent& store_;
  ProofLogComponent& proof_log_;
  metrics::Registry& registry_;
  SyncMetrics metrics_;
  metrics::Family<metrics::Counter>* webhooks_ = nullptr;
  metrics::Family<metrics::Counter>* deliveries_ = nullptr;
  metrics::Family<metrics::Histogram>* propagation_ = nullptr;
  metrics::Family<metrics::Counter>* polls_ = nullptr;
  metrics::Family<metrics::Counter>* resyncs_ = nullptr;
  metrics::Family<metrics::Counter>* resync_drift_ = nullptr;

  std::shared_ptr<const mapping::MappingSpec> mapping_;
  // Built by PrepareReload, swapped in by CommitReload: the new mapping (set
  // only when it changed), and the connectors rebuilt for it or for changed
  // secret files, with those files' digests.
  std::shared_ptr<const mapping::MappingSpec> prepared_spec_;
  std::map<std::string, std::shared_ptr<Connector>> prepared_connectors_;
  std::map<std::string, std::string> prepared_digests_;
  std::unique_ptr<sync::SyncEngine> engine_;  // store thread only
  // Until the erasure ledger was compared with the database at start:
  // nothing is claimed, polled or decided from hints (StartLinks).
  bool held_ = true;
  // Why the erasure ledger could not be applied at start (/readyz).
  mutable std::mutex ledger_mu_;
  Status ledger_status_;
  config::SyncConfig sync_;
  connectors::BackoffPolicy backoff_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::unique_ptr<connectors::HttpClient> curl_;
  std::map<std::string, std::unique_ptr<Link>> links_;
  // WhenChecksAnswer: answers due when the checks they wait for have answered.
  std::vector<std::shared_ptr<CheckWaiter>> check_waiters_;
  // The erasure ledger as Start read it, applied by Started.
  std::string ledger_path_;
  std::vector<store::LedgerRecord> ledger_at_start_;
  // RecordMapping units submitted and finished (io thread; CheckWaiter).
  std::uint64_t mapping_records_submitted_ = 0;
  std::uint64_t mapping_records_done_ = 0;
  std::unique_ptr<asio::thread_pool> pool_;
  std::unique_ptr<asio::thread_pool> bulk_pool_;  // polls and resyncs, niced (MakeBulkPool)
  std::atomic<bool> stop_{false};
  std::unique_ptr<asio::steady_timer> housekeeping_;
  std::unique_ptr<WebhookAckDeadline> acks_;  // with connectors only
  std::uint64_t webhooks_timed_out_ = 0;
  std::chrono::steady_clock::time_point last_timeout_warning_{};
  std::uint64_t housekeeping_runs_ = 0;
  config::PrivacyConfig privacy_;  // export delivery
  std::string identity_key_;               // keyed hashes of identifiers
  SharedRead<std::string> consent_stats_;  // ConsentStats's JSON (io thread)
  SharedRead<StoreFigures> status_figures_;  // StatusStoreFigures (io thread)
  RecentDecisions recent_;          // the status page's "recent decisions"
  MinuteCounter decisions_minute_;  // decisions (not duplicates) per minute
  bool stopping_ = false;
  int in_flight_ = 0;  // store submissions and pool calls awaiting their io callback
};

SyncComponent::SyncComponent(asio::io_context& io, const StoreComponent& store,
                             ProofLogComponent& proof_log, Router& router,
                             metrics::Registry& registry)
    : impl_(std::make_unique<Impl>(io, store, proof_log, router, registry)) {}

SyncComponent::~SyncComponent() = default;

Status SyncComponent::Start(const config::Config& config) { return impl_->Start(config); }
void SyncComponent::Started() { impl_->Started(); }
Status SyncComponent::PrepareReload(const config::Config& next) {
  return impl_->PrepareReload(next);
}
void SyncComponent::CommitReload(const config::Config& next) { impl_->CommitReload(next); }
void SyncComponent::AbortReload() { impl_->AbortReload(); }
void SyncComponent::Stop(std::chrono::steady_clock::time_point deadline,
                         std::function<void()> done) {
  impl_->Stop(deadline, std::move(done));
}
void SyncComponent::RequestErasure(std::string email, std::string requested_by,
                                   std::function<void(Result<ErasureRequest>)> done) {
  impl_->RequestErasure(std::move(email), std::move(requested_by), std::move(done));
}

void SyncComponent::ExportSubject(std::string email,
                                  std::function<void(Result<std::string>)> done) {
  impl_->ExportSubject(std::move(email), std::move(done));
}

void SyncComponent::ConsentStats(std::function<void(Result<std::string>)> done) {
  impl_->ConsentStats(std::move(done));
}

Status SyncComponent::Readiness() const { return impl_->Readiness(); }

void SyncComponent::WhenChecksAnswer(std::chrono::milliseconds wait,
                                     std::function<void(std::vector<ConnectorCheck>)> done) {
  impl_->WhenChecksAnswer(wait, std::move(done));
}
void SyncComponent::StopWaitingForChecks() { impl_->StopWaitingForChecks(); }

void SyncComponent::CollectStatus(std::function<void(Result<SyncStatus>)> done) {
  impl_->CollectStatus(std::move(done));
}
void SyncComponent::DeadLetters(
    int limit, std::function<void(Result<std::vector<store::OutboxRow>>)> done) {
  impl_->DeadLetters(limit, std::move(done));
}
void SyncComponent::ReplayDeadLetters(
    std::optional<std::int64_t> id, std::string requested_by,
    std::function<void(Result<store::DeadLetterReplay>)> done) {
  impl_->ReplayDeadLetters(id, std::move(requested_by), std::move(done));
}
void SyncComponent::ExplainSubject(std::string email,
                                   std::function<void(Result<std::string>)> done) {
  impl_->ExplainSubject(std::move(email), std::move(done));
}

void SyncComponent::ListErasures(bool open_only, bool overdue_only,
                                 std::function<void(Result<std::string>)> done) {
  impl_->ReadErasures(std::nullopt, open_only, overdue_only, std::move(done));
}

void SyncComponent::GetErasure(std::string id, std::function<void(Result<std::string>)> done) {
  impl_->ReadErasures(std::move(id), false, false, std::move(done));
}

void SyncComponent::DeliverExport(std::string email, std::string requested_by,
                                  std::function<void(Result<ExportDeliveryOutcome>)> done) {
  impl_->DeliverExport(std::move(email), std::move(requested_by), std::move(done));
}

void SyncComponent::StatsHistory(TimestampMs since, int limit,
                                 std::function<void(Result<std::string>)> done) {
  impl_->StatsHistory(since, limit, std::move(done));
}

}  // namespace consentd::daemon
