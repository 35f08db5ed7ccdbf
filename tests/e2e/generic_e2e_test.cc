// End-to-end: the real consentd binary with two generic connectors, run with
// the worked example config/examples/bsi-crm-studio.yaml (only ports, paths
// and intervals changed), against the BSI-like CRM and Studio
// (tests/generic_systems/) in this process over loopback. The scenarios
// mirror the HubSpot ⇄ Mailchimp ones (sync_e2e_test.cc).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "tests/generic_systems/bsi_harness.h"
#include "tests/net/test_client.h"
#include "tests/support/child_process.h"

namespace consentd::testing {
namespace {

namespace fs = std::filesystem;
using bsi::Flavour;
using Json = nlohmann::json;

constexpr Flavour kCrm = Flavour::kCrm;
constexpr Flavour kStudio = Flavour::kStudio;
constexpr char kAdminToken[] = "e2e-admin-token-0123456789abcdef";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "the worked example no longer contains: " << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

class GenericE2E : public ::testing::Test {
 protected:
  // Starts consentd on the worked example. `poll_interval` "0s": webhooks only.
  void Start(const std::string& poll_interval = "0s") {
    dir_ = std::make_unique<TempDir>("consentd-generic-e2e");
    ASSERT_TRUE(systems_.ok());
    port_ = FreeLoopbackPort();
    const std::string base = "http://127.0.0.1:" + std::to_string(port_) + "/webhooks/";
    systems_.SetWebhook(kCrm, base + "bsi_crm");
    systems_.SetWebhook(kStudio, base + "bsi_studio");

    const fs::path secrets = dir_->path() / "secrets";
    fs::create_directories(secrets);
    WriteTextFile(secrets / "bsi_crm_token", std::string(bsi::kCrmToken));
    WriteTextFile(secrets / "bsi_crm_webhook_secret", std::string(bsi::kCrmSecret));
    WriteTextFile(secrets / "bsi_studio_request_secret", std::string(bsi::kStudioKey));
    WriteTextFile(secrets / "bsi_studio_webhook_secret", std::string(bsi::kStudioSecret));
    WriteTextFile(secrets / "admin_token", kAdminToken);

    std::string cfg =
        ReadTextFile(fs::path(CONSENTD_SOURCE_DIR) / "config/examples/bsi-crm-studio.yaml");
    cfg = Replace(cfg, "127.0.0.1:8470", "127.0.0.1:" + std::to_string(port_));
    cfg = Replace(cfg, "/var/lib/consentd/consentd.db", "consentd.db");
    cfg = Replace(cfg, "http://127.0.0.1:8480", systems_.BaseUrl(kCrm));
    cfg = Replace(cfg, "http://127.0.0.1:8481", systems_.BaseUrl(kStudio));
    for (const char* name : {"bsi_crm_token", "bsi_crm_webhook_secret", "bsi_studio_request_secret",
                             "bsi_studio_webhook_secret"}) {
      cfg = ReplaceAll(cfg, std::string(" ") + name, " " + (secrets / name).string());
      cfg = ReplaceAll(cfg, std::string("[") + name, "[" + (secrets / name).string());
    }
    cfg = ReplaceAll(cfg, "poll_interval: 30s", "poll_interval: " + poll_interval);
    cfg +=
        "\nlog:\n  level: debug\n"
        "proof_log:\n  checkpoint_interval: 1s\n"
        "admin:\n  token_file: " +
        (secrets / "admin_token").string() + "\n" +
        "sync:\n  retry_base: 50ms\n  retry_cap: 1s\n  max_attempts: 30\n";
    config_path_ = (dir_->path() / "consentd.yaml").string();
    WriteTextFile(config_path_, cfg);

    consentd_ = std::make_unique<ChildProcess>(
        ConsentdBinary(), std::vector<std::string>{"--config", config_path_},
        std::vector<std::string>{}, dir_->path() / "consentd.log");
    ASSERT_TRUE(WaitUntil(
        [&] {
          auto c = TcpClient::Connect(port_);
          if (!c || !c->Send(BuildRequest("GET", "/readyz", "", {}))) return false;
          auto r = c->ReadResponse();
          return r && r->status == 200;
        },
        std::chrono::seconds(30)))
        << "consentd not ready; log:\n"
        << Log();
  }

