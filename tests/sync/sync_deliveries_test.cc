// RecordDeliveries: the outcome of each claimed outbox row becomes its
// outbox status and, when final, a proof-log entry (sync/sync_engine.h).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <optional>
#include <set>

#include "mapping/policy.h"
#include "store/dead_letters.h"
#include "store/erasure_requests.h"
#include "sync/outbound.h"
#include "sync_test_util.h"

namespace consentd::sync {
namespace {

using testing::Consent;
using testing::Record;
using testing::SyncEngineTest;
using testing::T;

connectors::DeliveryResult Delivery(std::int64_t id, Status status,
                                    connectors::ErrorClass error_class);

class SyncDeliveriesTest : public SyncEngineTest {
 protected:
  // One pending mailchimp row per person, claimed.
  std::vector<store::OutboxRow> ClaimRows(int people, TimestampMs now) {
    for (int i = 1; i <= people; ++i) {
      const std::string n = std::to_string(i);
      Ingest("hubspot",
             {Record("ev-" + n, "10" + n, "p" + n + "@example.org",
                     {Consent("newsletter", ConsentStatus::kGranted, T)})},
             T + 100);
    }
    return Claim(now);
  }
  // Mailchimp's grant of newsletter (captured at T, read a minute later),
  // its row to HubSpot claimed, and a result that wrote it but kept the
  // grant out (rows is empty if the row was not there to claim).
  struct KeptOut {
    std::string subject;
    std::vector<store::OutboxRow> rows;
    connectors::DeliveryResult result;
  };
  KeptOut GrantKeptOutAtHubSpot() {
    Ingest("mailchimp",
           {Record("mc-ev-1", "mc-1", "anna@example.org",
                   {Consent("newsletter", ConsentStatus::kGranted, T, "mailchimp")})},
           T + 60'000);
    KeptOut out;
    out.subject = SubjectOf("mailchimp", "mc-1");
    out.rows = Claim(T + 60'100, "hubspot");
    if (out.rows.size() != 1) return out;
    out.result = Delivery(out.rows[0].id, Status::Ok(), {});
    const store::ConsentKey k = Consents(out.subject).at(0).key;
    out.result.kept_out = {
        ConsentKeyString(ConsentKey{k.subject_id, k.topic, k.channel, k.address})};
    return out;
  }
  // GrantKeptOutAtHubSpot's result recorded (all of it kept out, or only
  // some values): the one proof entry it gave. The row is done and the
  // record is read again either way.
  std::string FileKeptOut(bool nothing_written) {
    KeptOut got = GrantKeptOutAtHubSpot();
    EXPECT_EQ(got.rows.size(), 1u);
    if (got.rows.size() != 1) return "";
    got.result.system_id = "101";
    got.result.nothing_written = nothing_written;
    got.result.detail = "kept out: a newer unsubscribe";
    const std::uint64_t before = ProofSize();
    IngestSummary recorded;
    Run([&](store::Transaction& txn) -> Status {
      auto r = engine_->RecordDeliveries(txn, "hubspot", got.rows, {got.result}, {}, 5, T + 60'200);
      if (!r.ok()) return r.status();
      recorded = *r;
      return Status::Ok();
    });
    EXPECT_EQ(recorded.hinted, std::set<std::string>{"hubspot"});
    EXPECT_EQ(Row(got.rows[0].id).status, store::OutboxStatus::kDone);
    EXPECT_EQ(ProofSize(), before + 1);
    return Entry(before);
  }
  std::vector<store::OutboxRow> Claim(TimestampMs now, const std::string& target = "mailchimp") {
    std::vector<store::OutboxRow> rows;
    Run([&](store::Transaction& txn) -> Status {
      auto r = txn.ClaimOutbox(target, now, 10, now + 60'000);
      if (!r.ok()) return r.status();
      rows = *r;
      return Status::Ok();
    });
    return rows;
  }
  IngestSummary Deliver(const std::vector<store::OutboxRow>& rows,
                        const std::vector<connectors::DeliveryResult>& results,
                        const std::map<std::int64_t, TimestampMs>& retry_at, int max_attempts,
                        TimestampMs now) {
    IngestSummary out;
    Run([&](store::Transaction& txn) -> Status {
      auto r =
          engine_->RecordDeliveries(txn, "mailchimp", rows, results, retry_at, max_attempts, now);
      if (!r.ok()) return r.status();
      out = *r;
      return Status::Ok();
    });
    return out;
  }
  store::OutboxRow Row(std::int64_t id) {
    store::OutboxRow row;
    Run([&](store::Transaction& txn) -> Status {
      auto r = txn.GetOutbox(id);
      if (!r.ok()) return r.status();
      EXPECT_TRUE(r->has_value());
      if (r->has_value()) row = **r;
      return Status::Ok();
    });
    return row;
  }
  // The echo key of `subject`'s newsletter consent.
  std::string NewsletterKey(const std::string& subject) {
    for (const store::ConsentRow& c : Consents(subject)) {
      if (c.key.topic == "newsletter") {
        return ConsentKeyString(
            ConsentKey{c.key.subject_id, c.key.topic, c.key.channel, c.key.address});
      }
    }
    ADD_FAILURE() << "no newsletter consent of " << subject;
    return "";
  }
  // The value consentd last remembers writing for (system, key), or "<none>".
  std::string LatestWrite(const std::string& system, const std::string& key) {
    std::string value = "<none>";
    Run([&](store::Transaction& txn) -> Status {
      Result<std::optional<store::EchoRow>> w = txn.FindLatestWrite(system, key);
      if (!w.ok()) return w.status();
      if (w->has_value()) value = (*w)->value;
      return Status::Ok();
    });
    return value;
  }
  std::string Entry(std::uint64_t sequence) {
    std::string bytes;
    Run([&](store::Transaction& txn) -> Status {
      auto r = store::ReadProofEntry(txn, sequence);
      if (!r.ok()) return r.status();
      bytes = *r;
      return Status::Ok();
    });
    return bytes;
  }
};

connectors::DeliveryResult Delivery(std::int64_t id, Status status,
                                    connectors::ErrorClass error_class) {
  connectors::DeliveryResult r;
  r.outbox_id = id;
  r.status = std::move(status);
  r.error_class = error_class;
  return r;
}

// A row on its way while its person is merged into another: the member it
// created belongs to the survivor, not to the merged-away subject (which
// has no identity left; a later report about the member would otherwise
// split the person again).
TEST_F(SyncDeliveriesTest, ARecordWrittenForAPersonMergedMeanwhileIsLinkedToTheSurvivor) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org",
                 {Consent("newsletter", ConsentStatus::kGranted, T)})},
         T + 100);
  Ingest("hubspot",
         {Record("ev-2", "102", "anna.b@example.org",
                 {Consent("newsletter", ConsentStatus::kGranted, T)})},
         T + 100);
  const std::string survivor = SubjectOf("hubspot", "101");
  const std::string merged = SubjectOf("hubspot", "102");
  std::vector<store::OutboxRow> rows = Claim(T + 200);
  ASSERT_EQ(rows.size(), 2u);
  connectors::InboundRecord merge = Record("ev-3", "101", "anna@example.org", {});
  merge.merged_ids = {"102"};
  Ingest("hubspot", {merge}, T + 300);
  ASSERT_EQ(SubjectOf("hubspot", "102"), survivor);

