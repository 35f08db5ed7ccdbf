// The HubSpot connector against the real simulator (in-process, loopback
// HTTP through the libcurl client): webhook verification and parsing, Read
// of every kind of change, Poll (full, incremental, archivals, paging under
// concurrent change), Deliver with its error classes, Check.
#include "connectors/hubspot/hubspot_connector.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <thread>

#include "connectors/common/webhook_signatures.h"
#include "connectors/hubspot/hubspot_internal.h"
#include "mapping/policy.h"
#include "tests/connectors/script_server.h"
#include "tests/sim/sim_fixture.h"

namespace consentd::connectors {
namespace {

using nlohmann::json;
using sim::testing::Reply;

constexpr char kSecret[] = "test-client-secret";

std::shared_ptr<mapping::MappingSpec> TestMapping(
    mapping::ErasureMode erasure = mapping::ErasureMode::kDelete, std::int64_t newsletter = 101) {
  auto spec = std::make_shared<mapping::MappingSpec>();
  spec->systems["hubspot"].name = "hubspot";
  spec->systems["hubspot"].kind = mapping::ConnectorKind::kHubSpot;
  spec->systems["hubspot"].role = mapping::SystemRole::kCrm;
  spec->systems["mailchimp"].name = "mailchimp";
  spec->systems["mailchimp"].kind = mapping::ConnectorKind::kMailchimp;
  spec->systems["mailchimp"].role = mapping::SystemRole::kJourney;
  spec->channels["email"] = {"email", {{"hubspot", "EMAIL"}}, {}};
  spec->channels["sms"] = {"sms", {{"hubspot", "SMS"}}, {}};
  auto topic = [&](std::string name, std::string channel, std::int64_t id) {
    mapping::TopicSpec t;
    t.name = name;
    t.title = name;
    t.notice_version = "v1";
    t.channels = {channel};
    mapping::TopicBinding b;
    b.system = "hubspot";
    b.kind = mapping::ConnectorKind::kHubSpot;
    b.subscriptions[channel] = id;
    t.bindings["hubspot"] = b;
    spec->topics.push_back(t);
  };
  topic("newsletter", "email", newsletter);
  topic("product", "email", 102);
  topic("events", "email", 103);
  topic("sms_offers", "sms", 201);
  mapping::BlockSpec all;
  all.name = "werbesperre";
  all.scope = BlockScope::Kind::kAll;
  all.sides["hubspot"].system = "hubspot";
  all.sides["hubspot"].kind = mapping::ConnectorKind::kHubSpot;
  all.sides["hubspot"].property = "consentd_werbesperre";
  all.sides["hubspot"].value = "true";
  spec->blocks.push_back(all);
  mapping::BlockSpec channel;
  channel.name = "channel_optout";
  channel.scope = BlockScope::Kind::kChannel;
  channel.reason = BlockReason::kUnsubscribed;
  channel.sides["hubspot"].system = "hubspot";
  channel.sides["hubspot"].kind = mapping::ConnectorKind::kHubSpot;
  channel.sides["hubspot"].unsubscribe_all = true;
  spec->blocks.push_back(channel);
  spec->erasure["hubspot"].system = "hubspot";
  spec->erasure["hubspot"].mode = erasure;
  return spec;
}

class HubSpotConnectorTest : public sim::testing::SimFixture {
 protected:
  sim::hubspot::HubSpotOptions Options() override {
    auto o = SimFixture::Options();
    o.rate_limits = rate_limits_;
    return o;
  }
  void SetUp() override {
    SimFixture::SetUp();
    http_ = MakeCurlHttpClient("consentd-test");
    connector_ = Make(TestMapping());
  }
  // The connector's settings against the simulator.
  HubSpotSettings Settings(std::string token = "test-token") {
    HubSpotSettings s;
    s.name = "hubspot";
    s.base_url = BaseUrl();
    s.token = std::move(token);
    s.client_secret = kSecret;
    s.timeout = std::chrono::milliseconds(10000);
    return s;
  }
  std::unique_ptr<Connector> Make(std::shared_ptr<mapping::MappingSpec> spec,
                                  std::string token = "test-token") {
    spec_ = spec;
    return MakeHubSpotConnector(Settings(std::move(token)), spec, *http_);
  }

  std::string ContactId(const std::string& email) {
    Reply r = Api("GET", "/crm/v3/objects/contacts/" + email + "?idProperty=email");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json().value("id", "");
  }
  json SimState() { return Control("GET", "/_sim/hubspot/state").Json(); }
  // HubSpot requests answered so far whose route starts with "POST <prefix>".
  int CountRequests(const std::string& prefix) {
    const json counters = Control("GET", "/_sim/counters").Json();
    int total = 0;
    if (!counters.contains("hubspot")) return 0;
    for (const auto& [route, by_status] : counters["hubspot"].items()) {
      if (route.rfind("POST " + prefix, 0) != 0) continue;
      for (const auto& [status, n] : by_status.items()) total += n.get<int>();
    }
    return total;
  }
  std::string StatusOf(const std::string& email, std::int64_t id) {
    const json state = SimState();  // (a temporary would die before the loop body)
    for (const json& s : state["subscriptionStatuses"]) {
      if (s["subscriberIdString"] == email && s["subscriptionId"] == id) return s["status"];
    }
    return "NOT_SPECIFIED";
  }
  std::string PropertyOf(const std::string& email, const std::string& property) {
    const json state = SimState();
    for (const json& c : state["contacts"]) {
      if (c["properties"].value("email", "") == email) return c["properties"].value(property, "");
    }
    return "<no contact>";
  }

  InboundRecord ReadOne(RecordRef ref) {
    if (ref.event_id.empty()) ref.event_id = "evt-1";
    auto r = connector_->Read({ref});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || r->size() != 1) {
      ADD_FAILURE() << "expected one record";
      return {};
    }
    return (*r)[0];
  }

  static const Change* FindConsent(const InboundRecord& rec, const std::string& topic) {
    for (const Change& c : rec.mapped.changes) {
      if (c.kind == ChangeKind::kConsent && c.key.topic == topic) return &c;
    }
    return nullptr;
  }
  static const Change* FindKind(const InboundRecord& rec, ChangeKind kind) {
    for (const Change& c : rec.mapped.changes) {
      if (c.kind == kind) return &c;
    }
    return nullptr;
  }

  OutboundItem Item(std::int64_t id, const std::string& email) {
    OutboundItem item;
    item.outbox_id = id;
    item.idempotency_key = "k" + std::to_string(id);
    item.desired.subject = "s-" + std::to_string(id);
    item.desired.email = email;
    item.desired.state.subject = item.desired.subject;
    return item;
  }
  static void Grant(OutboundItem& item, const std::string& topic, ConsentStatus status,
                    const std::string& channel = "email", TimestampMs captured_at = 0) {
    ConsentRecord r;
    r.key = {item.desired.subject, topic, channel, ""};
    r.status = status;
    r.provenance.occurred_at = captured_at;
    r.legal_basis = "eu-gdpr:A6-1-a";
    r.method = ConsentMethod::kForm;
    item.desired.state.consents[r.key] = r;
  }
  static void Block(OutboundItem& item, BlockScope scope, bool active) {
    BlockRecord b;
    b.subject = item.desired.subject;
    b.scope = scope;
    b.active = active;
    item.desired.state.blocks[scope] = b;
  }

  bool rate_limits_ = false;
  std::unique_ptr<HttpClient> http_;
  std::shared_ptr<mapping::MappingSpec> spec_;
  std::unique_ptr<Connector> connector_;
};

// --- webhooks ------------------------------------------------------------------

net::HttpRequest Signed(const std::string& url, const std::string& body, TimestampMs ts,
                        const std::string& secret = kSecret) {
  net::HttpRequest req;
  req.method = "POST";
  req.body = body;
  req.headers = {
      {"X-HubSpot-Signature-v3", HubSpotSignV3(secret, "POST", url, body, std::to_string(ts))},
      {"X-HubSpot-Request-Timestamp", std::to_string(ts)},
      {"X-HubSpot-Signature-Version", "v3"}};
  return req;
}

// A time near the ends of 64 bits would overflow where the skew window is
// added to it; only the years 1970 to 9999 are times.
TEST(HubSpotTime, OnlyTimesFrom1970To9999AreRead) {
  using hubspot_internal::ParseHubSpotTime;
  EXPECT_EQ(ParseHubSpotTime(json(1'700'000'000'000)),
            std::optional<TimestampMs>(1'700'000'000'000));
  EXPECT_EQ(ParseHubSpotTime(json("1700000000000")), std::optional<TimestampMs>(1'700'000'000'000));
  EXPECT_EQ(ParseHubSpotTime(json("2026-03-01T10:00:00.5Z")),
            std::optional<TimestampMs>(1'772'359'200'500));
  EXPECT_FALSE(ParseHubSpotTime(json(std::numeric_limits<std::int64_t>::max())).has_value());
  EXPECT_FALSE(ParseHubSpotTime(json(std::numeric_limits<std::uint64_t>::max())).has_value());
  EXPECT_FALSE(ParseHubSpotTime(json("9223372036854775000")).has_value());
  EXPECT_FALSE(ParseHubSpotTime(json(-1)).has_value());
}

TEST_F(HubSpotConnectorTest, SignedWebhookMapsConsentEventsAndIgnoresOthers) {
  const std::string url = "https://consentd.example/webhooks/hubspot";
  const TimestampMs now = 1'800'000'000'000;
  json events = json::array({
      {{"eventId", 11},
       {"objectId", 1001},
       {"occurredAt", now - 5},
       {"subscriptionType", "contact.propertyChange"},
       {"propertyName", "consentd_werbesperre"},
       {"propertyValue", "true"}},
      {{"eventId", 12},
       {"objectId", 1001},
       {"occurredAt", now - 4},
       {"subscriptionType", "contact.propertyChange"},
       {"propertyName", "firstname"},
       {"propertyValue", "Ada"}},
      {{"eventId", 13},
       {"objectId", 1002},
       {"occurredAt", now - 3},
       {"subscriptionType", "contact.deletion"}},
      {{"eventId", 14},
       {"objectId", 1003},
       {"occurredAt", now - 2},
       {"subscriptionType", "contact.privacyDeletion"}},
      {{"eventId", 15},
       {"objectId", 1004},
       {"occurredAt", now - 1},
       {"subscriptionType", "contact.merge"},
       {"primaryObjectId", 1004},
       {"mergedObjectIds", {1005}},
       {"newObjectId", 1004}},
      // A merge whose result got an id of its own: the primary's is
      // merged away too.
      {{"eventId", 18},
       {"objectId", 1008},
       {"occurredAt", now - 1},
       {"subscriptionType", "contact.merge"},
       {"primaryObjectId", 1008},
       {"mergedObjectIds", {1009}},
       {"newObjectId", 1010}},
      {{"eventId", 16},
       {"objectId", 1006},
       {"occurredAt", now},
       {"subscriptionType", "contact.propertyChange"},
       {"propertyName", "email"},
       {"propertyValue", "New@Example.COM"}},
      {{"eventId", 17},
       {"objectId", 1007},
       {"occurredAt", now},
       {"subscriptionType", "contact.propertyChange"},
       {"propertyName", "hs_email_optout_101"},
       {"propertyValue", "true"}},
  });
  auto refs = connector_->ParseWebhook(Signed(url, events.dump(), now), url, now);
  ASSERT_TRUE(refs.ok()) << refs.status().ToString();
  ASSERT_EQ(refs->size(), 7u);  // firstname dropped
  // eventId, subscriptionId (none here), objectId, occurredAt, propertyName.
  EXPECT_EQ((*refs)[0].event_id, "11::1001:" + std::to_string(now - 5) + ":consentd_werbesperre");
  EXPECT_EQ((*refs)[0].system_id, "1001");
  EXPECT_EQ((*refs)[0].hint, RecordHint::kChanged);
  EXPECT_EQ((*refs)[0].occurred_at, now - 5);
  EXPECT_EQ((*refs)[1].hint, RecordHint::kDeleted);
  EXPECT_EQ((*refs)[2].hint, RecordHint::kPrivacyDeletion);
  EXPECT_EQ((*refs)[3].hint, RecordHint::kMerged);
  EXPECT_EQ((*refs)[3].system_id, "1004");
  EXPECT_EQ((*refs)[3].merged_ids, std::vector<std::string>{"1005"});
  EXPECT_EQ((*refs)[4].hint, RecordHint::kMerged);
  EXPECT_EQ((*refs)[4].system_id, "1010");
  EXPECT_EQ((*refs)[4].merged_ids, (std::vector<std::string>{"1008", "1009"}));
  EXPECT_EQ((*refs)[5].hint, RecordHint::kEmailChanged);
  EXPECT_EQ((*refs)[5].email, "New@example.com");
  EXPECT_EQ((*refs)[6].hint, RecordHint::kChanged);
  EXPECT_EQ((*refs)[6].system_id, "1007");
}

// An app subscribed to HubSpot's generic object events gets "object.*"
// events naming the object type; those about contacts ("0-1") mean what the
// contact.* events mean, the others are about other objects.
TEST_F(HubSpotConnectorTest, GenericObjectEventsAboutContactsAreReadLikeContactEvents) {
  const std::string url = "https://consentd.example/webhooks/hubspot";
  const TimestampMs now = 1'800'000'000'000;
  json events = json::array({
      {{"eventId", 21},
       {"objectId", 2001},
       {"objectTypeId", "0-1"},
       {"occurredAt", now - 3},
       {"subscriptionType", "object.propertyChange"},
       {"propertyName", "hs_email_optout_101"},
       {"propertyValue", "true"}},
      {{"eventId", 22},
       {"objectId", 2002},
       {"objectTypeId", "0-1"},
       {"occurredAt", now - 2},
       {"subscriptionType", "object.deletion"}},
      {{"eventId", 23},
       {"objectId", 2003},
       {"objectTypeId", "0-2"},  // a company
       {"occurredAt", now - 1},
       {"subscriptionType", "object.deletion"}},
      {{"eventId", 24},
       {"objectId", 2004},
       {"objectTypeId", "0-1"},
       {"occurredAt", now},
       {"subscriptionType", "object.propertyChange"},
       {"propertyName", "firstname"},
       {"propertyValue", "Ada"}},
      {{"eventId", 25},
       {"objectId", 2005},
       {"occurredAt", now},
       {"subscriptionType", "object.creation"}},  // no type: not known to be a contact
  });
  auto refs = connector_->ParseWebhook(Signed(url, events.dump(), now), url, now);
  ASSERT_TRUE(refs.ok()) << refs.status().ToString();
  ASSERT_EQ(refs->size(), 2u);
  EXPECT_EQ((*refs)[0].system_id, "2001");
  EXPECT_EQ((*refs)[0].hint, RecordHint::kChanged);
  EXPECT_EQ((*refs)[0].occurred_at, now - 3);
  EXPECT_EQ((*refs)[1].system_id, "2002");
  EXPECT_EQ((*refs)[1].hint, RecordHint::kDeleted);
}

// One target URL gets every event of the app's subscriptions: an event
// consentd does not read (an association change has no objectId) or a
// property set to null must not refuse the contact events beside it, or
// every retry of the batch would be refused too, and a privacy deletion
// (only ever seen by webhook) would be lost.
TEST_F(HubSpotConnectorTest, EventsConsentdDoesNotReadDoNotRefuseTheBatch) {
  const std::string url = "https://consentd.example/webhooks/hubspot";
  const TimestampMs now = 1'800'000'000'000;
  json events = json::array({
      {{"eventId", 31},
       {"subscriptionId", 901},
       {"objectId", 3001},
       {"occurredAt", now - 3},
       {"subscriptionType", "contact.privacyDeletion"}},
      {{"eventId", 32},
       {"subscriptionId", 902},
       {"occurredAt", now - 2},
       {"subscriptionType", "contact.associationChange"},
       {"fromObjectId", 3001},
       {"toObjectId", 77}},
      {{"eventId", 33},
       {"subscriptionId", 903},
       {"objectId", 3002},
       {"occurredAt", now - 1},
       {"subscriptionType", "contact.propertyChange"},
       {"propertyName", "firstname"},
       {"propertyValue", nullptr}},
      {{"eventId", 34},
       {"subscriptionId", 904},
       {"objectId", 3003},
       {"occurredAt", now},
       {"subscriptionType", "contact.propertyChange"},
       {"propertyName", "email"},
       {"propertyValue", nullptr}},
      {{"eventId", 35}, {"subscriptionType", nullptr}, {"objectId", 3004}},
  });
  auto refs = connector_->ParseWebhook(Signed(url, events.dump(), now), url, now);
  ASSERT_TRUE(refs.ok()) << refs.status().ToString();
  ASSERT_EQ(refs->size(), 2u);
  EXPECT_EQ((*refs)[0].system_id, "3001");
  EXPECT_EQ((*refs)[0].hint, RecordHint::kPrivacyDeletion);
  EXPECT_EQ((*refs)[1].system_id, "3003");
  EXPECT_EQ((*refs)[1].hint, RecordHint::kEmailChanged);  // the address cleared
  EXPECT_EQ((*refs)[1].email, "");
}

// An object id above INT64_MAX names that record, not a negative one.
TEST_F(HubSpotConnectorTest, AnObjectIdAboveTheSignedRangeIsReadAsItsDigits) {
  const std::string url = "https://consentd.example/webhooks/hubspot";
  const TimestampMs now = 1'800'000'000'000;
  const json events =
      json::parse(R"([{"eventId": 1, "subscriptionId": 9, "occurredAt": )" + std::to_string(now) +
                  R"(, "objectId": 18446744073709551615,
      "subscriptionType": "contact.privacyDeletion"}])");
  auto refs = connector_->ParseWebhook(Signed(url, events.dump(), now), url, now);
  ASSERT_TRUE(refs.ok()) << refs.status().ToString();
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].system_id, "18446744073709551615");
}