  void TearDown() override {
    if (!consentd_) return;
    consentd_->Signal(SIGTERM);
    EXPECT_EQ(consentd_->WaitExit(std::chrono::seconds(30)), std::optional<int>(0));
    consentd_.reset();
    CommandResult verify = RunConsentctl({"verify", "--config", config_path_});
    EXPECT_EQ(verify.exit_code, 0) << verify.output;
    if (HasFailure()) {
      std::string log = Log();
      if (log.size() > 20000) log = "...\n" + log.substr(log.size() - 20000);
      ADD_FAILURE() << "consentd log (tail):\n" << log;
    }
  }

  std::string Log() const { return dir_ ? ReadTextFile(dir_->path() / "consentd.log") : ""; }

  bool Eventually(const std::function<bool()>& condition,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return WaitUntil(condition, timeout);
  }

  // A person acts in a system (control API); fails the test on an error.
  void Person(Flavour f, const std::string& action, const Json& body) {
    bsi::Reply r = systems_.Control(f, "POST", "/person/" + action, body);
    ASSERT_TRUE(r.status == 200 || r.status == 204) << action << ": " << r.status << " " << r.body;
  }
  void OptIn(Flavour f, const std::string& email, const std::string& topic,
             const std::string& channel, const std::string& status, Json extra = Json::object()) {
    extra["email"] = email;
    extra["topic"] = topic;
    extra["channel"] = channel;
    extra["status"] = status;
    Person(f, "optin", extra);
  }
  std::string Status(Flavour f, const std::string& email, const std::string& topic,
                     const std::string& channel = "email") {
    return systems_.OptIn(f, email, topic, channel);
  }

  // Writes consentd made: PUT/DELETE calls on the system's contacts.
  int Writes(Flavour f) {
    const std::string p = bsi::ApiPrefix(f);
    return systems_.CountCalls(f, "PUT " + p + "/contacts") +
           systems_.CountCalls(f, "DELETE " + p + "/contacts");
  }

  double MetricSum(const std::string& family, const std::string& fragment = "") {
    auto c = TcpClient::Connect(port_);
    if (!c || !c->Send(BuildRequest("GET", "/metrics", "", {}))) return 0;
    auto r = c->ReadResponse();
    if (!r) return 0;
    std::istringstream in(r->body);
    double sum = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(family, 0) != 0) continue;
      const char next = line.size() > family.size() ? line[family.size()] : ' ';
      if (next != '{' && next != ' ') continue;
      if (!fragment.empty() && line.find(fragment) == std::string::npos) continue;
      sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return sum;
  }

