// The generic connector (docs/connectors-generic.md) against a small
// scripted HTTP server over loopback (net::HttpServer): declared writes
// with their auth, Idempotency-Key and declared classification, batches,
// Retry-After, polling with a cursor and with time windows, verified
// webhooks read without calling the system; and its pure parts (templates,
// response rules).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "connectors/common/webhook_signatures.h"
#include "connectors/generic/generic_impl.h"
#include "connectors/generic/request_template.h"
#include "net/http_server.h"
#include "tests/connectors/script_server.h"

namespace consentd::connectors::generic {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const bool kProxyVariablesCleared = [] {
  for (const char* name :
       {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    unsetenv(name);
  }
  return true;
}();

constexpr char kSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr TimestampMs kT0 = 1772359200000;  // 2026-03-01T10:00:00Z

// ---------------------------------------------------------------------------
// Templates and response rules (pure).

TEST(GenericTemplate, WholeLeafPlaceholderKeepsItsJsonType) {
  const TemplateValues v = {
      {"active", true}, {"n", 3}, {"list", json::array({1, 2})}, {"addr", nullptr}, {"s", "x"}};
  auto r = RenderJson(json::parse(R"({"a":"{active}","n":"{n}","l":"{list}","x":"{addr}",
                                      "t":"n={n} a={active} x={addr}","k":[ "{s}", 5 ]})"),
                      v);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, json::parse(R"({"a":true,"n":3,"l":[1,2],"x":null,"t":"n=3 a=true x=",
                                "k":["x",5]})"));
}

TEST(GenericTemplate, DoubledBracesAreLiteral) {
  auto r = RenderText("{{a}} {s} }}", {{"s", "x"}}, TemplateEscape::kNone);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "{a} x }");
}

