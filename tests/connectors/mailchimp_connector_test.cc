// The Mailchimp connector against the real consentd-sim Mailchimp, served
// in-process by sim::SimServer on 127.0.0.1 (ephemeral port, io thread in
// the background), over the real libcurl client.
#include "connectors/mailchimp/mailchimp_connector.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "connectors/common/http_client.h"
#include "connectors/mailchimp/own_writes.h"
#include "connectors/mailchimp/wire_format.h"
#include "core/keyed_hash.h"
#include "mapping/loader.h"
#include "sim/mailchimp/mailchimp_sim.h"
#include "sim/sim_server.h"

namespace consentd::connectors {
namespace {

using mailchimp::SubscriberHash;
using nlohmann::json;

constexpr char kKey[] = "0123456789abcdef0123456789abcdef-us21";
constexpr char kSecret[] = "s3cr3t-webhook";
constexpr TimestampMs kStart = 1'790'000'000'000;  // 2026-09-21

// A manual clock the sim's io thread may read while the test advances it.
class SharedClock final : public Clock {
 public:
  explicit SharedClock(TimestampMs start) : now_(start) {}
  TimestampMs NowMs() const override { return now_.load(); }
  void Advance(TimestampMs d) { now_ += d; }

 private:
  std::atomic<TimestampMs> now_;
};

// What the audience has: interest and marketing-permission ids by name.
struct AudienceIds {
  std::map<std::string, std::string> interests;    // "Newsletter" -> id
  std::map<std::string, std::string> permissions;  // "Email" -> id
};

std::string MappingYaml(const AudienceIds& ids, const std::string& newsletter_interest,
                        const std::string& erasure_mode = "delete") {
  return "mapping:\n"
         "  systems:\n"
         "    crm: {kind: hubspot, role: crm}\n"
         "    mailchimp: {kind: mailchimp, role: journey, confirms_double_opt_in: true}\n"
         "  channels:\n"
         "    email: {crm: EMAIL, mailchimp: email}\n"
         "  topics:\n"
         "    - name: newsletter\n"
         "      double_opt_in: true\n"
         "      channels: [email]\n"
         "      systems:\n"
         "        crm: {subscriptions: {email: 101}}\n"
         "        mailchimp: {interest: \"" +
         newsletter_interest +
         "\"}\n"
         "    - name: events\n"
         "      channels: [email]\n"
         "      systems:\n"
         "        mailchimp: {interest: \"" +
         ids.interests.at("Events") +
         "\"}\n"
         "    - name: email_marketing\n"
         "      channels: [email]\n"
         "      systems:\n"
         "        mailchimp: {marketing_permission: \"" +
         ids.permissions.at("Email") +
         "\"}\n"
         "  blocks:\n"
         "    - name: werbesperre\n"
         "      scope: all\n"
         "      systems:\n"
         "        crm: {property: werbesperre, value: \"true\"}\n"
         "        mailchimp: {status: unsubscribed}\n"
         "    - name: bounced\n"
         "      scope: address\n"
         "      systems:\n"
         "        mailchimp: {status: cleaned}\n"
         "  erasure:\n"
         "    crm: {mode: delete}\n"
         "    mailchimp: {mode: " +
         erasure_mode +
         (erasure_mode == "restrict"
              ? ", retain: [orders], legal_ground: \"HGB 257\", retention: 10y}\n"
              : "}\n");
}

class MailchimpConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    io_ = std::make_unique<boost::asio::io_context>();
    server_ = std::make_unique<sim::SimServer>(*io_, clock_, sim::SimServerOptions{});
    sim::mailchimp::MailchimpOptions o;
    o.api_key = kKey;  // no webhook URL: events are only logged (GET /webhooks)
    server_->AddSystem(std::make_unique<sim::mailchimp::MailchimpSim>(o, clock_),
                       net::HttpServerOptions{});
    ASSERT_TRUE(server_->Start().ok());
    thread_ = std::thread([this] {
      auto guard = boost::asio::make_work_guard(*io_);
      io_->run();
    });
    base_url_ = "http://127.0.0.1:" + std::to_string(server_->port("mailchimp"));
    http_ = MakeCurlHttpClient("consentd-test");

    const json state = Control("GET", "/_sim/mailchimp/state");
    list_id_ = state["list"]["id"].get<std::string>();
    for (const json& c : state["interest_categories"]) {
      for (const json& i : c["interests"]) ids_.interests[i["name"]] = i["id"];
    }
    for (const json& p : state["marketing_permissions"]) {
      ids_.permissions[p["text"]] = p["marketing_permission_id"];
    }
    ASSERT_EQ(ids_.interests.count("Newsletter"), 1u);
    ASSERT_EQ(ids_.permissions.count("Email"), 1u);
    connector_ = Make(MappingYaml(ids_, ids_.interests.at("Newsletter")));
  }

  void TearDown() override {
    connector_.reset();
    io_->stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

  std::unique_ptr<Connector> Make(const std::string& yaml, std::string key = kKey,
                                  int read_parallelism = 1, std::string secret = kSecret,
                                  HttpClient* http = nullptr) {
    auto spec = mapping::LoadMappingFromConfigString(yaml, "test.yaml");
    EXPECT_TRUE(spec.ok()) << spec.status().ToString();
    spec_ = std::make_shared<const mapping::MappingSpec>(std::move(spec).value());
    MailchimpSettings s;
    s.name = "mailchimp";
    s.base_url = base_url_;
    s.api_key = std::move(key);
    s.list_id = list_id_;
    s.webhook_secret = std::move(secret);
    s.timeout = std::chrono::milliseconds(20000);
    s.read_parallelism = read_parallelism;
    s.delivery_parallelism = read_parallelism;
    return MakeMailchimpConnector(std::move(s), spec_, http != nullptr ? *http : *http_);
  }

  // A control-API or raw API call; the parsed answer (null if none).
  json Control(const std::string& method, const std::string& path, const json& body = nullptr,
               int* status = nullptr) {
    OutboundRequest req;
    req.method = method;
    req.url = base_url_ + path;
    if (!body.is_null()) {
      req.body = body.dump();
      req.headers.emplace_back("Content-Type", "application/json");
    }
    auto r = http_->Send(req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return nullptr;
    if (status != nullptr) *status = r->status;
    return json::parse(r->body, nullptr, false);
  }

  // The member as the API has it, or null (404).
  json Member(const std::string& email) {
    int status = 0;
    OutboundRequest req;
    req.url = base_url_ + "/3.0/lists/" + list_id_ + "/members/" + SubscriberHash(email);
    req.headers = {{"Authorization", "Bearer " + std::string(kKey)}};
    auto r = http_->Send(req);
    EXPECT_TRUE(r.ok());
    status = r.ok() ? r->status : 0;
    return status == 200 ? json::parse(r->body) : json(nullptr);
  }

  // A person signs up through the hosted form (pending) and confirms.
  void SignUpAndConfirm(const std::string& email, const json& interests) {
    Control("POST", "/_sim/mailchimp/person/signup",
            {{"email_address", email}, {"interests", interests}});
    Control("POST", "/_sim/mailchimp/person/confirm", {{"email_address", email}});
  }

  // The last webhook Mailchimp produced for the audience (sent or not).
  json LastWebhook() {
    const json log = Control("GET", "/_sim/mailchimp/webhooks");
    EXPECT_FALSE(log["webhooks"].empty());
    return log["webhooks"].empty() ? json(nullptr) : log["webhooks"].back();
  }

  net::HttpRequest WebhookRequest(const std::string& body,
                                  const std::string& query = std::string("secret=") + kSecret) {
    net::HttpRequest req;
    req.method = "POST";
    req.path = "/webhooks/mailchimp";
    req.query = query;
    req.target = req.path + (query.empty() ? "" : "?" + query);
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                   {"User-Agent", "MailChimp"}};
    req.body = body;
    return req;
  }

  // The record for the webhook's member, read back through the API.
  InboundRecord ReadFromWebhook(const json& webhook) {
    auto refs = connector_->ParseWebhook(WebhookRequest(webhook["body"]), "", clock_.NowMs());
    EXPECT_TRUE(refs.ok()) << refs.status().ToString();
    EXPECT_EQ(refs->size(), 1u);
    auto records = connector_->Read(*refs);
    EXPECT_TRUE(records.ok()) << records.status().ToString();
    EXPECT_EQ(records->size(), 1u);
    return records->empty() ? InboundRecord{} : records->front();
  }

  // The desired state granting (or otherwise) `topic` for `email`.
  OutboundItem Desired(std::int64_t id, const std::string& email,
                       std::map<std::string, ConsentStatus> topics, bool block_all = false,
                       TimestampMs captured_at = 0) {
    OutboundItem item;
    item.outbox_id = id;
    item.idempotency_key = "k" + std::to_string(id);
    item.desired.subject = "s-" + std::to_string(id);
    item.desired.email = email;
    item.desired.state.subject = item.desired.subject;
    for (const auto& [topic, status] : topics) {
      ConsentRecord rec;
      rec.key = {item.desired.subject, topic, "email", ""};
      rec.status = status;
      rec.method = ConsentMethod::kDoubleOptIn;
      rec.provenance.occurred_at = captured_at;
      item.desired.state.consents[rec.key] = rec;
    }
    if (block_all) {
      BlockRecord b;
      b.subject = item.desired.subject;
      b.scope = BlockScope::All();
      b.active = true;
      item.desired.state.blocks[b.scope] = b;
    }
    return item;
  }

  // The grant of `topic` in `item` was the person's own at Mailchimp (a
  // box she ticked there).
  static void GrantedAtTheAudience(OutboundItem& item, const std::string& topic) {
    for (auto& [key, rec] : item.desired.state.consents) {
      if (key.topic == topic) rec.provenance.source_system = "mailchimp";
    }
  }

  DeliveryResult DeliverOne(const OutboundItem& item) {
    std::vector<DeliveryResult> r = connector_->Deliver({item});
    EXPECT_EQ(r.size(), 1u);
    return r.empty() ? DeliveryResult{} : r.front();
  }

  const Change* FindChange(const InboundRecord& rec, ChangeKind kind,
                           const std::string& topic = "") {
    for (const Change& c : rec.mapped.changes) {
      if (c.kind == kind && (topic.empty() || c.key.topic == topic)) return &c;
    }
    return nullptr;
  }

  SharedClock clock_{kStart};
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<sim::SimServer> server_;
  std::thread thread_;
  std::string base_url_, list_id_;
  std::unique_ptr<HttpClient> http_;
  AudienceIds ids_;
  std::shared_ptr<const mapping::MappingSpec> spec_;
  std::unique_ptr<Connector> connector_;
};

// --- webhooks ---------------------------------------------------------------

TEST_F(MailchimpConnectorTest, WebhookWithTheRightSecretNamesTheMember) {
  SignUpAndConfirm("Ann@Example.org", {{ids_.interests["Newsletter"], true}});
  const json w = LastWebhook();
  ASSERT_EQ(w["type"], "subscribe");
  auto refs = connector_->ParseWebhook(WebhookRequest(w["body"]), "", clock_.NowMs());
  ASSERT_TRUE(refs.ok()) << refs.status().ToString();
  ASSERT_EQ(refs->size(), 1u);
  const RecordRef& ref = refs->front();
  EXPECT_EQ(ref.system_id, SubscriberHash("ann@example.org"));
  EXPECT_EQ(ref.email, "Ann@example.org");  // local part kept as written
  EXPECT_EQ(ref.hint, RecordHint::kChanged);
  EXPECT_EQ(ref.occurred_at, kStart);  // fired_at, whole seconds
  EXPECT_EQ(ref.event_id.rfind("mc:", 0), 0u);
  // Keyed: not the plain hash of a body that holds the address (event ids
  // outlive an erasure), and the same for a re-delivery of the same body.
  EXPECT_NE(ref.event_id, "mc:" + Sha256Hex(w["body"].get<std::string>()));
  auto again = connector_->ParseWebhook(WebhookRequest(w["body"]), "", clock_.NowMs());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->front().event_id, ref.event_id);
}

