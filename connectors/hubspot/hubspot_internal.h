// Internals of the HubSpot connector, shared by its .cc files only.
// hubspot_api.cc: HTTP calls and error classes; hubspot_connector.cc:
// construction, Check, ParseWebhook; hubspot_read.cc: Read, Poll;
// hubspot_deliver.cc: Deliver.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/common/connector.h"
#include "connectors/common/http_client.h"
#include "connectors/common/json_fields.h"
#include "connectors/common/vendor_clock.h"
#include "connectors/hubspot/hubspot_connector.h"
#include "core/clock.h"
#include "mapping/hubspot.h"
#include "mapping/spec.h"

namespace consentd::connectors::hubspot_internal {

// A list, search or batch answer as the spec has it: an object with a
// `results` array (required, empty when nothing matched). Anything else
// (a proxy's `{}`, an error page as 200) is not taken as "no contacts":
// a poll would move its cursor past the window, a full read would end
// early, a batch read would take every input as holding nothing.
inline bool HasResultsList(const nlohmann::json& body) {
  if (!body.is_object()) return false;
  const auto it = body.find("results");
  return it != body.end() && it->is_array();
}

using nlohmann::json;

// The API's batch limit (contacts batch read and the v4 batch endpoints).
inline constexpr int kApiBatchLimit = 100;
// Contacts list page size and search page size.
inline constexpr int kListPageSize = 100;
inline constexpr int kSearchPageSize = 100;

// A failed call: the Status (its code gives the error class) and the
// target's Retry-After, when there was one.
struct ApiError {
  Status status;
  std::optional<std::chrono::milliseconds> retry_after;
};

// One answered call: HTTP status and the parsed JSON body (null if none).
struct ApiReply {
  int status = 0;
  json body;
};

// ISO-8601 UTC ("2026-01-02T03:04:05.678Z", fraction and "Z" optional, or
// "+00:00") or integer milliseconds. nullopt for anything else.
std::optional<TimestampMs> ParseHubSpotTime(const json& value);

// Percent-encodes everything but RFC 3986 unreserved characters (a path
// segment or query value).
std::string UrlEncode(std::string_view in);

// "Bad request: " + vendor message with every address masked.
std::string VendorMessage(const json& body);
// True if the error body says the address was GDPR-deleted (blocklisted).
bool IsGdprBlocklisted(const json& body);

// One PublicStatus of the v4 API (a status read's or write's answer).
mapping::hubspot::SubscriptionStatus StatusFromJson(const json& j);

// A contact as the connector needs it.
struct Contact {
  std::string id;
  std::string email;  // as HubSpot returns it (lower-cased by HubSpot)
  std::string phone;  // mobilephone, else phone (SMS/WhatsApp subscriber)
  std::map<std::string, std::string> properties;  // the requested ones, null -> absent
  TimestampMs last_modified = 0;
  TimestampMs archived_at = 0;
};
Contact ContactFromJson(const json& j);

class HubSpotConnector final : public Connector {
 public:
  HubSpotConnector(HubSpotSettings s, std::shared_ptr<const mapping::MappingSpec> spec,
                   HttpClient& http);

  const std::string& name() const override { return settings_.name; }
  Result<std::vector<RecordRef>> ParseWebhook(const net::HttpRequest& req,
                                              std::string_view public_url,
                                              TimestampMs now) const override;
  int max_batch() const override;
  Status Check() override;
  Result<std::vector<InboundRecord>> Read(const std::vector<RecordRef>& refs) override;
  Result<PollPage> Poll(std::string_view cursor, TimestampMs now) override;
  std::vector<DeliveryResult> Deliver(const std::vector<OutboundItem>& items) override;
  // The own status source (OwnStatusSource); restoring keeps one learnt since.
  std::string LearntState() const override { return OwnStatusSource(); }
  void RestoreLearntState(const std::string& state) override;
  void TakeOverMemory(const Connector& previous) override;
  Result<std::vector<InboundRecord>> MapRecordPayload(std::string_view json) const override;
  Result<std::vector<RecordRef>> ParseWebhookUnverified(std::string_view body,
                                                        TimestampMs now) const override;
  Result<std::vector<NativeTopic>> ListNativeTopics() override;

  // --- hubspot_api.cc ---
  // Sends one request (JSON body when `body` is not null). A non-2xx answer
  // (207 counts as 2xx) becomes an ApiError with the class HubSpot's status
  // gives: 401 Unauthenticated, 403 PermissionDenied, 404 NotFound, 409
  // AlreadyExists, 429 ResourceExhausted (+ Retry-After), 5xx Unavailable,
  // 400 blocklisted BlockedByTarget, other 4xx InvalidArgument; transport
  // errors as HttpClient reports them.
  struct CallResult {
    std::optional<ApiReply> reply;  // set on success
    ApiError error;                 // set otherwise
    // The answer's Date header (HubSpot's clock, whole seconds since the
    // epoch), when it had a valid one, and when the answer arrived
    // (steady clock, ms).
    std::optional<std::int64_t> date_s;
    std::int64_t received_steady_ms = 0;
    bool ok() const { return reply.has_value(); }
  };
  CallResult Call(std::string_view method, const std::string& path_and_query,
                  const json& body) const;

 private:
  // The bodies of the public calls; the public ones turn a JSON type error
  // (a vendor answer of an unexpected shape) into a Status.
  Status CheckImpl();
  // The active subscription types (v4 definitions), `mapped` set.
  Result<std::vector<NativeTopic>> Definitions() const;
  // ParseWebhook after the signature: the event array -> record hints.
  Result<std::vector<RecordRef>> ParseEvents(std::string_view body, TimestampMs now) const;
  Result<std::vector<InboundRecord>> ReadImpl(const std::vector<RecordRef>& refs);

