// The Transaction contract on the SQLite backend: inbox dedupe, atomic units
// of work, outbox lifecycle, cursors, identities, echo memory, tombstones.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "core/keyed_hash.h"
#include "store/subject_records.h"
#include "store_test_util.h"

namespace consentd::store {
namespace {

using testing::Event;
using testing::OpenOrDie;
using testing::TempDir;

// Returns the value of a Result inside a unit of work, or returns its error.
#define ASSIGN_OR_RETURN_STATUS(lhs, expr)              \
  auto lhs##_result = (expr);                           \
  if (!lhs##_result.ok()) return lhs##_result.status(); \
  auto lhs = std::move(*lhs##_result)

class StoreTransactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(dir_.File("store.db"));
    ASSERT_NE(store_, nullptr);
  }
  void Reopen() {
    ASSERT_TRUE(store_->Close().ok());
    store_ = OpenOrDie(dir_.File("store.db"));
    ASSERT_NE(store_, nullptr);
  }
  Status Run(Work w) { return store_->Run(std::move(w)); }

  static ConsentRow Consent(std::string subject, std::string status, TimestampMs at) {
    ConsentRow r;
    r.key = {std::move(subject), "newsletter", "email", ""};
    r.status = std::move(status);
    r.occurred_at = at;
    r.updated_at = at + 1;
    r.state_json = R"({"v":1})";
    return r;
  }
  static OutboxRow Work(std::string target, std::string key, std::string idem, TimestampMs at) {
    OutboxRow r;
    r.target = std::move(target);
    r.key = std::move(key);
    r.desired_json = R"({"status":"granted"})";
    r.idempotency_key = std::move(idem);
    r.next_attempt_at = at;
    r.created_at = at;
    return r;
  }

  // The status of outbox row `id`; none if it cannot be read or is gone.
  static std::optional<OutboxStatus> StatusOf(Transaction& txn, std::int64_t id) {
    Result<std::optional<OutboxRow>> r = txn.GetOutbox(id);
    if (!r.ok() || !r->has_value()) return std::nullopt;
    return (*r)->status;
  }
  // `r` writing the target's record at `address` (OutboxRow::address).
  static OutboxRow At(OutboxRow r, std::string address) {
    r.address = std::move(address);
    return r;
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(StoreTransactionTest, InboxRecognisesARepeatedEventIdPerSource) {
  std::vector<bool> fresh;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                for (const InboxRow& e : {Event("hubspot", "1"), Event("hubspot", "1"),
                                          Event("mailchimp", "1"), Event("hubspot", "2")}) {
                  ASSIGN_OR_RETURN_STATUS(f, txn.InsertInbox(e));
                  fresh.push_back(f);
                }
                return Status::Ok();
              }).ok());
  EXPECT_EQ(fresh, (std::vector<bool>{true, false, true, true}));
}

TEST_F(StoreTransactionTest, InboxDedupeSurvivesReopenUntilPrunedPastTheHorizon) {
  ASSERT_TRUE(Run([](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(a, txn.InsertInbox(Event("hubspot", "old", 100)));
                ASSIGN_OR_RETURN_STATUS(b, txn.InsertInbox(Event("hubspot", "new", 900)));
                CONSENTD_RETURN_IF_ERROR(txn.MarkInboxProcessed("hubspot", "old", 950));
                CONSENTD_RETURN_IF_ERROR(txn.MarkInboxProcessed("hubspot", "new", 950));
                return (a && b) ? Status::Ok() : Internal("not fresh");
              }).ok());
  Reopen();
  std::int64_t pruned = -1;
  bool old_fresh = false, new_fresh = true;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(n, txn.PruneInbox(500));
                pruned = n;
                ASSIGN_OR_RETURN_STATUS(a, txn.InsertInbox(Event("hubspot", "old", 1000)));
                ASSIGN_OR_RETURN_STATUS(b, txn.InsertInbox(Event("hubspot", "new", 1000)));
                old_fresh = a;
                new_fresh = b;
                return Status::Ok();
              }).ok());
  EXPECT_EQ(pruned, 1);
  EXPECT_TRUE(old_fresh);   // beyond the horizon: forgotten
  EXPECT_FALSE(new_fresh);  // within it: still a duplicate
}

TEST_F(StoreTransactionTest, PruningKeepsHintsNotYetProcessedWhateverTheirAge) {
  ASSERT_TRUE(Run([](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(a, txn.InsertInbox(Event("hubspot", "waiting", 100)));
                return a ? Status::Ok() : Internal("not fresh");
              }).ok());
  std::int64_t pruned = -1;
  std::size_t pending = 0;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(n, txn.PruneInbox(500));
                pruned = n;
                ASSIGN_OR_RETURN_STATUS(rows, txn.ListUnprocessedInbox("hubspot", 10));
                pending = rows.size();
                return Status::Ok();
              }).ok());
  EXPECT_EQ(pruned, 0);
  EXPECT_EQ(pending, 1u);  // the hint survives until it is processed
}

TEST_F(StoreTransactionTest, FailedUnitOfWorkLeavesNoTrace) {
  Status s = Run([&](Transaction& txn) -> Status {
    ASSIGN_OR_RETURN_STATUS(f, txn.InsertInbox(Event("hubspot", "e1")));
    (void)f;
    CONSENTD_RETURN_IF_ERROR(txn.Upsert(Consent("s1", "granted", 10)));
    ASSIGN_OR_RETURN_STATUS(id, txn.Enqueue(Work("mailchimp", "s1/n", "i1", 10)));
    (void)id;
    CONSENTD_RETURN_IF_ERROR(txn.AdvanceCursor("hubspot-poll", "c2", 10));
    return InvalidArgument("reconcile rejected the change");
  });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(fresh, txn.InsertInbox(Event("hubspot", "e1")));
                EXPECT_TRUE(fresh);
                ASSIGN_OR_RETURN_STATUS(c, txn.GetConsent({"s1", "newsletter", "email", ""}));
                EXPECT_FALSE(c.has_value());
                ASSIGN_OR_RETURN_STATUS(n, txn.CountOutbox(OutboxStatus::kPending));
                EXPECT_EQ(n, 0);
                ASSIGN_OR_RETURN_STATUS(cur, txn.GetCursor("hubspot-poll"));
                EXPECT_FALSE(cur.has_value());
                return Status::Ok();
              }).ok());
}

