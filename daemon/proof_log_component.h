// The proof log's signer in the running daemon (DESIGN.md §4): loads the
// signing key at start (creating it, 0600, if absent) and writes signed
// checkpoints through the store every `proof_log.checkpoint_interval` if the
// log grew, after every `proof_log.checkpoint_every_entries` new entries,
// and once more at stop. Started after the store, so it stops (and writes
// its final checkpoint) before the store closes.
//
// Thread-safety: Component members on the io thread (component.h);
// EntriesAppended from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/proof/note.h"
#include "core/clock.h"
#include "daemon/components.h"
#include "daemon/metrics.h"

namespace consentd::daemon {

class ProofLogComponent final : public Component {
 public:
  // `store` is borrowed and must be started before this component.
  ProofLogComponent(boost::asio::io_context& io, const StoreComponent& store);
  ~ProofLogComponent() override;

  std::string_view Name() const override { return "proof_log"; }
  Status Start(const config::Config& config) override;
  void CommitReload(const config::Config& next) override;
  void Stop(std::chrono::steady_clock::time_point deadline, std::function<void()> done) override;

  // The sync engine calls this after a unit of work that appended `count`
  // proof-log entries has committed. Once checkpoint_every_entries have
  // accumulated since the last checkpoint request, a checkpoint is
  // requested on the io thread. Any thread; cheap (one atomic add).
  void EntriesAppended(std::uint64_t count);

  // Checkpoints this component has written (signed and committed); for
  // tests and logs.
  std::uint64_t checkpoints_written() const { return written_->load(); }

  // Registers the proof-log gauges (entries, last checkpoint time and age,
  // checkpoints written) in `registry`, which must outlive this component.
  // Their values come from the store at Start and after each checkpoint,
  // never from a scrape. Call before Start; io thread.
  void RegisterMetrics(metrics::Registry& registry);

 private:
  struct Timer;
  void ArmTimer();
  // Submits a checkpoint unit to the store; `then` (if set) runs on the io
  // thread once it is durable or failed.
  void RequestCheckpoint(std::function<void()> then = nullptr);

  boost::asio::io_context& io_;
  const StoreComponent& store_;
  std::unique_ptr<Timer> timer_;
  std::shared_ptr<const proof::NoteSigner> signer_;
  std::string key_path_;
  std::chrono::milliseconds interval_{60000};
  std::atomic<std::uint64_t> every_entries_{1000};
  std::atomic<std::uint64_t> pending_entries_{0};
  std::atomic<bool> stopping_{false};
  // Shared with store callbacks, which may outlive a request's scope.
  std::shared_ptr<std::atomic<std::uint64_t>> written_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
  // For /metrics: tree size (entries) and the latest checkpoint's time
  // (0: none yet), as last read from the store plus entries appended since.
  struct Gauges {
    std::atomic<std::uint64_t> entries{0};
    std::atomic<std::uint64_t> checkpointed_entries{0};
    std::atomic<TimestampMs> last_checkpoint_ms{0};
  };
  std::shared_ptr<Gauges> gauges_ = std::make_shared<Gauges>();
  void RefreshGauges();
};

}  // namespace consentd::daemon