  bsi::BsiHarness systems_{"", ""};
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<ChildProcess> consentd_;
  std::uint16_t port_ = 0;
  std::string config_path_;
};

// --- consents, both directions ------------------------------------------------

TEST_F(GenericE2E, CrmGrantAndWithdrawalPerTopicReachTheStudio) {
  Start();
  const std::string anna = "anna@example.com";
  OptIn(kCrm, anna, "produktinfo", "sms", "granted");
  ASSERT_TRUE(Eventually([&] { return Status(kStudio, anna, "produktinfo", "sms") == "granted"; }));
  // Only the topic and channel the person chose.
  EXPECT_EQ(Status(kStudio, anna, "produktinfo", "email"), "");
  OptIn(kCrm, anna, "produktinfo", "sms", "withdrawn");
  ASSERT_TRUE(
      Eventually([&] { return Status(kStudio, anna, "produktinfo", "sms") == "withdrawn"; }));
}

TEST_F(GenericE2E, StudioGrantAndWithdrawalReachTheCrm) {
  Start();
  const std::string ben = "ben@example.com";
  OptIn(kStudio, ben, "events", "email", "granted");
  ASSERT_TRUE(Eventually([&] { return Status(kCrm, ben, "events") == "granted"; }));
  OptIn(kStudio, ben, "events", "email", "withdrawn");
  ASSERT_TRUE(Eventually([&] { return Status(kCrm, ben, "events") == "withdrawn"; }));
}

TEST_F(GenericE2E, NewsletterIsPendingUntilTheDoubleOptInIsConfirmedThenGrantedInBoth) {
  Start();
  const std::string cleo = "cleo@example.com";
  // A form sign-up in the CRM: the CRM sends its confirmation mail.
  OptIn(kCrm, cleo, "newsletter", "email", "granted");
  EXPECT_EQ(Status(kCrm, cleo, "newsletter"), "pending");
  ASSERT_TRUE(Eventually([&] { return Status(kStudio, cleo, "newsletter") == "pending"; }));
  Person(kCrm, "confirm", {{"email", cleo}, {"topic", "newsletter"}, {"channel", "email"}});
  ASSERT_TRUE(Eventually([&] { return Status(kStudio, cleo, "newsletter") == "granted"; }));
  EXPECT_EQ(Status(kCrm, cleo, "newsletter"), "granted");
}

// --- blocks ---------------------------------------------------------------------

TEST_F(GenericE2E, WerbesperreInTheCrmBlocksInTheStudioAndIsLiftedAgain) {
  Start();
  const std::string dora = "dora@example.com";
  // Lifted five minutes later: well outside the skew window, inside which
  // the restrictive side would win (DESIGN rule 3).
  Person(kCrm, "sperre",
         {{"email", dora},
          {"sperre", "werbesperre"},
          {"active", true},
          {"occurred_at", "2026-03-01T10:00:00Z"}});
  ASSERT_TRUE(Eventually([&] { return systems_.SperreActive(kStudio, dora, "werbesperre|"); }));
  Person(kCrm, "sperre",
         {{"email", dora},
          {"sperre", "werbesperre"},
          {"active", false},
          {"occurred_at", "2026-03-01T10:05:00Z"}});
  ASSERT_TRUE(Eventually([&] {
    const Json c = systems_.Contact(kStudio, dora);
    return c.is_object() && c["sperren"].contains("werbesperre|") &&
           c["sperren"]["werbesperre|"]["active"] == false;
  }));
}

TEST_F(GenericE2E, ChannelAndAddressKontaktsperrenTravelWithTheirScope) {
  Start();
  const std::string emil = "emil@example.com";
  Person(kCrm, "sperre",
         {{"email", emil}, {"sperre", "kanalsperre"}, {"channel", "sms"}, {"active", true}});
  ASSERT_TRUE(Eventually([&] { return systems_.SperreActive(kStudio, emil, "kanalsperre|sms"); }));
  // The Studio learns that the address bounces: the CRM blocks that address.
  Person(kStudio, "sperre",
         {{"email", emil}, {"sperre", "adresssperre"}, {"active", true}, {"reason", "bounced"}});
  ASSERT_TRUE(
      Eventually([&] { return systems_.SperreActive(kCrm, emil, "adresssperre|" + emil); }));
  EXPECT_FALSE(systems_.SperreActive(kCrm, emil, "werbesperre|"));
}

// --- erasure ----------------------------------------------------------------------

TEST_F(GenericE2E, ErasureInTheCrmReachesEveryCampaignOfTheStudio) {
  Start();
  const std::string finn = "finn@example.com";
  OptIn(kCrm, finn, "events", "email", "granted");
  ASSERT_TRUE(Eventually([&] { return Status(kStudio, finn, "events") == "granted"; }));
  for (const char* campaign : {"fruehling", "sommer"}) {
    ASSERT_EQ(systems_
                  .Control(kStudio, "POST", std::string("/campaigns/") + campaign + "/members",
                           {{"email", finn}})
                  .status,
              200);
  }
  Person(kCrm, "delete", {{"email", finn}});
  ASSERT_TRUE(Eventually([&] { return systems_.Contact(kStudio, finn).is_null(); })) << Log();
  EXPECT_EQ(systems_.Control(kStudio, "GET", "/stats").Json()["campaign_removals"], 2);
}

// --- identity: a merge in the CRM ---------------------------------------------------

TEST_F(GenericE2E, CrmMergeCombinesBothRecordsAndTheLaterWithdrawalReachesTheStudio) {
  Start();
  const std::string ines = "ines@example.com";
  const std::string ivo = "ivo@example.com";
  OptIn(kCrm, ines, "events", "email", "granted", {{"occurred_at", "2026-03-02T09:00:00Z"}});
  OptIn(kCrm, ivo, "events", "email", "withdrawn", {{"occurred_at", "2026-03-02T09:30:00Z"}});
  ASSERT_TRUE(Eventually([&] { return Status(kStudio, ines, "events") == "granted"; }));
  ASSERT_TRUE(Eventually([&] { return Status(kStudio, ivo, "events") == "withdrawn"; }));
  // ivo's record is the same person: the CRM merges it into ines's.
  Person(kCrm, "merge", {{"email", ines}, {"merged_email", ivo}});
  // One person: the later withdrawal wins over the earlier grant, and the
  // survivor's address in the Studio gets it.
  ASSERT_TRUE(Eventually([&] { return Status(kStudio, ines, "events") == "withdrawn"; })) << Log();
  // The CRM kept the survivor's own grant; the withdrawal came from the CRM
  // too, but from the merged record, so the survivor's is written as well.
  ASSERT_TRUE(Eventually([&] { return Status(kCrm, ines, "events") == "withdrawn"; })) << Log();
}

// After the merge the Studio still holds a record for each address; erasing
// the person must remove both, not only the one linked last.
TEST_F(GenericE2E, ErasureAfterACrmMergeRemovesEveryStudioRecordOfThePerson) {
  Start();
  const std::string jana = "jana@example.com";
  const std::string jan = "jan.b@example.com";
  OptIn(kCrm, jana, "events", "email", "granted", {{"occurred_at", "2026-03-02T09:00:00Z"}});
  OptIn(kCrm, jan, "events", "email", "withdrawn", {{"occurred_at", "2026-03-02T09:30:00Z"}});
  ASSERT_TRUE(Eventually([&] { return Status(kStudio, jana, "events") == "granted"; }));
  ASSERT_TRUE(Eventually([&] { return Status(kStudio, jan, "events") == "withdrawn"; }));
  Person(kCrm, "merge", {{"email", jana}, {"merged_email", jan}});
  // consentd has decided the merge once the survivor's record shows the
  // merged record's later withdrawal (the CRM's webhooks may arrive in any
  // order; the test is about what follows a merge consentd knows of).
  ASSERT_TRUE(Eventually([&] { return Status(kStudio, jana, "events") == "withdrawn"; })) << Log();
  Person(kCrm, "delete", {{"email", jana}});
  ASSERT_TRUE(Eventually([&] { return systems_.Contact(kStudio, jana).is_null(); })) << Log();
  ASSERT_TRUE(Eventually([&] { return systems_.Contact(kStudio, jan).is_null(); }))
      << "the merged address's record was left in the Studio\n"
      << Log();
}

// The same person erased from the Studio's side: one of its records is
// deleted there, and the Studio's other record of the person (the merged
// address's) must go too. A generic system's erasure names each record
// (write.erasure per record); the one that reported it is gone already.
TEST_F(GenericE2E, ErasureReportedByOneStudioRecordAfterACrmMergeRemovesItsOtherRecord) {
  Start();
  const std::string jana = "jana@example.com";
  const std::string jan = "jan.b@example.com";
  OptIn(kCrm, jana, "events", "email", "granted", {{"occurred_at", "2026-03-02T09:00:00Z"}});
  OptIn(kCrm, jan, "events", "email", "withdrawn", {{"occurred_at", "2026-03-02T09:30:00Z"}});
  ASSERT_TRUE(Eventually([&] { return Status(kStudio, jana, "events") == "granted"; }));
  ASSERT_TRUE(Eventually([&] { return Status(kStudio, jan, "events") == "withdrawn"; }));
  Person(kCrm, "merge", {{"email", jana}, {"merged_email", jan}});
  // Wait for consentd to have decided the merge, not only for the CRM to
  // have made it: the survivor's Studio record takes the merged record's
  // later withdrawal. (An erasure decided before the merge reaches consentd
  // erases only the subject consentd knew then; the merged id is forgotten.)
  ASSERT_TRUE(Eventually([&] { return Status(kStudio, jana, "events") == "withdrawn"; })) << Log();
  Person(kStudio, "delete", {{"email", jan}});
  ASSERT_TRUE(Eventually([&] { return systems_.Contact(kCrm, jana).is_null(); })) << Log();
  ASSERT_TRUE(Eventually([&] { return systems_.Contact(kStudio, jana).is_null(); }))
      << "the person's other Studio record outlived the erasure\n"
      << Log();
}

// --- echoes -----------------------------------------------------------------------

TEST_F(GenericE2E, OwnWritesComingBackAreEchoesAndDoNotBounce) {
  Start();
  const std::string gil = "gil@example.com";
  OptIn(kCrm, gil, "produktinfo", "email", "granted");
  ASSERT_TRUE(Eventually([&] { return Status(kStudio, gil, "produktinfo") == "granted"; }));
  // The Studio reports consentd's own write back as an event.
  ASSERT_TRUE(Eventually([&] {
    return MetricSum("consentd_decisions_total", "outcome=\"echo\"") > 0;
  })) << Log();
  const int crm_writes = Writes(kCrm);
  const int studio_writes = Writes(kStudio);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // a bounce would show up here
  EXPECT_EQ(Writes(kCrm), crm_writes);
  EXPECT_EQ(Writes(kStudio), studio_writes);
  EXPECT_EQ(crm_writes, 0) << "nothing is written back to the system a change came from";
  EXPECT_EQ(studio_writes, 1) << "one change, one write";
}

// --- webhook faults -----------------------------------------------------------------

TEST_F(GenericE2E, DuplicateAndLateEventsChangeNothing) {
  Start();
  const std::string hana = "hana@example.com";
  // The grant's event is held back; the later withdrawal arrives first.
  OptIn(kCrm, hana, "events", "email", "granted",
        {{"occurred_at", "2026-03-01T10:00:00Z"}, {"webhook", false}});
  OptIn(kCrm, hana, "events", "email", "withdrawn", {{"occurred_at", "2026-03-01T10:05:00Z"}});
  ASSERT_TRUE(Eventually([&] { return Status(kStudio, hana, "events") == "withdrawn"; }));
  const int studio_writes = Writes(kStudio);
  // Now the old grant arrives, twice.
  const Json changes = systems_.Api(kCrm, "GET", "/changes").Json();
  ASSERT_GE(changes["items"].size(), 2u);
  const std::string grant_id = changes["items"][0]["change_id"];
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(systems_.Control(kCrm, "POST", "/replay", {{"change_id", grant_id}}).status, 200);
  }
  ASSERT_TRUE(Eventually([&] {
    return Log().find("superseded") != std::string::npos ||
           MetricSum("consentd_decisions_total", "outcome=\"superseded\"") > 0;
  })) << Log();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(Status(kStudio, hana, "events"), "withdrawn");
  EXPECT_EQ(Writes(kStudio), studio_writes);
}

