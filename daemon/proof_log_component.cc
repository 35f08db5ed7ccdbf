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
  Result<proof::NoteSigner> signer =
      proof::LoadOrCreateSigningKey(key_path_, config.proof_log.origin);
  if (!signer.ok()) return signer.status();  // names the path
  signer_ = std::make_shared<const proof::NoteSigner>(std::move(signer).value());
  interval_ = config.proof_log.checkpoint_interval;
  every_entries_ = config.proof_log.checkpoint_every_entries;
  // The verifier key is public: auditors pass it to `consentctl verify --vkey`.
  spdlog::info("proof log key {} ({}); verifier key {}", signer_->name(), key_path_,
               signer_->VerifierKey());
  ArmTimer();
  return Status::Ok();
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
  // Keeps the io loop running until `then` is posted, even with no other
  // work pending (e.g. nothing else is left at stop).
  auto guard = std::make_shared<boost::asio::executor_work_guard<
      boost::asio::io_context::executor_type>>(io_.get_executor());
  store->Submit(
      [signer, wrote](store::Transaction& txn) -> Status {
        static const SystemClock clock;
        Result<std::optional<std::string>> note =
            store::WriteProofCheckpoint(txn, *signer, clock.NowMs());
        if (!note.ok()) return note.status();
        *wrote = note->has_value();
        return Status::Ok();
      },
      [io = &io_, written, wrote, guard, then = std::move(then)](const Status& s) {
        // On the store thread: log, count, and hand `then` to the io thread.
        if (!s.ok()) {
          spdlog::error("proof log checkpoint not written: {}", s.ToString());
        } else if (*wrote) {
          written->fetch_add(1);
          spdlog::debug("proof log checkpoint written");
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
