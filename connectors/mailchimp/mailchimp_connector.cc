// Mailchimp connector: construction, the HTTP call and its classification,
// member parsing, Check and Read. Webhooks, Poll and Deliver live in their
// own files.
#include "connectors/mailchimp/mailchimp_connector.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "connectors/common/retry_policy.h"
#include "connectors/mailchimp/connector_impl.h"
#include "connectors/mailchimp/wire_format.h"
#include "core/keyed_hash.h"
#include "core/normalise.h"
#include "core/proof/bytes.h"
#include "core/redact.h"
#include "mapping/policy.h"

namespace consentd::connectors {

std::unique_ptr<Connector> MakeMailchimpConnector(MailchimpSettings s,
                                                  std::shared_ptr<const mapping::MappingSpec> spec,
                                                  HttpClient& http) {
  return std::make_unique<mailchimp::MailchimpConnector>(std::move(s), std::move(spec), http);
}

namespace mailchimp {
namespace {

using mapping::mailchimp::MemberStatus;
using nlohmann::json;

std::string TrimBaseUrl(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  // The spec's server URL ends in /3.0; paths here carry it themselves.
  constexpr std::string_view kVersion = "/3.0";
  if (url.size() >= kVersion.size() &&
      url.compare(url.size() - kVersion.size(), kVersion.size(), kVersion) == 0) {
    url.resize(url.size() - kVersion.size());
  }
  return url;
}

// "Invalid Resource (fields: status_if_new, interests)": Mailchimp's title
// and the fields it names; its detail is left out (it may hold addresses).
std::string ProblemSummary(int http_status, const std::string& title, const json& body) {
  std::string out = "Mailchimp answered " + std::to_string(http_status);
  if (!title.empty()) out += " " + title;
  std::string fields;
  for (const json& e : ArrayAt(body, "errors")) {
    const std::string f = StringAt(e, "field");
    if (!f.empty()) fields += (fields.empty() ? "" : ", ") + f;
  }
  if (!fields.empty()) out += " (fields: " + fields + ")";
  return out;
}

}  // namespace

MailchimpConnector::MailchimpConnector(MailchimpSettings s,
                                       std::shared_ptr<const mapping::MappingSpec> spec,
                                       HttpClient& http)
    : settings_(std::move(s)),
      spec_(std::move(spec)),
      http_(http),
      mapper_(*spec_, settings_.name),
      mapping_hash_(mapping::MappingHash(*spec_)),
      auth_header_("Basic " + proof::Base64Encode("anystring:" + settings_.api_key)),
      calls_(std::max(1, settings_.delivery_parallelism) - 1) {
  settings_.base_url = TrimBaseUrl(settings_.base_url);
  for (const mapping::TopicSpec& topic : spec_->topics) {
    auto b = topic.bindings.find(settings_.name);
    if (b != topic.bindings.end() &&
        b->second.mailchimp_kind == mapping::MailchimpTopicKind::kMarketingPermission) {
      mapped_permissions_.insert(b->second.mailchimp_id);
    }
  }
}

int MailchimpConnector::max_batch() const {
  return settings_.batch_size > 0 && settings_.batch_size <= kMaxBatch ? settings_.batch_size
                                                                       : kMaxBatch;
}

std::string MailchimpConnector::MemberPath(std::string_view hash) const {
  return ListPath() + "/members/" + std::string(hash);
}

ApiAnswer MailchimpConnector::Call(std::string_view method, const std::string& path,
                                   const Query& query, const json* body, bool background) {
  OutboundRequest req;
  req.method = std::string(method);
  req.background = background;
  req.url = settings_.base_url + path;
  if (!query.empty()) req.url += "?" + FormEncode(query);
  req.headers = {{"Authorization", auth_header_}, {"Accept", "application/json"}};
  if (body != nullptr) {
    req.headers.emplace_back("Content-Type", "application/json");
    // `replace`: never throws, whatever bytes an address holds.
    req.body = body->dump(-1, ' ', false, json::error_handler_t::replace);
  }
  req.timeout = settings_.timeout;

  ApiAnswer a;
  auto sent = http_.Send(req);
  // Named in failures, which reach the log, the dead letters and erasure
  // reasons: the member's subscriber hash (MD5 of the address) becomes
  // "<hash>".
  auto what = [&] { return std::string(method) + " " + RedactIdentifiersInText(path); };
  if (!sent.ok()) {
    // Transport failures keep their (retryable) code.
    a.status = sent.status().WithContext("mailchimp " + what());
    return a;
  }
  const net::HttpResponse& r = *sent;
  a.received_steady_ms = SteadyNowMs();
  if (auto date = net::FindHeader(r.headers, "Date"))
    a.date_s = ParseHttpDate(*date, clock_.NowMs());
  a.http_status = r.status;
  a.body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (a.body.is_discarded()) a.body = nullptr;
  a.title = StringAt(a.body, "title");
  if (r.status >= 200 && r.status < 300) return a;

  const std::string summary =
      "mailchimp " + what() + ": " + ProblemSummary(r.status, a.title, a.body);
  a.retry_after = RetryAfterOfAnswer(net::FindHeader(r.headers, "Retry-After"),
                                     net::FindHeader(r.headers, "Date"), clock_.NowMs());
  if (r.status == 429) {
    a.status = ResourceExhausted(summary);
  } else if (r.status >= 500 || r.status == 408) {
    a.status = Unavailable(summary);
  } else if (r.status == 401) {
    a.status = Unauthenticated(summary);
  } else if (r.status == 403) {
    a.status = Status(StatusCode::kPermissionDenied, summary);
  } else if (r.status == 404) {
    a.status = NotFound(summary);
  } else {
    a.status = InvalidArgument(summary);
  }
  return a;
}

Result<ParsedMember> ParseMember(const json& j) {
  if (!j.is_object()) return InvalidArgument("member is not an object");
  ParsedMember pm;
  auto str = [&](const char* key) { return StringAt(j, key); };
  pm.id = str("id");
  pm.unique_id = str("unique_email_id");
  pm.member.email_address = str("email_address");
  if (pm.member.email_address.empty()) return InvalidArgument("member has no email_address");
  auto status = mapping::mailchimp::ParseMemberStatus(str("status"));
  if (!status.ok()) return status.status();
  pm.member.status = *status;
  if (auto it = j.find("interests"); it != j.end() && it->is_object()) {
    for (auto i = it->begin(); i != it->end(); ++i) {
      if (i->is_boolean()) pm.member.interests[i.key()] = i->get<bool>();
    }
  }
  if (auto it = j.find("marketing_permissions"); it != j.end() && it->is_array()) {
    for (const json& p : *it) {
      if (!p.is_object()) continue;
      auto id = p.find("marketing_permission_id");
      auto on = p.find("enabled");
      if (id == p.end() || !id->is_string() || on == p.end() || !on->is_boolean()) continue;
      pm.member.marketing_permissions.push_back({id->get<std::string>(), on->get<bool>()});
    }
  }
  const std::string changed = str("last_changed");
  if (!changed.empty()) {
    auto t = ParseDateTime(changed);
    if (!t) return InvalidArgument("member last_changed is not an ISO 8601 date-time");
    pm.member.last_changed = *t;
  }
  if (pm.id.empty()) pm.id = SubscriberHash(pm.member.email_address);
  return pm;
}

std::string MemberVersionKey(const ParsedMember& pm,
                             const std::set<std::string>& mapped_permissions) {
  if (pm.unique_id.empty()) return "";
  const TimestampMs ms = pm.member.last_changed;
  const std::int64_t second = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  // What the member says about consent, hashed.
  const mapping::mailchimp::Member& m = pm.member;
  json j = {{"s", std::string(mapping::mailchimp::MemberStatusName(m.status))}, {"i", m.interests}};
  json p = json::array();
  for (const auto& perm : m.marketing_permissions) {
    if (mapped_permissions.contains(perm.id)) p.push_back({perm.id, perm.enabled});
  }
  j["p"] = std::move(p);
  // The member's second is the version's slot, the digest its state
  // (sync/version_memory.h).
  return pm.unique_id + ":" + std::to_string(second) + "#" + Sha256Hex(j.dump()).substr(0, 12);
}

InboundRecord MailchimpConnector::FromApiMember(const ParsedMember& pm, std::string event_id,
                                                TimestampMs fallback_time) const {
  mapping::mailchimp::Member m = pm.member;
  m.event_id = event_id;
  if (m.last_changed == 0) m.last_changed = fallback_time;
  m.last_changed = ReadInstant(m.last_changed);
  InboundRecord rec;
  rec.event_id = std::move(event_id);
  rec.system_id = pm.id;
  rec.member_subscribed = m.status == mapping::mailchimp::MemberStatus::kSubscribed;
  rec.mapped = mapper_.FromMember(m);
  if (auto email = NormaliseEmail(m.email_address); email.ok()) {
    rec.email = *email;
  } else {
    rec.mapped.notes.push_back("the member's address is not usable: " + email.status().message());
  }
  return rec;
}

// One member object (GET /lists/{list_id}/members/{hash}) or a member list
// answer ({"members": [...]}), mapped as Read and Poll map them.
Result<std::vector<InboundRecord>> MailchimpConnector::MapRecordPayload(
    std::string_view text) const {
  const json payload = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (payload.is_discarded()) return InvalidArgument("not JSON");
  if (!payload.is_object()) return InvalidArgument("expected a Mailchimp list member object");
  std::vector<const json*> members;
  if (auto it = payload.find("members"); it != payload.end() && it->is_array()) {
    for (const json& m : *it) members.push_back(&m);
  } else {
    members.push_back(&payload);
  }
  std::vector<InboundRecord> out;
  for (size_t i = 0; i < members.size(); ++i) {
    Result<ParsedMember> pm = ParseMember(*members[i]);
    if (!pm.ok()) {
      return InvalidArgument(members.size() > 1
                                 ? "member " + std::to_string(i) + ": " + pm.status().message()
                                 : pm.status().message());
    }
    out.push_back(FromApiMember(*pm, "payload:" + pm->id, pm->member.last_changed));
  }
  return out;
}

Result<InboundRecord> MailchimpConnector::ReadOne(const RecordRef& ref) {
  std::string hash = ref.system_id;
  if (hash.empty() && !ref.email.empty()) hash = SubscriberHash(ref.email);
  if (hash.empty()) {
    InboundRecord rec;
    rec.event_id = ref.event_id;
    rec.mapped.notes.push_back("dropped: the event names neither a subscriber hash nor an address");
    return rec;
  }
  ApiAnswer a = Call("GET", MemberPath(hash), {{"fields", kMemberFields}});
  if (a.status.code() == StatusCode::kNotFound) {
    // Gone for good (permanently deleted, or never there; an archived
    // member is still returned, with status archived): decided like any
    // change, by occurred_at. The mapping says whether that deletion is a
    // request to be forgotten everywhere (on_permanent_delete: erase), but
    // only the read after Mailchimp's own deletion webhook says that. A 404
    // after any other hint (a profile change read after the person changed
    // the address, consentd's own re-read) says the member is not under
    // this hash now, which erasing everywhere, irreversibly, would misread.
    const auto er = spec_->erasure.find(settings_.name);
    const bool erase =
        ref.hint == RecordHint::kDeleted && er != spec_->erasure.end() &&
        er->second.on_permanent_delete == mapping::ErasureSpec::OnPermanentDelete::kErase;
    InboundRecord rec;
    rec.event_id = ref.event_id;
    rec.system_id = hash;
    rec.email = ref.email;
    Change c;
    c.kind = erase ? ChangeKind::kErasure : ChangeKind::kTargetDeleted;
    c.provenance.occurred_at = ref.occurred_at;
    c.provenance.source_system = settings_.name;
    c.provenance.source_event_id = ref.event_id;
    c.mapping_hash = mapping_hash_;
    rec.mapped.changes.push_back(std::move(c));
    rec.mapped.notes.push_back(erase ? "member permanently deleted at " + settings_.name +
                                           ": erasure everywhere (on_permanent_delete: erase)"
                                     : "member not found: deleted at " + settings_.name);
    return rec;
  }
  const StatusCode code = a.status.code();
  if (code == StatusCode::kInvalidArgument) {
    // Mailchimp refuses to resolve this ref (e.g. a malformed hash): nothing
    // to read now or later.
    InboundRecord rec;
    rec.event_id = ref.event_id;
    rec.system_id = hash;
    rec.mapped.notes.push_back("dropped: " + a.status.message());
    return rec;
  }
  if (!a.status.ok()) return a.status;
  auto pm = ParseMember(a.body);
  if (!pm.ok()) {
    InboundRecord rec;
    rec.event_id = ref.event_id;
    rec.system_id = hash;
    rec.mapped.notes.push_back("dropped: the member record is malformed: " + pm.status().message());
    return rec;
  }
  return FromReadMember(*pm, ref);
}

InboundRecord MailchimpConnector::FromReadMember(const ParsedMember& pm,
                                                 const RecordRef& ref) const {
  InboundRecord rec = FromApiMember(pm, ref.event_id, ref.occurred_at);
  // Without last_changed a key could name two states at different times.
  if (const std::string key = MemberVersionKey(pm, mapped_permissions_);
      pm.member.last_changed != 0 && !key.empty()) {
    rec.version_id = "poll:" + key;
  }
  if (ref.hint == RecordHint::kEmailChanged && !ref.old_email.empty()) {
    // The old subscriber hash is now this member: the engine moves the
    // identity (old hash -> new) as for a merge. The webhook's parse put
    // the hash of the address as sent in merged_ids; a hint stored before
    // it did has only the normalised address.
    const std::string old_hash =
        ref.merged_ids.empty() ? SubscriberHash(ref.old_email) : ref.merged_ids.front();
    if (old_hash != rec.system_id) {
      rec.merged_ids.push_back(old_hash);
      // Notes reach logs and reasons: no subscriber hash in them.
      rec.mapped.notes.push_back(
          "email changed: the member of the former address is now this member");
    }
  }
  return rec;
}

Status MailchimpConnector::ReadRecent(const std::vector<RecordRef>& refs,
                                      std::vector<std::optional<InboundRecord>>& out) {
  // A list answer stands for a changed member only: a deleted one is not
  // listed (its GET says 404), an address change needs the old address.
  std::map<std::string, std::vector<std::size_t>, std::less<>> wanted;  // hash -> refs
  for (std::size_t i = 0; i < refs.size(); ++i) {
    const RecordRef& ref = refs[i];
    if (ref.hint != RecordHint::kChanged) continue;
    std::string hash = ref.system_id;
    if (hash.empty() && !ref.email.empty()) hash = SubscriberHash(ref.email);
    if (!hash.empty()) wanted[hash].push_back(i);
  }
  if (wanted.size() < static_cast<std::size_t>(kRecentReadMin)) return Status::Ok();
  const int slack = recent_slack_.load(std::memory_order_relaxed);
  const std::size_t count =
      std::min<std::size_t>(kPageSize, wanted.size() + static_cast<std::size_t>(slack));
  ApiAnswer a = Call("GET", ListPath() + "/members",
                     {{"fields",
                       "members.id,members.unique_email_id,members.email_address,"
                       "members.status,members.interests,members.marketing_permissions,"
                       "members.last_changed"},
                      {"count", std::to_string(count)},
                      {"sort_field", "last_changed"},
                      {"sort_dir", "DESC"}});
  if (!a.status.ok()) return a.status.IsRetryable() ? a.status : Status::Ok();
  const json& members = ArrayAt(a.body, "members");
  std::size_t found = 0, deepest = 0;
  for (std::size_t k = 0; k < members.size(); ++k) {
    auto it = wanted.find(StringAt(members[k], "id"));
    if (it == wanted.end()) continue;
    Result<ParsedMember> pm = ParseMember(members[k]);
    if (!pm.ok()) continue;  // read on its own, which reports why
    for (std::size_t i : it->second) out[i] = FromReadMember(*pm, refs[i]);
    wanted.erase(it);
    ++found;
    deepest = k + 1;
  }
  // Members changed after the hinted ones come first. A full page that
  // missed some asks for twice as many next time; otherwise the slack
  // follows how many others lay above the deepest one found.
  int next = slack;
  if (!wanted.empty() && members.size() >= count) {
    next = std::min(kPageSize, 2 * slack);
  } else if (found > 0) {
    const int above = static_cast<int>(deepest - found);
    next = std::clamp((slack + 2 * above + kRecentSlackMin) / 2, kRecentSlackMin, kPageSize);
  }
  recent_slack_.store(next, std::memory_order_relaxed);
  return Status::Ok();
}

Result<std::vector<InboundRecord>> MailchimpConnector::Read(const std::vector<RecordRef>& refs) {
  // The members changed last in one request, when the set is large enough;
  // the others one after another (the daemon runs several Reads at once on
  // slices of a smaller set: read_parallelism). A failure here (transport,
  // 429, 5xx, credentials) means nothing was read: the daemon retries the
  // whole set.
  std::vector<std::optional<InboundRecord>> got(refs.size());
  if (refs.size() >= static_cast<std::size_t>(kRecentReadMin)) {
    CONSENTD_RETURN_IF_ERROR(ReadRecent(refs, got));
  }
  std::vector<InboundRecord> out;
  out.reserve(refs.size());
  for (std::size_t i = 0; i < refs.size(); ++i) {
    if (!got[i]) {
      auto rec = ReadOne(refs[i]);
      if (!rec.ok()) return rec.status();
      got[i] = std::move(rec).value();
    }
    out.push_back(std::move(*got[i]));
  }
  return out;
}

Status MailchimpConnector::Check() {
  ApiAnswer ping = Call("GET", "/3.0/ping");
  if (!ping.status.ok()) return ping.status;

  ApiAnswer list = Call("GET", ListPath(), {{"fields", "id,double_optin,marketing_permissions"}});
  if (list.status.code() == StatusCode::kNotFound) {
    return FailedPrecondition("mailchimp: audience (list) " + settings_.list_id + " not found");
  }
  if (!list.status.ok()) return list.status;

  const mapping::SystemSpec* system = spec_->FindSystem(settings_.name);
  if (system == nullptr) {
    return FailedPrecondition("mailchimp: the mapping has no system '" + settings_.name + "'");
  }
  if (system->confirms_double_opt_in && !BoolAt(list.body, "double_optin", true)) {
    return FailedPrecondition("mailchimp: the mapping says `confirms_double_opt_in` but audience " +
                              settings_.list_id + " does not run double opt-in");
  }

  // The ids the mapping binds in this audience.
  std::set<std::string> interests, permissions;
  for (const mapping::TopicSpec& t : spec_->topics) {
    auto b = t.bindings.find(settings_.name);
    if (b == t.bindings.end()) continue;
    if (b->second.mailchimp_kind == mapping::MailchimpTopicKind::kInterest) {
      interests.insert(b->second.mailchimp_id);
    } else if (b->second.mailchimp_kind == mapping::MailchimpTopicKind::kMarketingPermission) {
      permissions.insert(b->second.mailchimp_id);
    }
  }

  if (!interests.empty()) {
    Result<std::vector<NativeTopic>> listed = ReadNativeTopics(/*permissions=*/false);
    if (!listed.ok()) return listed.status();
    std::set<std::string> known;
    for (const NativeTopic& t : *listed) known.insert(t.id);
    for (const std::string& id : interests) {
      if (known.count(id) == 0) {
        return FailedPrecondition("mailchimp: interest " + id +
                                  " of the mapping is not in audience " + settings_.list_id);
      }
    }
  }

  if (!permissions.empty()) {
    if (!BoolAt(list.body, "marketing_permissions", true)) {
      return FailedPrecondition("mailchimp: the mapping uses marketing permissions but audience " +
                                settings_.list_id + " has none (GDPR fields are off)");
    }
    // Mailchimp lists the permission ids only on members.
    ApiAnswer one = Call("GET", ListPath() + "/members",
                         {{"count", "1"}, {"fields", "members.marketing_permissions"}});
    if (!one.status.ok()) return one.status;
    const json& members = ArrayAt(one.body, "members");
    if (!members.empty()) {
      std::set<std::string> known;
      for (const json& p : ArrayAt(members[0], "marketing_permissions")) {
        known.insert(StringAt(p, "marketing_permission_id"));
      }
      for (const std::string& id : permissions) {
        if (known.count(id) == 0) {
          return FailedPrecondition("mailchimp: marketing permission " + id +
                                    " of the mapping is not in audience " + settings_.list_id);
        }
      }
    }
    // An empty audience shows no permission ids: nothing to compare yet; a
    // wrong id then fails the first write (400 Invalid Resource).
  }
  return Status::Ok();
}

Result<std::vector<NativeTopic>> MailchimpConnector::ReadNativeTopics(bool permissions) {
  std::vector<NativeTopic> out;
  ApiAnswer cats =
      Call("GET", ListPath() + "/interest-categories",
           {{"count", std::to_string(kPageSize)}, {"fields", "categories.id,categories.title"}});
  if (cats.status.code() == StatusCode::kNotFound) {
    return FailedPrecondition("mailchimp: audience (list) " + settings_.list_id + " not found");
  }
  if (!cats.status.ok()) return cats.status;
  for (const json& c : ArrayAt(cats.body, "categories")) {
    const std::string cat = StringAt(c, "id");
    if (cat.empty()) continue;
    ApiAnswer is =
        Call("GET", ListPath() + "/interest-categories/" + cat + "/interests",
             {{"count", std::to_string(kPageSize)}, {"fields", "interests.id,interests.name"}});
    if (!is.status.ok()) return is.status;
    for (const json& i : ArrayAt(is.body, "interests")) {
      const std::string id = StringAt(i, "id");
      if (id.empty()) continue;
      out.push_back({id, StringAt(c, "title") + ": " + StringAt(i, "name"), "email", false});
    }
  }
  if (permissions) {
    // Mailchimp lists the permission ids only on members.
    ApiAnswer one = Call("GET", ListPath() + "/members",
                         {{"count", "1"}, {"fields", "members.marketing_permissions"}});
    if (!one.status.ok()) return one.status;
    const json& members = ArrayAt(one.body, "members");
    if (!members.empty()) {
      for (const json& p : ArrayAt(members[0], "marketing_permissions")) {
        const std::string id = StringAt(p, "marketing_permission_id");
        if (id.empty()) continue;
        out.push_back({id, "marketing permission: " + StringAt(p, "text"), "email", false});
      }
    }
  }
  return out;
}

Result<std::vector<NativeTopic>> MailchimpConnector::ListNativeTopics() {
  std::set<std::string> mapped;
  bool maps_permissions = false;
  for (const mapping::TopicSpec& t : spec_->topics) {
    auto b = t.bindings.find(settings_.name);
    if (b == t.bindings.end() || b->second.mailchimp_id.empty()) continue;
    mapped.insert(b->second.mailchimp_id);
    maps_permissions |=
        b->second.mailchimp_kind == mapping::MailchimpTopicKind::kMarketingPermission;
  }
  Result<std::vector<NativeTopic>> topics = ReadNativeTopics(maps_permissions);
  if (!topics.ok()) return topics.status();
  for (NativeTopic& t : *topics) t.mapped = mapped.count(t.id) != 0;
  return topics;
}

}  // namespace mailchimp
}  // namespace consentd::connectors