  std::vector<connectors::DeliveryResult> results;
  for (const store::OutboxRow& row : rows) {
    connectors::DeliveryResult ok = Delivery(row.id, Status::Ok(), {});
    ok.system_id = row.key == merged ? "mc-b" : "mc-a";
    results.push_back(ok);
  }
  Deliver(rows, results, {}, 5, T + 400);
  EXPECT_EQ(SubjectOf("mailchimp", "mc-a"), survivor);
  EXPECT_EQ(SubjectOf("mailchimp", "mc-b"), survivor) << "not the merged-away " << merged;
}

// HubSpot kept a grant out: it holds the person's own unsubscribe, newer
// than the grant and not decided yet when the write went. What consentd
// remembered writing there was not written, so her later subscription
// there is decided, not taken for consentd's write coming back.
TEST_F(SyncDeliveriesTest, AGrantTheTargetKeptOutIsForgottenSoHerNextGrantThereIsDecided) {
  KeptOut got = GrantKeptOutAtHubSpot();
  ASSERT_EQ(got.rows.size(), 1u);
  const std::string& subject = got.subject;
  const std::vector<store::OutboxRow>& rows = got.rows;
  connectors::DeliveryResult& kept = got.result;
  Run([&](store::Transaction& txn) -> Status {
    return engine_->RecordDeliveries(txn, "hubspot", rows, {kept}, {}, 5, T + 60'200).status();
  });

  // Her unsubscribe in HubSpot (T + 10 s), reported now: newer, applied.
  IngestSummary off = Ingest("hubspot",
                             {Record("ev-1", "101", "anna@example.org",
                                     {Consent("newsletter", ConsentStatus::kWithdrawn, T + 10'000,
                                              "hubspot", "", ConsentMethod::kUnsubscribeLink)})},
                             T + 61'000);
  EXPECT_EQ(off.outcomes[Outcome::kApplied], 1);
  ASSERT_EQ(SubjectOf("hubspot", "101"), subject);
  // A day later she subscribes there again.
  IngestSummary on =
      Ingest("hubspot",
             {Record("ev-2", "101", "anna@example.org",
                     {Consent("newsletter", ConsentStatus::kGranted, T + 86'400'000, "hubspot")})},
             T + 86'401'000);
  EXPECT_EQ(on.outcomes[Outcome::kEcho], 0) << "the write HubSpot kept out is no echo";
  EXPECT_EQ(on.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(Consents(subject).at(0).status, "granted");
}

// The withdrawal HubSpot holds, which kept the grant out, may never be
// reported (a change that left the status as it was sends no webhook) or
// was reported before the grant was decided: the record is read again, by
// a hint of consentd's own, once per row, and its withdrawal is decided.
TEST_F(SyncDeliveriesTest, AGrantTheTargetKeptOutHasItsRecordThereReadAgain) {
  KeptOut got = GrantKeptOutAtHubSpot();
  ASSERT_EQ(got.rows.size(), 1u);
  const std::string& subject = got.subject;
  const std::vector<store::OutboxRow>& rows = got.rows;
  connectors::DeliveryResult& kept = got.result;
  kept.system_id = "101";
  IngestSummary recorded;
  Run([&](store::Transaction& txn) -> Status {
    auto r = engine_->RecordDeliveries(txn, "hubspot", rows, {kept}, {}, 5, T + 60'200);
    if (!r.ok()) return r.status();
    recorded = *r;
    return Status::Ok();
  });
  EXPECT_EQ(recorded.hinted, std::set<std::string>{"hubspot"});
  std::vector<PendingHint> hints;
  Run([&](store::Transaction& txn) -> Status {
    auto r = engine_->PendingHints(txn, "hubspot", 10);
    if (!r.ok()) return r.status();
    hints = *r;
    return Status::Ok();
  });
  ASSERT_EQ(hints.size(), 1u);
  EXPECT_EQ(hints[0].ref.system_id, "101");
  EXPECT_EQ(hints[0].ref.email, "anna@example.org");
  EXPECT_EQ(hints[0].ref.event_id, "consentd:reread:" + std::to_string(rows[0].id) + ":" +
                                       std::to_string(rows[0].created_at));

  // What the read finds: her unsubscribe there, 1.5 s after the grant
  // (within the tie window: the withdrawal wins), decided, not an echo.
  IngestSummary read = Ingest("hubspot",
                              {Record(hints[0].ref.event_id, "101", "anna@example.org",
                                      {Consent("newsletter", ConsentStatus::kWithdrawn, T + 1'500,
                                               "hubspot", "", ConsentMethod::kUnsubscribeLink)})},
                              T + 61'000);
  EXPECT_EQ(read.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(Consents(subject).at(0).status, "withdrawn");
}

// The proof log says what the target did: a write that kept some values
// out still wrote the rest (propagated); one that left the record as it
// was is filed as not written (superseded), with the target's reason. The
// record is read again either way.
TEST_F(SyncDeliveriesTest, AWriteTheTargetKeptOutEntirelyIsFiledAsNotWritten) {
  const std::string entry = FileKeptOut(/*nothing_written=*/true);
  EXPECT_NE(entry.find("\"superseded\""), std::string::npos) << entry;
  EXPECT_NE(entry.find("not written to hubspot: kept out: a newer unsubscribe"), std::string::npos)
      << entry;
}

TEST_F(SyncDeliveriesTest, AWriteTheTargetKeptSomeValuesOutOfIsFiledAsPropagated) {
  const std::string entry = FileKeptOut(/*nothing_written=*/false);
  EXPECT_NE(entry.find("\"propagated\""), std::string::npos) << entry;
  EXPECT_NE(entry.find("written to hubspot: kept out: a newer unsubscribe"), std::string::npos)
      << entry;
  EXPECT_EQ(entry.find("not written"), std::string::npos) << entry;
}

// A write of the merged-away person that fails while in flight is not
// retried: it holds the state from before the merge, and sent after the
// combined state it would undo it. The combined state is already queued.
TEST_F(SyncDeliveriesTest, AFailedWriteOfAPersonMergedMeanwhileIsNotRetried) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org",
                 {Consent("newsletter", ConsentStatus::kWithdrawn, T)})},
         T + 100);
  Ingest("hubspot",
         {Record("ev-2", "102", "anna.b@example.org",
                 {Consent("newsletter", ConsentStatus::kGranted, T - 1000)})},
         T + 100);
  const std::string merged = SubjectOf("hubspot", "102");
  const std::vector<store::OutboxRow> rows = Claim(T + 200);
  ASSERT_EQ(rows.size(), 2u);
  connectors::InboundRecord merge = Record("ev-3", "101", "anna@example.org", {});
  merge.merged_ids = {"102"};
  Ingest("hubspot", {merge}, T + 300);
  const std::string survivor = SubjectOf("hubspot", "101");

  std::vector<connectors::DeliveryResult> results;
  for (const store::OutboxRow& row : rows) {
    results.push_back(
        Delivery(row.id, Unavailable("HTTP 503"), connectors::ErrorClass::kRetryable));
  }
  Deliver(rows, results, {}, 5, T + 400);
  for (const store::OutboxRow& row : rows) {
    const store::OutboxRow now = Row(row.id);
    if (row.key == merged) {
      EXPECT_EQ(now.status, store::OutboxStatus::kDone);
      EXPECT_NE(now.reason.find("merged into " + survivor), std::string::npos) << now.reason;
    } else {
      EXPECT_EQ(now.status, store::OutboxStatus::kPending) << "the survivor's write is retried";
    }
  }
  for (const store::OutboxRow& row : Outbox("mailchimp")) {
    EXPECT_NE(row.key, merged) << "row " << row.id << " of the merged-away person is queued";
  }
}

// A write of the merged-away person that lands after the combined state was
// delivered would leave its older state at the target: the survivor's state
// is queued there again.
TEST_F(SyncDeliveriesTest,
       AWriteOfAPersonMergedMeanwhileThatLandsLateIsFollowedByTheCombinedState) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org",
                 {Consent("newsletter", ConsentStatus::kWithdrawn, T)})},
         T + 100);
  Ingest("hubspot",
         {Record("ev-2", "102", "anna.b@example.org",
                 {Consent("newsletter", ConsentStatus::kGranted, T - 1000)})},
         T + 100);
  const std::string merged = SubjectOf("hubspot", "102");
  std::vector<store::OutboxRow> first = Claim(T + 200);
  ASSERT_EQ(first.size(), 2u);
  std::erase_if(first, [&](const store::OutboxRow& r) { return r.key != merged; });
  ASSERT_EQ(first.size(), 1u);
  connectors::InboundRecord merge = Record("ev-3", "101", "anna@example.org", {});
  merge.merged_ids = {"102"};
  Ingest("hubspot", {merge}, T + 300);
  const std::string survivor = SubjectOf("hubspot", "101");
  // The survivor's rows (the combined state) are claimed and delivered first.
  const std::vector<store::OutboxRow> combined = Claim(T + 350);
  std::vector<connectors::DeliveryResult> ok;
  for (const store::OutboxRow& row : combined) {
    EXPECT_EQ(row.key, survivor);
    ok.push_back(Delivery(row.id, Status::Ok(), {}));
  }
  Deliver(combined, ok, {}, 5, T + 360);
  ASSERT_TRUE(Outbox("mailchimp").empty());

