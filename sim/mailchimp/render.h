// JSON views of the simulated audience as the Mailchimp API returns them,
// and the `fields` / `exclude_fields` projection every GET supports.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "sim/mailchimp/audience.h"

namespace consentd::sim::mailchimp {

// With `keys`, only those top-level keys (a projection's first level);
// the values are the same.
nlohmann::json MemberJson(const Member& m, const Audience& a,
                          const std::set<std::string>* keys = nullptr);
nlohmann::json ListJson(const Audience& a, bool include_total_contacts);
nlohmann::json CategoryJson(const InterestCategory& c, const Audience& a);
nlohmann::json InterestJson(const Interest& i, const Audience& a);

// The whole state for the control API: the list, its categories, interests
// and permissions, every member (API view plus seq and status_before_archive),
// forgotten hashes and pending confirmations.
nlohmann::json StateJson(const Audience& a);

// Keeps only the dotted paths in `fields` (when not empty), then drops
// those in `exclude_fields`. Arrays are projected element by element, as
// Mailchimp does for "members.email_address".
nlohmann::json Project(nlohmann::json doc, const std::vector<std::string>& fields,
                       const std::vector<std::string>& exclude_fields);

}  // namespace consentd::sim::mailchimp
