// The daemon's sections, as tables for the toolkit in config/yaml_reader.h.
// The tables are the single list of accepted keys (AcceptedKeyPaths()).
#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/connectors_section.h"
#include "config/diagnostics.h"
#include "config/generic_connector_section.h"
#include "config/open_quotes.h"
#include "config/yaml_reader.h"
#include "core/file_read.h"
#include "core/json_string.h"
#include "core/proof/note.h"
#include "mapping/loader.h"

namespace consentd::config {
namespace {

namespace fs = std::filesystem;
using internal::ConnectorsField;
using internal::FinishConnectorsAndSync;
using internal::SyncField;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;

constexpr std::array<std::string_view, 7> kLogLevels = {"trace", "debug",    "info", "warn",
                                                        "error", "critical", "off"};
constexpr std::array<std::string_view, 2> kLogFormats = {"text", "json"};

const Section<HttpConfig>& HttpSection() {
  static const Section<HttpConfig> s(
      "http",
      {
          Field<HttpConfig>{"listen", Presence::kOptional,
                            [](const YAML::Node& n, ReadContext& c, HttpConfig& out) {
                              if (auto a = ReadListenAddress(n, c)) {
                                out.address = a->address;
                                out.port = a->port;
                              }
                            }},
          ValueField<HttpConfig>("body_limit", Presence::kOptional, &HttpConfig::body_limit_bytes,
                                 [](const YAML::Node& n, ReadContext& c) {
                                   return ReadByteSize(n, c, 1, 1ULL << 30);
                                 }),
          ValueField<HttpConfig>(
              "max_connections", Presence::kOptional, &HttpConfig::max_connections,
              [](const YAML::Node& n, ReadContext& c) { return ReadInteger(n, c, 1, 100000); }),
          ValueField<HttpConfig>("read_timeout", Presence::kOptional, &HttpConfig::read_timeout,
                                 [](const YAML::Node& n, ReadContext& c) {
                                   return ReadDuration(n, c, milliseconds(1), hours(1));
                                 }),
          ValueField<HttpConfig>("idle_timeout", Presence::kOptional, &HttpConfig::idle_timeout,
                                 [](const YAML::Node& n, ReadContext& c) {
                                   return ReadDuration(n, c, milliseconds(1), hours(24));
                                 }),
          ValueField<HttpConfig>("webhook_ack_deadline", Presence::kOptional,
                                 &HttpConfig::webhook_ack_deadline,
                                 [](const YAML::Node& n, ReadContext& c) {
                                   return ReadDuration(n, c, milliseconds(100), minutes(5));
                                 }),
      });
  return s;
}

const Section<StoreConfig>& StoreSection() {
  static const Section<StoreConfig> s(
      "store",
      {
          ValueField<StoreConfig>("path", Presence::kRequired, &StoreConfig::path, ReadFilePath),
      });
  return s;
}

const Section<LogConfig>& LogSection() {
  static const Section<LogConfig> s(
      "log",
      {
          ValueField<LogConfig>(
              "level", Presence::kOptional, &LogConfig::level,
              [](const YAML::Node& n, ReadContext& c) { return ReadChoice(n, c, kLogLevels); }),
          Field<LogConfig>{"format", Presence::kOptional,
                           [](const YAML::Node& n, ReadContext& c, LogConfig& out) {
                             if (auto f = ReadChoice(n, c, kLogFormats)) {
                               out.format = *f == "json" ? LogFormat::kJson : LogFormat::kText;
                             }
                           }},
      });
  return s;
}

// The admin token: a short one is guessable, and the daemon refuses to
// start or reload with it (daemon/admin_api.cc); said here, at the key.
constexpr std::size_t kMinAdminTokenChars = 16;

std::optional<std::string> ReadAdminTokenFile(const YAML::Node& n, ReadContext& c) {
  std::optional<std::string> path = ReadSecretFile(n, c);
  if (!path) return path;
  if (Result<std::string> token = LoadSecret(*path);
      token.ok() && token->size() < kMinAdminTokenChars) {
    c.diag.Error(ValuePosition(n, c), "the admin token in " + *path + " has " +
                                          std::to_string(token->size()) +
                                          " characters; use at least 16 (e.g. openssl rand "
                                          "-hex 32 > FILE)");
  }
  return path;
}

const Section<AdminConfig>& AdminSection() {
  static const Section<AdminConfig> s(
      "admin", {
                   ValueField<AdminConfig>("token_file", Presence::kOptional,
                                           &AdminConfig::token_file, ReadAdminTokenFile),
               });
  return s;
}

// The signing key is generated on first start, so the file may be missing.
std::optional<std::string> ReadSigningKeyFile(const YAML::Node& n, ReadContext& c) {
  return ReadGeneratedKeyFile(n, c, "signing key file");
}

const Section<ProofLogConfig>& ProofLogSection() {
  static const Section<ProofLogConfig> s(
      "proof_log",
      {
          ValueField<ProofLogConfig>("signing_key_file", Presence::kOptional,
                                     &ProofLogConfig::signing_key_file, ReadSigningKeyFile),
          Field<ProofLogConfig>{"origin", Presence::kOptional,
                                [](const YAML::Node& n, ReadContext& c, ProofLogConfig& out) {
                                  auto o = ReadString(n, c, "a log origin");
                                  if (!o) return;
                                  if (!proof::ValidKeyName(*o)) {
                                    c.diag.Error(ValuePosition(n, c),
                                                 "expected a log origin without spaces or '+', "
                                                 "like \"example.com/consentd\", got \"" +
                                                     *o + "\"");
                                    return;
                                  }
                                  out.origin = *o;
                                }},
          ValueField<ProofLogConfig>(
              "checkpoint_every_entries", Presence::kOptional,
              &ProofLogConfig::checkpoint_every_entries,
              [](const YAML::Node& n, ReadContext& c) { return ReadInteger(n, c, 1, 1000000000); }),
          ValueField<ProofLogConfig>("checkpoint_interval", Presence::kOptional,
                                     &ProofLogConfig::checkpoint_interval,
                                     [](const YAML::Node& n, ReadContext& c) {
                                       return ReadDuration(n, c, milliseconds(1000), hours(24));
                                     }),
      });
  return s;
}

// An http:// or https:// URL for the export delivery; credentials in it
// are refused (the secret has its own file).
std::optional<std::string> ReadDeliveryUrl(const YAML::Node& n, ReadContext& c) {
  const std::string form = "an http:// or https:// URL, like \"https://journeys.example.com/hooks/export\"";
  auto url = ReadString(n, c, form);
  if (!url) return std::nullopt;
  const bool http = url->starts_with("http://") || url->starts_with("https://");
  const std::size_t host = url->find("//") + 2;
  if (!http || url->size() <= host) {
    c.diag.Error(ValuePosition(n, c),
                 "expected " + form + ", got \"" + UrlForMessages(*url) + "\"");
    return std::nullopt;
  }
  const std::string authority = url->substr(host, url->find_first_of("/?#", host) - host);
  if (authority.find('@') != std::string::npos) {
    c.diag.Error(ValuePosition(n, c),
                 "the URL must not carry credentials: the signing secret goes in secret_file");
    return std::nullopt;
  }
  // A host, a valid port, no spaces: as the connectors' URLs. The URL is
  // kept as written (a trailing '/' may matter to the receiver).
  if (!internal::ReadHttpUrlWithHost(n, c, /*allow_query=*/true)) return std::nullopt;
  return url;
}

const Section<ExportDeliveryConfig>& ExportDeliverySection() {
  static const Section<ExportDeliveryConfig> s(
      "privacy.export_delivery",
      {
          ValueField<ExportDeliveryConfig>("url", Presence::kRequired, &ExportDeliveryConfig::url,
                                           ReadDeliveryUrl),
          ValueField<ExportDeliveryConfig>(
              "secret_file", Presence::kRequired, &ExportDeliveryConfig::secret_file,
              [](const YAML::Node& n, ReadContext& c) {
                std::optional<std::string> path = ReadSecretFile(n, c);
                if (path) internal::CheckStandardWebhooksSecret(n, c, *path);  // signs deliveries
                return path;
              }),
          ValueField<ExportDeliveryConfig>("timeout", Presence::kOptional,
                                           &ExportDeliveryConfig::timeout,
                                           [](const YAML::Node& n, ReadContext& c) {
                                             return ReadDuration(n, c, milliseconds(100),
                                                                 minutes(5));
                                           }),
      });
  return s;
}

const Section<PrivacyConfig>& PrivacySection() {
  static const Section<PrivacyConfig> s(
      "privacy", {
                     SectionField<PrivacyConfig>("export_delivery", Presence::kOptional,
                                                 ExportDeliverySection(),
                                                 &PrivacyConfig::export_delivery),
                 });
  return s;
}

// `shutdown:` is a section in the file but one field of Config.
struct ShutdownConfig {
  milliseconds deadline{10000};
};

const Section<ShutdownConfig>& ShutdownSection() {
  static const Section<ShutdownConfig> s(
      "shutdown",
      {
          ValueField<ShutdownConfig>("deadline", Presence::kOptional, &ShutdownConfig::deadline,
                                     [](const YAML::Node& n, ReadContext& c) {
                                       return ReadDuration(n, c, milliseconds(0), minutes(10));
                                     }),
      });
  return s;
}

const Section<Config>& RootSection() {
  static const Section<Config> s(
      "", {
              SectionField<Config>("http", Presence::kOptional, HttpSection(), &Config::http),
              SectionField<Config>("store", Presence::kRequired, StoreSection(), &Config::store),
              SectionField<Config>("log", Presence::kOptional, LogSection(), &Config::log),
              SectionField<Config>("admin", Presence::kOptional, AdminSection(), &Config::admin),
              SectionField<Config>("proof_log", Presence::kOptional, ProofLogSection(),
                                   &Config::proof_log),
              Field<Config>{"shutdown", Presence::kOptional,
                            [](const YAML::Node& n, ReadContext& c, Config& out) {
                              ShutdownConfig shutdown{out.shutdown_deadline};
                              ShutdownSection().Read(n, c, shutdown);
                              out.shutdown_deadline = shutdown.deadline;
                            },
                            Shape::kMapping, &ShutdownSection()},
              ConnectorsField(),
              SyncField(),
              SectionField<Config>("privacy", Presence::kOptional, PrivacySection(),
                                   &Config::privacy),
              // Same Diagnostics as the rest: its errors and warnings are
              // sorted in with everyone else's.
              Field<Config>{"mapping", Presence::kOptional,
                            [](const YAML::Node& n, ReadContext& c, Config& out) {
                              mapping::ReadMapping(n, c, out.mapping);
                              out.has_mapping = true;
                            },
                            Shape::kMapping, &mapping::MappingKeys()},
          });
  return s;
}

std::string AbsoluteDir(const std::string& file) {
  std::error_code ec;
  fs::path dir = fs::path(file).parent_path();
  fs::path abs = fs::absolute(dir.empty() ? fs::path(".") : dir, ec);
  if (ec) return dir.empty() ? "." : dir.string();
  return abs.lexically_normal().string();
}

}  // namespace

std::string DefaultIdentityKeyPath(const std::string& store_path) {
  return (fs::path(store_path).parent_path() / "identity.key").string();
}

std::string DefaultErasureLedgerPath(const std::string& store_path) {
  return (fs::path(store_path).parent_path() / "erasures.ledger").string();
}

LoadOptions LoadOptions::FromEnvironment() {
  LoadOptions o;
  if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir != nullptr) {
    o.credentials_directory = dir;
  }
  return o;
}