  // Then the merged-away person's grant lands.
  connectors::DeliveryResult late = Delivery(first[0].id, Status::Ok(), {});
  late.system_id = "mc-b";
  IngestSummary s = Deliver(first, {late}, {}, 5, T + 400);
  EXPECT_GE(s.enqueued["mailchimp"], 1);
  std::set<std::string> addresses;
  for (const store::OutboxRow& row : Outbox("mailchimp")) {
    EXPECT_EQ(row.key, survivor);
    const auto d = connectors::DecodeDesiredState(row.desired_json);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->state.consents.begin()->second.status, ConsentStatus::kWithdrawn);
    addresses.insert(row.address);
  }
  EXPECT_TRUE(addresses.contains("anna.b@example.org")) << "the member the late write created";
}

// The same, but the survivor's combined state for that member is itself in
// flight (another batch) when the late write lands: which of the two lands
// last is not known, so the combined state is queued once more, behind it.
TEST_F(SyncDeliveriesTest, ALateWriteOfAMergedPersonIsFollowedEvenWhileTheCombinedStateIsInFlight) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org",
                 {Consent("newsletter", ConsentStatus::kWithdrawn, T)})},
         T + 100);
  Ingest("hubspot",
         {Record("ev-2", "102", "anna.b@example.org",
                 {Consent("newsletter", ConsentStatus::kGranted, T - 1000)})},
         T + 100);
  const std::string merged = SubjectOf("hubspot", "102");
  std::vector<store::OutboxRow> first = Claim(T + 200);
  ASSERT_EQ(first.size(), 2u);
  std::vector<store::OutboxRow> own = first;  // the survivor's own row: delivered
  std::erase_if(own, [&](const store::OutboxRow& r) { return r.key == merged; });
  std::erase_if(first, [&](const store::OutboxRow& r) { return r.key != merged; });
  Deliver(own, {Delivery(own[0].id, Status::Ok(), {})}, {}, 5, T + 250);
  connectors::InboundRecord merge = Record("ev-3", "101", "anna@example.org", {});
  merge.merged_ids = {"102"};
  Ingest("hubspot", {merge}, T + 300);
  const std::string survivor = SubjectOf("hubspot", "101");
  // The late write's answer links its member to the survivor; that member
  // then gets the combined state, which is claimed and still in flight.
  connectors::DeliveryResult late = Delivery(first[0].id, Status::Ok(), {});
  late.system_id = "mc-b";
  Deliver(first, {late}, {}, 5, T + 400);
  // The survivor's rows go out; the one for anna.b@ is claimed and kept in
  // flight (its batch has not answered yet).
  std::optional<store::OutboxRow> in_flight;
  for (int round = 0; round < 4 && !in_flight; ++round) {
    std::vector<store::OutboxRow> delivered;
    std::vector<connectors::DeliveryResult> results;
    for (const store::OutboxRow& row : Claim(T + 450 + round)) {
      if (row.key == survivor && row.address == "anna.b@example.org") {
        in_flight = row;
      } else {
        delivered.push_back(row);
        results.push_back(Delivery(row.id, Status::Ok(), {}));
      }
    }
    if (!delivered.empty()) Deliver(delivered, results, {}, 5, T + 450 + round);
  }
  ASSERT_TRUE(in_flight.has_value()) << "the combined state for anna.b@ was never claimed";
  const auto queued_for_b = [&] {
    std::vector<std::int64_t> ids;
    for (const store::OutboxRow& row : Outbox("mailchimp")) {
      if (row.key == survivor && row.address == "anna.b@example.org") ids.push_back(row.id);
    }
    return ids;
  };
  ASSERT_TRUE(queued_for_b().empty()) << "nothing is queued behind the row in flight yet";

  // A second late write of the merged-away person (a retry) lands now.
  Run([&](store::Transaction& txn) -> Status {
    store::OutboxRow r = first[0];
    r.idempotency_key = "another late write";
    r.next_attempt_at = T + 460;
    r.created_at = T + 460;
    Result<std::int64_t> id = txn.Enqueue(r);
    if (!id.ok()) return id.status();
    return Status::Ok();
  });
  std::vector<store::OutboxRow> second = Claim(T + 470);
  std::erase_if(second, [&](const store::OutboxRow& r) { return r.key != merged; });
  ASSERT_EQ(second.size(), 1u);
  connectors::DeliveryResult late2 = Delivery(second[0].id, Status::Ok(), {});
  late2.system_id = "mc-b";
  IngestSummary s = Deliver(second, {late2}, {}, 5, T + 480);
  EXPECT_GE(s.enqueued["mailchimp"], 1) << "an identical row in flight does not count";
  const std::vector<std::int64_t> behind = queued_for_b();
  ASSERT_EQ(behind.size(), 1u)
      << "the combined state is queued once more, behind the row in flight";
  EXPECT_GT(behind[0], in_flight->id);
  EXPECT_EQ(Row(in_flight->id).status, store::OutboxStatus::kInflight);
}

