// Dead-letter replay from the admin API (store/dead_letters.h) on a real
// SQLite store: a dead row goes back to pending, due now, attempts reset;
// one whose state is no longer the canonical one (a newer row for its key,
// its person changed, erased or merged since) is never sent again.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "store/dead_letters.h"
#include "store/sqlite_transaction.h"
#include "store_test_util.h"

namespace consentd::store {
namespace {

using testing::OpenOrDie;
using testing::TempDir;

class StoreDeadLettersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(dir_.File("store.db"));
    ASSERT_NE(store_, nullptr);
  }
  static OutboxRow Row(const std::string& key, const std::string& idem, TimestampMs at,
                       bool erase = false) {
    OutboxRow r;
    r.target = "mailchimp";
    r.key = key;
    r.desired_json = erase ? R"({"erase":true})" : R"({"erase":false,"status":"granted"})";
    r.idempotency_key = idem;
    r.next_attempt_at = at;
    r.created_at = at;
    return r;
  }
  // Links `subject` to a record, as the engine does for every known person.
  static Status Known(Transaction& txn, const std::string& subject) {
    return txn.LinkSystemId({subject, "hubspot", "id-" + subject, 50, ""});
  }
  // Enqueues, claims and kills a row of a known person; returns its id.
  std::int64_t Dead(const std::string& key, const std::string& idem, bool erase = false,
                    const std::string& reason = "400 invalid") {
    std::int64_t id = 0;
    Status s = store_->Run([&](Transaction& txn) -> Status {
      CONSENTD_RETURN_IF_ERROR(Known(txn, key));
      Result<std::int64_t> r = txn.Enqueue(Row(key, idem, 100, erase));
      if (!r.ok()) return r.status();
      id = *r;
      Result<std::vector<OutboxRow>> claimed = txn.ClaimOutbox("mailchimp", 100, 10, 1000);
      if (!claimed.ok()) return claimed.status();
      return txn.MarkDead(id, reason, 200);
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return id;
  }
  // As the daemon calls it with the reference mapping: Mailchimp keeps a
  // record per address, HubSpot does not.
  Result<DeadLetterReplay> Replay(std::optional<std::int64_t> id,
                                  const AddressSharingTargets& address_sharing = {"hubspot"}) {
    Result<DeadLetterReplay> out = Internal("not run");
    Status s = store_->Run([&](Transaction& txn) -> Status {
      out = ReplayDeadLetters(txn, id, 500, address_sharing);
      return out.ok() ? Status::Ok() : out.status();
    });
    (void)s;
    return out;
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(StoreDeadLettersTest, ReplayedRowIsPendingAgainDueNowWithAttemptsReset) {
  const std::int64_t id = Dead("s-1/news/email", "a");
  Result<DeadLetterReplay> r = Replay(id);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->replayed.size(), 1u);
  EXPECT_EQ(r->replayed[0].id, id);
  Status s = store_->Run([&](Transaction& txn) -> Status {
    Result<std::optional<OutboxRow>> row = txn.GetOutbox(id);
    if (!row.ok()) return row.status();
    EXPECT_EQ((*row)->status, OutboxStatus::kPending);
    EXPECT_EQ((*row)->attempts, 0);
    EXPECT_EQ((*row)->next_attempt_at, 500);
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
}

TEST_F(StoreDeadLettersTest, SupersededDeadLetterIsRefusedAloneAndKeptWithAll) {
  const std::int64_t old_id = Dead("s-1/news/email", "a");
  Status s = store_->Run([](Transaction& txn) -> Status {
    Result<std::int64_t> r = txn.Enqueue(Row("s-1/news/email", "b", 300));
    return r.ok() ? Status::Ok() : r.status();
  });
  ASSERT_TRUE(s.ok());
  const std::int64_t other = Dead("s-2/news/email", "c");

  Result<DeadLetterReplay> one = Replay(old_id);
  ASSERT_FALSE(one.ok());
  EXPECT_EQ(one.status().code(), StatusCode::kFailedPrecondition);

  Result<DeadLetterReplay> all = Replay(std::nullopt);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->replayed.size(), 1u);
  EXPECT_EQ(all->replayed[0].id, other);
  EXPECT_EQ(all->superseded, std::vector<std::int64_t>{old_id});
}

// A write its target refused for good (blocked_by_target, as the dispatcher
// files it) would be refused again: never sent again, alone or with all.
TEST_F(StoreDeadLettersTest, AWriteTheTargetRefusedForGoodIsNotSentAgain) {
  const std::int64_t refused =
      Dead("s-1/news/email", "a", false,
           "blocked_by_target: FAILED_PRECONDITION: mailchimp: the address is cleaned");
  const std::int64_t other = Dead("s-2/news/email", "b");

  Result<DeadLetterReplay> one = Replay(refused);
  ASSERT_FALSE(one.ok());
  EXPECT_EQ(one.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(one.status().message().find("refuses it for good"), std::string::npos)
      << one.status().message();

  Result<DeadLetterReplay> all = Replay(std::nullopt);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->replayed.size(), 1u);
  EXPECT_EQ(all->replayed[0].id, other);
  EXPECT_EQ(all->refused, std::vector<std::int64_t>{refused});
  EXPECT_TRUE(all->superseded.empty());
}

// After a merge one key can write two records of the person: a newer row for
// the other address does not make a dead letter for this one obsolete.
TEST_F(StoreDeadLettersTest, ANewerRowForAnotherAddressDoesNotSupersedeADeadLetter) {
  std::int64_t dead = 0;
  Status s = store_->Run([&](Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(Known(txn, "s-4"));
    OutboxRow first = Row("s-4", "e", 100);
    first.address = "anna@example.org";
    Result<std::int64_t> r = txn.Enqueue(first);
    if (!r.ok()) return r.status();
    dead = *r;
    Result<std::vector<OutboxRow>> claimed = txn.ClaimOutbox("mailchimp", 100, 10, 1000);
    if (!claimed.ok()) return claimed.status();
    CONSENTD_RETURN_IF_ERROR(txn.MarkDead(dead, "400 invalid", 200));
    OutboxRow other = Row("s-4", "f", 300);
    other.address = "anna.b@example.org";
    Result<std::int64_t> o = txn.Enqueue(other);
    return o.ok() ? Status::Ok() : o.status();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  Result<DeadLetterReplay> r = Replay(dead);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->replayed.size(), 1u);
  EXPECT_EQ(r->replayed[0].id, dead);
}

// Newer rows may have been delivered and pruned, and a change from the
// target itself makes no row for it: once the person changed after the
// row was made, its state is not sent again.
TEST_F(StoreDeadLettersTest, ADeadLetterOfAPersonWhoChangedSinceIsNotSentAgain) {
  const std::int64_t dead = Dead("s-5", "g");
  const std::int64_t unchanged = Dead("s-6", "h");
  Status s = store_->Run([](Transaction& txn) -> Status {
    ConsentRow c;
    c.key = {"s-5", "news", "email", ""};
    c.status = "withdrawn";
    c.occurred_at = 250;
    c.updated_at = 300;  // after the dead row was made (100)
    CONSENTD_RETURN_IF_ERROR(txn.Upsert(c));
    c.key.subject_id = "s-6";
    c.updated_at = 100;  // the decision that made the row
    return txn.Upsert(c);
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  Result<DeadLetterReplay> one = Replay(dead);
  ASSERT_EQ(one.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(one.status().message().find("state changed after it was made"), std::string::npos)
      << one.status().ToString();
  Result<DeadLetterReplay> all = Replay(std::nullopt);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->replayed.size(), 1u);
  EXPECT_EQ(all->replayed[0].id, unchanged);
  EXPECT_EQ(all->superseded, std::vector<std::int64_t>{dead});
}

// A dead letter to a target where the person's record was reported
// deleted would create the record again, whenever the deletion happened
// (its time is the system's; a row made before consentd heard of it was
// decided without it). The person's other rows are not held back.
TEST_F(StoreDeadLettersTest, ADeadLetterToARecordReportedDeletedIsNotSentAgain) {
  const std::int64_t deleted = Dead("s-11", "k");
  const std::int64_t kept = Dead("s-12", "l");
  Status s = store_->Run([](Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(
        txn.RecordTargetDeletion("s-11", "mailchimp", 50, 50));    // before the row
    return txn.RecordTargetDeletion("s-12", "hubspot", 150, 150);  // another system
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  Result<DeadLetterReplay> one = Replay(deleted);
  ASSERT_EQ(one.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(one.status().message().find("at mailchimp was reported deleted"), std::string::npos)
      << one.status().ToString();
  Result<DeadLetterReplay> all = Replay(std::nullopt);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->replayed.size(), 1u);
  EXPECT_EQ(all->replayed[0].id, kept);
  EXPECT_EQ(all->superseded, std::vector<std::int64_t>{deleted});
}

// A dead letter to a member retired since (deleted there while the person
// lives on in another, or moved to another address) would create it again.
TEST_F(StoreDeadLettersTest, ADeadLetterToARetiredRecordIsNotSentAgain) {
  std::int64_t retired = 0, live = 0;
  Status s = store_->Run([&](Transaction& txn) -> Status {
    for (const auto& [subject, address] :
         {std::pair<std::string, std::string>{"s-7", "a@x.org"}, {"s-8", "b@x.org"}}) {
      CONSENTD_RETURN_IF_ERROR(
          txn.LinkSystemId({subject, "mailchimp", "m-" + subject, 50, address}));
      OutboxRow r = Row(subject, "i-" + subject, 100);
      r.address = address;
      Result<std::int64_t> id = txn.Enqueue(r);
      if (!id.ok()) return id.status();
      (subject == "s-7" ? retired : live) = *id;
    }
    Result<std::vector<OutboxRow>> claimed = txn.ClaimOutbox("mailchimp", 100, 10, 1000);
    if (!claimed.ok()) return claimed.status();
    CONSENTD_RETURN_IF_ERROR(txn.MarkDead(retired, "400 invalid", 200));
    CONSENTD_RETURN_IF_ERROR(txn.MarkDead(live, "400 invalid", 200));
    return txn.RetireSystemId("mailchimp", "m-s-7", 5);
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  Result<DeadLetterReplay> one = Replay(retired);
  ASSERT_EQ(one.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(one.status().message().find("was retired"), std::string::npos)
      << one.status().ToString();
  Result<DeadLetterReplay> all = Replay(std::nullopt);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->replayed.size(), 1u);
  EXPECT_EQ(all->replayed[0].id, live);
  EXPECT_EQ(all->superseded, std::vector<std::int64_t>{retired});
}

// Only a target that keeps a record per address creates a retired record
// again. HubSpot keeps a merged contact's address on the survivor, so a
// write there is still valid and is replayed; a target not known to share
// addresses (the CLI without --config, a name the mapping lacks) counts as
// one that keeps a record per address. A record
// reported live again at the address makes the write valid again.
TEST_F(StoreDeadLettersTest, ARetiredAddressStopsAReplayOnlyWhereTheTargetKeepsARecordPerAddress) {
  std::int64_t hubspot = 0, mailchimp = 0;
  Status s = store_->Run([&](Transaction& txn) -> Status {
    for (const std::string target : {"hubspot", "mailchimp"}) {
      CONSENTD_RETURN_IF_ERROR(txn.LinkSystemId({"s-9", target, target + "-old", 50, "a@x.org"}));
      CONSENTD_RETURN_IF_ERROR(txn.LinkSystemId({"s-9", target, target + "-new", 60, "b@x.org"}));
      OutboxRow r = Row("s-9", "i-" + target, 100);
      r.target = target;
      r.address = "a@x.org";
      Result<std::int64_t> id = txn.Enqueue(r);
      if (!id.ok()) return id.status();
      (target == "hubspot" ? hubspot : mailchimp) = *id;
      Result<std::vector<OutboxRow>> claimed = txn.ClaimOutbox(target, 100, 10, 1000);
      if (!claimed.ok()) return claimed.status();
      CONSENTD_RETURN_IF_ERROR(txn.MarkDead(*id, "400 invalid", 200));
      CONSENTD_RETURN_IF_ERROR(txn.RetireSystemId(target, target + "-old", 5));
    }
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();

  Result<DeadLetterReplay> unknown = Replay(hubspot, AddressSharingTargets{});
  ASSERT_EQ(unknown.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(unknown.status().message().find("was retired"), std::string::npos);
  ASSERT_EQ(Replay(mailchimp).status().code(), StatusCode::kFailedPrecondition);
  Result<DeadLetterReplay> valid = Replay(hubspot);
  ASSERT_TRUE(valid.ok()) << valid.status().ToString();
  ASSERT_EQ(valid->replayed.size(), 1u);
  EXPECT_EQ(valid->replayed[0].id, hubspot);

  // The member at a@x.org is reported again (a new id): live again there.
  s = store_->Run([&](Transaction& txn) -> Status {
    return txn.LinkSystemId({"s-9", "mailchimp", "mailchimp-again", 70, "a@x.org"});
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  Result<DeadLetterReplay> live_again = Replay(mailchimp);
  ASSERT_TRUE(live_again.ok()) << live_again.status().ToString();
  EXPECT_EQ(live_again->replayed.size(), 1u);
}

// An erased or merged-away person's row would write their old state again;
// their erasure's own row is still replayed (the person is gone by design).
TEST_F(StoreDeadLettersTest, AnErasedPersonsWriteIsNotSentAgainButTheirErasureIs) {
  const std::int64_t write = Dead("s-8", "i");  // its person merged into another since
  const std::int64_t erasure = Dead("s-7", "j", /*erase=*/true);
  Status s = store_->Run([&](Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(txn.EraseSubject("s-8"));
    CONSENTD_RETURN_IF_ERROR(txn.EraseSubject("s-7"));
    auto db = SqliteDbOf(txn, "test");
    if (!db.ok()) return db.status();
    return (*db)->Exec(
        "INSERT INTO erasure_requests (id, subject_id, source, requested_at, deadline) "
        "VALUES ('er-1', 's-7', 'admin', 1, 2);"
        "INSERT INTO erasure_targets (request_id, target, state, mode, retained, reason, "
        "outbox_id, updated_at) VALUES ('er-1', 'mailchimp', 'failed', 'delete', '', '', " +
        std::to_string(erasure) + ", 1)");
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  Result<DeadLetterReplay> one = Replay(write);
  ASSERT_EQ(one.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(one.status().message().find("no longer known"), std::string::npos)
      << one.status().ToString();
  Result<DeadLetterReplay> again = Replay(erasure);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->replayed.size(), 1u);
}

// A row is an erasure's by what it writes, not by an id an erasure target
// names: before ids were never reused (schema v18), a target could name an
// id another person's write had since been given, whose replay then
// skipped every staleness check and wrote an old state over a newer one.
TEST_F(StoreDeadLettersTest, AWriteWhoseIdAnErasureTargetNamesIsStillCheckedForStaleness) {
  const std::int64_t write = Dead("s-9", "k");
  Status s = store_->Run([&](Transaction& txn) -> Status {
    ConsentRow c;
    c.key = {"s-9", "news", "email", ""};
    c.status = "granted";
    c.occurred_at = 250;
    c.updated_at = 300;  // the person granted again after the row was made
    CONSENTD_RETURN_IF_ERROR(txn.Upsert(c));
    auto db = SqliteDbOf(txn, "test");
    if (!db.ok()) return db.status();
    return (*db)->Exec(
        "INSERT INTO erasure_requests (id, subject_id, source, requested_at, deadline) "
        "VALUES ('er-2', 's-10', 'admin', 1, 2);"
        "INSERT INTO erasure_targets (request_id, target, state, mode, retained, reason, "
        "outbox_id, updated_at) VALUES ('er-2', 'mailchimp', 'manual', 'delete', '', '', " +
        std::to_string(write) + ", 1)");
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  Result<DeadLetterReplay> one = Replay(write);
  ASSERT_EQ(one.status().code(), StatusCode::kFailedPrecondition) << one.status().ToString();
  EXPECT_NE(one.status().message().find("state changed after it was made"), std::string::npos)
      << one.status().ToString();
}

TEST_F(StoreDeadLettersTest, UnknownRowIsNotFoundAndALiveRowIsNotADeadLetter) {
  EXPECT_EQ(Replay(12345).status().code(), StatusCode::kNotFound);
  std::int64_t live = 0;
  Status s = store_->Run([&](Transaction& txn) -> Status {
    Result<std::int64_t> r = txn.Enqueue(Row("s-3/news/email", "d", 100));
    if (!r.ok()) return r.status();
    live = *r;
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Replay(live).status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace consentd::store
