// One Ingest call over many records (a poll page) must decide, store and
// enqueue exactly what one call per record does: the engine keeps per-call
// caches (state of subjects it decided, echo memory, tombstones, subjects it
// minted) instead of reading its own writes back (sync/sync_engine.cc).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "sync_test_util.h"

namespace consentd::sync {
namespace {

using testing::Block;
using testing::Consent;
using testing::Erasure;
using testing::Record;
using testing::T;
constexpr ConsentStatus kGranted = ConsentStatus::kGranted;
constexpr ConsentStatus kWithdrawn = ConsentStatus::kWithdrawn;

// What one store ends up with, without subject ids (minted at random, so
// they differ between two stores).
struct Played {
  std::vector<std::string> decisions;  // "what: outcome (reason)", in order
  std::vector<std::string> pending;    // pending outbox rows, sorted
  std::uint64_t proof = 0;
  bool operator==(const Played&) const = default;
};

class IngestBatchTest : public testing::SyncEngineTest {
 protected:
  // A second store and engine in the same temp directory.
  void SetUp() override {
    SyncEngineTest::SetUp();
    other_store_ = store::testing::OpenOrDie(dir_.File("other.db"));
    ASSERT_NE(other_store_, nullptr);
    other_engine_ = std::make_unique<SyncEngine>(EngineSettings{spec_, testing::kKey});
  }

  static std::string Without(std::string text, const std::string& subject) {
    if (subject.empty()) return text;
    for (std::size_t at = text.find(subject); at != std::string::npos;
         at = text.find(subject, at)) {
      text.replace(at, subject.size(), "<subject>");
    }
    return text;
  }

