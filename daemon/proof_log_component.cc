#include "daemon/proof_log_component.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/clock.h"
#include "core/proof/key_file.h"
#include "store/proof_log_store.h"

namespace consentd::daemon {

struct ProofLogComponent::Timer {
  explicit Timer(boost::asio::io_context& io) : timer(io) {}
  boost::asio::steady_timer timer;
};

ProofLogComponent::ProofLogComponent(boost::asio::io_context& io, const StoreComponent& store)
    : io_(io), store_(store), timer_(std::make_unique<Timer>(io)) {}

ProofLogComponent::~ProofLogComponent() = default;

Status ProofLogComponent::Start(const config::Config& config) {
  key_path_ = config.proof_log.signing_key_file;
  // The key must be the one that signed the stored checkpoints (a new key
  // is made only for a log without any).
  std::optional<std::string> latest;
  if (store::Store* store = store_.store()) {
    CONSENTD_RETURN_IF_ERROR(store->Run(
        [&latest](store::Transaction& txn) -> Status {
          Result<std::optional<std::string>> note = store::LatestProofCheckpoint(txn);
          if (!note.ok()) return note.status();
          latest = std::move(note).value();
          return Status::Ok();
        },
        store::SubmitOptions{/*durable=*/false}));
  }
  Result<proof::NoteSigner> signer =
      proof::LoadSigningKeyForLog(key_path_, config.proof_log.origin, latest);
  if (!signer.ok()) return signer.status();  // names the path
  signer_ = std::make_shared<const proof::NoteSigner>(std::move(signer).value());
  interval_ = config.proof_log.checkpoint_interval;
  every_entries_ = config.proof_log.checkpoint_every_entries;
  // The verifier key is public: auditors pass it to `consentctl verify --vkey`.
  spdlog::info("proof log key {} ({}); verifier key {}", signer_->name(), key_path_,
               signer_->VerifierKey());
  ArmTimer();
  RefreshGauges();
  return Status::Ok();
}

void ProofLogComponent::RegisterMetrics(metrics::Registry& registry) {
  auto gauges = gauges_;
  auto written = written_;
  registry.AddCallbackGauge("consentd_proof_log_entries",
                            "Entries in the proof log (its Merkle tree size).",
                            [gauges] { return static_cast<double>(gauges->entries.load()); });
  registry.AddCallbackGauge(
      "consentd_proof_log_checkpointed_entries",
      "Entries covered by the latest signed checkpoint (its tree size).",
      [gauges] { return static_cast<double>(gauges->checkpointed_entries.load()); });
  registry.AddCallbackGauge(
      "consentd_proof_log_last_checkpoint_timestamp_seconds",
      "When the latest signed checkpoint was written (Unix time; 0 before the first).",
      [gauges] { return static_cast<double>(gauges->last_checkpoint_ms.load()) / 1000.0; });
  registry.AddCallbackGauge(
      "consentd_proof_log_checkpoint_age_seconds",
      "Seconds since the latest signed checkpoint (since consentd started before the first).",
      [gauges, started = SystemClock().NowMs()] {
        static const SystemClock clock;
        const TimestampMs last = gauges->last_checkpoint_ms.load();
        return static_cast<double>(clock.NowMs() - (last > 0 ? last : started)) / 1000.0;
      });
  registry.AddCallbackFamily(
      "consentd_proof_log_checkpoints_written_total",
      "Signed checkpoints this process wrote.", metrics::MetricType::kCounter, {}, [written] {
        return std::vector<metrics::Registry::LabeledValue>{
            {{}, static_cast<double>(written->load())}};
      });
}

// Reads the tree size and the latest checkpoint's time on the store thread.
void ProofLogComponent::RefreshGauges() {
  store::Store* store = store_.store();
  if (!store) return;
  auto gauges = gauges_;
  store->Submit(
      [gauges](store::Transaction& txn) -> Status {
        Result<std::uint64_t> size = store::ProofTreeSize(txn);
        if (!size.ok()) return size.status();
        Result<std::optional<store::ProofCheckpointInfo>> latest =
            store::LatestProofCheckpointInfo(txn);
        if (!latest.ok()) return latest.status();
        gauges->entries = *size;
        if (latest->has_value()) {
          gauges->checkpointed_entries = (*latest)->tree_size;
          gauges->last_checkpoint_ms = (*latest)->created_at;
        }
        return Status::Ok();
      },
      [](const Status& s) {
        if (!s.ok()) spdlog::warn("proof log metrics: {}", s.ToString());
      },
      store::SubmitOptions{/*durable=*/false});
}

void ProofLogComponent::CommitReload(const config::Config& next) {
  if (next.proof_log.signing_key_file != key_path_ ||
      next.proof_log.origin != signer_->name()) {
    spdlog::warn(
        "proof_log.signing_key_file/origin changed: takes effect after a restart; still "
        "signing with {} ({})",
        signer_->name(), key_path_);
  }
  every_entries_ = next.proof_log.checkpoint_every_entries;
  if (next.proof_log.checkpoint_interval != interval_) {
    interval_ = next.proof_log.checkpoint_interval;
    spdlog::info("proof log checkpoint interval {} ms", interval_.count());
    ArmTimer();  // cancels the pending wait
  }
}

void ProofLogComponent::ArmTimer() {
  timer_->timer.expires_after(interval_);
  timer_->timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;  // cancelled: re-armed or stopping
    RequestCheckpoint();
    ArmTimer();
  });
}