// HubSpot documents eventId as not guaranteed to be unique: two different
// events sharing one are two inbox keys; a retry (only attemptNumber
// differs) is the same key, so the inbox still drops it as a duplicate.
TEST_F(HubSpotConnectorTest, EventsSharingAnEventIdKeepDistinctKeysAndARetryKeepsItsKey) {
  const std::string url = "https://consentd.example/webhooks/hubspot";
  const TimestampMs now = 1'800'000'000'000;
  json first = {{"eventId", 7},
                {"subscriptionId", 501},
                {"objectId", 1001},
                {"occurredAt", now - 9},
                {"attemptNumber", 0},
                {"subscriptionType", "contact.propertyChange"},
                {"propertyName", "hs_email_optout_101"},
                {"propertyValue", "true"}};
  json other = {{"eventId", 7},       {"subscriptionId", 502},
                {"objectId", 1002},   {"occurredAt", now - 5},
                {"attemptNumber", 0}, {"subscriptionType", "contact.privacyDeletion"}};
  json retry = first;
  retry["attemptNumber"] = 3;
  auto refs = connector_->ParseWebhook(Signed(url, json::array({first, other, retry}).dump(), now),
                                       url, now);
  ASSERT_TRUE(refs.ok()) << refs.status().ToString();
  ASSERT_EQ(refs->size(), 3u);
  EXPECT_NE((*refs)[0].event_id, (*refs)[1].event_id);
  EXPECT_EQ((*refs)[0].event_id, (*refs)[2].event_id);
}

TEST_F(HubSpotConnectorTest, WebhookWithBadMissingOrStaleSignatureIsUnauthenticated) {
  const std::string url = "https://consentd.example/webhooks/hubspot";
  const TimestampMs now = 1'800'000'000'000;
  const std::string body = R"([{"eventId":1,"objectId":2,"subscriptionType":"contact.creation"}])";
  auto wrong_secret = connector_->ParseWebhook(Signed(url, body, now, "other"), url, now);
  EXPECT_EQ(wrong_secret.status().code(), StatusCode::kUnauthenticated);
  auto other_url = connector_->ParseWebhook(Signed(url, body, now), url + "?x=1", now);
  EXPECT_EQ(other_url.status().code(), StatusCode::kUnauthenticated);
  net::HttpRequest tampered = Signed(url, body, now);
  tampered.body[2] = 'X';
  EXPECT_EQ(connector_->ParseWebhook(tampered, url, now).status().code(),
            StatusCode::kUnauthenticated);
  net::HttpRequest unsigned_req;
  unsigned_req.method = "POST";
  unsigned_req.body = body;
  EXPECT_EQ(connector_->ParseWebhook(unsigned_req, url, now).status().code(),
            StatusCode::kUnauthenticated);
  auto stale = connector_->ParseWebhook(Signed(url, body, now - 6 * 60 * 1000), url, now);
  EXPECT_EQ(stale.status().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(connector_->ParseWebhook(Signed(url, body, now - 4 * 60 * 1000), url, now).ok());
}

TEST_F(HubSpotConnectorTest, SignedButMalformedWebhookIsInvalidArgument) {
  const std::string url = "https://consentd.example/webhooks/hubspot";
  const TimestampMs now = 1'800'000'000'000;
  for (const std::string& body :
       {std::string("{not json"), std::string(R"({"eventId":1})"),
        std::string(R"([{"objectId":2,"subscriptionType":"contact.creation"}])"),
        std::string(R"([{"eventId":1,"subscriptionType":"contact.creation"}])")}) {
    auto r = connector_->ParseWebhook(Signed(url, body, now), url, now);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << body;
  }
}

TEST_F(HubSpotConnectorTest, WebhookSentBySimulatorVerifiesAndNamesTheContact) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/person/signup",
                    {{"email", "wh@example.com"}, {"subscriptionId", 102}})
                .status,
            200);
  auto received = receiver_.WaitFor(1);
  ASSERT_GE(received.size(), 1u);
  net::HttpRequest req;
  req.method = "POST";
  req.body = received[0].body;
  req.headers = received[0].headers;
  auto refs = connector_->ParseWebhook(req, WebhookUrl(), clock_.NowMs());
  ASSERT_TRUE(refs.ok()) << refs.status().ToString();
  const std::string id = ContactId("wh@example.com");
  ASSERT_FALSE(refs->empty());
  for (const RecordRef& ref : *refs) EXPECT_EQ(ref.system_id, id);
}

// --- Read ----------------------------------------------------------------------

TEST_F(HubSpotConnectorTest, FormSignupReadsAsGrantWithLegalBasisAndEventId) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/person/signup",
                    {{"email", "Ada@Example.com"}, {"subscriptionId", 102}})
                .status,
            200);
  RecordRef ref;
  ref.event_id = "4711";
  ref.system_id = ContactId("ada@example.com");
  InboundRecord rec = ReadOne(ref);
  EXPECT_EQ(rec.event_id, "4711");
  EXPECT_EQ(rec.system_id, ref.system_id);
  EXPECT_EQ(rec.email, "ada@example.com");
  const Change* c = FindConsent(rec, "product");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, ConsentStatus::kGranted);
  EXPECT_EQ(c->key.channel, "email");
  EXPECT_EQ(c->legal_basis, "eu-gdpr:A6-1-a");
  EXPECT_EQ(c->method, ConsentMethod::kForm);
  EXPECT_EQ(c->provenance.source_event_id, "4711");
  EXPECT_EQ(c->provenance.source_system, "hubspot");
  EXPECT_GT(c->provenance.occurred_at, 0);
  EXPECT_EQ(FindConsent(rec, "newsletter"), nullptr);  // never asked: nothing stated
}

// Passes every call on, and answers with every optional field HubSpot may
// send as null set to null in each result (the spec marks them optional;
// a present null must read as absent, not throw).
class NullingHttpClient final : public HttpClient {
 public:
  explicit NullingHttpClient(HttpClient& inner) : inner_(inner) {}
  Result<net::HttpResponse> Send(const OutboundRequest& request) override {
    Result<net::HttpResponse> r = inner_.Send(request);
    if (!r.ok()) return r;
    json body = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object() || !body.contains("results") || !body["results"].is_array()) return r;
    for (json& item : body["results"]) {
      if (!item.is_object()) continue;
      for (const char* key : {"legalBasis", "legalBasisExplanation", "source"}) item[key] = nullptr;
      if (item.contains("statuses") && item["statuses"].is_array()) {
        for (json& st : item["statuses"]) {
          for (const char* key : {"legalBasis", "legalBasisExplanation", "source"}) {
            st[key] = nullptr;
          }
        }
      }
    }
    body["paging"] = nullptr;
    r->body = body.dump();
    return r;
  }

 private:
  HttpClient& inner_;
};

TEST_F(HubSpotConnectorTest, NullOptionalFieldsInAnswersReadAsAbsent) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/person/signup",
                    {{"email", "nel@example.com"}, {"subscriptionId", 102}})
                .status,
            200);
  NullingHttpClient nulling(*http_);
  auto connector = MakeHubSpotConnector(Settings(), spec_, nulling);
  RecordRef ref;
  ref.event_id = "null-1";
  ref.system_id = ContactId("nel@example.com");
  auto read = connector->Read({ref});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), 1u);
  const Change* c = FindConsent((*read)[0], "product");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, ConsentStatus::kGranted);
  auto page = connector->Poll("", clock_.NowMs());
  ASSERT_TRUE(page.ok()) << page.status().ToString();
}

TEST_F(HubSpotConnectorTest, UnsubscribeLinkReadsAsWithdrawalAndUnsubscribeAllAsChannelBlock) {
  Control("POST", "/_sim/hubspot/person/signup", {{"email", "u@example.com"}});
  Control("POST", "/_sim/hubspot/person/unsubscribe", {{"email", "u@example.com"}});
  RecordRef ref;
  ref.system_id = ContactId("u@example.com");
  InboundRecord rec = ReadOne(ref);
  const Change* c = FindConsent(rec, "newsletter");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, ConsentStatus::kWithdrawn);
  EXPECT_EQ(c->method, ConsentMethod::kUnsubscribeLink);
  EXPECT_EQ(FindKind(rec, ChangeKind::kBlockSet), nullptr);

  Control("POST", "/_sim/hubspot/person/unsubscribe", {{"email", "u@example.com"}, {"all", true}});
  rec = ReadOne(ref);
  const Change* b = FindKind(rec, ChangeKind::kBlockSet);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->scope, BlockScope::Channel("email"));
}

// A mapping whose SMS channel carries a block but no topic: the contact's
// phone is still read, so its SMS unsubscribe-all is found.
TEST_F(HubSpotConnectorTest, AnSmsUnsubscribeAllIsReadWithoutAnSmsTopicMapped) {
  auto spec = TestMapping();
  std::erase_if(spec->topics, [](const mapping::TopicSpec& t) { return t.name == "sms_offers"; });
  connector_ = Make(spec);
  ASSERT_EQ(Api("POST", "/crm/v3/objects/contacts",
                {{"properties", {{"email", "phone@example.com"}, {"mobilephone", "+41790000002"}}}})
                .status,
            201);
  ASSERT_LT(
      Api("POST", "/communication-preferences/v4/statuses/+41790000002/unsubscribe-all?channel=SMS",
          json::object())
          .status,
      300);
  RecordRef ref;
  ref.system_id = ContactId("phone@example.com");
  InboundRecord rec = ReadOne(ref);
  const Change* b = FindKind(rec, ChangeKind::kBlockSet);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->scope, BlockScope::Channel("sms"));
}

TEST_F(HubSpotConnectorTest, BlockPropertyReadsAsGlobalBlockAndItsClearing) {
  Control("POST", "/_sim/hubspot/person/signup", {{"email", "b@example.com"}});
  RecordRef ref;
  ref.system_id = ContactId("b@example.com");
  EXPECT_EQ(FindKind(ReadOne(ref), ChangeKind::kBlockSet), nullptr);  // never set
  Control("POST", "/_sim/hubspot/admin/block", {{"email", "b@example.com"}, {"blocked", true}});
  InboundRecord rec = ReadOne(ref);
  const Change* b = FindKind(rec, ChangeKind::kBlockSet);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->scope, BlockScope::All());
  Control("POST", "/_sim/hubspot/admin/block", {{"email", "b@example.com"}, {"blocked", false}});
  EXPECT_NE(FindKind(ReadOne(ref), ChangeKind::kBlockCleared), nullptr);
}

