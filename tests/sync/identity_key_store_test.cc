// sync::OpenIdentityKey: a store accepts only the identity key its keyed
// hashes were made with, and a lost key is never silently replaced by a
// new one (real SQLite, real key files).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../store/store_test_util.h"
#include "core/keyed_hash.h"
#include "sync/sync_engine.h"

namespace consentd::sync {
namespace {

using store::testing::OpenOrDie;
using store::testing::TempDir;

constexpr TimestampMs kNow = 1'700'000'000'000;

class IdentityKeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(dir_.File("s.db"));
    ASSERT_NE(store_, nullptr);
  }

  Result<std::string> Open(IdentityKeyUse use) {
    Result<std::string> key = Internal("not run");
    Status s = store_->Run([&](store::Transaction& txn) -> Status {
      key = OpenIdentityKey(txn, key_path_, use, kNow);
      return Status::Ok();
    });
    if (!s.ok()) return s;
    return key;
  }

  std::optional<std::string> StoredCheck() {
    std::optional<std::string> check;
    Status s = store_->Run([&](store::Transaction& txn) -> Status {
      Result<std::optional<std::string>> c = txn.GetCursor(kIdentityKeyCheckCursor);
      if (!c.ok()) return c.status();
      check = *c;
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return check;
  }

  void AddTombstone() {
    Status s = store_->Run([](store::Transaction& txn) -> Status {
      return txn.AddTombstone(store::TombstoneRow{"ab12", kNow});
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  TempDir dir_;
  std::string key_path_ = dir_.File("identity.key");
  std::unique_ptr<store::SqliteStore> store_;
};

TEST_F(IdentityKeyStoreTest, FirstOpenCreatesTheKeyAndBindsTheStoreToIt) {
  Result<std::string> first = Open(IdentityKeyUse::kCreateAndBind);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(std::filesystem::exists(key_path_));
  Result<std::string> check = IdentityKeyCheck(*first);
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->size(), 32u);
  EXPECT_EQ(StoredCheck(), *check);
  // Another key, another check.
  EXPECT_NE(*IdentityKeyCheck("another key of thirty-two bytes!"), *check);

  Result<std::string> again = Open(IdentityKeyUse::kCreateAndBind);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *first);
}

TEST_F(IdentityKeyStoreTest, AnotherKeyAtThePathIsRefusedNamingBothChecks) {
  ASSERT_TRUE(Open(IdentityKeyUse::kCreateAndBind).ok());
  const std::optional<std::string> bound = StoredCheck();
  ASSERT_TRUE(bound.has_value());
  std::filesystem::remove(key_path_);
  std::ofstream(key_path_) << "another key of thirty-two bytes!";

  for (IdentityKeyUse use :
       {IdentityKeyUse::kRead, IdentityKeyUse::kBind, IdentityKeyUse::kCreateAndBind}) {
    Result<std::string> key = Open(use);
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(key.status().message().find(key_path_), std::string::npos) << key.status().message();
    EXPECT_NE(key.status().message().find("(key check " + *bound + ")"), std::string::npos)
        << key.status().message();
  }
  EXPECT_EQ(StoredCheck(), bound) << "the store keeps the check of its own key";
}

TEST_F(IdentityKeyStoreTest, ALostKeyIsNotReplacedByANewOne) {
  ASSERT_TRUE(Open(IdentityKeyUse::kCreateAndBind).ok());
  std::filesystem::remove(key_path_);

  Result<std::string> key = Open(IdentityKeyUse::kCreateAndBind);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(key.status().message().find("does not exist"), std::string::npos)
      << key.status().message();
  EXPECT_NE(key.status().message().find("restore"), std::string::npos) << key.status().message();
  EXPECT_FALSE(std::filesystem::exists(key_path_));
}

// A store written before the check existed: its hashes alone forbid a new
// key. Without an address linked to check it against (here: a tombstone
// only), the key it is given is bound.
TEST_F(IdentityKeyStoreTest, AStoreWithHashesButNoCheckRefusesANewKeyAndBindsAnExistingOne) {
  AddTombstone();
  Result<std::string> refused = Open(IdentityKeyUse::kCreateAndBind);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(std::filesystem::exists(key_path_));

  std::ofstream(key_path_) << "the key the tombstone was made w";
  Result<std::string> read = Open(IdentityKeyUse::kRead);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(StoredCheck(), std::nullopt) << "a read binds nothing";
  Result<std::string> bound = Open(IdentityKeyUse::kBind);
  ASSERT_TRUE(bound.ok()) << bound.status().ToString();
  EXPECT_EQ(StoredCheck(), *IdentityKeyCheck(*bound));
}

// A store from before the check whose records are linked by address: the
// key is proven against those addresses' stored hashes before it is used
// or bound. A wrong one is refused by every use and binds nothing (bound,
// it could never be undone); the right one is bound.
TEST_F(IdentityKeyStoreTest, AStoreFromBeforeTheCheckAcceptsOnlyTheKeyItsAddressesWereHashedWith) {
  const std::string right = "the key the addresses were made w";
  Status s = store_->Run([&](store::Transaction& txn) -> Status {
    Result<std::string> hash = IdentifierHash(right, IdentifierKind::kEmail, "ann@example.org");
    if (!hash.ok()) return hash.status();
    CONSENTD_RETURN_IF_ERROR(txn.LinkEmailHash("s-1", *hash, kNow));
    return txn.LinkSystemId({"s-1", "hubspot", "101", kNow, "ann@example.org"});
  });
  ASSERT_TRUE(s.ok()) << s.ToString();

  std::ofstream(key_path_) << "a key some restore left behind!!";
  for (IdentityKeyUse use :
       {IdentityKeyUse::kRead, IdentityKeyUse::kBind, IdentityKeyUse::kCreateAndBind}) {
    Result<std::string> key = Open(use);
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(key.status().message().find("none of 1 addresses its records are linked by is "
                                          "known under it"),
              std::string::npos)
        << key.status().message();
  }
  EXPECT_EQ(StoredCheck(), std::nullopt) << "a refused key is not bound";

  std::filesystem::remove(key_path_);
  std::ofstream(key_path_) << right;
  Result<std::string> bound = Open(IdentityKeyUse::kBind);
  ASSERT_TRUE(bound.ok()) << bound.status().ToString();
  EXPECT_EQ(StoredCheck(), *IdentityKeyCheck(right));
}

TEST_F(IdentityKeyStoreTest, AnEmptyStoreWithoutAKeyIsNotFoundUnlessAKeyMayBeMade) {
  for (IdentityKeyUse use : {IdentityKeyUse::kRead, IdentityKeyUse::kBind}) {
    Result<std::string> key = Open(use);
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.status().code(), StatusCode::kNotFound) << key.status().ToString();
  }
  EXPECT_FALSE(std::filesystem::exists(key_path_));
  EXPECT_EQ(StoredCheck(), std::nullopt);
}

}  // namespace
}  // namespace consentd::sync
