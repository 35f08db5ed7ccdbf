// `*_file` secrets: where a name resolves, and that the file is checked at
// load time (at the key's position) without its content ever surfacing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "config/config.h"
#include "tests/config/temp_dir.h"

namespace consentd::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

constexpr char kSecret[] = "s3cr3t-token-value";

std::string AdminConfig(const std::string& token_file) {
  return "store:\n  path: db\nadmin:\n  token_file: " + token_file + "\n";
}

TEST(ConfigSecrets, BareNameResolvesAgainstCredentialsDirectory) {
  TempDir creds;
  const std::string token = creds.Write("admin-token", kSecret);
  TempDir etc;
  auto r =
      LoadConfigFile(etc.Write("c.yaml", AdminConfig("admin-token")), LoadOptions{creds.path()});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->admin.token_file, token);
}

TEST(ConfigSecrets, BareNameWithoutCredentialsDirectoryResolvesAgainstConfigDirectory) {
  TempDir etc;
  const std::string token = etc.Write("admin-token", kSecret);
  auto r = LoadConfigFile(etc.Write("c.yaml", AdminConfig("admin-token")), LoadOptions{});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->admin.token_file, token);
}

TEST(ConfigSecrets, PathWithSlashIgnoresCredentialsDirectory) {
  TempDir creds;
  creds.Write("secrets/admin-token", "other");
  TempDir etc;
  const std::string token = etc.Write("secrets/admin-token", kSecret);
  auto r = LoadConfigFile(etc.Write("c.yaml", AdminConfig("secrets/admin-token")),
                          LoadOptions{creds.path()});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->admin.token_file, token);
}

TEST(ConfigSecrets, AbsolutePathIsUsedAsGiven) {
  TempDir etc;
  const std::string token = etc.Write("t", kSecret);
  auto r = LoadConfigFile(etc.Write("c.yaml", AdminConfig(token)), LoadOptions{"/elsewhere"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->admin.token_file, token);
}

TEST(ConfigSecrets, MissingCredentialIsReportedAtTheValue) {
  TempDir creds;
  TempDir etc;
  const std::string file = etc.Write("c.yaml", AdminConfig("admin-token"));
  auto r = LoadConfigFile(file, LoadOptions{creds.path()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            file + ":4:15: cannot use secret file 'admin-token' in $CREDENTIALS_DIRECTORY (" +
                creds.path() + "/admin-token): No such file or directory");
}

// On the host (consentctl, consentd --check-config) systemd has set no
// $CREDENTIALS_DIRECTORY: a missing bare name says where it was looked for
// and how to point at the unit's credential files. A path says nothing more.
TEST(ConfigSecrets, AMissingBareNameOutsideSystemdSaysHowToFindTheCredentials) {
  TempDir etc;
  const std::string file = etc.Write("c.yaml", AdminConfig("admin-token"));
  auto r = LoadConfigFile(file, LoadOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr(file + ":4:15: cannot use secret file 'admin-token' (" + etc.path() +
                        "/admin-token): No such file or directory (a bare name is looked up in "
                        "$CREDENTIALS_DIRECTORY"));
  EXPECT_THAT(r.status().message(), HasSubstr("CREDENTIALS_DIRECTORY=<the directory of the unit's "
                                              "LoadCredential= files>"));
  auto path =
      LoadConfigFile(etc.Write("p.yaml", AdminConfig("secrets/admin-token")), LoadOptions{});
  ASSERT_FALSE(path.ok());
  EXPECT_THAT(path.status().message(), Not(HasSubstr("CREDENTIALS_DIRECTORY")));
}

TEST(ConfigSecrets, DirectoryIsNotASecretFile) {
  TempDir etc;
  etc.Write("dir/x", "");
  auto r = LoadConfigFile(etc.Write("c.yaml", AdminConfig("dir/")), LoadOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr(":4:15: cannot use secret file 'dir/'"));
  EXPECT_THAT(r.status().message(), HasSubstr("not a regular file"));
}

// consentd would refuse an empty secret at start; the loader says so at
// the key, with its position, so check-config and a reload catch it too.
TEST(ConfigSecrets, AnEmptySecretFileIsReportedAtTheValue) {
  TempDir etc;
  for (const char* content : {"", "\n", "\r\n", "\n\n\n", "\r\n\r\n"}) {
    etc.Write("admin-token", content);
    const std::string file = etc.Write("c.yaml", AdminConfig("admin-token"));
    auto r = LoadConfigFile(file, LoadOptions{});
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.status().message(), HasSubstr(":4:15: cannot use secret file 'admin-token'"));
    EXPECT_THAT(r.status().message(), HasSubstr("it is empty"));
  }
}

// A secret file any user of the machine can read is named at its key, as a
// warning (who else logs in there is the operator's to judge); 0640 is the
// usual root:consentd mode and passes.
TEST(ConfigSecrets, ASecretFileOtherUsersCanReadOrWriteIsAWarningAtTheValue) {
  namespace fs = std::filesystem;
  TempDir etc;
  const std::string token = etc.Write("admin-token", kSecret);
  const std::string file = etc.Write("c.yaml", AdminConfig("admin-token"));
  const struct {
    fs::perms mode;
    const char* warning;
  } cases[] = {
      {fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
           fs::perms::others_read,
       "can be read by every user of this machine (mode 0644)"},
      {fs::perms::owner_read | fs::perms::others_write,
       "can be written by every user of this "
       "machine (mode 0402)"},
      {fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read, nullptr},
  };
  for (const auto& c : cases) {
    fs::permissions(token, c.mode);
    auto r = LoadConfigFile(file, LoadOptions{});
    ASSERT_TRUE(r.ok()) << r.status().message();
    if (c.warning == nullptr) {
      EXPECT_THAT(r->warnings, ::testing::IsEmpty());
      continue;
    }
    ASSERT_EQ(r->warnings.size(), 1u);
    EXPECT_THAT(r->warnings[0], HasSubstr(file + ":4:15: warning: secret file 'admin-token'"));
    EXPECT_THAT(r->warnings[0], HasSubstr(c.warning));
    EXPECT_THAT(r->warnings[0], Not(HasSubstr(kSecret)));
  }
}

TEST(ConfigSecrets, ErrorsNeverContainTheSecret) {
  TempDir etc;
  etc.Write("admin-token", kSecret);
  // A load that fails elsewhere after reading a valid token_file.
  auto r = LoadConfigFile(etc.Write("c.yaml", AdminConfig("admin-token") + "log:\n  level: x\n"),
                          LoadOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), Not(HasSubstr(kSecret)));
}