TEST_F(MailchimpConnectorTest, WebhookWithoutOrWithWrongSecretIsUnauthenticated) {
  const std::string body = "type=subscribe&data%5Bemail%5D=a%40example.org";
  auto missing = connector_->ParseWebhook(WebhookRequest(body, ""), "", kStart);
  EXPECT_EQ(missing.status().code(), StatusCode::kUnauthenticated);
  auto wrong = connector_->ParseWebhook(WebhookRequest(body, "secret=guess"), "", kStart);
  EXPECT_EQ(wrong.status().code(), StatusCode::kUnauthenticated);
  // Authentication comes first: a malformed body with a wrong secret is 401.
  auto wrong_and_bad = connector_->ParseWebhook(WebhookRequest("garbage", "secret=x"), "", kStart);
  EXPECT_EQ(wrong_and_bad.status().code(), StatusCode::kUnauthenticated);
  // The configured public URL holds the secret too, but it is consentd's own
  // configuration, not something the sender showed: a request without a
  // secret stays unauthenticated whatever the public URL says.
  const std::string public_url =
      std::string("https://c.example/webhooks/mailchimp?secret=") + kSecret;
  auto via_url = connector_->ParseWebhook(WebhookRequest(body, ""), public_url, kStart);
  EXPECT_EQ(via_url.status().code(), StatusCode::kUnauthenticated);
  auto right = connector_->ParseWebhook(WebhookRequest(body, std::string("secret=") + kSecret),
                                        public_url, kStart);
  EXPECT_TRUE(right.ok()) << right.status().ToString();
}

// A base64 secret holds '+' and '/'. Registered as is in the webhook URL,
// Mailchimp sends it back as is, where a form decoder would read the '+'
// as a space; the secret must match either way it is written, and nothing
// else may.
TEST_F(MailchimpConnectorTest, ASecretWithAPlusMatchesAsRegisteredOrPercentEncoded) {
  auto plus = Make(MappingYaml(ids_, ids_.interests.at("Newsletter")), kKey, 1, "ab+c/d=");
  const std::string body = "type=subscribe&data%5Bemail%5D=a%40example.org";
  for (const std::string query : {"secret=ab+c/d=", "secret=ab%2Bc%2Fd%3D", "x=1&secret=ab+c/d="}) {
    auto r = plus->ParseWebhook(WebhookRequest(body, query), "", kStart);
    EXPECT_TRUE(r.ok()) << query << ": " << r.status().ToString();
  }
  for (const std::string query : {"secret=ab%20c/d=", "secret=ab+c/d", "secret=ab+c/d=x", "secret",
                                  "secret=", "secrets=ab+c/d="}) {
    auto r = plus->ParseWebhook(WebhookRequest(body, query), "", kStart);
    EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << query;
  }
  // A secret holding a space is still sent as '+' or %20 by a form encoder.
  auto space = Make(MappingYaml(ids_, ids_.interests.at("Newsletter")), kKey, 1, "ab c");
  EXPECT_TRUE(space->ParseWebhook(WebhookRequest(body, "secret=ab+c"), "", kStart).ok());
  EXPECT_TRUE(space->ParseWebhook(WebhookRequest(body, "secret=ab%20c"), "", kStart).ok());
}

TEST_F(MailchimpConnectorTest, MalformedWebhookNamesTheField) {
  auto no_type =
      connector_->ParseWebhook(WebhookRequest("data%5Bemail%5D=a%40example.org"), "", kStart);
  EXPECT_EQ(no_type.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_type.status().message().find("type"), std::string::npos);
  auto no_email = connector_->ParseWebhook(WebhookRequest("type=profile"), "", kStart);
  EXPECT_EQ(no_email.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_email.status().message().find("data[email]"), std::string::npos);
  auto bad_email = connector_->ParseWebhook(
      WebhookRequest("type=profile&data%5Bemail%5D=not-an-address"), "", kStart);
  EXPECT_EQ(bad_email.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_email.status().message().find("not-an-address"), std::string::npos);
  auto bad_time = connector_->ParseWebhook(
      WebhookRequest("type=profile&fired_at=yesterday&data%5Bemail%5D=a%40example.org"), "",
      kStart);
  EXPECT_EQ(bad_time.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(MailchimpConnectorTest, RedeliveredWebhookKeepsItsEventId) {
  const std::string body =
      "type=unsubscribe&fired_at=2026-09-21+10%3A00%3A00&data%5Baction%5D=unsub&data%5Bemail%5D="
      "a%40example.org";
  auto first = connector_->ParseWebhook(WebhookRequest(body), "", kStart);
  auto again = connector_->ParseWebhook(WebhookRequest(body), "", kStart + 60000);
  auto other =
      connector_->ParseWebhook(WebhookRequest(body + "&data%5Breason%5D=abuse"), "", kStart);
  ASSERT_TRUE(first.ok() && again.ok() && other.ok());
  EXPECT_EQ(first->front().event_id, again->front().event_id);
  EXPECT_NE(first->front().event_id, other->front().event_id);
}

TEST_F(MailchimpConnectorTest, WebhookOfAnotherAudienceOrCampaignNamesNoMember) {
  auto other_list = connector_->ParseWebhook(
      WebhookRequest("type=profile&data%5Blist_id%5D=ffffffffff&data%5Bemail%5D=a%40example.org"),
      "", kStart);
  ASSERT_TRUE(other_list.ok());
  EXPECT_TRUE(other_list->empty());
  auto campaign =
      connector_->ParseWebhook(WebhookRequest("type=campaign&data%5Bid%5D=1"), "", kStart);
  ASSERT_TRUE(campaign.ok());
  EXPECT_TRUE(campaign->empty());
}

// --- Read ---------------------------------------------------------------------

TEST_F(MailchimpConnectorTest, ConfirmedSignUpReadsAsDoubleOptInGrant) {
  SignUpAndConfirm("bea@example.org", {{ids_.interests["Newsletter"], true}});
  const InboundRecord rec = ReadFromWebhook(LastWebhook());
  EXPECT_EQ(rec.system_id, SubscriberHash("bea@example.org"));
  EXPECT_EQ(rec.email, "bea@example.org");
  const Change* c = FindChange(rec, ChangeKind::kConsent, "newsletter");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, ConsentStatus::kGranted);
  EXPECT_EQ(c->method, ConsentMethod::kDoubleOptIn);
  EXPECT_EQ(c->provenance.source_system, "mailchimp");
  EXPECT_EQ(c->provenance.source_event_id, rec.event_id);
  EXPECT_GT(c->provenance.occurred_at, 0);
  EXPECT_TRUE(c->key.subject.empty());
}

TEST_F(MailchimpConnectorTest, UnsubscribeReadsAsWithdrawalAndBlock) {
  SignUpAndConfirm("cai@example.org", {{ids_.interests["Newsletter"], true}});
  Control("POST", "/_sim/mailchimp/person/unsubscribe", {{"email_address", "cai@example.org"}});
  const json w = LastWebhook();
  ASSERT_EQ(w["type"], "unsubscribe");
  const InboundRecord rec = ReadFromWebhook(w);
  const Change* c = FindChange(rec, ChangeKind::kConsent, "newsletter");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, ConsentStatus::kWithdrawn);
  EXPECT_EQ(c->method, ConsentMethod::kUnsubscribeLink);
  const Change* b = FindChange(rec, ChangeKind::kBlockSet);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->scope, BlockScope::All());
}

TEST_F(MailchimpConnectorTest, CleanedMemberReadsAsAddressBlock) {
  SignUpAndConfirm("dan@example.org", {{ids_.interests["Newsletter"], true}});
  Control("POST", "/_sim/mailchimp/person/bounce", {{"email_address", "dan@example.org"}});
  const json w = LastWebhook();
  ASSERT_EQ(w["type"], "cleaned");
  const InboundRecord rec = ReadFromWebhook(w);
  const Change* b = FindChange(rec, ChangeKind::kBlockSet);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->scope, BlockScope::Address("dan@example.org"));
  EXPECT_EQ(FindChange(rec, ChangeKind::kConsent), nullptr);  // topics are kept
}

TEST_F(MailchimpConnectorTest, PermanentlyDeletedMemberReadsAsDeleted) {
  SignUpAndConfirm("eve@example.org", {{ids_.interests["Newsletter"], true}});
  Control("POST", "/_sim/mailchimp/admin/delete-permanent", {{"email_address", "eve@example.org"}});
  const json w = LastWebhook();
  auto refs = connector_->ParseWebhook(WebhookRequest(w["body"]), "", clock_.NowMs());
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ(refs->front().hint, RecordHint::kDeleted);
  auto records = connector_->Read(*refs);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 1u);
  const Change* d = FindChange(records->front(), ChangeKind::kTargetDeleted);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->provenance.occurred_at, refs->front().occurred_at);
  EXPECT_EQ(d->provenance.source_system, "mailchimp");
  EXPECT_FALSE(d->mapping_hash.empty());
}

// With on_permanent_delete: erase, only the read after Mailchimp's own
// deletion webhook is a request to be forgotten everywhere. A 404 after any
// other hint (a profile change read once the person had changed the
// address, so the old hash is gone) is the member gone from that hash,
// never an irreversible erasure.
TEST_F(MailchimpConnectorTest, OnlyADeletionHintsNotFoundIsAnErasureRequest) {
  auto erasing = Make(
      MappingYaml(ids_, ids_.interests.at("Newsletter"), "delete, on_permanent_delete: erase"));
  SignUpAndConfirm("eve@example.org", {{ids_.interests["Newsletter"], true}});
  Control("POST", "/_sim/mailchimp/admin/delete-permanent", {{"email_address", "eve@example.org"}});
  auto refs = erasing->ParseWebhook(WebhookRequest(LastWebhook()["body"]), "", clock_.NowMs());
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 1u);
  ASSERT_EQ(refs->front().hint, RecordHint::kDeleted);
  auto deleted = erasing->Read(*refs);
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_NE(FindChange(deleted->front(), ChangeKind::kErasure), nullptr);

  RecordRef changed = refs->front();
  changed.event_id = "profile-after-address-change";
  changed.hint = RecordHint::kChanged;
  auto read = erasing->Read({changed});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ(FindChange(read->front(), ChangeKind::kErasure), nullptr);
  EXPECT_NE(FindChange(read->front(), ChangeKind::kTargetDeleted), nullptr);
}

TEST_F(MailchimpConnectorTest, EmailChangeReadsTheNewAddressAndNamesTheOldHash) {
  SignUpAndConfirm("fay@example.org", {{ids_.interests["Newsletter"], true}});
  Control("POST", "/_sim/mailchimp/admin/change-email",
          {{"email_address", "fay@example.org"}, {"new_email_address", "fay@example.net"}});
  const json w = LastWebhook();
  ASSERT_EQ(w["type"], "upemail");
  auto refs = connector_->ParseWebhook(WebhookRequest(w["body"]), "", clock_.NowMs());
  ASSERT_TRUE(refs.ok()) << refs.status().ToString();
  EXPECT_EQ(refs->front().hint, RecordHint::kEmailChanged);
  EXPECT_EQ(refs->front().old_email, "fay@example.org");
  auto records = connector_->Read(*refs);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  const InboundRecord& rec = records->front();
  EXPECT_EQ(rec.email, "fay@example.net");
  EXPECT_EQ(rec.system_id, SubscriberHash("fay@example.net"));
  EXPECT_EQ(rec.merged_ids, std::vector<std::string>{SubscriberHash("fay@example.org")});
  for (const std::string& note : rec.mapped.notes) {
    EXPECT_EQ(note.find(SubscriberHash("fay@example.org")), std::string::npos) << note;
  }
}

// Mailchimp names a member by the hash of the address as it holds it: the
// old member's hash comes from the webhook's old address as sent, not from
// consentd's normalised form (an internationalised domain becomes its
// A-label there, which hashes differently).
TEST_F(MailchimpConnectorTest, EmailChangeHashesTheOldAddressAsMailchimpHeldIt) {
  SignUpAndConfirm("fay@example.net", {{ids_.interests["Newsletter"], true}});
  const std::string body =
      "type=upemail&fired_at=2026-03-01+10%3A00%3A00&data%5Blist_id%5D=" + list_id_ +
      "&data%5Bnew_email%5D=fay%40example.net"
      "&data%5Bold_email%5D=Fay%40B%C3%BCcher.example";
  auto refs = connector_->ParseWebhook(WebhookRequest(body), "", clock_.NowMs());
  ASSERT_TRUE(refs.ok()) << refs.status().ToString();
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ(refs->front().old_email, "Fay@xn--bcher-kva.example");  // normalised, for identity
  auto records = connector_->Read(*refs);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->front().merged_ids, std::vector<std::string>{SubscriberHash("Fay@B\xc3\xbc"
                                                                                 "cher.example")});
}

