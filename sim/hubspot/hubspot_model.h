// The state of the simulated HubSpot portal: contacts, subscription
// definitions, per-subscription and unsubscribe-all statuses, the GDPR
// blocklist, and the change events HubSpot would send as webhooks.
// No HTTP here: hubspot_system.cc validates requests and calls this.
//
// Not thread-safe (the simulator's io thread only). Time from the injected
// clock. Emails are compared lower-cased.
#pragma once

#include <cstdint>
#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace consentd::sim::hubspot {

using Properties = std::map<std::string, std::string>;

struct Contact {
  std::int64_t id = 0;
  Properties properties;       // includes email, createdate, lastmodifieddate, hs_object_id
  TimestampMs created_at = 0;  // = createdate, parsed
  TimestampMs updated_at = 0;  // = lastmodifieddate, parsed (the search index key)
  bool archived = false;
  TimestampMs archived_at = 0;
};

struct Definition {
  std::int64_t id = 0;
  std::string name;
  std::string description;
  std::string purpose;
  std::string channel;  // EMAIL, SMS, WHATSAPP
  bool is_default = false;
};

struct SubscriptionStatus {
  std::string state = "NOT_SPECIFIED";  // SUBSCRIBED, UNSUBSCRIBED, NOT_SPECIFIED
  std::string legal_basis;
  std::string legal_basis_explanation;
  std::string source;
  TimestampMs timestamp = 0;
};

struct WideStatus {
  bool unsubscribed = false;
  TimestampMs timestamp = 0;
};

// One webhook event before it is numbered and serialised.
struct ChangeEvent {
  std::string subscription_type;  // contact.propertyChange, contact.creation, ...
  std::int64_t object_id = 0;
  std::string property_name;
  std::string property_value;
  std::string change_source;  // INTEGRATION, CRM_UI, FORM, EMAIL, GDPR, ...
  std::string source_id;
  TimestampMs occurred_at = 0;
  std::vector<std::int64_t> merged_object_ids;  // contact.merge
  std::int64_t primary_object_id = 0;           // contact.merge
};

// Who made a change: HubSpot's changeSource and sourceId.
struct Actor {
  std::string change_source = "INTEGRATION";
  std::string source_id;
  std::string status_source = "API";  // PublicStatus.source
};

class Model {
 public:
  Model(const Clock& clock, std::string block_property);

  void Reset();

  // --- contacts ---
  // kAlreadyExists (existing id in the message), kFailedPrecondition for a
  // GDPR-deleted address.
  Result<Contact*> Create(const Properties& props, const Actor& actor);
  // Follows merges; archived contacts only when include_archived.
  Contact* Find(std::int64_t id, bool include_archived = false);
  Contact* FindByEmail(const std::string& email, bool include_archived = false);
  Contact* FindByPhone(const std::string& phone);
  void Update(Contact& c, const Properties& props, const Actor& actor);
  // As in HubSpot, archiving does not touch lastmodifieddate.
  void Archive(Contact& c, const Actor& actor);
  // Removes the contact and its statuses; blocklists its address.
  void GdprDelete(Contact& c, const Actor& actor);
  // Primary keeps its id and values; empty ones are filled from the other.
  Contact* Merge(Contact& primary, Contact& merged, const Actor& actor);
  bool IsBlocklisted(const std::string& email) const;
  // A fault for tests: subscribers (lower-cased) whose statuses batch
  // reads HubSpot fails on its side (a 207 error naming them) while it
  // answers for the others. Cleared by Reset.
  void SetReadFailing(const std::string& subscriber, bool failing);
  bool ReadFailing(const std::string& lower_subscriber) const {
    return !failing_reads_.empty() && failing_reads_.contains(lower_subscriber);
  }
  bool AnyReadFailing() const { return !failing_reads_.empty(); }
  // All contacts (live and archived) by id.
  const std::map<std::int64_t, Contact>& contacts() const { return contacts_; }
  // Live (not archived) contacts ordered by (lastmodifieddate, id): the
  // search's index, kept on every change so a page costs O(log N + page).
  // An order-statistics tree (libstdc++'s policy-based red-black tree), so
  // that the search counts a range's matches by rank, not by walking it.
  using ModifiedKey = std::pair<TimestampMs, std::int64_t>;
  using ModifiedIndex =
      __gnu_pbds::tree<ModifiedKey, __gnu_pbds::null_type, std::less<ModifiedKey>,
                       __gnu_pbds::rb_tree_tag, __gnu_pbds::tree_order_statistics_node_update>;
  const ModifiedIndex& by_modified() const { return by_modified_; }
  // Archived contacts by id (the archived list pages through these).
  const std::set<std::int64_t>& archived_ids() const { return archived_ids_; }
  const std::string& block_property() const { return block_property_; }

