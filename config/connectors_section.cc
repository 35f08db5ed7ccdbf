// `connectors:` and `sync:` (connectors_section.h). The tables here are the
// list of their accepted keys (AcceptedKeyPaths()).
#include "config/connectors_section.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/generic_connector_section.h"
#include "config/suggest.h"

namespace consentd::config::internal {
namespace {

namespace fs = std::filesystem;
using mapping::ConnectorKind;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// Shorter Mailchimp webhook secrets get a warning (16 characters of
// `openssl rand -hex` are 64 bits).
constexpr std::size_t kMinMailchimpWebhookSecret = 16;
constexpr std::array<std::string_view, 3> kKinds = {"hubspot", "mailchimp", "generic"};
constexpr std::array<ConnectorKind, 3> kKindValues = {
    ConnectorKind::kHubSpot, ConnectorKind::kMailchimp, ConnectorKind::kGeneric};

// Keys only one kind has, and the ones of them that kind requires.
struct KindKeys {
  ConnectorKind kind;
  std::vector<std::string_view> own;
  std::vector<std::string_view> required;
  ConnectorRateLimit rate_limit;  // default when `rate_limit` leaves a key out
  int max_batch_size;             // the API's largest batch
};

const std::vector<KindKeys>& KindTable() {
  // HubSpot: private apps may burst 100 requests per 10 s, and CRM search
  // takes at most 4 per second on top (the simulator enforces both); batch
  // endpoints take up to 100 inputs. Mailchimp:
  // no request rate, but at most 10 simultaneous connections per API key;
  // batch subscribe takes up to 500 members. Generic: whatever the
  // declaration says (docs/connectors-generic.md); 10 in flight by default.
  static const std::vector<KindKeys> table = {
      {ConnectorKind::kHubSpot,
       {"token_file", "client_secret_file"},
       {"token_file"},
       {100, seconds(10), 10, 4, seconds(1)},
       100},
      {ConnectorKind::kMailchimp,
       {"api_key_file", "list_id", "webhook_secret_file"},
       {"api_key_file", "list_id"},
       {0, seconds(1), 10},
       500},
      {ConnectorKind::kGeneric,
       {"webhook_secret_files", "auth", "write", "responses", "poll", "read", "check",
        "list_topics"},
       {"write"},
       {0, seconds(1), 10},
       kGenericMaxBatch},
  };
  return table;
}

const KindKeys* KeysOf(ConnectorKind kind) {
  for (const KindKeys& k : KindTable()) {
    if (k.kind == kind) return &k;
  }
  return nullptr;
}

std::string Line(Position p) { return std::to_string(p.line); }

std::string Join(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

// `rate_limit:` as written; absent keys take the kind's default.
struct RateLimitEntry {
  std::optional<int> requests;
  std::optional<milliseconds> interval;
  std::optional<int> max_in_flight;
  std::optional<int> search_requests;
  std::optional<milliseconds> search_interval;
};

// One connector as read, before the checks that need its kind.
struct ConnectorEntry {
  ConnectorConfig config;
  bool kind_read = false;
  Position kind_at;
  std::map<std::string, Position, std::less<>> keys_at;  // every key written
  RateLimitEntry rate_limit;
  Position batch_size_at;
};

std::optional<int> ReadInt(const YAML::Node& n, ReadContext& c, int min, int max) {
  if (auto v = ReadInteger(n, c, min, max)) return static_cast<int>(*v);
  return std::nullopt;
}

// An http:// or https:// URL with a host. Credentials in it are refused
// without echoing the value (they are a secret typed inline); base URLs
// take no query. A trailing '/' is dropped so paths can be appended.
std::optional<std::string> ReadHttpUrl(const YAML::Node& n, ReadContext& c, bool allow_query) {
  const std::string form = "an http:// or https:// URL, like \"https://api.hubapi.com\"";
  auto s = ReadString(n, c, form);
  if (!s) return std::nullopt;
  const Position at = ValuePosition(n, c);
  std::size_t scheme_end = 0;
  if (s->starts_with("http://")) {
    scheme_end = 7;
  } else if (s->starts_with("https://")) {
    scheme_end = 8;
  } else {
    c.diag.Error(at, "expected " + form + ", got \"" + UrlForMessages(*s) + "\"");
    return std::nullopt;
  }
  const std::size_t authority_end = std::min(s->find_first_of("/?#", scheme_end), s->size());
  const std::string authority = s->substr(scheme_end, authority_end - scheme_end);
  if (authority.find('@') != std::string::npos) {
    c.diag.Error(at,
                 "the URL must not carry credentials (user:password@host): put secrets in "
                 "the connector's *_file keys");
    return std::nullopt;
  }
  for (char ch : *s) {
    if (static_cast<unsigned char>(ch) <= ' ' || ch == 0x7f) {
      c.diag.Error(at, "expected " + form + " without spaces or control characters");
      return std::nullopt;
    }
  }
  // host, [v6 host], optionally ":port".
  std::string host = authority;
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string::npos) {
      host.clear();
    } else {
      host = authority.substr(0, close + 1);
      if (close + 1 < authority.size()) {
        if (authority[close + 1] != ':') host.clear();
        port = authority.substr(close + 2);
      }
    }
  } else if (const std::size_t colon = authority.find(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  const bool port_ok = port.empty() || (port.size() <= 5 &&
                                        std::all_of(port.begin(), port.end(),
                                                    [](char d) { return d >= '0' && d <= '9'; }) &&
                                        std::stoi(port) >= 1 && std::stoi(port) <= 65535);
  if (host.empty() || !port_ok) {
    c.diag.Error(at, "expected " + form +
                         " with a host (and a port from 1 to 65535, if any), "
                         "got \"" +
                         UrlForMessages(*s) + "\"");
    return std::nullopt;
  }
  if (s->find('#') != std::string::npos || (!allow_query && s->find('?') != std::string::npos)) {
    c.diag.Error(at, std::string("expected ") + form + " without " +
                         (allow_query ? "a fragment ('#')" : "a query ('?') or fragment ('#')") +
                         ", got \"" + UrlForMessages(*s) + "\"");
    return std::nullopt;
  }
  std::string url = *s;
  while (url.size() > authority_end && url.back() == '/') url.pop_back();
  return url;
}

// 0 (off) or a duration from `min` to `max`.
std::optional<milliseconds> ReadOptionalInterval(const YAML::Node& n, ReadContext& c,
                                                 milliseconds min, milliseconds max,
                                                 std::string_view min_text,
                                                 std::string_view max_text) {
  auto d = ReadDuration(n, c, milliseconds(0), max);
  if (!d) return std::nullopt;
  if (d->count() != 0 && *d < min) {
    c.diag.Error(ValuePosition(n, c), "duration \"" + n.Scalar() + "\" is out of range: expected " +
                                          "0s (off) or from " + std::string(min_text) + " to " +
                                          std::string(max_text));
    return std::nullopt;
  }
  return d;
}

const Section<RateLimitEntry>& RateLimitSection() {
  static const Section<RateLimitEntry> s(
      "connectors.*.rate_limit",
      {
          Field<RateLimitEntry>{"requests", Presence::kOptional,
                                [](const YAML::Node& n, ReadContext& c, RateLimitEntry& out) {
                                  if (auto v = ReadInt(n, c, 0, 1000000)) out.requests = *v;
                                }},
          Field<RateLimitEntry>{"interval", Presence::kOptional,
                                [](const YAML::Node& n, ReadContext& c, RateLimitEntry& out) {
                                  if (auto v = ReadDuration(n, c, milliseconds(1), hours(24))) {
                                    out.interval = *v;
                                  }
                                }},
          Field<RateLimitEntry>{"max_in_flight", Presence::kOptional,
                                [](const YAML::Node& n, ReadContext& c, RateLimitEntry& out) {
                                  if (auto v = ReadInt(n, c, 0, 1000)) out.max_in_flight = *v;
                                }},
          Field<RateLimitEntry>{"search_requests", Presence::kOptional,
                                [](const YAML::Node& n, ReadContext& c, RateLimitEntry& out) {
                                  if (auto v = ReadInt(n, c, 0, 1000000)) out.search_requests = *v;
                                }},
          Field<RateLimitEntry>{"search_interval", Presence::kOptional,
                                [](const YAML::Node& n, ReadContext& c, RateLimitEntry& out) {
                                  if (auto v = ReadDuration(n, c, milliseconds(1), hours(24))) {
                                    out.search_interval = *v;
                                  }
                                }},
      });
  return s;
}

// A field of ConnectorConfig that also records where its key was written.
template <typename V, typename Reader>
Field<ConnectorEntry> Conn(std::string_view key, Presence presence, V ConnectorConfig::*member,
                           Reader reader) {
  return Field<ConnectorEntry>{
      key, presence,
      [key, member, reader](const YAML::Node& n, ReadContext& c, ConnectorEntry& out) {
        out.keys_at.emplace(std::string(key), c.key_at);
        if (auto v = reader(n, c)) out.config.*member = static_cast<V>(*v);
      }};
}

// The keys of kind generic (generic_connector_section.cc).
std::vector<Field<ConnectorEntry>> GenericFields() {
  std::vector<Field<ConnectorEntry>> out;
  for (const GenericKeyField& g : GenericConnectorFields()) {
    out.push_back(Field<ConnectorEntry>{
        g.key, Presence::kOptional,
        [&g](const YAML::Node& n, ReadContext& c, ConnectorEntry& e) {
          e.keys_at.emplace(std::string(g.key), c.key_at);
          g.read(n, c, e.config.generic);
        },
        g.shape, g.sub});
  }
  return out;
}

std::vector<Field<ConnectorEntry>> Concat(std::vector<Field<ConnectorEntry>> a,
                                          std::vector<Field<ConnectorEntry>> b) {
  for (auto& f : b) a.push_back(std::move(f));
  return a;
}

const Section<ConnectorEntry>& ConnectorSection() {
  static const Section<ConnectorEntry> s(
      "connectors.*",
      Concat(
          {
              Field<ConnectorEntry>{"kind", Presence::kRequired,
                                    [](const YAML::Node& n, ReadContext& c, ConnectorEntry& out) {
                                      out.keys_at.emplace("kind", c.key_at);
                                      out.kind_at = ValuePosition(n, c);
                                      const auto k = ReadChoice(n, c, kKinds);
                                      if (!k) return;
                                      for (std::size_t i = 0; i < kKinds.size(); ++i) {
                                        if (kKinds[i] == *k) out.config.kind = kKindValues[i];
                                      }
                                      out.kind_read = true;
                                    }},
              Conn("base_url", Presence::kRequired, &ConnectorConfig::base_url,
                   [](const YAML::Node& n, ReadContext& c) { return ReadHttpUrl(n, c, false); }),
              Conn("token_file", Presence::kOptional, &ConnectorConfig::token_file, ReadSecretFile),
              Conn("client_secret_file", Presence::kOptional, &ConnectorConfig::client_secret_file,
                   ReadSecretFile),
              Conn("api_key_file", Presence::kOptional, &ConnectorConfig::api_key_file,
                   ReadSecretFile),
              Conn("list_id", Presence::kOptional, &ConnectorConfig::list_id,
                   [](const YAML::Node& n, ReadContext& c) -> std::optional<std::string> {
                     auto id = ReadString(n, c, "a Mailchimp list (audience) id");
                     if (!id) return std::nullopt;
                     const bool ok =
                         !id->empty() && std::all_of(id->begin(), id->end(), [](char ch) {
                           return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                                  (ch >= '0' && ch <= '9');
                         });
                     if (!ok) {
                       c.diag.Error(
                           ValuePosition(n, c),
                           "expected a Mailchimp list (audience) id of letters and digits, "
                           "like \"5e1c0a7b2d\", got \"" +
                               *id + "\"");
                       return std::nullopt;
                     }
                     return id;
                   }),
              Conn("webhook_secret_file", Presence::kOptional,
                   &ConnectorConfig::webhook_secret_file, ReadSecretFile),
              Conn("webhook_url", Presence::kOptional, &ConnectorConfig::webhook_url,
                   [](const YAML::Node& n, ReadContext& c) -> std::optional<std::string> {
                     // Checked as a URL, kept as written: HubSpot signs the
                     // target URL exactly as it is set there, a trailing '/'
                     // included.
                     if (!ReadHttpUrl(n, c, true)) return std::nullopt;
                     return n.Scalar();
                   }),
              Conn("poll_interval", Presence::kOptional, &ConnectorConfig::poll_interval,
                   [](const YAML::Node& n, ReadContext& c) {
                     return ReadOptionalInterval(n, c, seconds(1), hours(24), "1s", "24h");
                   }),
              Conn("poll_overlap", Presence::kOptional, &ConnectorConfig::poll_overlap,
                   [](const YAML::Node& n, ReadContext& c) {
                     return ReadDuration(n, c, milliseconds(0), hours(1));
                   }),
              Conn("request_timeout", Presence::kOptional, &ConnectorConfig::request_timeout,
                   [](const YAML::Node& n, ReadContext& c) {
                     return ReadDuration(n, c, milliseconds(100), minutes(5));
                   }),
              Field<ConnectorEntry>{"rate_limit", Presence::kOptional,
                                    [](const YAML::Node& n, ReadContext& c, ConnectorEntry& out) {
                                      out.keys_at.emplace("rate_limit", c.key_at);
                                      RateLimitSection().Read(n, c, out.rate_limit);
                                    },
                                    Shape::kMapping, &RateLimitSection()},
              Field<ConnectorEntry>{"batch_size", Presence::kOptional,
                                    [](const YAML::Node& n, ReadContext& c, ConnectorEntry& out) {
                                      out.keys_at.emplace("batch_size", c.key_at);
                                      out.batch_size_at = ValuePosition(n, c);
                                      if (auto v = ReadInt(n, c, 1, 1000))
                                        out.config.batch_size = *v;
                                    }},
          },
          GenericFields()));
  return s;
}

bool IsConnectorKey(std::string_view key) {
  const auto keys = ConnectorSection().Keys();
  return std::any_of(keys.begin(), keys.end(), [&](const KeyInfo& k) { return k.key == key; });
}

bool ValidConnectorName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  });
}