TEST(GenericTemplate, UrlValuesArePercentEncodedAndAbsentOnesRefused) {
  auto r = RenderText("/c/{e}?q={q}", {{"e", "a+b@x.org"}, {"q", "a/b c"}},
                      TemplateEscape::kUrlComponent, true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "/c/a%2Bb%40x.org?q=a%2Fb%20c");
  auto absent = RenderText("/c/{id}", {{"id", nullptr}}, TemplateEscape::kUrlComponent, true);
  EXPECT_EQ(absent.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(absent.status().message(), HasSubstr("{id} has no value"));
}

TEST(GenericTemplate, UnknownPlaceholderAndBadBracesAreErrors) {
  EXPECT_EQ(RenderText("{nope}", {}, TemplateEscape::kNone).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_THAT(Placeholders("a {b").status().message(), HasSubstr("'{' at offset 2 is not closed"));
  EXPECT_THAT(Placeholders("a } b").status().message(), HasSubstr("'}' at offset 2"));
  EXPECT_THAT(Placeholders("{A}").status().message(), HasSubstr("is not a placeholder"));
  EXPECT_THAT(*Placeholders("/x/{a}/{b_1}?{{c}}"), ElementsAre("a", "b_1"));
}

TEST(GenericTemplate, HeaderValuesCannotCarryLineBreaks) {
  EXPECT_FALSE(RenderText("v={x}", {{"x", "a\r\nInjected: 1"}}, TemplateEscape::kHeader).ok());
}

config::GenericResponseRule Rule(int lo, int hi, std::string pointer = "",
                                 std::string equals = "") {
  return {lo, hi, std::move(pointer), std::move(equals)};
}

TEST(GenericResponses, DefaultsAre2xxOkTransientRetryableRestPermanent) {
  const config::GenericResponses none;
  EXPECT_EQ(Classify(none, 204, nullptr, false), Outcome::kOk);
  for (int s : {408, 425, 429, 500, 503})
    EXPECT_EQ(Classify(none, s, nullptr, false), Outcome::kRetryable) << s;
  for (int s : {400, 401, 404, 409, 422})
    EXPECT_EQ(Classify(none, s, nullptr, false), Outcome::kPermanent) << s;
  // Erasures: 404 and 410 mean done unless already_gone says otherwise.
  EXPECT_EQ(Classify(none, 404, nullptr, true), Outcome::kGone);
  EXPECT_EQ(Classify(none, 410, nullptr, true), Outcome::kGone);
  // `already_gone: []` written: no answer means "already gone".
  config::GenericResponses never_gone;
  never_gone.already_gone_written = true;
  EXPECT_EQ(Classify(never_gone, 404, nullptr, true), Outcome::kPermanent);
  EXPECT_EQ(Classify(never_gone, 410, nullptr, true), Outcome::kPermanent);
}

TEST(GenericResponses, DeclaredRulesApplyInOrderBlockedGoneRetryablePermanent) {
  config::GenericResponses r;
  r.blocked_by_target = {Rule(409, 409, "/error/code", "\"transition_refused\"")};
  r.already_gone = {Rule(404, 404)};
  r.already_gone_written = true;
  r.retryable = {Rule(409, 409), Rule(200, 200, "/busy", "true")};
  r.permanent = {Rule(500, 501)};
  const json refused = {{"error", {{"code", "transition_refused"}}}};
  const json other = {{"error", {{"code", "conflict"}}}};
  EXPECT_EQ(Classify(r, 409, refused, false), Outcome::kBlocked);
  EXPECT_EQ(Classify(r, 409, other, false), Outcome::kRetryable);
  EXPECT_EQ(Classify(r, 409, nullptr, false), Outcome::kRetryable);
  EXPECT_EQ(Classify(r, 200, json{{"busy", true}}, false), Outcome::kRetryable);
  EXPECT_EQ(Classify(r, 200, json{{"busy", false}}, false), Outcome::kOk);
  EXPECT_EQ(Classify(r, 501, nullptr, false), Outcome::kPermanent);
  EXPECT_EQ(Classify(r, 502, nullptr, false), Outcome::kRetryable);  // default
  EXPECT_EQ(Classify(r, 404, nullptr, true), Outcome::kGone);
  EXPECT_EQ(Classify(r, 410, nullptr, true), Outcome::kPermanent);  // not declared gone
  EXPECT_EQ(Classify(r, 404, nullptr, false), Outcome::kPermanent);
  // `equals: 7` matches 7 and "7".
  config::GenericResponses n;
  n.blocked_by_target = {Rule(400, 400, "/code", "7")};
  EXPECT_EQ(Classify(n, 400, json{{"code", "7"}}, false), Outcome::kBlocked);
  EXPECT_EQ(Classify(n, 400, json{{"code", 7}}, false), Outcome::kBlocked);
}

// ---------------------------------------------------------------------------
// The scripted loopback server (tests/connectors/script_server.h).

using testing::ScriptServer;

net::HttpResponse Json(int status, const json& body) { return testing::JsonAnswer(status, body); }

std::string Header(const net::HttpRequest& r, std::string_view name) {
  return std::string(r.Header(name).value_or(""));
}

// The mapping: generic system `crm`; newsletter (email) is `nl` on channel
// `mail`, catalogue is not bound to crm; Werbesperre is block `ad`.
constexpr char kMapping[] = R"(
store: {path: /tmp/consentd-generic-test.db}
mapping:
  systems:
    crm: {kind: generic, role: crm}
  channels:
    email: {crm: mail}
    postal: {crm: letter}
  topics:
    - name: newsletter
      channels: [email]
      systems: {crm: {topic: nl}}
    - name: catalogue
      channels: [postal]
      systems: {}
  blocks:
    - {name: werbesperre, scope: all, systems: {crm: {block: ad}}}
    - {name: kanalsperre, scope: channel, systems: {crm: {block: channel_block}}}
  erasure: {crm: {mode: anonymize}}
connectors:
  crm:
    kind: generic
)";

class GenericConnectorTest : public ::testing::Test {
 protected:
  GenericConnectorTest() {
    dir_ = std::filesystem::temp_directory_path() /
           ("consentd-generic-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "secret") << "the-secret";
    std::ofstream(dir_ / "whsec") << kSecret;  // a Standard Webhooks secret's form
  }
  ~GenericConnectorTest() override { std::filesystem::remove_all(dir_); }

  // Loads kMapping + `declaration` (indented under connectors.crm) and
  // builds the connector against the server.
  std::unique_ptr<Connector> Make(const std::string& declaration,
                                  std::string auth_secret = "the-secret") {
    const std::string yaml =
        std::string(kMapping) + "    base_url: " + server_.base() + "/api\n" + declaration;
    Result<config::Config> c =
        config::LoadConfigString(yaml, (dir_ / "c.yaml").string(), {dir_.string()});
    EXPECT_TRUE(c.ok()) << c.status().message();
    if (!c.ok()) return nullptr;
    spec_ = std::make_shared<const mapping::MappingSpec>(c->mapping);
    const config::ConnectorConfig& cc = c->connectors.at("crm");
    GenericSettings s;
    s.name = "crm";
    s.base_url = cc.base_url;
    s.declaration = cc.generic;
    s.webhook_secrets = {kSecret};
    s.auth_secret = std::move(auth_secret);
    s.batch_size = cc.batch_size;
    s.poll_overlap = cc.poll_overlap;
    return MakeGenericConnector(std::move(s), spec_, *http_);
  }

  static OutboundItem Item(std::int64_t id, const std::string& email) {
    OutboundItem item;
    item.outbox_id = id;
    item.idempotency_key = "k" + std::to_string(id);
    item.desired.subject = "s-" + std::to_string(id);
    item.desired.email = email;
    item.desired.state.subject = item.desired.subject;
    return item;
  }
  static void AddConsent(OutboundItem& item, const std::string& topic, const std::string& channel,
                         ConsentStatus status) {
    ConsentRecord r;
    r.key = {item.desired.subject, topic, channel, ""};
    r.status = status;
    r.legal_basis = "eu-gdpr:A6-1-a";
    r.notice_version = "v1";
    r.provenance.occurred_at = kT0;
    item.desired.state.consents[r.key] = r;
  }

  ScriptServer server_;
  std::unique_ptr<HttpClient> http_ = MakeCurlHttpClient("consentd-test");
  std::shared_ptr<const mapping::MappingSpec> spec_;
  std::filesystem::path dir_;
};

constexpr char kWrites[] = R"(    auth: {bearer: {token_file: secret}}
    write:
      consent:
        method: PUT
        url: /contacts/{email}/topics/{topic}/{channel}
        headers: {X-Subject: '{subject}'}
        body: {status: '{status}', at: '{occurred_at_ms}', when: '{occurred_at}', address: '{address}', note: 'for {canonical_topic}'}
        system_id: /contact_id
      block:
        method: PUT
        url: /contacts/{email}/blocks/{block}
        body: {active: '{active}', scope: '{scope}', channel: '{channel}'}
      erasure: {method: DELETE, url: '/contacts/{email}?mode={mode}'}
    responses:
      blocked_by_target: [{status: 409, pointer: /error/code, equals: transition_refused}]
)";

TEST_F(GenericConnectorTest, DeliverWritesEachBoundRecordWithTypesAuthAndIdempotencyKey) {
  auto c = Make(kWrites);
  ASSERT_NE(c, nullptr);
  server_.Answer([](const net::HttpRequest&) { return Json(200, {{"contact_id", "c-9"}}); });
  OutboundItem item = Item(1, "a+b@example.org");
  AddConsent(item, "newsletter", "email", ConsentStatus::kGranted);
  AddConsent(item, "catalogue", "postal", ConsentStatus::kGranted);  // not bound to crm
  BlockRecord block;
  block.subject = item.desired.subject;
  block.scope = BlockScope::All();
  block.active = true;
  block.provenance.occurred_at = kT0;
  item.desired.state.blocks[block.scope] = block;

  const auto results = c->Deliver({item});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].status.ok()) << results[0].status.message();
  EXPECT_EQ(results[0].outbox_id, 1);
  EXPECT_EQ(results[0].system_id, "c-9");
  EXPECT_THAT(results[0].detail, HasSubstr("wrote 1 consent(s), 1 block(s)"));

  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[0].target, "/api/contacts/a%2Bb%40example.org/topics/nl/mail");
  EXPECT_EQ(Header(reqs[0], "Authorization"), "Bearer the-secret");
  EXPECT_EQ(Header(reqs[0], "Idempotency-Key"), "k1:consent:nl:mail");
  EXPECT_EQ(Header(reqs[0], "X-Subject"), "s-1");
  EXPECT_EQ(Header(reqs[0], "Content-Type"), "application/json");
  EXPECT_EQ(json::parse(reqs[0].body), json::parse(R"({"status":"granted","at":1772359200000,
      "when":"2026-03-01T10:00:00.000Z","address":null,"note":"for newsletter"})"));
  EXPECT_EQ(reqs[1].target, "/api/contacts/a%2Bb%40example.org/blocks/ad");
  EXPECT_EQ(Header(reqs[1], "Idempotency-Key"), "k1:block:ad");
  EXPECT_EQ(json::parse(reqs[1].body),
            json::parse(R"({"active":true,"scope":"all","channel":null})"));
}