// Anna's journey member at anna@ is retired (deleted there; she lives on as
// anna.b@) while a write to it is in flight: if that write fails it is not
// retried, since it would create the member again. A CRM, written at the
// address linked last, keeps its writes at a retired contact's address.
TEST_F(SyncDeliveriesTest, AFailedWriteToARetiredMemberIsNotRetriedButTheCrmKeepsItsWrites) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org",
                 {Consent("newsletter", ConsentStatus::kGranted, T)})},
         T + 100);
  const std::string anna = SubjectOf("hubspot", "101");
  Run([&](store::Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(
        txn.LinkSystemId({anna, "mailchimp", "mc-1", T + 110, "anna@example.org"}));
    return txn.LinkSystemId({anna, "mailchimp", "mc-2", T + 120, "anna.b@example.org"});
  });
  const std::vector<store::OutboxRow> rows = Claim(T + 200);
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].address, "anna@example.org");
  Run([&](store::Transaction& txn) -> Status {
    return RetireRecord(txn, *spec_, "mailchimp", "mc-1", T + 250, T + 250);
  });
  Deliver(rows, {Delivery(rows[0].id, Unavailable("HTTP 503"), connectors::ErrorClass::kRetryable)},
          {}, 5, T + 300);
  const store::OutboxRow after = Row(rows[0].id);
  EXPECT_EQ(after.status, store::OutboxStatus::kDone);
  EXPECT_NE(after.reason.find("its record there was retired"), std::string::npos) << after.reason;

  // The CRM: a write queued at the address of a contact merged away stays.
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-2", "anna.b@example.org",
                 {Consent("newsletter", ConsentStatus::kWithdrawn, T + 5000, "mailchimp")})},
         T + 5100);
  const auto crm = Outbox("hubspot");
  ASSERT_EQ(crm.size(), 1u);
  Run([&](store::Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(txn.LinkSystemId({anna, "hubspot", "102", T + 5150, crm[0].address}));
    return RetireRecord(txn, *spec_, "hubspot", "102", T + 5200, T + 5200);
  });
  const auto kept = Outbox("hubspot");
  ASSERT_EQ(kept.size(), 1u) << "superseded at a CRM";
  EXPECT_EQ(kept[0].id, crm[0].id);
}

