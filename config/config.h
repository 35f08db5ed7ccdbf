// The daemon's configuration: typed, validated, immutable once loaded.
//
// LoadConfigFile parses YAML into Config and validates every value; on any
// error it returns InvalidArgument whose message is every error found, one
// per line, "FILE:LINE:COLUMN: message", sorted by position (unknown keys
// carry a "did you mean" hint). A Config holding only `http` and `store` is
// valid. Relative paths (store.path, *_file with a '/') resolve against the
// directory of the config file, never the working directory. Secrets are
// never inline: keys ending in `_file` name a file, and a bare file name is
// resolved against $CREDENTIALS_DIRECTORY (systemd LoadCredential=); the file
// must exist and be readable at load time, and its content is never read
// or printed by the loader. docs/configuration.md is the reference.
//
// The `mapping:` section is read by mapping::ReadMapping (mapping/loader.h,
// docs/mapping.md) into Config::mapping with the same Diagnostics, so its
// errors sort in with the rest and its warnings land in Config::warnings.
//
// `connectors:` and `sync:` are read by config/connectors_section.cc: a
// connector's keys are checked against its kind (and take its kind's
// rate-limit defaults), and after the whole file is read, connectors and
// mapping.systems must pair up by name and kind (connectors without a
// mapping are an error; a mapping without connectors is checked alone).
//
// Thread-safety: a loaded Config is a value; share it as
// shared_ptr<const Config> and swap the pointer on reload.
//
// Adding a section: a struct here, a Section<T> table in config.cc (see the
// toolkit in config/yaml_reader.h), one field in the root table, then the
// schema (config/consentd.schema.json) and docs; tests/config checks all
// three agree.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/generic_connector_config.h"
#include "core/proof/key_file.h"
#include "core/status.h"
#include "mapping/spec.h"

namespace consentd::config {

struct HttpConfig {
  std::string address = "127.0.0.1";  // IP literal, no brackets
  std::uint16_t port = 8470;          // http.listen: "ADDRESS:PORT"; 0 = any free port
  std::size_t body_limit_bytes = 1 << 20;
  std::size_t max_connections = 1024;
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds idle_timeout{30000};
  // A webhook not stored by then is answered 503 + Retry-After (below
  // HubSpot's ~5 s timeout for its webhook calls).
  std::chrono::milliseconds webhook_ack_deadline{4000};
};

struct StoreConfig {
  std::string path;  // SQLite database file (required), absolute
};

enum class LogFormat { kText, kJson };

struct LogConfig {
  std::string level = "info";  // trace|debug|info|warn|error|critical|off
  LogFormat format = LogFormat::kText;
};

struct AdminConfig {
  std::string token_file;  // resolved path; empty: admin API off
};

// `proof_log:` (DESIGN.md §4). The signing key file is created (0600) on
// first start if absent, so unlike other `*_file` keys a missing file is not
// an error; its directory must exist.
struct ProofLogConfig {
  // Resolved like every `*_file`; default proof_signing.key beside
  // store.path (proof::DefaultSigningKeyPath). consentd and consentctl both
  // read the key path from here: this is the one resolution.
  std::string signing_key_file;
  std::string origin = std::string(proof::kDefaultLogOrigin);  // name of a new key
  std::uint64_t checkpoint_every_entries = 1000;
  std::chrono::milliseconds checkpoint_interval{60000};
};

// `connectors.<name>:` one connector instance (issue #5). The name is the
// one the mapping's `systems:` uses and the webhook path's last segment
// (POST /webhooks/<name>). Secrets are `*_file` keys (resolved paths).
struct ConnectorRateLimit {
  int requests = 0;  // per `interval`; 0 = unlimited
  std::chrono::milliseconds interval{1000};
  int max_in_flight = 0;  // 0 = unlimited
  // Search calls also count in this window (HubSpot: 4 per second); 0 = none.
  int search_requests = 0;
  std::chrono::milliseconds search_interval{1000};
};

struct ConnectorConfig {
  std::string name;
  mapping::ConnectorKind kind = mapping::ConnectorKind::kGeneric;
  std::string base_url;  // "https://api.hubapi.com"; tests: consentd-sim
  // hubspot
  std::string token_file;          // private-app token (Bearer)
  std::string client_secret_file;  // verifies webhook signature v3
  // mailchimp
  std::string api_key_file;         // "<key>-<dc>"
  std::string list_id;              // the audience
  std::string webhook_secret_file;  // the `secret` query parameter of the webhook URL
  // The public URL the system calls for webhooks (HubSpot signs the full
  // URL); empty: http://<Host header><request target>.
  std::string webhook_url;
  std::chrono::milliseconds poll_interval{60000};  // 0 = no polling
  std::chrono::milliseconds poll_overlap{5000};    // re-read this far back
  std::chrono::milliseconds request_timeout{10000};
  ConnectorRateLimit rate_limit;  // defaults per kind (docs/configuration.md)
  int batch_size = 0;             // 0 = the API's maximum
  // generic: the declaration (docs/connectors-generic.md)
  GenericConnectorConfig generic;
  config::Position at;
};

// `sync:` how the engine runs (issue #5).
struct SyncConfig {
  // Inbox rows (webhook ids) are kept this long, longer than any sender's
  // retry window (HubSpot retries for about a day), so a late retry is
  // still recognised as a duplicate.
  std::chrono::milliseconds inbox_retention{72 * 3600 * 1000LL};
  std::chrono::milliseconds retry_base{1000};
  std::chrono::milliseconds retry_cap{300000};
  int max_attempts = 12;  // then dead letter
  // Full reconciliation of both systems against the canonical state;
  // 0 = only on `consentctl resync`.
  std::chrono::milliseconds resync_interval{24 * 3600 * 1000LL};
  // Key of the identifier hashes (tombstones, e-mail links). Created 0600
  // on first start if absent; default identity.key beside store.path
  // (DefaultIdentityKeyPath).
  std::string identity_key_file;
  // The erasure ledger (store/erasure_ledger.h): every erasure's pseudonym
  // and tombstones, appended outside the database, so that a restore from
  // a backup re-applies the erasures made since. Default erasures.ledger
  // beside store.path (DefaultErasureLedgerPath); another volume survives
  // the loss of the database's disk.
  std::string erasure_ledger_file;
  // Where each key was written in the file (the key "" is the `sync:` key
  // itself), for messages about a key that needs a restart.
  std::map<std::string, Position> keys_at;
};

// `privacy.export_delivery:` (issue #7): where an access export is POSTed,
// signed per Standard Webhooks, when an operator asks for a delivery
// (POST /api/v1/subjects/export/deliveries). No url: delivery is off.
struct ExportDeliveryConfig {
  std::string url;          // http(s) endpoint, e.g. a journey step that mails it
  std::string secret_file;  // resolved path of the "whsec_<base64>" signing secret
  std::chrono::milliseconds timeout{10000};  // per attempt
};

struct PrivacyConfig {
  ExportDeliveryConfig export_delivery;
};

struct Config {
  std::string source_path;  // the file it was loaded from
  std::string source_text;  // its text, for positions reported after the load
  std::string base_dir;     // absolute directory relative paths resolve against
  HttpConfig http;
  StoreConfig store;
  LogConfig log;
  AdminConfig admin;
  ProofLogConfig proof_log;
  std::chrono::milliseconds shutdown_deadline{10000};  // shutdown.deadline
  std::map<std::string, ConnectorConfig> connectors;   // by name
  config::Position connectors_at;                      // of the `connectors:` key (0:0 without one)
  SyncConfig sync;
  PrivacyConfig privacy;
  // `mapping:` (docs/mapping.md), validated by mapping::ReadMapping. Optional
  // in the file: without it has_mapping is false and `mapping` is empty.
  bool has_mapping = false;
  mapping::MappingSpec mapping;
  // Non-fatal findings, formatted like errors ("FILE:LINE:COLUMN: warning: ..."),
  // the mapping's included.
  std::vector<std::string> warnings;

