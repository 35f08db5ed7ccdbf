#include "tests/e2e/sync_fixture.h"

#include <signal.h>

#include <algorithm>
#include <sstream>

#include "tests/net/test_client.h"

namespace consentd::testing {
namespace fs = std::filesystem;
namespace {

constexpr char kHubSpotToken[] = "sim-hubspot-token";
constexpr char kHubSpotClientSecret[] = "sim-hubspot-client-secret";
constexpr char kMailchimpKey[] = "00000000000000000000000000000000-us1";
constexpr char kMailchimpList[] = "5e1c0a7b2d";
constexpr char kWebhookSecret[] = "e2e-webhook-s3cr3t";
constexpr char kAdminToken[] = "e2e-admin-token-0123456789abcdef";

std::optional<RawResponse> Request(std::uint16_t port, const std::string& method,
                                   const std::string& path, const std::string& body,
                                   std::vector<std::string> headers = {},
                                   std::chrono::milliseconds patience = kPatience) {
  auto c = TcpClient::Connect(port);
  if (!c) return std::nullopt;
  if (!body.empty()) headers.push_back("Content-Type: application/json");
  if (!c->Send(BuildRequest(method, path, body, headers))) return std::nullopt;
  return c->ReadResponse(patience);
}

Json ParseOrNull(const std::string& body) {
  if (body.empty()) return nullptr;
  return Json::parse(body, nullptr, /*allow_exceptions=*/false);
}

std::string UrlEncodeEmail(const std::string& email) {
  std::string out;
  for (char c : email) {
    if (c == '@') {
      out += "%40";
    } else if (c == '+') {
      out += "%2B";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

void SyncE2E::StartAll(SyncOptions options) {
  options_ = std::move(options);
  dir_ = std::make_unique<TempDir>("consentd-e2e");
  std::vector<std::string> sim_args = {"--seed", "7", "--webhook-retry-ms", "200"};
  if (!options_.rate_limits) sim_args.push_back("--no-rate-limits");
  sim_ = std::make_unique<SimProcess>(sim_args, dir_->path() / "sim.log");
  ASSERT_TRUE(sim_->ok()) << ReadTextFile(dir_->path() / "sim.log");

  // The simulator's interest ids, by name.
  Json state = Journey("GET", "/_sim/mailchimp/state");
  for (const auto& category : state["interest_categories"]) {
    for (const auto& interest : category["interests"]) {
      interest_ids_[interest["name"].get<std::string>()] = interest["id"].get<std::string>();
    }
  }
  ASSERT_TRUE(interest_ids_.count("Newsletter") && interest_ids_.count("Product news"))
      << state.dump();

  fs::create_directories(dir_->path() / "secrets");
  WriteTextFile(dir_->path() / "secrets/hubspot_token", kHubSpotToken);
  WriteTextFile(dir_->path() / "secrets/hubspot_client_secret", kHubSpotClientSecret);
  WriteTextFile(dir_->path() / "secrets/mailchimp_api_key", kMailchimpKey);
  WriteTextFile(dir_->path() / "secrets/mailchimp_webhook_secret", kWebhookSecret);
  WriteTextFile(dir_->path() / "secrets/admin_token", kAdminToken);
  // For a test that configures privacy.export_delivery (extra_config).
  WriteTextFile(dir_->path() / "secrets/export_delivery_secret",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwY2pZ0eZm1Ts=");

  port_ = FreeLoopbackPort();
  const std::string crm = "http://127.0.0.1:" + std::to_string(sim_->crm_port());
  const std::string journey = "http://127.0.0.1:" + std::to_string(sim_->journey_port());
  std::ostringstream cfg;
  cfg << "http:\n  listen: \"127.0.0.1:" << port_ << "\"\n"
      << options_.http_config << "store:\n  path: consentd.db\n"
      << "log:\n  level: debug\n"
      << "proof_log:\n  checkpoint_interval: 1s\n"
      << "admin:\n  token_file: secrets/admin_token\n"
      << "connectors:\n"
      << "  hubspot:\n    kind: hubspot\n    base_url: " << crm << "\n"
      << "    token_file: secrets/hubspot_token\n"
      << "    client_secret_file: secrets/hubspot_client_secret\n"
      << "    poll_interval: " << options_.poll_interval << "\n"
      << "    poll_overlap: " << options_.poll_overlap << "\n"
      << (options_.unlimited_hubspot_budget
              ? "    rate_limit:\n      requests: 0\n      search_requests: 0\n"
              : "")
      << "  mailchimp:\n    kind: mailchimp\n    base_url: " << journey << "\n"
      << "    api_key_file: secrets/mailchimp_api_key\n"
      << "    list_id: " << kMailchimpList << "\n"
      << "    webhook_secret_file: secrets/mailchimp_webhook_secret\n"
      << "    poll_interval: " << options_.poll_interval << "\n"
      << "    poll_overlap: " << options_.poll_overlap << "\n"
      << "sync:\n"
      << options_.sync_config << "mapping:\n"
      << "  systems:\n"
      << "    hubspot: {kind: hubspot, role: crm}\n"
      << "    mailchimp: {kind: mailchimp, role: journey, confirms_double_opt_in: true}\n"
      << "  identity:\n    keys: [email]\n"
      << "  channels:\n    email: {hubspot: EMAIL, mailchimp: email}\n"
      << "  topics:\n"
      << "    - name: newsletter\n      notice_version: \"2026-01\"\n"
      << "      double_opt_in: true\n      channels: [email]\n"
      << "      systems:\n        hubspot: {subscriptions: {email: " << kNewsletter << "}}\n"
      << "        mailchimp: {interest: \"" << interest_ids_["Newsletter"] << "\"}\n"
      << "    - name: product_news\n      notice_version: \"2026-01\"\n"
      << "      double_opt_in: false\n      channels: [email]\n"
      << "      systems:\n        hubspot: {subscriptions: {email: " << kProductUpdates << "}}\n"
      << "        mailchimp: {interest: \"" << interest_ids_["Product news"] << "\"}\n"
      << "  blocks:\n"
      << "    - name: werbesperre\n      scope: all\n      direction: both\n"
      << "      systems:\n"
      << "        hubspot: {property: consentd_werbesperre, value: \"true\"}\n"
      << "        mailchimp: {status: unsubscribed}\n"
      << "    - name: channel_opt_out\n      scope: channel\n      reason: unsubscribed\n"
      << "      direction: crm_to_journey\n"
      << "      systems:\n        hubspot: {unsubscribe_all: true}\n"
      << "  erasure:\n    hubspot: {mode: delete}\n    mailchimp: " << options_.mailchimp_erasure
      << "\n"
      << options_.extra_config;
  config_path_ = (dir_->path() / "consentd.yaml").string();
  WriteTextFile(config_path_, cfg.str());

  // Webhooks from both simulated systems go to consentd.
  const std::string base = "http://127.0.0.1:" + std::to_string(port_);
  Crm("POST", "/_sim/hubspot/webhook", {{"url", base + "/webhooks/hubspot"}});
  Journey("PUT", "/_sim/mailchimp/webhook",
          {{"url", base + "/webhooks/mailchimp?secret=" + kWebhookSecret},
           {"sources", {{"user", true}, {"admin", true}, {"api", true}}},
           {"first_retry_delay_ms", 200}});
  StartConsentd();
}

int SyncE2E::PostMailchimpWebhook(const std::string& body) {
  auto r = MailchimpWebhook(body);
  return r ? r->status : 0;
}

std::optional<RawResponse> SyncE2E::MailchimpWebhook(const std::string& body) {
  auto c = TcpClient::Connect(port_);
  if (!c) return std::nullopt;
  const std::string path = std::string("/webhooks/mailchimp?secret=") + kWebhookSecret;
  if (!c->Send(
          BuildRequest("POST", path, body, {"Content-Type: application/x-www-form-urlencoded"}))) {
    return std::nullopt;
  }
  return c->ReadResponse();
}

std::optional<RawResponse> SyncE2E::Admin(const std::string& method, const std::string& path,
                                          std::chrono::milliseconds patience) {
  return Request(port_, method, path, "", {std::string("Authorization: Bearer ") + kAdminToken},
                 patience);
}

void SyncE2E::StartConsentd() {
  consentd_ = std::make_unique<ChildProcess>(
      ConsentdBinary(), std::vector<std::string>{"--config", config_path_},
      std::vector<std::string>{}, dir_->path() / "consentd.log");
  const bool ready = Eventually(
      [&] {
        auto r = Request(port_, "GET", "/readyz", "");
        return r && r->status == 200;
      },
      std::chrono::seconds(30));
  ASSERT_TRUE(ready) << "consentd not ready; log:\n" << Log();
}

void SyncE2E::StopConsentd() {
  if (!consentd_) return;
  consentd_->Signal(SIGTERM);
  auto code = consentd_->WaitExit(std::chrono::seconds(30));
  EXPECT_EQ(code, std::optional<int>(0)) << Log();
  consentd_.reset();
}

void SyncE2E::RestartConsentd() {
  StopConsentd();
  StartConsentd();
}

void SyncE2E::TearDown() {
  if (!dir_) return;
  StopConsentd();
  CommandResult verify = Ctl({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  if (HasFailure()) {
    std::string log = Log();
    if (log.size() > 20000) log = "...\n" + log.substr(log.size() - 20000);
    ADD_FAILURE() << "consentd log (tail):\n" << log;
  }
  sim_.reset();
}

void SyncE2E::RaiseProductNewsNoticeInTheFile() {
  std::string config = ReadTextFile(config_path_);
  const std::string before = "    - name: product_news\n      notice_version: \"2026-01\"\n";
  const std::size_t at = config.find(before);
  ASSERT_NE(at, std::string::npos) << config;
  config.replace(at, before.size(),
                 "    - name: product_news\n      notice_version: \"2026-02\"\n");
  WriteTextFile(config_path_, config);
}

int SyncE2E::RefuseJourneyWrites(int status) {
  const Json added = Crm("POST", "/_sim/faults",
                         {{"kind", "error"},
                          {"system", "mailchimp"},
                          {"method", "POST"},
                          {"route", "/3.0/lists/*"},
                          {"status", status}});
  EXPECT_TRUE(added.contains("ids")) << added.dump();
  return added.contains("ids") ? added["ids"][0].get<int>() : -1;
}

CommandResult SyncE2E::Ctl(std::vector<std::string> args) {
  args.push_back("--config");
  args.push_back(config_path_);
  return RunConsentctl(args);
}

Json SyncE2E::Crm(const std::string& method, const std::string& path, const Json& body) {
  auto r = Request(sim_->crm_port(), method, path, body.is_null() ? "" : body.dump(),
                   {std::string("Authorization: Bearer ") + kHubSpotToken});
  EXPECT_TRUE(r) << method << " " << path;
  return r ? ParseOrNull(r->body) : Json();
}

int SyncE2E::CrmStatus(const std::string& method, const std::string& path, const Json& body) {
  auto r = Request(sim_->crm_port(), method, path, body.is_null() ? "" : body.dump(),
                   {std::string("Authorization: Bearer ") + kHubSpotToken});
  return r ? r->status : 0;
}

Json SyncE2E::Journey(const std::string& method, const std::string& path, const Json& body) {
  auto r = Request(sim_->journey_port(), method, path, body.is_null() ? "" : body.dump(),
                   {std::string("Authorization: Bearer ") + kMailchimpKey});
  EXPECT_TRUE(r) << method << " " << path;
  return r ? ParseOrNull(r->body) : Json();
}

void SyncE2E::FailEveryJourneyWrite(int status) {
  Json faults = Json::array();
  for (const char* method : {"POST", "PUT", "PATCH"}) {
    faults.push_back({{"kind", "error"},
                      {"system", "mailchimp"},
                      {"method", method},
                      {"route", "/3.0/*"},
                      {"status", status}});
  }
  Journey("POST", "/_sim/faults", faults);
}

void SyncE2E::SignUpAtTheJourney(const std::string& email) {
  Journey("POST", "/_sim/mailchimp/person/signup",
          {{"email_address", email}, {"interests", {{interest_ids_["Newsletter"], true}}}});
  Journey("POST", "/_sim/mailchimp/person/confirm", {{"email_address", email}});
  ASSERT_TRUE(Eventually([&] { return CrmSubscription(email, kNewsletter) == "SUBSCRIBED"; }))
      << Log();
}

void SyncE2E::SubscribeThenWithdrawAtTheJourney(const std::string& email) {
  ASSERT_NO_FATAL_FAILURE(SignUpAtTheJourney(email));
  Journey("POST", "/_sim/mailchimp/person/profile",
          {{"email_address", email}, {"interests", {{interest_ids_["Newsletter"], false}}}});
  ASSERT_TRUE(Eventually([&] { return CrmSubscription(email, kNewsletter) == "UNSUBSCRIBED"; }))
      << Log();
}

void SyncE2E::SignUpBothThenMergeInTheCrm(const std::string& survivor, const std::string& merged) {
  for (const std::string& email : {survivor, merged}) {
    Crm("POST", "/_sim/hubspot/person/signup",
        {{"email", email}, {"subscriptionId", kProductUpdates}});
    ASSERT_TRUE(Eventually([&] { return MemberInterest(email, "Product news"); })) << Log();
  }
  auto id_of = [&](const std::string& email) -> std::string {
    return Crm("GET", "/crm/v3/objects/contacts/" + UrlEncodeEmail(email) + "?idProperty=email")
        .value("id", "");
  };
  Crm("POST", "/crm/v3/objects/contacts/merge",
      {{"primaryObjectId", id_of(survivor)}, {"objectIdToMerge", id_of(merged)}});
  ASSERT_TRUE(Eventually([&] {
    const std::optional<RawResponse> r =
        Admin("GET", "/api/v1/subjects?email=" + UrlEncodeEmail(survivor));
    return r && r->body.find("absorbed") != std::string::npos;
  })) << Log();
}

std::string SyncE2E::CrmSubscription(const std::string& email, int subscription_id) {
  Json r = Crm(
      "GET", "/communication-preferences/v4/statuses/" + UrlEncodeEmail(email) + "?channel=EMAIL");
  if (!r.is_object() || !r.contains("results")) return "";
  for (const auto& s : r["results"]) {
    if (s.value("subscriptionId", 0LL) == subscription_id) return s.value("status", "");
  }
  return "";
}

std::string SyncE2E::CrmProperty(const std::string& email, const std::string& property) {
  Json r = Crm("GET", "/crm/v3/objects/contacts/" + UrlEncodeEmail(email) +
                          "?idProperty=email&properties=" + property);
  if (!r.is_object() || !r.contains("properties")) return "";
  const Json& v = r["properties"][property];
  return v.is_string() ? v.get<std::string>() : "";
}

Json SyncE2E::Member(const std::string& email) {
  Json state = Journey("GET", "/_sim/mailchimp/state");
  for (const auto& m : state["members"]) {
    if (m.value("email_address", "") == email) return m;
  }
  return nullptr;
}

std::string SyncE2E::MemberStatus(const std::string& email) {
  Json m = Member(email);
  return m.is_object() ? m.value("status", "") : "";
}

bool SyncE2E::MemberInterest(const std::string& email, const std::string& interest_name) {
  Json m = Member(email);
  if (!m.is_object()) return false;
  return m["interests"].value(interest_ids_[interest_name], false);
}

int SyncE2E::CountCalls(const std::string& system, const std::string& method,
                        const std::string& prefix) {
  Json counters = Crm("GET", "/_sim/counters");
  int total = 0;
  if (!counters.contains(system)) return 0;
  const std::string want = method + " " + prefix;
  for (const auto& [route, by_status] : counters[system].items()) {
    if (route.rfind(want, 0) != 0) continue;
    for (const auto& [status, n] : by_status.items()) total += n.get<int>();
  }
  return total;
}

double SyncE2E::Metric(const std::string& sample) {
  auto r = Request(port_, "GET", "/metrics", "");
  if (!r) return 0;
  std::istringstream in(r->body);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
  }
  return 0;
}

double SyncE2E::MetricSum(const std::string& family, const std::string& label_fragment) {
  auto r = Request(port_, "GET", "/metrics", "");
  if (!r) return 0;
  std::istringstream in(r->body);
  double sum = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(family, 0) != 0) continue;
    const char next = line.size() > family.size() ? line[family.size()] : ' ';
    if (next != '{' && next != ' ') continue;
    if (!label_fragment.empty() && line.find(label_fragment) == std::string::npos) continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

bool SyncE2E::Eventually(const std::function<bool()>& condition,
                         std::chrono::milliseconds timeout) {
  return WaitUntil(condition, timeout);
}

}  // namespace consentd::testing