namespace {

// The line of the second document's "---" (a line that starts with it
// after some content), for a second document whose node has no position.
Position SecondDocumentStart(std::string_view yaml) {
  int line = 1;
  bool content = false;
  for (size_t i = 0; i < yaml.size(); ++line) {
    const size_t end = std::min(yaml.find('\n', i), yaml.size());
    const std::string_view text = yaml.substr(i, end - i);
    if (text.starts_with("---")) {
      if (content) return {line, 1};
    } else if (!text.empty() && text.front() != '#') {
      content = true;
    }
    i = end + 1;
  }
  return {1, 1};
}

// The directory of store.path, resolved like ReadPath, for keys generated
// beside the database; empty if the file names none (the store section
// reports that). Looked up without operator[], which throws on absent keys
// of a const node.
std::string StoreDirectory(const YAML::Node& root, const std::string& base_dir) {
  if (!root.IsMap()) return {};
  for (auto section = root.begin(); section != root.end(); ++section) {
    if (!section->first.IsScalar() || section->first.Scalar() != "store" ||
        !section->second.IsMap()) {
      continue;
    }
    for (auto key = section->second.begin(); key != section->second.end(); ++key) {
      if (!key->first.IsScalar() || key->first.Scalar() != "path" || !key->second.IsScalar() ||
          key->second.Scalar().empty()) {
        continue;
      }
      fs::path p(key->second.Scalar());
      if (p.is_relative()) p = fs::path(base_dir) / p;
      return p.lexically_normal().parent_path().string();
    }
  }
  return {};
}

}  // namespace