  // --- hubspot_read.cc ---
  // Contacts by id (batch read, chunks of 100). Ids HubSpot reports as not
  // found are in `missing`.
  struct ContactBatch {
    std::vector<Contact> found;
    std::set<std::string> missing;
    // Inputs HubSpot answered with another error (a failure on its side, a
    // refused input): neither found nor gone. Input -> reason. A reader
    // retries them; it must not take them as gone.
    std::map<std::string, std::string> failed;
    // The reason for `input` (an id, or an address in any case) if failed.
    const std::string* FailureOf(const std::string& input) const;
  };
  // On a failed call, `retry_after` (if given) gets the answer's wait.
  Result<ContactBatch> ReadContacts(
      const std::vector<std::string>& ids, bool by_email,
      std::optional<std::chrono::milliseconds>* retry_after = nullptr) const;
  // The properties every contact read asks for.
  std::vector<std::string> ContactProperties() const;
  // Statuses and unsubscribe-all of `contacts`, mapped; one MapResult per
  // contact id, without event ids / times of events (filled by MapContact).
  struct Preferences {
    // contact id -> statuses / wide statuses as read
    std::map<std::string, std::vector<mapping::hubspot::SubscriptionStatus>> statuses;
    std::map<std::string, std::vector<mapping::hubspot::UnsubscribeAll>> wide;
    // contact id -> why a status read yields nothing (unmapped types)
    std::map<std::string, std::vector<std::string>> notes;
    // contact id -> why HubSpot failed its subscriber in an answer that
    // gave others (a 207 error other than not found / refused): its
    // statuses are unknown, so the contact is not read (InboundRecord::
    // not_read).
    std::map<std::string, std::string> failed;
    // Subscribers asked (a count: they are distinct per channel) and
    // those failed so (channel + '\n' + subscriber), for BroadFailure:
    // two contacts sharing a subscriber are one input.
    std::size_t asked = 0;
    std::set<std::string> failing;
  };
  // The pure steps of ReadPreferences, shared with MapRecordPayload: one
  // subscriber's v4 PublicStatus / PublicWideStatus list (`channel`: the
  // channel asked for) added for the contacts `ids`.
  void AddStatuses(const std::vector<std::string>& ids, const json& list,
                   const std::string& channel, Preferences& prefs) const;
  void AddWideStatuses(const std::vector<std::string>& ids, const json& list,
                       const std::string& channel, Preferences& prefs) const;
  Result<std::vector<InboundRecord>> MapRecordPayloadImpl(const json& payload) const;
  Result<Preferences> ReadPreferences(const std::vector<Contact>& contacts) const;
  // Maps one contact's state; every change gets `event_id`.
  mapping::MapResult MapContact(const Contact& c, const Preferences& prefs,
                                const std::string& event_id) const;
  InboundRecord DeletedRecord(const RecordRef& ref, bool erasure) const;
  // A record HubSpot failed in an answer that gave others: not decided,
  // read again later by `again` (InboundRecord::not_read).
  static InboundRecord NotReadRecord(std::string event_id, RecordRef again, std::string reason);
  // Whether HubSpot, asked for `asked` inputs in a read, failing `failed`
  // of them on its side failed the read as a whole.
  static bool BroadFailure(std::size_t asked, std::size_t failed);
  Result<std::vector<InboundRecord>> RecordsForContacts(
      const std::vector<Contact>& contacts, const std::vector<std::string>& event_ids) const;
  Result<PollPage> PollFull(json cursor, TimestampMs now);
  Result<PollPage> PollIncremental(json cursor, TimestampMs now);
  Status PollArchived(json& cursor, TimestampMs now, std::vector<InboundRecord>& out);
  // The poll's windows are bounded on HubSpot's clock, not consentd's: with
  // consentd's clock ahead, a window would end in HubSpot's future
  // (connectors/common/vendor_clock.h), learnt from the poll's successful
  // answers.
  TimestampMs OnHubSpotClock(TimestampMs now) const { return hubspot_clock_.On(now); }
  void LearnClockLead(TimestampMs now, std::int64_t now_steady, const CallResult& answer);
  VendorClock hubspot_clock_;

  // --- hubspot_deliver.cc (see there) ---
  friend class Delivery;
  // The `source` HubSpot records on the statuses consentd writes, learnt
  // from the answers to its status writes; empty until one was answered.
  // With the explanation consentd writes (hs::OwnExplanation: the prefix
  // and the state written) it tells consentd's own writes from changes made
  // by anyone else, the person included (an unsubscribe keeps the
  // explanation it replaced). Kept across restarts by the daemon
  // (LearntState); until one was ever learnt, the explanation alone tells
  // them apart.
  std::string OwnStatusSource() const;
  void LearnOwnStatusSource(const std::string& source) const;
  mutable std::mutex own_source_mu_;
  mutable std::string own_status_source_;

  // Native channels that carry mapped subscription types.
  std::set<std::string> status_channels_;
  // Native channels the channel block (unsubscribe-all) covers; empty if
  // the mapping has no channel block with a side here.
  std::set<std::string> wide_channels_;
  // Contact properties that are blocks (scope all / address).
  std::set<std::string> block_properties_;
  // Subscription type ids the mapping names (others are not read).
  std::set<std::int64_t> mapped_ids_;

  HubSpotSettings settings_;
  std::shared_ptr<const mapping::MappingSpec> spec_;
  HttpClient& http_;
  mapping::hubspot::Mapper mapper_;
  std::string mapping_hash_;
  SystemClock clock_;  // Retry-After dates only
};

}  // namespace consentd::connectors::hubspot_internal