TEST_F(GenericConnectorTest, ReconsentTopicIsWrittenAsPending) {
  auto c = Make(kWrites);
  ASSERT_NE(c, nullptr);
  server_.Answer([](const net::HttpRequest&) { return Json(200, json::object()); });
  OutboundItem item = Item(2, "a@example.org");
  AddConsent(item, "newsletter", "email", ConsentStatus::kGranted);
  item.desired.reconsent_topics.insert("newsletter");
  const auto results = c->Deliver({item});
  ASSERT_TRUE(results[0].status.ok());
  EXPECT_TRUE(results[0].reconsent);
  EXPECT_EQ(json::parse(server_.requests().at(0).body)["status"], "pending");
}

TEST_F(GenericConnectorTest, ErasureUsesItsModeAndTakesAlreadyGoneAsDone) {
  auto c = Make(kWrites);
  ASSERT_NE(c, nullptr);
  server_.Answer([](const net::HttpRequest&) { return Json(404, {{"error", "no such contact"}}); });
  OutboundItem item = Item(3, "gone@example.org");
  item.desired.erase = true;
  const auto results = c->Deliver({item});
  ASSERT_TRUE(results[0].status.ok()) << results[0].status.message();
  EXPECT_THAT(results[0].detail, HasSubstr("already gone"));
  EXPECT_TRUE(results[0].already_gone);  // the erasure request records already_done
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "DELETE");
  EXPECT_EQ(reqs[0].target, "/api/contacts/gone%40example.org?mode=anonymize");
  EXPECT_EQ(Header(reqs[0], "Idempotency-Key"), "k3:erasure");
}

// A person with two records here (linked by a merge elsewhere): the
// erasure removes each, by its own request and key; the row is done only
// when every record is gone, and a failure of any keeps it retryable.
TEST_F(GenericConnectorTest, ErasureRemovesEveryOtherRecordOfThePersonToo) {
  auto c = Make(kWrites);
  ASSERT_NE(c, nullptr);
  bool fail_other = true;
  server_.Answer([&](const net::HttpRequest& r) {
    if (r.target.find("old%40example.org") != std::string::npos) {
      return fail_other ? Json(503, json::object()) : Json(404, json::object());
    }
    return Json(200, json::object());
  });
  OutboundItem item = Item(9, "new@example.org");
  item.desired.erase = true;
  item.desired.system_id = "c-1";
  item.desired.also_erase = {"old@example.org"};
  item.desired.also_erase_ids = {{"old@example.org", "c-2"}};

  auto results = c->Deliver({item});
  EXPECT_EQ(results[0].error_class, ErrorClass::kRetryable) << results[0].detail;
  auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].target, "/api/contacts/new%40example.org?mode=anonymize");
  EXPECT_EQ(Header(reqs[0], "Idempotency-Key"), "k9:erasure");
  EXPECT_EQ(reqs[1].target, "/api/contacts/old%40example.org?mode=anonymize");
  EXPECT_THAT(Header(reqs[1], "Idempotency-Key"), ::testing::StartsWith("k9:erasure:"));

  fail_other = false;  // the retry: the other record is gone by now
  results = c->Deliver({item});
  ASSERT_TRUE(results[0].status.ok()) << results[0].detail;
  EXPECT_EQ(results[0].detail, "erased with 1 other record(s)");
  EXPECT_FALSE(results[0].already_gone);  // the person's record was there to erase
  reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(Header(reqs[3], "Idempotency-Key"), Header(reqs[1], "Idempotency-Key"))
      << "a retry is the same write";
}

