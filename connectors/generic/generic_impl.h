// Internal to connectors/generic: the connector class, split over
// generic_{connector,deliver,poll}.cc, and the pieces tests exercise
// directly (response classification, poll items).
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/common/connector.h"
#include "connectors/generic/generic_connector.h"
#include "connectors/generic/protocol.h"
#include "connectors/generic/request_template.h"
#include "core/clock.h"

namespace consentd::connectors::generic {

// What a declared answer means (config GenericResponses, in the order
// blocked_by_target, already_gone (erasures only; default 404 and 410),
// retryable, permanent; then the defaults: 2xx ok, 408/425/429/5xx
// retryable, any other status permanent).
enum class Outcome { kOk, kRetryable, kPermanent, kBlocked, kGone };
Outcome Classify(const config::GenericResponses& rules, int http_status, const nlohmann::json& body,
                 bool erasure);

// One poll or read item as a protocol event (before validation), per the
// `poll.item` declaration: {"id","type","occurred_at","subject":{..},"data":{..}}.
// An item without a declared id gets "poll:" + a hash of the item.
nlohmann::json ItemEvent(const std::vector<config::GenericItemField>& fields,
                         const nlohmann::json& item);

// The value at `pointer` in `j`, or nullptr when absent or malformed.
const nlohmann::json* AtPointer(const nlohmann::json& j, const std::string& pointer);

// One answer of the system.
struct Answer {
  Status status;  // OK, or classified (ClassOf gives the ErrorClass)
  Outcome outcome = Outcome::kRetryable;
  int http_status = 0;  // 0: no answer (transport)
  nlohmann::json body;  // parsed JSON, null if none or not JSON
  std::optional<std::chrono::milliseconds> retry_after;
};

class GenericConnector final : public Connector {
 public:
  GenericConnector(GenericSettings s, std::shared_ptr<const mapping::MappingSpec> spec,
                   HttpClient& http);

  const std::string& name() const override { return settings_.name; }
  Result<std::vector<RecordRef>> ParseWebhook(const net::HttpRequest& req,
                                              std::string_view public_url,
                                              TimestampMs now) const override;
  int max_batch() const override;
  Status Check() override;
  Result<std::vector<InboundRecord>> Read(const std::vector<RecordRef>& refs) override;
  Result<PollPage> Poll(std::string_view cursor, TimestampMs now) override;
  bool PollsSnapshots() const override { return false; }  // a change feed, if any
  std::vector<DeliveryResult> Deliver(const std::vector<OutboundItem>& items) override;
  Result<std::vector<InboundRecord>> MapRecordPayload(std::string_view json) const override;
  Result<std::vector<RecordRef>> ParseWebhookUnverified(std::string_view body,
                                                        TimestampMs now) const override;
  Result<std::vector<NativeTopic>> ListNativeTopics() override;

 private:
  // Renders and sends one declared request. `what` names it in messages
  // ("write.consent"); never the URL (it may hold an address).
  // `idempotency_key` empty: no Idempotency-Key header.
  Answer Send(const config::GenericRequest& request, const TemplateValues& values,
              const std::string& body, std::string_view what, const std::string& idempotency_key,
              bool erasure);
  // Items of a poll page or a read answer, as InboundRecords.
  std::vector<InboundRecord> RecordsOf(const nlohmann::json& items, bool signed_events) const;
  InboundRecord RecordOf(const ProtocolEvent& e, bool signed_event) const;
  Result<std::vector<RecordRef>> RefsOf(std::string_view body) const;

  // Deliver parts (generic_deliver.cc).
  struct Part;
  struct Pending;
  void Plan(Pending& p) const;
  void SendSingle(Pending& p, Part& part);
  void SendBatch(const config::GenericWrite& write, std::string_view what,
                 std::vector<std::pair<Pending*, Part*>>& parts);

  GenericSettings settings_;
  std::shared_ptr<const mapping::MappingSpec> spec_;
  HttpClient& http_;
  const config::GenericConnectorConfig& decl_;  // settings_.declaration
  SystemClock clock_;                           // signing timestamps, HTTP-date Retry-After
};

}  // namespace consentd::connectors::generic
