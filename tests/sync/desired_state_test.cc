// The desired-state codec (connectors/common/desired_state.h): part of the
// database format, so it must round-trip exactly and refuse anything else.
#include "connectors/common/desired_state.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <tuple>
#include <vector>

namespace consentd::connectors {
namespace {

DesiredState Sample() {
  DesiredState d;
  d.subject = "s-0123456789abcdef";
  d.email = "anna@example.org";
  d.system_id = "mc-42";
  d.mapping_hash = "abc123";
  d.reconsent_topics = {"newsletter"};
  d.state.subject = d.subject;
  ConsentRecord c;
  c.key = {d.subject, "newsletter", "email", ""};
  c.status = ConsentStatus::kGranted;
  c.legal_basis = "eu-gdpr:A6-1-a";
  c.method = ConsentMethod::kDoubleOptIn;
  c.notice_version = "2026-01";
  c.provenance = {1000, 2000, "hubspot", "ev-1"};
  d.state.consents[c.key] = c;
  ConsentRecord addressed = c;
  addressed.key.address = "anna@example.org";
  addressed.status = ConsentStatus::kWithdrawn;
  d.state.consents[addressed.key] = addressed;
  BlockRecord b;
  b.subject = d.subject;
  b.scope = BlockScope::Channel("email");
  b.active = true;
  b.reason = BlockReason::kUnsubscribed;
  b.since = 1000;
  b.until = 5000;
  b.provenance = {1000, 2000, "mailchimp", "ev-2"};
  d.state.blocks[b.scope] = b;
  return d;
}

TEST(SyncDesiredState, RoundTripsEveryField) {
  const DesiredState d = Sample();
  const std::string json = EncodeDesiredState(d);
  Result<DesiredState> back = DecodeDesiredState(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, d);
  EXPECT_EQ(EncodeDesiredState(*back), json) << "encoding must be stable";
  EXPECT_NE(json.find("\"format\":\"consentd-desired/1\""), std::string::npos) << json;
}

TEST(SyncDesiredState, ErasureRoundTripsWithEmptyState) {
  DesiredState d;
  d.subject = "s-1";
  d.email = "x@example.org";
  d.erase = true;
  d.state.subject = "s-1";
  Result<DesiredState> back = DecodeDesiredState(EncodeDesiredState(d));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, d);
  EXPECT_EQ(EncodeDesiredState(d).find("also_erase"), std::string::npos)
      << "absent when empty: rows written before it decode the same";
}

// After a merge an erasure names the person's other records at the target.
TEST(SyncDesiredState, ErasureRoundTripsTheOtherRecordsToErase) {
  DesiredState d;
  d.subject = "s-1";
  d.email = "x@example.org";
  d.erase = true;
  d.also_erase = {"y@example.org", "z@example.org"};
  d.state.subject = "s-1";
  const std::string json = EncodeDesiredState(d);
  Result<DesiredState> back = DecodeDesiredState(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, d);
  std::string bad = json;
  bad.replace(bad.find("\"y@example.org\""), 15, "7");
  Result<DesiredState> r = DecodeDesiredState(bad);
  ASSERT_FALSE(r.ok()) << bad;
  EXPECT_NE(r.status().message().find("also_erase[0]"), std::string::npos) << r.status().message();
}

// For the generic connector the erasure also carries those records' ids.
TEST(SyncDesiredState, ErasureRoundTripsTheOtherRecordsIds) {
  DesiredState d;
  d.subject = "s-1";
  d.email = "x@example.org";
  d.system_id = "c-1";
  d.erase = true;
  d.also_erase = {"y@example.org", "z@example.org"};
  d.also_erase_ids = {{"y@example.org", "c-2"}, {"z@example.org", "c-3"}};
  d.state.subject = "s-1";
  const std::string json = EncodeDesiredState(d);
  EXPECT_NE(json.find(R"("also_erase_ids":{"y@example.org":"c-2","z@example.org":"c-3"})"),
            std::string::npos)
      << json;
  Result<DesiredState> back = DecodeDesiredState(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, d);
  for (const auto& [from, to, field] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {R"("c-2")", "7", "also_erase_ids.y@example.org"},
           {R"({"y@example.org":"c-2","z@example.org":"c-3"})", "[]", "also_erase_ids"}}) {
    std::string bad = json;
    bad.replace(bad.find(from), from.size(), to);
    Result<DesiredState> r = DecodeDesiredState(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status().message();
  }
}

TEST(SyncDesiredState, DecodeErrorsNameTheField) {
  const std::string good = EncodeDesiredState(Sample());
  struct Case {
    std::string from, to, field;
  };
  for (const Case& c : std::vector<Case>{
           {"\"format\":\"consentd-desired/1\"", "\"format\":\"consentd-desired/9\"", "format"},
           {"\"erase\":false", "\"erase\":\"no\"", "erase"},
           {"\"status\":\"granted\"", "\"status\":\"maybe\"", "consents[0].status"},
           {"\"scope\":\"channel:email\"", "\"scope\":\"galaxy:x\"", "blocks[0].scope"},
           {"\"since\":1000", "\"since\":\"1000\"", "blocks[0].since"},
           {"\"reconsent_topics\":[\"newsletter\"]", "\"reconsent_topics\":[1]",
            "reconsent_topics[0]"},
           {"\"subject\":\"s-0123456789abcdef\",", "", "subject"},
       }) {
    std::string bad = good;
    const auto at = bad.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    bad.replace(at, c.from.size(), c.to);
    Result<DesiredState> r = DecodeDesiredState(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.field), std::string::npos) << r.status().message();
  }
  EXPECT_FALSE(DecodeDesiredState("not json").ok());
  EXPECT_FALSE(DecodeDesiredState("[1]").ok());
}

