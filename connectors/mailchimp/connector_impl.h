// Internal to connectors/mailchimp: the connector class, split over
// mailchimp_{connector,webhook,poll,deliver}.cc, and the helpers they share.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/common/connector.h"
#include "connectors/common/http_client.h"
#include "connectors/common/json_fields.h"
#include "connectors/common/parallel_calls.h"
#include "connectors/common/vendor_clock.h"
#include "connectors/mailchimp/mailchimp_connector.h"
#include "connectors/mailchimp/own_writes.h"
#include "core/clock.h"
#include "mapping/mailchimp.h"
#include "mapping/spec.h"

namespace consentd::connectors::mailchimp {

using Query = std::vector<std::pair<std::string, std::string>>;

// Most members one batch-subscribe call takes (the API's limit).
inline constexpr int kMaxBatch = 500;
// Most members one list read returns (the API's `count` maximum).
inline constexpr int kPageSize = 1000;
// Hinted members read with one list request (ReadRecent) from this many
// on; fewer are read one by one (a GET each is cheaper than a page).
inline constexpr int kRecentReadMin = 4;
inline constexpr int kRecentSlackMin = 16;

// Tolerant JSON accessors (StringAt, BoolAt, ArrayAt): connectors/common/json_fields.h.

// One API answer, classified. `status` is OK for 2xx; otherwise the class
// of the failure (ClassOf): Unavailable/DeadlineExceeded for transport and
// 5xx, ResourceExhausted for 429, Unauthenticated 401, PermissionDenied
// 403, NotFound 404, InvalidArgument for another 4xx (message: Mailchimp's
// title and the fields named, never its detail, which may hold addresses).
struct ApiAnswer {
  Status status;
  int http_status = 0;  // 0: no answer (transport)
  std::string title;    // problem document's title
  std::optional<std::chrono::milliseconds> retry_after;
  nlohmann::json body;  // parsed JSON (null if none or not JSON)
  std::optional<std::int64_t> date_s;   // the Date header, seconds since the epoch
  std::int64_t received_steady_ms = 0;  // when the answer arrived (SteadyNowMs)
};

// A member record of the API, as the mapper takes it. InvalidArgument when
// the JSON is not a member (no address, unknown status, bad last_changed).
struct ParsedMember {
  mapping::mailchimp::Member member;
  std::string id;         // the subscriber hash Mailchimp reports
  std::string unique_id;  // unique_email_id: Mailchimp's opaque id of the member
};
Result<ParsedMember> ParseMember(const nlohmann::json& j);

// The version of a member as the poll keys it: "<unique_email_id>:<second
// of last_changed>#<digest of status, interests and marketing permissions>".
// The same key is the same mapped state; two states within one second get
// two keys, in one version slot (sync/version_memory.h: a slot that held
// two states has every read decided, so a member that returns to a state
// within the second is decided again). A record's version id
// (InboundRecord::version_id, on poll records too) is "poll:" and the
// key, the event id the poll gives that version. Event ids
// end up in the proof log, which outlives an erasure, so the key names the
// member by Mailchimp's opaque id, never by the subscriber hash: that is
// MD5 of the address, which anyone who knows the address can compute.
// Empty when the member has no unique_email_id (then it has no version).
// Only the marketing permissions in `mapped_permissions` (those the mapping
// binds topics to) count: a batch subscribe answer carries none (the spec's
// ListMembers5), and the others mean nothing to consentd.
std::string MemberVersionKey(const ParsedMember& pm,
                             const std::set<std::string>& mapped_permissions);

// The instant a read of a member last changed at `last_changed` counts as
// (Change::provenance.occurred_at). last_changed has whole seconds: the
// change happened somewhere in that second, and its last millisecond is
// taken, so a confirmation made in the same second as a
// millisecond-precise CRM change (the pending write it answers) is not
// ordered before it. Rule 3 still settles grant against withdrawal inside
// the skew window whatever the order.
inline TimestampMs ReadInstant(TimestampMs last_changed) {
  return last_changed % 1000 == 0 ? last_changed + 999 : last_changed;
}

// The `fields` projection of a member read (everything the mapper uses).
inline constexpr char kMemberFields[] =
    "id,unique_email_id,email_address,status,interests,marketing_permissions,last_changed";

// A box (interest or marketing permission) that a write turns on for a
// grant whose changes flow back from the audience: one the person can
// untick there (MailchimpConnector::KeepNewerUnticks).
struct GuardedTick {
  mapping::MailchimpTopicKind kind;
  std::string id;
  const ConsentRecord* grant = nullptr;  // in the state being written
};

class MailchimpConnector final : public Connector {
 public:
  MailchimpConnector(MailchimpSettings s, std::shared_ptr<const mapping::MappingSpec> spec,
                     HttpClient& http);

