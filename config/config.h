// The daemon's configuration: typed, validated, immutable once loaded.
//
// LoadConfigFile parses YAML into Config and validates every value; on any
// error it returns InvalidArgument whose message is one or more lines of
// "FILE:LINE:COLUMN: message" (unknown keys carry a "did you mean" hint).
// A Config holding only `http` and `store` is valid. Secrets are never
// inline: keys ending in `_file` name a file, and a bare file name is
// resolved against $CREDENTIALS_DIRECTORY (systemd LoadCredential=).
//
// Thread-safety: a loaded Config is a value; share it as
// shared_ptr<const Config> and swap the pointer on reload.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/status.h"

namespace consentd::config {

struct HttpConfig {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8470;             // http.listen: "ADDRESS:PORT"
  std::size_t body_limit_bytes = 1 << 20;
  std::size_t max_connections = 1024;
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds idle_timeout{30000};
};

struct StoreConfig {
  std::string path;                      // SQLite database file (required)
};

enum class LogFormat { kText, kJson };

struct LogConfig {
  std::string level = "info";            // trace|debug|info|warn|error|critical|off
  LogFormat format = LogFormat::kText;
};

struct AdminConfig {
  std::string token_file;                // resolved path; empty: admin API off
};

struct Config {
  std::string source_path;               // the file it was loaded from
  HttpConfig http;
  StoreConfig store;
  LogConfig log;
  AdminConfig admin;
  std::chrono::milliseconds shutdown_deadline{10000};
};

// Loads and validates `path`. Never partially succeeds.
Result<Config> LoadConfigFile(const std::string& path);

// Same, from text (tests); `name` stands in for the file name in errors.
Result<Config> LoadConfigString(const std::string& yaml, const std::string& name);

// Resolves a `*_file` value: absolute or ./relative paths as given; a bare
// name against $CREDENTIALS_DIRECTORY when set, else against `base_dir`.
std::string ResolveSecretPath(const std::string& value, const std::string& base_dir);

}  // namespace consentd::config
