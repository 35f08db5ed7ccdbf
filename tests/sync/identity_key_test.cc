// The identity key: created once (32 random bytes, 0600), then read as is.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "sync/sync_engine.h"

namespace consentd::sync {
namespace {

class KeyDir {
 public:
  KeyDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "consentd-sync-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~KeyDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

TEST(SyncIdentityKey, IsCreatedOnceWithOwnerOnlyModeAndThenReadAsIs) {
  KeyDir dir;
  const std::string path = dir.File("identity.key");
  Result<std::string> first = LoadOrCreateIdentityKey(path);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->size(), 32u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  Result<std::string> again = LoadOrCreateIdentityKey(path);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *first);

  Result<std::string> other = LoadOrCreateIdentityKey(dir.File("other.key"));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, *first) << "keys must be random";
}

TEST(SyncIdentityKey, ShortKeyIsRejectedNamingThePath) {
  KeyDir dir;
  const std::string path = dir.File("short.key");
  std::ofstream(path) << "tooshort";
  Result<std::string> key = LoadOrCreateIdentityKey(path);
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.status().message().find(path), std::string::npos) << key.status().message();
}

TEST(SyncIdentityKey, UnwritableDirectoryIsAnErrorNamingThePath) {
  const std::string path = "/nonexistent-consentd-dir/identity.key";
  Result<std::string> key = LoadOrCreateIdentityKey(path);
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.status().message().find("/nonexistent-consentd-dir"), std::string::npos);
}

}  // namespace
}  // namespace consentd::sync