TEST_F(HubSpotConnectorTest, GdprDeleteReadsAsErasureAndArchiveAsTargetDeleted) {
  Control("POST", "/_sim/hubspot/person/signup", {{"email", "g@example.com"}});
  Control("POST", "/_sim/hubspot/person/signup", {{"email", "a@example.com"}});
  const std::string gid = ContactId("g@example.com");
  const std::string aid = ContactId("a@example.com");
  Control("POST", "/_sim/hubspot/admin/gdpr-delete", {{"email", "g@example.com"}});
  Control("POST", "/_sim/hubspot/admin/archive", {{"email", "a@example.com"}});
  RecordRef g{"e1", gid, "", RecordHint::kPrivacyDeletion, {}, "", 1234, ""};
  RecordRef a{"e2", aid, "", RecordHint::kDeleted, {}, "", 5678, ""};
  RecordRef g_changed{"e3", gid, "", RecordHint::kChanged, {}, "", 9999, ""};
  auto recs = connector_->Read({g, a, g_changed});
  ASSERT_TRUE(recs.ok()) << recs.status().ToString();
  ASSERT_EQ(recs->size(), 3u);
  const InboundRecord& gr = (*recs)[0];
  ASSERT_EQ(gr.mapped.changes.size(), 1u);
  EXPECT_EQ(gr.mapped.changes[0].kind, ChangeKind::kErasure);
  EXPECT_EQ(gr.mapped.changes[0].provenance.occurred_at, 1234);
  EXPECT_EQ(gr.mapped.changes[0].provenance.source_system, "hubspot");
  EXPECT_EQ(gr.mapped.changes[0].mapping_hash, mapping::MappingHash(*spec_));
  EXPECT_EQ(gr.event_id, "e1");
  const InboundRecord& ar = (*recs)[1];
  ASSERT_EQ(ar.mapped.changes.size(), 1u);
  EXPECT_EQ(ar.mapped.changes[0].kind, ChangeKind::kTargetDeleted);
  EXPECT_EQ(ar.mapped.changes[0].provenance.occurred_at, 5678);
  EXPECT_EQ(ar.system_id, aid);
  // A change hint for a contact that is gone reads as deleted, too.
  EXPECT_EQ((*recs)[2].mapped.changes.at(0).kind, ChangeKind::kTargetDeleted);
}

TEST_F(HubSpotConnectorTest, MergeWebhookReadsSurvivorWithMergedIds) {
  Control("POST", "/_sim/hubspot/person/signup", {{"email", "p@example.com"}});
  Control("POST", "/_sim/hubspot/person/signup",
          {{"email", "m@example.com"}, {"subscriptionId", 103}});
  const std::string primary = ContactId("p@example.com");
  const std::string merged = ContactId("m@example.com");
  const size_t before = receiver_.WaitFor(2).size();
  Reply r = Api("POST", "/crm/v3/objects/contacts/merge",
                json{{"primaryObjectId", primary}, {"objectIdToMerge", merged}});
  ASSERT_EQ(r.status, 200) << r.body;
  std::vector<RecordRef> refs;
  for (int tries = 0; tries < 5 && refs.empty(); ++tries) {
    auto received = receiver_.WaitFor(before + 1);
    for (size_t i = before; i < received.size(); ++i) {
      net::HttpRequest req;
      req.method = "POST";
      req.body = received[i].body;
      req.headers = received[i].headers;
      auto parsed = connector_->ParseWebhook(req, WebhookUrl(), clock_.NowMs());
      ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
      for (const RecordRef& ref : *parsed) {
        if (ref.hint == RecordHint::kMerged) refs.push_back(ref);
      }
    }
  }
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0].system_id, primary);
  EXPECT_EQ(refs[0].merged_ids, std::vector<std::string>{merged});
  InboundRecord rec = ReadOne(refs[0]);
  EXPECT_EQ(rec.system_id, primary);
  EXPECT_EQ(rec.merged_ids, std::vector<std::string>{merged});
  EXPECT_EQ(rec.email, "p@example.com");
  // A hint for the merged-away id resolves to the survivor.
  RecordRef old{"e9", merged, "", RecordHint::kChanged, {}, "", 1, ""};
  InboundRecord via_old = ReadOne(old);
  EXPECT_EQ(via_old.system_id, primary);
  EXPECT_EQ(via_old.merged_ids, std::vector<std::string>{merged});
}

// --- Poll ----------------------------------------------------------------------

struct PollResult {
  std::map<std::string, std::vector<InboundRecord>> by_id;
  std::string cursor;
  int pages = 0;
};

TEST_F(HubSpotConnectorTest, PollReadsAllThenChangesThenArchivals) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 5}, {"seed", 3}}).status, 200);
  auto drain = [&](std::string cursor) {
    PollResult out;
    for (int i = 0; i < 50; ++i) {
      auto page = connector_->Poll(cursor, clock_.NowMs());
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) break;
      ++out.pages;
      for (auto& r : page->records) out.by_id[r.system_id].push_back(r);
      cursor = page->next_cursor;
      if (!page->more) break;
    }
    out.cursor = cursor;
    return out;
  };
  PollResult initial = drain("");
  EXPECT_EQ(initial.by_id.size(), 5u);
  for (const auto& [id, recs] : initial.by_id) {
    EXPECT_TRUE(recs[0].event_id.starts_with("poll:" + id + ":")) << recs[0].event_id;
    EXPECT_FALSE(recs[0].email.empty());
    EXPECT_FALSE(recs[0].found_in_lagging_index) << "the full read lists contacts";
  }
  ASSERT_FALSE(initial.cursor.empty());

  // A block set after the full read is found by the incremental search.
  Control("POST", "/_sim/hubspot/admin/block",
          {{"email", "contact2@example.com"}, {"blocked", true}});
  const std::string id2 = ContactId("contact2@example.com");
  PollResult incr = drain(initial.cursor);
  ASSERT_TRUE(incr.by_id.contains(id2));
  bool blocked = false;
  for (const auto& rec : incr.by_id[id2]) {
    blocked |= FindKind(rec, ChangeKind::kBlockSet) != nullptr;
    EXPECT_TRUE(rec.found_in_lagging_index) << "found through the search index";
  }
  EXPECT_TRUE(blocked);

  // Archiving leaves lastmodifieddate alone; the archived scan finds it.
  const std::string id4 = ContactId("contact4@example.com");
  Control("POST", "/_sim/hubspot/admin/archive", {{"email", "contact4@example.com"}});
  PollResult after_archive = drain(incr.cursor);
  ASSERT_TRUE(after_archive.by_id.contains(id4));
  const InboundRecord& del = after_archive.by_id[id4].back();
  ASSERT_EQ(del.mapped.changes.size(), 1u);
  EXPECT_EQ(del.mapped.changes[0].kind, ChangeKind::kTargetDeleted);
  EXPECT_TRUE(del.event_id.starts_with("poll:archived:" + id4 + ":"));
  EXPECT_FALSE(del.found_in_lagging_index) << "the archived list is read from HubSpot itself";
  EXPECT_EQ(del.email, "contact4@example.com");
}

// consentd's clock a minute ahead of HubSpot's: bounded by consentd's
// clock, the incremental window would end a minute in HubSpot's future and
// the next one start after changes HubSpot dates before it; a change whose
// webhook was lost would never be found. The windows follow HubSpot's
// clock as the answers' Date headers give it.
TEST_F(HubSpotConnectorTest, PollWindowsFollowHubSpotsClockWhenOursRunsAhead) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 3}, {"seed", 4}}).status, 200);
  constexpr TimestampMs kAhead = 60'000;
  auto drain = [&](std::string cursor) {
    std::set<std::string> ids;
    for (int i = 0; i < 20; ++i) {
      auto page = connector_->Poll(cursor, clock_.NowMs() + kAhead);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) break;
      for (const InboundRecord& r : page->records) ids.insert(r.system_id);
      cursor = page->next_cursor;
      if (!page->more) break;
    }
    return std::pair{ids, cursor};
  };
  auto [full, cursor] = drain("");
  ASSERT_EQ(full.size(), 3u);
  cursor = drain(cursor).second;  // an incremental window, nothing new
  Control("POST", "/_sim/hubspot/admin/block",
          {{"email", "contact1@example.com"}, {"blocked", true}});
  auto [found, next] = drain(cursor);
  EXPECT_TRUE(found.contains(ContactId("contact1@example.com")))
      << "a change HubSpot dated inside the window was skipped";
}

// The same for a connector that starts (or is rebuilt by a reload) from an
// incremental cursor: its first window learns the lead from its own
// answer, before it sets the next window's start.
TEST_F(HubSpotConnectorTest, AFirstWindowAfterAStartFollowsHubSpotsClockToo) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 3}, {"seed", 4}}).status, 200);
  std::string cursor;
  for (int i = 0; i < 20; ++i) {  // the full read, clocks in step
    auto page = connector_->Poll(cursor, clock_.NowMs());
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    cursor = page->next_cursor;
    if (!page->more) break;
  }
  constexpr TimestampMs kAhead = 60'000;
  auto restarted = Make(TestMapping());
  auto first = restarted->Poll(cursor, clock_.NowMs() + kAhead);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_FALSE(first->more);
  Control("POST", "/_sim/hubspot/admin/block",
          {{"email", "contact1@example.com"}, {"blocked", true}});
  auto next = restarted->Poll(first->next_cursor, clock_.NowMs() + kAhead);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  std::set<std::string> ids;
  for (const InboundRecord& r : next->records) ids.insert(r.system_id);
  EXPECT_TRUE(ids.contains(ContactId("contact1@example.com")))
      << "the first window's end was on consentd's clock";
}

TEST_F(HubSpotConnectorTest, PollNeverSkipsContactsThatChangeWhilePaging) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 230}, {"seed", 5}}).status, 200);
  std::string cursor;
  // The full read, page by page.
  std::set<std::string> full;
  for (int i = 0; i < 20; ++i) {
    auto page = connector_->Poll(cursor, clock_.NowMs());
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (auto& r : page->records) full.insert(r.system_id);
    cursor = page->next_cursor;
    if (!page->more) break;
  }
  EXPECT_EQ(full.size(), 230u);
  // The first incremental window holds all 230 (created within the overlap).
  auto first = connector_->Poll(cursor, clock_.NowMs());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(first->more);
  std::set<std::string> seen;
  for (auto& r : first->records) seen.insert(r.system_id);
  ASSERT_EQ(seen.size(), 100u);
  // While paging: change one contact already returned and one not yet returned.
  std::string seen_id = *seen.begin(), unseen_id;
  for (const std::string& id : full) {
    if (!seen.contains(id)) unseen_id = id;
  }
  auto email_of = [&](const std::string& id) {
    return Api("GET", "/crm/v3/objects/contacts/" + id).Json()["properties"].value("email", "");
  };
  for (const std::string& id : {seen_id, unseen_id}) {
    Control("POST", "/_sim/hubspot/admin/subscription",
            {{"email", email_of(id)}, {"subscriptionId", 103}, {"status", "UNSUBSCRIBED"}});
  }
  cursor = first->next_cursor;
  std::map<std::string, std::vector<InboundRecord>> later;
  for (int i = 0; i < 20; ++i) {
    auto page = connector_->Poll(cursor, clock_.NowMs());
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (auto& r : page->records) {
      seen.insert(r.system_id);
      later[r.system_id].push_back(r);
    }
    cursor = page->next_cursor;
    if (!page->more) break;
  }
  EXPECT_EQ(seen, full);  // nothing skipped
  for (const std::string& id : {seen_id, unseen_id}) {
    bool withdrawn = false;
    for (const auto& rec : later[id]) {
      const Change* c = FindConsent(rec, "events");
      withdrawn |= c != nullptr && c->status == ConsentStatus::kWithdrawn;
    }
    EXPECT_TRUE(withdrawn) << "change of contact " << id << " not returned";
  }
}

TEST_F(HubSpotConnectorTest, PollReturnsEachContactVersionOnceWhilePagingAWindow) {
  // 230 contacts modified within the first window: the bound moves to each
  // page's last millisecond, whose contacts come again and must not be
  // returned (read, decided) a second time.
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 230}, {"seed", 7}}).status, 200);
  std::string cursor;
  for (int i = 0; i < 20; ++i) {
    auto page = connector_->Poll(cursor, clock_.NowMs());
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    cursor = page->next_cursor;
    if (!page->more) break;
  }
  std::map<std::string, int> returned;  // event id -> times
  for (int i = 0; i < 20; ++i) {
    auto page = connector_->Poll(cursor, clock_.NowMs());
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const auto& r : page->records) {
      if (!r.event_id.starts_with("poll:archived:")) ++returned[r.event_id];
    }
    cursor = page->next_cursor;
    if (!page->more) break;
  }
  EXPECT_EQ(returned.size(), 230u);
  for (const auto& [event_id, times] : returned) EXPECT_EQ(times, 1) << event_id;
}

// HubSpot's search index lags behind writes, and not by the same time for
// every write. A change indexed late whose webhook was lost must be found by
// the next window's overlap even when the window it belonged to took several
// pages (the bound moved past it with the first page): before, the next
// window started at the last page's time and the change waited for the full
// reconciliation.
TEST_F(HubSpotConnectorTest, PollFindsAChangeIndexedLateInAWindowOfSeveralPages) {
  HubSpotSettings s = Settings();
  s.poll_overlap = std::chrono::milliseconds(3000);
  auto connector = MakeHubSpotConnector(s, spec_, *http_);
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 3}, {"seed", 11}}).status, 200);
  auto drain_window = [&](std::string cursor, std::map<std::string, InboundRecord>* got) {
    int pages = 0;
    for (int i = 0; i < 50; ++i) {
      auto page = connector->Poll(cursor, clock_.NowMs());
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) break;
      ++pages;
      for (auto& r : page->records) (*got)[r.system_id] = r;
      cursor = page->next_cursor;
      if (!page->more) break;
    }
    return std::make_pair(cursor, pages);
  };
  std::map<std::string, InboundRecord> ignored;
  std::string cursor = drain_window("", &ignored).first;  // the full read
  cursor = drain_window(cursor, &ignored).first;          // a first, quiet window

  // X withdraws; HubSpot indexes that write 1.5 s late. Then 150 other
  // contacts change, all indexed at once.
  const std::string x = "contact1@example.com";
  Control("POST", "/_sim/hubspot/admin/subscription",
          {{"email", x}, {"subscriptionId", 103}, {"status", "UNSUBSCRIBED"}});
  ASSERT_EQ(Control("POST", "/_sim/hubspot/search-lag", {{"email", x}, {"ms", 1500}}).status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed",
                    {{"count", 150}, {"seed", 12}, {"domain", "later.example"}})
                .status,
            200);
  const std::string x_id = ContactId(x);
  std::map<std::string, InboundRecord> window;
  auto [after_window, pages] = drain_window(cursor, &window);
  ASSERT_GE(pages, 2) << "the window must take several pages";
  ASSERT_EQ(window.count(x_id), 0u) << "X must be missing from its own window (indexed late)";
  ASSERT_GE(window.size(), 150u);

  std::this_thread::sleep_for(std::chrono::milliseconds(1600));  // X is indexed now
  std::map<std::string, InboundRecord> next;
  drain_window(after_window, &next);
  ASSERT_EQ(next.count(x_id), 1u) << "the next window's overlap must reach back to X";
  const Change* c = FindConsent(next[x_id], "events");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, ConsentStatus::kWithdrawn);
}