// The checks that need the kind; fills the kind's defaults.
void FinishConnector(ConnectorEntry& e, const std::vector<std::string>& written, ReadContext& c) {
  const std::string& name = e.config.name;
  if (!e.kind_read) return;  // reported already (missing or misspelt kind)
  const KindKeys& kind = *KeysOf(e.config.kind);
  const std::string kind_name(mapping::ConnectorKindName(e.config.kind));
  // Keys another kind owns.
  for (const KindKeys& other : KindTable()) {
    if (other.kind == e.config.kind) continue;
    for (std::string_view key : other.own) {
      auto it = e.keys_at.find(key);
      if (it == e.keys_at.end()) continue;
      c.diag.Error(it->second, "'" + std::string(key) + "' is a " +
                                   std::string(mapping::ConnectorKindName(other.kind)) +
                                   " key; a " + kind_name + " connector takes " + Join(kind.own));
    }
  }
  for (std::string_view key : kind.required) {
    if (e.keys_at.contains(key)) continue;
    // An inline secret or a typo of this key has its own error already.
    const bool explained = std::any_of(written.begin(), written.end(), [&](const std::string& w) {
      const std::string_view candidates[] = {key};
      return !IsConnectorKey(w) &&
             (w + "_file" == key || SuggestClosest(w, candidates).has_value());
    });
    if (explained) continue;
    c.diag.Error(e.config.at, "missing required key 'connectors." + name + "." + std::string(key) +
                                  "' (a " + kind_name + " connector needs it)");
  }
  ConnectorRateLimit& rl = e.config.rate_limit;
  rl.requests = e.rate_limit.requests.value_or(kind.rate_limit.requests);
  rl.interval = e.rate_limit.interval.value_or(kind.rate_limit.interval);
  rl.max_in_flight = e.rate_limit.max_in_flight.value_or(kind.rate_limit.max_in_flight);
  rl.search_requests = e.rate_limit.search_requests.value_or(kind.rate_limit.search_requests);
  rl.search_interval = e.rate_limit.search_interval.value_or(kind.rate_limit.search_interval);
  if (e.config.batch_size > kind.max_batch_size) {
    c.diag.Error(e.batch_size_at, std::to_string(e.config.batch_size) + " is out of range: a " +
                                      kind_name + " batch holds at most " +
                                      std::to_string(kind.max_batch_size));
  }
  if (e.config.kind == ConnectorKind::kGeneric) {
    FinishGenericConnector(e.config.generic, e.config.at, e.keys_at, c);
    // Polling is what `poll:` declares; without it there is nothing to poll.
    if (!e.config.generic.poll.declared) {
      if (auto it = e.keys_at.find("poll_interval");
          it != e.keys_at.end() && e.config.poll_interval.count() != 0) {
        c.diag.Error(it->second, "connector '" + name +
                                     "' has no 'poll:' declaration, so it cannot poll: declare "
                                     "poll (docs/connectors-generic.md) or set poll_interval: 0s");
      }
      e.config.poll_interval = milliseconds(0);
    }
  }
  // Without its webhook secret a connector refuses webhooks (they cannot
  // be authenticated); without polling too, nothing from it is ever seen.
  const char* secret_key = e.config.kind == ConnectorKind::kHubSpot     ? "client_secret_file"
                           : e.config.kind == ConnectorKind::kMailchimp ? "webhook_secret_file"
                                                                        : "webhook_secret_files";
  const bool webhooks = e.keys_at.contains(secret_key);
  if (!webhooks && e.config.poll_interval.count() == 0) {
    c.diag.Warning(e.config.at, "connector '" + name + "' has neither webhooks (" + secret_key +
                                    ") nor polling (poll_interval is 0s): changes made in it "
                                    "are never seen");
  }
  // Mailchimp does not sign its webhooks: the secret in the URL is all that
  // keeps strangers from sending them. A guessed one cannot change consent
  // (a Mailchimp webhook only makes consentd read the member again), but it
  // can make consentd spend the API budget on reads.
  if (e.config.kind == ConnectorKind::kMailchimp && webhooks &&
      !e.config.webhook_secret_file.empty()) {
    if (Result<std::string> secret = LoadSecret(e.config.webhook_secret_file);
        secret.ok() && secret->size() < kMinMailchimpWebhookSecret) {
      c.diag.Warning(e.keys_at.at(secret_key),
                     "the webhook secret in " + e.config.webhook_secret_file + " has " +
                         std::to_string(secret->size()) +
                         " characters: whoever guesses it can send this connector webhooks; use "
                         "at least " +
                         std::to_string(kMinMailchimpWebhookSecret) +
                         " random ones (e.g. openssl rand -hex 16)");
    }
  }
}