  // Runs each group of records as one Ingest call of `source` on `store`.
  static Played Play(
      store::SqliteStore& store, SyncEngine& engine,
      const std::vector<std::pair<std::string, std::vector<connectors::InboundRecord>>>& calls,
      TimestampMs now) {
    Played out;
    for (const auto& [source, records] : calls) {
      Status s = store.Run([&](store::Transaction& txn) -> Status {
        Result<IngestSummary> r = engine.Ingest(txn, source, records, now);
        if (!r.ok()) return r.status();
        for (const DecisionNote& n : r->notes) {
          out.decisions.push_back(n.source + " " + n.what + ": " +
                                  std::string(OutcomeName(n.outcome)) + " (" +
                                  Without(n.reason, n.subject) + ")");
        }
        return Status::Ok();
      });
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    Status s = store.Run([&](store::Transaction& txn) -> Status {
      auto rows = txn.ListOutbox(store::OutboxStatus::kPending, 0, 1000);
      if (!rows.ok()) return rows.status();
      for (const store::OutboxRow& row : *rows) {
        out.pending.push_back(row.target + " " + Without(row.desired_json, row.key));
      }
      Result<std::uint64_t> n = store::ProofTreeSize(txn);
      if (!n.ok()) return n.status();
      out.proof = *n;
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    std::sort(out.pending.begin(), out.pending.end());
    return out;
  }

  std::unique_ptr<store::SqliteStore> other_store_;
  std::unique_ptr<SyncEngine> other_engine_;
};

TEST_F(IngestBatchTest, OneCallForAPageDecidesAndEnqueuesLikeOneCallPerRecord) {
  const TimestampMs now = T + 100'000;
  // A subject from an earlier page, merged in this one.
  const std::vector<connectors::InboundRecord> earlier = {
      Record("hs-0", "104", "dora@example.org", {Consent("newsletter", kGranted, T + 500)})};
  connectors::InboundRecord merge =
      Record("hs-8", "105", "dora.b@example.org", {Consent("newsletter", kWithdrawn, T + 1000)});
  merge.merged_ids = {"104"};
  // hubspot records of one page, then the journey's report of what consentd
  // wrote there (an echo) and of a change of its own.
  const std::vector<connectors::InboundRecord> hubspot = {
      // One subject decided twice: its row must carry the final state.
      Record("hs-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T)}),
      Record("hs-2", "101", "anna@example.org", {Consent("newsletter", kWithdrawn, T + 60'000)}),
      // ... and a late, older report about it (superseded, rule 2).
      Record("hs-2b", "101", "anna@example.org", {Consent("newsletter", kGranted, T + 30'000)}),
      Record("hs-3", "102", "bob@example.org",
             {Consent("newsletter", kGranted, T), Block(BlockScope::All(), true, T + 1000)}),
      // Erased in the page, then a new sign-up with the same address.
      Record("hs-4", "103", "carl@example.org", {Consent("newsletter", kGranted, T)}),
      Record("hs-5", "103", "carl@example.org", {Erasure(T + 5000)}),
      Record("hs-5b", "103", "carl@example.org", {Consent("newsletter", kGranted, T + 4000)}),
      Record("hs-6", "106", "carl@example.org", {Consent("newsletter", kGranted, T + 10'000)}),
      // The merged subject, decided again after the merge.
      merge,
      Record("hs-9", "105", "dora.b@example.org", {Block(BlockScope::All(), true, T + 2000)}),
  };
  const std::vector<connectors::InboundRecord> mailchimp = {
      // The echo of the withdrawal written to the journey (rule 5)...
      Record("mc-1", "mc-anna", "anna@example.org",
             {Consent("newsletter", kWithdrawn, now + 1000, "mailchimp")}),
      // ...and the journey's own changes: a withdrawal (which forgets the
      // write it contradicts), then a grant that is no echo any more.
      Record("mc-2", "mc-bob", "bob@example.org",
             {Consent("newsletter", kWithdrawn, now + 2000, "mailchimp")}),
      Record("mc-4", "mc-bob", "bob@example.org",
             {Consent("newsletter", kGranted, now + 3000, "mailchimp")}),
      // An erased person's stale report is dropped.
      Record("mc-3", "mc-carl", "carl@example.org",
             {Consent("newsletter", kGranted, T + 4000, "mailchimp")}),
  };

  std::vector<std::pair<std::string, std::vector<connectors::InboundRecord>>> batched = {
      {"hubspot", earlier}, {"hubspot", hubspot}, {"mailchimp", mailchimp}};
  std::vector<std::pair<std::string, std::vector<connectors::InboundRecord>>> one_by_one = {
      {"hubspot", earlier}};
  for (const auto& rec : hubspot) one_by_one.push_back({"hubspot", {rec}});
  for (const auto& rec : mailchimp) one_by_one.push_back({"mailchimp", {rec}});

  const Played a = Play(*store_, *engine_, batched, now);
  const Played b = Play(*other_store_, *other_engine_, one_by_one, now);
  EXPECT_EQ(a.decisions, b.decisions);
  EXPECT_EQ(a.pending, b.pending);
  EXPECT_EQ(a.proof, b.proof);

  // The scenario does exercise what the caches stand in for.
  auto has = [&](const std::string& fragment) {
    return std::any_of(a.decisions.begin(), a.decisions.end(),
                       [&](const std::string& d) { return d.find(fragment) != std::string::npos; });
  };
  EXPECT_TRUE(has("mailchimp consent newsletter/email: echo"))
      << ::testing::PrintToString(a.decisions);
  EXPECT_TRUE(has("dropped_erased")) << ::testing::PrintToString(a.decisions);
  EXPECT_TRUE(has("erasure: applied")) << ::testing::PrintToString(a.decisions);
  EXPECT_TRUE(has("superseded")) << ::testing::PrintToString(a.decisions);
  EXPECT_TRUE(has("block set all: applied")) << ::testing::PrintToString(a.decisions);
  ASSERT_FALSE(a.pending.empty());
}

TEST_F(IngestBatchTest, ARowOfASubjectDecidedTwiceInOneCallCarriesItsFinalState) {
  IngestSummary s = Ingest(
      "hubspot",
      {Record("hs-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T)}),
       Record("hs-2", "101", "anna@example.org", {Consent("newsletter", kWithdrawn, T + 60'000)})},
      T + 100'000);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 2);
  const auto rows = Outbox("mailchimp");
  ASSERT_EQ(rows.size(), 1u);
  const connectors::DesiredState d = Desired(rows[0]);
  ASSERT_EQ(d.state.consents.size(), 1u);
  EXPECT_EQ(d.state.consents.begin()->second.status, kWithdrawn);
  EXPECT_EQ(d.email, "anna@example.org");
  EXPECT_EQ(Consents(SubjectOf("hubspot", "101"))[0].status, "withdrawn");
}

// A merge of two subjects that were both created in the same page: every
// outbox row still names a person (an address to write to), and the
// merged-away subject's row carries the merged state, as when the two were
// created on earlier pages. (Before the fix, the merged-away subject got a
// row with no address and an empty state.)
TEST_F(IngestBatchTest, AMergeOfTwoSubjectsCreatedInTheSamePageEnqueuesAddressableRows) {
  connectors::InboundRecord merge =
      Record("hs-8", "105", "dora.b@example.org", {Consent("newsletter", kWithdrawn, T + 1000)});
  merge.merged_ids = {"104"};
  Ingest("hubspot",
         {Record("hs-0", "104", "dora@example.org", {Consent("newsletter", kGranted, T + 500)}),
          merge},
         T + 100'000);
  const auto rows = Outbox("mailchimp");
  ASSERT_EQ(rows.size(), 1u);  // the merged-away subject has no row of its own
  const connectors::DesiredState d = Desired(rows[0]);
  EXPECT_FALSE(d.email.empty()) << rows[0].desired_json;
  EXPECT_EQ(rows[0].key, SubjectOf("hubspot", "105"));
  ASSERT_EQ(d.state.consents.size(), 1u) << rows[0].desired_json;
  EXPECT_EQ(d.state.consents.begin()->second.status, kWithdrawn);  // the later capture wins
}

}  // namespace
}  // namespace consentd::sync