TEST_F(StoreTransactionTest, CursorAdvancesOnlyWithTheDataItCovers) {
  // Page 1 commits with its cursor; page 2 fails and its cursor stays put.
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(f, txn.InsertInbox(Event("hubspot-poll", "p1")));
                (void)f;
                CONSENTD_RETURN_IF_ERROR(txn.Upsert(Consent("s1", "granted", 10)));
                return txn.AdvanceCursor("hubspot-poll", "after-p1", 10);
              }).ok());
  EXPECT_FALSE(Run([&](Transaction& txn) -> Status {
                 ASSIGN_OR_RETURN_STATUS(f, txn.InsertInbox(Event("hubspot-poll", "p2")));
                 (void)f;
                 CONSENTD_RETURN_IF_ERROR(txn.Upsert(Consent("s1", "withdrawn", 20)));
                 CONSENTD_RETURN_IF_ERROR(txn.AdvanceCursor("hubspot-poll", "after-p2", 20));
                 return Unavailable("mapping lookup failed");
               }).ok());
  Reopen();
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(cur, txn.GetCursor("hubspot-poll"));
                EXPECT_EQ(cur, std::optional<std::string>("after-p1"));
                ASSIGN_OR_RETURN_STATUS(c, txn.GetConsent({"s1", "newsletter", "email", ""}));
                EXPECT_TRUE(c.has_value() && c->status == "granted");
                return Status::Ok();
              }).ok());
}

TEST_F(StoreTransactionTest, ConsentUpsertReplacesTheStateOfItsKey) {
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                CONSENTD_RETURN_IF_ERROR(txn.Upsert(Consent("s1", "granted", 10)));
                CONSENTD_RETURN_IF_ERROR(txn.Upsert(Consent("s1", "withdrawn", 20)));
                ConsentRow other = Consent("s1", "granted", 15);
                other.key.channel = "sms";
                return txn.Upsert(other);
              }).ok());
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(all, txn.ListConsents("s1"));
                EXPECT_EQ(all.size(), 2u);
                ASSIGN_OR_RETURN_STATUS(c, txn.GetConsent({"s1", "newsletter", "email", ""}));
                EXPECT_TRUE(c.has_value());
                if (c) {
                  EXPECT_EQ(c->status, "withdrawn");
                  EXPECT_EQ(c->occurred_at, 20);
                  EXPECT_EQ(c->state_json, R"({"v":1})");
                }
                return Status::Ok();
              }).ok());
}

TEST_F(StoreTransactionTest, ScanPagesThroughAllStateInKeyOrder) {
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                for (const char* subject : {"s3", "s1", "s2"}) {
                  for (const char* channel : {"sms", "email"}) {
                    ConsentRow r = Consent(subject, "granted", 10);
                    r.key.channel = channel;
                    CONSENTD_RETURN_IF_ERROR(txn.Upsert(r));
                  }
                }
                return Status::Ok();
              }).ok());
  std::vector<std::string> seen;
  ConsentKey after;
  for (int pages = 0; pages < 10; ++pages) {
    std::vector<ConsentRow> page;
    ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                  ASSIGN_OR_RETURN_STATUS(p, txn.ScanConsents(after, 4));
                  page = std::move(p);
                  return Status::Ok();
                }).ok());
    if (page.empty()) break;
    for (const ConsentRow& r : page) seen.push_back(r.key.subject_id + "/" + r.key.channel);
    after = page.back().key;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"s1/email", "s1/sms", "s2/email", "s2/sms", "s3/email",
                                            "s3/sms"}));
}

TEST_F(StoreTransactionTest, LiftedBlockKeepsItsRow) {
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                BlockRow b{"s1", "all", true, "werbesperre", "hubspot", 10, 11, "{}"};
                CONSENTD_RETURN_IF_ERROR(txn.UpsertBlock(b));
                b.active = false;
                b.occurred_at = 20;
                return txn.UpsertBlock(b);
              }).ok());
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(blocks, txn.ListBlocks("s1"));
                EXPECT_EQ(blocks.size(), 1u);
                if (!blocks.empty()) {
                  EXPECT_FALSE(blocks[0].active);
                  EXPECT_EQ(blocks[0].occurred_at, 20);
                }
                return Status::Ok();
              }).ok());
}

TEST_F(StoreTransactionTest, IdentitiesLinkSystemIdsAndEmailHashToOneSubject) {
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                CONSENTD_RETURN_IF_ERROR(txn.LinkSystemId({"s1", "hubspot", "101", 1, ""}));
                CONSENTD_RETURN_IF_ERROR(txn.LinkSystemId({"s2", "mailchimp", "abc", 1, ""}));
                CONSENTD_RETURN_IF_ERROR(txn.LinkEmailHash("s2", "h-mail", 1));
                // CRM merge: s2's ids now belong to s1.
                return txn.MoveIdentities("s2", "s1");
              }).ok());
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(a, txn.FindSubjectBySystemId("mailchimp", "abc"));
                EXPECT_EQ(a, std::optional<std::string>("s1"));
                ASSIGN_OR_RETURN_STATUS(b, txn.FindSubjectByEmailHash("h-mail"));
                EXPECT_EQ(b, std::optional<std::string>("s1"));
                ASSIGN_OR_RETURN_STATUS(ids, txn.ListSystemIds("s1"));
                EXPECT_EQ(ids.size(), 2u);
                ASSIGN_OR_RETURN_STATUS(none, txn.FindSubjectBySystemId("hubspot", "999"));
                EXPECT_FALSE(none.has_value());
                return Status::Ok();
              }).ok());
}