void ReadConnectors(const YAML::Node& n, ReadContext& c, Config& out) {
  ReadNamedMappings(
      n, c, [&](const std::string& name, const YAML::Node& key, const YAML::Node& value) {
        ConnectorEntry e;
        e.config.name = name;
        e.config.at = PositionOf(key);
        if (!ValidConnectorName(name)) {
          c.diag.Error(e.config.at, "connector name '" + name +
                                        "' must be lower-case letters, digits, '_' and '-' (it is "
                                        "the last segment of the webhook path /webhooks/<name>)");
        } else if (name == "email" || name == "admin" || name == "api" || name == "consentd") {
          // "email" names consentd's own address links; "admin", "api" and
          // "consentd" are the sources of changes made through or by
          // consentd itself.
          c.diag.Error(e.config.at, "connector name '" + name +
                                        "' is reserved by consentd; choose another name");
        }
        ConnectorSection().Read(value, c, e);
        std::vector<std::string> written;  // every key, known or not
        if (value.IsMap()) {
          for (auto it = value.begin(); it != value.end(); ++it) {
            if (it->first.IsScalar()) written.push_back(it->first.Scalar());
          }
        }
        FinishConnector(e, written, c);
        out.connectors.emplace(name, std::move(e.config));
      });
}

std::optional<milliseconds> ReadRetryCap(const YAML::Node& n, ReadContext& c) {
  return ReadDuration(n, c, seconds(1), hours(24));
}

