// Helpers for the store tests: a real temporary directory on disk and a
// store opened in it.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/sqlite_store.h"

namespace consentd::store::testing {

// A fresh directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "consentd-store-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::unique_ptr<SqliteStore> OpenOrDie(SqliteStoreOptions options) {
  Result<std::unique_ptr<SqliteStore>> s = SqliteStore::Open(std::move(options));
  if (!s.ok()) {
    ADD_FAILURE() << s.status().ToString();
    return nullptr;
  }
  return std::move(*s);
}

inline std::unique_ptr<SqliteStore> OpenOrDie(const std::string& path) {
  SqliteStoreOptions options;
  options.path = path;
  return OpenOrDie(std::move(options));
}

inline InboxRow Event(std::string source, std::string id, TimestampMs at = 1000) {
  return InboxRow{std::move(source), std::move(id), at, "{}"};
}

}  // namespace consentd::store::testing