  // --- communication preferences ---
  const std::vector<Definition>& definitions() const { return definitions_; }
  const Definition* FindDefinition(std::int64_t id) const;
  SubscriptionStatus GetStatus(const std::string& channel, const std::string& subscriber,
                               std::int64_t subscription_id) const;
  WideStatus GetWide(const std::string& channel, const std::string& subscriber) const;
  // The recorded statuses of a lower-cased subscriber by subscription id, or
  // null; GetStatus without the copies (batch reads, hubspot_answers.cc).
  const std::map<std::int64_t, SubscriptionStatus>* StatusesOf(
      const std::string& channel, const std::string& lower_subscriber) const;
  // Returns HubSpot's setStatusSuccessReason. A SUBSCRIBED write clears an
  // unsubscribe-all (v4 semantics; v3 refuses before calling this).
  std::string SetStatus(const std::string& channel, const std::string& subscriber,
                        std::int64_t subscription_id, const std::string& state,
                        const std::string& legal_basis, const std::string& explanation,
                        const Actor& actor);
  // Unsubscribes from every definition of the channel and sets the wide flag.
  void UnsubscribeAll(const std::string& channel, const std::string& subscriber,
                      const Actor& actor);

  // Events since the last call, in order.
  std::vector<ChangeEvent> TakeEvents();

  nlohmann::json ToJson() const;
  // Full state for a restart (hubspot_state.cc): everything above plus the
  // id counter. LoadState replaces the state (pending events dropped).
  nlohmann::json SaveState() const;
  Status LoadState(const nlohmann::json& state);

  static std::string Lower(std::string s);
  static std::string OptOutProperty(const std::string& channel, std::int64_t subscription_id);
  static std::string GlobalOptOutProperty(const std::string& channel);

 private:
  using Key = std::pair<std::string, std::string>;  // (channel, subscriber)

  void SetProperty(Contact& c, const std::string& name, const std::string& value,
                   const Actor& actor, TimestampMs now);
  void Emit(ChangeEvent e);
  void Unindex(const Contact& c);
  // Sets updated_at and lastmodifieddate together and moves the contact in
  // by_modified_ (the only way either changes after creation).
  void Touch(Contact& c, TimestampMs now);
  Contact* ContactForSubscriber(const std::string& channel, const std::string& subscriber,
                                const Actor& actor);
  bool Watched(const std::string& property) const;

  const Clock& clock_;
  std::string block_property_;
  std::vector<Definition> definitions_;
  std::int64_t next_id_ = 1001;
  std::map<std::int64_t, Contact> contacts_;
  std::map<std::int64_t, std::int64_t> merged_into_;
  std::map<std::string, std::int64_t> by_email_;  // live (not archived) contacts
  ModifiedIndex by_modified_;                     // live contacts
  std::set<std::int64_t> archived_ids_;
  std::set<std::string> blocklist_;
  std::set<std::string> failing_reads_;
  std::map<Key, std::map<std::int64_t, SubscriptionStatus>> statuses_;
  std::map<Key, WideStatus> wide_;
  std::vector<ChangeEvent> events_;
};

// ISO-8601 UTC with milliseconds ("2026-01-02T03:04:05.678Z") and back;
// ParseTime also accepts integer milliseconds.
std::string FormatTime(TimestampMs ms);
std::optional<TimestampMs> ParseTime(const std::string& text);

}  // namespace consentd::sim::hubspot