const Section<SyncConfig>& SyncSection() {
  static const Section<SyncConfig> s(
      "sync", {
                  ValueField<SyncConfig>("inbox_retention", Presence::kOptional,
                                         &SyncConfig::inbox_retention,
                                         [](const YAML::Node& n, ReadContext& c) {
                                           // HubSpot retries a webhook for about a
                                           // day: a shorter retention would take a
                                           // late retry for a new event.
                                           return ReadDuration(n, c, hours(24), hours(90 * 24));
                                         }),
                  ValueField<SyncConfig>("retry_base", Presence::kOptional, &SyncConfig::retry_base,
                                         [](const YAML::Node& n, ReadContext& c) {
                                           return ReadDuration(n, c, milliseconds(10), minutes(10));
                                         }),
                  Field<SyncConfig>{"retry_cap", Presence::kOptional,
                                    [](const YAML::Node& n, ReadContext& c, SyncConfig& out) {
                                      auto v = ReadRetryCap(n, c);
                                      if (!v) return;
                                      out.retry_cap = *v;
                                      // retry_base may come later: compared in Finish.
                                    }},
                  ValueField<SyncConfig>(
                      "max_attempts", Presence::kOptional, &SyncConfig::max_attempts,
                      [](const YAML::Node& n, ReadContext& c) { return ReadInt(n, c, 1, 1000); }),
                  ValueField<SyncConfig>(
                      "resync_interval", Presence::kOptional, &SyncConfig::resync_interval,
                      [](const YAML::Node& n, ReadContext& c) {
                        return ReadOptionalInterval(n, c, minutes(1), hours(30 * 24), "1m", "720h");
                      }),
                  ValueField<SyncConfig>("identity_key_file", Presence::kOptional,
                                         &SyncConfig::identity_key_file,
                                         [](const YAML::Node& n, ReadContext& c) {
                                           return ReadGeneratedKeyFile(n, c, "identity key file");
                                         }),
                  ValueField<SyncConfig>("erasure_ledger_file", Presence::kOptional,
                                         &SyncConfig::erasure_ledger_file, ReadFileToCreate),
              });
  return s;
}

