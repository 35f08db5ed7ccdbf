// consentctl dlq list / replay, run as the real binary against a real
// SQLite store in a temporary directory (opened with --db and --config).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include "core/redact.h"
#include "store/sqlite_db.h"
#include "store/sqlite_migrations.h"
#include "store/sqlite_store.h"
#include "tests/store/store_test_util.h"

namespace consentd::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Outcome {
  int exit_code = -1;
  std::string out;  // stdout
};

Outcome Consentctl(const std::string& args) {
  const std::string cmd = std::string(CONSENTD_BINARY_DIR) + "/cli/consentctl " + args;
  Outcome o;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return o;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) o.out.append(buf.data(), n);
  const int status = ::pclose(p);
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

// 2026-01-02T03:04:05Z
constexpr TimestampMs kDeadAt = 1767323045000;

class CliDlqTest : public ::testing::Test {
 protected:
  CliDlqTest() : db_path_(dir_.File("consentd.db")) {}

  // Enqueues rows for `keys` (subjects, each linked to a record) on
  // `target`; the ones in `dead` are made dead letters after 3 attempts.
  // Returns the ids in order.
  std::vector<std::int64_t> Fill(
      const std::string& target, const std::vector<std::string>& keys,
      const std::vector<bool>& dead,
      const std::string& reason = "HubSpot answered 400\tVALIDATION_ERROR\n(x)") {
    std::vector<std::int64_t> ids;
    auto db = store::testing::OpenOrDie(db_path_);
    Status s = db->Run([&](store::Transaction& txn) -> Status {
      for (std::size_t i = 0; i < keys.size(); ++i) {
        store::OutboxRow row;
        row.target = target;
        row.key = keys[i];
        row.desired_json = R"({"status":"granted"})";
        row.idempotency_key = target + "/" + keys[i] + "#" + std::to_string(++writes_);
        row.created_at = 1000;
        // A known person (replay sends only a living person's state).
        CONSENTD_RETURN_IF_ERROR(txn.LinkSystemId({keys[i], "crm", "id-" + keys[i], 900, ""}));
        Result<std::int64_t> id = txn.Enqueue(row);
        if (!id.ok()) return id.status();
        ids.push_back(*id);
        if (!dead[i]) continue;
        for (int attempt = 0; attempt < 3; ++attempt) {
          auto claimed = txn.ClaimOutbox(target, 2000, 100, 60000);
          if (!claimed.ok()) return claimed.status();
          if (attempt < 2) {
            if (Status r = txn.MarkRetry(*id, 0, "HTTP 503", 2000); !r.ok()) return r;
          }
        }
        if (Status r = txn.MarkDead(*id, reason, kDeadAt); !r.ok()) {
          return r;
        }
      }
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(db->Close().ok());
    return ids;
  }

  store::OutboxStatus StatusOf(std::int64_t id) {
    auto db = store::testing::OpenOrDie(db_path_);
    store::OutboxRow row;
    Status s = db->Run([&](store::Transaction& txn) -> Status {
      auto r = txn.GetOutbox(id);
      if (!r.ok()) return r.status();
      if (r->has_value()) row = **r;
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(db->Close().ok());
    return row.status;
  }

  store::testing::TempDir dir_;
  std::string db_path_;
  int writes_ = 0;  // makes idempotency keys unique
};

TEST_F(CliDlqTest, ListPrintsOneTabSeparatedLinePerDeadLetterOnly) {
  const auto ids =
      Fill("hubspot", {"s1/newsletter/email", "s2/newsletter/email", "s3/events/email"},
           {true, false, true});
  Outcome o = Consentctl("dlq list --db " + db_path_);
  EXPECT_EQ(o.exit_code, 0) << o.out;
  const std::string reason = "HubSpot answered 400 VALIDATION_ERROR (x)";  // one line
  EXPECT_EQ(o.out, std::to_string(ids[0]) + "\thubspot\t3\t2026-01-02T03:04:05Z\t" +
                       "s1/newsletter/email\t" + reason + "\n" + std::to_string(ids[2]) +
                       "\thubspot\t3\t2026-01-02T03:04:05Z\ts3/events/email\t" + reason + "\n");
}

// As the admin API's dead letters: a vendor's reason may quote an address,
// and what an operator pastes into a ticket must not carry it.
TEST_F(CliDlqTest, ListMasksAddressesInTheReason) {
  const auto ids = Fill("mailchimp", {"s1/newsletter/email"}, {true},
                        "400 Invalid Resource: anna.berg@example.org looks fake");
  Outcome o = Consentctl("dlq list --db " + db_path_);
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(o.out.find("anna.berg@example.org"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find(MaskEmailsInText("anna.berg@example.org")), std::string::npos) << o.out;
  EXPECT_NE(o.out.find(std::to_string(ids[0]) + "\tmailchimp\t"), std::string::npos) << o.out;
}

TEST_F(CliDlqTest, ListStopsAtTheLimit) {
  const auto ids = Fill("mailchimp", {"a/t/email", "b/t/email", "c/t/email"}, {true, true, true});
  Outcome o = Consentctl("dlq list --limit 2 --db " + db_path_);
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_THAT(o.out, HasSubstr(std::to_string(ids[1]) + "\tmailchimp"));
  EXPECT_THAT(o.out, Not(HasSubstr("c/t/email")));
}

TEST_F(CliDlqTest, ReplayOneIdMakesItPendingAgain) {
  const auto ids = Fill("hubspot", {"s1/n/email", "s2/n/email"}, {true, true});
  Outcome o = Consentctl("dlq replay " + std::to_string(ids[1]) + " --db " + db_path_);
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(o.out, "replayed 1 dead letter\n");
  EXPECT_EQ(StatusOf(ids[0]), store::OutboxStatus::kDead);
  EXPECT_EQ(StatusOf(ids[1]), store::OutboxStatus::kPending);
  EXPECT_EQ(Consentctl("dlq list --db " + db_path_).out.find(std::to_string(ids[1]) + "\t"),
            std::string::npos);
}

TEST_F(CliDlqTest, ReplayAllEmptiesTheDeadLetterQueue) {
  const auto ids = Fill("hubspot", {"s1/n/email", "s2/n/email", "s3/n/email"}, {true, false, true});
  Outcome o = Consentctl("dlq replay --all --db " + db_path_);
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(o.out, "replayed 2 dead letters\n");
  EXPECT_EQ(Consentctl("dlq list --db " + db_path_).out, "");
  EXPECT_EQ(StatusOf(ids[0]), store::OutboxStatus::kPending);
}

TEST_F(CliDlqTest, ReplayOfARowThatIsNotDeadFailsAndChangesNothing) {
  const auto ids = Fill("hubspot", {"s1/n/email"}, {false});
  Outcome o = Consentctl("dlq replay " + std::to_string(ids[0]) + " --db " + db_path_ + " 2>&1");
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_THAT(o.out, HasSubstr("is not a dead letter (it is pending)"));
  EXPECT_EQ(Consentctl("dlq replay 999 --db " + db_path_ + " 2>&1").exit_code, 1);
}

// Only consentd migrates a store: a replay against one an older consentd
// may still run on (after an upgrade, before the restart) refuses and
// leaves its schema alone.
TEST_F(CliDlqTest, ReplayDoesNotMigrateAnOlderStore) {
  const std::string old_db = dir_.File("old.db");
  {
    auto db = store::Db::Open(old_db, nullptr);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE(store::MigrateTo(**db, store::LatestSchemaVersion() - 1, 1).ok());
  }
  Outcome o = Consentctl("dlq replay --all --db " + old_db + " 2>&1");
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_THAT(o.out, HasSubstr("start the new consentd once"));
  auto db = store::Db::Open(old_db, nullptr);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(*store::SchemaVersion(**db), store::LatestSchemaVersion() - 1);
}

TEST_F(CliDlqTest, DeadLetterSupersededByANewerWriteOfItsKeyIsNotReplayed) {
  // s1: dead, then a newer write for the same key (pending); s2: dead twice.
  const auto first = Fill("hubspot", {"s1/n/email", "s2/n/email"}, {true, true});
  const auto later = Fill("hubspot", {"s1/n/email", "s2/n/email"}, {false, true});
  Outcome one =
      Consentctl("dlq replay " + std::to_string(first[0]) + " --db " + db_path_ + " 2>&1");
  EXPECT_EQ(one.exit_code, 1) << one.out;
  EXPECT_THAT(one.out, HasSubstr("is superseded by outbox row " + std::to_string(later[0])));
  EXPECT_EQ(StatusOf(first[0]), store::OutboxStatus::kDead);

  Outcome all = Consentctl("dlq replay --all --db " + db_path_);
  EXPECT_EQ(all.exit_code, 0) << all.out;
  EXPECT_EQ(all.out,
            "replayed 1 dead letter; kept 2 that would write an older state (`consentctl resync` "
            "sends the current one)\n");
  EXPECT_EQ(StatusOf(first[0]), store::OutboxStatus::kDead);
  EXPECT_EQ(StatusOf(first[1]), store::OutboxStatus::kDead);
  EXPECT_EQ(StatusOf(later[1]), store::OutboxStatus::kPending);
}

TEST_F(CliDlqTest, ReplayNeedsExactlyOneOfIdAndAll) {
  Fill("hubspot", {"s1/n/email"}, {true});
  EXPECT_EQ(Consentctl("dlq replay --db " + db_path_ + " 2>/dev/null").exit_code, 2);
  EXPECT_EQ(Consentctl("dlq replay 1 --all --db " + db_path_ + " 2>/dev/null").exit_code, 2);
}

TEST_F(CliDlqTest, ConfigGivesTheDatabaseAndAMissingOneIsAnError) {
  const auto ids = Fill("hubspot", {"s1/n/email"}, {true});
  const std::string config = dir_.File("c.yaml");
  std::ofstream(config) << "store:\n  path: consentd.db\n";
  Outcome o = Consentctl("dlq list --config " + config);
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_THAT(o.out, HasSubstr(std::to_string(ids[0]) + "\thubspot\t3\t"));
  Outcome missing = Consentctl("dlq list --db " + dir_.File("absent.db") + " 2>&1");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.out, HasSubstr("consentctl dlq list: "));
}

}  // namespace
}  // namespace consentd::cli