// The integer the query `sql` with ?1 = `arg` answers on the store file, read
// directly (what no store API exposes); nullopt for no row or an error.
std::optional<int> ScalarInt(const std::string& db_path, const char* sql, const std::string& arg) {
  sqlite3* db = nullptr;
  std::optional<int> n;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK) {
      sqlite3_bind_text(st, 1, arg.c_str(), -1, SQLITE_TRANSIENT);
      if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

// Rows of the store's echo memory whose key belongs to `subject`.
int EchoRowsOf(const std::string& db_path, const std::string& subject) {
  return ScalarInt(db_path, "SELECT count(*) FROM echo_writes WHERE key LIKE ?1 || '|%'", subject)
      .value_or(-1);
}

// An erasure in the CRM while a write to the journey is in flight and a
// write back to the CRM is queued: the queued write is dropped (the CRM has
// deleted the person; sending it would fail and leave a dead letter holding
// the address), the in-flight one, once answered, leaves neither a row nor
// a link to the record it wrote, and the echo memory forgets the person.
TEST_F(SyncDeliveriesTest, WritesOnTheirWayWhenThePersonIsErasedLeaveNothingBehind) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org",
                 {Consent("newsletter", ConsentStatus::kGranted, T)})},
         T + 100);
  const std::string subject = SubjectOf("hubspot", "101");
  std::vector<store::OutboxRow> inflight = Claim(T + 200);
  ASSERT_EQ(inflight.size(), 1u);
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-1", "anna@example.org",
                 {Consent("newsletter", ConsentStatus::kWithdrawn, T + 5000, "mailchimp")})},
         T + 5100);
  ASSERT_EQ(Outbox("hubspot").size(), 1u) << "the withdrawal is queued for the CRM";
  ASSERT_GT(EchoRowsOf(dir_.File("consentd.db"), subject), 0);

  Ingest("hubspot", {Record("ev-2", "101", "anna@example.org", {testing::Erasure(T + 10'000)})},
         T + 10'100);
  EXPECT_TRUE(Outbox("hubspot").empty());
  EXPECT_TRUE(Outbox("hubspot", store::OutboxStatus::kDone).empty())
      << "the CRM's erasure is settled, so its superseded row is forgotten at once";
  EXPECT_TRUE(Outbox("hubspot", store::OutboxStatus::kDead).empty());
  EXPECT_EQ(EchoRowsOf(dir_.File("consentd.db"), subject), 0);

  connectors::DeliveryResult ok = Delivery(inflight[0].id, Status::Ok(), {});
  ok.system_id = "mc-1";
  Deliver(inflight, {ok}, {}, 5, T + 10'200);
  EXPECT_EQ(SubjectOf("mailchimp", "mc-1"), "") << "the erased person is linked again";
  Run([&](store::Transaction& txn) -> Status {
    auto row = txn.GetOutbox(inflight[0].id);
    if (!row.ok()) return row.status();
    EXPECT_FALSE(row->has_value()) << "the answered write is kept with the address";
    auto links = txn.ListSystemIds(subject);
    if (!links.ok()) return links.status();
    EXPECT_TRUE(links->empty());
    return Status::Ok();
  });
  // The journey's erasure row, which waited behind the write, is next.
  const std::vector<store::OutboxRow> next = Claim(T + 10'300);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_TRUE(Desired(next[0]).erase);
}

// The evidence key of `subject` as the store holds it: "live", "shredded"
// (erased: the key is gone) or "none".
std::string KeyOf(const std::string& db_path, const std::string& subject) {
  const std::optional<int> shredded =
      ScalarInt(db_path, "SELECT key IS NULL FROM subject_keys WHERE subject = ?1", subject);
  if (!shredded) return "none";
  return *shredded ? "shredded" : "live";
}

// A person merged into another keeps its own evidence key for its own proof
// entries; erasing the survivor destroys that key too and marks the
// merged-away pseudonym erased, so its evidence is unreadable as well.
TEST_F(SyncDeliveriesTest, ErasingTheSurvivorOfAMergeShredsTheMergedSubjectsKeyToo) {
  auto with_evidence = [](Change c) {
    c.evidence = {{"ip", "198.51.100.23"}};
    return c;
  };
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org",
                 {with_evidence(Consent("newsletter", ConsentStatus::kGranted, T))})},
         T + 100);
  Ingest("hubspot",
         {Record("ev-2", "102", "anna.b@example.org",
                 {with_evidence(Consent("newsletter", ConsentStatus::kGranted, T))})},
         T + 100);
  const std::string survivor = SubjectOf("hubspot", "101");
  const std::string merged = SubjectOf("hubspot", "102");
  const std::string db = dir_.File("consentd.db");
  ASSERT_EQ(KeyOf(db, merged), "live");
  connectors::InboundRecord merge = Record("ev-3", "101", "anna@example.org", {});
  merge.merged_ids = {"102"};
  Ingest("hubspot", {merge}, T + 300);
  ASSERT_EQ(SubjectOf("hubspot", "102"), survivor);
  EXPECT_EQ(KeyOf(db, merged), "live") << "a merge alone destroys nothing";

  Ingest("hubspot", {Record("ev-4", "101", "anna@example.org", {testing::Erasure(T + 10'000)})},
         T + 10'100);
  EXPECT_EQ(KeyOf(db, survivor), "shredded");
  EXPECT_EQ(KeyOf(db, merged), "shredded");
  Run([&](store::Transaction& txn) -> Status {
    auto erased = txn.FindSubjectErased(merged);
    if (!erased.ok()) return erased.status();
    EXPECT_TRUE(erased->has_value());
    return Status::Ok();
  });
}

// A merge keeps the merged-away person's dead letters (their address and
// state). Erasing the survivor erases that person too: nothing of theirs
// may stay in the outbox.
TEST_F(SyncDeliveriesTest, ErasingTheSurvivorOfAMergeRemovesTheMergedSubjectsDeadLetters) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org",
                 {Consent("newsletter", ConsentStatus::kGranted, T)})},
         T + 100);
  Ingest("hubspot",
         {Record("ev-2", "102", "anna.b@example.org",
                 {Consent("newsletter", ConsentStatus::kGranted, T)})},
         T + 100);
  const std::string merged = SubjectOf("hubspot", "102");
  std::vector<store::OutboxRow> rows = Claim(T + 200);
  std::erase_if(rows, [&](const store::OutboxRow& r) { return r.key != merged; });
  ASSERT_EQ(rows.size(), 1u);
  Deliver(rows,
          {Delivery(rows[0].id, InvalidArgument("HTTP 400: invalid resource"),
                    connectors::ErrorClass::kPermanent)},
          {}, 5, T + 250);
  ASSERT_EQ(Row(rows[0].id).status, store::OutboxStatus::kDead);
  connectors::InboundRecord merge = Record("ev-3", "101", "anna@example.org", {});
  merge.merged_ids = {"102"};
  Ingest("hubspot", {merge}, T + 300);
  ASSERT_EQ(Row(rows[0].id).status, store::OutboxStatus::kDead) << "a merge keeps dead letters";

  Ingest("hubspot", {Record("ev-4", "101", "anna@example.org", {testing::Erasure(T + 10'000)})},
         T + 10'100);
  // (By key and address, not by id: SQLite hands a deleted row's id on.)
  for (const char* target : {"mailchimp", "hubspot"}) {
    for (store::OutboxStatus status :
         {store::OutboxStatus::kPending, store::OutboxStatus::kDone, store::OutboxStatus::kDead}) {
      for (const store::OutboxRow& row : Outbox(target, status)) {
        EXPECT_NE(row.key, merged)
            << "row " << row.id << " to " << target << " of the merged person";
        EXPECT_NE(row.address, "anna.b@example.org") << "row " << row.id << " to " << target;
      }
    }
  }
}

TEST_F(SyncDeliveriesTest, OutcomesBecomeDoneRetryDeadOrBlockedWithProofEntries) {
  const auto rows = ClaimRows(4, T + 200);
  ASSERT_EQ(rows.size(), 4u);
  connectors::DeliveryResult ok = Delivery(rows[0].id, Status::Ok(), {});
  ok.system_id = "mc-1";
  std::vector<connectors::DeliveryResult> results = {
      ok,
      Delivery(rows[1].id, Unavailable("HTTP 503"), connectors::ErrorClass::kRetryable),
      Delivery(rows[2].id, InvalidArgument("HTTP 400: invalid resource"),
               connectors::ErrorClass::kPermanent),
      Delivery(rows[3].id, BlockedByTarget("member was permanently deleted"),
               connectors::ErrorClass::kBlockedByTarget),
  };
  results[3].detail = "member was permanently deleted";
  const std::uint64_t before = ProofSize();
  IngestSummary s = Deliver(rows, results, {{rows[1].id, T + 5000}}, 5, T + 300);
  EXPECT_EQ(s.records, 4);
  EXPECT_EQ(s.proof_entries, 3u) << "a retry is not an outcome yet";
  EXPECT_EQ(ProofSize(), before + 3);

  EXPECT_EQ(Row(rows[0].id).status, store::OutboxStatus::kDone);
  EXPECT_EQ(SubjectOf("mailchimp", "mc-1"), rows[0].key);
  const store::OutboxRow retry = Row(rows[1].id);
  EXPECT_EQ(retry.status, store::OutboxStatus::kPending);
  EXPECT_EQ(retry.next_attempt_at, T + 5000);
  EXPECT_NE(retry.reason.find("503"), std::string::npos);
  const store::OutboxRow dead = Row(rows[2].id);
  EXPECT_EQ(dead.status, store::OutboxStatus::kDead);
  EXPECT_NE(dead.reason.find("400"), std::string::npos);
  const store::OutboxRow blocked = Row(rows[3].id);
  EXPECT_EQ(blocked.status, store::OutboxStatus::kDead);
  EXPECT_EQ(blocked.reason.rfind("blocked_by_target: ", 0), 0u) << blocked.reason;
  // The connector's detail repeats the refusal's message: said once.
  const std::string refusal = "member was permanently deleted";
  EXPECT_NE(blocked.reason.find(refusal), std::string::npos) << blocked.reason;
  EXPECT_EQ(blocked.reason.find(refusal), blocked.reason.rfind(refusal)) << blocked.reason;

  const std::string propagated = Entry(before);
  const std::string rejected = Entry(before + 1);
  const std::string refused = Entry(before + 2);
  EXPECT_NE(propagated.find("\"propagated\""), std::string::npos) << propagated;
  EXPECT_NE(rejected.find("\"rejected\""), std::string::npos) << rejected;
  EXPECT_NE(refused.find("\"blocked_by_target\""), std::string::npos) << refused;
  for (const std::string& e : {propagated, rejected, refused}) {
    EXPECT_EQ(e.find("@example.org"), std::string::npos) << "no address in the log: " << e;
  }
}

// The echo memory of a write is kept from when it is queued. A write that
// dies never reached its target: what its unit remembered is taken back,
// so the person's own later statement of that value there is decided as
// theirs, not logged as consentd's echo. A dead letter sent again (dlq
// replay) is remembered again.
TEST_F(SyncDeliveriesTest, AWriteThatDiesTakesBackItsEchoMemoryAndAReplayRemembersItAgain) {
  const auto rows = ClaimRows(1, T + 200);
  ASSERT_EQ(rows.size(), 1u);
  const std::string key = NewsletterKey(rows[0].key);
  ASSERT_EQ(LatestWrite("mailchimp", key), "granted");

  Deliver(rows,
          {Delivery(rows[0].id, InvalidArgument("HTTP 400: invalid resource"),
                    connectors::ErrorClass::kPermanent)},
          {}, 5, T + 300);
  ASSERT_EQ(Row(rows[0].id).status, store::OutboxStatus::kDead);
  EXPECT_EQ(LatestWrite("mailchimp", key), "<none>");

  const Policy policy = mapping::ToPolicy(*spec_);
  Run([&](store::Transaction& txn) -> Status {
    auto r = store::ReplayDeadLetters(txn, rows[0].id, T + 400, {});
    if (!r.ok()) return r.status();
    EXPECT_EQ(r->replayed.size(), 1u);
    for (const store::OutboxRow& row : r->replayed) {
      CONSENTD_RETURN_IF_ERROR(RememberDeadLetterSentAgain(txn, row, &policy, T + 400));
    }
    return Status::Ok();
  });
  EXPECT_EQ(LatestWrite("mailchimp", key), "granted");
}

TEST_F(SyncDeliveriesTest, ThePersonsGrantAtTheTargetOfADeadWriteIsDecidedNotEchoed) {
  const auto rows = ClaimRows(1, T + 200);
  ASSERT_EQ(rows.size(), 1u);
  Deliver(rows,
          {Delivery(rows[0].id, BlockedByTarget("member is in a compliance state"),
                    connectors::ErrorClass::kBlockedByTarget)},
          {}, 5, T + 300);
  ASSERT_EQ(Row(rows[0].id).status, store::OutboxStatus::kDead);
  // She subscribes at Mailchimp herself, a minute later.
  IngestSummary s =
      Ingest("mailchimp",
             {Record("mc-ev-1", "mc-1", "p1@example.org",
                     {Consent("newsletter", ConsentStatus::kGranted, T + 60'000, "mailchimp")})},
             T + 61'000);
  EXPECT_EQ(s.outcomes[Outcome::kEcho], 0) << "consentd never wrote that grant there";
}

// Memory a dead row did not write stays: the same value remembered by an
// earlier write (it keeps its older time), or another row of the person
// made with it or after it that is still on its way.
TEST_F(SyncDeliveriesTest, ADeadWriteLeavesTheEchoMemoryOfOtherWrites) {
  const auto rows = ClaimRows(1, T + 200);
  ASSERT_EQ(rows.size(), 1u);
  const std::string key = NewsletterKey(rows[0].key);
  Run([&](store::Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(txn.ForgetWrites("mailchimp", key));
    return txn.RememberWrite(store::EchoRow{"mailchimp", key, "granted", T + 50});
  });
  Deliver(rows,
          {Delivery(rows[0].id, InvalidArgument("HTTP 400"), connectors::ErrorClass::kPermanent)},
          {}, 5, T + 300);
  EXPECT_EQ(LatestWrite("mailchimp", key), "granted") << "remembered before the dead row was made";

  // A newer row of the same person, still pending, made at T + 400 with a
  // memory of its own; the older dead row's made_at is T + 100.
  Run([&](store::Transaction& txn) -> Status {
    store::OutboxRow newer = rows[0];
    newer.id = 0;
    newer.idempotency_key = "newer";
    newer.created_at = T + 400;
    newer.next_attempt_at = T + 400;
    newer.status = store::OutboxStatus::kPending;
    Result<std::int64_t> id = txn.Enqueue(newer);
    if (!id.ok()) return id.status();
    CONSENTD_RETURN_IF_ERROR(txn.ForgetWrites("mailchimp", key));
    CONSENTD_RETURN_IF_ERROR(
        txn.RememberWrite(store::EchoRow{"mailchimp", key, "granted", rows[0].created_at}));
    Result<connectors::DesiredState> d = connectors::DecodeDesiredState(rows[0].desired_json);
    if (!d.ok()) return d.status();
    return ForgetEchoesNeverDelivered(txn, "mailchimp", d->state, rows[0].created_at, rows[0].id);
  });
  EXPECT_EQ(LatestWrite("mailchimp", key), "granted") << "a live row made after it writes it";

  // Superseded before it was sent, that newer row wrote nothing either.
  Run([&](store::Transaction& txn) -> Status {
    store::OutboxRow newest = rows[0];
    newest.id = 0;
    newest.idempotency_key = "newest";
    newest.created_at = T + 500;
    newest.next_attempt_at = T + 500;
    newest.status = store::OutboxStatus::kPending;
    Result<std::int64_t> id = txn.Enqueue(newest);  // supersedes the T + 400 row
    if (!id.ok()) return id.status();
    CONSENTD_RETURN_IF_ERROR(txn.DeleteOutboxRow(*id));
    Result<connectors::DesiredState> d = connectors::DecodeDesiredState(rows[0].desired_json);
    if (!d.ok()) return d.status();
    return ForgetEchoesNeverDelivered(txn, "mailchimp", d->state, rows[0].created_at, rows[0].id);
  });
  EXPECT_EQ(LatestWrite("mailchimp", key), "<none>") << "no row made since writes it";
}

// A re-grant after an unsubscribe at Mailchimp goes there as a re-consent.
// What consentd remembers writing follows what the target took: `pending`
// (a member that goes through its double opt-in), or the grant itself (a
// member another grant keeps subscribed ticks the interest at once, also
// where the target kept another value of the row out); a `pending` left
// behind would hold the person's next rows as re-consents.
TEST_F(SyncDeliveriesTest, AReConsentIsRememberedAsTheTargetTookIt) {
  for (const int taken : {0, 1, 2}) {
    const bool as_pending = taken == 0;
    SCOPED_TRACE(as_pending   ? "taken as pending"
                 : taken == 1 ? "taken as a grant"
                              : "taken as a grant, another value kept out");
    const std::string n = std::to_string(taken + 1);
    const std::string email = "re" + n + "@example.org";
    Ingest(
        "hubspot",
        {Record("ev-a" + n, "10" + n, email, {Consent("newsletter", ConsentStatus::kGranted, T)})},
        T + 100);
    const std::vector<store::OutboxRow> first = Claim(T + 150);
    ASSERT_EQ(first.size(), 1u);
    connectors::DeliveryResult written = Delivery(first[0].id, Status::Ok(), {});
    written.system_id = "mc-" + n;
    Deliver(first, {written}, {}, 5, T + 200);
    Ingest("mailchimp",
           {Record("mc-ev-a" + n, "mc-" + n, email,
                   {Consent("newsletter", ConsentStatus::kWithdrawn, T + 10'000, "mailchimp")})},
           T + 10'100);
    Ingest("hubspot",
           {Record("ev-b" + n, "10" + n, email,
                   {Consent("newsletter", ConsentStatus::kGranted, T + 20'000)})},
           T + 20'100);
    const std::vector<store::OutboxRow> rows = Claim(T + 20'200);
    ASSERT_EQ(rows.size(), 1u);
    ASSERT_EQ(Desired(rows[0]).reconsent_topics, std::set<std::string>{"newsletter"});
    const std::string key = NewsletterKey(rows[0].key);
    ASSERT_EQ(LatestWrite("mailchimp", key), "pending") << "as decided";
    connectors::DeliveryResult ok = Delivery(rows[0].id, Status::Ok(), {});
    ok.system_id = "mc-" + n;
    ok.reconsent = as_pending;
    if (taken == 2)
      ok.kept_out = {ConsentKeyString(ConsentKey{rows[0].key, "events", "email", ""})};
    Deliver(rows, {ok}, {}, 5, T + 20'300);
    EXPECT_EQ(LatestWrite("mailchimp", key), as_pending ? "pending" : "granted");
  }
}

TEST_F(SyncDeliveriesTest, RetryableFailureAtMaxAttemptsIsDeadWithARejectedEntry) {
  auto rows = ClaimRows(1, T + 200);
  ASSERT_EQ(rows.size(), 1u);
  Deliver(rows, {Delivery(rows[0].id, Unavailable("timeout"), connectors::ErrorClass::kRetryable)},
          {}, 2, T + 300);
  EXPECT_EQ(Row(rows[0].id).status, store::OutboxStatus::kPending);
  rows = Claim(T + 400);  // due again (retry_at defaulted to now), attempt 2
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].attempts, 2);
  IngestSummary s = Deliver(
      rows, {Delivery(rows[0].id, Unavailable("timeout"), connectors::ErrorClass::kRetryable)}, {},
      2, T + 500);
  EXPECT_EQ(s.proof_entries, 1u);
  const store::OutboxRow dead = Row(rows[0].id);
  EXPECT_EQ(dead.status, store::OutboxStatus::kDead);
  EXPECT_NE(dead.reason.find("retries exhausted"), std::string::npos) << dead.reason;
}

// An erasure is owed whatever the outage: past max_attempts it is retried
// again rather than dead-lettered (which would wait for an operator).
TEST_F(SyncDeliveriesTest, AnErasureIsRetriedPastMaxAttempts) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org",
                 {Consent("newsletter", ConsentStatus::kGranted, T)})},
         T + 100);
  Ingest("hubspot", {Record("ev-2", "101", "anna@example.org", {testing::Erasure(T + 1000)})},
         T + 1100);
  TimestampMs now = T + 2000;
  for (int attempt = 1; attempt <= 4; ++attempt, now += 100) {
    std::vector<store::OutboxRow> rows = Claim(now);
    ASSERT_EQ(rows.size(), 1u) << "attempt " << attempt;
    ASSERT_TRUE(Desired(rows[0]).erase);
    Deliver(rows,
            {Delivery(rows[0].id, Unavailable("timeout"), connectors::ErrorClass::kRetryable)}, {},
            2, now + 50);
    EXPECT_EQ(Row(rows[0].id).status, store::OutboxStatus::kPending) << "attempt " << attempt;
  }
}

// An operator marks the journey's erasure done by hand while its erasure
// row is in flight: whatever the answer, the row goes, address and all,
// rather than being retried for ever or kept as a dead letter.
TEST_F(SyncDeliveriesTest, AnErasureRowAnsweredAfterItsTargetWasMarkedManualIsRemoved) {
  const std::vector<std::pair<connectors::ErrorClass, Status>> answers = {
      {connectors::ErrorClass::kRetryable, Unavailable("timeout")},
      {connectors::ErrorClass::kPermanent, InvalidArgument("member is gone")},
      {connectors::ErrorClass::kRetryable, Status::Ok()}};
  int n = 0;
  for (const auto& [error_class, status] : answers) {
    SCOPED_TRACE(status.ToString());
    const std::string id = std::to_string(101 + n);
    const std::string email = "person" + std::to_string(n) + "@example.org";
    const TimestampMs t = T + n * 100'000;
    ++n;
    Ingest("hubspot",
           {Record("ev-a" + id, id, email, {Consent("newsletter", ConsentStatus::kGranted, t)})},
           t + 100);
    Ingest("hubspot", {Record("ev-b" + id, id, email, {testing::Erasure(t + 1000)})}, t + 1100);
    std::vector<store::OutboxRow> rows = Claim(t + 2000);
    ASSERT_EQ(rows.size(), 1u);
    ASSERT_TRUE(Desired(rows[0]).erase);
    const std::string subject = rows[0].key;
    Run([&](store::Transaction& txn) -> Status {
      auto request = store::FindErasureRequestBySubject(txn, subject);
      if (!request.ok()) return request.status();
      if (!request->has_value()) return NotFound("no erasure request");
      return store::MarkErasureTargetManual(txn, (*request)->id, "mailchimp", "ticket 9", t + 2100);
    });
    Deliver(rows, {Delivery(rows[0].id, status, error_class)}, {}, 5, t + 2200);
    Run([&](store::Transaction& txn) -> Status {
      auto row = txn.GetOutbox(rows[0].id);
      if (!row.ok()) return row.status();
      EXPECT_FALSE(row->has_value()) << "the erasure row is kept, address and all";
      return Status::Ok();
    });
    EXPECT_TRUE(Claim(t + 400'000).empty()) << "the erasure is asked again";
  }
}

// A refused credential (the daemon turns a 401 or 403 into a retryable
// failure) is the connector's, not the row's: past max_attempts the row
// waits for the new secret instead of dying.
TEST_F(SyncDeliveriesTest, ARowRefusedForTheCredentialIsRetriedPastMaxAttempts) {
  TimestampMs now = T + 200;
  auto rows = ClaimRows(1, now);
  ASSERT_EQ(rows.size(), 1u);
  for (int attempt = 1; attempt <= 4; ++attempt, now += 100) {
    if (attempt > 1) rows = Claim(now);
    ASSERT_EQ(rows.size(), 1u) << "attempt " << attempt;
    const Status refused = attempt % 2 == 0 ? Status(StatusCode::kUnauthenticated, "401")
                                            : Status(StatusCode::kPermissionDenied, "403");
    IngestSummary s = Deliver(
        rows, {Delivery(rows[0].id, refused, connectors::ErrorClass::kRetryable)}, {}, 2, now + 50);
    EXPECT_EQ(s.proof_entries, 0u) << "attempt " << attempt;
    EXPECT_EQ(Row(rows[0].id).status, store::OutboxStatus::kPending) << "attempt " << attempt;
  }
}

// The same for a used-up request budget (429): HubSpot's daily limit lasts
// until midnight, longer than max_attempts tries at the backoff's pace.
TEST_F(SyncDeliveriesTest, ARowRefusedForTheRequestBudgetIsRetriedPastMaxAttempts) {
  TimestampMs now = T + 200;
  auto rows = ClaimRows(1, now);
  for (int attempt = 1; attempt <= 4; ++attempt, now += 100) {
    if (attempt > 1) rows = Claim(now);
    ASSERT_EQ(rows.size(), 1u) << "attempt " << attempt;
    IngestSummary s = Deliver(
        rows,
        {Delivery(rows[0].id, ResourceExhausted("429 DAILY"), connectors::ErrorClass::kRetryable)},
        {}, 2, now + 50);
    EXPECT_EQ(s.proof_entries, 0u) << "attempt " << attempt;
    EXPECT_EQ(Row(rows[0].id).status, store::OutboxStatus::kPending) << "attempt " << attempt;
  }
}

TEST_F(SyncDeliveriesTest, ResultForARowThatMovedOnIsIgnored) {
  const auto rows = ClaimRows(1, T + 200);
  ASSERT_EQ(rows.size(), 1u);
  Deliver(rows, {Delivery(rows[0].id, Status::Ok(), {})}, {}, 3, T + 300);
  // The same result again (a duplicate report): the row is done already.
  IngestSummary s = Deliver(rows, {Delivery(rows[0].id, Status::Ok(), {})}, {}, 3, T + 400);
  EXPECT_EQ(s.proof_entries, 0u);
  EXPECT_EQ(Row(rows[0].id).status, store::OutboxStatus::kDone);
}

}  // namespace
}  // namespace consentd::sync