// A record says whether the member is subscribed: that ends a double
// opt-in consentd waits for, whatever topics flow back from the member
// (sync/outbound.h, AwaitingConfirmationKey). Pending and unsubscribed
// members do not; a read through a webhook and a poll agree.
TEST_F(MailchimpConnectorTest, ARecordSaysWhetherItsMemberIsSubscribed) {
  const std::string news = ids_.interests["Newsletter"];
  Control("POST", "/_sim/mailchimp/person/signup",
          {{"email_address", "ann@example.org"}, {"interests", {{news, true}}}});
  SignUpAndConfirm("bob@example.org", {{news, false}});  // subscribed, no box ticked
  SignUpAndConfirm("cat@example.org", {{news, true}});
  Control("POST", "/_sim/mailchimp/person/unsubscribe", {{"email_address", "cat@example.org"}});
  EXPECT_FALSE(ReadFromWebhook(LastWebhook()).member_subscribed);  // cat's unsubscribe

  clock_.Advance(3000);  // the poll's upper bound lags the clock
  auto page = connector_->Poll("", clock_.NowMs());
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  std::map<std::string, bool> subscribed;
  for (const InboundRecord& r : page->records) subscribed[r.email] = r.member_subscribed;
  EXPECT_EQ(subscribed, (std::map<std::string, bool>{{"ann@example.org", false},
                                                     {"bob@example.org", true},
                                                     {"cat@example.org", false}}));
}

// --- Poll ---------------------------------------------------------------------

TEST_F(MailchimpConnectorTest, PollReadsEveryMemberAndNeverSkipsOneChangedWhilePaging) {
  const json seeded = Control("POST", "/_sim/mailchimp/seed", {{"count", 1500}, {"seed", 5}});
  ASSERT_EQ(seeded["seeded"], 1500) << seeded.dump();
  std::set<std::string> all;
  const json state = Control("GET", "/_sim/mailchimp/state");
  for (const json& m : state["members"]) all.insert(m["id"]);
  ASSERT_EQ(all.size(), 1500u);

  std::set<std::string> seen;
  auto first = connector_->Poll("", clock_.NowMs());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->records.size(), 1000u);
  ASSERT_TRUE(first->more);
  for (const InboundRecord& r : first->records) seen.insert(r.system_id);
  // A member of the first page changes before the second page is read: it
  // leaves the window, which must not make the others shift past the cursor.
  std::map<std::string, std::string> status_of;
  for (const json& m : state["members"]) {
    status_of[m["id"]] = m["status"];
  }
  const InboundRecord* pick = &first->records[500];
  while (status_of[pick->system_id] == "transactional") ++pick;
  const std::string changed = pick->system_id;
  Control("POST", "/_sim/mailchimp/admin/status",
          {{"email_address", pick->email},
           {"status", status_of[changed] == "unsubscribed" ? "subscribed" : "unsubscribed"}});

  std::string cursor = first->next_cursor;
  for (int i = 0; i < 5; ++i) {
    auto page = connector_->Poll(cursor, clock_.NowMs());
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const InboundRecord& r : page->records) seen.insert(r.system_id);
    cursor = page->next_cursor;
    if (!page->more) break;
  }
  EXPECT_EQ(seen, all);

  // The next window (time moved on) brings the changed member's new state.
  clock_.Advance(2000);
  auto next = connector_->Poll(cursor, clock_.NowMs());
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  std::set<std::string> ids;
  for (const InboundRecord& r : next->records) ids.insert(r.system_id);
  EXPECT_EQ(ids, std::set<std::string>{changed});
  EXPECT_FALSE(next->more);
  const std::string unique_id = Member(pick->email)["unique_email_id"];
  EXPECT_EQ(next->records.front().event_id.rfind("poll:" + unique_id + ":", 0), 0u)
      << next->records.front().event_id;
  EXPECT_EQ(next->records.front().event_id.find(changed), std::string::npos);
}

// A cursor stored before version slots ("id:second:digest" seen keys)
// still pages: its keys keep their second, and a member they name is
// returned once more under its new key (decided again, changing nothing).
TEST_F(MailchimpConnectorTest, ACursorWithSeenKeysOfTheFormerFormatStillPages) {
  SignUpAndConfirm("ida@example.org", {{ids_.interests["Newsletter"], true}});
  const std::string unique_id = Member("ida@example.org")["unique_email_id"];
  const std::int64_t second = kStart / 1000;
  const std::string old_key = unique_id + ":" + std::to_string(second) + ":0123456789ab";
  const json old_cursor = {
      {"v", 1}, {"since", second - 1}, {"before", nullptr}, {"offset", 0}, {"seen", {old_key}}};
  clock_.Advance(2000);
  auto page = connector_->Poll(old_cursor.dump(), clock_.NowMs());
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->records.size(), 1u);
  EXPECT_EQ(page->records.front().event_id.rfind(
                "poll:" + unique_id + ":" + std::to_string(second) + "#", 0),
            0u)
      << page->records.front().event_id;
  EXPECT_FALSE(page->more);
  // The former key still counts for its second: kept while the overlap
  // covers it.
  const json next = json::parse(page->next_cursor);
  ASSERT_LT(next["since"].get<std::int64_t>(), second) << next.dump();
  std::set<std::string> kept;
  for (const json& k : next["seen"]) kept.insert(k.get<std::string>());
  EXPECT_EQ(kept.count(old_key), 1u) << next.dump();
  EXPECT_EQ(kept.count(page->records.front().event_id.substr(5)), 1u) << next.dump();
}

TEST_F(MailchimpConnectorTest, IncrementalPollReturnsNewChangesOnceAcrossTheOverlap) {
  SignUpAndConfirm("gus@example.org", {{ids_.interests["Newsletter"], true}});
  clock_.Advance(3000);
  auto initial = connector_->Poll("", clock_.NowMs());
  ASSERT_TRUE(initial.ok()) << initial.status().ToString();
  ASSERT_EQ(initial->records.size(), 1u);
  EXPECT_FALSE(initial->more);

  SignUpAndConfirm("hal@example.org", {{ids_.interests["Newsletter"], true}});
  clock_.Advance(2000);
  auto next = connector_->Poll(initial->next_cursor, clock_.NowMs());
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  // gus lies inside the overlap window too, and is not returned again.
  ASSERT_EQ(next->records.size(), 1u);
  EXPECT_EQ(next->records.front().system_id, SubscriberHash("hal@example.org"));
  const Change* c = FindChange(next->records.front(), ChangeKind::kConsent, "newsletter");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, ConsentStatus::kGranted);

  clock_.Advance(10000);
  auto quiet = connector_->Poll(next->next_cursor, clock_.NowMs());
  ASSERT_TRUE(quiet.ok());
  EXPECT_TRUE(quiet->records.empty());
}

// consentd's clock a minute ahead of Mailchimp's: bounded by consentd's
// clock, a window would end a minute in Mailchimp's future and the next one
// start after changes Mailchimp then dates before it; a change whose
// webhook was lost would never be found. The windows follow Mailchimp's
// clock as the answers' Date headers give it (review: only HubSpot's did).
TEST_F(MailchimpConnectorTest, PollWindowsFollowMailchimpsClockWhenOursRunsAhead) {
  constexpr TimestampMs kAhead = 60'000;
  SignUpAndConfirm("gus@example.org", {{ids_.interests["Newsletter"], true}});
  clock_.Advance(3000);
  auto first = connector_->Poll("", clock_.NowMs() + kAhead);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->records.size(), 1u);
  ASSERT_FALSE(first->more);
  clock_.Advance(2000);
  SignUpAndConfirm("hal@example.org", {{ids_.interests["Newsletter"], true}});
  clock_.Advance(2000);
  auto next = connector_->Poll(first->next_cursor, clock_.NowMs() + kAhead);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  std::set<std::string> ids;
  for (const InboundRecord& r : next->records) ids.insert(r.system_id);
  EXPECT_TRUE(ids.contains(SubscriberHash("hal@example.org")))
      << "a change Mailchimp dated after the first window was skipped";
}

TEST_F(MailchimpConnectorTest, PollPagesThroughABulkImportWithinOneSecond) {
  // 1200 members written in the same second: no page boundary between
  // seconds exists, so the cursor must page by offset inside that second.
  std::vector<OutboundItem> items;
  for (int i = 0; i < 1200; ++i) {
    items.push_back(Desired(i + 1, "imp" + std::to_string(i) + "@example.org",
                            {{"newsletter", ConsentStatus::kGranted}}));
  }
  for (const DeliveryResult& r : connector_->Deliver(items)) ASSERT_TRUE(r.status.ok());
  clock_.Advance(1000);
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (bool more = true; more && pages < 5; ++pages) {
    auto page = connector_->Poll(cursor, clock_.NowMs());
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const InboundRecord& r : page->records) seen.insert(r.system_id);
    cursor = page->next_cursor;
    more = page->more;
  }
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(seen.size(), 1200u);
}

// Paging by offset inside one crowded second: a member of that second
// that changes between two pages leaves the second and moves the members
// after it up one place; none of them may be skipped.
TEST_F(MailchimpConnectorTest, PollSkipsNoMemberOfACrowdedSecondWhenOneChangesBetweenPages) {
  std::vector<OutboundItem> items;
  for (int i = 0; i < 1500; ++i) {
    items.push_back(Desired(i + 1, "crowd" + std::to_string(i) + "@example.org",
                            {{"newsletter", ConsentStatus::kGranted}}));
  }
  for (const DeliveryResult& r : connector_->Deliver(items)) ASSERT_TRUE(r.status.ok());
  clock_.Advance(1000);
  std::set<std::string> seen;
  auto first = connector_->Poll("", clock_.NowMs());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(first->more);
  for (const InboundRecord& r : first->records) seen.insert(r.system_id);
  ASSERT_EQ(seen.size(), 1000u);
  // Three members already read change (a later second, after this window).
  clock_.Advance(1000);
  int changed = 0;
  for (int i = 0; i < 1500 && changed < 3; ++i) {
    const std::string email = "crowd" + std::to_string(i) + "@example.org";
    if (!seen.contains(SubscriberHash(email))) continue;
    ASSERT_TRUE(DeliverOne(Desired(5000 + i, email, {{"newsletter", ConsentStatus::kWithdrawn}}))
                    .status.ok());
    ++changed;
  }
  std::string cursor = first->next_cursor;
  for (int pages = 0; pages < 6; ++pages) {
    auto page = connector_->Poll(cursor, clock_.NowMs());
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const InboundRecord& r : page->records) seen.insert(r.system_id);
    cursor = page->next_cursor;
    if (!page->more) break;
  }
  EXPECT_EQ(seen.size(), 1500u) << "members skipped: " << 1500 - seen.size();
}

TEST_F(MailchimpConnectorTest, MalformedPollCursorIsInvalidArgument) {
  EXPECT_EQ(connector_->Poll("{\"v\":7}", kStart).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(connector_->Poll("nonsense", kStart).status().code(), StatusCode::kInvalidArgument);
}

// Answers every member-list read with a 200 that holds no member list (a
// proxy's maintenance page); everything else goes through.
class NoMemberListHttpClient final : public HttpClient {
 public:
  explicit NoMemberListHttpClient(HttpClient& inner) : inner_(inner) {}
  Result<net::HttpResponse> Send(const OutboundRequest& req) override {
    const std::string path = req.url.substr(0, req.url.find('?'));
    if (req.method != "GET" || !path.ends_with("/members")) return inner_.Send(req);
    net::HttpResponse r;
    r.status = 200;
    r.content_type = "text/html";
    r.body = "<html>down for maintenance</html>";
    return r;
  }

 private:
  HttpClient& inner_;
};

// Read as an empty page, such an answer would complete the poll's window
// and skip every change in it: the page fails retryably instead.
TEST_F(MailchimpConnectorTest, APollAnswerWithoutAMemberListIsRetriedNotAnEmptyPage) {
  NoMemberListHttpClient broken(*http_);
  auto c = Make(MappingYaml(ids_, ids_.interests.at("Newsletter")), kKey, 1, kSecret, &broken);
  auto page = c->Poll("", kStart);
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(page.status().code(), StatusCode::kUnavailable) << page.status().ToString();
}

// --- Deliver ------------------------------------------------------------------

TEST_F(MailchimpConnectorTest, GrantCreatesSubscribedMemberWithInterest) {
  const DeliveryResult r =
      DeliverOne(Desired(1, "ida@example.org", {{"newsletter", ConsentStatus::kGranted}}));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.outbox_id, 1);
  EXPECT_EQ(r.system_id, SubscriberHash("ida@example.org"));
  EXPECT_FALSE(r.reconsent);
  const json m = Member("ida@example.org");
  ASSERT_FALSE(m.is_null());
  EXPECT_EQ(m["status"], "subscribed");
  EXPECT_EQ(m["interests"][ids_.interests["Newsletter"]], true);
}

// Records the method and query of each call, and passes it on.
class QueryRecorder final : public HttpClient {
 public:
  explicit QueryRecorder(HttpClient& inner) : inner_(inner) {}
  Result<net::HttpResponse> Send(const OutboundRequest& req) override {
    {
      std::lock_guard lock(mu_);
      calls_.push_back(req.method + " " + req.url);
    }
    return inner_.Send(req);
  }
  std::vector<std::string> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  HttpClient& inner_;
  std::mutex mu_;
  std::vector<std::string> calls_;
};