// A link keeps the address of its record: a later link without one keeps
// it, a new one replaces it, and a record merged away has none any more.
TEST_F(StoreTransactionTest, ALinkKeepsItsRecordsAddressUntilTheRecordIsRetired) {
  auto address_of = [&](Transaction& txn, const std::string& system_id) -> Result<std::string> {
    ASSIGN_OR_RETURN_STATUS(ids, txn.ListSystemIds("s1"));
    for (const IdentityLink& l : ids) {
      if (l.system == "mailchimp" && l.system_id == system_id) return l.address;
    }
    return NotFound("no link " + system_id);
  };
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                CONSENTD_RETURN_IF_ERROR(
                    txn.LinkSystemId({"s1", "mailchimp", "m-a", 1, "a@example.org"}));
                CONSENTD_RETURN_IF_ERROR(
                    txn.LinkSystemId({"s1", "mailchimp", "m-b", 1, "b@example.org"}));
                CONSENTD_RETURN_IF_ERROR(txn.LinkSystemId({"s1", "mailchimp", "m-a", 2, ""}));
                ASSIGN_OR_RETURN_STATUS(kept, address_of(txn, "m-a"));
                EXPECT_EQ(kept, "a@example.org") << "a link without an address keeps the known one";
                CONSENTD_RETURN_IF_ERROR(
                    txn.LinkSystemId({"s1", "mailchimp", "m-a", 3, "a2@example.org"}));
                ASSIGN_OR_RETURN_STATUS(replaced, address_of(txn, "m-a"));
                EXPECT_EQ(replaced, "a2@example.org");
                CONSENTD_RETURN_IF_ERROR(txn.RetireSystemId("mailchimp", "m-b", 5));
                ASSIGN_OR_RETURN_STATUS(retired, address_of(txn, "m-b"));
                EXPECT_EQ(retired, "");
                ASSIGN_OR_RETURN_STATUS(still, txn.FindSubjectBySystemId("mailchimp", "m-b"));
                EXPECT_EQ(still, std::optional<std::string>("s1")) << "a retired id still resolves";
                ASSIGN_OR_RETURN_STATUS(other, address_of(txn, "m-a"));
                EXPECT_EQ(other, "a2@example.org");
                return Status::Ok();
              }).ok());
}

// A retired record remembers the address it had, so nothing is written
// there again, until a report of the record with its address revives it.
TEST_F(StoreTransactionTest, ARetiredLinkKeepsItsAddressAsRetiredUntilTheRecordIsSeenAgain) {
  auto link_of = [&](Transaction& txn, const std::string& system_id) -> Result<IdentityLink> {
    ASSIGN_OR_RETURN_STATUS(ids, txn.ListSystemIds("s1"));
    for (const IdentityLink& l : ids) {
      if (l.system_id == system_id) return l;
    }
    return NotFound("no link " + system_id);
  };
  ASSERT_TRUE(
      Run([&](Transaction& txn) -> Status {
        CONSENTD_RETURN_IF_ERROR(txn.LinkSystemId({"s1", "mailchimp", "m-b", 1, "b@example.org"}));
        ASSIGN_OR_RETURN_STATUS(live, link_of(txn, "m-b"));
        EXPECT_EQ(live.retired_at, 0);
        CONSENTD_RETURN_IF_ERROR(txn.RetireSystemId("mailchimp", "m-b", 5));
        CONSENTD_RETURN_IF_ERROR(txn.RetireSystemId("mailchimp", "m-b", 6));
        CONSENTD_RETURN_IF_ERROR(txn.RetireSystemId("mailchimp", "m-b", 4));
        ASSIGN_OR_RETURN_STATUS(retired, link_of(txn, "m-b"));
        EXPECT_EQ(retired.address, "");
        EXPECT_EQ(retired.retired_address, "b@example.org") << "kept by a second retire";
        EXPECT_EQ(retired.retired_at, 6)
            << "known gone at 6: a later, earlier-dated retire keeps it";
        CONSENTD_RETURN_IF_ERROR(txn.LinkSystemId({"s1", "mailchimp", "m-b", 2, ""}));
        ASSIGN_OR_RETURN_STATUS(still, link_of(txn, "m-b"));
        EXPECT_EQ(still.retired_address, "b@example.org") << "no address: still retired";
        EXPECT_EQ(still.retired_at, 6);
        CONSENTD_RETURN_IF_ERROR(txn.LinkSystemId({"s1", "mailchimp", "m-b", 3, "b@example.org"}));
        ASSIGN_OR_RETURN_STATUS(revived, link_of(txn, "m-b"));
        EXPECT_EQ(revived.address, "b@example.org");
        EXPECT_EQ(revived.retired_address, "");
        EXPECT_EQ(revived.retired_at, 0) << "a live record has no retirement time";
        return Status::Ok();
      }).ok());
}

// A record retired while its link knew no address (a CRM link from before
// schema v13) has no retired address, only its retirement time: the answer
// to a write sent before (keep_retired) leaves it retired all the same.
TEST_F(StoreTransactionTest, AnAnswerLeavesARecordRetiredWithoutAKnownAddressRetired) {
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                CONSENTD_RETURN_IF_ERROR(txn.LinkSystemId({"s1", "hubspot", "101", 1, ""}));
                CONSENTD_RETURN_IF_ERROR(txn.RetireSystemId("hubspot", "101", 5));
                IdentityLink answer{"s1", "hubspot", "101", 7, "a@example.org"};
                answer.keep_retired = true;
                CONSENTD_RETURN_IF_ERROR(txn.LinkSystemId(answer));
                ASSIGN_OR_RETURN_STATUS(ids, txn.ListSystemIds("s1"));
                EXPECT_EQ(ids.size(), 1u);
                for (const IdentityLink& l : ids) {
                  EXPECT_EQ(l.address, "") << "made live by an answer";
                  EXPECT_EQ(l.retired_at, 5);
                }
                return Status::Ok();
              }).ok());
}

