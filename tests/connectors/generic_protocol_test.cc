// consentd's open event protocol (connectors/generic/protocol.h): Standard
// Webhooks verification with the published vectors and key rotation, strict
// event validation that names the failing field, RFC 3339 times, and the
// mapping of events to canonical changes for the worked example's systems.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "connectors/common/webhook_signatures.h"
#include "connectors/generic/protocol.h"
#include "core/consent_types.h"
#include "mapping/loader.h"
#include "mapping/policy.h"

namespace consentd::connectors::generic {
namespace {

using nlohmann::json;

json ReadJson(const std::string& relative) {
  std::ifstream in(std::string(CONSENTD_SOURCE_DIR) + "/" + relative);
  std::stringstream s;
  s << in.rdbuf();
  return json::parse(s.str());
}

net::HttpRequest Signed(std::string body, std::string id, std::int64_t ts, std::string sig) {
  net::HttpRequest r;
  r.method = "POST";
  r.body = std::move(body);
  r.headers = {{"webhook-id", std::move(id)},
               {"webhook-timestamp", std::to_string(ts)},
               {"webhook-signature", std::move(sig)}};
  return r;
}

// --- Standard Webhooks ---------------------------------------------------------

TEST(GenericProtocolSignatures, PublishedVectorsVerify) {
  const json sw =
      ReadJson("tests/data/webhooks/webhook_signature_vectors.json")["standard_webhooks"];
  for (const json& v : sw["vectors"]) {
    const std::int64_t ts = v["timestamp"].get<std::int64_t>();
    net::HttpRequest r = Signed(v["payload"], v["msg_id"], ts, v["expected_signature"]);
    EXPECT_TRUE(VerifyEventRequest(r, {v["secret"]}, ts * 1000).ok()) << v["msg_id"];
    // The secret without its whsec_ prefix is the same key.
    const std::string bare = v["secret"].get<std::string>().substr(6);
    EXPECT_TRUE(VerifyEventRequest(r, {bare}, ts * 1000).ok());
  }
}

TEST(GenericProtocolSignatures, PublishedNegativesAreUnauthenticated) {
  const json sw =
      ReadJson("tests/data/webhooks/webhook_signature_vectors.json")["standard_webhooks"];
  const json& v = sw["vectors"][0];
  const std::int64_t ts = v["timestamp"].get<std::int64_t>();
  for (const json& bad : sw["negative_signatures_from_tests"]) {
    std::string sig = bad.get<std::string>();
    if (sig.rfind("v2,", 0) == 0) {
      // An unknown version is skipped, so a lone v2 entry verifies nothing.
      sig = "v2," + v["expected_signature"].get<std::string>().substr(3);
    }
    net::HttpRequest r = Signed(v["payload"], v["msg_id"], ts, sig);
    EXPECT_EQ(VerifyEventRequest(r, {v["secret"]}, ts * 1000).code(), StatusCode::kUnauthenticated)
        << sig;
  }
  // A changed body, id or timestamp breaks the signature.
  net::HttpRequest r =
      Signed(v["payload"].get<std::string>() + " ", v["msg_id"], ts, v["expected_signature"]);
  EXPECT_EQ(VerifyEventRequest(r, {v["secret"]}, ts * 1000).code(), StatusCode::kUnauthenticated);
  r = Signed(v["payload"], "msg_other", ts, v["expected_signature"]);
  EXPECT_EQ(VerifyEventRequest(r, {v["secret"]}, ts * 1000).code(), StatusCode::kUnauthenticated);
  r = Signed(v["payload"], v["msg_id"], ts + 1, v["expected_signature"]);
  EXPECT_EQ(VerifyEventRequest(r, {v["secret"]}, ts * 1000).code(), StatusCode::kUnauthenticated);
}

TEST(GenericProtocolSignatures, MissingHeadersOrSecretsAreUnauthenticated) {
  net::HttpRequest r;
  r.body = "{}";
  EXPECT_EQ(VerifyEventRequest(r, {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, 0).code(),
            StatusCode::kUnauthenticated);
  r = Signed("{}", "m", 1, "v1,abc=");
  EXPECT_EQ(VerifyEventRequest(r, {}, 1000).code(), StatusCode::kUnauthenticated);
}

TEST(GenericProtocolSignatures, ToleranceIsFiveMinutesEitherWay) {
  const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const std::int64_t ts = 1'700'000'000;
  const std::string sig = *StandardWebhooksSign(secret, "msg_1", ts, "{}");
  net::HttpRequest r = Signed("{}", "msg_1", ts, sig);
  EXPECT_TRUE(VerifyEventRequest(r, {secret}, (ts + 300) * 1000).ok());
  EXPECT_TRUE(VerifyEventRequest(r, {secret}, (ts - 300) * 1000).ok());
  EXPECT_EQ(VerifyEventRequest(r, {secret}, (ts + 301) * 1000).code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyEventRequest(r, {secret}, (ts - 301) * 1000).code(),
            StatusCode::kUnauthenticated);
}

TEST(GenericProtocolSignatures, RotationAcceptsEitherSecretAndEitherSignature) {
  const std::string old_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const std::string new_secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
  const std::int64_t ts = 1'700'000'000;
  const std::string by_old = *StandardWebhooksSign(old_secret, "msg_r", ts, "{}");
  const std::string by_new = *StandardWebhooksSign(new_secret, "msg_r", ts, "{}");
  // The receiver knows both secrets (the new one first); the sender signs
  // with the old one only.
  EXPECT_TRUE(
      VerifyEventRequest(Signed("{}", "msg_r", ts, by_old), {new_secret, old_secret}, ts * 1000)
          .ok());
  // The sender signs with both; the receiver knows only the new one.
  EXPECT_TRUE(
      VerifyEventRequest(Signed("{}", "msg_r", ts, by_old + " " + by_new), {new_secret}, ts * 1000)
          .ok());
  // Neither secret matches.
  EXPECT_EQ(VerifyEventRequest(Signed("{}", "msg_r", ts, by_old), {new_secret}, ts * 1000).code(),
            StatusCode::kUnauthenticated);
}

// --- RFC 3339 -------------------------------------------------------------------

TEST(GenericProtocolTime, Rfc3339ParsesOffsetsFractionsAndLeapDays) {
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseRfc3339("2026-03-01T10:00:00Z"), 1772359200000);
  EXPECT_EQ(*ParseRfc3339("2026-03-01T11:00:00.250+01:00"), 1772359200250);
  EXPECT_EQ(*ParseRfc3339("2026-03-01t09:30:00.5-00:30"), 1772359200500);
  EXPECT_TRUE(ParseRfc3339("2024-02-29T00:00:00Z").ok());
  for (const char* bad :
       {"2025-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-03-01T24:00:00Z",
        "2026-03-01 10:00:00Z", "2026-03-01T10:00:00", "2026-03-01T10:00:00.Z",
        "2026-03-01T10:00:00+0100", "2026-03-01T10:00:00Zjunk", "1772359200000", ""}) {
    EXPECT_FALSE(ParseRfc3339(bad).ok()) << bad;
  }
}

TEST(GenericProtocolTime, FormatRoundTrips) {
  for (TimestampMs t :
       {TimestampMs{0}, TimestampMs{1772359200250}, TimestampMs{951782400000}, TimestampMs{-1}}) {
    EXPECT_EQ(*ParseRfc3339(FormatRfc3339(t)), t) << FormatRfc3339(t);
  }
  EXPECT_EQ(FormatRfc3339(1772359200250), "2026-03-01T10:00:00.250Z");
}

// --- Validation -----------------------------------------------------------------

TEST(GenericProtocolEvents, SampleBodiesAreAcceptedOrRefusedNamingTheField) {
  // The same samples are checked against docs/protocol/*.schema.json by
  // tests/connectors/generic_protocol_schemas.py: validator and schemas agree.
  const json samples = ReadJson("tests/data/protocol/samples.json");
  ASSERT_GE(samples["valid"].size(), 10u);
  for (const json& c : samples["valid"]) {
    Result<std::vector<ProtocolEvent>> r = ParseEvents(c["body"].dump());
    EXPECT_TRUE(r.ok()) << c["name"] << ": " << r.status().ToString();
  }
  ASSERT_GE(samples["invalid"].size(), 30u);
  for (const json& c : samples["invalid"]) {
    Result<std::vector<ProtocolEvent>> r = ParseEvents(c["body"].dump());
    ASSERT_FALSE(r.ok()) << c["name"];
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    const std::string want = c["pointer"].get<std::string>() + ": ";
    EXPECT_EQ(r.status().message().substr(0, want.size()), want)
        << c["name"] << ": " << r.status().message();
  }
}

TEST(GenericProtocolEvents, StatusRefusalListsTheAllowedValues) {
  Result<std::vector<ProtocolEvent>> r = ParseEvents(
      R"({"id":"e","type":"consent.changed","occurred_at":"2026-03-01T10:00:00Z",
          "subject":{"id":"c"},"data":{"topic":"t","channel":"c","status":"yes"}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "/data/status: must be one of granted, withdrawn, refused, pending");
}

TEST(GenericProtocolEvents, BodiesThatAreNotEventsAreRefused) {
  for (const char* body : {"", "not json", "[]", "42", R"({"events":[{}],"extra":1})"}) {
    Result<std::vector<ProtocolEvent>> r = ParseEvents(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
  json big = json::array();
  const json one = ReadJson("tests/data/protocol/samples.json")["valid"][0]["body"];
  for (std::size_t i = 0; i <= kMaxBatchEvents; ++i) big.push_back(one);
  Result<std::vector<ProtocolEvent>> r = ParseEvents(json{{"events", big}}.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().substr(0, 9), "/events: ");
}

TEST(GenericProtocolEvents, EvidenceIsSizeLimited) {
  json e = ReadJson("tests/data/protocol/samples.json")["valid"][0]["body"];
  e["data"]["evidence"]["form"] = std::string(kMaxEvidenceBytes, 'x');
  Result<std::vector<ProtocolEvent>> r = ParseEvents(e.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().substr(0, 16), "/data/evidence: ");
}

// The schema allows at most 64 evidence fields; the validator agrees.
TEST(GenericProtocolEvents, EvidenceHasAtMostSixtyFourFields) {
  json e = ReadJson("tests/data/protocol/samples.json")["valid"][0]["body"];
  e["data"]["evidence"] = json::object();
  for (int i = 0; i < 64; ++i) e["data"]["evidence"]["f" + std::to_string(i)] = i;
  ASSERT_TRUE(ParseEvents(e.dump()).ok());
  e["data"]["evidence"]["f64"] = 64;
  Result<std::vector<ProtocolEvent>> r = ParseEvents(e.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "/data/evidence: has more than 64 fields");
}

TEST(GenericProtocolEvents, AddressesAreNormalisedAndTheEventRoundTrips) {
  Result<std::vector<ProtocolEvent>> r = ParseEvents(
      R"({"id":"e-1","type":"block.changed","occurred_at":"2026-03-01T11:00:00+01:00",
          "subject":{"id":"c-1","email":"Anna@EXAMPLE.org"},
          "data":{"block":"adresssperre","active":true,"address":"Anna@EXAMPLE.org"}})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ProtocolEvent& e = (*r)[0];
  EXPECT_EQ(e.email, "Anna@example.org");
  EXPECT_EQ(e.data["address"], "Anna@example.org");
  EXPECT_EQ(e.occurred_at, 1772359200000);
  Result<ProtocolEvent> back = ParseEvent(EventJson(e));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->id, e.id);
  EXPECT_EQ(back->type, e.type);
  EXPECT_EQ(back->occurred_at, e.occurred_at);
  EXPECT_EQ(back->system_id, e.system_id);
  EXPECT_EQ(back->email, e.email);
  EXPECT_EQ(back->data, e.data);
}

// --- Mapping --------------------------------------------------------------------

class GenericProtocolMapping : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<mapping::MappingSpec> spec = mapping::LoadMappingFromConfigFile(
        std::string(CONSENTD_SOURCE_DIR) + "/config/examples/bsi-crm-studio.yaml");
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    spec_ = *spec;
  }
  mapping::MapResult Map(const std::string& body, std::string_view system = "bsi_crm") {
    Result<std::vector<ProtocolEvent>> e = ParseEvents(body);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    if (!e.ok()) return {};
    return MapEvent((*e)[0], spec_, system);
  }
  static std::string Event(const std::string& type, const std::string& data) {
    return R"({"id":"evt-9","type":")" + type +
           R"(","occurred_at":"2026-03-01T10:00:00Z","subject":{"id":"c-1","email":"a@example.org"},"data":)" +
           data + "}";
  }
  mapping::MappingSpec spec_;
};