  const std::string& name() const override { return settings_.name; }
  Result<std::vector<RecordRef>> ParseWebhook(const net::HttpRequest& req,
                                              std::string_view public_url,
                                              TimestampMs now) const override;
  int max_batch() const override;
  int read_parallelism() const override { return settings_.read_parallelism; }
  int whole_set_read_min() const override { return kRecentReadMin; }
  Status Check() override;
  Result<std::vector<InboundRecord>> Read(const std::vector<RecordRef>& refs) override;
  Result<PollPage> Poll(std::string_view cursor, TimestampMs now) override;
  std::vector<DeliveryResult> Deliver(const std::vector<OutboundItem>& items) override;
  Result<std::vector<InboundRecord>> MapRecordPayload(std::string_view json) const override;
  Result<std::vector<RecordRef>> ParseWebhookUnverified(std::string_view body,
                                                        TimestampMs now) const override;
  Result<std::vector<NativeTopic>> ListNativeTopics() override;
  void TakeOverMemory(const Connector& previous) override;

 private:
  // A call to `path` under base_url (path starts with "/3.0/").
  // `background`: a delivery's call (OutboundRequest::background).
  ApiAnswer Call(std::string_view method, const std::string& path, const Query& query = {},
                 const nlohmann::json* body = nullptr, bool background = false);
  // Call, for a delivery: beyond half the in-flight budget it yields to
  // reads and polls waiting for a connection (RateLimiter, CallPriority),
  // so a delivery backlog never holds the other direction's reads up for
  // long, and uses every connection they leave idle.
  ApiAnswer DeliveryCall(std::string_view method, const std::string& path, const Query& query = {},
                         const nlohmann::json* body = nullptr) {
    return Call(method, path, query, body, /*background=*/true);
  }
  std::string ListPath() const { return "/3.0/lists/" + settings_.list_id; }
  std::string MemberPath(std::string_view hash) const;

  // ParseWebhook after authentication: the decoded fields of one event
  // (`body`: its bytes, hashed into the event id).
  Result<std::vector<RecordRef>> ParseEventFields(
      const std::vector<std::pair<std::string, std::string>>& fields, std::string_view body,
      TimestampMs now) const;
  // The audience's interests ("<category>: <interest>"), and with
  // `permissions` its marketing permissions as far as a member shows them;
  // `mapped` unset.
  Result<std::vector<NativeTopic>> ReadNativeTopics(bool permissions);

  // Read one member; the record for it (a kTargetDeleted change on 404).
  Result<InboundRecord> ReadOne(const RecordRef& ref);
  // Reads the members changed last (one list request, newest first) and
  // sets out[i] for each refs[i] about a changed member found there; the
  // rest stay unset (read one by one). A retryable failure is returned; any
  // other leaves everything unset.
  Status ReadRecent(const std::vector<RecordRef>& refs,
                    std::vector<std::optional<InboundRecord>>& out);
  // The record of a member as read (ReadOne and ReadRecent): event id and
  // time from the hint, version id from the member.
  InboundRecord FromReadMember(const ParsedMember& pm, const RecordRef& ref) const;
  // A member read from the API as an InboundRecord (event id given).
  InboundRecord FromApiMember(const ParsedMember& pm, std::string event_id,
                              TimestampMs fallback_time) const;

