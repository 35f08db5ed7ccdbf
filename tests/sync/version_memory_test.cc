// Record versions decided once (sync/version_memory.h) on a real SQLite
// store, with the real engine deciding what is not skipped.
#include "sync/version_memory.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sync/recent_versions.h"
#include "sync_test_util.h"

namespace consentd::sync {
namespace {

using testing::Consent;
using testing::Erasure;
using testing::Record;
using testing::T;
constexpr ConsentStatus kGranted = ConsentStatus::kGranted;

class VersionMemoryTest : public testing::SyncEngineTest {
 protected:
  // FreshVersions in one unit of work, then the engine decides the rest
  // (as the daemon's Decide does).
  FreshRecords Fresh(const std::string& source, std::vector<connectors::InboundRecord> records,
                     bool event_id_is_version, TimestampMs now) {
    FreshRecords out;
    Run([&](store::Transaction& txn) -> Status {
      auto r =
          FreshVersions(txn, testing::kKey, source, std::move(records), event_id_is_version, now);
      if (!r.ok()) return r.status();
      out = std::move(*r);
      if (out.records.empty()) return Status::Ok();
      return engine_->Ingest(txn, source, out.records, now).status();
    });
    return out;
  }

  // FreshVersions of a Mailchimp poll `page` with the versions `held` in
  // memory, in one unit of work (nothing decided).
  FreshRecords FreshPage(std::vector<connectors::InboundRecord> page, const HeldVersions& held,
                         TimestampMs now) {
    FreshRecords out;
    Run([&](store::Transaction& txn) -> Status {
      auto f = FreshVersions(txn, testing::kKey, "mailchimp", std::move(page),
                             /*event_id_is_version=*/true, now, &held);
      if (!f.ok()) return f.status();
      out = std::move(*f);
      return Status::Ok();
    });
    return out;
  }

  // Remembers consentd's own write of Mailchimp `version` (as the daemon
  // records a delivery); the store's tombstone generation at that time.
  std::int64_t RememberWrite(const std::string& version, TimestampMs at) {
    std::int64_t generation = -1;
    Run([&](store::Transaction& txn) {
      generation = txn.TombstoneGeneration();
      return RememberVersion(txn, "mailchimp", version, at);
    });
    return generation;
  }

  static connectors::InboundRecord Versioned(std::string event_id, std::string version,
                                             std::vector<Change> changes) {
    connectors::InboundRecord r =
        Record(std::move(event_id), "hash-ann", "ann@example.org", std::move(changes));
    r.version_id = std::move(version);
    return r;
  }
};

TEST_F(VersionMemoryTest, AVersionReadForAHintIsSkippedWhenThePollReadsItAgain) {
  const auto grant = Consent("newsletter", kGranted, T, "mailchimp");
  FreshRecords hint = Fresh("mailchimp", {Versioned("wh-1", "poll:hash-ann:1:d1", {grant})},
                            /*event_id_is_version=*/false, T + 100);
  EXPECT_EQ(hint.records.size(), 1u);
  EXPECT_EQ(hint.skipped, 0);

  // The poll's record of that version: its event id is the version id.
  FreshRecords poll =
      Fresh("mailchimp", {Record("poll:hash-ann:1:d1", "hash-ann", "ann@example.org", {grant})},
            /*event_id_is_version=*/true, T + 5000);
  EXPECT_TRUE(poll.records.empty());
  EXPECT_EQ(poll.skipped, 1);

  // Another version of the same member is decided.
  FreshRecords next = Fresh("mailchimp", {Versioned("wh-2", "poll:hash-ann:2:d2", {grant})},
                            /*event_id_is_version=*/false, T + 6000);
  EXPECT_EQ(next.records.size(), 1u);
}

TEST_F(VersionMemoryTest, ConsentdsOwnWriteReadBackIsSkipped) {
  const auto grant = Consent("newsletter", kGranted, T, "mailchimp");
  Fresh("mailchimp", {Versioned("wh-1", "poll:hash-ann:1:d1", {grant})}, false, T + 100);
  Run([&](store::Transaction& txn) {
    return RememberVersion(txn, "mailchimp", "poll:hash-ann:3:d3", T + 200);
  });
  FreshRecords back =
      Fresh("mailchimp", {Versioned("wh-2", "poll:hash-ann:3:d3", {grant})}, false, T + 300);
  EXPECT_TRUE(back.records.empty());
  EXPECT_EQ(back.skipped, 1);
  // Remembered per source: the same id from another system is its own.
  FreshRecords other =
      Fresh("hubspot", {Versioned("wh-3", "poll:hash-ann:3:d3", {})}, false, T + 400);
  EXPECT_EQ(other.records.size(), 1u);
}

TEST_F(VersionMemoryTest, ARecordWithoutVersionOrMergingIdentitiesIsAlwaysDecided) {
  const auto grant = Consent("newsletter", kGranted, T, "mailchimp");
  Fresh("mailchimp", {Versioned("wh-1", "poll:hash-ann:1:d1", {grant})}, false, T + 100);
  connectors::InboundRecord merged = Versioned("wh-2", "poll:hash-ann:1:d1", {grant});
  merged.merged_ids = {"hash-old"};
  connectors::InboundRecord plain = Record("wh-3", "hash-ann", "ann@example.org", {grant});
  FreshRecords r = Fresh("mailchimp", {merged, plain}, false, T + 200);
  EXPECT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.skipped, 0);
}

// A record consentd asked to read again (a target kept values out) is
// decided even though its version was decided before: the change that
// kept them out (a status set again) need not move the version id. Held
// in memory or remembered in the store alike.
TEST_F(VersionMemoryTest, ARecordReadForAReadAgainHintOfConsentdsOwnIsAlwaysDecided) {
  const auto grant = Consent("newsletter", kGranted, T, "hubspot");
  const std::int64_t written_at = RememberWrite("poll:101:5", T + 100);
  connectors::InboundRecord again =
      Versioned(std::string(kRereadEventPrefix) + "17", "poll:101:5", {grant});
  EXPECT_TRUE(DecidedWhateverItsVersion(again));
  RecentVersions recent;
  recent.Remember("poll:101:5", written_at);
  EXPECT_EQ(recent.Find({again}, false).count, 0);
  FreshRecords r = Fresh("mailchimp", {again}, false, T + 200);
  EXPECT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.skipped, 0);
  // A webhook's read of that version is still skipped.
  FreshRecords hint =
      Fresh("mailchimp", {Versioned("wh-9", "poll:101:5", {grant})}, false, T + 300);
  EXPECT_TRUE(hint.records.empty());
}

