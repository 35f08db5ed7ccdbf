// Member tags of the simulated Mailchimp API (Marketing 3.0.85):
//   GET  /lists/{list_id}/members/{subscriber_hash}/tags   {tags: [{id, name}], total_items}
//   POST /lists/{list_id}/members/{subscriber_hash}/tags   {tags: [{name, status}], is_syncing?}
//        -> 204; status "active" adds the tag (creating it), "inactive" removes it.
// consentd writes its re-consent marker this way (issue #7).
#include <algorithm>

#include "sim/mailchimp/mailchimp_sim.h"
#include "sim/mailchimp/member_request.h"
#include "sim/mailchimp/render.h"

namespace consentd::sim::mailchimp {

using nlohmann::json;

std::optional<ApiError> Audience::SetTags(std::string_view hash_or_email,
                                          const std::vector<std::pair<std::string, bool>>& tags) {
  Member* m = FindMutable(hash_or_email);
  if (m == nullptr) return NotFoundError();
  for (const auto& [name, active] : tags) {
    const auto it = std::find(m->tags.begin(), m->tags.end(), name);
    if (active && it == m->tags.end()) m->tags.push_back(name);
    if (!active && it != m->tags.end()) m->tags.erase(it);
  }
  return std::nullopt;
}

net::HttpResponse MailchimpSim::MemberTags(const net::HttpRequest& req, const std::string& hash) {
  if (req.method == "GET") {
    const Member* m = audience_.Find(hash);
    if (m == nullptr) return Error(NotFoundError());
    json tags = MemberJson(*m, audience_).at("tags");
    const std::size_t n = tags.size();
    return Json(200, {{"tags", std::move(tags)}, {"total_items", n}, {"_links", json::array()}});
  }
  if (req.method != "POST") {
    net::HttpResponse r = Error({405, "Method Not Allowed",
                                 "The requested method and resource are not compatible. See the "
                                 "Allow header for this resource's available methods.",
                                 nullptr, "ERROR_GENERIC"});
    r.headers.emplace_back("Allow", "GET, POST");
    return r;
  }
  auto parsed = ParseJsonBody(req.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return Error(*e);
  const json& body = std::get<json>(parsed);
  if (!body.is_object()) return Error(InvalidResourceDetail("The request body must be an object."));
  if (auto it = body.find("is_syncing"); it != body.end() && !it->is_boolean()) {
    return Error(InvalidResource(
        "is_syncing",
        "Schema describes boolean, " + std::string(it->type_name()) + " found instead"));
  }
  const auto tags = body.find("tags");
  if (tags == body.end()) return Error(InvalidResource("tags", "Required property tags not found"));
  if (!tags->is_array()) {
    return Error(InvalidResource(
        "tags", "Schema describes array, " + std::string(tags->type_name()) + " found instead"));
  }
  std::vector<std::pair<std::string, bool>> changes;
  for (const json& t : *tags) {
    if (!t.is_object()) {
      return Error(InvalidResource(
          "tags", "Schema describes object, " + std::string(t.type_name()) + " found instead"));
    }
    const auto name = t.find("name");
    const auto status = t.find("status");
    if (name == t.end() || !name->is_string()) {
      return Error(InvalidResource("tags.name", "Required property name not found"));
    }
    if (status == t.end() || !status->is_string()) {
      return Error(InvalidResource("tags.status", "Required property status not found"));
    }
    const std::string s = status->get<std::string>();
    if (s != "active" && s != "inactive") {
      return Error(InvalidResource(
          "tags.status", "Schema describes enum, \"" + s + "\" is not an allowed value."));
    }
    if (name->get<std::string>().empty()) {
      return Error(InvalidResource("tags.name", "A tag name must not be empty."));
    }
    changes.emplace_back(name->get<std::string>(), s == "active");
  }
  if (auto e = audience_.SetTags(hash, changes)) return Error(*e);
  return net::HttpResponse{204, "", {}, ""};
}

}  // namespace consentd::sim::mailchimp
