// consentctl resync, run as the real binary against the in-process
// consentd-sim (HubSpot, ephemeral port) and a real SQLite store in a
// temporary directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "config/config.h"
#include "mapping/policy.h"
#include "store/config_history.h"
#include "store/proof_log_store.h"
#include "store/sqlite_db.h"
#include "store/sqlite_migrations.h"
#include "store/sqlite_store.h"
#include "sync/sync_engine.h"
#include "tests/sim/sim_fixture.h"
#include "tests/store/store_test_util.h"
#include "tests/support/child_process.h"

namespace consentd::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Outcome {
  int exit_code = -1;
  std::string out;  // stdout and stderr
};

Outcome Consentctl(const std::string& args) {
  const std::string cmd = std::string(CONSENTD_BINARY_DIR) + "/cli/consentctl " + args + " 2>&1";
  Outcome o;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return o;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) o.out.append(buf.data(), n);
  const int status = ::pclose(p);
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

class CliResyncTest : public sim::testing::SimFixture {
 protected:
  void SetUp() override {
    SimFixture::SetUp();
    db_path_ = dir_.File("consentd.db");
    // consentd creates the store; here an empty one stands in for it.
    ASSERT_NE(store::testing::OpenOrDie(db_path_), nullptr);
    std::ofstream(dir_.File("hubspot_token")) << "test-token";
    std::ofstream(dir_.File("hubspot_client_secret")) << "test-client-secret";
    config_path_ = dir_.File("consentd.yaml");
    std::ofstream(config_path_)
        << "store:\n  path: " << db_path_ << "\n"
        << "connectors:\n"
        << "  hubspot:\n    kind: hubspot\n    base_url: " << BaseUrl() << "\n"
        << "    token_file: " << dir_.File("hubspot_token") << "\n"
        << "    client_secret_file: " << dir_.File("hubspot_client_secret") << "\n"
        << "    poll_interval: 0s\n"
        << "mapping:\n"
        << "  systems:\n    hubspot: {kind: hubspot, role: crm}\n"
        << "  identity:\n    keys: [email]\n"
        << "  channels:\n    email: {hubspot: EMAIL}\n"
        << "  topics:\n"
        << "    - name: newsletter\n      notice_version: \"2026-01\"\n"
        << "      double_opt_in: true\n      channels: [email]\n"
        << "      systems:\n        hubspot: {subscriptions: {email: 101}}\n";
    ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 8}, {"seed", 3}}).status, 200);
  }

  std::uint64_t ProofSize() {
    auto db = store::testing::OpenOrDie(db_path_);
    std::uint64_t n = 0;
    Status s = db->Run([&](store::Transaction& txn) -> Status {
      Result<std::uint64_t> r = store::ProofTreeSize(txn);
      if (!r.ok()) return r.status();
      n = *r;
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return n;
  }

  store::testing::TempDir dir_;
  std::string db_path_;
  std::string config_path_;
};

TEST_F(CliResyncTest, DryRunPrintsTheDriftAndStoresNothing) {
  Outcome o = Consentctl("resync --dry-run --config " + config_path_);
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_THAT(o.out, HasSubstr("hubspot: 1 page(s), 8 record(s); in step "));
  EXPECT_THAT(o.out, HasSubstr("(dry run: nothing stored)"));
  EXPECT_THAT(o.out, HasSubstr("  outcomes: "));
  EXPECT_THAT(o.out, Not(HasSubstr("consentd behind 0,"))) << "the store knows nothing yet";
  EXPECT_THAT(o.out, Not(HasSubstr("@example.com"))) << "no personal data";
  EXPECT_EQ(ProofSize(), 0u);
  EXPECT_FALSE(std::filesystem::exists(dir_.File("identity.key")))
      << "a dry run creates no identity key";
}

// A dry run binds no key either: with a key file in place and a store that
// holds no key check yet, the check stays unwritten (a real run writes it).
TEST_F(CliResyncTest, DryRunBindsNoExistingKeyAndARealRunDoes) {
  std::ofstream(dir_.File("identity.key")) << "an identity key of thirty-two b!";
  const auto stored_check = [&] {
    auto db = store::testing::OpenOrDie(db_path_);
    std::optional<std::string> check;
    Status s = db->Run([&](store::Transaction& txn) -> Status {
      Result<std::optional<std::string>> c = txn.GetCursor(sync::kIdentityKeyCheckCursor);
      if (!c.ok()) return c.status();
      check = *c;
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return check;
  };
  Outcome dry = Consentctl("resync --dry-run --config " + config_path_);
  EXPECT_EQ(dry.exit_code, 0) << dry.out;
  EXPECT_EQ(stored_check(), std::nullopt) << "a dry run bound the key";

  // A real run refused (another mapping is in force) binds nothing either.
  {
    auto db = store::testing::OpenOrDie(db_path_);
    Status s = db->Run([](store::Transaction& txn) -> Status {
      return store::RecordMappingInForce(txn, std::string(64, 'a'), {"another mapping"}, "test",
                                         1'700'000'000'000)
          .status();
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  Outcome refused = Consentctl("resync --config " + config_path_);
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_THAT(refused.out, HasSubstr("is not the one consentd runs with"));
  EXPECT_EQ(stored_check(), std::nullopt) << "a refused run bound the key";
  // The file's mapping in force again (as a reload records it).
  {
    auto db = store::testing::OpenOrDie(db_path_);
    Status s = db->Run([&](store::Transaction& txn) -> Status {
      Result<config::Config> config = config::LoadConfigFile(config_path_);
      if (!config.ok()) return config.status();
      return store::RecordMappingInForce(txn, mapping::MappingHash(config->mapping), {"the file's"},
                                         "test", 1'700'000'000'001)
          .status();
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  Outcome real = Consentctl("resync --config " + config_path_);
  EXPECT_EQ(real.exit_code, 0) << real.out;
  EXPECT_EQ(stored_check(), *sync::IdentityKeyCheck("an identity key of thirty-two b!"));
}

// Only consentd migrates a store: a resync, dry or real, against a store an
// older consentd may still run on refuses instead, and leaves the schema as
// it was.
TEST_F(CliResyncTest, NeitherADryNorARealRunMigratesAnOlderStore) {
  const std::string old_db = dir_.File("old.db");
  {
    auto db = store::Db::Open(old_db, nullptr);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE(store::MigrateTo(**db, store::LatestSchemaVersion() - 1, 1).ok());
  }
  std::ifstream in(config_path_);
  std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  config.replace(config.find(db_path_), db_path_.size(), old_db);
  const std::string old_config = dir_.File("old.yaml");
  std::ofstream(old_config) << config;
  for (const std::string dry : {"--dry-run ", ""}) {
    Outcome o = Consentctl("resync " + dry + "--config " + old_config);
    EXPECT_EQ(o.exit_code, 1) << dry << o.out;
    EXPECT_THAT(o.out, HasSubstr("consentd once")) << dry;
  }
  auto db = store::Db::Open(old_db, nullptr);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(*store::SchemaVersion(**db), store::LatestSchemaVersion() - 1);
}

// A generic connector's poll is a change feed, not its records' current
// state: a resync of every connector passes it over, saying so, and
// resyncs the others; named alone, it is an error that says why.
TEST_F(CliResyncTest, AGenericConnectorIsSkippedAndTheOthersAreResynced) {
  consentd::testing::WriteTextFile(dir_.File("crm_token"), "crm-token-0123456789abcdef");
  consentd::testing::WriteTextFile(dir_.File("crm_whsec"),
                                   "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  const std::string config = dir_.File("generic.yaml");
  std::ofstream(config)
      << "store:\n  path: " << db_path_ << "\n"
      << "connectors:\n"
      << "  crm:\n    kind: generic\n    base_url: http://127.0.0.1:9/api\n"
      << "    webhook_secret_files: [" << dir_.File("crm_whsec") << "]\n"
      << "    auth: {bearer: {token_file: " << dir_.File("crm_token") << "}}\n"
      << "    write:\n"
      << "      consent: {method: PUT, url: \"/c/{email}/{topic}\", body: {s: \"{status}\"}}\n"
      << "      block: {method: PUT, url: \"/c/{email}/b/{block}\", body: {a: \"{active}\"}}\n"
      << "      erasure: {method: DELETE, url: \"/c/{email}\"}\n"
      << "    responses: {retryable: [429, \"5xx\"], permanent: [\"4xx\"]}\n"
      << "  hubspot:\n    kind: hubspot\n    base_url: " << BaseUrl() << "\n"
      << "    token_file: " << dir_.File("hubspot_token") << "\n"
      << "    client_secret_file: " << dir_.File("hubspot_client_secret") << "\n"
      << "    poll_interval: 0s\n"
      << "mapping:\n"
      << "  systems:\n    crm: {kind: generic, role: crm}\n"
      << "    hubspot: {kind: hubspot, role: journey}\n"
      << "  identity:\n    keys: [email]\n"
      << "  channels:\n    email: {crm: mail, hubspot: EMAIL}\n"
      << "  topics:\n"
      << "    - name: newsletter\n      notice_version: \"2026-01\"\n"
      << "      channels: [email]\n"
      << "      systems:\n        crm: {topic: nl}\n"
      << "        hubspot: {subscriptions: {email: 101}}\n";
  Outcome all = Consentctl("resync --dry-run --config " + config);
  EXPECT_EQ(all.exit_code, 0) << all.out;
  EXPECT_THAT(all.out, HasSubstr("crm: skipped (a generic connector"));
  EXPECT_THAT(all.out, HasSubstr("hubspot: 1 page(s), 8 record(s)"));

  Outcome named = Consentctl("resync --dry-run --connector crm --config " + config);
  EXPECT_EQ(named.exit_code, 1) << named.out;
  EXPECT_THAT(named.out, HasSubstr("polls a change feed"));
}

TEST_F(CliResyncTest, ARealRunLearnsTheDriftAndTheNextFindsNone) {
  Outcome first = Consentctl("resync --connector hubspot --config " + config_path_);
  EXPECT_EQ(first.exit_code, 0) << first.out;
  EXPECT_THAT(first.out, Not(HasSubstr("consentd behind 0,")));
  EXPECT_GT(ProofSize(), 0u);
  Outcome second = Consentctl("resync --config " + config_path_);
  EXPECT_EQ(second.exit_code, 0) << second.out;
  EXPECT_THAT(second.out, HasSubstr("consentd behind 0, system behind 0, superseded 0"));
}

TEST_F(CliResyncTest, FailsWithOneLineOnAnUnknownConnector) {
  Outcome o = Consentctl("resync --connector nope --config " + config_path_);
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(o.out, "consentctl resync: no connector named nope\n");
}

}  // namespace
}  // namespace consentd::cli