// consentd writes consent, not names: its member writes (batch subscribe
// and PUT) ask Mailchimp to skip the audience's required merge fields, or
// an audience that requires FNAME would refuse every member it creates.
TEST_F(MailchimpConnectorTest, MemberWritesSkipMergeFieldValidation) {
  QueryRecorder recorder(*http_);
  auto c = Make(MappingYaml(ids_, ids_.interests.at("Newsletter")), kKey, 1, kSecret, &recorder);
  auto r =
      c->Deliver({Desired(1, "mia@example.org", {{"newsletter", ConsentStatus::kGranted}}),
                  Desired(2, "moe@example.org", {{"email_marketing", ConsentStatus::kGranted}})});
  ASSERT_EQ(r.size(), 2u);
  for (const DeliveryResult& d : r) ASSERT_TRUE(d.status.ok()) << d.status.ToString();
  int writes = 0;
  for (const std::string& call : recorder.calls()) {
    const bool batch = call.starts_with("POST ") && call.find("/members") == std::string::npos;
    const bool put = call.starts_with("PUT ");
    if (!batch && !put) continue;
    ++writes;
    EXPECT_NE(call.find("skip_merge_validation=true"), std::string::npos) << call;
  }
  EXPECT_EQ(writes, 2) << "one batch subscribe and one PUT";
}

TEST_F(MailchimpConnectorTest, MarketingPermissionIsWrittenByPut) {
  const DeliveryResult r =
      DeliverOne(Desired(1, "ivy@example.org", {{"email_marketing", ConsentStatus::kGranted}}));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  const json m = Member("ivy@example.org");
  ASSERT_FALSE(m.is_null());
  EXPECT_EQ(m["status"], "subscribed");
  bool enabled = false;
  for (const json& p : m["marketing_permissions"]) {
    if (p["marketing_permission_id"] == ids_.permissions["Email"]) enabled = p["enabled"];
  }
  EXPECT_TRUE(enabled);
}

TEST_F(MailchimpConnectorTest, WithdrawalUnsubscribes) {
  ASSERT_TRUE(DeliverOne(Desired(1, "jo@example.org", {{"newsletter", ConsentStatus::kGranted}}))
                  .status.ok());
  const DeliveryResult r =
      DeliverOne(Desired(2, "jo@example.org", {{"newsletter", ConsentStatus::kWithdrawn}}));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  const json m = Member("jo@example.org");
  EXPECT_EQ(m["status"], "unsubscribed");
  EXPECT_EQ(m["interests"][ids_.interests["Newsletter"]], false);
}

TEST_F(MailchimpConnectorTest, BlockUnsubscribesEvenWithAGrant) {
  const DeliveryResult r = DeliverOne(
      Desired(1, "kim@example.org", {{"newsletter", ConsentStatus::kGranted}}, /*block_all=*/true));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(Member("kim@example.org")["status"], "unsubscribed");
}

TEST_F(MailchimpConnectorTest, GrantToUnsubscribedMemberReconsentsThroughPending) {
  SignUpAndConfirm("lea@example.org", {{ids_.interests["Newsletter"], true}});
  Control("POST", "/_sim/mailchimp/person/unsubscribe", {{"email_address", "lea@example.org"}});
  // A grant captured after the unsubscribe and the skew window.
  clock_.Advance(5000);
  const DeliveryResult r = DeliverOne(Desired(
      1, "lea@example.org", {{"newsletter", ConsentStatus::kGranted}}, false, clock_.NowMs()));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_TRUE(r.reconsent);
  EXPECT_TRUE(r.kept_out.empty());
  // Pending for a grant is not the canonical state: its read-back is decided.
  EXPECT_TRUE(r.version_id.empty()) << r.version_id;
  EXPECT_EQ(Member("lea@example.org")["status"], "pending");
  // Mailchimp sent the person a confirmation.
  bool confirmation = false;
  const json state = Control("GET", "/_sim/mailchimp/state");
  for (const json& c : state["confirmations"]) {
    confirmation = confirmation || c["subscriber_hash"] == SubscriberHash("lea@example.org");
  }
  EXPECT_TRUE(confirmation);
}

// The person unsubscribes in Mailchimp while consentd's write of an older
// grant is on its way (or of one captured within the skew window before
// the unsubscribe: a withdrawal wins ties). Written over through pending,
// the person would be asked to confirm right after unsubscribing, and the
// unsubscribe would be lost; it is left alone and read again instead.
TEST_F(MailchimpConnectorTest, AGrantNotNewerThanSomeoneElsesUnsubscribeIsNotWrittenOverIt) {
  const TimestampMs granted_at = clock_.NowMs();
  SignUpAndConfirm("lou@example.org", {{ids_.interests["Newsletter"], true}});
  SignUpAndConfirm("lux@example.org", {{ids_.interests["Newsletter"], true}});
  clock_.Advance(1500);
  Control("POST", "/_sim/mailchimp/person/unsubscribe", {{"email_address", "lou@example.org"}});
  Control("POST", "/_sim/mailchimp/person/unsubscribe", {{"email_address", "lux@example.org"}});
  const TimestampMs unsubscribed_at = clock_.NowMs();
  // lou: the grant was captured before the unsubscribe; lux: 1.5 s after
  // it, inside the 2 s skew window.
  std::vector<OutboundItem> items = {
      Desired(1, "lou@example.org", {{"newsletter", ConsentStatus::kGranted}}, false, granted_at),
      Desired(2, "lux@example.org", {{"newsletter", ConsentStatus::kGranted}}, false,
              unsubscribed_at + 1500)};
  // lou's grant also awaits re-consent to a newer notice: a member left
  // alone gets no marker tag either (tags start the journey's automations).
  items[0].desired.notice_marker_topics = {"newsletter"};
  items[0].desired.state.consents.begin()->second.reconsent_notice = "2026-02";
  const std::vector<DeliveryResult> results = connector_->Deliver(items);
  ASSERT_EQ(results.size(), 2u);
  const json state = Control("GET", "/_sim/mailchimp/state");
  for (size_t i = 0; i < results.size(); ++i) {
    const DeliveryResult& r = results[i];
    const std::string& email = items[i].desired.email;
    ASSERT_TRUE(r.status.ok()) << email << ": " << r.status.ToString();
    EXPECT_FALSE(r.reconsent) << email;
    EXPECT_EQ(
        r.kept_out,
        std::vector<std::string>{ConsentKeyString(items[i].desired.state.consents.begin()->first)})
        << email;
    EXPECT_TRUE(r.nothing_written) << email;
    EXPECT_NE(r.detail.find("the member was unsubscribed"), std::string::npos) << r.detail;
    EXPECT_EQ(r.detail.find("@"), std::string::npos) << r.detail;  // no address
    EXPECT_EQ(Member(email)["status"], "unsubscribed") << email;
    EXPECT_EQ(Member(email)["tags"], json::array()) << email;
    for (const json& c : state["confirmations"]) {
      EXPECT_NE(c["subscriber_hash"], SubscriberHash(email)) << "a confirmation went to " << email;
    }
  }
}

// Kept out only where a read of the member would decide something against
// the grant: an archived member's read decides nothing, and neither does an
// unsubscribe under a mapping that takes no block and no topic from it.
// Kept out there, the grant would never be written; it re-consents as before.
TEST_F(MailchimpConnectorTest, AnUnsubscribeAReadWouldNotDecideIsWrittenOverThroughPending) {
  const TimestampMs granted_at = clock_.NowMs();
  SignUpAndConfirm("ona@example.org", {{ids_.interests["Newsletter"], true}});
  clock_.Advance(1500);
  Control("POST", "/_sim/mailchimp/person/unsubscribe", {{"email_address", "ona@example.org"}});
  OutboundRequest archive;
  archive.method = "DELETE";
  archive.url =
      base_url_ + "/3.0/lists/" + list_id_ + "/members/" + SubscriberHash("ona@example.org");
  archive.headers = {{"Authorization", "Bearer " + std::string(kKey)}};
  ASSERT_TRUE(http_->Send(archive).ok());
  ASSERT_EQ(Member("ona@example.org")["status"], "archived");
  const DeliveryResult archived = DeliverOne(
      Desired(1, "ona@example.org", {{"newsletter", ConsentStatus::kGranted}}, false, granted_at));
  // Written over through pending, as before the guard.
  auto expect_reconsent = [&](const DeliveryResult& r, const std::string& email) {
    ASSERT_TRUE(r.status.ok()) << email << ": " << r.status.ToString();
    EXPECT_TRUE(r.reconsent) << email << ": " << r.detail;
    EXPECT_TRUE(r.kept_out.empty()) << email;
    EXPECT_FALSE(r.nothing_written) << email;
    EXPECT_EQ(Member(email)["status"], "pending") << email;
  };
  ASSERT_NO_FATAL_FAILURE(expect_reconsent(archived, "ona@example.org"));

  // A mapping under which Mailchimp's unsubscribe carries no block and
  // withdraws no topic.
  std::string yaml = MappingYaml(ids_, ids_.interests.at("Newsletter"));
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"confirms_double_opt_in: true}",
            "confirms_double_opt_in: true, "
            "unsubscribe_withdraws_topics: false}"},
           {"      scope: all\n", "      scope: all\n      direction: crm_to_journey\n"}}) {
    const size_t at = yaml.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    yaml.replace(at, from.size(), to);
  }
  connector_ = Make(yaml);
  SignUpAndConfirm("oli@example.org", {{ids_.interests["Newsletter"], true}});
  Control("POST", "/_sim/mailchimp/person/unsubscribe", {{"email_address", "oli@example.org"}});
  const DeliveryResult unmapped = DeliverOne(
      Desired(2, "oli@example.org", {{"newsletter", ConsentStatus::kGranted}}, false, granted_at));
  ASSERT_NO_FATAL_FAILURE(expect_reconsent(unmapped, "oli@example.org"));
}

// consentd's own unsubscribe (here a block it wrote) was ordered before the
// grant by the engine: a grant captured within the skew window after it
// still re-consents through pending.
TEST_F(MailchimpConnectorTest, AnUnsubscribeConsentdWroteItselfIsWrittenOverThroughPending) {
  ASSERT_TRUE(DeliverOne(Desired(1, "mia@example.org", {{"newsletter", ConsentStatus::kGranted}},
                                 /*block_all=*/true, clock_.NowMs()))
                  .status.ok());
  ASSERT_EQ(Member("mia@example.org")["status"], "unsubscribed");
  clock_.Advance(500);
  const DeliveryResult r = DeliverOne(Desired(
      2, "mia@example.org", {{"newsletter", ConsentStatus::kGranted}}, false, clock_.NowMs()));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_TRUE(r.reconsent) << r.detail;
  EXPECT_TRUE(r.kept_out.empty());
  EXPECT_FALSE(r.nothing_written);
  EXPECT_EQ(Member("mia@example.org")["status"], "pending");
}

// A reload that rebuilds the connector (a new mapping, a rotated key) hands
// the new instance what the old one knew of its own unsubscribes: the
// grant is still written over the block consentd itself wrote.
TEST_F(MailchimpConnectorTest, AConnectorRebuiltByAReloadKnowsTheUnsubscribesItsPredecessorWrote) {
  ASSERT_TRUE(DeliverOne(Desired(1, "ned@example.org", {{"newsletter", ConsentStatus::kGranted}},
                                 /*block_all=*/true, clock_.NowMs()))
                  .status.ok());
  ASSERT_EQ(Member("ned@example.org")["status"], "unsubscribed");
  std::unique_ptr<Connector> rebuilt = Make(MappingYaml(ids_, ids_.interests.at("Newsletter")));
  rebuilt->TakeOverMemory(*connector_);
  connector_ = std::move(rebuilt);
  clock_.Advance(500);
  const DeliveryResult r = DeliverOne(Desired(
      2, "ned@example.org", {{"newsletter", ConsentStatus::kGranted}}, false, clock_.NowMs()));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_TRUE(r.reconsent) << r.detail;
  EXPECT_TRUE(r.kept_out.empty());
  EXPECT_EQ(Member("ned@example.org")["status"], "pending");
}