TEST_F(GenericConnectorTest, RefusedTransitionIsBlockedByTargetAndOtherRefusalsPermanent) {
  auto c = Make(kWrites);
  ASSERT_NE(c, nullptr);
  server_.Answer([](const net::HttpRequest& r) {
    if (r.target.find("refuse") != std::string::npos) {
      return Json(409, {{"error", {{"code", "transition_refused"}}}});
    }
    return Json(422, {{"error", {{"code", "unknown_topic"}}}});
  });
  OutboundItem a = Item(4, "refuse@example.org");
  AddConsent(a, "newsletter", "email", ConsentStatus::kGranted);
  OutboundItem b = Item(5, "other@example.org");
  AddConsent(b, "newsletter", "email", ConsentStatus::kGranted);
  const auto results = c->Deliver({a, b});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].error_class, ErrorClass::kBlockedByTarget);
  EXPECT_EQ(results[0].status.code(), StatusCode::kBlockedByTarget);
  EXPECT_EQ(results[1].error_class, ErrorClass::kPermanent);
  EXPECT_THAT(results[1].detail, HasSubstr("write.consent: answered 422"));
  EXPECT_THAT(results[1].detail, ::testing::Not(HasSubstr("example.org")));  // no address
}

// A 403 is taken for a refused credential (the daemon retries such rows
// until the system takes a delivery), unless the declaration lists it as
// permanent: then it is that record's refusal, a dead letter.
TEST_F(GenericConnectorTest, A403IsTheCredentialsUnlessDeclaredPermanent) {
  server_.Answer([](const net::HttpRequest&) { return Json(403, json::object()); });
  OutboundItem item = Item(7, "locked@example.org");
  AddConsent(item, "newsletter", "email", ConsentStatus::kGranted);
  auto plain = Make(kWrites);
  ASSERT_NE(plain, nullptr);
  auto results = plain->Deliver({item});
  EXPECT_TRUE(IsCredentialRefusal(results[0].status)) << results[0].status.ToString();
  auto declared = Make(std::string(kWrites) + "      permanent: [{status: 403}]\n");
  ASSERT_NE(declared, nullptr);
  results = declared->Deliver({item});
  EXPECT_EQ(results[0].error_class, ErrorClass::kPermanent);
  EXPECT_FALSE(IsCredentialRefusal(results[0].status)) << results[0].status.ToString();
}