TEST_F(GenericProtocolMapping, AConsentMapsToItsCanonicalTopicWithProvenance) {
  mapping::MapResult r = Map(Event("consent.changed",
                                   R"({"topic":"produktinfo","channel":"sms","status":"granted",
                                       "method":"form","evidence":{"ip":"192.0.2.1","n":3}})"));
  ASSERT_EQ(r.changes.size(), 1u) << (r.notes.empty() ? "" : r.notes[0]);
  const Change& c = r.changes[0];
  EXPECT_EQ(c.kind, ChangeKind::kConsent);
  EXPECT_TRUE(c.key.subject.empty());
  EXPECT_EQ(c.key.topic, "produktinfo");
  EXPECT_EQ(c.key.channel, "sms");
  EXPECT_EQ(c.status, ConsentStatus::kGranted);
  EXPECT_EQ(c.method, ConsentMethod::kForm);
  EXPECT_EQ(c.legal_basis, "eu-gdpr:A6-1-a");  // the topic's default
  EXPECT_EQ(c.notice_version, "2026-01");      // the topic's default
  EXPECT_EQ(c.provenance.occurred_at, 1772359200000);
  EXPECT_EQ(c.provenance.source_system, "bsi_crm");
  EXPECT_EQ(c.provenance.source_event_id, "evt-9");
  EXPECT_EQ(c.mapping_hash, mapping::MappingHash(spec_));
  EXPECT_EQ(c.evidence.at("ip"), "192.0.2.1");
  EXPECT_EQ(c.evidence.at("n"), "3");
}