// The person unticks a box at Mailchimp's preferences page and the webhook
// is lost; before the poll reads the member, a change in the CRM makes
// consentd write the person's whole state, which still has the older grant.
// Ticked again, the withdrawal would be gone. The box is left out of the
// write (the rest goes), reported kept out, and read again by the engine.
// A member consentd has not linked yet is not read (an initial sync's first
// write): it holds nothing of the person's that consentd has not seen.
TEST_F(MailchimpConnectorTest, ABoxThePersonUntickedSinceTheGrantIsNotTickedAgain) {
  const TimestampMs granted_at = clock_.NowMs();
  const std::string news = ids_.interests["Newsletter"], events = ids_.interests["Events"];
  for (const char* email : {"uma@example.org", "una@example.org"}) {
    SignUpAndConfirm(email, {{news, true}, {events, true}});
  }
  clock_.Advance(5000);
  for (const char* email : {"uma@example.org", "una@example.org"}) {
    Control("POST", "/_sim/mailchimp/person/profile",
            {{"email_address", email}, {"interests", {{news, false}}}});
  }
  const std::map<std::string, ConsentStatus> both = {{"newsletter", ConsentStatus::kGranted},
                                                     {"events", ConsentStatus::kGranted}};
  std::vector<OutboundItem> items = {Desired(1, "uma@example.org", both, false, granted_at),
                                     Desired(2, "una@example.org", both, false, granted_at)};
  for (OutboundItem& item : items) GrantedAtTheAudience(item, "newsletter");
  items[0].desired.system_id = SubscriberHash("uma@example.org");  // linked
  const std::vector<DeliveryResult> results = connector_->Deliver(items);
  ASSERT_EQ(results.size(), 2u);

  const DeliveryResult& linked = results[0];
  ASSERT_TRUE(linked.status.ok()) << linked.status.ToString();
  EXPECT_EQ(linked.kept_out, std::vector<std::string>{ConsentKeyString(
                                 {items[0].desired.subject, "newsletter", "email", ""})});
  EXPECT_FALSE(linked.nothing_written);    // the status and the other box were written
  EXPECT_TRUE(linked.version_id.empty());  // the member shows a change to decide
  EXPECT_NE(linked.detail.find("not ticked"), std::string::npos) << linked.detail;
  EXPECT_EQ(linked.detail.find("@"), std::string::npos) << linked.detail;
  const json uma = Member("uma@example.org");
  EXPECT_EQ(uma["status"], "subscribed");
  EXPECT_EQ(uma["interests"][news], false);
  EXPECT_EQ(uma["interests"][events], true);

  ASSERT_TRUE(results[1].status.ok()) << results[1].status.ToString();
  EXPECT_TRUE(results[1].kept_out.empty());
  EXPECT_EQ(Member("una@example.org")["interests"][news], true);

  // The member still holds the person's untick, not consentd's state: a
  // second row before the engine's read again leaves the box out as well.
  clock_.Advance(500);
  const DeliveryResult again = DeliverOne(items[0]);
  ASSERT_TRUE(again.status.ok()) << again.status.ToString();
  EXPECT_EQ(again.kept_out, linked.kept_out);
  EXPECT_EQ(Member("uma@example.org")["interests"][news], false);
}

// A grant from the CRM ticks a box consentd never ticked at the member:
// the member shows it off (every interest is listed), changed by the person
// at the same moment for another box, but nobody unticked it. It is
// written, unread: left out, its read would withdraw the grant (a
// withdrawal wins ties). Once consentd's write has ticked it, the person's
// untick of it is guarded as that of a box she ticked herself.
TEST_F(MailchimpConnectorTest, ABoxNeverTickedThereIsTickedWhateverTheMemberShows) {
  const std::string news = ids_.interests["Newsletter"], events = ids_.interests["Events"];
  SignUpAndConfirm("vea@example.org", {{news, true}, {events, false}});
  clock_.Advance(5000);
  Control("POST", "/_sim/mailchimp/person/profile",
          {{"email_address", "vea@example.org"}, {"interests", {{news, false}}}});
  OutboundItem item =
      Desired(1, "vea@example.org",
              {{"newsletter", ConsentStatus::kWithdrawn}, {"events", ConsentStatus::kGranted}},
              false, clock_.NowMs());  // the CRM's grant, a tie
  item.desired.system_id = SubscriberHash("vea@example.org");
  const DeliveryResult r = DeliverOne(item);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_TRUE(r.kept_out.empty()) << r.detail;
  EXPECT_EQ(Member("vea@example.org")["interests"][events], true);

  clock_.Advance(5000);
  Control("POST", "/_sim/mailchimp/person/profile",
          {{"email_address", "vea@example.org"}, {"interests", {{events, false}}}});
  clock_.Advance(500);
  const DeliveryResult again = DeliverOne(item);  // the same, older grant
  ASSERT_TRUE(again.status.ok()) << again.status.ToString();
  EXPECT_EQ(
      again.kept_out,
      std::vector<std::string>{ConsentKeyString({item.desired.subject, "events", "email", ""})})
      << again.detail;
  EXPECT_EQ(Member("vea@example.org")["interests"][events], false);

  // Until the engine has decided her untick, every row finds the box
  // guarded still: consentd's memory keeps it as on before she unticked it.
  clock_.Advance(500);
  const DeliveryResult third = DeliverOne(item);
  ASSERT_TRUE(third.status.ok()) << third.status.ToString();
  EXPECT_EQ(third.kept_out, again.kept_out) << third.detail;
  EXPECT_EQ(Member("vea@example.org")["interests"][events], false);
}

// A box shows one consent: the topic's on the audience's e-mail channel,
// for no particular address (what the write ticks it from). Another
// consent of the topic (an address's own, say, which the person gave at
// Mailchimp long ago) does not make the box one to guard.
TEST_F(MailchimpConnectorTest, OnlyTheConsentABoxShowsDecidesWhetherItIsGuarded) {
  const std::string news = ids_.interests["Newsletter"], events = ids_.interests["Events"];
  SignUpAndConfirm("wim@example.org", {{news, true}, {events, false}});
  const TimestampMs long_ago = clock_.NowMs();
  clock_.Advance(5000);
  Control("POST", "/_sim/mailchimp/person/profile",
          {{"email_address", "wim@example.org"}, {"interests", {{news, false}}}});
  OutboundItem item =
      Desired(1, "wim@example.org",
              {{"newsletter", ConsentStatus::kWithdrawn}, {"events", ConsentStatus::kGranted}},
              false, clock_.NowMs());  // the CRM's grant
  ConsentRecord own;
  own.key = {item.desired.subject, "events", "email", "wim@example.org"};
  own.status = ConsentStatus::kGranted;
  own.method = ConsentMethod::kDoubleOptIn;
  own.provenance.occurred_at = long_ago;
  own.provenance.source_system = "mailchimp";
  item.desired.state.consents[own.key] = own;
  item.desired.system_id = SubscriberHash("wim@example.org");
  const DeliveryResult r = DeliverOne(item);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_TRUE(r.kept_out.empty()) << r.detail;
  EXPECT_EQ(Member("wim@example.org")["interests"][events], true);
}

// What is ticked again: a box consentd's own last write unticked (a
// withdrawal the engine ordered before this grant), and one the person
// unticked before the grant by more than the skew window. A marketing
// permission is guarded as an interest is.
TEST_F(MailchimpConnectorTest, AnOwnUntickOrOneOlderThanTheGrantIsTickedAgain) {
  const std::string news = ids_.interests["Newsletter"];
  const std::string perm = ids_.permissions["Email"];
  SignUpAndConfirm("ola@example.org", {{news, true}});
  SignUpAndConfirm("oli@example.org", {{news, true}});
  clock_.Advance(1000);
  OutboundItem own = Desired(1, "ola@example.org",
                             {{"newsletter", ConsentStatus::kWithdrawn},
                              {"events", ConsentStatus::kGranted},
                              {"email_marketing", ConsentStatus::kWithdrawn}},
                             false, clock_.NowMs());
  ASSERT_TRUE(DeliverOne(own).status.ok());  // not linked yet: not read first
  ASSERT_EQ(Member("ola@example.org")["interests"][news], false);
  clock_.Advance(500);  // the new grant: inside the skew window of consentd's untick
  OutboundItem regrant = Desired(2, "ola@example.org",
                                 {{"newsletter", ConsentStatus::kGranted},
                                  {"events", ConsentStatus::kGranted},
                                  {"email_marketing", ConsentStatus::kGranted}},
                                 false, clock_.NowMs());
  regrant.desired.system_id = SubscriberHash("ola@example.org");
  const DeliveryResult r = DeliverOne(regrant);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_TRUE(r.kept_out.empty()) << r.detail;
  json ola = Member("ola@example.org");
  EXPECT_EQ(ola["interests"][news], true);
  bool enabled = false;
  for (const json& p : ola["marketing_permissions"]) {
    if (p["marketing_permission_id"] == perm) enabled = p["enabled"];
  }
  EXPECT_TRUE(enabled);

  // The person unticks the box and the permission; a grant captured
  // within the skew window after that keeps them out (a withdrawal wins
  // ties), one captured later ticks them again.
  Control("POST", "/_sim/mailchimp/person/profile",
          {{"email_address", "ola@example.org"},
           {"interests", {{news, false}}},
           {"marketing_permissions", {{{"marketing_permission_id", perm}, {"enabled", false}}}}});
  clock_.Advance(1500);
  for (auto& [key, rec] : regrant.desired.state.consents) {
    rec.provenance.occurred_at = clock_.NowMs();
  }
  const DeliveryResult tie = DeliverOne(regrant);
  ASSERT_TRUE(tie.status.ok()) << tie.status.ToString();
  EXPECT_EQ(tie.kept_out.size(), 2u) << tie.detail;
  ola = Member("ola@example.org");
  EXPECT_EQ(ola["interests"][news], false);
  clock_.Advance(3000);
  for (auto& [key, rec] : regrant.desired.state.consents) {
    rec.provenance.occurred_at = clock_.NowMs();
  }
  const DeliveryResult later = DeliverOne(regrant);
  ASSERT_TRUE(later.status.ok()) << later.status.ToString();
  EXPECT_TRUE(later.kept_out.empty()) << later.detail;
  EXPECT_EQ(Member("ola@example.org")["interests"][news], true);

  // oli unticked long before a grant captured now: ticked again.
  Control("POST", "/_sim/mailchimp/person/profile",
          {{"email_address", "oli@example.org"}, {"interests", {{news, false}}}});
  clock_.Advance(5000);
  OutboundItem old_untick = Desired(4, "oli@example.org", {{"newsletter", ConsentStatus::kGranted}},
                                    false, clock_.NowMs());
  GrantedAtTheAudience(old_untick, "newsletter");
  old_untick.desired.system_id = SubscriberHash("oli@example.org");
  const DeliveryResult o = DeliverOne(old_untick);
  ASSERT_TRUE(o.status.ok()) << o.status.ToString();
  EXPECT_TRUE(o.kept_out.empty()) << o.detail;
  EXPECT_EQ(Member("oli@example.org")["interests"][news], true);
}

// The read before a tick fails retryably: nothing is written blind, the
// row is retried whole.
TEST_F(MailchimpConnectorTest, AFailedReadBeforeATickFailsTheRowRetryably) {
  const std::string news = ids_.interests["Newsletter"];
  SignUpAndConfirm("pia@example.org", {{news, true}});
  Control("POST", "/_sim/mailchimp/person/profile",
          {{"email_address", "pia@example.org"}, {"interests", {{news, false}}}});
  Control("POST", "/_sim/faults",
          {{"kind", "error"},
           {"system", "mailchimp"},
           {"method", "GET"},
           {"status", 503},
           {"count", 1}});
  clock_.Advance(5000);
  OutboundItem item = Desired(1, "pia@example.org", {{"newsletter", ConsentStatus::kGranted}},
                              false, clock_.NowMs());
  GrantedAtTheAudience(item, "newsletter");
  item.desired.system_id = SubscriberHash("pia@example.org");
  const DeliveryResult r = DeliverOne(item);
  EXPECT_EQ(r.error_class, ErrorClass::kRetryable) << r.status.ToString();
  EXPECT_EQ(Member("pia@example.org")["interests"][news], false);
  const DeliveryResult retried = DeliverOne(item);  // the fault is used up
  ASSERT_TRUE(retried.status.ok()) << retried.status.ToString();
  EXPECT_EQ(Member("pia@example.org")["interests"][news], true);
}

// Two rows for one address in one delivery (two people sharing it) are
// written in their order, whichever way each goes: the first by PUT (it
// carries a marketing permission), the second one the batch could carry.
TEST_F(MailchimpConnectorTest, TwoRowsOfOneMemberAreWrittenInTheirOrderWhicheverWayEachGoes) {
  const std::string events = ids_.interests["Events"];
  OutboundItem first = Desired(1, "rae@example.org",
                               {{"newsletter", ConsentStatus::kGranted},
                                {"events", ConsentStatus::kWithdrawn},
                                {"email_marketing", ConsentStatus::kGranted}},
                               false, clock_.NowMs());
  OutboundItem second =
      Desired(2, "rae@example.org",
              {{"newsletter", ConsentStatus::kGranted}, {"events", ConsentStatus::kGranted}}, false,
              clock_.NowMs());
  const std::vector<DeliveryResult> results = connector_->Deliver({first, second});
  ASSERT_EQ(results.size(), 2u);
  for (const DeliveryResult& r : results) ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(Member("rae@example.org")["interests"][events], true);  // the second row's
}

