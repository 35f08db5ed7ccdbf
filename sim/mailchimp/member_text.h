// A member as the Mailchimp API returns it, written straight into a string
// (sim/json_writer.h), and the batch subscribe answer built from such
// members. MemberJson (render.h) parses WriteMemberJson's output, so there is
// one rendering of a member.
//
// Pure; reads the audience (the simulator's io thread only).
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim/json_writer.h"
#include "sim/mailchimp/audience.h"

namespace consentd::sim::mailchimp {

// With `keys`, only those top-level keys (a projection's first level).
void WriteMemberJson(JsonWriter& w, const Member& m, const Audience& a,
                     const std::set<std::string>* keys = nullptr);

// The keys of a member in a batch subscribe answer (the spec's
// ListMembers5): fewer than a member read has; no marketing_permissions
// among them, nor full_name, web_id, source or the SMS fields.
const std::set<std::string>& BatchAnswerMemberKeys();

// A page of the members list ({members, list_id, total_items, _links}),
// projected by `fields` when each field is a key of the page or
// "members.<key>" (consentd's poll asks for a few member keys). nullopt when
// the projection needs the general path (exclude_fields, deeper paths):
// the caller builds the page as JSON then. A page of 1000 members built as
// JSON and projected held the simulator's one thread ~20 ms, and every
// request to either system waited behind it (issue #5).
std::optional<std::string> MembersPageText(const std::vector<const Member*>& page,
                                           const Audience& a, std::size_t total_items,
                                           const std::vector<std::string>& fields,
                                           const std::vector<std::string>& exclude_fields);

// One refused entry of a batch subscribe.
struct BatchError {
  std::string email_address;
  std::string error;
  std::string error_code;
  std::string field;
  std::string field_message;
};

// POST /lists/{list_id}: the members created and updated (each written by
// WriteMemberJson right after its entry was applied), in request order, and
// the errors.
std::string BatchSubscribeBody(const std::vector<std::string>& created,
                               const std::vector<std::string>& updated,
                               const std::vector<BatchError>& errors);

}  // namespace consentd::sim::mailchimp