TEST_F(GenericConnectorTest, RateLimitedWriteIsRetryableWithTheTargetsRetryAfter) {
  auto c = Make(kWrites);
  ASSERT_NE(c, nullptr);
  server_.Answer([](const net::HttpRequest&) {
    net::HttpResponse r = Json(429, json::object());
    r.headers.emplace_back("Retry-After", "7");
    return r;
  });
  OutboundItem item = Item(6, "a@example.org");
  AddConsent(item, "newsletter", "email", ConsentStatus::kWithdrawn);
  const auto results = c->Deliver({item});
  EXPECT_EQ(results[0].error_class, ErrorClass::kRetryable);
  EXPECT_EQ(results[0].status.code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(results[0].retry_after.has_value());
  EXPECT_EQ(*results[0].retry_after, std::chrono::seconds(7));
}

TEST_F(GenericConnectorTest, MissingWriteBlockIsAPermanentVisibleFailure) {
  std::string decl = kWrites;
  decl.erase(decl.find("      block:"), decl.find("      erasure:") - decl.find("      block:"));
  auto c = Make(decl);
  ASSERT_NE(c, nullptr);
  OutboundItem item = Item(7, "a@example.org");
  BlockRecord block;
  block.subject = item.desired.subject;
  block.active = true;
  item.desired.state.blocks[block.scope] = block;
  const auto results = c->Deliver({item});
  EXPECT_EQ(results[0].error_class, ErrorClass::kPermanent);
  EXPECT_THAT(results[0].detail, HasSubstr("declares no write.block"));
  EXPECT_TRUE(server_.requests().empty());
}

// Without write.erasure no erasure can reach the system: the target does
// not support it (the erasure request's target ends `unsupported`), which
// no retry or replay changes.
TEST_F(GenericConnectorTest, AnErasureWithoutWriteErasureIsUnsupportedByTheTarget) {
  std::string decl = kWrites;
  const std::string erasure_line =
      "      erasure: {method: DELETE, url: '/contacts/{email}?mode={mode}'}\n";
  ASSERT_NE(decl.find(erasure_line), std::string::npos);
  decl.erase(decl.find(erasure_line), erasure_line.size());
  auto c = Make(decl);
  ASSERT_NE(c, nullptr);
  OutboundItem item = Item(8, "a@example.org");
  item.desired.erase = true;
  const auto results = c->Deliver({item});
  EXPECT_EQ(results[0].error_class, ErrorClass::kBlockedByTarget);
  EXPECT_EQ(results[0].status.code(), StatusCode::kBlockedByTarget);
  EXPECT_THAT(results[0].detail, HasSubstr("declares no write.erasure"));
  EXPECT_FALSE(results[0].already_gone);
  EXPECT_TRUE(server_.requests().empty());
}

// One answer to a batch of erasures cannot say that each record was gone
// before: a 404 there (most likely a batch URL the system lacks) fails
// every erasure in it instead of recording them as done.
TEST_F(GenericConnectorTest, ABatchOfErasuresAnswered404IsNotAlreadyGone) {
  auto c = Make(R"(    write:
      consent: {method: PUT, url: '/contacts/{email}/topics/{topic}'}
      erasure:
        method: DELETE
        url: /contacts/{email}
        body: {email: '{email}'}
        batch: {method: POST, url: /erasures/batch, body: {items: '{items}'}}
)");
  ASSERT_NE(c, nullptr);
  server_.Answer([](const net::HttpRequest&) { return Json(404, {{"error", "no such route"}}); });
  std::vector<OutboundItem> items;
  for (int i = 1; i <= 2; ++i) {
    items.push_back(Item(20 + i, "e" + std::to_string(i) + "@example.org"));
    items.back().desired.erase = true;
  }
  const auto results = c->Deliver(items);
  ASSERT_EQ(server_.requests().size(), 1u);
  for (const DeliveryResult& r : results) {
    EXPECT_FALSE(r.status.ok()) << r.detail;
    EXPECT_EQ(r.error_class, ErrorClass::kPermanent) << r.detail;
    EXPECT_FALSE(r.already_gone);
  }
}

TEST_F(GenericConnectorTest, BatchFormSendsTheRecordsOfSeveralItemsInOneRequest) {
  auto c = Make(R"(    write:
      consent:
        method: PUT
        url: /unused
        body: {email: '{email}', topic: '{topic}', status: '{status}'}
        batch: {method: POST, url: '/consents/batch?n={count}', body: {items: '{items}'}}
    batch_size: 2
)");
  ASSERT_NE(c, nullptr);
  server_.Answer([](const net::HttpRequest&) { return Json(200, json::object()); });
  std::vector<OutboundItem> items;
  for (int i = 1; i <= 3; ++i) {
    items.push_back(Item(10 + i, "p" + std::to_string(i) + "@example.org"));
    AddConsent(items.back(), "newsletter", "email", ConsentStatus::kGranted);
  }
  const auto results = c->Deliver(items);
  for (const DeliveryResult& r : results) EXPECT_TRUE(r.status.ok()) << r.status.message();
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 2u);  // 3 records, at most 2 per request
  EXPECT_EQ(reqs[0].target, "/api/consents/batch?n=2");
  EXPECT_EQ(json::parse(reqs[0].body)["items"],
            json::parse(R"([{"email":"p1@example.org","topic":"nl","status":"granted"},
                            {"email":"p2@example.org","topic":"nl","status":"granted"}])"));
  EXPECT_EQ(reqs[1].target, "/api/consents/batch?n=1");
  EXPECT_THAT(Header(reqs[0], "Idempotency-Key"), ::testing::StartsWith("batch:"));
  EXPECT_NE(Header(reqs[0], "Idempotency-Key"), Header(reqs[1], "Idempotency-Key"));
}

TEST_F(GenericConnectorTest, StandardWebhooksSignatureOfTheBodyVerifiesAtTheServer) {
  auto c = Make(R"(    auth: {standard_webhooks: {secret_file: whsec}}
    write:
      consent: {method: POST, url: /consents, body: {topic: '{topic}', status: '{status}'}}
)",
                kSecret);
  ASSERT_NE(c, nullptr);
  server_.Answer([](const net::HttpRequest& r) {
    const Status s =
        StandardWebhooksVerify(kSecret, Header(r, "webhook-id"), Header(r, "webhook-timestamp"),
                               Header(r, "webhook-signature"), r.body, SystemClock().NowMs());
    return Json(s.ok() ? 200 : 401, json::object());
  });
  OutboundItem item = Item(20, "a@example.org");
  AddConsent(item, "newsletter", "email", ConsentStatus::kGranted);
  const auto first = c->Deliver({item});
  EXPECT_TRUE(first[0].status.ok()) << first[0].status.message();
  // A retry of the same write carries the same message id.
  const auto second = c->Deliver({item});
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(Header(reqs[0], "webhook-id"), Header(reqs[1], "webhook-id"));
  EXPECT_TRUE(Header(reqs[0], "Authorization").empty());
}