  // "FILE:LINE:COLUMN" of a position in the file (column in characters, as
  // the load's own errors), or "FILE" for no position.
  std::string Where(Position at) const;
};

struct LoadOptions {
  // Where bare `*_file` names resolve; empty: against the config's directory.
  std::string credentials_directory;
  // Reads $CREDENTIALS_DIRECTORY.
  static LoadOptions FromEnvironment();
};

// sync.identity_key_file when the configuration does not set it: beside
// the database.
std::string DefaultIdentityKeyPath(const std::string& store_path);
// sync.erasure_ledger_file when the configuration does not set it.
std::string DefaultErasureLedgerPath(const std::string& store_path);

// Loads and validates `path`. Never partially succeeds.
Result<Config> LoadConfigFile(const std::string& path);
Result<Config> LoadConfigFile(const std::string& path, const LoadOptions& options);

// Same, from text (tests); `name` stands in for the file name in errors, and
// relative paths resolve against name's directory (the working directory
// when it has none).
Result<Config> LoadConfigString(const std::string& yaml, const std::string& name);
Result<Config> LoadConfigString(const std::string& yaml, const std::string& name,
                                const LoadOptions& options);

// Resolves a `*_file` value: an absolute path as given; a path containing a
// '/' against `base_dir`; a bare name against $CREDENTIALS_DIRECTORY when
// set, else against `base_dir`. Does not touch the file.
std::string ResolveSecretPath(const std::string& value, const std::string& base_dir);

// Reads a secret from a file named by a `*_file` key (already resolved by
// the loader): its content less one trailing "\n" or "\r\n". Errors name
// the path, never the content. Call it when the secret is needed (e.g. at
// start and reload), not at every use. `accept_streams`: also a FIFO such
// as `<(pass show …)`, for a file given on consentctl's command line only.
Result<std::string> LoadSecret(const std::string& path, bool accept_streams = false);

// Every key path the loader accepts, from the loader's own tables, e.g.
// "http", "http.listen", ... (lists as "x[].y", named maps as "x.*.y").
std::vector<std::string> AcceptedKeyPaths();
// The subset that must be present where its parent is ("store", "store.path").
std::vector<std::string> RequiredKeyPaths();

}  // namespace consentd::config