TEST_F(HubSpotConnectorTest, MalformedPollCursorIsInvalidArgument) {
  EXPECT_EQ(connector_->Poll("{nope", 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(connector_->Poll(R"({"v":1,"phase":"incr"})", 1).status().code(),
            StatusCode::kInvalidArgument);
}

// --- Deliver -------------------------------------------------------------------

TEST_F(HubSpotConnectorTest, DeliverWritesGrantsWithdrawalsAndBlocks) {
  OutboundItem a = Item(1, "d1@example.com");
  Grant(a, "newsletter", ConsentStatus::kGranted);
  Grant(a, "product", ConsentStatus::kWithdrawn);
  Grant(a, "unmapped_topic", ConsentStatus::kGranted);
  OutboundItem b = Item(2, "d2@example.com");
  Grant(b, "events", ConsentStatus::kGranted);
  Block(b, BlockScope::All(), true);
  auto results = connector_->Deliver({a, b});
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_FALSE(r.system_id.empty());
    EXPECT_EQ(r.detail.find("@example.com"), std::string::npos) << r.detail;
  }
  EXPECT_EQ(results[0].system_id, ContactId("d1@example.com"));
  EXPECT_EQ(StatusOf("d1@example.com", 101), "SUBSCRIBED");
  EXPECT_EQ(StatusOf("d1@example.com", 102), "UNSUBSCRIBED");
  EXPECT_EQ(StatusOf("d2@example.com", 103), "SUBSCRIBED");
  EXPECT_EQ(PropertyOf("d2@example.com", "consentd_werbesperre"), "true");
  // The legal basis went along with the grant.
  const json state = SimState();
  for (const json& s : state["subscriptionStatuses"]) {
    if (s["subscriberIdString"] == "d1@example.com" && s["subscriptionId"] == 101) {
      EXPECT_EQ(s["legalBasis"], "CONSENT_WITH_NOTICE");
    }
  }
  // Clearing the block writes the property back.
  Block(b, BlockScope::All(), false);
  auto again = connector_->Deliver({b});
  ASSERT_TRUE(again[0].status.ok()) << again[0].status.ToString();
  EXPECT_EQ(PropertyOf("d2@example.com", "consentd_werbesperre"), "");
}

// consentd's PATCH by address answers 404 and its create 409 "Contact
// already exists. Existing ID: N": someone created the contact in between,
// or the address is a contact's secondary one, which a PATCH by address
// never finds. The properties are written to contact N instead of the row
// failing for good. (Played by answering every PATCH by this address 404
// for a contact that exists: what the create then meets is the same.)
TEST_F(HubSpotConnectorTest, ACreateThatMeetsAContactCreatedMeanwhilePatchesIt) {
  ASSERT_EQ(
      Api("POST", "/crm/v3/objects/contacts", {{"properties", {{"email", "race@example.com"}}}})
          .status,
      201);
  ASSERT_EQ(Control("POST", "/_sim/faults",
                    {{"kind", "error"},
                     {"system", "hubspot"},
                     {"method", "PATCH"},
                     {"route", "/crm/v3/objects/contacts/race*"},
                     {"status", 404}})
                .status,
            201);
  OutboundItem a = Item(1, "race@example.com");
  Block(a, BlockScope::All(), true);
  auto results = connector_->Deliver({a});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  EXPECT_EQ(PropertyOf("race@example.com", "consentd_werbesperre"), "true");
  EXPECT_EQ(results[0].system_id, ContactId("race@example.com"));
}

// The person's address was changed in HubSpot and consentd has not read
// the change yet: a block goes to the linked contact by its id, not by the
// old address (which would create a second contact with it).
TEST_F(HubSpotConnectorTest, ABlockGoesToTheLinkedContactWhoseAddressChangedMeanwhile) {
  const Reply created =
      Api("POST", "/crm/v3/objects/contacts", {{"properties", {{"email", "old@example.com"}}}});
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = created.Json().value("id", "");
  ASSERT_EQ(Api("PATCH", "/crm/v3/objects/contacts/" + id,
                {{"properties", {{"email", "new@example.com"}}}})
                .status,
            200);
  OutboundItem a = Item(1, "old@example.com");
  a.desired.system_id = id;
  Block(a, BlockScope::All(), true);
  auto r = connector_->Deliver({a});
  ASSERT_TRUE(r[0].status.ok()) << r[0].status.ToString();
  EXPECT_EQ(PropertyOf("new@example.com", "consentd_werbesperre"), "true");
  EXPECT_EQ(PropertyOf("old@example.com", "consentd_werbesperre"), "<no contact>")
      << "a second contact was created with the old address";
  EXPECT_EQ(r[0].system_id, id);
}

TEST_F(HubSpotConnectorTest, DeliverChannelBlockUnsubscribesFromAllAndKeepsItOverGrants) {
  OutboundItem a = Item(1, "c@example.com");
  Grant(a, "newsletter", ConsentStatus::kGranted);
  Block(a, BlockScope::Channel("email"), true);
  auto results = connector_->Deliver({a});
  ASSERT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  bool wide = false;
  const json state = SimState();
  for (const json& w : state["unsubscribedFromAll"]) {
    wide |= w["subscriberIdString"] == "c@example.com" && w["channel"] == "EMAIL";
  }
  EXPECT_TRUE(wide);
  EXPECT_EQ(StatusOf("c@example.com", 101), "UNSUBSCRIBED");
}

// A channel block on SMS is usually the item's only SMS content: the
// grants on a blocked channel are filtered out before delivery. The phone
// number it is written to is looked up all the same.
TEST_F(HubSpotConnectorTest, AnSmsChannelBlockAloneIsWrittenToTheContactsPhone) {
  ASSERT_EQ(Api("POST", "/crm/v3/objects/contacts",
                {{"properties", {{"email", "phone@example.com"}, {"mobilephone", "+41790000001"}}}})
                .status,
            201);
  OutboundItem a = Item(1, "phone@example.com");
  Block(a, BlockScope::Channel("sms"), true);
  auto results = connector_->Deliver({a});
  ASSERT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  EXPECT_EQ(results[0].detail.find("not written"), std::string::npos) << results[0].detail;
  bool wide = false;
  const json state = SimState();
  for (const json& w : state["unsubscribedFromAll"]) {
    wide |= w["subscriberIdString"] == "+41790000001" && w["channel"] == "SMS";
  }
  EXPECT_TRUE(wide) << state["unsubscribedFromAll"].dump();
}

// consentd withdrew the topic itself; after a restart she clicks the
// unsubscribe link on it (HubSpot keeps consentd's explanation, which names
// UNSUBSCRIBED, and changes the source). The explanation cannot tell, the
// source learnt before the restart can: handed to the new instance
// (LearntState), it keeps her withdrawal.
TEST_F(HubSpotConnectorTest, TheSourceLearntBeforeARestartTellsHerUnsubscribeFromConsentds) {
  const TimestampMs captured = SystemClock().NowMs() - 60'000;
  OutboundItem a = Item(1, "ls@example.com");
  Grant(a, "newsletter", ConsentStatus::kWithdrawn, "email", captured);
  ASSERT_TRUE(connector_->Deliver({a})[0].status.ok());
  const std::string learnt = connector_->LearntState();
  ASSERT_FALSE(learnt.empty());
  ASSERT_EQ(Control("POST", "/_sim/hubspot/person/unsubscribe",
                    {{"email", "ls@example.com"}, {"subscriptionId", 101}})
                .status,
            200);
  a.desired.system_id = ContactId("ls@example.com");
  Grant(a, "newsletter", ConsentStatus::kGranted, "email", captured + 1000);

  // A reload's new instance takes it over from the old one at once.
  auto reloaded = Make(spec_);
  reloaded->TakeOverMemory(*connector_);
  EXPECT_EQ(reloaded->LearntState(), learnt);

  connector_ = Make(spec_);  // a restart
  connector_->RestoreLearntState(learnt);
  EXPECT_EQ(connector_->LearntState(), learnt);
  auto r = connector_->Deliver({a});
  ASSERT_TRUE(r[0].status.ok()) << r[0].status.ToString();
  EXPECT_EQ(StatusOf("ls@example.com", 101), "UNSUBSCRIBED") << r[0].detail;
  EXPECT_EQ(r[0].kept_out.size(), 1u) << r[0].detail;
  EXPECT_TRUE(r[0].nothing_written) << "her one topic was all there was to write";
}

// consentd's own channel block unsubscribes every topic from all, and the
// topics keep the explanation they had (the grant's). When the block is
// lifted, the grant (captured before it) is written again: that
// UNSUBSCRIBED is consentd's by its status source, not someone else's.
TEST_F(HubSpotConnectorTest, AGrantIsWrittenAgainWhenConsentdLiftsItsOwnChannelBlock) {
  const TimestampMs captured = SystemClock().NowMs() - 1000;
  OutboundItem a = Item(1, "cb@example.com");
  Grant(a, "newsletter", ConsentStatus::kGranted, "email", captured);
  ASSERT_TRUE(connector_->Deliver({a})[0].status.ok());
  ASSERT_EQ(StatusOf("cb@example.com", 101), "SUBSCRIBED");
  a.desired.system_id = ContactId("cb@example.com");
  Block(a, BlockScope::Channel("email"), true);
  ASSERT_TRUE(connector_->Deliver({a})[0].status.ok());
  ASSERT_EQ(StatusOf("cb@example.com", 101), "UNSUBSCRIBED");

  Block(a, BlockScope::Channel("email"), false);
  auto r = connector_->Deliver({a});
  ASSERT_TRUE(r[0].status.ok()) << r[0].status.ToString();
  EXPECT_EQ(StatusOf("cb@example.com", 101), "SUBSCRIBED") << r[0].detail;
  EXPECT_TRUE(r[0].kept_out.empty()) << r[0].detail;
}

// HubSpot keeps the last status written, and a write carries every mapped
// subscription. A withdrawal the person made there after the grant being
// written was captured (consentd has not decided it yet, or it would not be
// granting) is not written over; the rest of the item is.
TEST_F(HubSpotConnectorTest, AGrantIsNotWrittenOverAWithdrawalThePersonMadeThereSinceItsCapture) {
  const TimestampMs captured = SystemClock().NowMs() - 60'000;
  OutboundItem a = Item(1, "w@example.com");
  Grant(a, "newsletter", ConsentStatus::kGranted, "email", captured);
  ASSERT_TRUE(connector_->Deliver({a})[0].status.ok());
  ASSERT_EQ(StatusOf("w@example.com", 101), "SUBSCRIBED");
  // Her unsubscribe link (which keeps the explanation consentd wrote).
  ASSERT_EQ(Control("POST", "/_sim/hubspot/person/unsubscribe",
                    {{"email", "w@example.com"}, {"subscriptionId", 101}})
                .status,
            200);
  ASSERT_EQ(StatusOf("w@example.com", 101), "UNSUBSCRIBED");

  // consentd, not knowing yet, writes her state with a grant of another topic
  // (to the contact it linked from the first write).
  a.desired.system_id = ContactId("w@example.com");
  Grant(a, "product", ConsentStatus::kGranted, "email", captured + 1000);
  auto r = connector_->Deliver({a});
  ASSERT_TRUE(r[0].status.ok()) << r[0].status.ToString();
  EXPECT_EQ(StatusOf("w@example.com", 101), "UNSUBSCRIBED") << r[0].detail;
  EXPECT_EQ(StatusOf("w@example.com", 102), "SUBSCRIBED") << "the rest is written";
  EXPECT_NE(r[0].detail.find("101=SUBSCRIBED not written"), std::string::npos) << r[0].detail;
  EXPECT_EQ(r[0].detail.find("@example.com"), std::string::npos) << r[0].detail;
  // consentd is told, to forget that it wrote the grant there.
  EXPECT_EQ(r[0].kept_out, std::vector<std::string>{"s-1|newsletter|email|"});
  EXPECT_FALSE(r[0].nothing_written) << "the other topic was written";

  // A grant captured after her withdrawal (beyond the tie window) is newer.
  Grant(a, "newsletter", ConsentStatus::kGranted, "email", SystemClock().NowMs() + 5'000);
  r = connector_->Deliver({a});
  ASSERT_TRUE(r[0].status.ok()) << r[0].status.ToString();
  EXPECT_EQ(StatusOf("w@example.com", 101), "SUBSCRIBED") << r[0].detail;
}

// A scripted HubSpot whose contact 1001 (`email`) is found and whose
// statuses read fails that subscriber on HubSpot's side (a 207 with an
// error of `category`); any other call is answered empty.
net::HttpResponse OneContactWhoseStatusesFail(const net::HttpRequest& req, const std::string& email,
                                              const std::string& category) {
  if (req.path.rfind("/crm/v3/objects/contacts/batch/read", 0) == 0) {
    return connectors::testing::JsonAnswer(
        200, {{"status", "COMPLETE"},
              {"results",
               {{{"id", "1001"},
                 {"properties", {{"email", email}, {"hs_object_id", "1001"}}},
                 {"archived", false}}}}});
  }
  if (req.path.rfind("/communication-preferences/v4/statuses/batch/read", 0) == 0) {
    return connectors::testing::JsonAnswer(207, {{"status", "COMPLETE"},
                                                 {"results", json::array()},
                                                 {"numErrors", 1},
                                                 {"errors",
                                                  {{{"status", "error"},
                                                    {"category", category},
                                                    {"message", "failed for " + email},
                                                    {"context", json::object()}}}}});
  }
  return connectors::testing::JsonAnswer(200, {{"status", "COMPLETE"}, {"results", json::array()}});
}

// HubSpot's unsubscribe-all statuses: UNSUBSCRIBED sets the channel block,
// a dated SUBSCRIBED clears it, and NOT_SPECIFIED (dated, as in the spec's
// example) says nothing; read as a clearing, it would lift a block set
// elsewhere since.
TEST_F(HubSpotConnectorTest, OnlyADatedSubscribedUnsubscribeAllClearsTheChannelBlock) {
  std::string wide_status;
  connectors::testing::ScriptServer hubspot;
  hubspot.Answer([&wide_status](const net::HttpRequest& req) {
    if (req.path.rfind("/crm/v3/objects/contacts/batch/read", 0) == 0) {
      return connectors::testing::JsonAnswer(
          200, {{"status", "COMPLETE"},
                {"results",
                 {{{"id", "1001"},
                   {"properties", {{"email", "w@example.com"}, {"hs_object_id", "1001"}}},
                   {"archived", false}}}}});
    }
    if (req.path.rfind("/communication-preferences/v4/statuses/batch/unsubscribe-all/read", 0) ==
        0) {
      return connectors::testing::JsonAnswer(200,
                                             {{"status", "COMPLETE"},
                                              {"results",
                                               {{{"subscriberIdString", "w@example.com"},
                                                 {"wideStatuses",
                                                  {{{"subscriberIdString", "w@example.com"},
                                                    {"wideStatusType", "PORTAL_WIDE"},
                                                    {"channel", "EMAIL"},
                                                    {"status", wide_status},
                                                    {"timestamp", "2026-11-01T10:00:00Z"}}}}}}}});
    }
    return connectors::testing::JsonAnswer(200,
                                           {{"status", "COMPLETE"}, {"results", json::array()}});
  });
  HubSpotSettings settings = Settings();
  settings.base_url = hubspot.base();
  auto connector = MakeHubSpotConnector(settings, TestMapping(), *http_);
  const auto read = [&](const std::string& status) {
    wide_status = status;
    auto r = connector->Read({RecordRef{"e", "1001", "", RecordHint::kChanged, {}, "", 1, ""}});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && r->size() == 1 ? (*r)[0] : InboundRecord{};
  };
  EXPECT_NE(FindKind(read("UNSUBSCRIBED"), ChangeKind::kBlockSet), nullptr);
  EXPECT_NE(FindKind(read("SUBSCRIBED"), ChangeKind::kBlockCleared), nullptr);
  const InboundRecord unspecified = read("NOT_SPECIFIED");
  EXPECT_EQ(FindKind(unspecified, ChangeKind::kBlockCleared), nullptr);
  EXPECT_EQ(FindKind(unspecified, ChangeKind::kBlockSet), nullptr);
}

// A 200 without the results list the spec requires (a proxy's "{}") is no
// empty page: a poll that took it as one would move past the window, a
// full read would end early, a read would find no contact.
TEST_F(HubSpotConnectorTest, AnAnswerWithoutResultsIsAFailureNotAnEmptyPage) {
  connectors::testing::ScriptServer hubspot;
  hubspot.Answer(
      [](const net::HttpRequest&) { return connectors::testing::JsonAnswer(200, json::object()); });
  HubSpotSettings settings = Settings();
  settings.base_url = hubspot.base();
  auto connector = MakeHubSpotConnector(settings, TestMapping(), *http_);
  Result<PollPage> full = connector->Poll("", SystemClock().NowMs());
  ASSERT_FALSE(full.ok()) << full->records.size() << " record(s), cursor " << full->next_cursor;
  EXPECT_EQ(ClassOf(full.status()), ErrorClass::kRetryable);
  EXPECT_NE(full.status().message().find("without a results list"), std::string::npos)
      << full.status().message();
  auto read = connector->Read({RecordRef{"e", "1001", "", RecordHint::kChanged, {}, "", 1, ""}});
  ASSERT_FALSE(read.ok()) << read->size() << " record(s)";
  EXPECT_EQ(ClassOf(read.status()), ErrorClass::kRetryable);
}

// A batch write's 207 names the inputs it failed: one HubSpot failed on its
// side (INTERNAL_ERROR) is retried, one it refused for what it is
// (VALIDATION_ERROR) is permanent, and the rest were written.
TEST_F(HubSpotConnectorTest, ABatchWriteErrorIsClassedByItsCategory) {
  connectors::testing::ScriptServer hubspot;
  hubspot.Answer([](const net::HttpRequest& req) {
    if (req.path.rfind("/communication-preferences/v4/statuses/batch/write", 0) == 0) {
      auto error = [](const char* category, const char* email) {
        return json{{"status", "error"},
                    {"category", category},
                    {"message", std::string("failed for ") + email},
                    {"context", {{"ids", {email}}}}};
      };
      return connectors::testing::JsonAnswer(207,
                                             {{"status", "COMPLETE"},
                                              {"results", json::array()},
                                              {"numErrors", 2},
                                              {"errors",
                                               {error("INTERNAL_ERROR", "busy@example.com"),
                                                error("VALIDATION_ERROR", "bad@example.com")}}});
    }
    return connectors::testing::JsonAnswer(200,
                                           {{"status", "COMPLETE"}, {"results", json::array()}});
  });
  HubSpotSettings settings = Settings();
  settings.base_url = hubspot.base();
  auto connector = MakeHubSpotConnector(settings, TestMapping(), *http_);
  std::vector<OutboundItem> items;
  for (const char* email : {"busy@example.com", "bad@example.com", "fine@example.com"}) {
    items.push_back(Item(static_cast<std::int64_t>(items.size() + 1), email));
    Grant(items.back(), "newsletter", ConsentStatus::kGranted);
  }
  auto r = connector->Deliver(items);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].error_class, ErrorClass::kRetryable) << r[0].status.ToString();
  EXPECT_FALSE(r[0].status.ok());
  EXPECT_EQ(r[1].error_class, ErrorClass::kPermanent) << r[1].status.ToString();
  EXPECT_TRUE(r[2].status.ok()) << r[2].status.ToString();
}