TEST_F(GenericConnectorTest, BasicAndApiKeyAuthAreSentAsDeclared) {
  {
    auto c = Make(R"(    auth: {basic: {username: consentd, password_file: secret}}
    write: {consent: {method: POST, url: /c}}
    check: {url: /health}
)");
    ASSERT_NE(c, nullptr);
    server_.Answer([](const net::HttpRequest&) { return Json(200, json::object()); });
    EXPECT_TRUE(c->Check().ok());
  }
  {
    auto c = Make(R"(    auth: {api_key: {header: X-Api-Key, key_file: secret}}
    write: {consent: {method: POST, url: /c}}
    check: {url: /health}
)");
    ASSERT_NE(c, nullptr);
    EXPECT_TRUE(c->Check().ok());
  }
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(Header(reqs[0], "Authorization"), "Basic Y29uc2VudGQ6dGhlLXNlY3JldA==");
  EXPECT_EQ(reqs[0].target, "/api/health");
  EXPECT_EQ(Header(reqs[1], "X-Api-Key"), "the-secret");
  EXPECT_TRUE(Header(reqs[1], "Authorization").empty());
}

TEST_F(GenericConnectorTest, CheckFailsOnRefusedCredentials) {
  auto c = Make(R"(    write: {consent: {method: POST, url: /c}}
    check: {url: /health}
)");
  ASSERT_NE(c, nullptr);
  server_.Answer([](const net::HttpRequest&) { return Json(401, json::object()); });
  EXPECT_EQ(c->Check().code(), StatusCode::kUnauthenticated);
}

constexpr char kPoll[] = R"(    write: {consent: {method: POST, url: /c}}
    poll:
      url: /changes?cursor={cursor}
      items: /items
      next_cursor: /next_cursor
      more: /has_more
      item:
        id: /change_id
        type: {const: consent.changed}
        occurred_at: /changed_at
        system_id: /contact_id
        email: /email
        data: {topic: /topic, channel: /channel, status: /status, block: /sperre}
)";

json PollItem(int n, const std::string& status) {
  return {{"change_id", "crm-" + std::to_string(n)},
          {"changed_at", kT0 + n * 1000},
          {"contact_id", "c-" + std::to_string(n)},
          {"email", "p" + std::to_string(n) + "@example.org"},
          {"topic", "nl"},
          {"channel", "mail"},
          {"status", status}};
}

// A record re-read through the declared `read` shows the record now, not
// as of its items' dates: the connector leaves read_at for the daemon to
// stamp with the read's start (a record added again after consentd retired
// it may carry an older date, and must still count as news).
TEST_F(GenericConnectorTest, ARecordReReadIsAsOfTheReadNotOfItsItemsDates) {
  auto c = Make(std::string(kPoll) + "    read: {url: \"/contacts/{system_id}\", items: /items}\n");
  ASSERT_NE(c, nullptr);
  server_.Answer([](const net::HttpRequest& r) {
    if (r.path.ends_with("/contacts/c-1")) return Json(200, {{"items", {PollItem(1, "granted")}}});
    return Json(404, {{"error", "no such contact"}});
  });
  RecordRef ref;
  ref.event_id = "hint-1";
  ref.system_id = "c-1";
  auto records = c->Read({ref});
  ASSERT_TRUE(records.ok()) << records.status().message();
  ASSERT_EQ(records->size(), 1u);
  ASSERT_EQ((*records)[0].mapped.changes.size(), 1u)
      << ::testing::PrintToString((*records)[0].mapped.notes);
  EXPECT_EQ((*records)[0].mapped.changes[0].provenance.occurred_at, kT0 + 1000);
  EXPECT_EQ((*records)[0].read_at, 0) << "left for the daemon to stamp";
}

TEST_F(GenericConnectorTest, PollPagesWithTheServersCursorAndKeepsItAtTheEnd) {
  auto c = Make(kPoll);
  ASSERT_NE(c, nullptr);
  server_.Answer([](const net::HttpRequest& r) {
    if (r.query == "cursor=") {
      return Json(200, {{"items", {PollItem(1, "granted"), PollItem(2, "withdrawn")}},
                        {"next_cursor", "2"},
                        {"has_more", true}});
    }
    if (r.query == "cursor=2") {
      return Json(200,
                  {{"items", {PollItem(3, "granted")}}, {"next_cursor", "3"}, {"has_more", false}});
    }
    return Json(200, {{"items", json::array()}, {"has_more", false}});  // no next_cursor
  });
  auto p1 = c->Poll("", kT0);
  ASSERT_TRUE(p1.ok()) << p1.status().message();
  EXPECT_TRUE(p1->more);
  ASSERT_EQ(p1->records.size(), 2u);
  EXPECT_EQ(p1->records[0].event_id, "crm-1");
  EXPECT_EQ(p1->records[0].system_id, "c-1");
  EXPECT_EQ(p1->records[0].email, "p1@example.org");
  ASSERT_EQ(p1->records[0].mapped.changes.size(), 1u);
  const Change& ch = p1->records[0].mapped.changes[0];
  EXPECT_EQ(ch.key.topic, "newsletter");
  EXPECT_EQ(ch.key.channel, "email");
  EXPECT_EQ(ch.status, ConsentStatus::kGranted);
  EXPECT_EQ(ch.provenance.occurred_at, kT0 + 1000);  // integer ms read as time
  EXPECT_EQ(p1->records[0].read_at, kT0 + 1000) << "an item is an event: as of its time";
  EXPECT_TRUE(ch.signature_scheme.empty());          // polled, not signed
  auto p2 = c->Poll(p1->next_cursor, kT0);
  ASSERT_TRUE(p2.ok());
  EXPECT_FALSE(p2->more);
  ASSERT_EQ(p2->records.size(), 1u);
  auto p3 = c->Poll(p2->next_cursor, kT0);
  ASSERT_TRUE(p3.ok());
  EXPECT_TRUE(p3->records.empty());
  auto p4 = c->Poll(p3->next_cursor, kT0);  // the cursor stayed at "3"
  ASSERT_TRUE(p4.ok());
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[2].query, "cursor=3");
  EXPECT_EQ(reqs[3].query, "cursor=3");
}

