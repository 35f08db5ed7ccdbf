// The in-memory state of one simulated Mailchimp audience (list): its
// interest categories, marketing permissions, members, the set of
// permanently deleted ("forgotten") addresses and the pending double
// opt-in confirmations. Every change goes through Write/SetStatus/Archive/
// DeletePermanent/ChangeEmail, which enforce Mailchimp's transition rules,
// stamp last_changed and report what happened as MemberEvents (from which
// the caller builds webhooks, filtered by the change's Source).
//
// Deterministic: ids derive from addresses and sequence numbers, time from
// the injected Clock. Not thread-safe (the simulator's io thread only).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "core/clock.h"
#include "sim/mailchimp/api_error.h"

namespace consentd::sim::mailchimp {

enum class MemberStatus {
  kSubscribed,
  kUnsubscribed,
  kCleaned,
  kPending,
  kTransactional,
  kArchived
};

std::string_view StatusName(MemberStatus s);
std::optional<MemberStatus> ParseStatus(std::string_view s);

// Who made a change: Mailchimp's webhook `sources` (user, admin, api).
enum class Source { kUser, kAdmin, kApi };
std::string_view SourceName(Source s);

struct InterestCategory {
  std::string id;
  std::string title;
  std::string type;  // checkboxes, dropdown, radio, hidden
  int display_order = 0;
};

struct Interest {
  std::string id;
  std::string category_id;
  std::string name;
  int display_order = 0;
};

struct MarketingPermissionDef {
  std::string id;
  std::string text;
};

struct Member {
  std::string email;  // as last given
  std::string hash;   // md5(lower(email)), the member's `id`
  std::string unique_email_id;
  std::int64_t web_id = 0;
  std::int64_t seq = 0;  // creation order: the default listing order
  MemberStatus status = MemberStatus::kSubscribed;
  MemberStatus status_before_archive = MemberStatus::kSubscribed;
  std::string email_type = "html";
  nlohmann::json merge_fields = nlohmann::json::object();
  std::map<std::string, bool> interests;    // every interest id of the list
  std::map<std::string, bool> permissions;  // every permission id of the list
  std::string ip_signup, ip_opt, timestamp_signup, timestamp_opt;  // ISO or ""
  std::string language;
  bool vip = false;
  std::vector<std::string> tags;
  std::optional<std::pair<double, double>> location;  // latitude, longitude
  std::string unsubscribe_reason;
  std::string source;  // "API - Generic", "Hosted Signup Form", "Admin Add", "Import"
  TimestampMs last_changed = 0;

  bool operator==(const Member&) const = default;
};

// A validated member body (POST/PUT/PATCH, batch entries, control actions):
// only the fields present are applied.
struct MemberUpdate {
  std::optional<std::string> email_address;
  std::optional<MemberStatus> status;
  std::optional<MemberStatus> status_if_new;
  std::optional<std::string> email_type, language, ip_signup, ip_opt;
  std::optional<std::string> timestamp_signup, timestamp_opt;  // ISO, normalised
  std::optional<nlohmann::json> merge_fields;                  // object
  std::map<std::string, bool> interests;
  std::map<std::string, bool> permissions;
  std::optional<bool> vip;
  std::optional<std::vector<std::string>> tags;
  std::optional<std::pair<double, double>> location;
};

// How a write treats existing and missing members.
enum class WriteMode {
  kCreate,  // POST members: existing (not archived) → 400 "Member Exists"
  kUpsert,  // PUT: status_if_new for new members, status for existing ones
  kUpdate,  // PATCH: the member must exist
};

// One observable change, the material of a webhook.
struct MemberEvent {
  enum class Kind { kSubscribe, kUnsubscribe, kProfile, kUpEmail, kCleaned };
  Kind kind;
  Source source;
  Member member;          // state after the change
  std::string action;     // unsubscribe: "unsub" | "delete"
  std::string reason;     // unsubscribe: "manual" | "abuse"; cleaned: "hard" | "abuse"
  std::string old_email;  // upemail
  std::string campaign_id;
};

struct Confirmation {
  std::string token;
  std::string hash;
  TimestampMs created = 0;
};

class Audience {
 public:
  using EventSink = std::function<void(const MemberEvent&)>;

  // `list_id` names the audience; the clock and the sink are borrowed and
  // must outlive the Audience.
  Audience(std::string list_id, const Clock& clock, EventSink sink);

  // Back to the initial state: categories and permissions, no members.
  void Reset();

  const std::string& list_id() const { return list_id_; }
  TimestampMs date_created() const { return date_created_; }
  const std::vector<InterestCategory>& categories() const { return categories_; }
  const std::vector<Interest>& interests() const { return interests_; }
  const std::vector<MarketingPermissionDef>& permissions() const { return permissions_; }
  const std::map<std::string, Confirmation>& confirmations() const { return confirmations_; }
  const std::set<std::string>& forgotten() const { return forgotten_; }

