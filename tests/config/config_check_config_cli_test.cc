// `consentctl check-config FILE`, run as the real binary: "FILE: OK" and 0,
// every error line and 1, usage errors 2.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/config/example_credentials.h"
#include "tests/config/temp_dir.h"

namespace consentd::config {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;
using testing::WriteExampleCredentials;

struct CliRun {
  int exit_code;
  std::string out;
  std::string err;
};

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs consentctl with $CREDENTIALS_DIRECTORY = `credentials` (unset when
// empty).
CliRun Consentctl(const TempDir& dir, const std::string& args,
                  const std::string& credentials = "") {
  const std::string out = dir.path() + "/stdout";
  const std::string err = dir.path() + "/stderr";
  const std::string env = credentials.empty() ? "env -u CREDENTIALS_DIRECTORY"
                                              : "env CREDENTIALS_DIRECTORY='" + credentials + "'";
  const std::string command =
      env + " '" CONSENTD_BINARY_DIR "/cli/consentctl' " + args + " >'" + out + "' 2>'" + err + "'";
  const int status = std::system(command.c_str());
  EXPECT_TRUE(WIFEXITED(status)) << command;
  return {WEXITSTATUS(status), ReadText(out), ReadText(err)};
}

TEST(ConfigCheckConfigCli, ValidConfigPrintsOkAndExitsZero) {
  TempDir dir;
  const std::string file =
      dir.Write("c.yaml", "http:\n  listen: 127.0.0.1:0\nstore:\n  path: x.db\n");
  const CliRun run = Consentctl(dir, "check-config '" + file + "'");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.out, file + ": OK\n");
  EXPECT_EQ(run.err, "");
}

TEST(ConfigCheckConfigCli, InvalidConfigPrintsEveryErrorAndExitsOne) {
  TempDir dir;
  const std::string file = dir.Write(
      "c.yaml", "http:\n  listn: 127.0.0.1:0\nstore:\n  path: x.db\nlog:\n  format: xml\n");
  const CliRun run = Consentctl(dir, "check-config '" + file + "'");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, file + ":2:3: unknown key 'listn' in 'http' (did you mean 'listen'?)\n" +
                         file + ":6:11: expected one of text, json, got \"xml\"\n");
}

TEST(ConfigCheckConfigCli, MissingFileExitsOne) {
  TempDir dir;
  const CliRun run = Consentctl(dir, "check-config '" + dir.path() + "/absent.yaml'");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("absent.yaml: cannot open: No such file or directory"));
}

TEST(ConfigCheckConfigCli, NoFileArgumentIsAUsageError) {
  TempDir dir;
  const CliRun run = Consentctl(dir, "check-config");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("usage: consentctl check-config FILE"));
}

TEST(ConfigCheckConfigCli, ExtraArgumentIsAUsageError) {
  TempDir dir;
  const std::string file = dir.Write("c.yaml", "store:\n  path: x.db\n");
  const CliRun run = Consentctl(dir, "check-config '" + file + "' '" + file + "'");
  EXPECT_EQ(run.exit_code, 2);
}

TEST(ConfigCheckConfigCli, DemoConfigPasses) {
  TempDir dir;
  const std::string file = CONSENTD_SOURCE_DIR "/config/demo/consentd.yaml";
  const CliRun run = Consentctl(dir, "check-config '" + file + "'");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, file + ": OK\n");
}

class ConfigCheckConfigCliExample : public ::testing::TestWithParam<const char*> {};

TEST_P(ConfigCheckConfigCliExample, MappingExamplePassesWithoutWarnings) {
  TempDir dir;
  TempDir creds;
  WriteExampleCredentials(creds);
  const std::string file = std::string(CONSENTD_SOURCE_DIR "/config/examples/") + GetParam();
  const CliRun run = Consentctl(dir, "check-config '" + file + "'", creds.path());
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, file + ": OK\n");
  EXPECT_EQ(run.err, "");
}

INSTANTIATE_TEST_SUITE_P(Examples, ConfigCheckConfigCliExample,
                         ::testing::Values("hubspot-mailchimp.yaml", "generic-crm-mailchimp.yaml",
                                           "bsi-crm-studio.yaml", "hubspot-generic-journey.yaml"));

TEST(ConfigCheckConfigCli, MappingErrorsAreReportedAtTheirPositionAmongTheOthers) {
  TempDir dir;
  const std::string file = dir.Write("c.yaml",
                                     "http:\n"
                                     "  listen: 127.0.0.1\n"
                                     "store:\n"
                                     "  path: x.db\n"
                                     "mapping:\n"
                                     "  systems:\n"
                                     "    crm: {kind: hubspot, role: crm}\n"
                                     "    mc: {kind: mailchimp, role: journey}\n"
                                     "  channels:\n"
                                     "    email: {crm: EMAIL, mc: email}\n"
                                     "  topics:\n"
                                     "    - name: newsletter\n"
                                     "      chanels: [email]\n"
                                     "log:\n"
                                     "  level: loud\n");
  const CliRun run = Consentctl(dir, "check-config '" + file + "'");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err,
            file +
                ":2:11: expected \"ADDRESS:PORT\", e.g. \"127.0.0.1:8470\" or \"[::1]:8470\", got "
                "\"127.0.0.1\"\n" +
                file +
                ":13:7: unknown key 'chanels' in 'mapping.topics[]' (did you mean "
                "'channels'?)\n" +
                file +
                ":15:10: expected one of trace, debug, info, warn, error, critical, off, "
                "got \"loud\"\n");
}

TEST(ConfigCheckConfigCli, MappingWarningsArePrintedAndTheFileIsValid) {
  TempDir dir;
  const std::string file = dir.Write("c.yaml",
                                     "store:\n"
                                     "  path: x.db\n"
                                     "mapping:\n"
                                     "  systems:\n"
                                     "    crm: {kind: hubspot, role: crm}\n"
                                     "    mc: {kind: mailchimp, role: journey}\n"
                                     "  channels:\n"
                                     "    email: {crm: EMAIL, mc: email}\n"
                                     "  topics:\n"
                                     "    - name: newsletter\n"
                                     "      channels: [email]\n"
                                     "      systems:\n"
                                     "        crm: {subscriptions: {email: 1011}}\n"
                                     "  erasure:\n"
                                     "    crm: {mode: delete}\n");
  const CliRun run = Consentctl(dir, "check-config '" + file + "'");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.out, file + ": OK\n");
  EXPECT_EQ(run.err,
            file + ":6:5: warning: no erasure mode for system 'mc': it defaults to delete\n");
}

}  // namespace
}  // namespace consentd::config