// When the first of two rows for one address fails, the second is not
// written over its place in the order: it fails retryably too.
TEST_F(MailchimpConnectorTest, ARowAfterAFailedRowOfTheSameMemberIsNotWrittenBeforeIt) {
  Control("POST", "/_sim/faults",
          {{"kind", "error"},
           {"system", "mailchimp"},
           {"method", "PUT"},
           {"status", 503},
           {"count", 1}});
  OutboundItem first = Desired(
      1, "sol@example.org",
      {{"newsletter", ConsentStatus::kGranted}, {"email_marketing", ConsentStatus::kGranted}},
      false, clock_.NowMs());
  OutboundItem second = Desired(
      2, "sol@example.org",
      {{"newsletter", ConsentStatus::kGranted}, {"email_marketing", ConsentStatus::kWithdrawn}},
      false, clock_.NowMs());
  const std::vector<DeliveryResult> results = connector_->Deliver({first, second});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].error_class, ErrorClass::kRetryable) << results[0].status.ToString();
  EXPECT_EQ(results[1].error_class, ErrorClass::kRetryable) << results[1].status.ToString();
  EXPECT_NE(results[1].detail.find("earlier row"), std::string::npos) << results[1].detail;
  EXPECT_TRUE(Member("sol@example.org").is_null());  // nothing written
}

// An HttpClient in front of the real one that sees how many member reads
// (GET) and member writes (PUT) are on the wire at once. Until two of a
// method have overlapped, each such call waits up to 2 s for a second one
// to join it: calls made one after another never overlap.
class OverlapProbe final : public HttpClient {
 public:
  explicit OverlapProbe(HttpClient& inner) : inner_(inner) {}

  Result<net::HttpResponse> Send(const OutboundRequest& req) override {
    if (req.url.find("/members/") == std::string::npos ||
        (req.method != "GET" && req.method != "PUT")) {
      return inner_.Send(req);
    }
    const std::string path = req.url.substr(0, req.url.find('?'));
    {
      std::unique_lock lock(mu_);
      const int now = ++in_flight_[req.method];
      if (req.method == "PUT" && ++puts_on_[path] > 1) ++puts_overlapping_on_one_member_;
      peak_[req.method] = std::max(peak_[req.method], now);
      joined_.notify_all();
      joined_.wait_for(lock, std::chrono::seconds(2), [&] { return peak_[req.method] >= 2; });
    }
    auto answer = inner_.Send(req);
    std::lock_guard lock(mu_);
    --in_flight_[req.method];
    if (req.method == "PUT") --puts_on_[path];
    return answer;
  }

  int peak(const std::string& method) {
    std::lock_guard lock(mu_);
    return peak_[method];
  }
  int puts_overlapping_on_one_member() {
    std::lock_guard lock(mu_);
    return puts_overlapping_on_one_member_;
  }

 private:
  HttpClient& inner_;
  std::mutex mu_;
  std::condition_variable joined_;
  std::map<std::string, int> in_flight_, peak_, puts_on_;
  int puts_overlapping_on_one_member_ = 0;
};

// Every read before a tick and every PUT costs a round trip (100-300 ms at
// Mailchimp): one member after another, a delivery of a few hundred would
// take minutes while most of the allowed connections stay idle. The
// members of a delivery are read and written side by side; two rows for
// one member are still written one after the other, in their order.
TEST_F(MailchimpConnectorTest, TheMembersOfADeliveryAreReadAndWrittenSideBySide) {
  const std::string news = ids_.interests["Newsletter"], events = ids_.interests["Events"];
  const std::vector<std::string> people = {"ada@example.org", "bea@example.org", "cai@example.org",
                                           "dov@example.org"};
  for (const std::string& email : people) SignUpAndConfirm(email, {{news, true}});
  clock_.Advance(5000);
  OverlapProbe probe(*http_);
  connector_ = Make(MappingYaml(ids_, ids_.interests.at("Newsletter")), kKey,
                    /*read_parallelism=*/4, kSecret, &probe);
  std::vector<OutboundItem> items;
  for (const std::string& email : people) {
    // Newsletter (hers, ticked at the audience) is read before it is
    // ticked again; the marketing permission makes the write a PUT.
    items.push_back(Desired(
        static_cast<std::int64_t>(items.size()) + 1, email,
        {{"newsletter", ConsentStatus::kGranted}, {"email_marketing", ConsentStatus::kGranted}},
        false, clock_.NowMs()));
  }
  // A later row for the first person, in the same delivery.
  items.push_back(Desired(1, people[0],
                          {{"newsletter", ConsentStatus::kGranted},
                           {"events", ConsentStatus::kGranted},
                           {"email_marketing", ConsentStatus::kGranted}},
                          false, clock_.NowMs()));
  items.back().outbox_id = 5;
  items.back().idempotency_key = "k5";
  for (OutboundItem& item : items) {
    GrantedAtTheAudience(item, "newsletter");
    item.desired.system_id = SubscriberHash(item.desired.email);
  }
  const std::vector<DeliveryResult> results = connector_->Deliver(items);
  ASSERT_EQ(results.size(), items.size());
  for (const DeliveryResult& r : results) {
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_TRUE(r.kept_out.empty()) << r.detail;
  }
  EXPECT_GE(probe.peak("GET"), 2);
  EXPECT_GE(probe.peak("PUT"), 2);
  EXPECT_EQ(probe.puts_overlapping_on_one_member(), 0);
  EXPECT_EQ(Member(people[0])["interests"][events], true);  // the later row, written last
  for (const std::string& email : people) EXPECT_EQ(Member(email)["interests"][news], true);
}

TEST(MailchimpOwnWrites, KnowsOnlyTheLastWriteAndStartsAgainWhenFull) {
  mailchimp::OwnWrites own(/*capacity=*/2);
  own.Note("a", /*unsubscribed=*/true, 1000, "v1");
  EXPECT_TRUE(own.IsOwnUnsubscribe("a", 1000));
  EXPECT_TRUE(own.IsOwnState("a", "v1"));
  EXPECT_FALSE(own.IsOwnUnsubscribe("a", 2000));  // changed since consentd's write
  EXPECT_FALSE(own.IsOwnState("a", "v2"));
  EXPECT_FALSE(own.IsOwnUnsubscribe("b", 1000));
  own.Note("a", /*unsubscribed=*/false, 3000, "v3");  // consentd subscribed it since
  EXPECT_FALSE(own.IsOwnUnsubscribe("a", 1000));
  EXPECT_FALSE(own.IsOwnUnsubscribe("a", 3000));
  EXPECT_TRUE(own.IsOwnState("a", "v3"));  // still consentd's own state
  EXPECT_FALSE(own.IsOwnState("a", "v1"));
  own.Note("a", true, 4000);  // no version known
  EXPECT_TRUE(own.IsOwnUnsubscribe("a", 4000));
  EXPECT_FALSE(own.IsOwnState("a", ""));
  own.Note("b", true, 4000, "v4");
  own.Note("b", true, 5000, "v5");  // a member already known does not fill it
  own.Note("c", true, 6000, "v6");  // full: starts again
  EXPECT_EQ(own.size(), 1u);
  EXPECT_FALSE(own.IsOwnUnsubscribe("a", 4000));
  EXPECT_FALSE(own.IsOwnState("b", "v5"));
  EXPECT_TRUE(own.IsOwnUnsubscribe("c", 6000));
  // The boxes of the last write, kept also when its state is not consentd's
  // own alone (no time: nothing else is matched to it).
  own.Note("c", false, 7000, "v7", {"interest:x"});
  EXPECT_TRUE(own.Ticked("c", "interest:x"));
  EXPECT_FALSE(own.Ticked("c", "interest:y"));
  own.Note("c", false, 0, {}, {"interest:y"});
  EXPECT_FALSE(own.Ticked("c", "interest:x"));
  EXPECT_TRUE(own.Ticked("c", "interest:y"));
  EXPECT_FALSE(own.IsOwnState("c", "v7"));
  EXPECT_FALSE(own.IsOwnUnsubscribe("c", 0));
  own.Note("c", false, 0);  // nothing known: forgotten
  EXPECT_FALSE(own.Ticked("c", "interest:y"));
  own.Note("c", true, 0, "v6");  // a write whose time is unknown
  EXPECT_FALSE(own.IsOwnUnsubscribe("c", 6000));
  EXPECT_FALSE(own.IsOwnState("c", "v6"));
  own.Note("c", false, 8000, "v8", {"i:ab", "i:abc"});  // whole keys only
  EXPECT_TRUE(own.Ticked("c", "i:ab"));
  EXPECT_TRUE(own.Ticked("c", "i:abc"));
  EXPECT_FALSE(own.Ticked("c", "i:a"));
  EXPECT_FALSE(own.Ticked("c", "i:b"));
  EXPECT_FALSE(own.Ticked("c", "ab"));
  EXPECT_FALSE(own.Ticked("c", ""));
}

TEST_F(MailchimpConnectorTest, GrantToCleanedMemberIsBlockedByTarget) {
  SignUpAndConfirm("max@example.org", {{ids_.interests["Newsletter"], true}});
  Control("POST", "/_sim/mailchimp/person/bounce", {{"email_address", "max@example.org"}});
  const DeliveryResult r =
      DeliverOne(Desired(1, "max@example.org", {{"newsletter", ConsentStatus::kGranted}}));
  EXPECT_EQ(r.status.code(), StatusCode::kBlockedByTarget) << r.status.ToString();
  EXPECT_EQ(r.error_class, ErrorClass::kBlockedByTarget);
  EXPECT_EQ(Member("max@example.org")["status"], "cleaned");
}

TEST_F(MailchimpConnectorTest, ForgottenAddressIsBlockedByTarget) {
  SignUpAndConfirm("ned@example.org", {{ids_.interests["Newsletter"], true}});
  Control("POST", "/_sim/mailchimp/admin/delete-permanent", {{"email_address", "ned@example.org"}});
  const DeliveryResult r =
      DeliverOne(Desired(1, "ned@example.org", {{"newsletter", ConsentStatus::kGranted}}));
  EXPECT_EQ(r.status.code(), StatusCode::kBlockedByTarget) << r.status.ToString();
  EXPECT_EQ(r.error_class, ErrorClass::kBlockedByTarget);
  EXPECT_EQ(r.detail.find("ned@"), std::string::npos);  // no address in the detail
}

TEST_F(MailchimpConnectorTest, EraseDeletesPermanentlyAndIsIdempotent) {
  SignUpAndConfirm("ola@example.org", {{ids_.interests["Newsletter"], true}});
  OutboundItem item = Desired(1, "ola@example.org", {});
  item.desired.erase = true;
  const DeliveryResult r = DeliverOne(item);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.system_id, SubscriberHash("ola@example.org"));
  EXPECT_TRUE(Member("ola@example.org").is_null());
  const json forgotten = Control("GET", "/_sim/mailchimp/state")["forgotten"];
  EXPECT_NE(std::find(forgotten.begin(), forgotten.end(), SubscriberHash("ola@example.org")),
            forgotten.end());
  // Again: the member is already gone, which is what was asked.
  EXPECT_TRUE(DeliverOne(item).status.ok());
}

// A failure's message ends up in the log, the dead letters and an erasure's
// reason: it names the member path, but not the subscriber hash (the MD5
// of the address, as good as the address for anyone who has it).
TEST_F(MailchimpConnectorTest, AFailedMemberRequestNamesThePathWithoutTheSubscriberHash) {
  SignUpAndConfirm("pia@example.org", {{ids_.interests["Newsletter"], true}});
  Control("POST", "/_sim/faults", {{"kind", "error"}, {"system", "mailchimp"}, {"status", 500}});
  OutboundItem item = Desired(1, "pia@example.org", {});
  item.desired.erase = true;
  const DeliveryResult r = DeliverOne(item);
  Control("DELETE", "/_sim/faults", nullptr);
  ASSERT_FALSE(r.status.ok());
  const std::string message = r.status.ToString();
  EXPECT_NE(message.find("/members/<hash>"), std::string::npos) << message;
  EXPECT_EQ(message.find(SubscriberHash("pia@example.org")), std::string::npos) << message;
}

