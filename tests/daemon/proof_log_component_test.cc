// ProofLogComponent with a real store, a real key file and a real
// io_context: the every-N rule and the final checkpoint at stop.
#include "daemon/proof_log_component.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>

#include "core/proof_entry.h"
#include "daemon/metrics.h"
#include "store/proof_log_store.h"

namespace consentd::daemon {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class ProofLogComponentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/consentd-prooflog-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    config_.store.path = (dir_ / "state.db").string();
    config_.proof_log.signing_key_file = (dir_ / "log.key").string();
    config_.proof_log.checkpoint_every_entries = 3;
    config_.proof_log.checkpoint_interval = 24h;  // only the count rule fires
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void Append(int count) {
    std::vector<ProofEntry> entries;
    for (int i = 0; i < count; ++i) {
      ProofEntry e;
      e.recorded_at = 1764400000000 + next_;
      e.occurred_at = 1764399999000 + next_;
      e.subject = "s" + std::to_string(next_);
      e.kind = ProofKind::kDecided;
      e.topic = "newsletter";
      e.channel = "email";
      e.old_status = "not_asked";
      e.new_status = "granted";
      e.legal_basis = "eu-gdpr:A6-1-a";
      e.source_system = "hubspot";
      e.source_event_id = "evt-" + std::to_string(next_++);
      entries.push_back(std::move(e));
    }
    ASSERT_TRUE(store_.store()
                    ->Run([&](store::Transaction& txn) {
                      return store::AppendProofEntries(txn, entries, 1764400001000).status();
                    })
                    .ok());
  }

  // The size line of the latest checkpoint, 0 without one.
  std::uint64_t LatestCheckpointSize() {
    std::uint64_t size = 0;
    EXPECT_TRUE(store_.store()
                    ->Run([&](store::Transaction& txn) -> Status {
                      auto note = store::LatestProofCheckpoint(txn);
                      if (!note.ok()) return note.status();
                      if (*note) {
                        const std::string& n = **note;
                        const auto first = n.find('\n');
                        size = std::stoull(n.substr(first + 1));
                      }
                      return Status::Ok();
                    })
                    .ok());
    return size;
  }

  // Runs the io loop until `pred` or a generous limit.
  template <typename Pred>
  bool RunUntil(Pred pred) {
    for (int i = 0; i < 3000 && !pred(); ++i) {
      io_.restart();  // run_for stops the loop whenever it runs out of work
      io_.run_for(10ms);
    }
    return pred();
  }

  fs::path dir_;
  config::Config config_;
  boost::asio::io_context io_;
  StoreComponent store_;
  int next_ = 0;
};

TEST_F(ProofLogComponentTest, EveryNAppendedEntriesSignAndStopSignsTheRest) {
  ASSERT_TRUE(store_.Start(config_).ok());
  ProofLogComponent proof_log(io_, store_);
  ASSERT_TRUE(proof_log.Start(config_).ok());
  struct stat st {};
  ASSERT_EQ(::stat(config_.proof_log.signing_key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  Append(3);
  proof_log.EntriesAppended(2);
  proof_log.EntriesAppended(1);  // reaches checkpoint_every_entries
  ASSERT_TRUE(RunUntil([&] { return proof_log.checkpoints_written() == 1; }));
  EXPECT_EQ(LatestCheckpointSize(), 3u);

  Append(2);
  proof_log.EntriesAppended(2);  // below the threshold: left for the stop
  bool stopped = false;
  proof_log.Stop(std::chrono::steady_clock::now() + 10s, [&] { stopped = true; });
  ASSERT_TRUE(RunUntil([&] { return stopped; }));
  EXPECT_EQ(proof_log.checkpoints_written(), 2u);
  EXPECT_EQ(LatestCheckpointSize(), 5u);

  bool store_stopped = false;
  store_.Stop(std::chrono::steady_clock::now() + 10s, [&] { store_stopped = true; });
  EXPECT_TRUE(store_stopped);
  EXPECT_TRUE(store_.close_status().ok());
}

// Entries appended by another process (consentctl erasures mark-manual) or
// a path that does not report them are not lost to the entries gauge: each
// checkpoint attempt takes the tree size in, so the stale-checkpoint alert
// (entries > checkpointed entries) can fire.
TEST_F(ProofLogComponentTest, TheEntriesGaugeCatchesUpWithEntriesItWasNotToldOf) {
  ASSERT_TRUE(store_.Start(config_).ok());
  ProofLogComponent proof_log(io_, store_);
  metrics::Registry registry;
  proof_log.RegisterMetrics(registry);
  ASSERT_TRUE(proof_log.Start(config_).ok());
  const auto gauge = [&](const std::string& name) {
    const std::string text = registry.Render();
    const std::size_t at = text.find("\n" + name + " ");
    if (at == std::string::npos) return -1.0;
    return std::stod(text.substr(at + name.size() + 2));
  };
  ASSERT_TRUE(RunUntil([&] { return gauge("consentd_proof_log_entries") == 0.0; }));
  Append(2);  // not reported through EntriesAppended
  EXPECT_EQ(gauge("consentd_proof_log_entries"), 0.0);
  bool stopped = false;
  proof_log.Stop(std::chrono::steady_clock::now() + 10s, [&] { stopped = true; });
  ASSERT_TRUE(RunUntil([&] { return stopped; }));
  EXPECT_EQ(gauge("consentd_proof_log_entries"), 2.0);
  EXPECT_EQ(gauge("consentd_proof_log_checkpointed_entries"), 2.0);
  bool store_stopped = false;
  store_.Stop(std::chrono::steady_clock::now() + 10s, [&] { store_stopped = true; });
  EXPECT_TRUE(store_stopped);
}

TEST_F(ProofLogComponentTest, KeyWithAnotherNameIsAStartFailure) {
  ASSERT_TRUE(store_.Start(config_).ok());
  {
    ProofLogComponent first(io_, store_);
    ASSERT_TRUE(first.Start(config_).ok());
  }
  config_.proof_log.origin = "example.org/other";
  ProofLogComponent second(io_, store_);
  Status s = second.Start(config_);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find(config_.proof_log.signing_key_file), std::string::npos);
  bool store_stopped = false;
  store_.Stop(std::chrono::steady_clock::now() + 10s, [&] { store_stopped = true; });
  EXPECT_TRUE(store_stopped);
}

}  // namespace
}  // namespace consentd::daemon