// The entry of `map` whose key is `name`: {key, value}, or undefined nodes.
std::pair<YAML::Node, YAML::Node> FindEntry(const YAML::Node& map, std::string_view name) {
  if (map.IsDefined() && map.IsMap()) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == name) return {it->first, it->second};
    }
  }
  return {YAML::Node(YAML::NodeType::Undefined), YAML::Node(YAML::NodeType::Undefined)};
}

// The kind written under `entry` when it is one of the known names, else "".
std::string WrittenKind(const YAML::Node& entry) {
  const YAML::Node kind = FindEntry(entry, "kind").second;
  if (!kind.IsDefined() || !kind.IsScalar()) return "";
  for (std::string_view k : kKinds) {
    if (kind.Scalar() == k) return kind.Scalar();
  }
  return "";
}

std::vector<std::string_view> Names(const auto& map) {
  std::vector<std::string_view> names;
  for (const auto& [name, v] : map) names.push_back(name);
  return names;
}

// A generic connector writes only what it declares. A block the mapping
// sends to it without `write.block` ends as a dead letter at every delivery,
// and without `write.erasure` its erasures end as unsupported: both are
// legal (a system may hold no blocks, or be unable to erase), so they are
// warnings, said before the first delivery rather than after.
void WarnAboutUndeclaredGenericWrites(const std::string& name, const ConnectorConfig& connector,
                                      const mapping::SystemSpec& system,
                                      const mapping::MappingSpec& mapping, ReadContext& c) {
  if (!connector.generic.block.request.declared) {
    for (const mapping::BlockSpec& block : mapping.blocks) {
      if (!block.sides.contains(name) || !mapping::FlowsTo(block.direction, system.role)) continue;
      c.diag.Warning(connector.at,
                     "connector '" + name + "' declares no 'write.block', but the mapping's block '" +
                         block.name + "' (line " + Line(block.at) +
                         ") is written to it: those writes will be dead letters; declare "
                         "write.block (docs/connectors-generic.md) or change the block's direction");
      break;
    }
  }
  if (!connector.generic.erasure.request.declared) {
    c.diag.Warning(connector.at, "connector '" + name +
                                     "' declares no 'write.erasure': erasures cannot reach this "
                                     "system and will be listed as unsupported (consentctl "
                                     "erasures); declare write.erasure if it can erase");
  }
}

}  // namespace