TEST_F(GenericConnectorTest, PollWindowsStartTheOverlapBeforeTheLastUpperBound) {
  std::string decl = kPoll;
  decl.replace(decl.find("/changes?cursor={cursor}"), 24,
               "'/changes?since={since_ms}&until={until_ms}'");
  decl += "    poll_overlap: 5s\n";
  auto c = Make(decl);
  ASSERT_NE(c, nullptr);
  server_.Answer([](const net::HttpRequest&) {
    return Json(200, {{"items", {PollItem(1, "granted")}}, {"has_more", false}});
  });
  auto p1 = c->Poll("", kT0);
  ASSERT_TRUE(p1.ok()) << p1.status().message();
  auto p2 = c->Poll(p1->next_cursor, kT0 + 60000);
  ASSERT_TRUE(p2.ok());
  // The same item twice: same event id, so the inbox drops the duplicate.
  EXPECT_EQ(p1->records.at(0).event_id, p2->records.at(0).event_id);
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].query, "since=0&until=" + std::to_string(kT0));
  EXPECT_EQ(reqs[1].query,
            "since=" + std::to_string(kT0 - 5000) + "&until=" + std::to_string(kT0 + 60000));
}

// A window's bounds may travel in a header instead of the URL: the poll
// then walks windows too, instead of sending the epoch as `since` for ever.
TEST_F(GenericConnectorTest, PollWindowBoundsInAHeaderAreWindowsToo) {
  std::string decl = kPoll;
  decl.replace(decl.find("/changes?cursor={cursor}"), 24, "/changes");
  decl.replace(decl.find("      items: /items"), 0, "      headers: {X-Since: '{since_ms}'}\n");
  decl += "    poll_overlap: 5s\n";
  auto c = Make(decl);
  ASSERT_NE(c, nullptr);
  server_.Answer([](const net::HttpRequest&) {
    return Json(200, {{"items", {PollItem(1, "granted")}}, {"has_more", false}});
  });
  auto p1 = c->Poll("", kT0);
  ASSERT_TRUE(p1.ok()) << p1.status().message();
  auto p2 = c->Poll(p1->next_cursor, kT0 + 60000);
  ASSERT_TRUE(p2.ok()) << p2.status().message();
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(Header(reqs[0], "X-Since"), "0");
  EXPECT_EQ(Header(reqs[1], "X-Since"), std::to_string(kT0 - 5000));
}

// An answer that says "more" must move the cursor: asking again with the
// same request would get the same answer, and the poll would never end.
TEST_F(GenericConnectorTest, PollMoreWithoutANewCursorFailsInsteadOfAskingAgainForEver) {
  auto c = Make(kPoll);
  ASSERT_NE(c, nullptr);
  server_.Answer([](const net::HttpRequest& r) {
    if (r.query == "cursor=") {
      return Json(200,
                  {{"items", {PollItem(1, "granted")}}, {"next_cursor", "1"}, {"has_more", true}});
    }
    // The same cursor back, or none at all, while saying there is more.
    if (r.query == "cursor=1") {
      return Json(200,
                  {{"items", {PollItem(2, "granted")}}, {"next_cursor", "1"}, {"has_more", true}});
    }
    return Json(200, {{"items", {PollItem(3, "granted")}}, {"has_more", true}});
  });
  auto p1 = c->Poll("", kT0);
  ASSERT_TRUE(p1.ok()) << p1.status().message();
  auto p2 = c->Poll(p1->next_cursor, kT0);
  ASSERT_FALSE(p2.ok());
  EXPECT_THAT(p2.status().message(), HasSubstr("says there is more"));
  EXPECT_THAT(p2.status().message(), HasSubstr("no new cursor at \"/next_cursor\""));

  // A window polled without {cursor}: "more" could only repeat the window.
  std::string decl = kPoll;
  decl.replace(decl.find("/changes?cursor={cursor}"), 24,
               "'/changes?since={since_ms}&until={until_ms}'");
  auto windowed = Make(decl);
  ASSERT_NE(windowed, nullptr);
  auto w = windowed->Poll("", kT0);
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(w.status().message(), HasSubstr("the poll request has no {cursor}"));
}

TEST_F(GenericConnectorTest, PollItemThatIsNotAValidEventIsSkippedWithANote) {
  auto c = Make(kPoll);
  ASSERT_NE(c, nullptr);
  server_.Answer([](const net::HttpRequest&) {
    return Json(200, {{"items", {PollItem(1, "maybe")}}, {"has_more", false}});
  });
  auto p = c->Poll("", kT0);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->records.size(), 1u);
  EXPECT_TRUE(p->records[0].mapped.changes.empty());
  EXPECT_THAT(p->records[0].mapped.notes, ElementsAre(HasSubstr("/data/status")));
}