TEST_F(GenericE2E, LostWebhooksAreRecoveredByPolling) {
  Start("1s");
  const std::string ida = "ida@example.com";
  OptIn(kCrm, ida, "produktinfo", "email", "granted", {{"webhook", false}});
  OptIn(kStudio, ida, "events", "email", "granted", {{"webhook", false}});
  ASSERT_TRUE(Eventually([&] { return Status(kStudio, ida, "produktinfo") == "granted"; }))
      << Log();
  ASSERT_TRUE(Eventually([&] { return Status(kCrm, ida, "events") == "granted"; })) << Log();
}

// --- target faults ------------------------------------------------------------------

TEST_F(GenericE2E, RateLimitAndServerErrorStormsDelayButDeliverEverythingOnce) {
  Start();
  systems_.Framework(
      kStudio, "POST", "/faults",
      Json::array(
          {{{"kind", "rate_limit"}, {"system", "bsi_studio"}, {"count", 4}, {"retry_after", 1}},
           {{"kind", "error"}, {"system", "bsi_studio"}, {"status", 503}, {"count", 3}}}));
  const int kPeople = 8;
  for (int i = 0; i < kPeople; ++i) {
    OptIn(kCrm, "storm" + std::to_string(i) + "@example.com", "events", "email", "granted");
  }
  ASSERT_TRUE(Eventually(
      [&] {
        for (int i = 0; i < kPeople; ++i) {
          if (Status(kStudio, "storm" + std::to_string(i) + "@example.com", "events") !=
              "granted") {
            return false;
          }
        }
        return true;
      },
      std::chrono::seconds(60)))
      << Log();
  EXPECT_GT(MetricSum("consentd_deliveries_total", "result=\"retryable\""), 0);
  EXPECT_EQ(MetricSum("consentd_deliveries_total", "result=\"permanent\""), 0);
}

TEST_F(GenericE2E, StudioRefusingATransitionIsVisibleAndNotRetried) {
  Start();
  const std::string jo = "jo@example.com";
  // The Studio blocks the address on its own (its event is lost).
  Person(kStudio, "sperre",
         {{"email", jo}, {"sperre", "adresssperre"}, {"active", true}, {"webhook", false}});
  OptIn(kCrm, jo, "events", "email", "granted");
  ASSERT_TRUE(Eventually([&] { return Log().find("blocked_by_target") != std::string::npos; }))
      << Log();
  const int puts = Writes(kStudio);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(Writes(kStudio), puts) << "a refusal must not be retried";
  EXPECT_EQ(Status(kStudio, jo, "events"), "");
}

}  // namespace
}  // namespace consentd::testing