Result<Config> LoadConfigString(const std::string& yaml, const std::string& name,
                                const LoadOptions& options) {
  Diagnostics diag(name);
  diag.SetText(yaml);
  ReadContext ctx{diag, AbsoluteDir(name), options.credentials_directory};
  Config config;
  config.source_path = name;
  config.source_text = yaml;
  config.base_dir = ctx.base_dir;
  if (!CheckUtf8(yaml, diag)) return diag.ToStatus();
  try {
    const std::vector<YAML::Node> documents = YAML::LoadAll(yaml);
    const YAML::Node root = documents.empty() ? YAML::Node() : documents.front();
    if (documents.size() > 1) {
      // yaml-cpp would read the first and drop the rest without a word.
      Position at = SecondDocumentStart(yaml);
      if (at.line == 1) at = PositionOf(documents[1].Mark());
      if (at.line == 0) at = {1, 1};
      diag.Error(at,
                 "a second YAML document starts here; the configuration is one document "
                 "(remove the '---' line and what follows, or merge it into the first)");
    }
    ReportQuotesLeftOpen(root, yaml, diag);
    if (!root.IsDefined() || root.IsNull()) {
      diag.Error({1, 1}, "the configuration is empty: expected a mapping with at least 'store'");
    } else {
      ctx.key_at = {1, 1};
      // The database's directory, for keys generated beside it (read again,
      // with its errors, by the store section).
      ctx.store_dir = StoreDirectory(root, ctx.base_dir);
      RootSection().Read(root, ctx, config);
      // Needs the whole file: connectors against mapping.systems.
      FinishConnectorsAndSync(root, ctx, config);
    }
  } catch (const YAML::Exception& e) {
    // Syntax error: yaml-cpp stops at the first one.
    Position at = PositionOf(e.mark);
    if (at.line == 0) at = {1, 1};
    diag.Error(at, "YAML syntax error: " + e.msg);
    // yaml-cpp reports a quote left open where the quoted text finally
    // ends, often many lines on: name the quote too.
    if (std::optional<Position> quote = QuoteLeftOpenBefore(yaml, at)) {
      diag.Error(*quote, "this quote is not closed on its line; the syntax error at line " +
                             std::to_string(at.line) + " probably follows from it");
    }
  } catch (const std::exception& e) {
    // A reader's library refused a value (no position known): still an
    // error about this file, never an exception out of a reload.
    diag.Error({1, 1}, std::string("the configuration could not be read: ") + e.what());
  }
  CONSENTD_RETURN_IF_ERROR(diag.ToStatus());
  if (config.proof_log.signing_key_file.empty()) {
    config.proof_log.signing_key_file = proof::DefaultSigningKeyPath(config.store.path);
  }
  config.warnings = diag.WarningLines();
  return config;
}