std::optional<std::string> ReadHttpUrlWithHost(const YAML::Node& n, ReadContext& c,
                                               bool allow_query) {
  return ReadHttpUrl(n, c, allow_query);
}

Field<Config> ConnectorsField() {
  return Field<Config>{"connectors", Presence::kOptional, ReadConnectors, Shape::kNamedMappings,
                       &ConnectorSection()};
}

Field<Config> SyncField() {
  return SectionField<Config>("sync", Presence::kOptional, SyncSection(), &Config::sync);
}

void FinishConnectorsAndSync(const YAML::Node& root, ReadContext& c, Config& config) {
  const auto [sync_key, sync] = FindEntry(root, "sync");
  if (sync_key.IsDefined()) config.sync.keys_at.emplace("", PositionOf(sync_key));
  if (sync.IsMap()) {
    for (const auto& entry : sync) {
      if (entry.first.IsScalar()) {
        config.sync.keys_at.emplace(entry.first.Scalar(), PositionOf(entry.first));
      }
    }
  }
  if (config.sync.retry_cap < config.sync.retry_base) {
    const YAML::Node cap = FindEntry(sync, "retry_cap").second;
    const YAML::Node base = FindEntry(sync, "retry_base").second;
    if (cap.IsDefined()) {
      c.diag.Error(PositionOf(cap), "retry_cap \"" + cap.Scalar() + "\" is below retry_base \"" +
                                        (base.IsScalar() ? base.Scalar() : std::string("1s")) +
                                        "\": the cap must be at least the first delay");
    } else if (base.IsDefined()) {
      // The default cap (5m) would quietly shorten every delay.
      c.diag.Error(PositionOf(base),
                   "retry_base \"" + base.Scalar() +
                       "\" is above the default retry_cap \"5m\": set retry_cap too (at least "
                       "the first delay)");
    }
  }
  if (config.sync.identity_key_file.empty() && !config.store.path.empty()) {
    config.sync.identity_key_file = DefaultIdentityKeyPath(config.store.path);
  }
  if (config.sync.erasure_ledger_file.empty() && !config.store.path.empty()) {
    config.sync.erasure_ledger_file = DefaultErasureLedgerPath(config.store.path);
  }

  const auto [connectors_key, connectors] = FindEntry(root, "connectors");
  if (connectors_key.IsDefined()) config.connectors_at = PositionOf(connectors_key);
  if (config.connectors.empty()) return;
  if (!config.has_mapping) {
    c.diag.Error(PositionOf(connectors_key),
                 "connectors are configured but there is no 'mapping:' section, so nothing "
                 "would be synchronised; add a mapping (docs/mapping.md) naming them under "
                 "'mapping.systems'");
    return;
  }
  const YAML::Node systems = FindEntry(FindEntry(root, "mapping").second, "systems").second;
  const auto connector_names = Names(config.connectors);
  const auto system_names = Names(config.mapping.systems);
  for (const auto& [name, system] : config.mapping.systems) {
    const std::string kind = WrittenKind(FindEntry(systems, name).second);
    if (config.connectors.contains(name)) continue;
    c.diag.Error(system.at, "system '" + name + "' has no connector: add 'connectors." + name +
                                "'" + (kind.empty() ? "" : " (kind " + kind + ")") +
                                DidYouMean(name, connector_names));
  }
  for (const auto& [name, connector] : config.connectors) {
    const YAML::Node entry = FindEntry(connectors, name).second;
    const auto system = config.mapping.systems.find(name);
    if (system == config.mapping.systems.end()) {
      c.diag.Error(connector.at, "connector '" + name +
                                     "' is not a system of the mapping: declare it under "
                                     "'mapping.systems' or remove it" +
                                     DidYouMean(name, system_names));
      continue;
    }
    const std::string connector_kind = WrittenKind(entry);
    const std::string system_kind = WrittenKind(FindEntry(systems, name).second);
    if (!connector_kind.empty() && !system_kind.empty() && connector_kind != system_kind) {
      c.diag.Error(PositionOf(FindEntry(entry, "kind").second),
                   "connector '" + name + "' is kind " + connector_kind + " but mapping system '" +
                       name + "' (line " + Line(system->second.at) + ") is kind " + system_kind +
                       ": they must match");
      continue;
    }
    if (connector.kind == ConnectorKind::kGeneric) {
      WarnAboutUndeclaredGenericWrites(name, connector, system->second, config.mapping, c);
    }
  }
}

}  // namespace consentd::config::internal
