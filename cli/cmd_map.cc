// consentctl map: run a sample payload through one connector's mapping,
// offline, and print the canonical changes it yields or why it yields none.
//
//   consentctl map --config FILE --connector NAME --payload FILE
//                  [--as record|webhook] [--json]
//
// A record is what the connector reads from the API (shapes per system in
// docs/operations.md, "Trying a payload"); it is parsed and mapped by the
// connector's own code (Connector::MapRecordPayload), so what is printed is
// what a read of that record would decide on. A webhook is only a hint in
// consentd (connectors/common/connector.h): its records are listed, the
// decision is taken on the record read back through the API. A sample is
// unsigned: nothing is verified.
//
// No HTTP call is made (the connector gets a client that refuses every
// request, and no credentials). Exit 0 when the payload parsed
// (with or without changes), 1 when it or the config cannot be read or is
// invalid, 2 for usage errors.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli/command.h"
#include "config/config.h"
#include "connectors/common/connector.h"
#include "connectors/common/http_client.h"
#include "core/clock.h"
#include "core/file_read.h"
#include "core/time_format.h"
#include "daemon/connector_factory.h"

namespace consentd::cli {
namespace {

using nlohmann::json;

struct MapArgs {
  std::string config_file;
  std::string connector;
  std::string payload_file;
  std::string as;  // "", "record", "webhook"
  bool json = false;
  std::vector<std::string> extras;  // unknown arguments: a usage error
};

// Offline: any request is a bug, and refused.
class NoNetwork final : public connectors::HttpClient {
 public:
  Result<net::HttpResponse> Send(const connectors::OutboundRequest&) override {
    return FailedPrecondition("consentctl map is offline: no HTTP call is made");
  }
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "consentctl map: %s\n", message.c_str());
  return 1;
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "consentctl map: %s (see consentctl map --help)\n", message.c_str());
  return 2;
}

// "2026-03-01T10:00:00.250Z"; "-" for 0 (the source gave no time).
std::string Iso(TimestampMs ms) { return ms == 0 ? "-" : FormatUtcMillis(ms); }

// The payload's kind when --as is not given: a JSON array (HubSpot's
// event list), form fields, or an object with "type" and "data"
// (Mailchimp's) are webhooks; any other object is a record.
std::string GuessKind(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "record";  // empty: let the record parser say so
  if (text[first] == '[') return "webhook";
  if (text[first] != '{') return "webhook";
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("type") && j["type"].is_string() && j.contains("data") &&
      j["data"].is_object()) {
    return "webhook";
  }
  return "record";
}

json ChangeJson(const Change& c) {
  json j = {{"kind", ChangeKindName(c.kind)},
            {"occurred_at", Iso(c.provenance.occurred_at)},
            {"event_id", c.provenance.source_event_id}};
  if (c.kind == ChangeKind::kConsent) {
    j["topic"] = c.key.topic;
    j["channel"] = c.key.channel;
    j["status"] = ConsentStatusName(c.status);
    j["reports_absence"] = c.reports_absence;
    j["method"] = ConsentMethodName(c.method);
    j["legal_basis"] = c.legal_basis;
    j["notice_version"] = c.notice_version;
  } else if (c.kind == ChangeKind::kBlockSet || c.kind == ChangeKind::kBlockCleared) {
    j["scope"] = BlockScopeString(c.scope);
    j["active"] = c.kind == ChangeKind::kBlockSet;
    j["reason"] = BlockReasonName(c.block_reason);
  }
  return j;
}