TEST_F(GenericProtocolMapping, DoubleOptInConfirmationKeepsItsMethod) {
  mapping::MapResult r = Map(Event("consent.changed",
                                   R"({"topic":"newsletter","channel":"email","status":"granted",
                                       "method":"double_opt_in","notice_version":"2026-03"})"),
                             "bsi_studio");
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_EQ(r.changes[0].method, ConsentMethod::kDoubleOptIn);
  EXPECT_EQ(r.changes[0].notice_version, "2026-03");
  EXPECT_EQ(r.changes[0].provenance.source_system, "bsi_studio");
}

TEST_F(GenericProtocolMapping, UnmappedTopicsAndChannelsYieldNotesOnly) {
  mapping::MapResult r = Map(
      Event("consent.changed", R"({"topic":"gewinnspiel","channel":"email","status":"granted"})"));
  EXPECT_TRUE(r.changes.empty());
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("gewinnspiel"), std::string::npos);
  r = Map(Event("consent.changed", R"({"topic":"newsletter","channel":"sms","status":"granted"})"));
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ(r.notes.size(), 1u);
  r = Map(
      Event("consent.changed", R"({"topic":"newsletter","channel":"email","status":"granted"})"),
      "nobody");
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ(r.notes.size(), 1u);
}

TEST_F(GenericProtocolMapping, BlocksMapToTheirScopes) {
  mapping::MapResult r = Map(Event("block.changed", R"({"block":"werbesperre","active":true})"));
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_EQ(r.changes[0].kind, ChangeKind::kBlockSet);
  EXPECT_EQ(r.changes[0].scope, BlockScope::All());
  EXPECT_EQ(r.changes[0].block_reason, BlockReason::kManual);

  r = Map(Event("block.changed",
                R"({"block":"kanalsperre","active":false,"channel":"sms","reason":"complaint"})"));
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_EQ(r.changes[0].kind, ChangeKind::kBlockCleared);
  EXPECT_EQ(r.changes[0].scope, BlockScope::Channel("sms"));
  EXPECT_EQ(r.changes[0].block_reason, BlockReason::kComplaint);

  // An address block without an address is about the subject's address.
  r = Map(Event("block.changed",
                R"({"block":"adresssperre","active":true,"until":"2027-01-01T00:00:00Z"})"));
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_EQ(r.changes[0].scope, BlockScope::Address("a@example.org"));
  EXPECT_EQ(r.changes[0].block_reason, BlockReason::kBounced);
  EXPECT_EQ(r.changes[0].block_until, *ParseRfc3339("2027-01-01T00:00:00Z"));

  // A channel block must say which channel.
  r = Map(Event("block.changed", R"({"block":"kanalsperre","active":true})"));
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ(r.notes.size(), 1u);
}

TEST_F(GenericProtocolMapping, ErasureIsAChangeAndIdentityEventsAreNot) {
  mapping::MapResult r = Map(Event("subject.erased", "{}"), "bsi_studio");
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_EQ(r.changes[0].kind, ChangeKind::kErasure);
  r = Map(Event("subject.merged", R"({"merged_ids":["c-2"]})"));
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ(r.notes.size(), 1u);
  r = Map(Event("identity.changed", R"({"old_email":"old@example.org"})"));
  EXPECT_TRUE(r.changes.empty());
}

TEST_F(GenericProtocolMapping, DirectionLimitsWhatFlowsFromASystem) {
  for (mapping::TopicSpec& t : spec_.topics) {
    if (t.name == "events") t.direction = mapping::FlowDirection::kCrmToJourney;
  }
  const std::string body =
      Event("consent.changed", R"({"topic":"events","channel":"email","status":"withdrawn"})");
  EXPECT_EQ(Map(body, "bsi_crm").changes.size(), 1u);
  mapping::MapResult r = Map(body, "bsi_studio");
  EXPECT_TRUE(r.changes.empty());
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("does not flow from bsi_studio"), std::string::npos);
}

}  // namespace
}  // namespace consentd::connectors::generic