TEST_F(StoreTransactionTest, ErasureRemovesTheSubjectAndLeavesATombstone) {
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                CONSENTD_RETURN_IF_ERROR(txn.Upsert(Consent("s1", "granted", 10)));
                CONSENTD_RETURN_IF_ERROR(txn.LinkSystemId({"s1", "hubspot", "101", 1, ""}));
                CONSENTD_RETURN_IF_ERROR(txn.LinkEmailHash("s1", "h1", 1));
                CONSENTD_RETURN_IF_ERROR(txn.UpsertBlock({"s1", "all", true, "", "", 1, 1, "{}"}));
                CONSENTD_RETURN_IF_ERROR(txn.EraseSubject("s1"));
                return txn.AddTombstone({"h1", 50});
              }).ok());
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(c, txn.ListConsents("s1"));
                EXPECT_TRUE(c.empty());
                ASSIGN_OR_RETURN_STATUS(b, txn.ListBlocks("s1"));
                EXPECT_TRUE(b.empty());
                ASSIGN_OR_RETURN_STATUS(i, txn.FindSubjectBySystemId("hubspot", "101"));
                EXPECT_FALSE(i.has_value());
                ASSIGN_OR_RETURN_STATUS(h, txn.FindSubjectByEmailHash("h1"));
                EXPECT_FALSE(h.has_value());
                ASSIGN_OR_RETURN_STATUS(t, txn.FindTombstone("h1"));
                EXPECT_TRUE(t.has_value() && t->erased_at == 50);
                ASSIGN_OR_RETURN_STATUS(u, txn.FindTombstone("h2"));
                EXPECT_FALSE(u.has_value());
                return Status::Ok();
              }).ok());
}

// What sync/recent_versions.h relies on: the generation stays while nothing can
// have added a tombstone, and moves on when this store adds one or another
// connection (consentctl) commits anything.
TEST_F(StoreTransactionTest, TheTombstoneGenerationMovesOnWithEveryPossibleErasure) {
  // Without the checkpoint thread: the WAL's truncation after an erasure
  // (sqlite_store.cc) would otherwise move the generation on once more, at
  // a moment of its own (harmless, but not what is counted here).
  ASSERT_TRUE(store_->Close().ok());
  SqliteStoreOptions options;
  options.path = dir_.File("store.db");
  options.background_checkpoints = false;
  store_ = OpenOrDie(std::move(options));
  ASSERT_NE(store_, nullptr);
  auto generation = [&] {
    std::int64_t g = -1;
    EXPECT_TRUE(Run([&](Transaction& txn) {
                  g = txn.TombstoneGeneration();
                  return Status::Ok();
                }).ok());
    return g;
  };
  const std::int64_t start = generation();
  ASSERT_TRUE(Run([&](Transaction& txn) { return txn.Upsert(Consent("s1", "granted", 10)); }).ok());
  EXPECT_EQ(generation(), start) << "no tombstone, no other connection";

  std::int64_t inside = -1;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                CONSENTD_RETURN_IF_ERROR(txn.AddTombstone({"h1", 50}));
                inside = txn.TombstoneGeneration();
                return Status::Ok();
              }).ok());
  EXPECT_NE(inside, start) << "the unit that adds a tombstone sees it at once";
  const std::int64_t after_tombstone = generation();
  EXPECT_EQ(after_tombstone, inside);

  // A unit that adds a tombstone and rolls back still counts (harmless).
  EXPECT_FALSE(Run([&](Transaction& txn) -> Status {
                 CONSENTD_RETURN_IF_ERROR(txn.AddTombstone({"h2", 60}));
                 return Unavailable("rolled back");
               }).ok());
  const std::int64_t after_rollback = generation();
  EXPECT_NE(after_rollback, after_tombstone);

  // Another connection's commit may have added tombstones.
  std::unique_ptr<SqliteStore> other = OpenOrDie(dir_.File("store.db"));
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(
      other->Run([&](Transaction& txn) { return txn.Upsert(Consent("s2", "granted", 20)); }).ok());
  const std::int64_t after_other = generation();
  EXPECT_NE(after_other, after_rollback);
  EXPECT_EQ(generation(), after_other);
  // A store opened in the same process never repeats a value.
  std::int64_t others = -1;
  ASSERT_TRUE(other
                  ->Run([&](Transaction& txn) {
                    others = txn.TombstoneGeneration();
                    return Status::Ok();
                  })
                  .ok());
  for (std::int64_t seen : {start, inside, after_rollback, after_other}) EXPECT_NE(others, seen);
  ASSERT_TRUE(other->Close().ok());
}

TEST_F(StoreTransactionTest, EchoMemoryRemembersEachWrittenValue) {
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                CONSENTD_RETURN_IF_ERROR(txn.RememberWrite({"mailchimp", "k", "subscribed", 10}));
                CONSENTD_RETURN_IF_ERROR(txn.RememberWrite({"mailchimp", "k", "unsubscribed", 20}));
                ASSIGN_OR_RETURN_STATUS(a, txn.FindWrite("mailchimp", "k", "subscribed"));
                EXPECT_EQ(a, std::optional<TimestampMs>(10));
                ASSIGN_OR_RETURN_STATUS(b, txn.FindWrite("hubspot", "k", "subscribed"));
                EXPECT_FALSE(b.has_value());
                ASSIGN_OR_RETURN_STATUS(n, txn.PruneWrites(15));
                EXPECT_EQ(n, 1);
                ASSIGN_OR_RETURN_STATUS(c, txn.FindWrite("mailchimp", "k", "unsubscribed"));
                EXPECT_EQ(c, std::optional<TimestampMs>(20));
                return Status::Ok();
              }).ok());
}

TEST_F(StoreTransactionTest, EnqueueIsIdempotentByKey) {
  std::int64_t a = 0, b = 0, other = 0;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(x, txn.Enqueue(Work("mc", "k1", "idem-1", 10)));
                // Another row in between: the repeat must answer with its own
                // row's id, not with the id inserted last.
                ASSIGN_OR_RETURN_STATUS(z, txn.Enqueue(Work("mc", "k2", "idem-2", 10)));
                ASSIGN_OR_RETURN_STATUS(y, txn.Enqueue(Work("mc", "k1", "idem-1", 11)));
                a = x;
                b = y;
                other = z;
                return Status::Ok();
              }).ok());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, other);
}