// After a CRM merge the person has a member per address: the erasure row
// names the others, and all of them are deleted (again: all already gone).
TEST_F(MailchimpConnectorTest, EraseDeletesThePersonsOtherMembersToo) {
  SignUpAndConfirm("uma@example.org", {{ids_.interests["Newsletter"], true}});
  SignUpAndConfirm("uma.b@example.org", {{ids_.interests["Newsletter"], true}});
  SignUpAndConfirm("val@example.org", {{ids_.interests["Newsletter"], true}});
  OutboundItem item = Desired(1, "uma@example.org", {});
  item.desired.erase = true;
  item.desired.also_erase = {"uma.b@example.org"};
  const DeliveryResult r = DeliverOne(item);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.system_id, SubscriberHash("uma@example.org"));
  EXPECT_NE(r.detail.find("1 other member(s)"), std::string::npos) << r.detail;
  EXPECT_EQ(r.detail.find("uma"), std::string::npos) << "no address in the detail: " << r.detail;
  EXPECT_TRUE(Member("uma@example.org").is_null());
  EXPECT_TRUE(Member("uma.b@example.org").is_null());
  EXPECT_FALSE(Member("val@example.org").is_null()) << "someone else's member stays";
  const DeliveryResult again = DeliverOne(item);
  EXPECT_TRUE(again.status.ok()) << again.status.ToString();
}

TEST_F(MailchimpConnectorTest, RestrictErasureArchivesTheMember) {
  connector_ = Make(MappingYaml(ids_, ids_.interests.at("Newsletter"), "restrict"));
  SignUpAndConfirm("pia@example.org", {{ids_.interests["Newsletter"], true}});
  OutboundItem item = Desired(1, "pia@example.org", {});
  item.desired.erase = true;
  ASSERT_TRUE(DeliverOne(item).status.ok());
  EXPECT_EQ(Member("pia@example.org")["status"], "archived");
  // Mailchimp answers 405 to archiving an archived member: the erasure is
  // already done, not a permanent failure.
  const DeliveryResult again = DeliverOne(item);
  EXPECT_TRUE(again.status.ok()) << again.status.ToString();
  EXPECT_TRUE(again.already_gone);
}

TEST_F(MailchimpConnectorTest, RestrictErasureOfAPendingMemberEndsItsDoubleOptInAndArchives) {
  connector_ = Make(MappingYaml(ids_, ids_.interests.at("Newsletter"), "restrict"));
  Control("POST", "/_sim/mailchimp/person/signup",
          {{"email_address", "rae@example.org"},
           {"interests", {{ids_.interests["Newsletter"], true}}}});
  ASSERT_EQ(Member("rae@example.org")["status"], "pending");
  OutboundItem item = Desired(1, "rae@example.org", {});
  item.desired.erase = true;
  const DeliveryResult r = DeliverOne(item);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_FALSE(r.already_gone);
  EXPECT_EQ(Member("rae@example.org")["status"], "archived");
  // The confirmation link no longer subscribes the person.
  Control("POST", "/_sim/mailchimp/person/confirm", {{"email_address", "rae@example.org"}});
  EXPECT_EQ(Member("rae@example.org")["status"], "archived");
}

TEST_F(MailchimpConnectorTest, RestrictErasureOfACleanedMemberKeepsItCleaned) {
  connector_ = Make(MappingYaml(ids_, ids_.interests.at("Newsletter"), "restrict"));
  SignUpAndConfirm("sol@example.org", {{ids_.interests["Newsletter"], true}});
  Control("POST", "/_sim/mailchimp/person/bounce", {{"email_address", "sol@example.org"}});
  OutboundItem item = Desired(1, "sol@example.org", {});
  item.desired.erase = true;
  const DeliveryResult r = DeliverOne(item);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(Member("sol@example.org")["status"], "cleaned");
  EXPECT_NE(r.detail.find("cleaned"), std::string::npos) << r.detail;
}

TEST_F(MailchimpConnectorTest, ManyMembersGoInOneBatchCall) {
  std::vector<OutboundItem> items;
  for (int i = 0; i < 120; ++i) {
    items.push_back(Desired(i + 1, "bulk" + std::to_string(i) + "@example.org",
                            {{"newsletter", ConsentStatus::kGranted}}));
  }
  const std::vector<DeliveryResult> results = connector_->Deliver(items);
  ASSERT_EQ(results.size(), items.size());
  for (const DeliveryResult& r : results) EXPECT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(Member("bulk119@example.org")["status"], "subscribed");
  const json counters = Control("GET", "/_sim/counters");
  int batch_calls = 0, other_writes = 0;
  for (const auto& [route, statuses] : counters["mailchimp"].items()) {
    for (const auto& [status, n] : statuses.items()) {
      if (route == "POST /3.0/lists/" + list_id_) batch_calls += n.get<int>();
      if (route.rfind("PUT ", 0) == 0) other_writes += n.get<int>();
    }
  }
  EXPECT_EQ(batch_calls, 1);
  EXPECT_EQ(other_writes, 0);
}

// A 400 for a batch as a whole (one member's field can cause it) is not
// pinned on every member: the batch is halved until the members go through
// or fail alone. Other refusals fail the batch at once.
TEST_F(MailchimpConnectorTest, ABatchRefusedWithA400IsHalvedSoTheGoodMembersGoThrough) {
  std::vector<OutboundItem> items;
  for (int i = 0; i < 4; ++i) {
    items.push_back(Desired(i + 1, "half" + std::to_string(i) + "@example.org",
                            {{"newsletter", ConsentStatus::kGranted}}));
  }
  Control("POST", "/_sim/faults",
          {{"kind", "error"}, {"system", "mailchimp"}, {"status", 400}, {"count", 1}});
  std::vector<DeliveryResult> results = connector_->Deliver(items);
  ASSERT_EQ(results.size(), items.size());
  for (const DeliveryResult& r : results) EXPECT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(Member("half3@example.org")["status"], "subscribed");
  const json halves = Control("GET", "/_sim/counters")["mailchimp"]["POST /3.0/lists/" + list_id_];
  EXPECT_EQ(halves["400"], 1) << halves.dump();
  EXPECT_EQ(halves["200"], 2) << "the two halves: " << halves.dump();

  Control("POST", "/_sim/faults", {{"kind", "error"}, {"system", "mailchimp"}, {"status", 401}});
  results = connector_->Deliver(items);
  for (const DeliveryResult& r : results) EXPECT_FALSE(r.status.ok());
  const json counters = Control("GET", "/_sim/counters");
  EXPECT_EQ(counters["mailchimp"]["POST /3.0/lists/" + list_id_]["401"], 1)
      << "a refused credential is not retried half by half: " << counters.dump();
  Control("DELETE", "/_sim/faults", nullptr);
}

// consentd's own write, read back, is recognised by its version
// (DeliveryResult::version_id): the id a read and the poll give the member
// as Mailchimp answered the write. A later change is another version.
// The mapping of MappingYaml without its marketing permission topic.
std::string MappingWithoutPermissions(const AudienceIds& ids) {
  std::string yaml = MappingYaml(ids, ids.interests.at("Newsletter"));
  const std::size_t from = yaml.find("    - name: email_marketing\n");
  const std::size_t to = yaml.find("  blocks:\n");
  EXPECT_TRUE(from != std::string::npos && to != std::string::npos && from < to);
  return yaml.erase(from, to - from);
}

TEST_F(MailchimpConnectorTest, AWriteAnsweredAsWrittenNamesTheVersionAReadAndThePollGive) {
  for (const bool batch : {true, false}) {
    const std::string email = batch ? "vera@example.org" : "vic@example.org";
    // A batch answer carries no marketing permissions (the spec's
    // ListMembers5): it names the version where the mapping binds none
    // (AMappedPermissionLeavesABatchWriteWithoutAVersion).
    const std::string yaml = batch ? MappingWithoutPermissions(ids_)
                                   : MappingYaml(ids_, ids_.interests.at("Newsletter"));
    connector_ = Make(yaml);
    const DeliveryResult r = DeliverOne(
        batch ? Desired(1, email, {{"newsletter", ConsentStatus::kGranted}})
              : Desired(2, email, {{"email_marketing", ConsentStatus::kGranted}}));  // PUT
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    // Named by Mailchimp's opaque member id, never by the subscriber hash
    // (MD5 of the address): version ids reach the proof log.
    const std::string unique_id = Member(email)["unique_email_id"];
    ASSERT_FALSE(unique_id.empty());
    ASSERT_EQ(r.version_id.rfind("poll:" + unique_id + ":", 0), 0u) << r.version_id;
    EXPECT_EQ(r.version_id.find(SubscriberHash(email)), std::string::npos) << r.version_id;

    RecordRef ref;
    ref.email = email;
    ref.event_id = "hint-" + email;
    auto read = connector_->Read({ref});
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    ASSERT_EQ(read->size(), 1u);
    EXPECT_EQ(read->front().version_id, r.version_id);
    EXPECT_EQ(read->front().event_id, "hint-" + email);

    // A poll that has not yet learnt Mailchimp's clock (a fresh connector:
    // its first window is bounded before any answer), so that the window
    // holds the member's second while the clock stands still (below).
    auto poller = Make(yaml);
    auto page = poller->Poll("", clock_.NowMs() + 2000);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    bool found = false;
    for (const InboundRecord& rec : page->records) {
      found |= rec.event_id == r.version_id && rec.version_id == r.version_id;
    }
    EXPECT_TRUE(found) << "the poll names the written member's version " << r.version_id;

    Control("POST", "/_sim/mailchimp/person/unsubscribe", {{"email_address", email}});
    auto after = connector_->Read({ref});
    ASSERT_TRUE(after.ok()) << after.status().ToString();
    EXPECT_NE(after->front().version_id, r.version_id);
    EXPECT_FALSE(after->front().version_id.empty());
    // Within the same second (the clock stood still): the same slot, another
    // state (sync/version_memory.h), so the slot remembers the later one.
    const auto slot = [](const std::string& v) {
      const std::size_t at = v.find('#');
      EXPECT_NE(at, std::string::npos) << v;
      return v.substr(0, at);
    };
    EXPECT_EQ(slot(after->front().version_id), slot(r.version_id));
  }
}

// Where the mapping binds a topic to a marketing permission, a member's
// version counts it, and a batch subscribe answer does not show it (the
// spec's ListMembers5 has no marketing_permissions): such a write names no
// version (its read-back is decided), rather than one no read would match.
// Written by PUT (the answer is a whole member), it names it.
TEST_F(MailchimpConnectorTest, AMappedPermissionLeavesABatchWriteWithoutAVersion) {
  const DeliveryResult batch =
      DeliverOne(Desired(1, "pia@example.org", {{"newsletter", ConsentStatus::kGranted}}));
  ASSERT_TRUE(batch.status.ok()) << batch.status.ToString();
  EXPECT_TRUE(batch.version_id.empty()) << batch.version_id;
  const DeliveryResult put = DeliverOne(Desired(
      2, "pia@example.org",
      {{"newsletter", ConsentStatus::kGranted}, {"email_marketing", ConsentStatus::kGranted}}));
  ASSERT_TRUE(put.status.ok()) << put.status.ToString();
  EXPECT_FALSE(put.version_id.empty());
}

// A member that shows a consent consentd did not write (here an interest
// of a mapped topic the desired state does not ask about) is not consentd's
// echo: no version is remembered, so the read-back is decided.
TEST_F(MailchimpConnectorTest, AWrittenMemberShowingAConsentNotWrittenNamesNoVersion) {
  SignUpAndConfirm("wes@example.org", {{ids_.interests["Events"], true}});
  const DeliveryResult r =
      DeliverOne(Desired(1, "wes@example.org", {{"newsletter", ConsentStatus::kGranted}}));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(Member("wes@example.org")["interests"][ids_.interests["Events"]], true);
  EXPECT_TRUE(r.version_id.empty()) << r.version_id;
}

// Mailchimp limits connections, not requests: the connector tells the
// daemon how many Reads of slices of a set it may run at once; Read itself
// returns the records in the order of the refs, each with its event id.
TEST_F(MailchimpConnectorTest, ReadParallelismIsTheConfiguredOneAndReadKeepsTheRefOrder) {
  EXPECT_EQ(connector_->read_parallelism(), 1);
  auto parallel =
      Make(MappingYaml(ids_, ids_.interests.at("Newsletter")), kKey, /*read_parallelism=*/5);
  EXPECT_EQ(parallel->read_parallelism(), 5);
  std::vector<RecordRef> refs;
  for (int i = 0; i < 4; ++i) {
    const std::string email = "order" + std::to_string(i) + "@example.org";
    SignUpAndConfirm(email, {{ids_.interests["Newsletter"], true}});
    RecordRef ref;
    ref.email = email;
    ref.event_id = "hint-" + std::to_string(i);
    refs.insert(refs.begin(), ref);  // newest first: not the audience's order
  }
  auto records = parallel->Read(refs);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), refs.size());
  for (std::size_t i = 0; i < refs.size(); ++i) {
    EXPECT_EQ((*records)[i].email, refs[i].email) << i;
    EXPECT_EQ((*records)[i].event_id, refs[i].event_id) << i;
  }
}