// A contact created for a block property carries the `associations` the
// spec's create input requires (none).
TEST_F(HubSpotConnectorTest, AContactCreatedForABlockFollowsTheSpecsCreateInput) {
  connectors::testing::ScriptServer hubspot;
  hubspot.Answer([](const net::HttpRequest& req) {
    if (req.method == "PATCH") {
      return connectors::testing::JsonAnswer(
          404, {{"status", "error"}, {"category", "OBJECT_NOT_FOUND"}, {"message", "no contact"}});
    }
    if (req.method == "POST" && req.path == "/crm/v3/objects/contacts") {
      return connectors::testing::JsonAnswer(201, {{"id", "1001"}, {"properties", json::object()}});
    }
    return connectors::testing::JsonAnswer(200,
                                           {{"status", "COMPLETE"}, {"results", json::array()}});
  });
  HubSpotSettings settings = Settings();
  settings.base_url = hubspot.base();
  auto connector = MakeHubSpotConnector(settings, TestMapping(), *http_);
  OutboundItem a = Item(1, "new@example.com");
  Block(a, BlockScope::All(), true);
  auto r = connector->Deliver({a});
  ASSERT_TRUE(r[0].status.ok()) << r[0].status.ToString();
  bool created = false;
  for (const net::HttpRequest& req : hubspot.requests()) {
    if (req.method != "POST" || req.path != "/crm/v3/objects/contacts") continue;
    created = true;
    const json body = json::parse(req.body);
    EXPECT_EQ(body.value("associations", json()), json::array()) << req.body;
    EXPECT_EQ(body["properties"].value("email", ""), "new@example.com");
  }
  EXPECT_TRUE(created);
}

// The guard's read failing a subscriber on HubSpot's side (a 207) does
// not say she holds no status: written unguarded, the grant could undo an
// unsubscribe she made there since. The item waits (retryable), as for a
// failed read; nothing is written.
TEST_F(HubSpotConnectorTest, AGuardReadFailingTheSubscriberHoldsTheGrantBack) {
  connectors::testing::ScriptServer hubspot;
  hubspot.Answer([](const net::HttpRequest& req) {
    return OneContactWhoseStatusesFail(req, "w@example.com", "INTERNAL_ERROR");
  });
  HubSpotSettings settings = Settings();
  settings.base_url = hubspot.base();
  auto connector =
      MakeHubSpotConnector(settings, TestMapping(mapping::ErasureMode::kRestrict), *http_);
  OutboundItem a = Item(1, "w@example.com");
  a.desired.system_id = "1001";
  Grant(a, "newsletter", ConsentStatus::kGranted, "email", SystemClock().NowMs() - 60'000);
  auto r = connector->Deliver({a});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].error_class, ErrorClass::kRetryable) << r[0].status.ToString() << r[0].detail;
  EXPECT_NE(r[0].status.message().find("INTERNAL_ERROR"), std::string::npos)
      << r[0].status.message();
  for (const net::HttpRequest& req : hubspot.requests()) {
    EXPECT_EQ(req.path.find("/statuses/batch/write"), std::string::npos) << "written: " << req.path;
  }
}