TEST(SyncDesiredState, RecordFormsRoundTripWithTheirSubject) {
  const DesiredState d = Sample();
  for (const auto& [key, record] : d.state.consents) {
    Result<ConsentRecord> back = DecodeConsentRecord(EncodeConsentRecord(record), d.subject);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, record);
  }
  const BlockRecord& b = d.state.blocks.begin()->second;
  Result<BlockRecord> back = DecodeBlockRecord(EncodeBlockRecord(b), d.subject);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, b);
}

// The bytes are part of the database format (outbox rows, consent and block
// rows): this is Sample() as the tree encoder wrote it before the encoders
// wrote text directly.
TEST(SyncDesiredState, TheTextOfASampleIsPinned) {
  EXPECT_EQ(
      EncodeDesiredState(Sample()),
      R"({"blocks":[{"active":true,"occurred_at":1000,"reason":"unsubscribed","recorded_at":2000,"scope":"channel:email","since":1000,"source_event_id":"ev-2","source_system":"mailchimp","until":5000}],"consents":[{"address":"","channel":"email","legal_basis":"eu-gdpr:A6-1-a","method":"double_opt_in","notice_version":"2026-01","occurred_at":1000,"recorded_at":2000,"source_event_id":"ev-1","source_system":"hubspot","status":"granted","topic":"newsletter"},{"address":"anna@example.org","channel":"email","legal_basis":"eu-gdpr:A6-1-a","method":"double_opt_in","notice_version":"2026-01","occurred_at":1000,"recorded_at":2000,"source_event_id":"ev-1","source_system":"hubspot","status":"withdrawn","topic":"newsletter"}],"email":"anna@example.org","erase":false,"format":"consentd-desired/1","mapping_hash":"abc123","reconsent_topics":["newsletter"],"subject":"s-0123456789abcdef","system_id":"mc-42"})");
}

// Every variant the encoders branch on, each string field in turn holding
// characters to escape, non-ASCII text, and bytes that are not UTF-8.
std::vector<DesiredState> Variants() {
  std::vector<DesiredState> out;
  out.push_back(Sample());
  DesiredState full = Sample();
  full.notice_marker_topics = {"events", "news"};
  full.also_erase = {"b@example.org", "a@example.org"};
  ConsentRecord c = full.state.consents.begin()->second;
  c.key.topic = "events";
  c.reconsent_notice = "2026-07";
  c.provenance.occurred_at = -5;
  full.state.consents[c.key] = c;
  out.push_back(full);
  DesiredState erase;
  erase.subject = "s-1";
  erase.email = "gone@example.org";
  erase.erase = true;
  erase.also_erase = {"other@example.org"};
  out.push_back(erase);
  erase.also_erase_ids = {{"other@example.org", "c-7"}, {"a@example.org", "c-8"}};
  out.push_back(erase);
  out.push_back(DesiredState{});
  const std::vector<std::string> awkward = {"q\"b\\s\b\f\n\r\t\x01\x1f\x7f", "Zürich 日本 🙂",
                                            "bad \xff\xfe", "cut \xc3", ""};
  using Edit = std::function<void(DesiredState&, const std::string&)>;
  auto first_consent = [](DesiredState& d) -> ConsentRecord& {
    return d.state.consents.begin()->second;
  };
  const std::vector<Edit> edits = {
      [](DesiredState& d, const std::string& v) { d.subject = v; },
      [](DesiredState& d, const std::string& v) { d.email = v; },
      [](DesiredState& d, const std::string& v) { d.system_id = v; },
      [](DesiredState& d, const std::string& v) { d.mapping_hash = v; },
      [](DesiredState& d, const std::string& v) { d.reconsent_topics.insert(v); },
      [](DesiredState& d, const std::string& v) { d.notice_marker_topics.insert(v); },
      [](DesiredState& d, const std::string& v) { d.also_erase.insert(v); },
      [](DesiredState& d, const std::string& v) { d.also_erase_ids[v] = v; },
      [&](DesiredState& d, const std::string& v) { first_consent(d).legal_basis = v; },
      [&](DesiredState& d, const std::string& v) { first_consent(d).notice_version = v; },
      [&](DesiredState& d, const std::string& v) { first_consent(d).reconsent_notice = v; },
      [&](DesiredState& d, const std::string& v) { first_consent(d).provenance.source_system = v; },
      [&](DesiredState& d, const std::string& v) {
        first_consent(d).provenance.source_event_id = v;
      },
      [](DesiredState& d, const std::string& v) {
        ConsentRecord odd = d.state.consents.begin()->second;
        odd.key.topic = v;
        odd.key.address = v;
        odd.key.channel = v;
        d.state.consents[odd.key] = odd;
      },
      [](DesiredState& d, const std::string& v) {
        BlockRecord& b = d.state.blocks.begin()->second;
        b.provenance.source_event_id = v;
        b.provenance.source_system = v;
        b.scope = BlockScope::Channel(v);
      },
  };
  for (const Edit& edit : edits) {
    for (const std::string& v : awkward) {
      DesiredState d = Sample();
      edit(d, v);
      out.push_back(d);
    }
  }
  return out;
}

TEST(SyncDesiredState, TheTextIsTheTreeEncodersByteForByte) {
  for (const DesiredState& d : Variants()) {
    EXPECT_EQ(EncodeDesiredState(d), by_tree::EncodeDesiredState(d));
    for (const auto& [key, record] : d.state.consents) {
      EXPECT_EQ(EncodeConsentRecord(record), by_tree::EncodeConsentRecord(record));
    }
    for (const auto& [scope, record] : d.state.blocks) {
      EXPECT_EQ(EncodeBlockRecord(record), by_tree::EncodeBlockRecord(record));
    }
  }
}

}  // namespace
}  // namespace consentd::connectors
