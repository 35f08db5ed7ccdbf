// Consent counts per topic and channel (store/consent_counts.h,
// sync/consent_stats.h) over a real SQLite store: every known subject is
// counted once per (topic, channel), blocks win over statuses, erased
// subjects are gone, and "never asked" is everyone else.
#include "sync/consent_stats.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../mapping/mapping_test_util.h"
#include "../store/store_test_util.h"
#include "store/consent_counts.h"

namespace consentd::sync {
namespace {

using store::testing::OpenOrDie;
using store::testing::TempDir;

class ConsentStatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(dir_.File("s.db"));
    ASSERT_NE(store_, nullptr);
  }
  void Run(const std::function<Status(store::Transaction&)>& work) {
    Status s = store_->Run(work);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  // A known subject: linked to one system.
  static Status Subject(store::Transaction& txn, const std::string& id) {
    return txn.LinkSystemId({id, "hubspot", "c-" + id, 1, ""});
  }
  static Status Consent(store::Transaction& txn, const std::string& id, const std::string& topic,
                        const std::string& channel, const std::string& status) {
    store::ConsentRow row;
    row.key = {id, topic, channel, ""};
    row.status = status;
    row.occurred_at = 1;
    row.updated_at = 1;
    return txn.Upsert(row);
  }
  static Status Block(store::Transaction& txn, const std::string& id, const std::string& scope,
                      bool active = true) {
    store::BlockRow row;
    row.subject_id = id;
    row.scope = scope;
    row.active = active;
    row.occurred_at = 1;
    row.updated_at = 1;
    return txn.UpsertBlock(row);
  }
  std::map<std::string, std::int64_t> Count(const std::string& topic, const std::string& channel) {
    std::map<std::string, std::int64_t> out;
    Run([&](store::Transaction& txn) -> Status {
      auto r = store::CountConsents(txn, topic, channel);
      if (!r.ok()) return r.status();
      out = *r;
      return Status::Ok();
    });
    return out;
  }

  TempDir dir_;
  std::unique_ptr<store::SqliteStore> store_;
};

using Counts = std::map<std::string, std::int64_t>;

TEST_F(ConsentStatsTest, EachKnownSubjectIsCountedOnceAndTheRestAreNeverAsked) {
  Run([](store::Transaction& txn) -> Status {
    for (const char* id : {"s1", "s2", "s3", "s4", "s5"}) {
      CONSENTD_RETURN_IF_ERROR(Subject(txn, id));
    }
    CONSENTD_RETURN_IF_ERROR(Consent(txn, "s1", "newsletter", "email", "granted"));
    CONSENTD_RETURN_IF_ERROR(Consent(txn, "s2", "newsletter", "email", "withdrawn"));
    CONSENTD_RETURN_IF_ERROR(Consent(txn, "s3", "newsletter", "email", "pending"));
    // Another topic or channel does not count here.
    CONSENTD_RETURN_IF_ERROR(Consent(txn, "s4", "events", "email", "granted"));
    return Consent(txn, "s4", "newsletter", "sms", "granted");
  });
  EXPECT_EQ(Count("newsletter", "email"),
            (Counts{{"granted", 1}, {"withdrawn", 1}, {"pending", 1}, {"not_asked", 2}}));
  EXPECT_EQ(Count("newsletter", "sms"), (Counts{{"granted", 1}, {"not_asked", 4}}));
}

TEST_F(ConsentStatsTest, AnActiveBlockCoveringTheChannelOrTopicWinsOverTheStatus) {
  Run([](store::Transaction& txn) -> Status {
    for (const char* id : {"all", "chan", "other", "topic", "lifted", "addr"}) {
      CONSENTD_RETURN_IF_ERROR(Subject(txn, id));
      CONSENTD_RETURN_IF_ERROR(Consent(txn, id, "newsletter", "email", "granted"));
    }
    CONSENTD_RETURN_IF_ERROR(Block(txn, "all", "all"));
    CONSENTD_RETURN_IF_ERROR(Block(txn, "chan", "channel:email"));
    CONSENTD_RETURN_IF_ERROR(Block(txn, "other", "channel:sms"));  // not this channel
    CONSENTD_RETURN_IF_ERROR(Block(txn, "topic", "topic:newsletter"));
    CONSENTD_RETURN_IF_ERROR(Block(txn, "lifted", "all", /*active=*/false));
    return Block(txn, "addr", "address:a@example.com");
  });
  EXPECT_EQ(Count("newsletter", "email"), (Counts{{"blocked", 4}, {"granted", 2}}));
  // On sms nobody was asked; the sms and all blocks still count as blocked.
  EXPECT_EQ(Count("newsletter", "sms"), (Counts{{"blocked", 3}, {"not_asked", 3}}));
}

TEST_F(ConsentStatsTest, ErasedSubjectsAreNotCounted) {
  Run([](store::Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(Subject(txn, "kept"));
    CONSENTD_RETURN_IF_ERROR(Subject(txn, "gone"));
    CONSENTD_RETURN_IF_ERROR(Consent(txn, "gone", "newsletter", "email", "granted"));
    return txn.MarkSubjectErased("gone", 5);
  });
  EXPECT_EQ(Count("newsletter", "email"), (Counts{{"not_asked", 1}}));
}

// The count reads subjects, consents and blocks side by side in subject
// order: rows of subjects that are not known (no link, or erased) sit between
// known ones and must be skipped without shifting anyone's rows.
TEST_F(ConsentStatsTest, RowsOfUnknownSubjectsBetweenKnownOnesAreSkipped) {
  Run([](store::Transaction& txn) -> Status {
    for (const char* id : {"s2", "s4", "s6"}) CONSENTD_RETURN_IF_ERROR(Subject(txn, id));
    // s1, s3, s5, s7: state without a link (a merge's leftovers), around each known one.
    for (const char* id : {"s1", "s3", "s5", "s7"}) {
      CONSENTD_RETURN_IF_ERROR(Consent(txn, id, "newsletter", "email", "refused"));
      CONSENTD_RETURN_IF_ERROR(Block(txn, id, "all"));
    }
    CONSENTD_RETURN_IF_ERROR(Consent(txn, "s2", "newsletter", "email", "granted"));
    CONSENTD_RETURN_IF_ERROR(Consent(txn, "s4", "events", "email", "withdrawn"));
    CONSENTD_RETURN_IF_ERROR(Block(txn, "s4", "topic:events"));
    CONSENTD_RETURN_IF_ERROR(Consent(txn, "s6", "newsletter", "email", "pending"));
    CONSENTD_RETURN_IF_ERROR(Consent(txn, "s6", "events", "email", "granted"));
    return Status::Ok();
  });
  EXPECT_EQ(Count("newsletter", "email"),
            (Counts{{"granted", 1}, {"pending", 1}, {"not_asked", 1}}));
  EXPECT_EQ(Count("events", "email"), (Counts{{"blocked", 1}, {"granted", 1}, {"not_asked", 1}}));
  // All keys in one pass give what each key alone gives.
  std::map<store::ConsentCountKey, Counts> together;
  Run([&](store::Transaction& txn) -> Status {
    auto r = store::CountConsents(
        txn, {{"newsletter", "email"}, {"events", "email"}, {"newsletter", "sms"}});
    if (!r.ok()) return r.status();
    together = *r;
    return Status::Ok();
  });
  ASSERT_EQ(together.size(), 3u);
  for (const auto& [key, counts] : together) {
    EXPECT_EQ(counts, Count(key.topic, key.channel)) << key.topic << "/" << key.channel;
  }
  EXPECT_EQ((together[{"newsletter", "sms"}]), (Counts{{"not_asked", 3}}));
}

TEST_F(ConsentStatsTest, EveryMappedTopicAndChannelHasEveryStandardBucket) {
  const mapping::MappingSpec spec = mapping::testing::LoadExample();
  Run([](store::Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(Subject(txn, "s1"));
    return Consent(txn, "s1", "newsletter", "email", "granted");
  });
  ConsentStats stats;
  Run([&](store::Transaction& txn) -> Status {
    auto r = ComputeConsentStats(txn, spec, 1234);
    if (!r.ok()) return r.status();
    stats = *r;
    return Status::Ok();
  });
  std::size_t expected_rows = 0;
  for (const auto& t : spec.topics) expected_rows += t.channels.size();
  ASSERT_EQ(stats.rows.size(), expected_rows);
  for (const auto& row : stats.rows) {
    for (const std::string& b : StandardBuckets()) EXPECT_EQ(row.buckets.count(b), 1u) << b;
    EXPECT_EQ(row.total(), 1);
  }
  EXPECT_EQ(stats.rows[0].topic, spec.topics[0].name);
  const auto j = nlohmann::json::parse(ConsentStatsJson(stats));
  EXPECT_EQ(j.at("computed_at_ms"), 1234);
  EXPECT_EQ(j.at("topics").size(), expected_rows);
  const std::string table = FormatConsentStats(stats);
  EXPECT_NE(table.find("newsletter/email"), std::string::npos) << table;
  EXPECT_NE(table.find("not_asked"), std::string::npos) << table;
}

}  // namespace
}  // namespace consentd::sync