// A repeat is folded into a row still queued, in flight or dead, but a
// state that was delivered is queued again (the target has changed since),
// under a new key derived from the delivered row's, so that a target which
// honours idempotency keys writes it again.
TEST_F(StoreTransactionTest, AStateDeliveredBeforeIsQueuedAgainUnderADerivedKey) {
  std::int64_t first = 0;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                bool added = false;
                ASSIGN_OR_RETURN_STATUS(x, txn.Enqueue(Work("mc", "k1", "idem-1", 10), added));
                EXPECT_TRUE(added);
                ASSIGN_OR_RETURN_STATUS(y, txn.Enqueue(Work("mc", "k1", "idem-1", 11), added));
                EXPECT_FALSE(added) << "still pending";
                EXPECT_EQ(x, y);
                ASSIGN_OR_RETURN_STATUS(claimed, txn.ClaimOutbox("mc", 20, 10, 1000));
                EXPECT_EQ(claimed.size(), 1u);
                ASSIGN_OR_RETURN_STATUS(z, txn.Enqueue(Work("mc", "k1", "idem-1", 21), added));
                EXPECT_FALSE(added) << "in flight";
                EXPECT_EQ(x, z);
                CONSENTD_RETURN_IF_ERROR(txn.MarkDone(x, 30));
                first = x;
                return Status::Ok();
              }).ok());
  std::int64_t again = 0;
  std::string again_key;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                bool added = false;
                ASSIGN_OR_RETURN_STATUS(x, txn.Enqueue(Work("mc", "k1", "idem-1", 40), added));
                EXPECT_TRUE(added) << "delivered before: a new write";
                again = x;
                ASSIGN_OR_RETURN_STATUS(pending, txn.ListOutbox(OutboxStatus::kPending, 0, 10));
                EXPECT_EQ(pending.size(), 1u);
                if (!pending.empty()) again_key = pending[0].idempotency_key;
                // The repeat of the repeat is folded into it while it is queued.
                ASSIGN_OR_RETURN_STATUS(y, txn.Enqueue(Work("mc", "k1", "idem-1", 41), added));
                EXPECT_FALSE(added);
                EXPECT_EQ(x, y);
                return Status::Ok();
              }).ok());
  EXPECT_NE(again, first);
  EXPECT_EQ(again_key, Sha256Hex("idem-1\nafter #" + std::to_string(first)));

  // Delivered again, then a third repeat: a third row with its own key; once
  // that one is dead, a fourth repeat is not queued (the operator replays).
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(claimed, txn.ClaimOutbox("mc", 50, 10, 1000));
                EXPECT_EQ(claimed.size(), 1u);
                CONSENTD_RETURN_IF_ERROR(txn.MarkDone(again, 60));
                bool added = false;
                ASSIGN_OR_RETURN_STATUS(third, txn.Enqueue(Work("mc", "k1", "idem-1", 70), added));
                EXPECT_TRUE(added);
                EXPECT_NE(third, again);
                ASSIGN_OR_RETURN_STATUS(claimed2, txn.ClaimOutbox("mc", 80, 10, 1000));
                EXPECT_EQ(claimed2.size(), 1u);
                CONSENTD_RETURN_IF_ERROR(txn.MarkDead(third, "refused", 90));
                ASSIGN_OR_RETURN_STATUS(fourth,
                                        txn.Enqueue(Work("mc", "k1", "idem-1", 100), added));
                EXPECT_FALSE(added);
                EXPECT_EQ(fourth, third);
                return Status::Ok();
              }).ok());
}

// A row whose lease ran out while this process still delivers it is not
// claimed again when the caller names it in `skip`: no second copy, and no
// attempt counted that was never made. Other due rows are claimed as usual.
TEST_F(StoreTransactionTest, ClaimSkipsRowsTheCallerIsStillDelivering) {
  std::int64_t slow = 0, other = 0;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(a, txn.Enqueue(Work("mc", "k1", "i1", 100)));
                ASSIGN_OR_RETURN_STATUS(b, txn.Enqueue(Work("mc", "k2", "i2", 100)));
                slow = a;
                other = b;
                ASSIGN_OR_RETURN_STATUS(claimed, txn.ClaimOutbox("mc", 100, 1, 200));
                EXPECT_EQ(claimed.size(), 1u);
                EXPECT_EQ(claimed.empty() ? 0 : claimed[0].id, slow);
                return Status::Ok();
              }).ok());
  // At 300 the lease (200) has run out; the call for `slow` is still under way.
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(claimed, txn.ClaimOutbox("mc", 300, 10, 400, {slow}));
                EXPECT_EQ(claimed.size(), 1u);
                EXPECT_EQ(claimed.empty() ? 0 : claimed[0].id, other);
                ASSIGN_OR_RETURN_STATUS(row, txn.GetOutbox(slow));
                EXPECT_TRUE(row.has_value());
                if (row) {
                  EXPECT_EQ(row->attempts, 1) << "no attempt counted for the skipped row";
                }
                return Status::Ok();
              }).ok());
  // Without the skip (a restarted process delivers nothing) it is claimed again.
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(claimed, txn.ClaimOutbox("mc", 500, 10, 600));
                EXPECT_EQ(claimed.size(), 2u);
                for (const OutboxRow& r : claimed) {
                  if (r.id == slow) {
                    EXPECT_EQ(r.attempts, 2);
                  }
                }
                return Status::Ok();
              }).ok());
}

// A newer row for a key replaces the older pending one only where both write
// the same address: a row for another of the key's records is still sent,
// and in order (one row of a key at a time).
TEST_F(StoreTransactionTest, ANewerRowSupersedesOnlyRowsForTheSameAddress) {
  std::int64_t first = 0, other = 0, newer = 0;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(a, txn.Enqueue(At(Work("mc", "k1", "i1", 100), "a@x")));
                ASSIGN_OR_RETURN_STATUS(b, txn.Enqueue(At(Work("mc", "k1", "i2", 100), "b@x")));
                ASSIGN_OR_RETURN_STATUS(c, txn.Enqueue(At(Work("mc", "k1", "i3", 100), "b@x")));
                first = a;
                other = b;
                newer = c;
                return Status::Ok();
              }).ok());
  std::vector<std::int64_t> sent;
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                  ASSIGN_OR_RETURN_STATUS(rows, txn.ClaimOutbox("mc", 100, 10, 200));
                  for (const OutboxRow& r : rows) {
                    sent.push_back(r.id);
                    CONSENTD_RETURN_IF_ERROR(txn.MarkDone(r.id, 100));
                  }
                  return Status::Ok();
                }).ok());
  }
  EXPECT_EQ(sent, (std::vector<std::int64_t>{first, newer}))
      << "#" << other << " is superseded by #" << newer << " (same address), #" << first
      << " is not";
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(r, txn.GetOutbox(first));
                EXPECT_EQ(r.has_value() ? r->address : "", "a@x");
                return Status::Ok();
              }).ok());
}

