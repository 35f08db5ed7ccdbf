// Mailchimp ⇄ canonical: plain structs for an audience member as the
// Mailchimp connector reads it (Marketing API 3.0 list member, or a webhook
// re-read through the API) and the pieces of the member PUT it sends, and
// the pure functions that map them through the administrator's mapping.
// Each mapping line is documented in docs/mapping.md.
//
// The Mapper borrows the spec (REQUIRES: it outlives the Mapper); it is
// immutable and thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/model.h"
#include "core/status.h"
#include "mapping/map_result.h"
#include "mapping/spec.h"

namespace consentd::mapping::mailchimp {

enum class MemberStatus {
  kSubscribed,
  kUnsubscribed,
  kCleaned,
  kPending,
  kTransactional,
  kArchived
};
std::string_view MemberStatusName(MemberStatus s);  // "subscribed", ...
Result<MemberStatus> ParseMemberStatus(std::string_view name);

struct MarketingPermission {
  std::string id;  // marketing_permission_id
  bool enabled = false;
  bool operator==(const MarketingPermission&) const = default;
};

struct Member {
  std::string email_address;
  MemberStatus status = MemberStatus::kSubscribed;
  std::map<std::string, bool> interests;  // interest id -> member has it
  std::vector<MarketingPermission> marketing_permissions;
  TimestampMs last_changed = 0;  // Mailchimp's last_changed (or the webhook's fired_at)
  std::string event_id;
};

// The pieces of PUT /lists/{list_id}/members/{subscriber_hash}. Unset
// optionals and empty collections are left out of the body.
struct MemberWrite {
  std::optional<MemberStatus> status;
  std::optional<MemberStatus> status_if_new;
  std::map<std::string, bool> interests;
  std::vector<MarketingPermission> marketing_permissions;
  // Written as pending although the canonical state is granted: the member
  // is unsubscribed and Mailchimp re-subscribes only through its double
  // opt-in (DESIGN.md rule 7).
  bool reconsent = false;
  // The target refuses the change (a cleaned address): nothing is written.
  bool blocked_by_target = false;
  std::vector<std::string> notes;  // why a part yields no write

  bool empty() const {
    return !status && !status_if_new && interests.empty() && marketing_permissions.empty();
  }
};

class Mapper {
 public:
  // REQUIRES: `system` is a mailchimp system of `spec`; `spec` outlives this.
  Mapper(const MappingSpec& spec, std::string system);

  // Native -> canonical: the member's whole state as changes.
  MapResult FromMember(const Member& m) const;

  // Canonical desired state -> member PUT pieces (absolute state), given
  // the member's current status in Mailchimp (nullopt: not a member yet).
  MemberWrite ToMember(const SubjectState& desired, std::optional<MemberStatus> current) const;

  // The canonical channel of `t` that this audience carries (its e-mail
  // channel): a box shows the consent {subject, t, this channel, ""}.
  std::string EmailChannel(const TopicSpec& t) const;

 private:
  Change Base(const Member& m) const;

  const MappingSpec& spec_;
  std::string system_;
  SystemSpec system_spec_;
  std::string hash_;
};

}  // namespace consentd::mapping::mailchimp