std::string ChangeLine(const Change& c) {
  const std::string at = Iso(c.provenance.occurred_at);
  const std::string event = "event " + c.provenance.source_event_id;
  switch (c.kind) {
    case ChangeKind::kConsent: {
      std::string status(ConsentStatusName(c.status));
      if (c.reports_absence) status += " (absence: withdraws only an earlier grant)";
      return "consent " + c.key.topic + " " + c.key.channel + " " + status + " at " + at +
             "; method " + std::string(ConsentMethodName(c.method)) + ", legal basis " +
             (c.legal_basis.empty() ? "-" : c.legal_basis) + ", notice " +
             (c.notice_version.empty() ? "-" : c.notice_version) + ", " + event;
    }
    case ChangeKind::kBlockSet:
    case ChangeKind::kBlockCleared:
      return "block " + BlockScopeString(c.scope) + " " +
             (c.kind == ChangeKind::kBlockSet ? "active" : "cleared") + " at " + at + "; reason " +
             std::string(BlockReasonName(c.block_reason)) + ", " + event;
    case ChangeKind::kErasure:
      return "erasure at " + at + "; " + event;
    case ChangeKind::kTargetDeleted:
      return "record deleted at " + at + "; " + event;
  }
  return "unknown change; " + event;
}

void PrintRecords(const std::string& connector, const std::vector<connectors::InboundRecord>& recs,
                  bool as_json) {
  if (as_json) {
    json out = {{"connector", connector}, {"as", "record"}, {"records", json::array()}};
    for (const auto& r : recs) {
      json rj = {{"system_id", r.system_id},
                 {"event_id", r.event_id},
                 {"changes", json::array()},
                 {"notes", r.mapped.notes}};
      for (const Change& c : r.mapped.changes) rj["changes"].push_back(ChangeJson(c));
      out["records"].push_back(std::move(rj));
    }
    std::printf("%s\n", out.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    return;
  }
  for (const auto& r : recs) {
    std::printf("%s record %s: %zu change(s)\n", connector.c_str(),
                r.system_id.empty() ? "(no id)" : r.system_id.c_str(), r.mapped.changes.size());
    for (const Change& c : r.mapped.changes) std::printf("  %s\n", ChangeLine(c).c_str());
    for (const std::string& n : r.mapped.notes) std::printf("  note: %s\n", n.c_str());
  }
}

constexpr char kHintNote[] =
    "webhooks are hints: the decision is taken on the record read back through the API "
    "(try that record with --as record)";
// A generic connector's events are signed and self-contained (RecordRef::
// event_json): they are decided as they are, without a read back.
constexpr char kEventNote[] =
    "signed protocol events are self-contained: consentd decides them as sent, without a read "
    "back (--as record prints their changes)";

bool SelfContained(const std::vector<connectors::RecordRef>& refs) {
  if (refs.empty()) return false;
  for (const auto& r : refs) {
    if (r.event_json.empty()) return false;
  }
  return true;
}

void PrintHints(const std::string& connector, const std::vector<connectors::RecordRef>& refs,
                bool as_json) {
  const char* note = SelfContained(refs) ? kEventNote : kHintNote;
  if (as_json) {
    json out = {{"connector", connector},
                {"as", "webhook"},
                {"signature", "not checked (offline)"},
                {"hints", json::array()},
                {"note", note}};
    for (const auto& r : refs) {
      json h = {{"hint", connectors::RecordHintName(r.hint)},
                {"system_id", r.system_id},
                {"event_id", r.event_id},
                {"occurred_at", Iso(r.occurred_at)}};
      if (!r.merged_ids.empty()) h["merged_ids"] = r.merged_ids;
      out["hints"].push_back(std::move(h));
    }
    std::printf("%s\n", out.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    return;
  }
  std::printf("signature: not checked (offline)\n");
  std::printf("%s webhook: %zu record hint(s)\n", connector.c_str(), refs.size());
  for (const auto& r : refs) {
    std::string line = "  " + std::string(connectors::RecordHintName(r.hint)) + " record " +
                       (r.system_id.empty() ? "(by address)" : r.system_id) + " at " +
                       Iso(r.occurred_at) + "; event " + r.event_id;
    if (!r.merged_ids.empty()) {
      line += "; merged";
      for (const auto& id : r.merged_ids) line += " " + id;
    }
    std::printf("%s\n", line.c_str());
  }
  if (refs.empty()) std::printf("  note: the webhook names no record consentd acts on\n");
  std::printf("%s\n", note);
}

int Map(const MapArgs& args) {
  if (!args.extras.empty()) return Usage("unexpected argument '" + args.extras.front() + "'");
  for (const auto& [value, name] :
       {std::pair{&args.config_file, "--config"}, std::pair{&args.connector, "--connector"},
        std::pair{&args.payload_file, "--payload"}}) {
    if (value->empty()) return Usage(std::string(name) + " is required");
  }
  if (!args.as.empty() && args.as != "record" && args.as != "webhook") {
    return Usage("--as must be record or webhook, not '" + args.as + "'");
  }
  Result<config::Config> config = config::LoadConfigFile(args.config_file);
  if (!config.ok()) return Fail(config.status().message());
  auto c = config->connectors.find(args.connector);
  if (c == config->connectors.end()) {
    std::string known;
    for (const auto& [name, unused] : config->connectors) known += " " + name;
    return Usage("no connector named '" + args.connector + "' in " + args.config_file +
                 " (configured:" + (known.empty() ? " none" : known) + ")");
  }
  if (!config->has_mapping) return Fail(args.config_file + " has no mapping section");

  Result<std::string> read =
      ReadWholeFile(args.payload_file, "payload", 64 << 20, /*accept_streams=*/true);
  if (!read.ok()) return Fail(read.status().message());
  const std::string payload = std::move(read).value();

  // Offline: the connector gets no credentials and cannot send a request.
  config::ConnectorConfig offline = c->second;
  offline.token_file.clear();
  offline.client_secret_file.clear();
  offline.api_key_file.clear();
  offline.webhook_secret_file.clear();
  offline.generic.webhook_secret_files.clear();
  offline.generic.auth.secret_file.clear();
  NoNetwork no_network;
  auto mapping = std::make_shared<const mapping::MappingSpec>(config->mapping);
  Result<std::unique_ptr<connectors::Connector>> connector =
      daemon::MakeConnector(offline, mapping, no_network);
  if (!connector.ok()) {
    return Fail("connector " + args.connector + ": " + connector.status().message());
  }

  const std::string kind = args.as.empty() ? GuessKind(payload) : args.as;
  if (kind == "record") {
    auto records = (*connector)->MapRecordPayload(payload);
    if (!records.ok()) {
      return Fail(args.payload_file + ": not a valid " + args.connector +
                  " record: " + records.status().message());
    }
    PrintRecords(args.connector, *records, args.json);
    return 0;
  }
  SystemClock clock;
  auto refs = (*connector)->ParseWebhookUnverified(payload, clock.NowMs());
  if (!refs.ok()) {
    return Fail(args.payload_file + ": not a valid " + args.connector +
                " webhook: " + refs.status().message());
  }
  if (!SelfContained(*refs) || args.json) {
    PrintHints(args.connector, *refs, args.json);
    return 0;
  }
  PrintHints(args.connector, *refs, false);
  for (const auto& ref : *refs) {
    auto records = (*connector)->MapRecordPayload(ref.event_json);
    if (!records.ok()) {
      return Fail(args.payload_file + ": event " + ref.event_id + ": " + records.status().message());
    }
    PrintRecords(args.connector, *records, false);
  }
  return 0;
}

}  // namespace

void RegisterMap(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<MapArgs>();
  auto* cmd = app.add_subcommand(
      "map",
      "Offline: run a sample API record or webhook body through a connector's mapping and print "
      "the canonical changes (or why there are none); exit 0 parsed, 1 unreadable/invalid, 2 "
      "usage");
  // Required options are checked in Map, not by CLI11, so that usage
  // errors exit 2.
  cmd->add_option("--config", args->config_file, "consentd config file (required)");
  cmd->add_option("--connector", args->connector, "connector name under connectors: (required)");
  cmd->add_option("--payload", args->payload_file, "the sample payload file (required)");
  cmd->add_option("--as", args->as,
                  "record (an API record, the default for such JSON) or webhook (a webhook body)");
  cmd->add_flag("--json", args->json, "machine-readable output");
  cmd->allow_extras();
  cmd->callback([cmd, &run, args] {
    args->extras = cmd->remaining();
    run = [args] { return Map(*args); };
  });
}

}  // namespace consentd::cli