// An empty address is the whole key: such a row (an erasure) replaces the
// queued rows for every address, and a row for an address replaces it.
TEST_F(StoreTransactionTest, ARowForTheWholeKeySupersedesRowsForEveryAddress) {
  std::int64_t whole = 0;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(a, txn.Enqueue(At(Work("mc", "k1", "i1", 100), "a@x")));
                ASSIGN_OR_RETURN_STATUS(b, txn.Enqueue(At(Work("mc", "k1", "i2", 100), "b@x")));
                ASSIGN_OR_RETURN_STATUS(w, txn.Enqueue(At(Work("mc", "k1", "i3", 100), "")));
                whole = w;
                for (std::int64_t id : {a, b}) {
                  EXPECT_EQ(StatusOf(txn, id), OutboxStatus::kDone)
                      << "#" << id << " is superseded by the row for the whole key";
                }
                ASSIGN_OR_RETURN_STATUS(c, txn.Enqueue(At(Work("mc", "k1", "i4", 100), "c@x")));
                (void)c;
                EXPECT_EQ(StatusOf(txn, whole), OutboxStatus::kDone);
                return Status::Ok();
              }).ok());
}

// A failed row is not retried where a newer row for its address waits; it is
// retried where the waiting row writes another address.
TEST_F(StoreTransactionTest, AFailedRowGivesWayOnlyToANewerRowForTheSameAddress) {
  std::int64_t failed = 0;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(a, txn.Enqueue(At(Work("mc", "k1", "i1", 100), "a@x")));
                failed = a;
                ASSIGN_OR_RETURN_STATUS(claimed, txn.ClaimOutbox("mc", 100, 10, 200));
                EXPECT_EQ(claimed.size(), 1u);
                ASSIGN_OR_RETURN_STATUS(b, txn.Enqueue(At(Work("mc", "k1", "i2", 110), "b@x")));
                (void)b;
                CONSENTD_RETURN_IF_ERROR(txn.MarkRetry(failed, 300, "HTTP 503", 120));
                EXPECT_EQ(StatusOf(txn, failed), OutboxStatus::kPending)
                    << "the row for a@x is retried";
                ASSIGN_OR_RETURN_STATUS(again, txn.ClaimOutbox("mc", 300, 10, 400));
                EXPECT_EQ(again.size(), 1u);
                ASSIGN_OR_RETURN_STATUS(c, txn.Enqueue(At(Work("mc", "k1", "i3", 310), "a@x")));
                (void)c;
                CONSENTD_RETURN_IF_ERROR(txn.MarkRetry(failed, 500, "HTTP 503", 320));
                EXPECT_EQ(StatusOf(txn, failed), OutboxStatus::kDone)
                    << "a newer row for a@x replaces it";
                return Status::Ok();
              }).ok());
}

TEST_F(StoreTransactionTest, OutboxClaimRetryDoneAndDead) {
  std::int64_t id = 0;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(x, txn.Enqueue(Work("mc", "k1", "i1", 100)));
                id = x;
                ASSIGN_OR_RETURN_STATUS(other, txn.Enqueue(Work("hubspot", "k1", "i2", 100)));
                (void)other;
                return Status::Ok();
              }).ok());
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(early, txn.ClaimOutbox("mc", 99, 10, 200));
                EXPECT_TRUE(early.empty()) << "not due yet";
                ASSIGN_OR_RETURN_STATUS(rows, txn.ClaimOutbox("mc", 100, 10, 200));
                EXPECT_EQ(rows.size(), 1u);  // only this target's row
                if (rows.empty()) return Internal("nothing claimed");
                EXPECT_EQ(rows[0].id, id);
                EXPECT_EQ(rows[0].status, OutboxStatus::kInflight);
                EXPECT_EQ(rows[0].attempts, 1);
                ASSIGN_OR_RETURN_STATUS(again, txn.ClaimOutbox("mc", 150, 10, 250));
                EXPECT_TRUE(again.empty()) << "leased rows are not claimed twice";
                return txn.MarkRetry(id, 300, "HTTP 503", 150);
              }).ok());
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(early, txn.ClaimOutbox("mc", 299, 10, 400));
                EXPECT_TRUE(early.empty()) << "retry waits for its backoff";
                ASSIGN_OR_RETURN_STATUS(rows, txn.ClaimOutbox("mc", 300, 10, 400));
                EXPECT_EQ(rows.size(), 1u);
                if (!rows.empty()) {
                  EXPECT_EQ(rows[0].attempts, 2);
                  EXPECT_EQ(rows[0].reason, "HTTP 503");
                }
                return txn.MarkDead(id, "HTTP 400: invalid email", 310);
              }).ok());
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(dead, txn.ListOutbox(OutboxStatus::kDead, 0, 10));
                EXPECT_EQ(dead.size(), 1u);
                if (!dead.empty()) {
                  EXPECT_EQ(dead[0].reason, "HTTP 400: invalid email");
                }
                ASSIGN_OR_RETURN_STATUS(none, txn.ClaimOutbox("mc", 10'000, 10, 20'000));
                EXPECT_TRUE(none.empty()) << "dead rows stay dead";
                CONSENTD_RETURN_IF_ERROR(txn.Replay(id, 500));
                ASSIGN_OR_RETURN_STATUS(rows, txn.ClaimOutbox("mc", 500, 10, 600));
                EXPECT_EQ(rows.size(), 1u);
                if (!rows.empty()) {
                  EXPECT_EQ(rows[0].attempts, 1);
                }
                CONSENTD_RETURN_IF_ERROR(txn.MarkDone(id, 510));
                EXPECT_EQ(txn.MarkDone(id, 520).code(), StatusCode::kFailedPrecondition);
                ASSIGN_OR_RETURN_STATUS(n, txn.CountOutbox(OutboxStatus::kDone));
                EXPECT_EQ(n, 1);
                return Status::Ok();
              }).ok());
}