void ProofLogComponent::EntriesAppended(std::uint64_t count) {
  const std::uint64_t every = every_entries_.load();
  gauges_->entries.fetch_add(count);
  const std::uint64_t before = pending_entries_.fetch_add(count);
  if (before < every && before + count >= every && !stopping_) {
    boost::asio::post(io_, [this] {
      if (!stopping_) RequestCheckpoint();
    });
  }
}

void ProofLogComponent::RequestCheckpoint(std::function<void()> then) {
  store::Store* store = store_.store();
  if (!store || !signer_) {
    if (then) then();
    return;
  }
  pending_entries_ = 0;
  auto signer = signer_;
  auto written = written_;
  auto wrote = std::make_shared<bool>(false);
  auto gauges = gauges_;
  auto written_at = std::make_shared<store::ProofCheckpointInfo>();
  auto size_now = std::make_shared<std::uint64_t>(0);
  auto root = std::make_shared<std::string>();
  // Keeps the io loop running until `then` is posted, even with no other
  // work pending (e.g. nothing else is left at stop).
  auto guard = std::make_shared<boost::asio::executor_work_guard<
      boost::asio::io_context::executor_type>>(io_.get_executor());
  store->Submit(
      [signer, wrote, written_at, root, size_now](store::Transaction& txn) -> Status {
        static const SystemClock clock;
        const TimestampMs now = clock.NowMs();
        Result<std::optional<std::string>> note = store::WriteProofCheckpoint(txn, *signer, now);
        if (!note.ok()) return note.status();
        *wrote = note->has_value();
        if (*wrote) {
          // A checkpoint is "origin\nsize\nroot\n...": the root line, for
          // the journal.
          const std::string& text = **note;
          const std::size_t a = text.find('\n');
          const std::size_t b = a == std::string::npos ? a : text.find('\n', a + 1);
          const std::size_t c = b == std::string::npos ? b : text.find('\n', b + 1);
          if (c != std::string::npos) *root = text.substr(b + 1, c - b - 1);
          written_at->created_at = now;
        }
        // Also without a new checkpoint: the entries gauge counts what this
        // process appended, and entries appended elsewhere (consentctl
        // erasures mark-manual, a restored database's ledger replay) are
        // taken in here.
        Result<std::uint64_t> size = store::ProofTreeSize(txn);
        if (!size.ok()) return size.status();
        *size_now = *size;
        if (*wrote) written_at->tree_size = *size;
        return Status::Ok();
      },
      [io = &io_, written, wrote, written_at, root, gauges, guard, size_now,
       then = std::move(then)](const Status& s) {
        // On the store thread: log, count, and hand `then` to the io thread.
        if (s.ok()) {
          // Never down: an append counted since the read stays counted.
          std::uint64_t seen = gauges->entries.load();
          while (seen < *size_now && !gauges->entries.compare_exchange_weak(seen, *size_now)) {
          }
        }
        if (!s.ok()) {
          spdlog::error("proof log checkpoint not written: {}", s.ToString());
        } else if (*wrote) {
          written->fetch_add(1);
          gauges->last_checkpoint_ms = written_at->created_at;
          gauges->checkpointed_entries = written_at->tree_size;
          // At info, so that the journal keeps each signed (size, root)
          // outside the database (docs/proof-log.md, "Keep a checkpoint
          // elsewhere").
          spdlog::info("proof log checkpoint signed: {} entries, root {}", written_at->tree_size,
                       *root);
        }
        if (then) boost::asio::post(*io, then);
        guard->reset();
      });
}

void ProofLogComponent::Stop(std::chrono::steady_clock::time_point,
                             std::function<void()> done) {
  stopping_ = true;
  timer_->timer.cancel();
  // The final checkpoint covers everything appended so far; the store is
  // still open (it stops after this component).
  RequestCheckpoint([this, done = std::move(done)] {
    spdlog::info("proof log stopped ({} checkpoints written)", written_->load());
    done();
  });
}

}  // namespace consentd::daemon