TEST(ConfigSecrets, LoadConfigFileReadsCredentialsDirectoryFromEnvironment) {
  TempDir creds;
  const std::string token = creds.Write("admin-token", kSecret);
  TempDir etc;
  const std::string file = etc.Write("c.yaml", AdminConfig("admin-token"));
  ::setenv("CREDENTIALS_DIRECTORY", creds.path().c_str(), 1);
  auto r = LoadConfigFile(file);
  const std::string resolved = ResolveSecretPath("admin-token", etc.path());
  ::unsetenv("CREDENTIALS_DIRECTORY");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->admin.token_file, token);
  EXPECT_EQ(resolved, token);
  EXPECT_EQ(ResolveSecretPath("admin-token", etc.path()), etc.path() + "/admin-token");
}

TEST(ConfigSecrets, LoadSecretDropsOneTrailingNewline) {
  TempDir dir;
  EXPECT_EQ(LoadSecret(dir.Write("a", "abc\n")).value(), "abc");
  EXPECT_EQ(LoadSecret(dir.Write("b", "abc\r\n")).value(), "abc");
  EXPECT_EQ(LoadSecret(dir.Write("c", "abc\n\n")).value(), "abc\n");
  EXPECT_EQ(LoadSecret(dir.Write("d", "abc")).value(), "abc");
}

TEST(ConfigSecrets, LoadSecretErrorsNameThePathNotTheContent) {
  TempDir dir;
  auto empty = LoadSecret(dir.Write("empty", "\n"));
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr(dir.path() + "/empty is empty"));
  auto missing = LoadSecret(dir.path() + "/absent");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr(dir.path() + "/absent"));
}

}  // namespace
}  // namespace consentd::config
