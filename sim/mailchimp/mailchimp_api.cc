// The /3.0/ routes of MailchimpSim.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sim/mailchimp/mailchimp_sim.h"
#include "sim/mailchimp/mc_time.h"
#include "sim/mailchimp/member_request.h"
#include "sim/mailchimp/member_text.h"
#include "sim/mailchimp/render.h"

namespace consentd::sim::mailchimp {
namespace {

using nlohmann::json;

// A body written as text already (member_text.h), with MailchimpSim::Json's
// content type.
net::HttpResponse JsonText(int status, std::string body) {
  net::HttpResponse r;
  r.status = status;
  r.content_type = "application/json; charset=utf-8";
  r.body = std::move(body);
  return r;
}

std::vector<std::string> Segments(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    size_t slash = path.find('/');
    out.push_back(net::UrlDecode(path.substr(0, slash), /*plus_as_space=*/false));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

// Common GET parameters: fields / exclude_fields.
struct Projection {
  std::vector<std::string> fields, exclude;
};

Projection ProjectionOf(const std::vector<std::pair<std::string, std::string>>& query) {
  Projection p;
  for (const auto& [k, v] : query) {
    if (k == "fields" || k == "fields[]") AppendCsv(v, p.fields);
    if (k == "exclude_fields" || k == "exclude_fields[]") AppendCsv(v, p.exclude);
  }
  return p;
}

TimestampMs Seconds(TimestampMs ms) { return ms >= 0 ? ms / 1000 : (ms - 999) / 1000; }

}  // namespace

net::HttpResponse MailchimpSim::Route(const net::HttpRequest& req) {
  const std::vector<std::string> seg = Segments(req.path);
  const auto query = net::ParseQuery(req.query);
  const Projection proj = ProjectionOf(query);
  const std::string& method = req.method;
  auto method_not_allowed = [&](const char* allow) {
    net::HttpResponse r = Error({405, "Method Not Allowed",
                                 "The requested method and resource are not compatible. See the "
                                 "Allow header for this resource's available methods.",
                                 nullptr, "ERROR_GENERIC"});
    r.headers.emplace_back("Allow", allow);
    return r;
  };
  auto ok = [&](json doc) { return Json(200, Project(std::move(doc), proj.fields, proj.exclude)); };

  if (seg.empty() || seg[0] != "3.0") return Error(NotFoundError());
  if (seg.size() == 1) {
    if (method != "GET") return method_not_allowed("GET");
    return ok({{"account_id", "consentdsim0001"},
               {"login_id", "consentdsim"},
               {"account_name", "consentd-sim"},
               {"email", "owner@example.org"},
               {"role", "owner"},
               {"pro_enabled", false},
               {"total_subscribers", audience_.Members().size()},
               {"_links", json::array()}});
  }
  if (seg[1] == "ping" && seg.size() == 2) {
    if (method != "GET") return method_not_allowed("GET");
    return Json(200, {{"health_status", "Everything's Chimpy!"}});
  }
  if (seg[1] != "lists") return Error(NotFoundError());
  if (seg.size() == 2) {
    if (method != "GET") return method_not_allowed("GET");
    return ok({{"lists", json::array({ListJson(audience_, false)})},
               {"total_items", 1},
               {"constraints",
                {{"may_create", false}, {"max_instances", 1}, {"current_total_instances", 1}}},
               {"_links", json::array()}});
  }
  if (seg[2] != audience_.list_id()) return Error(NotFoundError());
  if (seg.size() == 3) {
    if (method == "GET") {
      bool include_total = false;
      for (const auto& [k, v] : query) {
        if (k != "include_total_contacts") continue;
        if (auto e = ParseBoolParam(k, v, include_total)) return Error(*e);
      }
      return ok(ListJson(audience_, include_total));
    }
    if (method == "POST") return BatchSubscribe(req);
    return method_not_allowed("GET, POST");
  }
  if (seg[3] == "interest-categories") return InterestCategories(req, seg);
  if (seg[3] != "members") return Error(NotFoundError());
  if (seg.size() == 4) {
    if (method == "GET") return GetMembers(req);
    if (method == "POST") return WriteMember(req, "");
    return method_not_allowed("GET, POST");
  }
  const std::string& hash = seg[4];
  if (seg.size() == 5) {
    if (method == "GET") {
      const Member* m = audience_.Find(hash);
      if (m == nullptr) return Error(NotFoundError());
      // Only the top-level keys `fields` can keep are built (consentd reads
      // a member back after each of its writes, with a few fields).
      std::optional<std::set<std::string>> keys;
      if (!proj.fields.empty()) {
        keys.emplace();
        for (const std::string& f : proj.fields) keys->insert(f.substr(0, f.find('.')));
      }
      return ok(MemberJson(*m, audience_, keys ? &*keys : nullptr));
    }
    if (method == "PUT" || method == "PATCH") return WriteMember(req, hash);
    if (method == "DELETE") {
      // Mailchimp's API refuses to archive a member that is pending, cleaned
      // (bounced) or already archived: 405, not a silent success.
      if (const Member* m = audience_.Find(hash);
          m != nullptr &&
          (m->status == MemberStatus::kPending || m->status == MemberStatus::kCleaned ||
           m->status == MemberStatus::kArchived)) {
        return Error({405, "Method Not Allowed",
                      "This list member cannot be removed: a member that is " +
                          std::string(StatusName(m->status)) + " cannot be archived.",
                      nullptr, "ERROR_GENERIC"});
      }
      if (auto e = audience_.Archive(hash, Source::kApi)) return Error(*e);
      return net::HttpResponse{204, "", {}, ""};
    }
    return method_not_allowed("GET, PUT, PATCH, DELETE");
  }
  if (seg.size() == 6 && seg[5] == "tags") return MemberTags(req, hash);
  if (seg.size() == 7 && seg[5] == "actions" && seg[6] == "delete-permanent") {
    if (method != "POST") return method_not_allowed("POST");
    if (auto e = audience_.DeletePermanent(hash, Source::kApi)) return Error(*e);
    return net::HttpResponse{204, "", {}, ""};
  }
  return Error(NotFoundError());
}

net::HttpResponse MailchimpSim::GetMembers(const net::HttpRequest& req) {
  const auto query = net::ParseQuery(req.query);
  const Projection proj = ProjectionOf(query);
  long count = 10, offset = 0;
  std::optional<MemberStatus> status;
  std::optional<TimestampMs> since_changed, before_changed, since_opt, before_opt, unsub_since;
  std::optional<std::string> unique_email_id, email_type, category_id;
  std::vector<std::string> interest_ids;
  std::string interest_match = "any", sort_field, sort_dir = "ASC";
  bool vip_only = false;
  for (const auto& [k, v] : query) {
    std::optional<ApiError> e;
    auto date = [&](std::optional<TimestampMs>& out) {
      out = ParseDateTime(v);
      if (!out) e = InvalidResource(k, "The value must be an ISO 8601 date-time.");
    };
    auto one_of = [&](std::initializer_list<const char*> allowed, std::string& out) {
      for (const char* a : allowed) {
        if (v == a) {
          out = v;
          return;
        }
      }
      e = InvalidResource(k, "Schema describes enum, \"" + v + "\" is not an allowed value.");
    };
    if (k == "count") {
      e = ParseIntParam(k, v, 0, 1000, count);
    } else if (k == "offset") {
      e = ParseIntParam(k, v, 0, 1L << 40, offset);
    } else if (k == "status") {
      status = ParseStatus(v);
      if (!status)
        e = InvalidResource(k, "Schema describes enum, \"" + v + "\" is not an allowed value.");
    } else if (k == "since_last_changed") {
      date(since_changed);
    } else if (k == "before_last_changed") {
      date(before_changed);
    } else if (k == "since_timestamp_opt") {
      date(since_opt);
    } else if (k == "before_timestamp_opt") {
      date(before_opt);
    } else if (k == "unsubscribed_since") {
      date(unsub_since);
    } else if (k == "unique_email_id") {
      unique_email_id = v;
    } else if (k == "email_type") {
      email_type = v;
    } else if (k == "vip_only") {
      e = ParseBoolParam(k, v, vip_only);
    } else if (k == "since_last_campaign") {
      bool ignored = false;
      e = ParseBoolParam(k, v, ignored);
    } else if (k == "interest_category_id") {
      category_id = v;
    } else if (k == "interest_ids") {
      AppendCsv(v, interest_ids);
    } else if (k == "interest_match") {
      one_of({"any", "all", "none"}, interest_match);
    } else if (k == "sort_field") {
      one_of({"timestamp_opt", "timestamp_signup", "last_changed"}, sort_field);
    } else if (k == "sort_dir") {
      one_of({"ASC", "DESC"}, sort_dir);
    }
    if (e) return Error(*e);
  }
  if (!interest_ids.empty() && !category_id) {
    return Error(InvalidResource("interest_category_id",
                                 "interest_category_id is required with interest_ids."));
  }
  if (unsub_since && status != MemberStatus::kUnsubscribed) {
    return Error(
        InvalidResourceDetail("unsubscribed_since is only valid with status=unsubscribed."));
  }

  // One page of members as the list answer, projected.
  auto member_page = [&](const std::vector<const Member*>& page, size_t total_items) {
    if (auto text = MembersPageText(page, audience_, total_items, proj.fields, proj.exclude)) {
      return JsonText(200, std::move(*text));
    }
    // The members' top-level keys the projection can keep (all without one).
    std::optional<std::set<std::string>> member_keys;
    if (!proj.fields.empty()) {
      member_keys.emplace();
      for (const std::string& f : proj.fields) {
        if (f == "members") {
          member_keys.reset();
          break;
        }
        if (f.starts_with("members.")) member_keys->insert(f.substr(8, f.find('.', 8) - 8));
      }
    }
    json members = json::array();
    for (const Member* m : page) {
      members.push_back(MemberJson(*m, audience_, member_keys ? &*member_keys : nullptr));
    }
    json doc = {{"members", std::move(members)},
                {"list_id", audience_.list_id()},
                {"total_items", total_items},
                {"_links", json::array()}};
    return Json(200, Project(std::move(doc), proj.fields, proj.exclude));
  };
  // The members changed last, unfiltered: from the audience's index.
  const bool unfiltered = !status && !since_changed && !before_changed && !since_opt &&
                          !before_opt && !unsub_since && !unique_email_id && !email_type &&
                          !vip_only && interest_ids.empty();
  if (unfiltered && sort_field == "last_changed" && sort_dir == "DESC") {
    return member_page(
        audience_.RecentlyChanged(static_cast<size_t>(offset), static_cast<size_t>(count)),
        audience_.members_by_hash().size());
  }
  // A window of last_changed, oldest first, without total_items: consentd's
  // poll. From the audience's index too; total_items would need the whole
  // window counted, so an answer that includes it takes the scan below.
  const bool window_only = !status && !since_opt && !before_opt && !unsub_since &&
                           !unique_email_id && !email_type && !vip_only && interest_ids.empty();
  const bool wants_total =
      proj.fields.empty()
          ? std::find(proj.exclude.begin(), proj.exclude.end(), "total_items") == proj.exclude.end()
          : std::find(proj.fields.begin(), proj.fields.end(), "total_items") != proj.fields.end();
  if (window_only && !wants_total && sort_field == "last_changed" && sort_dir == "ASC") {
    // Whole seconds, strict on both ends (as in the scan below).
    std::optional<TimestampMs> from_ms, until_ms;
    if (since_changed) from_ms = (Seconds(*since_changed) + 1) * 1000;
    if (before_changed) until_ms = Seconds(*before_changed) * 1000;
    return member_page(audience_.ChangedBetween(from_ms, until_ms, static_cast<size_t>(offset),
                                                static_cast<size_t>(count)),
                       0);
  }
  auto iso_ms = [](const std::string& iso) { return ParseDateTime(iso).value_or(0); };
  // Members by hash, not Members() (which sorts the whole audience by
  // creation order on every call): consentd reads the few members changed
  // last (sort_field=last_changed, DESC) once per round of Mailchimp
  // webhooks, so only the page asked for is put in order below.
  std::vector<const Member*> hits;
  for (const auto& [hash, member] : audience_.members_by_hash()) {
    const Member* m = &member;
    if (status && m->status != *status) continue;
    // Mailchimp keeps last_changed in whole seconds: "since" means after that second.
    const TimestampMs changed_s = Seconds(m->last_changed);
    if (since_changed && !(changed_s > Seconds(*since_changed))) continue;
    if (before_changed && !(changed_s < Seconds(*before_changed))) continue;
    if (unsub_since && !(changed_s > Seconds(*unsub_since))) continue;
    if ((since_opt || before_opt) && m->timestamp_opt.empty()) continue;
    if (since_opt && !(iso_ms(m->timestamp_opt) > *since_opt)) continue;
    if (before_opt && !(iso_ms(m->timestamp_opt) < *before_opt)) continue;
    if (unique_email_id && m->unique_email_id != *unique_email_id) continue;
    if (email_type && m->email_type != *email_type) continue;
    if (vip_only && !m->vip) continue;
    if (!interest_ids.empty()) {
      int on = 0;
      for (const std::string& id : interest_ids) {
        auto it = m->interests.find(id);
        if (it != m->interests.end() && it->second) ++on;
      }
      const bool match = interest_match == "all"    ? on == static_cast<int>(interest_ids.size())
                         : interest_match == "none" ? on == 0
                                                    : on > 0;
      if (!match) continue;
    }
    hits.push_back(m);
  }
  // Creation order (seq), or the sort field with creation order among
  // equals, as a stable sort of Members() would give; only the first
  // offset + count are sorted.
  struct Keyed {
    TimestampMs key;
    std::int64_t seq;
    const Member* m;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(hits.size());
  const bool desc = sort_dir == "DESC";
  for (const Member* m : hits) {
    TimestampMs key = 0;
    if (sort_field == "last_changed") {
      key = desc ? -m->last_changed : m->last_changed;
    } else if (!sort_field.empty()) {
      key = iso_ms(sort_field == "timestamp_opt" ? m->timestamp_opt : m->timestamp_signup);
      if (desc) key = -key;
    }
    keyed.push_back({key, m->seq, m});
  }
  const size_t end =
      std::min(hits.size(), static_cast<size_t>(offset) + static_cast<size_t>(count));
  auto before = [](const Keyed& a, const Keyed& b) {
    return a.key != b.key ? a.key < b.key : a.seq < b.seq;
  };
  std::partial_sort(keyed.begin(), keyed.begin() + static_cast<std::ptrdiff_t>(end), keyed.end(),
                    before);
  for (size_t i = 0; i < end; ++i) hits[i] = keyed[i].m;
  const size_t total = hits.size();
  hits.resize(end);
  const size_t first = std::min(end, static_cast<size_t>(offset));
  hits.erase(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(first));
  return member_page(hits, total);
}

net::HttpResponse MailchimpSim::WriteMember(const net::HttpRequest& req, const std::string& hash) {
  for (const auto& [k, v] : net::ParseQuery(req.query)) {
    bool ignored = false;
    if (k == "skip_merge_validation") {
      if (auto e = ParseBoolParam(k, v, ignored)) return Error(*e);
    }
  }
  auto body = ParseJsonBody(req.body);
  if (auto* e = std::get_if<ApiError>(&body)) return Error(*e);
  const BodyKind kind = req.method == "POST"  ? BodyKind::kPost
                        : req.method == "PUT" ? BodyKind::kPut
                                              : BodyKind::kPatch;
  auto update = ParseMemberUpdate(std::get<json>(body), kind, audience_);
  if (auto* e = std::get_if<ApiError>(&update)) return Error(*e);
  const WriteMode mode = kind == BodyKind::kPost  ? WriteMode::kCreate
                         : kind == BodyKind::kPut ? WriteMode::kUpsert
                                                  : WriteMode::kUpdate;
  auto result = audience_.Write(hash, std::get<MemberUpdate>(update), mode, Source::kApi);
  if (auto* e = std::get_if<ApiError>(&result)) return Error(*e);
  return Json(200, MemberJson(*std::get<Audience::WriteResult>(result).member, audience_));
}

net::HttpResponse MailchimpSim::BatchSubscribe(const net::HttpRequest& req) {
  for (const auto& [k, v] : net::ParseQuery(req.query)) {
    bool ignored = false;
    if (k == "skip_merge_validation" || k == "skip_duplicate_check") {
      if (auto e = ParseBoolParam(k, v, ignored)) return Error(*e);
    }
  }
  auto body = ParseJsonBody(req.body);
  if (auto* e = std::get_if<ApiError>(&body)) return Error(*e);
  auto batch = ParseBatchRequest(std::get<json>(body));
  if (auto* e = std::get_if<ApiError>(&batch)) return Error(*e);
  const BatchRequest& b = std::get<BatchRequest>(batch);

  // Each member as it is right after its entry, as text (member_text.h).
  std::vector<std::string> created, updated;
  std::vector<BatchError> errors;
  auto add_error = [&](const json& entry, const ApiError& e) {
    std::string email;
    if (entry.is_object()) {
      auto it = entry.find("email_address");
      if (it != entry.end() && it->is_string()) email = it->get<std::string>();
    }
    std::string field, field_message;
    if (e.errors.is_array() && !e.errors.empty()) {
      field = e.errors[0].value("field", "");
      field_message = e.errors[0].value("message", "");
    }
    errors.push_back({email,
                      e.title == "Invalid Resource" && !field_message.empty()
                          ? field + ": " + field_message
                          : e.detail,
                      e.batch_code, field, field_message});
  };
  for (const json& entry : b.members) {
    auto update = ParseMemberUpdate(entry, BodyKind::kBatchEntry, audience_);
    if (auto* e = std::get_if<ApiError>(&update)) {
      add_error(entry, *e);
      continue;
    }
    const MemberUpdate& u = std::get<MemberUpdate>(update);
    const Member* existing = audience_.Find(*u.email_address);
    const bool live = existing != nullptr && existing->status != MemberStatus::kArchived;
    if (live && !b.update_existing) {
      add_error(entry, ApiError{400, "Member Exists",
                                *u.email_address +
                                    " is already a list member, do you want to update? please "
                                    "provide update_existing:true in the request body",
                                nullptr, "ERROR_CONTACT_EXISTS"});
      continue;
    }
    auto result =
        audience_.Write("", u, live ? WriteMode::kUpdate : WriteMode::kCreate, Source::kApi);
    if (auto* e = std::get_if<ApiError>(&result)) {
      add_error(entry, *e);
      continue;
    }
    const auto& r = std::get<Audience::WriteResult>(result);
    std::string& text = (r.created ? created : updated).emplace_back();
    JsonWriter w(text);
    WriteMemberJson(w, *r.member, audience_, &BatchAnswerMemberKeys());
  }
  return JsonText(200, BatchSubscribeBody(created, updated, errors));
}

net::HttpResponse MailchimpSim::InterestCategories(const net::HttpRequest& req,
                                                   const std::vector<std::string>& seg) {
  if (req.method != "GET") {
    net::HttpResponse r = Error({405, "Method Not Allowed",
                                 "The requested method and resource are not compatible. See the "
                                 "Allow header for this resource's available methods.",
                                 nullptr, "ERROR_GENERIC"});
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  const auto query = net::ParseQuery(req.query);
  const Projection proj = ProjectionOf(query);
  long count = 10, offset = 0;
  std::optional<std::string> type;
  for (const auto& [k, v] : query) {
    std::optional<ApiError> e;
    if (k == "count") e = ParseIntParam(k, v, 0, 1000, count);
    if (k == "offset") e = ParseIntParam(k, v, 0, 1L << 40, offset);
    if (k == "type") type = v;
    if (e) return Error(*e);
  }
  auto page = [&](const std::vector<json>& all) {
    json out = json::array();
    for (size_t i = static_cast<size_t>(offset);
         i < all.size() && i < static_cast<size_t>(offset + count); ++i) {
      out.push_back(all[i]);
    }
    return out;
  };
  auto ok = [&](json doc) { return Json(200, Project(std::move(doc), proj.fields, proj.exclude)); };
  // seg: 3.0 lists {id} interest-categories [cat [interests [interest]]]
  if (seg.size() == 4) {
    std::vector<json> all;
    for (const InterestCategory& c : audience_.categories()) {
      if (!type || c.type == *type) all.push_back(CategoryJson(c, audience_));
    }
    return ok({{"list_id", audience_.list_id()},
               {"categories", page(all)},
               {"total_items", all.size()},
               {"_links", json::array()}});
  }
  const InterestCategory* cat = nullptr;
  for (const InterestCategory& c : audience_.categories()) {
    if (c.id == seg[4]) cat = &c;
  }
  if (cat == nullptr) return Error(NotFoundError());
  if (seg.size() == 5) return ok(CategoryJson(*cat, audience_));
  if (seg[5] != "interests" || seg.size() > 7) return Error(NotFoundError());
  if (seg.size() == 6) {
    std::vector<json> all;
    for (const Interest& i : audience_.interests()) {
      if (i.category_id == cat->id) all.push_back(InterestJson(i, audience_));
    }
    return ok({{"list_id", audience_.list_id()},
               {"category_id", cat->id},
               {"interests", page(all)},
               {"total_items", all.size()},
               {"_links", json::array()}});
  }
  const Interest* interest = audience_.FindInterest(seg[6]);
  if (interest == nullptr || interest->category_id != cat->id) return Error(NotFoundError());
  return ok(InterestJson(*interest, audience_));
}

}  // namespace consentd::sim::mailchimp