std::string Event(const std::string& id, const std::string& status) {
  return json{{"id", id},
              {"type", "consent.changed"},
              {"occurred_at", "2026-03-01T10:00:00Z"},
              {"subject", {{"id", "c-1"}, {"email", "A@Example.org"}}},
              {"data", {{"topic", "nl"}, {"channel", "mail"}, {"status", status}}}}
      .dump();
}

net::HttpRequest Signed(const std::string& body, const std::string& id, TimestampMs now) {
  net::HttpRequest req;
  req.method = "POST";
  req.body = body;
  req.headers = {{"webhook-id", id},
                 {"webhook-timestamp", std::to_string(now / 1000)},
                 {"webhook-signature", *StandardWebhooksSign(kSecret, id, now / 1000, body)}};
  return req;
}

TEST_F(GenericConnectorTest, VerifiedWebhookEventsAreReadWithoutCallingTheSystem) {
  auto c = Make(kPoll);
  ASSERT_NE(c, nullptr);
  auto refs = c->ParseWebhook(Signed(Event("e-1", "withdrawn"), "msg_1", kT0), "", kT0);
  ASSERT_TRUE(refs.ok()) << refs.status().message();
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].event_id, "e-1");
  EXPECT_EQ((*refs)[0].email, "A@example.org");  // the domain is normalised
  EXPECT_FALSE((*refs)[0].event_json.empty());
  auto records = c->Read(*refs);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  ASSERT_EQ((*records)[0].mapped.changes.size(), 1u);
  EXPECT_EQ((*records)[0].mapped.changes[0].status, ConsentStatus::kWithdrawn);
  EXPECT_EQ((*records)[0].mapped.changes[0].signature_scheme, "standard-webhooks");
  // The event shows its record as of when the person acted, however late
  // it is read (a record retired since is not made live again by it).
  EXPECT_EQ((*records)[0].read_at, (*records)[0].mapped.changes[0].provenance.occurred_at);
  EXPECT_GT((*records)[0].read_at, 0);
  EXPECT_TRUE(server_.requests().empty());

  net::HttpRequest bad = Signed(Event("e-2", "granted"), "msg_2", kT0);
  bad.body = Event("e-2", "withdrawn");  // tampered
  EXPECT_EQ(c->ParseWebhook(bad, "", kT0).status().code(), StatusCode::kUnauthenticated);
}

TEST_F(GenericConnectorTest, MapRecordPayloadTakesAnEventOrAPollItem) {
  auto c = Make(kPoll);
  ASSERT_NE(c, nullptr);
  auto from_event = c->MapRecordPayload(Event("e-3", "granted"));
  ASSERT_TRUE(from_event.ok()) << from_event.status().message();
  EXPECT_EQ(from_event->at(0).mapped.changes.at(0).key.topic, "newsletter");
  auto from_item = c->MapRecordPayload(PollItem(4, "refused").dump());
  ASSERT_TRUE(from_item.ok()) << from_item.status().message();
  EXPECT_EQ(from_item->at(0).mapped.changes.at(0).status, ConsentStatus::kRefused);
  auto bad = c->MapRecordPayload(PollItem(5, "sometimes").dump());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("/data/status"));
}

TEST_F(GenericConnectorTest, ListNativeTopicsNeedsItsDeclaration) {
  auto without = Make(kPoll);
  ASSERT_NE(without, nullptr);
  auto r = without->ListNativeTopics();
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("list_topics"));

  auto with = Make(R"(    write: {consent: {method: POST, url: /c}}
    list_topics: {url: /themen, items: /themen, id: /name, name: /title, channel: /channel}
)");
  ASSERT_NE(with, nullptr);
  server_.Answer([](const net::HttpRequest&) {
    return Json(200, {{"themen",
                       {{{"name", "nl"}, {"title", "Newsletter"}, {"channel", "mail"}},
                        {{"name", "events"}, {"title", "Events"}, {"channel", "mail"}}}}});
  });
  auto topics = with->ListNativeTopics();
  ASSERT_TRUE(topics.ok()) << topics.status().message();
  ASSERT_EQ(topics->size(), 2u);
  EXPECT_EQ((*topics)[0].id, "nl");
  EXPECT_EQ((*topics)[0].name, "Newsletter");
  EXPECT_TRUE((*topics)[0].mapped);
  EXPECT_FALSE((*topics)[1].mapped);
}

// The daemon stamps each read with the time it began; a time the
// connector set (a self-contained event's) is kept when it is earlier.
TEST(StampReadAt, KeepsAnEarlierTimeTheConnectorSetAndFillsTheRest) {
  std::vector<InboundRecord> records(3);
  records[1].read_at = kT0 - 5000;  // an event's time
  records[2].read_at = kT0 + 5000;  // later than the read: another clock
  StampReadAt(records, kT0);
  EXPECT_EQ(records[0].read_at, kT0);
  EXPECT_EQ(records[1].read_at, kT0 - 5000);
  EXPECT_EQ(records[2].read_at, kT0);
}

}  // namespace
}  // namespace consentd::connectors::generic