// No HubSpot contact of the person is known to consentd (its first write
// there, as in an initial sync): nothing is read first.
TEST_F(HubSpotConnectorTest, AGrantToAContactConsentdHasNotLinkedIsWrittenWithoutAReadFirst) {
  OutboundItem a = Item(1, "n@example.com");
  Grant(a, "newsletter", ConsentStatus::kGranted, "email", SystemClock().NowMs() - 60'000);
  const int reads_before = CountRequests("/communication-preferences/v4/statuses/batch/read");
  auto r = connector_->Deliver({a});
  ASSERT_TRUE(r[0].status.ok()) << r[0].status.ToString();
  EXPECT_EQ(StatusOf("n@example.com", 101), "SUBSCRIBED");
  EXPECT_EQ(CountRequests("/communication-preferences/v4/statuses/batch/read"), reads_before);
}

// consentd's own withdrawal that landed after a grant was captured was
// ordered against it by the reconciler already: the grant is written.
TEST_F(HubSpotConnectorTest, AGrantIsWrittenOverConsentdsOwnWithdrawalThatLandedLater) {
  const TimestampMs captured = SystemClock().NowMs() - 60'000;
  OutboundItem a = Item(1, "o@example.com");
  Grant(a, "newsletter", ConsentStatus::kWithdrawn, "email", captured - 1000);
  ASSERT_TRUE(connector_->Deliver({a})[0].status.ok());
  ASSERT_EQ(StatusOf("o@example.com", 101), "UNSUBSCRIBED");
  a.desired.system_id = ContactId("o@example.com");
  Grant(a, "newsletter", ConsentStatus::kGranted, "email", captured);
  auto r = connector_->Deliver({a});
  ASSERT_TRUE(r[0].status.ok()) << r[0].status.ToString();
  EXPECT_EQ(StatusOf("o@example.com", 101), "SUBSCRIBED") << r[0].detail;
}

// After a restart consentd has not learnt the status `source` of its own
// writes yet. Her unsubscribe kept the explanation consentd wrote with its
// grant; that explanation names SUBSCRIBED, so the UNSUBSCRIBED is hers and
// is kept. consentd's own withdrawal, which names UNSUBSCRIBED, is still
// written over by a grant the reconciler ordered after it.
TEST_F(HubSpotConnectorTest, AfterARestartHerWithdrawalThatKeptConsentdsExplanationIsStillKept) {
  const TimestampMs captured = SystemClock().NowMs() - 60'000;
  OutboundItem a = Item(1, "r@example.com");
  Grant(a, "newsletter", ConsentStatus::kGranted, "email", captured);
  Grant(a, "product", ConsentStatus::kWithdrawn, "email", captured);
  ASSERT_TRUE(connector_->Deliver({a})[0].status.ok());
  ASSERT_EQ(Control("POST", "/_sim/hubspot/person/unsubscribe",
                    {{"email", "r@example.com"}, {"subscriptionId", 101}})
                .status,
            200);
  ASSERT_EQ(StatusOf("r@example.com", 101), "UNSUBSCRIBED");
  ASSERT_EQ(StatusOf("r@example.com", 102), "UNSUBSCRIBED");

  connector_ = Make(spec_);  // a restart: nothing learnt
  a.desired.system_id = ContactId("r@example.com");
  Grant(a, "newsletter", ConsentStatus::kGranted, "email", captured + 1000);
  Grant(a, "product", ConsentStatus::kGranted, "email", captured + 1000);
  auto r = connector_->Deliver({a});
  ASSERT_TRUE(r[0].status.ok()) << r[0].status.ToString();
  EXPECT_EQ(StatusOf("r@example.com", 101), "UNSUBSCRIBED") << r[0].detail;
  EXPECT_EQ(r[0].kept_out, std::vector<std::string>{"s-1|newsletter|email|"});
  EXPECT_EQ(StatusOf("r@example.com", 102), "SUBSCRIBED") << r[0].detail;
}

// A topic whose changes in HubSpot do not flow back (journey to CRM only)
// is HubSpot's to receive: written as the journey says, whatever it holds.
TEST_F(HubSpotConnectorTest, AGrantOfATopicHubSpotOnlyReceivesIsWrittenOverItsWithdrawal) {
  auto spec = TestMapping();
  spec->topics[0].direction = mapping::FlowDirection::kJourneyToCrm;
  connector_ = Make(spec);
  const TimestampMs captured = SystemClock().NowMs() - 60'000;
  Control("POST", "/_sim/hubspot/person/signup", {{"email", "j@example.com"}});
  Control("POST", "/_sim/hubspot/person/unsubscribe",
          {{"email", "j@example.com"}, {"subscriptionId", 101}});
  ASSERT_EQ(StatusOf("j@example.com", 101), "UNSUBSCRIBED");
  OutboundItem a = Item(1, "j@example.com");
  a.desired.system_id = ContactId("j@example.com");
  Grant(a, "newsletter", ConsentStatus::kGranted, "email", captured);
  auto r = connector_->Deliver({a});
  ASSERT_TRUE(r[0].status.ok()) << r[0].status.ToString();
  EXPECT_EQ(StatusOf("j@example.com", 101), "SUBSCRIBED") << r[0].detail;
}

// A status read HubSpot refuses for good (one bad subscriber among many)
// is split per subscriber, so the others are still guarded and written.
TEST_F(HubSpotConnectorTest, AStatusReadRefusedForGoodIsSplitPerSubscriber) {
  ASSERT_EQ(Api("POST", "/crm/v3/objects/contacts", {{"properties", {{"email", "s2@example.com"}}}})
                .status,
            201);
  Control("POST", "/_sim/hubspot/person/signup", {{"email", "s1@example.com"}});
  Control("POST", "/_sim/hubspot/person/unsubscribe",
          {{"email", "s1@example.com"}, {"subscriptionId", 101}});
  const std::string id1 = ContactId("s1@example.com"), id2 = ContactId("s2@example.com");
  ASSERT_EQ(Control("POST", "/_sim/faults",
                    {{"kind", "error"}, {"system", "hubspot"}, {"status", 400}, {"count", 1}})
                .status,
            201);
  const TimestampMs captured = SystemClock().NowMs() - 60'000;
  OutboundItem a = Item(1, "s1@example.com");
  a.desired.system_id = id1;
  Grant(a, "newsletter", ConsentStatus::kGranted, "email", captured);
  OutboundItem b = Item(2, "s2@example.com");
  b.desired.system_id = id2;
  Grant(b, "newsletter", ConsentStatus::kGranted, "email", captured);
  auto r = connector_->Deliver({a, b});
  ASSERT_TRUE(r[0].status.ok()) << r[0].status.ToString();
  ASSERT_TRUE(r[1].status.ok()) << r[1].status.ToString();
  EXPECT_EQ(StatusOf("s1@example.com", 101), "UNSUBSCRIBED") << r[0].detail;
  EXPECT_EQ(r[0].kept_out.size(), 1u);
  EXPECT_EQ(StatusOf("s2@example.com", 101), "SUBSCRIBED") << r[1].detail;
  EXPECT_TRUE(r[1].kept_out.empty());
}

// A refused credential (401, 403) is no input's fault: the batch is not
// split into one call per item (which would cost the budget a call per row
// at every retry while the token is refused), and every item carries the
// refusal.
TEST_F(HubSpotConnectorTest, ABatchRefusedForTheCredentialIsNotSplitPerItem) {
  for (const int status : {401, 403}) {
    std::vector<OutboundItem> items;
    for (int i = 0; i < 3; ++i) {
      const std::string email = "cred" + std::to_string(i) + "@example.com";
      OutboundItem it = Item(i + 1, email);
      Grant(it, "newsletter", ConsentStatus::kWithdrawn, "email", SystemClock().NowMs());
      items.push_back(std::move(it));
    }
    Reply added = Control("POST", "/_sim/faults",
                          {{"kind", "error"}, {"system", "hubspot"}, {"status", status}});
    ASSERT_EQ(added.status, 201) << added.body;
    auto r = connector_->Deliver(items);
    ASSERT_EQ(r.size(), 3u);
    for (const auto& one : r) {
      EXPECT_FALSE(one.status.ok());
      EXPECT_TRUE(IsCredentialRefusal(one.status)) << one.status.ToString();
    }
    const json faults = Control("GET", "/_sim/faults").Json()["faults"];
    ASSERT_EQ(faults.size(), 1u) << faults.dump();
    EXPECT_EQ(faults[0]["hits"], 1) << "status " << status << ": " << faults.dump();
    ASSERT_EQ(Control("DELETE", "/_sim/faults").status, 200);
  }
  // Grants to linked contacts read their statuses first (step 0): that read,
  // refused for the credential, is not split per subscriber either. One
  // read, then the write, each refused once.
  std::vector<OutboundItem> grants;
  for (int i = 0; i < 3; ++i) {
    const std::string email = "linked" + std::to_string(i) + "@example.com";
    Control("POST", "/_sim/hubspot/person/signup", {{"email", email}});
    OutboundItem it = Item(10 + i, email);
    it.desired.system_id = ContactId(email);
    Grant(it, "newsletter", ConsentStatus::kGranted, "email", SystemClock().NowMs());
    grants.push_back(std::move(it));
  }
  Reply added =
      Control("POST", "/_sim/faults", {{"kind", "error"}, {"system", "hubspot"}, {"status", 403}});
  ASSERT_EQ(added.status, 201) << added.body;
  auto r = connector_->Deliver(grants);
  ASSERT_EQ(r.size(), 3u);
  for (const auto& one : r) EXPECT_TRUE(IsCredentialRefusal(one.status)) << one.status.ToString();
  const json faults = Control("GET", "/_sim/faults").Json()["faults"];
  ASSERT_EQ(faults.size(), 1u) << faults.dump();
  EXPECT_EQ(faults[0]["hits"], 2) << faults.dump();
}

// The statuses cannot be read: nothing is written blind, the item is retried.
TEST_F(HubSpotConnectorTest, AGrantWhoseStatusesCannotBeReadFirstIsRetried) {
  Control("POST", "/_sim/hubspot/person/signup", {{"email", "f@example.com"}});
  Control("POST", "/_sim/hubspot/person/unsubscribe",
          {{"email", "f@example.com"}, {"subscriptionId", 101}});
  const std::string id = ContactId("f@example.com");
  ASSERT_EQ(Control("POST", "/_sim/faults",
                    {{"kind", "error"}, {"system", "hubspot"}, {"status", 503}, {"count", 1}})
                .status,
            201);
  OutboundItem a = Item(1, "f@example.com");
  a.desired.system_id = id;
  Grant(a, "newsletter", ConsentStatus::kGranted, "email", SystemClock().NowMs() + 5'000);
  Grant(a, "product", ConsentStatus::kGranted, "email", SystemClock().NowMs() + 5'000);
  auto r = connector_->Deliver({a});
  EXPECT_EQ(r[0].error_class, ErrorClass::kRetryable) << r[0].status.ToString();
  EXPECT_EQ(StatusOf("f@example.com", 101), "UNSUBSCRIBED");
  EXPECT_EQ(StatusOf("f@example.com", 102), "NOT_SPECIFIED");
  r = connector_->Deliver({a});
  ASSERT_TRUE(r[0].status.ok()) << r[0].status.ToString();
  EXPECT_EQ(StatusOf("f@example.com", 101), "SUBSCRIBED");
}

TEST_F(HubSpotConnectorTest, DeliverEraseDeleteModeGdprDeletesTheContact) {
  Control("POST", "/_sim/hubspot/person/signup", {{"email", "e@example.com"}});
  OutboundItem a = Item(1, "e@example.com");
  a.desired.erase = true;
  auto results = connector_->Deliver({a});
  ASSERT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  json state = SimState();
  EXPECT_NE(
      std::find(state["gdprBlocklist"].begin(), state["gdprBlocklist"].end(), "e@example.com"),
      state["gdprBlocklist"].end());
  EXPECT_EQ(PropertyOf("e@example.com", "email"), "<no contact>");
}

// The address consentd holds can be one the contact no longer has (changed
// in HubSpot, not read yet): HubSpot answers a gdpr-delete by that address
// 204 and keeps the contact. The linked contact is deleted by its id.
TEST_F(HubSpotConnectorTest, DeliverEraseDeleteModeDeletesTheLinkedContactWhoseAddressChanged) {
  Control("POST", "/_sim/hubspot/person/signup", {{"email", "old@example.com"}});
  const std::string id = ContactId("old@example.com");
  ASSERT_EQ(Api("PATCH", "/crm/v3/objects/contacts/" + id,
                {{"properties", {{"email", "new@example.com"}}}})
                .status,
            200);
  OutboundItem a = Item(1, "old@example.com");
  a.desired.erase = true;
  a.desired.system_id = id;
  auto results = connector_->Deliver({a});
  ASSERT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  EXPECT_FALSE(results[0].already_gone);
  EXPECT_EQ(PropertyOf("new@example.com", "email"), "<no contact>");

  // Linked to a contact gone already: then by the address, which deletes
  // any contact that has it (HubSpot blocklists it; the simulator only
  // answers 204). A 204 does not say whether there was one: done.
  Control("POST", "/_sim/hubspot/person/signup", {{"email", "left@example.com"}});
  OutboundItem b = Item(2, "left@example.com");
  b.desired.erase = true;
  b.desired.system_id = "999999";
  const int before = CountRequests("/crm/v3/objects/contacts/gdpr-delete");
  results = connector_->Deliver({b});
  ASSERT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  EXPECT_FALSE(results[0].already_gone);
  EXPECT_EQ(CountRequests("/crm/v3/objects/contacts/gdpr-delete") - before, 2);
  EXPECT_EQ(PropertyOf("left@example.com", "email"), "<no contact>");
}

// An erasure row that knows the contact only by id (linked before rows
// carried addresses) whose contact is gone: done, not a permanent failure.
TEST_F(HubSpotConnectorTest, DeliverEraseByIdOnlyOfAContactThatIsGoneIsAlreadyDone) {
  OutboundItem a = Item(1, "");
  a.desired.email.clear();
  a.desired.erase = true;
  a.desired.system_id = "999998";
  auto results = connector_->Deliver({a});
  ASSERT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  EXPECT_TRUE(results[0].already_gone);
  connector_ = Make(TestMapping(mapping::ErasureMode::kRestrict));
  results = connector_->Deliver({a});
  ASSERT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  EXPECT_TRUE(results[0].already_gone);
}

TEST_F(HubSpotConnectorTest, DeliverEraseRestrictModeUnsubscribesEverythingAndBlocks) {
  connector_ = Make(TestMapping(mapping::ErasureMode::kRestrict));
  Control("POST", "/_sim/hubspot/person/signup", {{"email", "r@example.com"}});
  OutboundItem a = Item(1, "r@example.com");
  a.desired.erase = true;
  auto results = connector_->Deliver({a});
  ASSERT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  for (std::int64_t id : {101, 102, 103}) EXPECT_EQ(StatusOf("r@example.com", id), "UNSUBSCRIBED");
  EXPECT_EQ(PropertyOf("r@example.com", "consentd_werbesperre"), "true");
  EXPECT_NE(results[0].detail.find("restrict"), std::string::npos) << results[0].detail;
}

// A restrict erasure of a contact that is gone (deleted in HubSpot, its
// webhook lost) must not create one with the person's address to hold the
// block: nothing is written, and the erasure is already done. A linked
// contact that still exists is restricted as usual.
TEST_F(HubSpotConnectorTest, DeliverEraseRestrictOfAContactThatIsGoneCreatesNone) {
  connector_ = Make(TestMapping(mapping::ErasureMode::kRestrict));
  Control("POST", "/_sim/hubspot/person/signup", {{"email", "gone@example.com"}});
  const std::string id = ContactId("gone@example.com");
  ASSERT_EQ(Api("DELETE", "/crm/v3/objects/contacts/" + id).status, 204);
  OutboundItem gone = Item(1, "gone@example.com");
  gone.desired.erase = true;
  gone.desired.system_id = id;
  OutboundItem unlinked = Item(2, "never@example.com");
  unlinked.desired.erase = true;
  Control("POST", "/_sim/hubspot/person/signup", {{"email", "kept@example.com"}});
  OutboundItem kept = Item(3, "kept@example.com");
  kept.desired.erase = true;
  kept.desired.system_id = ContactId("kept@example.com");
  auto results = connector_->Deliver({gone, unlinked, kept});
  ASSERT_EQ(results.size(), 3u);
  for (const DeliveryResult& r : results) ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_TRUE(results[0].already_gone);
  EXPECT_TRUE(results[1].already_gone);
  EXPECT_FALSE(results[2].already_gone);
  int live = 0;  // contacts holding the address, not archived
  const json state = SimState();
  for (const json& c : state["contacts"]) {
    const std::string email = c["properties"].value("email", "");
    if ((email == "gone@example.com" || email == "never@example.com") &&
        !c.value("archived", false)) {
      ++live;
    }
  }
  EXPECT_EQ(live, 0) << "an erasure created a contact";
  EXPECT_EQ(PropertyOf("kept@example.com", "consentd_werbesperre"), "true");
}

// A contacts batch read's 207: contact 1002 found, and an error of
// HubSpot's own about inputs, with `context` (naming them, or not).
net::HttpResponse ContactFoundAndAnotherFailed(const json& context) {
  return connectors::testing::JsonAnswer(
      207, {{"status", "COMPLETE"},
            {"results",
             {{{"id", "1002"},
               {"properties", {{"email", "found@example.com"}, {"hs_object_id", "1002"}}},
               {"archived", false}}}},
            {"errors",
             {{{"status", "error"},
               {"category", "INTERNAL_ERROR"},
               {"message", "Could not read some CONTACT objects"},
               {"context", context}}}}});
}

// Only OBJECT_NOT_FOUND in a batch read's errors says a contact is gone.
// Another error about an input (HubSpot failing part of a 207) says
// nothing about it: read as gone, a poll would record a deletion and an
// erasure would count as done without being written. A read returns it
// not read (read again later); a delivery retries it.
TEST_F(HubSpotConnectorTest, ABatchReadErrorOtherThanNotFoundIsRetriedNotTakenAsGone) {
  connectors::testing::ScriptServer hubspot;
  hubspot.Answer([](const net::HttpRequest& req) {
    if (req.path.rfind("/crm/v3/objects/contacts/batch/read", 0) != 0) {
      return connectors::testing::JsonAnswer(500, {{"message", "unexpected"}});
    }
    return connectors::testing::JsonAnswer(207,
                                           {{"status", "COMPLETE"},
                                            {"results", json::array()},
                                            {"numErrors", 1},
                                            {"errors",
                                             {{{"status", "error"},
                                               {"category", "INTERNAL_ERROR"},
                                               {"message", "Could not read some CONTACT objects"},
                                               {"context", {{"ids", {"1001"}}}}}}}});
  });
  HubSpotSettings settings = Settings();
  settings.base_url = hubspot.base();
  auto connector =
      MakeHubSpotConnector(settings, TestMapping(mapping::ErasureMode::kRestrict), *http_);

  auto read = connector->Read({RecordRef{"e", "1001", "", RecordHint::kDeleted, {}, "", 1, ""}});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), 1u);
  EXPECT_TRUE(read->front().mapped.changes.empty())
      << "not taken as gone, even for a deletion hint";
  EXPECT_NE(read->front().not_read.find("INTERNAL_ERROR"), std::string::npos)
      << read->front().not_read;
  EXPECT_EQ(read->front().read_again.hint, RecordHint::kDeleted);

  OutboundItem erase = Item(1, "someone@example.com");
  erase.desired.erase = true;
  erase.desired.system_id = "1001";
  auto results = connector->Deliver({erase});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].already_gone);
  EXPECT_EQ(results[0].error_class, ErrorClass::kRetryable) << results[0].status.ToString();

  // A delivery's look-up of contacts known by id only: the input HubSpot
  // failed waits (retryable), the one it found is written.
  hubspot.Answer([](const net::HttpRequest& req) {
    if (req.path.rfind("/crm/v3/objects/contacts/batch/read", 0) == 0) {
      return ContactFoundAndAnotherFailed({{"ids", {"1001"}}});
    }
    if (req.path.rfind("/communication-preferences/", 0) == 0) {  // no statuses
      return connectors::testing::JsonAnswer(200,
                                             {{"status", "COMPLETE"}, {"results", json::array()}});
    }
    return connectors::testing::JsonAnswer(200, {{"id", "1002"}, {"properties", json::object()}});
  });
  auto by_id = [&](std::int64_t n, const std::string& id) {
    OutboundItem item = Item(n, "");
    item.desired.system_id = id;
    Block(item, BlockScope::All(), true);
    return item;
  };
  results = connector->Deliver({by_id(2, "1001"), by_id(3, "1002")});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].error_class, ErrorClass::kRetryable) << results[0].status.ToString();
  EXPECT_NE(results[0].status.message().find("INTERNAL_ERROR"), std::string::npos);
  EXPECT_TRUE(results[1].status.ok()) << results[1].status.ToString();

  // A hint's read of both: the contact HubSpot failed is not read, the
  // other is.
  read = connector->Read({RecordRef{"e1", "1001", "", RecordHint::kChanged, {}, "", 1, ""},
                          RecordRef{"e2", "1002", "", RecordHint::kChanged, {}, "", 1, ""}});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[0].system_id, "1001");
  EXPECT_NE((*read)[0].not_read.find("INTERNAL_ERROR"), std::string::npos) << (*read)[0].not_read;
  EXPECT_EQ((*read)[0].read_again.system_id, "1001");
  EXPECT_EQ((*read)[1].system_id, "1002");
  EXPECT_TRUE((*read)[1].not_read.empty());

  // With a merged-away id in the batch (HubSpot answers it as its
  // survivor, 1002, not asked for): the failed id is not taken for the one
  // merged away, so the merge is still matched.
  read = connector->Read({RecordRef{"e1", "1001", "", RecordHint::kChanged, {}, "", 1, ""},
                          RecordRef{"e3", "1003", "", RecordHint::kChanged, {}, "", 1, ""}});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), 2u);
  EXPECT_FALSE((*read)[0].not_read.empty());
  EXPECT_EQ((*read)[1].system_id, "1002");
  EXPECT_EQ((*read)[1].merged_ids, std::vector<std::string>{"1003"});

  // An error naming no input cannot be pinned on one: the whole read
  // fails (its inputs would otherwise be neither found nor gone).
  hubspot.Answer([](const net::HttpRequest& req) {
    if (req.path.rfind("/crm/v3/objects/contacts/batch/read", 0) == 0) {
      return ContactFoundAndAnotherFailed(json::object());
    }
    return connectors::testing::JsonAnswer(200,
                                           {{"status", "COMPLETE"}, {"results", json::array()}});
  });
  read = connector->Read({RecordRef{"e1", "1001", "", RecordHint::kDeleted, {}, "", 1, ""},
                          RecordRef{"e2", "1002", "", RecordHint::kChanged, {}, "", 1, ""}});
  ASSERT_FALSE(read.ok()) << "read as " << read->size() << " record(s)";
  EXPECT_EQ(ClassOf(read.status()), ErrorClass::kRetryable);
}