TEST_F(MailchimpConnectorTest, OneFailedMemberReadFailsTheWholeSetRetryably) {
  std::vector<RecordRef> refs;
  for (int i = 0; i < 6; ++i) {
    const std::string email = "pfail" + std::to_string(i) + "@example.org";
    SignUpAndConfirm(email, {{ids_.interests["Newsletter"], true}});
    RecordRef ref;
    ref.email = email;
    ref.event_id = "hint-" + std::to_string(i);
    refs.push_back(ref);
  }
  Control("POST", "/_sim/faults",
          {{"kind", "error"}, {"system", "mailchimp"}, {"status", 503}, {"count", 1}});
  auto parallel =
      Make(MappingYaml(ids_, ids_.interests.at("Newsletter")), kKey, /*read_parallelism=*/3);
  auto records = parallel->Read(refs);
  ASSERT_FALSE(records.ok());
  EXPECT_TRUE(records.status().IsRetryable()) << records.status().ToString();
}

// A set of hinted members is answered by one list request (the members
// changed last, newest first) instead of a GET per member; each record is
// the one a read of that member alone gives. A member the page does not
// hold (changed long before the others, or gone) is read on its own.
TEST_F(MailchimpConnectorTest, AHintedSetIsReadWithOneListRequestAndMissingMembersOneByOne) {
  SignUpAndConfirm("early@example.org", {{ids_.interests["Newsletter"], true}});
  clock_.Advance(1000);
  const int kOthers = 60;  // more than the page beyond the set's own size
  for (int i = 0; i < kOthers; ++i) {
    SignUpAndConfirm("filler" + std::to_string(i) + "@example.org",
                     {{ids_.interests["Events"], true}});
  }
  clock_.Advance(1000);
  std::vector<RecordRef> refs;
  auto hint = [&refs](const std::string& email) {
    RecordRef ref;
    ref.email = email;
    ref.system_id = SubscriberHash(email);
    ref.event_id = "hint-" + email;
    refs.push_back(ref);
  };
  for (int i = 0; i < 5; ++i) {
    const std::string email = "set" + std::to_string(i) + "@example.org";
    SignUpAndConfirm(email, {{ids_.interests["Newsletter"], i % 2 == 0}});
    hint(email);
  }
  hint("early@example.org");
  hint("never@example.org");
  ASSERT_GE(refs.size(), static_cast<std::size_t>(connector_->whole_set_read_min()));
  ASSERT_GT(connector_->whole_set_read_min(), 1);

  Control("DELETE", "/_sim/counters");
  auto records = connector_->Read(refs);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), refs.size());
  const json counters = Control("GET", "/_sim/counters");
  int lists = 0, singles = 0;
  for (const auto& [route, statuses] : counters["mailchimp"].items()) {
    for (const auto& [status, n] : statuses.items()) {
      if (route == "GET /3.0/lists/" + list_id_ + "/members") lists += n.get<int>();
      if (route == "GET /3.0/lists/" + list_id_ + "/members/{id}") singles += n.get<int>();
    }
  }
  EXPECT_EQ(lists, 1);
  EXPECT_EQ(singles, 2) << "early@ (beyond the page) and never@ (404) on their own";

  for (std::size_t i = 0; i < refs.size(); ++i) {
    auto alone = connector_->Read({refs[i]});
    ASSERT_TRUE(alone.ok()) << alone.status().ToString();
    ASSERT_EQ(alone->size(), 1u);
    const InboundRecord& a = alone->front();
    const InboundRecord& b = (*records)[i];
    EXPECT_EQ(b.event_id, refs[i].event_id) << i;
    EXPECT_EQ(b.event_id, a.event_id) << i;
    EXPECT_EQ(b.system_id, a.system_id) << i;
    EXPECT_EQ(b.email, a.email) << i;
    EXPECT_EQ(b.version_id, a.version_id) << i;
    ASSERT_EQ(b.mapped.changes.size(), a.mapped.changes.size()) << i;
    for (std::size_t k = 0; k < a.mapped.changes.size(); ++k) {
      EXPECT_EQ(b.mapped.changes[k].kind, a.mapped.changes[k].kind) << i;
      EXPECT_EQ(b.mapped.changes[k].status, a.mapped.changes[k].status) << i;
      EXPECT_EQ(b.mapped.changes[k].key.topic, a.mapped.changes[k].key.topic) << i;
      EXPECT_EQ(b.mapped.changes[k].provenance.occurred_at,
                a.mapped.changes[k].provenance.occurred_at)
          << i;
    }
  }
  EXPECT_FALSE((*records)[0].version_id.empty());
  EXPECT_FALSE(records->back().mapped.changes.empty()) << "never@: a deletion, decided as such";
}

TEST_F(MailchimpConnectorTest, RateLimitAndOutageAreRetryable) {
  Control("POST", "/_sim/faults",
          {{"kind", "rate_limit"}, {"system", "mailchimp"}, {"count", 1}, {"retry_after", 7}});
  const DeliveryResult limited =
      DeliverOne(Desired(1, "quy@example.org", {{"newsletter", ConsentStatus::kGranted}}));
  EXPECT_EQ(limited.error_class, ErrorClass::kRetryable) << limited.status.ToString();
  ASSERT_TRUE(limited.retry_after.has_value());
  EXPECT_EQ(*limited.retry_after, std::chrono::seconds(7));

  Control("POST", "/_sim/faults",
          {{"kind", "error"}, {"system", "mailchimp"}, {"status", 503}, {"count", 1}});
  const DeliveryResult down =
      DeliverOne(Desired(2, "quy@example.org", {{"newsletter", ConsentStatus::kGranted}}));
  EXPECT_EQ(down.error_class, ErrorClass::kRetryable) << down.status.ToString();

  auto read = connector_->Poll("", clock_.NowMs());  // faults used up: works again
  EXPECT_TRUE(read.ok()) << read.status().ToString();
}

// A failed write is known to have changed nothing only when Mailchimp's
// answer says so (DeliveryResult::known_not_written; the engine then keeps
// what it remembers the member showing off, docs/model.md): a 4xx, or its
// own 503. A 500 or 502, or no answer at all, may have come after the
// member was written.
TEST_F(MailchimpConnectorTest, OnlyAnAnswerThatRefusedTheWriteIsKnownNotWritten) {
  const auto deliver_with = [&](const json& fault) {
    SCOPED_TRACE(fault.dump());
    Control("POST", "/_sim/faults", fault);
    const DeliveryResult r =
        DeliverOne(Desired(1, "kit@example.org", {{"newsletter", ConsentStatus::kGranted}}));
    Control("DELETE", "/_sim/faults", nullptr);
    EXPECT_FALSE(r.status.ok());
    return r.known_not_written;
  };
  const auto error = [](int status) {
    return json{{"kind", "error"}, {"system", "mailchimp"}, {"status", status}, {"count", 1}};
  };
  EXPECT_TRUE(deliver_with(
      {{"kind", "rate_limit"}, {"system", "mailchimp"}, {"count", 1}, {"retry_after", 1}}));
  EXPECT_TRUE(deliver_with(error(503)));
  EXPECT_TRUE(deliver_with(error(403)));
  EXPECT_FALSE(deliver_with(error(500)));
  EXPECT_FALSE(deliver_with(error(502)));
  EXPECT_FALSE(deliver_with({{"kind", "drop"}, {"system", "mailchimp"}}));

  // A member refused in the batch answer (its address forgotten) was not
  // written; a write Mailchimp took is not a failure at all.
  SignUpAndConfirm("kim@example.org", {{ids_.interests["Newsletter"], true}});
  Control("POST", "/_sim/mailchimp/admin/delete-permanent", {{"email_address", "kim@example.org"}});
  const DeliveryResult forgotten =
      DeliverOne(Desired(2, "kim@example.org", {{"newsletter", ConsentStatus::kGranted}}));
  EXPECT_EQ(forgotten.status.code(), StatusCode::kBlockedByTarget);
  EXPECT_TRUE(forgotten.known_not_written);
}

// --- Check --------------------------------------------------------------------

TEST_F(MailchimpConnectorTest, CheckPassesWithTheAudiencesIds) {
  SignUpAndConfirm("ray@example.org", {{ids_.interests["Newsletter"], true}});
  const Status s = connector_->Check();
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_F(MailchimpConnectorTest, CheckWithWrongKeyIsUnauthenticated) {
  connector_ = Make(MappingYaml(ids_, ids_.interests.at("Newsletter")), "wrong-key-us21");
  EXPECT_EQ(connector_->Check().code(), StatusCode::kUnauthenticated);
}

TEST_F(MailchimpConnectorTest, CheckNamesAnUnknownInterest) {
  connector_ = Make(MappingYaml(ids_, "ffffffffff"));
  const Status s = connector_->Check();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("ffffffffff"), std::string::npos) << s.ToString();
}

// --- Inspection (consentctl map, check-config --online) --------------------------

TEST_F(MailchimpConnectorTest, MemberPayloadOfTheApiMapsExactlyAsReadDoes) {
  SignUpAndConfirm("pay@example.org", {{ids_.interests["Newsletter"], true}});
  const json member = Member("pay@example.org");
  ASSERT_TRUE(member.is_object());
  auto offline = connector_->MapRecordPayload(member.dump());
  ASSERT_TRUE(offline.ok()) << offline.status().ToString();
  ASSERT_EQ(offline->size(), 1u);
  const InboundRecord& rec = (*offline)[0];
  EXPECT_EQ(rec.event_id, "payload:" + SubscriberHash("pay@example.org"));

  RecordRef ref;
  ref.event_id = rec.event_id;
  ref.system_id = SubscriberHash("pay@example.org");
  auto read = connector_->Read({ref});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), 1u);
  const InboundRecord& online = (*read)[0];
  ASSERT_EQ(rec.mapped.changes.size(), online.mapped.changes.size());
  ASSERT_FALSE(rec.mapped.changes.empty());
  for (size_t i = 0; i < rec.mapped.changes.size(); ++i) {
    EXPECT_EQ(rec.mapped.changes[i].kind, online.mapped.changes[i].kind);
    EXPECT_EQ(rec.mapped.changes[i].key, online.mapped.changes[i].key);
    EXPECT_EQ(rec.mapped.changes[i].status, online.mapped.changes[i].status);
    EXPECT_EQ(rec.mapped.changes[i].provenance.occurred_at,
              online.mapped.changes[i].provenance.occurred_at);
  }
  EXPECT_EQ(connector_->MapRecordPayload(R"({"status": "subscribed"})").status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(MailchimpConnectorTest, UnverifiedWebhookTakesFormFieldsOrTheirJson) {
  const std::string form = "type=subscribe&fired_at=2026-09-21+10%3A00%3A00&data%5Bemail%5D=" +
                           std::string("w%40example.org&data%5Blist_id%5D=") + list_id_;
  auto a = connector_->ParseWebhookUnverified(form, clock_.NowMs());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ((*a)[0].system_id, SubscriberHash("w@example.org"));
  auto b = connector_->ParseWebhookUnverified(
      json{{"type", "subscribe"},
           {"fired_at", "2026-09-21 10:00:00"},
           {"data", {{"email", "w@example.org"}, {"list_id", list_id_}}}}
          .dump(),
      clock_.NowMs());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].system_id, (*a)[0].system_id);
  EXPECT_EQ((*b)[0].occurred_at, (*a)[0].occurred_at);
  // The signed path still refuses the same body without its secret.
  EXPECT_EQ(connector_->ParseWebhook(WebhookRequest(form, ""), "", clock_.NowMs()).status().code(),
            StatusCode::kUnauthenticated);
}

TEST_F(MailchimpConnectorTest, ListNativeTopicsMarksMappedInterestsAndPermissions) {
  SignUpAndConfirm("list@example.org", {{ids_.interests["Newsletter"], true}});
  auto topics = connector_->ListNativeTopics();
  ASSERT_TRUE(topics.ok()) << topics.status().ToString();
  std::map<std::string, NativeTopic> by_id;
  for (const NativeTopic& t : *topics) by_id[t.id] = t;
  EXPECT_TRUE(by_id[ids_.interests["Newsletter"]].mapped);
  EXPECT_EQ(by_id[ids_.interests["Newsletter"]].name, "Topics: Newsletter");
  EXPECT_TRUE(by_id[ids_.interests["Events"]].mapped);
  EXPECT_FALSE(by_id[ids_.interests["Offers"]].mapped);
  EXPECT_EQ(by_id[ids_.interests["Offers"]].channel, "email");
  EXPECT_TRUE(by_id[ids_.permissions["Email"]].mapped);
  EXPECT_FALSE(by_id[ids_.permissions["Direct Mail"]].mapped);
  EXPECT_EQ(by_id[ids_.permissions["Direct Mail"]].name, "marketing permission: Direct Mail");
}

}  // namespace
}  // namespace consentd::connectors
