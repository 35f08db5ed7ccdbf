// Usage errors exit 2 in every consentctl command: those the parser finds
// (an unknown option) and those a command finds checking its own options
// (neither --db nor --config, one of two options, an option another needs).
// Nothing is opened or created when the options are wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/child_process.h"

namespace consentd::cli {
namespace {

using ::testing::HasSubstr;

// A fresh directory for the files a usage error must not create.
std::string ScratchDir() {
  std::string dir = (std::filesystem::temp_directory_path() / "cli_usage_XXXXXX").string();
  EXPECT_NE(::mkdtemp(dir.data()), nullptr);
  return dir;
}

TEST(CliUsage, EveryCommandThatOpensTheStoreWithoutItExitsTwoAndSaysWhatToGive) {
  const std::vector<std::vector<std::string>> commands = {
      {"verify"},
      {"log", "key"},
      {"log", "checkpoint"},
      {"log", "prove", "--seq", "0"},
      {"log", "check-proof", "bundle.tlog-proof"},
      {"dlq", "list"},
      {"dlq", "replay", "--all"},
      {"erasures"},
      {"erasures", "mark-manual", "--id", "1", "--target", "mailchimp"},
      {"explain", "--email", "ann@example.org"},
      {"export", "--email", "ann@example.org"},
      {"export", "--email", "ann@example.org", "--db", "x.db"},
  };
  const std::string dir = ScratchDir();
  for (const auto& args : commands) {
    const testing::CommandResult r = testing::RunConsentctl(args, dir);
    const std::string name = ::testing::PrintToString(args);
    EXPECT_EQ(r.exit_code, 2) << name << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("give --")) << name;
    EXPECT_THAT(r.output, HasSubstr("--help")) << name;
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "a usage error created a file in " << dir;
}

// `consentctl --version` answers like `consentctl version` (and `consentd
// --version`): exit 0, not a usage error.
TEST(CliUsage, VersionFlagPrintsTheVersionAndExitsZero) {
  const std::string dir = ScratchDir();
  const testing::CommandResult flag = testing::RunConsentctl({"--version"}, dir);
  const testing::CommandResult command = testing::RunConsentctl({"version"}, dir);
  EXPECT_EQ(flag.exit_code, 0) << flag.output;
  EXPECT_EQ(command.exit_code, 0) << command.output;
  EXPECT_THAT(flag.output, HasSubstr("consentctl "));
  EXPECT_EQ(flag.output, command.output);
}

// Output that cannot be written (a full disk under `> file`) is a failure,
// exit 1 with the reason, never a 0 that leaves a script with a truncated
// file.
TEST(CliUsage, OutputThatCannotBeWrittenExitsOne) {
  const std::string cmd = testing::ConsentctlBinary() + " version 2>&1 >/dev/full";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string err;
  char buf[512];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) err.append(buf, n);
  const int status = ::pclose(p);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1) << err;
  EXPECT_THAT(err, HasSubstr("writing the output failed"));
}

// An address or note that is not UTF-8 (a Latin-1 terminal) cannot go into
// a JSON request or the store's JSON views: a usage error naming the
// option, before anything is opened or sent, never an abort.
TEST(CliUsage, TextThatIsNotUtf8IsAUsageErrorNamingTheOption) {
  const std::string dir = ScratchDir();
  const std::string latin1 = "m\xfcller@example.de";
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"erase", "--email", latin1, "--config", "c.yaml"},
           {"export", "--deliver", "--email", latin1, "--config", "c.yaml"},
           {"export", "--email", latin1, "--db", "x.db", "--identity-key", "k"},
           {"explain", "--email", latin1, "--db", "x.db"},
           {"explain", "--email", "a@example.org", "--topic", "n\xe9ws", "--db", "x.db"},
           {"export", "--subject", "s-\xe9", "--db", "x.db", "--identity-key", "k"},
           {"erasures", "mark-manual", "--id", "1", "--target", "mailchimp", "--db", "x.db",
            "--note", "Herr M\xfcller"},
       }) {
    const testing::CommandResult r = testing::RunConsentctl(args, dir);
    const std::string name = ::testing::PrintToString(args);
    EXPECT_EQ(r.exit_code, 2) << name << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("not valid UTF-8")) << name;
    EXPECT_THAT(r.output, ::testing::AnyOf(HasSubstr("--email"), HasSubstr("--note"),
                                           HasSubstr("--topic"), HasSubstr("--subject")))
        << name;
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "a usage error created a file in " << dir;
}

TEST(CliUsage, AChoiceOfOptionsACommandChecksItselfExitsTwo) {
  const std::string dir = ScratchDir();
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"export", "--db", "x.db", "--identity-key", "k"},
           {"export", "--email", "a@example.org", "--subject", "s-1", "--db", "x.db"},
           {"export", "--deliver"},
           {"export", "--deliver", "--email", "a@example.org", "--out", "a.json"},
           {"dlq", "replay", "--db", "x.db"},
           {"explain", "--db", "x.db"},
       }) {
    const testing::CommandResult r = testing::RunConsentctl(args, dir);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(args) << ": " << r.output;
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "a usage error created a file in " << dir;
  // The parser's own: an option no command has.
  EXPECT_EQ(testing::RunConsentctl({"dlq", "list", "--no-such-option"}).exit_code, 2);
}

}  // namespace
}  // namespace consentd::cli