// The same for the statuses read after the contacts: a 207 failing a
// subscriber on HubSpot's side leaves the contact's statuses unknown.
// Before, the contact was read as holding none, and a poll took its
// change as decided (skipped until the next resync). An input HubSpot
// refuses for what it is stays readable without statuses.
TEST_F(HubSpotConnectorTest, AStatusesReadFailingASubscriberIsRetriedNotReadAsNone) {
  std::string category = "INTERNAL_ERROR";
  connectors::testing::ScriptServer hubspot;
  hubspot.Answer([&category](const net::HttpRequest& req) {
    return OneContactWhoseStatusesFail(req, "anna@example.com", category);
  });
  HubSpotSettings settings = Settings();
  settings.base_url = hubspot.base();
  auto connector =
      MakeHubSpotConnector(settings, TestMapping(mapping::ErasureMode::kRestrict), *http_);
  const auto read = [&] {
    return connector->Read({RecordRef{"e", "1001", "", RecordHint::kChanged, {}, "", 1, ""}});
  };
  auto failed = read();
  ASSERT_FALSE(failed.ok()) << "read as " << failed->size() << " record(s)";
  EXPECT_EQ(ClassOf(failed.status()), ErrorClass::kRetryable);
  EXPECT_NE(failed.status().message().find("INTERNAL_ERROR"), std::string::npos)
      << failed.status().message();
  EXPECT_EQ(failed.status().message().find("anna@example.com"), std::string::npos)
      << "the address is masked: " << failed.status().message();

  category = "VALIDATION_ERROR";
  auto refused = read();
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  ASSERT_EQ(refused->size(), 1u);
  EXPECT_EQ(FindConsent(refused->front(), "newsletter"), nullptr);
}

// HubSpot failing one subscriber's statuses in a read that answers for
// the others: that contact alone is not read (InboundRecord::not_read,
// with what to read again); the others are read, by a hint's Read and by
// a poll page alike. A read whose every input failed is a failure of the
// whole read (retried as such; nothing would go on).
TEST_F(HubSpotConnectorTest, ASubscriberHubSpotFailsLeavesOnlyItsContactNotRead) {
  for (const char* email : {"stuck@example.com", "free@example.com"}) {
    ASSERT_EQ(
        Control("POST", "/_sim/hubspot/person/signup", {{"email", email}, {"subscriptionId", 101}})
            .status,
        200);
  }
  ASSERT_EQ(Control("POST", "/_sim/hubspot/read-failure", {{"email", "stuck@example.com"}}).status,
            200);
  const std::string stuck = ContactId("stuck@example.com");
  const std::string free_id = ContactId("free@example.com");
  auto read = connector_->Read({RecordRef{"e1", stuck, "", RecordHint::kMerged, {"999"}, "", 7, ""},
                                RecordRef{"e2", free_id, "", RecordHint::kChanged, {}, "", 8, ""}});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), 2u);
  const InboundRecord& not_read = (*read)[0];
  EXPECT_EQ(not_read.system_id, stuck);
  EXPECT_EQ(not_read.event_id, "e1");
  EXPECT_NE(not_read.not_read.find("INTERNAL_ERROR"), std::string::npos) << not_read.not_read;
  EXPECT_EQ(not_read.not_read.find("stuck@example.com"), std::string::npos)
      << "no address in the reason: " << not_read.not_read;
  EXPECT_TRUE(not_read.mapped.changes.empty());
  EXPECT_TRUE(not_read.version_id.empty()) << "nothing read, nothing to remember as decided";
  EXPECT_EQ(not_read.read_again.system_id, stuck);
  EXPECT_EQ(not_read.read_again.email, "stuck@example.com");
  EXPECT_EQ(not_read.read_again.hint, RecordHint::kMerged) << "the hint's ids are kept";
  EXPECT_EQ(not_read.read_again.merged_ids, std::vector<std::string>{"999"});
  EXPECT_TRUE((*read)[1].not_read.empty());
  EXPECT_NE(FindConsent((*read)[1], "newsletter"), nullptr);

  // Alone, it is not read either (a poll window or hint round holding it
  // alone goes on); with a second contact failing too and none answered,
  // HubSpot is failing broadly: the whole read fails, retried as such.
  auto alone = connector_->Read({RecordRef{"e3", stuck, "", RecordHint::kChanged, {}, "", 9, ""}});
  ASSERT_TRUE(alone.ok()) << alone.status().ToString();
  ASSERT_EQ(alone->size(), 1u);
  EXPECT_FALSE(alone->front().not_read.empty());
  ASSERT_EQ(Control("POST", "/_sim/hubspot/person/signup",
                    {{"email", "stuck2@example.com"}, {"subscriptionId", 101}})
                .status,
            200);
  ASSERT_EQ(Control("POST", "/_sim/hubspot/read-failure", {{"email", "stuck2@example.com"}}).status,
            200);
  const std::string stuck2 = ContactId("stuck2@example.com");
  auto both = connector_->Read({RecordRef{"e5", stuck, "", RecordHint::kChanged, {}, "", 9, ""},
                                RecordRef{"e6", stuck2, "", RecordHint::kChanged, {}, "", 9, ""}});
  ASSERT_FALSE(both.ok()) << "read as " << both->size() << " record(s)";
  EXPECT_EQ(ClassOf(both.status()), ErrorClass::kRetryable);
  ASSERT_EQ(Control("POST", "/_sim/hubspot/read-failure",
                    {{"email", "stuck2@example.com"}, {"failing", false}})
                .status,
            200);

  // A poll page: the same, and its cursor moves on past both.
  std::map<std::string, const InboundRecord*> by_id;
  auto page = connector_->Poll("", clock_.NowMs());
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  for (const InboundRecord& r : page->records) by_id[r.system_id] = &r;
  ASSERT_TRUE(by_id.contains(stuck) && by_id.contains(free_id));
  EXPECT_FALSE(by_id[stuck]->not_read.empty());
  EXPECT_TRUE(by_id[stuck]->event_id.starts_with("poll:" + stuck + ":")) << by_id[stuck]->event_id;
  EXPECT_EQ(by_id[stuck]->read_again.system_id, stuck);
  EXPECT_EQ(by_id[stuck]->read_again.hint, RecordHint::kChanged);
  EXPECT_TRUE(by_id[free_id]->not_read.empty());
  EXPECT_FALSE(page->next_cursor.empty());

  // HubSpot answering again: read as any contact.
  ASSERT_EQ(Control("POST", "/_sim/hubspot/read-failure",
                    {{"email", "stuck@example.com"}, {"failing", false}})
                .status,
            200);
  auto again = connector_->Read({RecordRef{"e4", stuck, "", RecordHint::kChanged, {}, "", 9, ""}});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_EQ(again->size(), 1u);
  EXPECT_TRUE(again->front().not_read.empty());
  EXPECT_NE(FindConsent(again->front(), "newsletter"), nullptr);
}

// consentd's own grant read back keeps the method it wrote (a double
// opt-in is not read as a form grant, which a topic requiring double opt-in
// would hold as pending). The mapping tests cover an explanation that is
// not taken as consentd's.
TEST_F(HubSpotConnectorTest, ConsentdsOwnGrantReadBackKeepsItsDoubleOptIn) {
  OutboundItem a = Item(1, "doi@example.com");
  Grant(a, "newsletter", ConsentStatus::kGranted);
  a.desired.state.consents.begin()->second.method = ConsentMethod::kDoubleOptIn;
  auto results = connector_->Deliver({a});
  ASSERT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  const std::string id = ContactId("doi@example.com");
  auto read = connector_->Read({RecordRef{"e1", id, "", RecordHint::kChanged, {}, "", 1, ""}});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  const Change* grant = FindConsent(read->front(), "newsletter");
  ASSERT_NE(grant, nullptr);
  EXPECT_EQ(grant->method, ConsentMethod::kDoubleOptIn);
}

TEST_F(HubSpotConnectorTest, DeliverToGdprDeletedAddressIsBlockedByTargetAndSparesTheOthers) {
  Control("POST", "/_sim/hubspot/person/signup", {{"email", "gone@example.com"}});
  Control("POST", "/_sim/hubspot/admin/gdpr-delete", {{"email", "gone@example.com"}});
  OutboundItem bad = Item(1, "gone@example.com");
  Grant(bad, "newsletter", ConsentStatus::kGranted);
  OutboundItem good = Item(2, "fine@example.com");
  Grant(good, "newsletter", ConsentStatus::kGranted);
  auto results = connector_->Deliver({bad, good});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].outbox_id, 1);
  EXPECT_EQ(results[0].error_class, ErrorClass::kBlockedByTarget) << results[0].status.ToString();
  EXPECT_EQ(results[0].status.code(), StatusCode::kBlockedByTarget);
  EXPECT_EQ(results[0].status.message().find("gone@example.com"), std::string::npos);
  EXPECT_TRUE(results[1].status.ok()) << results[1].status.ToString();
  EXPECT_EQ(StatusOf("fine@example.com", 101), "SUBSCRIBED");
}

// An error names an input by its address; an address that ends another
// one ("a@" in "ba@") is not named by it.
TEST_F(HubSpotConnectorTest, AnErrorAboutOneAddressIsNotPinnedOnAnAddressItEndsWith) {
  Control("POST", "/_sim/hubspot/person/signup", {{"email", "ba@example.com"}});
  Control("POST", "/_sim/hubspot/admin/gdpr-delete", {{"email", "ba@example.com"}});
  OutboundItem bad = Item(1, "ba@example.com");
  Grant(bad, "newsletter", ConsentStatus::kGranted);
  OutboundItem good = Item(2, "a@example.com");
  Grant(good, "newsletter", ConsentStatus::kGranted);
  auto results = connector_->Deliver({bad, good});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].error_class, ErrorClass::kBlockedByTarget) << results[0].status.ToString();
  EXPECT_TRUE(results[1].status.ok()) << results[1].status.ToString();
  EXPECT_EQ(StatusOf("a@example.com", 101), "SUBSCRIBED");
}

TEST_F(HubSpotConnectorTest, OneInvalidInputFailsOnlyItsItemAsPermanent) {
  // Subscription type 999 does not exist: HubSpot refuses that input
  // without naming it, so the batch is resent item by item.
  connector_ = Make(TestMapping(mapping::ErasureMode::kDelete, 999));
  OutboundItem bad = Item(1, "x1@example.com");
  Grant(bad, "newsletter", ConsentStatus::kGranted);
  OutboundItem good = Item(2, "x2@example.com");
  Grant(good, "product", ConsentStatus::kGranted);
  auto results = connector_->Deliver({bad, good});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].error_class, ErrorClass::kPermanent) << results[0].status.ToString();
  EXPECT_NE(results[0].status.message().find("999"), std::string::npos);
  EXPECT_TRUE(results[1].status.ok()) << results[1].status.ToString();
  EXPECT_EQ(StatusOf("x2@example.com", 102), "SUBSCRIBED");
}