  // Members in creation order.
  std::vector<const Member*> Members() const;
  // Members by subscriber hash (no sort: for scans that order only a page).
  const std::map<std::string, Member>& members_by_hash() const { return members_; }
  // Members by last_changed, newest first (creation order among equals),
  // from `offset`, at most `count`: consentd reads the members changed last
  // after each round of webhooks, without a scan of the audience.
  std::vector<const Member*> RecentlyChanged(std::size_t offset, std::size_t count) const;
  // Members whose last_changed lies in [from_ms, until_ms) (either end
  // open when absent), oldest first (creation order among equals), from
  // `offset`, at most `count`: consentd's poll reads a window of changes
  // page by page, and a scan of the whole audience per page made each page
  // cost as much as the audience is large.
  std::vector<const Member*> ChangedBetween(std::optional<TimestampMs> from_ms,
                                            std::optional<TimestampMs> until_ms,
                                            std::size_t offset, std::size_t count) const;
  // By subscriber hash or e-mail address (case-insensitive). nullptr if none.
  const Member* Find(std::string_view hash_or_email) const;
  bool IsKnownInterest(std::string_view id) const;
  bool IsKnownPermission(std::string_view id) const;
  const Interest* FindInterest(std::string_view id) const;

  // Add/update as the API (or a person/admin) would. `hash_or_email` is the
  // path's subscriber hash, empty for POST and batch (then email_address is
  // the key). On success returns the member and whether it was created.
  struct WriteResult {
    const Member* member = nullptr;
    bool created = false;
  };
  std::variant<WriteResult, ApiError> Write(std::string_view hash_or_email,
                                            const MemberUpdate& update, WriteMode mode,
                                            Source source);

  // Status change with an explicit webhook reason (person/admin actions):
  // unsubscribe "manual"/"abuse", cleaned "hard". No compliance checks:
  // people and admins may do what the API may not (a confirmed opt-in).
  std::optional<ApiError> SetStatus(std::string_view hash_or_email, MemberStatus status,
                                    Source source, std::string reason = "manual",
                                    std::string campaign_id = "");

  // DELETE member: status archived (idempotent).
  std::optional<ApiError> Archive(std::string_view hash_or_email, Source source);
  // actions/delete-permanent: gone, and the address may never be re-added.
  std::optional<ApiError> DeletePermanent(std::string_view hash_or_email, Source source);
  std::optional<ApiError> ChangeEmail(std::string_view hash_or_email, std::string_view new_email,
                                      Source source);
  // POST members/{hash}/tags: each (name, active) adds or removes a tag
  // (member_tags.cc). No webhook (Mailchimp's list webhooks have no tag
  // event); last_changed is left as it is (consentd must not rely on it
  // either way).
  std::optional<ApiError> SetTags(std::string_view hash_or_email,
                                  const std::vector<std::pair<std::string, bool>>& tags);

  // Double opt-in: a person signs up on the hosted form (pending with a
  // confirmation), later clicks the link. A forgotten address may sign up
  // again this way, once confirmed (that is how Mailchimp lets it back).
  std::variant<Confirmation, ApiError> SignUp(const MemberUpdate& update);
  std::optional<ApiError> Confirm(std::string_view token_or_email);

  // Seeds `count` members deterministically from `seed` (no webhooks).
  void Seed(int count, std::uint64_t seed);

  // Full state for a restart (audience_state.cc): definitions, members,
  // forgotten addresses, confirmations, counters. LoadState replaces the
  // state (no events); on error it is back to Reset() and the error names
  // the bad field.
  nlohmann::json SaveState() const;
  std::optional<std::string> LoadState(const nlohmann::json& state);

 private:
  Member* FindMutable(std::string_view hash_or_email);
  Member& Create(const std::string& email, Source source);
  // Sets m.last_changed (every change of it goes through here) and indexes
  // the member under it.
  void Touch(Member& m, TimestampMs when);
  void ReindexChanged();
  void ApplyFields(Member& m, const MemberUpdate& u) const;
  void EnterStatus(Member& m, MemberStatus s, Source source);
  void Emit(MemberEvent::Kind kind, Source source, const Member& m, std::string action = "",
            std::string reason = "", std::string old_email = "", std::string campaign = "");
  // The events for a finished change from `before` to `after`.
  void EmitChange(const Member& before, const Member& after, Source source, bool created);

  std::string list_id_;
  const Clock& clock_;
  EventSink sink_;
  TimestampMs date_created_;
  std::vector<InterestCategory> categories_;
  std::vector<Interest> interests_;
  std::vector<MarketingPermissionDef> permissions_;
  std::map<std::string, Member> members_;  // by hash
  // (-last_changed, seq, hash) of each member's current state, and of
  // earlier states not yet dropped (RecentlyChanged skips those).
  std::set<std::tuple<TimestampMs, std::int64_t, std::string>> by_changed_;
  std::set<std::string> forgotten_;                    // hashes
  std::map<std::string, Confirmation> confirmations_;  // by token
  std::int64_t next_seq_ = 1;
  std::int64_t confirmation_counter_ = 0;
};

}  // namespace consentd::sim::mailchimp
