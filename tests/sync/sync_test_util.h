// The sync engine tests' fixture: a real SQLite store in a temp directory,
// the worked example mapping (config/examples/hubspot-mailchimp.yaml) and
// builders for inbound records as the connectors produce them.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../store/store_test_util.h"
#include "connectors/common/desired_state.h"
#include "core/keyed_hash.h"
#include "mapping/loader.h"
#include "store/proof_log_store.h"
#include "sync/sync_engine.h"

namespace consentd::sync::testing {

inline constexpr TimestampMs T = 1'750'000'000'000;  // a capture time
inline const std::string kKey(32, 'k');              // identity key

inline Change Consent(std::string topic, ConsentStatus status, TimestampMs at,
                      std::string source = "hubspot", std::string event = "",
                      ConsentMethod method = ConsentMethod::kDoubleOptIn) {
  Change c;
  c.kind = ChangeKind::kConsent;
  c.key.topic = std::move(topic);
  c.key.channel = "email";
  c.status = status;
  c.method = method;
  c.provenance.occurred_at = at;
  c.provenance.source_system = std::move(source);
  c.provenance.source_event_id = std::move(event);
  return c;
}

inline Change Block(BlockScope scope, bool set, TimestampMs at, std::string source = "hubspot") {
  Change c;
  c.kind = set ? ChangeKind::kBlockSet : ChangeKind::kBlockCleared;
  c.scope = std::move(scope);
  c.provenance.occurred_at = at;
  c.provenance.source_system = std::move(source);
  return c;
}

inline Change Erasure(TimestampMs at, std::string source = "hubspot") {
  Change c;
  c.kind = ChangeKind::kErasure;
  c.provenance.occurred_at = at;
  c.provenance.source_system = std::move(source);
  return c;
}

inline connectors::InboundRecord Record(std::string event_id, std::string system_id,
                                        std::string email, std::vector<Change> changes) {
  connectors::InboundRecord r;
  r.event_id = std::move(event_id);
  r.system_id = std::move(system_id);
  r.email = std::move(email);
  r.mapped.changes = std::move(changes);
  return r;
}

class SyncEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::testing::OpenOrDie(dir_.File("consentd.db"));
    ASSERT_NE(store_, nullptr);
    Result<mapping::MappingSpec> spec = mapping::LoadMappingFromConfigFile(
        std::string(CONSENTD_SOURCE_DIR) + "/config/examples/hubspot-mailchimp.yaml");
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    spec_ = std::make_shared<const mapping::MappingSpec>(std::move(*spec));
    engine_ = std::make_unique<SyncEngine>(EngineSettings{spec_, kKey});
  }

  // Runs `work` as one unit of work and expects it to commit.
  void Run(const std::function<Status(store::Transaction&)>& work) {
    Status s = store_->Run(work);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  IngestSummary Ingest(const std::string& source, std::vector<connectors::InboundRecord> records,
                       TimestampMs now) {
    IngestSummary out;
    Run([&](store::Transaction& txn) -> Status {
      Result<IngestSummary> r = engine_->Ingest(txn, source, records, now);
      if (!r.ok()) return r.status();
      out = std::move(*r);
      return Status::Ok();
    });
    return out;
  }

  // --- one person, Anna: HubSpot contact 101, Mailchimp member mc-1 ---

  // She subscribed at the journey (T - 60 s), then withdrew in the CRM at T:
  // one row, the withdrawal, is queued to Mailchimp.
  void GrantedAtJourneyThenWithdrawnInCrm() {
    Ingest("mailchimp",
           {Record("mc-ev-0", "mc-1", "anna@example.org",
                   {Consent("newsletter", ConsentStatus::kGranted, T - 60'000, "mailchimp")})},
           T - 59'000);
    Ingest("hubspot",
           {Record("ev-1", "101", "anna@example.org",
                   {Consent("newsletter", ConsentStatus::kWithdrawn, T)})},
           T + 100);
  }

  // She is known in both systems, withdrawn from the newsletter in the CRM
  // long ago (that withdrawal delivered to the journey); her subject.
  std::string WithdrawnInCrmLongAgo() {
    Ingest("hubspot",
           {Record("ev-0", "101", "anna@example.org",
                   {Consent("newsletter", ConsentStatus::kWithdrawn, T - 60'000)})},
           T - 59'000);
    const std::string person = SubjectOf("hubspot", "101");
    DeliverTheOnlyRow("mailchimp", T - 58'000);
    return person;
  }

  // Mailchimp reports her newsletter `status` dated `at` (event `event`).
  IngestSummary JourneyReports(const std::string& event, ConsentStatus status, TimestampMs at) {
    return Ingest("mailchimp",
                  {Record(event, "mc-1", "anna@example.org",
                          {Consent("newsletter", status, at, "mailchimp")})},
                  at + 100);
  }

  // Claims the one row queued to `target` at `at`; its id (0 if not one).
  std::int64_t ClaimTheOnlyRow(const std::string& target, TimestampMs at) {
    std::int64_t id = 0;
    Run([&](store::Transaction& txn) -> Status {
      auto claimed = txn.ClaimOutbox(target, at, 10, at + 100'000);
      if (!claimed.ok()) return claimed.status();
      if (claimed->size() != 1u) return Internal("expected one row to " + target);
      id = claimed->front().id;
      return Status::Ok();
    });
    return id;
  }

  // Delivers the one row queued to `target` at `at`.
  void DeliverTheOnlyRow(const std::string& target, TimestampMs at) {
    const std::int64_t id = ClaimTheOnlyRow(target, at);
    Run([&](store::Transaction& txn) -> Status { return txn.MarkDone(id, at + 100); });
  }

  std::string SubjectOf(const std::string& system, const std::string& id) {
    std::string subject;
    Run([&](store::Transaction& txn) -> Status {
      Result<std::optional<std::string>> s = txn.FindSubjectBySystemId(system, id);
      if (!s.ok()) return s.status();
      subject = s->value_or("");
      return Status::Ok();
    });
    return subject;
  }

  std::vector<store::ConsentRow> Consents(const std::string& subject) {
    std::vector<store::ConsentRow> out;
    Run([&](store::Transaction& txn) -> Status {
      auto r = txn.ListConsents(subject);
      if (!r.ok()) return r.status();
      out = std::move(*r);
      return Status::Ok();
    });
    return out;
  }

  // Outbox rows of `target` in `status`, by id.
  std::vector<store::OutboxRow> Outbox(const std::string& target,
                                       store::OutboxStatus status = store::OutboxStatus::kPending) {
    std::vector<store::OutboxRow> out;
    Run([&](store::Transaction& txn) -> Status {
      auto r = txn.ListOutbox(status, 0, 1000);
      if (!r.ok()) return r.status();
      for (store::OutboxRow& row : *r) {
        if (row.target == target) out.push_back(std::move(row));
      }
      return Status::Ok();
    });
    return out;
  }

  std::uint64_t ProofSize() {
    std::uint64_t n = 0;
    Run([&](store::Transaction& txn) -> Status {
      Result<std::uint64_t> r = store::ProofTreeSize(txn);
      if (!r.ok()) return r.status();
      n = *r;
      return Status::Ok();
    });
    return n;
  }

  static connectors::DesiredState Desired(const store::OutboxRow& row) {
    Result<connectors::DesiredState> d = connectors::DecodeDesiredState(row.desired_json);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? *d : connectors::DesiredState{};
  }

  static std::string EmailHash(const std::string& email) {
    Result<std::string> h = IdentifierHash(kKey, IdentifierKind::kEmail, email);
    EXPECT_TRUE(h.ok());
    return h.ok() ? *h : "";
  }

  store::testing::TempDir dir_;
  std::unique_ptr<store::SqliteStore> store_;
  std::shared_ptr<const mapping::MappingSpec> spec_;
  std::unique_ptr<SyncEngine> engine_;
};

}  // namespace consentd::sync::testing
