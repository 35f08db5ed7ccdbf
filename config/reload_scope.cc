#include "config/reload_scope.h"

namespace consentd::config {
namespace {

void ConnectorChanges(const ConnectorConfig& a, const ConnectorConfig& b,
                      std::vector<std::string>& out) {
  const std::string at = "connectors." + a.name + ".";
  auto check = [&](bool changed, const char* key) {
    if (changed) out.push_back(at + key);
  };
  check(a.kind != b.kind, "kind");
  check(a.base_url != b.base_url, "base_url");
  check(a.token_file != b.token_file, "token_file");
  check(a.client_secret_file != b.client_secret_file, "client_secret_file");
  check(a.api_key_file != b.api_key_file, "api_key_file");
  check(a.list_id != b.list_id, "list_id");
  check(a.webhook_secret_file != b.webhook_secret_file, "webhook_secret_file");
  check(a.webhook_url != b.webhook_url, "webhook_url");
  check(a.poll_interval != b.poll_interval, "poll_interval");
  check(a.poll_overlap != b.poll_overlap, "poll_overlap");
  check(a.request_timeout != b.request_timeout, "request_timeout");
  check(a.batch_size != b.batch_size, "batch_size");
  // The generic declaration, as one: requests, responses, auth, secrets.
  check(!(a.generic == b.generic), "(generic declaration)");
}

}  // namespace

std::vector<std::string> KeysNeedingRestart(const Config& running, const Config& next) {
  std::vector<std::string> out;
  for (const auto& [name, c] : running.connectors) {
    if (!next.connectors.contains(name)) out.push_back("connectors." + name + " (removed)");
  }
  for (const auto& [name, c] : next.connectors) {
    const auto it = running.connectors.find(name);
    if (it == running.connectors.end()) {
      out.push_back("connectors." + name + " (added)");
      continue;
    }
    ConnectorChanges(it->second, c, out);
  }
  const SyncConfig& a = running.sync;
  const SyncConfig& b = next.sync;
  auto check = [&](bool changed, const char* key) {
    if (changed) out.push_back(std::string("sync.") + key);
  };
  check(a.inbox_retention != b.inbox_retention, "inbox_retention");
  check(a.retry_base != b.retry_base, "retry_base");
  check(a.retry_cap != b.retry_cap, "retry_cap");
  check(a.max_attempts != b.max_attempts, "max_attempts");
  check(a.resync_interval != b.resync_interval, "resync_interval");
  check(a.identity_key_file != b.identity_key_file, "identity_key_file");
  check(a.erasure_ledger_file != b.erasure_ledger_file, "erasure_ledger_file");
  return out;
}

}  // namespace consentd::config