  // Deliver parts (mailchimp_deliver.cc).
  struct Pending;
  // Leaves out of each write the boxes the linked member shows unticked
  // by someone else since the grant (read first, members side by side;
  // kept_out).
  void KeepNewerUnticks(std::vector<Pending>& pending);
  // The same for one write whose `ticks` are guarded: reads the member.
  void KeepOutUnticked(Pending& p, const std::vector<GuardedTick>& ticks);
  // Runs `fn` for each of `rows`: rows of different members side by side
  // (calls_), those of one member one after another, in their order.
  void ForEachMember(const std::vector<Pending*>& rows, const std::function<void(Pending&)>& fn);
  void DeliverBatch(std::vector<Pending*>& batch);
  // Sets p's DeliveryResult::version_id from the member Mailchimp answered
  // with, when it shows exactly the state written.
  void NoteWrittenVersion(Pending& p, const nlohmann::json& member) const;
  // False for a member answer without marketing_permissions (a batch
  // subscribe's: the spec's ListMembers5 has none) when the mapping binds
  // topics to permissions: its version cannot be compared with a read's.
  bool ShowsPermissionsIfMapped(const nlohmann::json& member) const {
    return mapped_permissions_.empty() ||
           (member.is_object() && member.contains("marketing_permissions"));
  }
  // Notes in own_writes_ the state p's write left the member in, as
  // Mailchimp answered it (`member`).
  void NoteOwnStatus(const Pending& p, const nlohmann::json& member);
  void DeliverPut(Pending& p);
  void ResolveCompliance(Pending& p);
  // ResolveCompliance found the member unsubscribed (`member`: its status
  // and last_changed): true, with p's result set, if that is a change of
  // someone else's not older than p's grants, which is then not written
  // over.
  bool KeepNewerUnsubscribe(Pending& p, const nlohmann::json& member);
  // The re-consent marker of a written member, when it is a tag (POST
  // /lists/{id}/members/{hash}/tags; issue #7).
  void WriteMarkerTags(Pending& p);
  void Erase(const OutboundItem& item, DeliveryResult& r);
  // Erases the member `hash` as the mapping's erasure mode says.
  void EraseMember(const std::string& hash, DeliveryResult& r);
  // A restrict erasure's archive answered 405: reads the member's status and
  // finishes the erasure as that status allows.
  void ArchiveRefused(const std::string& hash, DeliveryResult& r);

  MailchimpSettings settings_;
  std::shared_ptr<const mapping::MappingSpec> spec_;
  HttpClient& http_;
  mapping::mailchimp::Mapper mapper_;
  std::string mapping_hash_;
  // The marketing permission ids the mapping binds topics to (the only
  // ones a member's version counts: MemberVersionKey).
  std::set<std::string> mapped_permissions_;
  std::string auth_header_;
  SystemClock clock_;  // only for HTTP-date Retry-After and Date values
  // Poll windows end on Mailchimp's clock (connectors/common/vendor_clock.h),
  // learnt from the poll's successful answers.
  VendorClock mailchimp_clock_;
  // How many members beyond a set's own size ReadRecent asks for: hinted
  // members are among the newest, behind those changed since. Adapts to
  // how deep the last read found them (Reads may run at once).
  std::atomic<int> recent_slack_{kRecentSlackMin};
  // The members this connector's own writes left unsubscribed (Deliver
  // calls may run at once).
  OwnWrites own_writes_;
  // The calls of one delivery that can run side by side (guard reads,
  // PUTs, re-reads after a compliance answer, marker tags):
  // settings_.delivery_parallelism, the caller included.
  ParallelCalls calls_;
};

}  // namespace consentd::connectors::mailchimp
