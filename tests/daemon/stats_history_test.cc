// Consent counts over time (daemon/stats_history_routes.h) on a real
// SQLite store: a snapshot is taken when none is 15 minutes old, holds the
// topics of GET /api/v1/stats, and the history JSON lists them in order.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "daemon/stats_history_routes.h"
#include "store/sqlite_store.h"

namespace consentd::daemon {
namespace {

constexpr TimestampMs kMinute = 60 * 1000;

class StatsHistory : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "consentd-stats-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    store::SqliteStoreOptions options;
    options.path = (dir_ / "store.db").string();
    auto s = store::SqliteStore::Open(std::move(options));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    mapping::TopicSpec topic;
    topic.name = "newsletter";
    topic.title = "Newsletter";
    topic.channels = {"email"};
    mapping_.topics.push_back(topic);
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  bool Snapshot(TimestampMs now) {
    bool took = false;
    Status s = store_->Run([&](store::Transaction& txn) -> Status {
      auto r = SnapshotConsentStatsIfDue(txn, mapping_, now);
      if (!r.ok()) return r.status();
      took = *r;
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return took;
  }
  nlohmann::json History(TimestampMs since = 0, int limit = 100) {
    std::string json;
    Status s = store_->Run([&](store::Transaction& txn) -> Status {
      auto r = StatsHistoryJson(txn, since, limit);
      if (!r.ok()) return r.status();
      json = *r;
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return nlohmann::json::parse(json);
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::SqliteStore> store_;
  mapping::MappingSpec mapping_;
};

TEST_F(StatsHistory, SnapshotIsTakenOnlyWhenTheNewestIsFifteenMinutesOld) {
  const TimestampMs t0 = 1'800'000'000'000;
  EXPECT_TRUE(Snapshot(t0));  // none yet
  EXPECT_FALSE(Snapshot(t0 + 14 * kMinute));
  EXPECT_TRUE(Snapshot(t0 + 15 * kMinute));
  const auto h = History();
  ASSERT_EQ(h.at("points").size(), 2u);
  EXPECT_EQ(h["points"][0]["at_ms"], t0);
  EXPECT_EQ(h["points"][1]["at_ms"], t0 + 15 * kMinute);
}

TEST_F(StatsHistory, PointsCarryTheTopicsOfTheStatsEndpointIncludingNeverAsked) {
  ASSERT_TRUE(Snapshot(1'800'000'000'000));
  const auto topics = History().at("points").at(0).at("topics");
  ASSERT_EQ(topics.size(), 1u);
  EXPECT_EQ(topics[0]["topic"], "newsletter");
  EXPECT_EQ(topics[0]["channel"], "email");
  EXPECT_EQ(topics[0]["counts"]["not_asked"], 0);
  EXPECT_EQ(topics[0]["counts"]["granted"], 0);
}

TEST_F(StatsHistory, SinceAndLimitSelectTheNewestPointsOldestFirst) {
  const TimestampMs t0 = 1'800'000'000'000;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Snapshot(t0 + i * 15 * kMinute));
  auto h = History(t0 + 15 * kMinute);
  ASSERT_EQ(h["points"].size(), 3u);
  EXPECT_EQ(h["points"][0]["at_ms"], t0 + 15 * kMinute);
  h = History(0, 1);
  ASSERT_EQ(h["points"].size(), 1u);
  EXPECT_EQ(h["points"][0]["at_ms"], t0 + 45 * kMinute);
}

}  // namespace
}  // namespace consentd::daemon