// Erasure is terminal: a remembered version of an erased person is decided
// again, so the stale read is dropped as erased (and logged), not skipped.
TEST_F(VersionMemoryTest, ARememberedVersionOfAnErasedPersonIsDecidedAgainAndDropped) {
  const auto grant = Consent("newsletter", kGranted, T, "mailchimp");
  Fresh("mailchimp", {Versioned("wh-1", "poll:hash-ann:1:d1", {grant})}, false, T + 100);
  Run([&](store::Transaction& txn) {
    return RememberVersion(txn, "mailchimp", "poll:hash-ann:2:d2", T + 150);
  });
  Ingest("mailchimp",
         {Record("wh-9", "hash-ann", "ann@example.org", {Erasure(T + 10'000, "mailchimp")})},
         T + 10'100);

  for (const std::string version : {"poll:hash-ann:1:d1", "poll:hash-ann:2:d2"}) {
    IngestSummary decided;
    Run([&](store::Transaction& txn) -> Status {
      auto r = FreshVersions(txn, testing::kKey, "mailchimp",
                             {Record(version, "hash-ann", "ann@example.org", {grant})},
                             /*event_id_is_version=*/true, T + 20'000);
      if (!r.ok()) return r.status();
      EXPECT_EQ(r->skipped, 0) << version;
      EXPECT_EQ(r->records.size(), 1u) << version;
      auto d = engine_->Ingest(txn, "mailchimp", r->records, T + 20'000);
      if (!d.ok()) return d.status();
      decided = std::move(*d);
      return Status::Ok();
    });
    EXPECT_EQ(decided.outcomes[Outcome::kDroppedErased], 1) << version;
    EXPECT_EQ(SubjectOf("mailchimp", "hash-ann"), "") << "the erased person came back";
  }
}

// Versions found in memory (sync/recent_versions.h): skipped in the store
// unit without touching the store, while the tombstone generation they
// were held at is still the store's.
TEST_F(VersionMemoryTest, AHeldVersionIsSkippedWithoutStoreWorkWhileNoErasureCame) {
  const auto grant = Consent("newsletter", kGranted, T, "mailchimp");
  Fresh("mailchimp", {Versioned("wh-1", "poll:hash-ann:1:d1", {grant})}, false, T + 100);
  const std::int64_t written_at = RememberWrite("poll:hash-ann:2:d2", T + 150);
  std::vector<connectors::InboundRecord> page = {
      Record("poll:hash-ann:2:d2", "hash-ann", "ann@example.org", {grant}),
      Record("poll:hash-bob:1:e1", "hash-bob", "bob@example.org", {grant})};
  const HeldVersions held{{true, false}, 1, written_at};
  const FreshRecords r = FreshPage(page, held, T + 5000);
  EXPECT_EQ(r.skipped_held, 1);
  EXPECT_EQ(r.skipped, 1);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].system_id, "hash-bob") << "what is not held is decided, in order";
}

// The erasure rule holds for held versions: once a tombstone was added
// after they were held, they go through the store's check and a stale read
// of the erased person is decided again and dropped as erased.
TEST_F(VersionMemoryTest, AHeldVersionOfAPersonErasedSinceIsDecidedAgainAndDropped) {
  const auto grant = Consent("newsletter", kGranted, T, "mailchimp");
  Fresh("mailchimp", {Versioned("wh-1", "poll:hash-ann:1:d1", {grant})}, false, T + 100);
  const std::int64_t written_at = RememberWrite("poll:hash-ann:2:d2", T + 150);
  Ingest("mailchimp",
         {Record("wh-9", "hash-ann", "ann@example.org", {Erasure(T + 10'000, "mailchimp")})},
         T + 10'100);

  const HeldVersions held{{true}, 1, written_at};
  IngestSummary decided;
  Run([&](store::Transaction& txn) -> Status {
    auto r = FreshVersions(txn, testing::kKey, "mailchimp",
                           {Record("poll:hash-ann:2:d2", "hash-ann", "ann@example.org", {grant})},
                           /*event_id_is_version=*/true, T + 20'000, &held);
    if (!r.ok()) return r.status();
    EXPECT_EQ(r->skipped, 0);
    EXPECT_EQ(r->skipped_held, 0);
    EXPECT_EQ(r->records.size(), 1u);
    auto d = engine_->Ingest(txn, "mailchimp", r->records, T + 20'000);
    if (!d.ok()) return d.status();
    decided = std::move(*d);
    return Status::Ok();
  });
  EXPECT_EQ(decided.outcomes[Outcome::kDroppedErased], 1);
  EXPECT_EQ(SubjectOf("mailchimp", "hash-ann"), "") << "the erased person came back";
}

// A version slot (Mailchimp: the member and a second) given a second state
// is contested. consentd writes W, the person changes to B and back to W
// within that second: the third read is decided (it was skipped as
// consentd's own W before slots, and consentd kept B), and so is every
// later read of that second.
TEST_F(VersionMemoryTest, AStateThatReturnsWithinItsSlotIsDecidedAgain) {
  const auto grant = Consent("newsletter", kGranted, T, "mailchimp");
  const auto withdraw = Consent("newsletter", ConsentStatus::kWithdrawn, T, "mailchimp");
  RememberWrite("poll:uid-ann:5#w", T + 100);
  FreshRecords b =
      Fresh("mailchimp", {Versioned("wh-1", "poll:uid-ann:5#b", {grant})}, false, T + 200);
  EXPECT_EQ(b.records.size(), 1u) << "the person's change";
  FreshRecords w =
      Fresh("mailchimp", {Versioned("wh-2", "poll:uid-ann:5#w", {withdraw})}, false, T + 300);
  EXPECT_EQ(w.records.size(), 1u) << "the return to consentd's state was skipped";
  EXPECT_EQ(w.skipped, 0);
  // The poll's read (its records carry the version id too).
  FreshRecords again =
      Fresh("mailchimp", {Versioned("poll:uid-ann:5#w", "poll:uid-ann:5#w", {withdraw})},
            /*event_id_is_version=*/true, T + 400);
  EXPECT_EQ(again.records.size(), 1u) << "a contested slot's read was skipped";
  EXPECT_EQ(again.skipped, 0);
}

// The order in which a slot's states are remembered need not be the order
// the record took them: consentd's write W is recorded only after the
// person's B (read while the write was in flight) was decided. The
// person's return to W is still decided.
TEST_F(VersionMemoryTest, AWriteRecordedAfterThePersonsChangeInItsSecondLeavesNoReadSkipped) {
  const auto grant = Consent("newsletter", kGranted, T, "mailchimp");
  const auto withdraw = Consent("newsletter", ConsentStatus::kWithdrawn, T, "mailchimp");
  FreshRecords b =
      Fresh("mailchimp", {Versioned("wh-1", "poll:uid-ann:5#b", {grant})}, false, T + 200);
  EXPECT_EQ(b.records.size(), 1u);
  RememberWrite("poll:uid-ann:5#w", T + 300);
  FreshRecords w =
      Fresh("mailchimp", {Versioned("wh-2", "poll:uid-ann:5#w", {withdraw})}, false, T + 400);
  EXPECT_EQ(w.records.size(), 1u) << "the return to consentd's state was skipped";
}

// Slots are the connector's to declare, in version_id: an event id that
// stands for the version (a generic connector's poll) is a slot of its
// own whatever it holds, so "c-42#1" and "c-42#2" are two versions, each
// skipped when read again, and neither contests the other.
TEST_F(VersionMemoryTest, AnEventIdWithTheSeparatorIsAVersionOfItsOwn) {
  const auto grant = Consent("newsletter", kGranted, T, "crm");
  auto read = [&](const std::string& id, TimestampMs now) {
    return Fresh("crm", {Record(id, "c-42", "ann@example.org", {grant})},
                 /*event_id_is_version=*/true, now);
  };
  std::int64_t start = 0;
  Run([&](store::Transaction& txn) {
    start = txn.TombstoneGeneration();
    return Status::Ok();
  });
  EXPECT_EQ(read("c-42#1", T + 100).records.size(), 1u);
  EXPECT_EQ(read("c-42#2", T + 200).records.size(), 1u);
  EXPECT_EQ(read("c-42#1", T + 300).skipped, 1) << "the first event, polled again";
  EXPECT_EQ(read("c-42#2", T + 400).skipped, 1);
  Run([&](store::Transaction& txn) {
    EXPECT_EQ(txn.TombstoneGeneration(), start) << "an event id contested a slot";
    return Status::Ok();
  });
  EXPECT_EQ(VersionOf(Record("c-42#1", "c-42", "", {}), true), "c-42#1#");
  EXPECT_EQ(SplitVersion(VersionOf(Record("c-42#1", "c-42", "", {}), true)).slot, "c-42#1");
}

// One page reads B and then A of one slot, A held in memory from an
// earlier write: deciding B gives the slot another state, so A is no
// longer trusted from memory and is decided too.
TEST_F(VersionMemoryTest, AHeldStateIsNotTrustedAfterThePageGaveItsSlotAnotherState) {
  const auto grant = Consent("newsletter", kGranted, T, "mailchimp");
  const std::int64_t written_at = RememberWrite("poll:uid-ann:5#a", T + 100);
  std::vector<connectors::InboundRecord> page = {
      Versioned("poll:uid-ann:5#b", "poll:uid-ann:5#b", {grant}),
      Versioned("poll:uid-ann:5#a", "poll:uid-ann:5#a", {grant})};
  const HeldVersions held{{false, true}, 1, written_at};
  const FreshRecords r = FreshPage(page, held, T + 5000);
  EXPECT_EQ(r.skipped_held, 0);
  EXPECT_EQ(r.skipped, 0);
  EXPECT_EQ(r.records.size(), 2u);
}

// Which decided versions a unit may hold in memory (VersionsToHold): not
// those of a unit that erased someone, nor of one that dropped a stale
// read of an erased person (that read must be dropped and logged again).
TEST_F(VersionMemoryTest, OnlyAUnitWithoutErasuresHoldsTheVersionsItDecided) {
  const auto grant = Consent("newsletter", kGranted, T, "mailchimp");
  auto decide = [&](std::vector<connectors::InboundRecord> records, TimestampMs now) {
    std::vector<std::string> hold;
    Run([&](store::Transaction& txn) -> Status {
      const std::int64_t before = txn.TombstoneGeneration();
      auto fresh = FreshVersions(txn, testing::kKey, "mailchimp", std::move(records),
                                 /*event_id_is_version=*/true, now);
      if (!fresh.ok()) return fresh.status();
      auto summary = engine_->Ingest(txn, "mailchimp", fresh->records, now);
      if (!summary.ok()) return summary.status();
      hold = VersionsToHold(fresh->records, /*event_id_is_version=*/true, *summary, before,
                            txn.TombstoneGeneration());
      return Status::Ok();
    });
    return hold;
  };
  connectors::InboundRecord unversioned = Record("", "hash-bob", "bob@example.org", {grant});
  EXPECT_EQ(
      decide({Record("poll:hash-ann:1:d1", "hash-ann", "ann@example.org", {grant}), unversioned},
             T + 100),
      (std::vector<std::string>{"poll:hash-ann:1:d1"}));
  EXPECT_TRUE(decide({Record("poll:hash-ann:2:d2", "hash-ann", "ann@example.org",
                             {Erasure(T + 1'000, "mailchimp")})},
                     T + 1'100)
                  .empty())
      << "the unit erased ann";
  EXPECT_TRUE(
      decide({Record("poll:hash-ann:3:d3", "hash-ann", "ann@example.org", {grant})}, T + 2'000)
          .empty())
      << "the unit dropped a stale read of ann";
  EXPECT_EQ(
      decide({Record("poll:hash-cat:1:c1", "hash-cat", "cat@example.org", {grant})}, T + 3'000),
      (std::vector<std::string>{"poll:hash-cat:1:c1"}));
}

}  // namespace
}  // namespace consentd::sync