TEST_F(StoreTransactionTest, ExpiredLeaseMakesAnInflightRowClaimableAgain) {
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(x, txn.Enqueue(Work("mc", "k1", "i1", 0)));
                (void)x;
                ASSIGN_OR_RETURN_STATUS(rows, txn.ClaimOutbox("mc", 0, 10, 100));
                EXPECT_EQ(rows.size(), 1u);
                return Status::Ok();
              }).ok());
  Reopen();  // the dispatcher crashed while the row was inflight
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(rows, txn.ClaimOutbox("mc", 100, 10, 200));
                EXPECT_EQ(rows.size(), 1u);
                if (!rows.empty()) {
                  EXPECT_EQ(rows[0].attempts, 2);
                }
                return Status::Ok();
              }).ok());
}

// A write in flight when its person was erased is kept until answered
// (the answer is then dropped). After a crash its lease runs out and it
// would be claimed and sent again, address and state, to a system the
// person was erased from; it is dropped instead. The person's erasure row
// is claimed as usual.
TEST_F(StoreTransactionTest, AnErasedPersonsWriteWhoseLeaseRanOutIsDroppedNotSentAgain) {
  std::int64_t write = 0;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(x, txn.Enqueue(Work("mc", "k1", "i1", 0)));
                write = x;
                ASSIGN_OR_RETURN_STATUS(rows, txn.ClaimOutbox("mc", 0, 10, 100));
                EXPECT_EQ(rows.size(), 1u);
                CONSENTD_RETURN_IF_ERROR(txn.MarkSubjectErased("k1", 50));
                OutboxRow erase = Work("mc", "k1", "i2", 50);
                erase.desired_json = R"({"erase":true})";
                ASSIGN_OR_RETURN_STATUS(y, txn.Enqueue(erase));
                (void)y;
                return Status::Ok();
              }).ok());
  // Still being delivered by this process (its lease ran out during a long
  // wait): kept, and the erasure row waits behind it.
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(rows, txn.ClaimOutbox("mc", 100, 10, 200, {write}));
                EXPECT_TRUE(rows.empty());
                EXPECT_TRUE(StatusOf(txn, write).has_value()) << "a write still on its way";
                return Status::Ok();
              }).ok());
  Reopen();  // the dispatcher crashed while the write was inflight
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(rows, txn.ClaimOutbox("mc", 100, 10, 200));
                EXPECT_EQ(rows.size(), 1u);
                if (!rows.empty()) {
                  EXPECT_EQ(rows[0].idempotency_key, "i2") << "the erasure row, not the write";
                }
                EXPECT_FALSE(StatusOf(txn, write).has_value()) << "the write is gone";
                return Status::Ok();
              }).ok());
}

TEST_F(StoreTransactionTest, NewerStateSupersedesAPendingRowOfTheSameKey) {
  std::int64_t first = 0, second = 0;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(a, txn.Enqueue(Work("mc", "k1", "i1", 0)));
                ASSIGN_OR_RETURN_STATUS(b, txn.Enqueue(Work("mc", "k1", "i2", 1)));
                first = a;
                second = b;
                ASSIGN_OR_RETURN_STATUS(rows, txn.ClaimOutbox("mc", 10, 10, 100));
                EXPECT_EQ(rows.size(), 1u);
                if (!rows.empty()) {
                  EXPECT_EQ(rows[0].id, second);
                }
                ASSIGN_OR_RETURN_STATUS(old, txn.GetOutbox(first));
                EXPECT_TRUE(old && old->status == OutboxStatus::kDone &&
                            old->reason.find("superseded") != std::string::npos);
                return Status::Ok();
              }).ok());
}

TEST_F(StoreTransactionTest, KeyWithARowInFlightIsNotClaimedTwiceAtOnce) {
  std::int64_t first = 0, second = 0;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(a, txn.Enqueue(Work("mc", "k1", "i1", 0)));
                first = a;
                ASSIGN_OR_RETURN_STATUS(rows, txn.ClaimOutbox("mc", 0, 10, 100));
                EXPECT_EQ(rows.size(), 1u);
                ASSIGN_OR_RETURN_STATUS(b, txn.Enqueue(Work("mc", "k1", "i2", 1)));
                second = b;
                ASSIGN_OR_RETURN_STATUS(blocked, txn.ClaimOutbox("mc", 10, 10, 100));
                EXPECT_TRUE(blocked.empty()) << "k1 is being written";
                // The older write fails: the newer state replaces its retry.
                CONSENTD_RETURN_IF_ERROR(txn.MarkRetry(first, 20, "HTTP 503", 10));
                ASSIGN_OR_RETURN_STATUS(rows2, txn.ClaimOutbox("mc", 30, 10, 100));
                EXPECT_EQ(rows2.size(), 1u);
                if (!rows2.empty()) {
                  EXPECT_EQ(rows2[0].id, second);
                }
                return Status::Ok();
              }).ok());
}