Result<Config> LoadConfigString(const std::string& yaml, const std::string& name) {
  return LoadConfigString(yaml, name, LoadOptions::FromEnvironment());
}

Result<Config> LoadConfigFile(const std::string& path, const LoadOptions& options) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return InvalidArgument(path + ": is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return InvalidArgument(path + ": cannot open: " + std::strerror(err));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return InvalidArgument(path + ": cannot read");
  return LoadConfigString(text.str(), path, options);
}

Result<Config> LoadConfigFile(const std::string& path) {
  return LoadConfigFile(path, LoadOptions::FromEnvironment());
}

std::string ResolveSecretPath(const std::string& value, const std::string& base_dir) {
  return ResolveSecretFile(value, base_dir, LoadOptions::FromEnvironment().credentials_directory);
}

Result<std::string> LoadSecret(const std::string& path, bool accept_streams) {
  Result<std::string> read = ReadWholeFile(path, "secret file", 1 << 20, accept_streams);
  if (!read.ok()) return Unavailable(read.status().message());
  std::string secret = std::move(read).value();
  if (secret.ends_with("\r\n")) {
    secret.resize(secret.size() - 2);
  } else if (secret.ends_with('\n')) {
    secret.pop_back();
  }
  if (secret.empty()) return InvalidArgument("secret file " + path + " is empty");
  return secret;
}

std::string Config::Where(Position at) const {
  if (at.line <= 0) return source_path;
  std::string_view text = source_text;
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // not counted, as in Diagnostics
  const Position shown = InCharacters(text, at);
  return source_path + ":" + std::to_string(shown.line) + ":" + std::to_string(shown.column);
}

std::vector<std::string> AcceptedKeyPaths() { return KeyPaths(RootSection()); }

std::vector<std::string> RequiredKeyPaths() { return KeyPaths(RootSection(), true); }

}  // namespace consentd::config