// HubSpot's daily limit: a 429 whose body names the DAILY policy, without
// Retry-After. Its rows wait kHubSpotDailyLimitProbe, and through the
// daemon's budgeted client nothing more is sent meanwhile.
TEST_F(HubSpotConnectorTest, TheDailyLimitWaitsMinutesAndClosesTheBudgetedClient) {
  connectors::testing::ScriptServer hubspot;
  hubspot.Answer([](const net::HttpRequest&) {
    return connectors::testing::JsonAnswer(429, {{"status", "error"},
                                                 {"message", "You have reached your daily limit."},
                                                 {"errorType", "RATE_LIMIT"},
                                                 {"policyName", "DAILY"}});
  });
  HubSpotSettings settings = Settings();
  settings.base_url = hubspot.base();
  RateLimiter limiter{
      RateLimit{100, std::chrono::milliseconds(50), 10, 0, std::chrono::milliseconds(0)}};
  std::atomic<bool> stop{false};
  BudgetStats stats;
  BudgetedHttpClient budgeted(*http_, limiter, stop, stats, HubSpotDailyLimitRefusal);
  auto connector = MakeHubSpotConnector(settings, TestMapping(), budgeted);
  OutboundItem a = Item(1, "daily@example.com");
  Block(a, BlockScope::All(), true);
  auto limited = connector->Deliver({a});
  ASSERT_EQ(limited.size(), 1u);
  EXPECT_EQ(limited[0].status.code(), StatusCode::kResourceExhausted)
      << limited[0].status.ToString();
  EXPECT_EQ(limited[0].error_class, ErrorClass::kRetryable);
  ASSERT_TRUE(limited[0].retry_after.has_value());
  EXPECT_EQ(*limited[0].retry_after, kHubSpotDailyLimitProbe);
  const size_t sent = hubspot.requests().size();

  auto closed = connector->Deliver({a});
  EXPECT_EQ(closed[0].status.code(), StatusCode::kResourceExhausted) << closed[0].status.ToString();
  EXPECT_NE(closed[0].status.message().find("daily request limit"), std::string::npos)
      << closed[0].status.message();
  EXPECT_EQ(hubspot.requests().size(), sent) << "sent while HubSpot's day was used up";

  net::HttpResponse secondly{429, "application/json", {}, R"({"policyName":"SECONDLY"})"};
  EXPECT_FALSE(HubSpotDailyLimitRefusal(secondly).has_value());
  net::HttpResponse by_header{
      429, "application/json", {{"X-HubSpot-RateLimit-Daily-Remaining", "0"}}, "{}"};
  EXPECT_TRUE(HubSpotDailyLimitRefusal(by_header).has_value());
}

TEST_F(HubSpotConnectorTest, InjectedRateLimitAndOutageAreRetryableWithRetryAfter) {
  ASSERT_EQ(
      Control("POST", "/_sim/faults",
              {{"kind", "rate_limit"}, {"system", "hubspot"}, {"count", 1}, {"retry_after", 7}})
          .status,
      201);
  OutboundItem a = Item(1, "rl@example.com");
  Grant(a, "newsletter", ConsentStatus::kGranted);
  auto limited = connector_->Deliver({a});
  EXPECT_EQ(limited[0].error_class, ErrorClass::kRetryable);
  EXPECT_EQ(limited[0].status.code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(limited[0].retry_after.has_value());
  EXPECT_EQ(*limited[0].retry_after, std::chrono::milliseconds(7000));

  ASSERT_EQ(Control("POST", "/_sim/faults",
                    {{"kind", "error"}, {"system", "hubspot"}, {"status", 503}, {"count", 1}})
                .status,
            201);
  auto down = connector_->Deliver({a});
  EXPECT_EQ(down[0].error_class, ErrorClass::kRetryable);
  EXPECT_EQ(down[0].status.code(), StatusCode::kUnavailable);
  // Reads fail as a whole, retryably.
  ASSERT_EQ(Control("POST", "/_sim/faults",
                    {{"kind", "error"}, {"system", "hubspot"}, {"status", 502}, {"count", 1}})
                .status,
            201);
  auto read = connector_->Read({RecordRef{"e", "1001", "", RecordHint::kChanged, {}, "", 1, ""}});
  EXPECT_EQ(ClassOf(read.status()), ErrorClass::kRetryable);
  // And the next try goes through.
  auto ok = connector_->Deliver({a});
  EXPECT_TRUE(ok[0].status.ok()) << ok[0].status.ToString();
}

// A row whose write needs the contact looked up first (an SMS status needs
// the phone number) keeps the look-up's Retry-After when that call is
// refused: it is not tried again sooner than HubSpot asked.
TEST_F(HubSpotConnectorTest, AFailedContactLookUpKeepsItsRetryAfter) {
  ASSERT_EQ(Control("POST", "/_sim/faults",
                    {{"kind", "rate_limit"},
                     {"system", "hubspot"},
                     {"method", "POST"},
                     {"route", "/crm/v3/objects/contacts/batch/read"},
                     {"count", 1},
                     {"retry_after", 9}})
                .status,
            201);
  OutboundItem a = Item(1, "sms.person@example.com");
  Grant(a, "sms_offers", ConsentStatus::kGranted, "sms");
  auto r = connector_->Deliver({a});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].error_class, ErrorClass::kRetryable) << r[0].status.ToString();
  ASSERT_TRUE(r[0].retry_after.has_value()) << r[0].status.ToString();
  EXPECT_EQ(*r[0].retry_after, std::chrono::milliseconds(9000));
}

TEST_F(HubSpotConnectorTest, ErrorsNeverCarryTheAddressFromThePath) {
  ASSERT_EQ(Control("POST", "/_sim/faults",
                    {{"kind", "error"},
                     {"system", "hubspot"},
                     {"method", "PATCH"},
                     {"route", "/crm/v3/objects/contacts/*"},
                     {"status", 500},
                     {"count", 1}})
                .status,
            201);
  OutboundItem a = Item(1, "secret.person@example.com");
  Block(a, BlockScope::All(), true);
  auto r = connector_->Deliver({a});
  EXPECT_EQ(r[0].error_class, ErrorClass::kRetryable) << r[0].status.ToString();
  EXPECT_NE(r[0].status.message().find("PATCH /crm/v3/objects/contacts/{email}"), std::string::npos)
      << r[0].status.message();
  EXPECT_EQ(r[0].status.message().find("secret.person"), std::string::npos);
  EXPECT_EQ(r[0].detail.find("secret.person"), std::string::npos);
}

class HubSpotConnectorRateLimitTest : public HubSpotConnectorTest {
 protected:
  HubSpotConnectorRateLimitTest() { rate_limits_ = true; }
};

TEST_F(HubSpotConnectorRateLimitTest, VendorRateLimitGivesTheRollingWindowAsRetryAfter) {
  // Burn the 100 requests of the rolling 10 s window.
  for (int i = 0; i < 100; ++i) Api("GET", "/communication-preferences/v4/definitions");
  OutboundItem a = Item(1, "w@example.com");
  Grant(a, "newsletter", ConsentStatus::kGranted);
  auto r = connector_->Deliver({a});
  EXPECT_EQ(r[0].error_class, ErrorClass::kRetryable);
  ASSERT_TRUE(r[0].retry_after.has_value());
  EXPECT_EQ(*r[0].retry_after, std::chrono::milliseconds(10000));
}

// --- Check ---------------------------------------------------------------------

TEST_F(HubSpotConnectorTest, CheckPassesWithTokenAndMappedSubscriptionTypes) {
  EXPECT_TRUE(connector_->Check().ok()) << connector_->Check().ToString();
}

TEST_F(HubSpotConnectorTest, CheckWithWrongTokenIsUnauthenticated) {
  auto c = Make(TestMapping(), "wrong-token");
  EXPECT_EQ(c->Check().code(), StatusCode::kUnauthenticated);
}

TEST_F(HubSpotConnectorTest, CheckNamesAnUnknownSubscriptionType) {
  auto c = Make(TestMapping(mapping::ErasureMode::kDelete, 999));
  Status s = c->Check();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("999"), std::string::npos) << s.message();
}

TEST_F(HubSpotConnectorTest, MaxBatchIsTheApiLimitOrTheSettingIfSmaller) {
  EXPECT_EQ(connector_->max_batch(), 100);
  HubSpotSettings s;
  s.name = "hubspot";
  s.batch_size = 25;
  EXPECT_EQ(MakeHubSpotConnector(s, spec_, *http_)->max_batch(), 25);
  s.batch_size = 500;
  EXPECT_EQ(MakeHubSpotConnector(s, spec_, *http_)->max_batch(), 100);
}

// --- Inspection (consentctl map, check-config --online) --------------------------

TEST_F(HubSpotConnectorTest, ReadOfAnUnmappedSubscriptionTypeYieldsANoteNotAChange) {
  connector_ = Make(TestMapping(mapping::ErasureMode::kDelete, 999));  // 101 unmapped
  ASSERT_EQ(Control("POST", "/_sim/hubspot/person/signup",
                    {{"email", "un@example.com"}, {"subscriptionId", 101}})
                .status,
            200);
  RecordRef ref;
  ref.system_id = ContactId("un@example.com");
  InboundRecord rec = ReadOne(ref);
  EXPECT_EQ(FindKind(rec, ChangeKind::kConsent), nullptr);
  EXPECT_NE(std::find(rec.mapped.notes.begin(), rec.mapped.notes.end(),
                      "unmapped: subscription type 101 on EMAIL is not in the mapping"),
            rec.mapped.notes.end());
}

TEST_F(HubSpotConnectorTest, RecordPayloadOfTheApiMapsExactlyAsReadDoes) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/person/signup",
                    {{"email", "same@example.com"}, {"subscriptionId", 102}})
                .status,
            200);
  const std::string id = ContactId("same@example.com");
  ASSERT_EQ(Api("PATCH", "/crm/v3/objects/contacts/" + id,
                json{{"properties", {{"consentd_werbesperre", "true"}}}})
                .status,
            200);
  // What an operator would fetch: the contact and its v4 statuses.
  Reply contact = Api("GET", "/crm/v3/objects/contacts/" + id +
                                 "?properties=email,lastmodifieddate,consentd_werbesperre");
  Reply statuses =
      Api("GET", "/communication-preferences/v4/statuses/same@example.com?channel=EMAIL");
  Reply wide =
      Api("GET",
          "/communication-preferences/v4/statuses/same@example.com/unsubscribe-all?channel=EMAIL");
  ASSERT_EQ(contact.status, 200) << contact.body;
  ASSERT_EQ(statuses.status, 200) << statuses.body;
  ASSERT_EQ(wide.status, 200) << wide.body;
  auto mapped = connector_->MapRecordPayload(json{
      {"contact", contact.Json()},
      {"statuses", statuses.Json()},
      {"wideStatuses", wide.Json()}}.dump());
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
  ASSERT_EQ(mapped->size(), 1u);
  const InboundRecord& offline = (*mapped)[0];
  EXPECT_EQ(offline.event_id, "payload:" + id);

  RecordRef ref;
  ref.system_id = id;
  ref.event_id = "payload:" + id;
  InboundRecord read = ReadOne(ref);
  ASSERT_EQ(offline.mapped.changes.size(), read.mapped.changes.size());
  for (size_t i = 0; i < read.mapped.changes.size(); ++i) {
    const Change& a = offline.mapped.changes[i];
    const Change& b = read.mapped.changes[i];
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.key, b.key);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.scope, b.scope);
    EXPECT_EQ(a.provenance.occurred_at, b.provenance.occurred_at);
    EXPECT_EQ(a.legal_basis, b.legal_basis);
  }
  EXPECT_NE(FindConsent(offline, "product"), nullptr);
  EXPECT_NE(FindKind(offline, ChangeKind::kBlockSet), nullptr);
  EXPECT_EQ(offline.email, "same@example.com");
}

TEST_F(HubSpotConnectorTest, RecordPayloadOfAnotherShapeIsInvalidArgument) {
  EXPECT_EQ(connector_->MapRecordPayload("{").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(connector_->MapRecordPayload(R"({"id": "1"})").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(connector_
                ->MapRecordPayload(R"({"contact": {"id": "1", "properties": {}},
                                            "statuses": {"results": 3}})")
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

TEST_F(HubSpotConnectorTest, UnverifiedWebhookParsesLikeASignedOne) {
  const std::string body =
      R"([{"eventId": 5, "objectId": 77, "occurredAt": 1000,
           "subscriptionType": "contact.deletion"}])";
  auto refs = connector_->ParseWebhookUnverified(body, 2000);
  ASSERT_TRUE(refs.ok()) << refs.status().ToString();
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].system_id, "77");
  EXPECT_EQ((*refs)[0].hint, RecordHint::kDeleted);
  EXPECT_EQ((*refs)[0].occurred_at, 1000);
}

TEST_F(HubSpotConnectorTest, ListNativeTopicsMarksTheMappedSubscriptionTypes) {
  connector_ = Make(TestMapping(mapping::ErasureMode::kDelete, 999));
  auto topics = connector_->ListNativeTopics();
  ASSERT_TRUE(topics.ok()) << topics.status().ToString();
  std::map<std::string, NativeTopic> by_id;
  for (const NativeTopic& t : *topics) by_id[t.id] = t;
  ASSERT_EQ(by_id.count("101"), 1u);
  EXPECT_FALSE(by_id["101"].mapped);
  EXPECT_EQ(by_id["101"].name, "Newsletter");
  EXPECT_EQ(by_id["101"].channel, "EMAIL");
  EXPECT_TRUE(by_id["102"].mapped);
  EXPECT_TRUE(by_id["201"].mapped);
  EXPECT_FALSE(by_id["301"].mapped);
  EXPECT_EQ(Make(TestMapping(), "wrong-token")->ListNativeTopics().status().code(),
            StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace consentd::connectors