// What a record was last seen showing off (docs/model.md, "The same 'off'
// again"): kept per system and record (the address, without case), whoever
// reported it, and holding only while no write there may have landed since
// the read that showed it began.
TEST_F(StoreTransactionTest, ShownOffHoldsUntilAWriteToTheRecordMayHaveLanded) {
  const auto find = [&](std::string_view address) {
    std::optional<ShownOffRow> out;
    EXPECT_TRUE(Run([&](Transaction& txn) -> Status {
                  ASSIGN_OR_RETURN_STATUS(r,
                                          txn.FindStandingShownOff("mc", address, "news|email|"));
                  out = std::move(r);
                  return Status::Ok();
                }).ok());
    return out;
  };
  const auto remember = [&](std::string subject, std::string address, TimestampMs seen_at,
                            TimestampMs read_at) {
    ASSERT_TRUE(
        Run([&](Transaction& txn) {
          return txn.RememberShownOff({subject, "mc", address, "news|email|", seen_at, read_at});
        }).ok());
  };
  const auto landed = [&](std::string subject, std::string address, TimestampMs at) {
    ASSERT_TRUE(
        Run([&](Transaction& txn) { return txn.NoteMayShowOn(subject, "mc", address, at); }).ok());
  };
  remember("s1", "Anna@example.org", 100, 0);
  EXPECT_FALSE(find("anna@example.org").has_value()) << "a read of unknown start keeps nothing";
  remember("s1", "Anna@example.org", 100, 150);
  remember("s1", "anna@example.org", 200, 250);
  ASSERT_TRUE(find("anna@example.org").has_value());
  EXPECT_EQ(find("ANNA@example.org")->seen_at, 100) << "one record whatever the case";
  EXPECT_EQ(find("anna@example.org")->read_at, 150) << "the first 'off' seen is kept";

  // Another person's write to the same record (a shared address) may have
  // ticked the box: nothing holds any more. A read begun before it (a late
  // poll page) shows the member as it was before and keeps nothing; one
  // begun after it starts anew.
  landed("s2", "ANNA@example.org", 300);
  EXPECT_FALSE(find("anna@example.org").has_value());
  remember("s1", "anna@example.org", 280, 290);
  EXPECT_FALSE(find("anna@example.org").has_value());
  remember("s1", "anna@example.org", 320, 300);
  EXPECT_FALSE(find("anna@example.org").has_value()) << "begun when it landed: not after";
  remember("s2", "anna@example.org", 350, 360);
  ASSERT_TRUE(find("anna@example.org").has_value());
  EXPECT_EQ(find("anna@example.org")->seen_at, 350);
  EXPECT_EQ(find("anna@example.org")->subject, "s2");

  // Such a read leaves nothing behind (it would hold again once the write
  // is pruned).
  landed("s6", "ed@example.org", 500);
  remember("s6", "ed@example.org", 400, 450);
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(rows, ListShownOffOfSubject(txn, "s6"));
                return rows.empty() ? Status::Ok() : Internal("kept a row of a read before");
              }).ok());

  // A write in flight there (claimed, not answered) may land any moment.
  OutboxRow write = Work("mc", "s2", "i-s2", 400);
  write.address = "Anna@Example.org";
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                CONSENTD_RETURN_IF_ERROR(txn.Enqueue(write).status());
                return txn.ClaimOutbox("mc", 400, 10, 1'000).status();
              }).ok());
  EXPECT_FALSE(find("anna@example.org").has_value());
  // Its lease runs out unanswered (a crash): claimed again, it is taken to
  // have landed at that claim, whatever its next answer says.
  std::int64_t again = 0;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(claimed, txn.ClaimOutbox("mc", 1'500, 10, 9'000));
                if (claimed.size() != 1u) return Internal("expected the row again");
                again = claimed[0].id;
                return Status::Ok();
              }).ok());
  // Nothing is remembered while the write is in flight, even from a read
  // begun after the last landing.
  remember("s2", "anna@example.org", 1'540, 1'550);
  ASSERT_TRUE(
      Run([&](Transaction& txn) { return txn.MarkRetry(again, 9'000, "503", 1'600); }).ok());
  EXPECT_FALSE(find("anna@example.org").has_value());
  remember("s2", "anna@example.org", 1'400, 1'450);
  EXPECT_FALSE(find("anna@example.org").has_value());
  remember("s2", "anna@example.org", 1'700, 1'700);
  EXPECT_TRUE(find("anna@example.org").has_value());

  // Pruning forgets old writes, and the rows they made stop holding first.
  remember("s3", "bo@example.org", 100, 150);
  landed("s3", "bo@example.org", 200);
  remember("s3", "cy@example.org", 100, 150);
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                ASSIGN_OR_RETURN_STATUS(n, txn.PruneShownOff(2'000));
                return n == 3 ? Status::Ok() : Internal("pruned " + std::to_string(n));
              }).ok());
  EXPECT_FALSE(find("bo@example.org").has_value());
  EXPECT_TRUE(find("cy@example.org").has_value());
  EXPECT_TRUE(find("anna@example.org").has_value());

  // "On", the record's deletion and the erasure of a person who reported
  // it or was written to it forget it.
  remember("s4", "di@example.org", 100, 150);
  ASSERT_TRUE(Run([&](Transaction& txn) {
                return txn.NoteShownOn("s2", "mc", "ANNA@example.org", "news|email|", 1'800);
              }).ok());
  EXPECT_FALSE(find("anna@example.org").has_value());
  // A read begun before that (decided later) shows the box as it was
  // before: it does not bring "off" back. One begun after it does.
  remember("s2", "anna@example.org", 1'750, 1'790);
  EXPECT_FALSE(find("anna@example.org").has_value());
  remember("s2", "anna@example.org", 1'850, 1'850);
  ASSERT_TRUE(find("anna@example.org").has_value());
  EXPECT_EQ(find("anna@example.org")->seen_at, 1'850);
  ASSERT_TRUE(Run([&](Transaction& txn) {
                return txn.NoteShownOn("s2", "mc", "anna@example.org", "news|email|", 1'900);
              }).ok());
  EXPECT_FALSE(find("anna@example.org").has_value());
  ASSERT_TRUE(Run([&](Transaction& txn) {
                return txn.ForgetShownOffOfRecord("mc", "cy@example.org");
              }).ok());
  EXPECT_FALSE(find("cy@example.org").has_value());
  ASSERT_TRUE(find("di@example.org").has_value());
  landed("s5", "di@example.org", 50);  // s5 wrote there once, before the read
  ASSERT_TRUE(find("di@example.org").has_value());
  ASSERT_TRUE(Run([&](Transaction& txn) { return txn.EraseSubject("s5"); }).ok());
  EXPECT_FALSE(find("di@example.org").has_value());
}

}  // namespace
}  // namespace consentd::store
