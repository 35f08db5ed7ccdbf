// HubSpot's vendor API as served by the simulator: routing, auth, rate
// limits, contacts v3 and communication preferences v3/v4.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "sim/hubspot/hubspot_answers.h"
#include "sim/hubspot/hubspot_search.h"
#include "sim/hubspot/hubspot_system.h"
#include "sim/hubspot/hubspot_validation.h"

namespace consentd::sim::hubspot {

using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

namespace {

constexpr std::string_view kContacts = "/crm/v3/objects/contacts";
constexpr std::string_view kPrefsV3 = "/communication-preferences/v3";
constexpr std::string_view kPrefsV4 = "/communication-preferences/v4";

const std::initializer_list<const char*> kLegalBases = {"CONSENT_WITH_NOTICE",
                                                        "LEGITIMATE_INTEREST_CLIENT",
                                                        "LEGITIMATE_INTEREST_OTHER",
                                                        "LEGITIMATE_INTEREST_PQL",
                                                        "NON_GDPR",
                                                        "PERFORMANCE_OF_CONTRACT",
                                                        "PROCESS_AND_STORE"};
const std::initializer_list<const char*> kStatusStates = {"NOT_SPECIFIED", "SUBSCRIBED",
                                                          "UNSUBSCRIBED"};
// The spec's enum names only EMAIL; HubSpot has since opened SMS and
// WhatsApp for these endpoints, and consentd models all three channels.
const std::initializer_list<const char*> kChannels = {"EMAIL", "SMS", "WHATSAPP"};

HttpResponse JsonResponse(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json;charset=utf-8";
  r.body = body.dump();
  return r;
}

// A body written as a string already (hubspot_answers.h).
HttpResponse JsonTextResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json;charset=utf-8";
  r.body = std::move(body);
  return r;
}

HttpResponse NoContent() {
  HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

std::string QueryValue(const HttpRequest& req, std::string_view name, std::string fallback = "") {
  for (auto& [k, v] : net::ParseQuery(req.query)) {
    if (k == name) return v;
  }
  return fallback;
}

bool HasQuery(const HttpRequest& req, std::string_view name) {
  for (auto& [k, v] : net::ParseQuery(req.query)) {
    if (k == name) return true;
  }
  return false;
}

// properties=a,b and properties=a&properties=b both work, as in HubSpot.
std::vector<std::string> QueryList(const HttpRequest& req, std::string_view name) {
  std::vector<std::string> out;
  for (auto& [k, v] : net::ParseQuery(req.query)) {
    if (k != name) continue;
    size_t start = 0;
    while (start <= v.size()) {
      size_t comma = v.find(',', start);
      std::string item =
          v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!item.empty()) out.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

json ContactToJson(const Contact& c, const std::vector<std::string>& requested) {
  std::string text;
  JsonWriter w(text);
  WriteContact(w, c, requested);
  return json::parse(text);
}

json Envelope(json results, TimestampMs now) {
  return {{"status", "COMPLETE"},
          {"results", std::move(results)},
          {"requestedAt", FormatTime(now)},
          {"startedAt", FormatTime(now)},
          {"completedAt", FormatTime(now)}};
}

bool IsReadOnlyProperty(const std::string& p) {
  return p == "hs_object_id" || p == "createdate" || p == "lastmodifieddate" ||
         p.find("_optout") != std::string::npos;
}

}  // namespace

HttpResponse HubSpotSystem::Error(int status, const std::string& category,
                                  const std::string& message, json extra) const {
  json body = {{"status", "error"},
               {"message", message},
               {"correlationId", CorrelationId()},
               {"category", category}};
  if (extra.is_object()) {
    for (auto& [k, v] : extra.items()) body[k] = v;
  }
  return JsonResponse(status, body);
}

std::string HubSpotSystem::CorrelationId() const {
  const std::uint64_t a = rng_(), b = rng_();
  char buf[48];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-a%03x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>((b >> 48) & 0xfff),
                static_cast<unsigned long long>(b & 0xffffffffffffull));
  return buf;
}

HttpResponse HubSpotSystem::FaultResponse(int status) const {
  if (status == 429) {
    return Error(429, "RATE_LIMITS", "You have reached your ten_secondly_rolling limit.",
                 {{"errorType", "RATE_LIMIT"}, {"policyName", "TEN_SECONDLY_ROLLING"}});
  }
  if (status == 400) {
    return Error(400, "VALIDATION_ERROR", "Invalid input (injected by consentd-sim)", nullptr);
  }
  if (status == 404) {
    return Error(404, "OBJECT_NOT_FOUND", "resource not found (injected by consentd-sim)", nullptr);
  }
  if (status == 403) {
    return Error(403, "MISSING_SCOPES",
                 "This app hasn't been granted all required scopes to make this call "
                 "(injected by consentd-sim)",
                 nullptr);
  }
  if (status == 401) {
    return Error(401, "INVALID_AUTHENTICATION",
                 "Authentication credentials not found or invalid (injected by consentd-sim)",
                 nullptr);
  }
  return Error(status, "INTERNAL_ERROR", "internal error (injected by consentd-sim)", nullptr);
}

Actor HubSpotSystem::ApiActor() const {
  return Actor{"INTEGRATION", std::to_string(options_.app_id), "API"};
}

namespace {
HttpResponse ValidationError(const HubSpotSystem& hs, const Checks& checks) {
  json errors = json::array();
  for (const auto& e : checks.errors()) {
    errors.push_back({{"message", e.message}, {"in", e.field}, {"code", e.code}});
  }
  return hs.Error(400, "VALIDATION_ERROR", checks.Message(), {{"errors", errors}});
}

// Parses the body as a JSON object or returns HubSpot's error for it.
std::optional<HttpResponse> ParseBody(const HubSpotSystem& hs, const HttpRequest& req, json& out) {
  out = json::parse(req.body, nullptr, false);
  if (out.is_discarded() || !out.is_object()) {
    return hs.Error(400, "VALIDATION_ERROR",
                    "Invalid input JSON on line 1, column 1: the body must be a JSON object",
                    nullptr);
  }
  return std::nullopt;
}
}  // namespace

std::optional<HttpResponse> HubSpotSystem::CheckRateLimit(bool search) {
  if (!options_.rate_limits) return std::nullopt;
  const TimestampMs now = clock_.NowMs();
  while (!recent_requests_.empty() && recent_requests_.front() <= now - options_.rate_window_ms) {
    recent_requests_.pop_front();
  }
  while (!recent_searches_.empty() && recent_searches_.front() <= now - 1'000) {
    recent_searches_.pop_front();
  }
  const int max = options_.requests_per_ten_seconds;
  if (static_cast<int>(recent_requests_.size()) >= max) {
    HttpResponse r = FaultResponse(429);
    r.headers = {{"X-HubSpot-RateLimit-Interval-Milliseconds",
                  std::to_string(options_.rate_window_ms)},
                 {"X-HubSpot-RateLimit-Max", std::to_string(max)},
                 {"X-HubSpot-RateLimit-Remaining", "0"}};
    return r;
  }
  if (search && static_cast<int>(recent_searches_.size()) >= options_.searches_per_second) {
    return Error(429, "RATE_LIMITS", "You have reached your secondly limit.",
                 {{"errorType", "RATE_LIMIT"}, {"policyName", "SECONDLY"}});
  }
  recent_requests_.push_back(now);
  if (search) recent_searches_.push_back(now);
  return std::nullopt;
}

HttpResponse HubSpotSystem::HandleApi(const HttpRequest& req) {
  HttpResponse r = Route(req);
  FlushWebhooks();
  return r;
}

HttpResponse HubSpotSystem::Route(const HttpRequest& req) {
  auto auth = req.Header("Authorization");
  if (!auth) {
    return Error(401, "INVALID_AUTHENTICATION",
                 "Authentication credentials not found. This API supports OAuth 2.0 "
                 "authentication and you can find more details at "
                 "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                 nullptr);
  }
  if (*auth != "Bearer " + options_.access_token) {
    return Error(401, "INVALID_AUTHENTICATION",
                 "Authentication credentials not found or invalid: the private app access "
                 "token is not valid",
                 nullptr);
  }
  const std::string& path = req.path;
  const bool search = path == std::string(kContacts) + "/search";
  if (auto limited = CheckRateLimit(search)) return *limited;
  if (path.rfind(kContacts, 0) == 0) return ContactsApi(req, path.substr(kContacts.size()));
  if (path.rfind(kPrefsV4, 0) == 0) return PreferencesV4(req, path.substr(kPrefsV4.size()));
  if (path.rfind(kPrefsV3, 0) == 0) return PreferencesV3(req, path.substr(kPrefsV3.size()));
  return Error(404, "OBJECT_NOT_FOUND", "No route for " + req.method + " " + path, nullptr);
}

// --- contacts v3 ---------------------------------------------------------------

namespace {
// Checks a properties object as HubSpot does: values are strings (numbers
// and booleans are accepted and stringified), read-only properties and
// bad enum values are refused.
Checks CheckProperties(const json& props, const std::string& block_property, Properties& out) {
  Checks c;
  for (auto& [k, v] : props.items()) {
    if (v.is_object() || v.is_array()) {
      c.Add("properties." + k, "Property values were not valid: " + k + " must be a string",
            "INVALID_TYPE");
      continue;
    }
    std::string value = v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump();
    if (IsReadOnlyProperty(k)) {
      c.Add("properties." + k, "Property values were not valid: " + k + " is a read only property",
            "READ_ONLY_VALUE");
      continue;
    }
    if (k == block_property && value != "true" && value != "false" && !value.empty()) {
      c.Add("properties." + k,
            "Property values were not valid: " + value +
                " was not one of the allowed options: "
                "[true, false] for " +
                k,
            "INVALID_OPTION");
      continue;
    }
    if (k == "email" && !value.empty() && value.find('@') == std::string::npos) {
      c.Add("properties.email",
            "Property values were not valid: Email address " + value + " is invalid",
            "INVALID_EMAIL");
      continue;
    }
    out[k] = value;
  }
  return c;
}
}  // namespace

HttpResponse HubSpotSystem::ContactsApi(const HttpRequest& req, const std::string& rest) {
  const bool include_archived = QueryValue(req, "archived") == "true";
  if (rest.empty() || rest == "/") {
    if (req.method == "GET") {
      const std::string limit_s = QueryValue(req, "limit", "10");
      const std::string after_s = QueryValue(req, "after", "0");
      std::int64_t limit = 0, after = 0;
      if (!ToInt64(json(limit_s), limit) || limit < 1 || limit > 100) {
        return Error(400, "VALIDATION_ERROR", "limit must be an integer between 1 and 100",
                     nullptr);
      }
      if (!ToInt64(json(after_s), after)) {
        return Error(400, "VALIDATION_ERROR", "after must be a paging cursor from a previous page",
                     nullptr);
      }
      // Both lists start at the cursor's position (O(log N + page)); the
      // archived one walks its own id set rather than skip the live contacts.
      const std::vector<std::string> properties = QueryList(req, "properties");
      std::vector<const Contact*> results;
      std::int64_t next = 0, last = 0;
      auto add = [&](const Contact& c) {
        if (static_cast<std::int64_t>(results.size()) == limit) {
          next = last;  // more remain: the cursor is the last id returned
          return false;
        }
        results.push_back(&c);
        last = c.id;
        return true;
      };
      if (include_archived) {
        const auto& ids = model_.archived_ids();
        for (auto it = ids.upper_bound(after); it != ids.end(); ++it) {
          if (!add(model_.contacts().at(*it))) break;
        }
      } else {
        const auto& all = model_.contacts();
        for (auto it = all.upper_bound(after); it != all.end(); ++it) {
          if (!it->second.archived && !add(it->second)) break;
        }
      }
      return JsonTextResponse(200, ContactsPageBody(results, properties, next));
    }
    if (req.method == "POST") {
      json body;
      if (auto e = ParseBody(*this, req, body)) return *e;
      Checks checks;
      checks.Object(body, "properties", true);
      // The spec lists associations as required; HubSpot accepts it missing.
      checks.Array(body, "associations", false);
      if (!checks.ok()) return ValidationError(*this, checks);
      Properties props;
      Checks pc = CheckProperties(body["properties"], model_.block_property(), props);
      if (!pc.ok()) return ValidationError(*this, pc);
      auto created = model_.Create(props, ApiActor());
      if (!created.ok()) {
        if (created.status().code() == StatusCode::kAlreadyExists) {
          return Error(409, "CONFLICT", created.status().message(), nullptr);
        }
        return Error(400, "VALIDATION_ERROR", created.status().message(),
                     {{"subCategory", "GDPR_DELETED_CONTACT"}});
      }
      return JsonResponse(201, ContactToJson(*created.value(), {}));
    }
    return Error(405, "METHOD_NOT_ALLOWED", "Method not allowed", nullptr);
  }
  if (rest == "/search") {
    if (req.method != "POST")
      return Error(405, "METHOD_NOT_ALLOWED", "Method not allowed", nullptr);
    return Search(req);
  }
  if (rest == "/merge" && req.method == "POST") {
    json body;
    if (auto e = ParseBody(*this, req, body)) return *e;
    Checks checks;
    checks.Integer(body, "primaryObjectId", true, true);
    checks.Integer(body, "objectIdToMerge", true, true);
    if (!checks.ok()) return ValidationError(*this, checks);
    std::int64_t primary_id = 0, merged_id = 0;
    ToInt64(body["primaryObjectId"], primary_id);
    ToInt64(body["objectIdToMerge"], merged_id);
    Contact* primary = model_.Find(primary_id);
    Contact* merged = model_.Find(merged_id);
    if (!primary || !merged) return Error(404, "OBJECT_NOT_FOUND", "resource not found", nullptr);
    if (primary == merged) {
      return Error(400, "VALIDATION_ERROR", "Cannot merge a contact into itself", nullptr);
    }
    return JsonResponse(200, ContactToJson(*model_.Merge(*primary, *merged, ApiActor()), {}));
  }
  if (rest == "/gdpr-delete" && req.method == "POST") {
    json body;
    if (auto e = ParseBody(*this, req, body)) return *e;
    Checks checks;
    checks.String(body, "objectId", true);
    checks.String(body, "idProperty", false);
    if (!checks.ok()) return ValidationError(*this, checks);
    const std::string id_property = body.value("idProperty", "hs_object_id");
    const std::string object_id = body["objectId"];
    Contact* c = nullptr;
    if (id_property == "email") {
      c = model_.FindByEmail(object_id, true);
    } else if (std::int64_t id = 0; ToInt64(json(object_id), id)) {
      c = model_.Find(id, true);
    }
    if (!c) {
      // HubSpot blocklists an address even when no contact has it.
      if (id_property == "email") return NoContent();
      return Error(404, "OBJECT_NOT_FOUND", "resource not found", nullptr);
    }
    model_.GdprDelete(*c, ApiActor());
    return NoContent();
  }
  if (rest == "/batch/read" && req.method == "POST") {
    json body;
    if (auto e = ParseBody(*this, req, body)) return *e;
    Checks checks;
    checks.Array(body, "inputs", true);
    checks.Array(body, "properties", false);
    checks.String(body, "idProperty", false);
    if (!checks.ok()) return ValidationError(*this, checks);
    std::vector<std::string> props;
    if (body.contains("properties")) {
      for (const auto& p : body["properties"]) {
        if (p.is_string()) props.push_back(p);
      }
    }
    const std::string id_property = body.value("idProperty", "hs_object_id");
    json results = json::array(), errors = json::array();
    for (const auto& in : body["inputs"]) {
      if (!in.is_object() || !in.contains("id") || !in["id"].is_string()) {
        return Error(400, "VALIDATION_ERROR", "Some required fields were not set: [inputs[].id]",
                     nullptr);
      }
      const std::string id = in["id"];
      Contact* c = nullptr;
      if (id_property == "email") {
        c = model_.FindByEmail(id, include_archived);
      } else if (std::int64_t n = 0; ToInt64(json(id), n)) {
        c = model_.Find(n, include_archived);
      }
      if (c) {
        results.push_back(ContactToJson(*c, props));
      } else {
        errors.push_back(
            {{"status", "error"},
             {"category", "OBJECT_NOT_FOUND"},
             {"message", "Could not get some CONTACT objects, they may be deleted or not exist."},
             {"context", {{"ids", {id}}}}});
      }
    }
    json out = Envelope(results, clock_.NowMs());
    if (!errors.empty()) {
      out["errors"] = errors;
      out["numErrors"] = errors.size();
    }
    return JsonResponse(errors.empty() ? 200 : 207, out);
  }
  // /{contactId}
  const std::string id_text = net::UrlDecode(rest.substr(1), false);
  if (id_text.find('/') != std::string::npos) {
    return Error(404, "OBJECT_NOT_FOUND", "No route for " + req.method + " " + req.path, nullptr);
  }
  const std::string id_property = QueryValue(req, "idProperty", "hs_object_id");
  Contact* c = nullptr;
  if (id_property == "email") {
    c = model_.FindByEmail(id_text, include_archived);
  } else if (std::int64_t id = 0; ToInt64(json(id_text), id)) {
    c = model_.Find(id, include_archived);
  }
  if (req.method == "GET") {
    if (!c) return Error(404, "OBJECT_NOT_FOUND", "resource not found", nullptr);
    return JsonResponse(200, ContactToJson(*c, QueryList(req, "properties")));
  }
  if (req.method == "PATCH") {
    json body;
    if (auto e = ParseBody(*this, req, body)) return *e;
    Checks checks;
    checks.Object(body, "properties", true);
    if (!checks.ok()) return ValidationError(*this, checks);
    Properties props;
    Checks pc = CheckProperties(body["properties"], model_.block_property(), props);
    if (!pc.ok()) return ValidationError(*this, pc);
    if (!c || c->archived) return Error(404, "OBJECT_NOT_FOUND", "resource not found", nullptr);
    if (auto e = props.find("email"); e != props.end()) {
      Contact* other = model_.FindByEmail(e->second);
      if (other && other != c) {
        return Error(409, "CONFLICT",
                     "Contact already exists. Existing ID: " + std::to_string(other->id), nullptr);
      }
      if (model_.IsBlocklisted(e->second)) {
        return Error(400, "VALIDATION_ERROR", "the address was permanently deleted (GDPR)",
                     {{"subCategory", "GDPR_DELETED_CONTACT"}});
      }
    }
    model_.Update(*c, props, ApiActor());
    return JsonResponse(200, ContactToJson(*c, {}));
  }
  if (req.method == "DELETE") {
    // Archiving an unknown or archived contact is a quiet 204 in HubSpot.
    if (c && !c->archived) model_.Archive(*c, ApiActor());
    return NoContent();
  }
  return Error(405, "METHOD_NOT_ALLOWED", "Method not allowed", nullptr);
}

HttpResponse HubSpotSystem::Search(const HttpRequest& req) {
  json body;
  if (auto e = ParseBody(*this, req, body)) return *e;
  // The spec marks every field required; HubSpot accepts any of them missing.
  Checks checks;
  checks.Array(body, "filterGroups", false);
  checks.Array(body, "sorts", false);
  checks.Array(body, "properties", false);
  checks.Integer(body, "limit", false);
  checks.String(body, "after", false);
  checks.String(body, "query", false);
  if (!checks.ok()) return ValidationError(*this, checks);
  const std::int64_t limit = body.value("limit", std::int64_t{10});
  if (limit < 1 || limit > 200) {
    return Error(400, "VALIDATION_ERROR", "limit must be between 1 and 200", nullptr);
  }
  std::int64_t offset = 0;
  if (body.contains("after") && (!ToInt64(body["after"], offset) || offset < 0)) {
    return Error(400, "VALIDATION_ERROR", "after must be a paging cursor from a previous page",
                 nullptr);
  }
  if (offset + limit > 10'000) {
    return Error(400, "VALIDATION_ERROR", "Search results are limited to 10,000 per query",
                 nullptr);
  }
  SearchQuery query;
  query.offset = offset;
  query.limit = limit;
  if (body.contains("filterGroups")) {
    if (body["filterGroups"].size() > 5) {
      return Error(400, "VALIDATION_ERROR", "at most 5 filterGroups are allowed", nullptr);
    }
    for (size_t g = 0; g < body["filterGroups"].size(); ++g) {
      const json& group = body["filterGroups"][g];
      Checks gc("filterGroups[" + std::to_string(g) + "].");
      gc.Array(group, "filters", true);
      if (!gc.ok()) return ValidationError(*this, gc);
      std::vector<SearchFilter> filters;
      for (size_t f = 0; f < group["filters"].size(); ++f) {
        const json& fj = group["filters"][f];
        Checks fc("filterGroups[" + std::to_string(g) + "].filters[" + std::to_string(f) + "].");
        fc.String(fj, "propertyName", true);
        fc.Enum(fj, "operator",
                {"BETWEEN", "CONTAINS_TOKEN", "EQ", "GT", "GTE", "HAS_PROPERTY", "IN", "LT", "LTE",
                 "NEQ", "NOT_CONTAINS_TOKEN", "NOT_HAS_PROPERTY", "NOT_IN"},
                true);
        fc.String(fj, "value", false);
        fc.String(fj, "highValue", false);
        fc.Array(fj, "values", false);
        if (!fc.ok()) return ValidationError(*this, fc);
        SearchFilter flt{fj["propertyName"],
                         fj["operator"],
                         fj.value("value", ""),
                         fj.value("highValue", ""),
                         {}};
        if (fj.contains("values")) {
          for (const auto& v : fj["values"])
            flt.values.push_back(v.is_string() ? v.get<std::string>() : v.dump());
        }
        filters.push_back(std::move(flt));
      }
      query.groups.push_back(std::move(filters));
    }
  }
  // HubSpot's search index lags behind writes: what changed within the lag,
  // or a contact whose write is indexed late, is not found yet.
  const TimestampMs now = clock_.NowMs();
  std::erase_if(indexed_late_, [&](const auto& entry) { return entry.second <= now; });
  if (options_.search_lag_ms > 0 || !indexed_late_.empty()) {
    query.hidden = [this, now](const Contact& c) {
      if (options_.search_lag_ms > 0 && c.updated_at > now - options_.search_lag_ms) return true;
      auto it = indexed_late_.find(c.id);
      return it != indexed_late_.end() && now < it->second;
    };
  }
  if (body.contains("sorts") && !body["sorts"].empty()) {
    const json& s = body["sorts"][0];
    query.sort_property =
        s.is_string() ? s.get<std::string>() : s.value("propertyName", "hs_object_id");
    query.descending = s.is_object() && s.value("direction", "ASCENDING") == "DESCENDING";
  }
  const SearchPage page = RunSearch(model_, query);
  std::vector<std::string> props;
  if (body.contains("properties")) {
    for (const auto& p : body["properties"]) {
      if (p.is_string()) props.push_back(p);
    }
  }
  return JsonTextResponse(
      200, SearchPageBody(page, props, offset + limit < page.total ? offset + limit : 0));
}

// --- communication preferences ------------------------------------------------

namespace {
json DefinitionToJson(const Definition& d, bool v4) {
  json j = {{"id", std::to_string(d.id)},
            {"name", d.name},
            {"description", d.description},
            {"purpose", d.purpose},
            {"communicationMethod", d.channel},
            {"isActive", true},
            {"isDefault", d.is_default},
            {"isInternal", false},
            {"createdAt", "2024-01-01T00:00:00.000Z"},
            {"updatedAt", "2024-01-01T00:00:00.000Z"}};
  if (v4) j["businessUnitId"] = 0;
  return j;
}

json PublicStatusJson(const Definition& d, const std::string& subscriber,
                      const SubscriptionStatus& s, const std::string& reason) {
  std::string text;
  JsonWriter w(text);
  WriteStatus(w, d, subscriber, s, reason);
  return json::parse(text);
}
}  // namespace

HttpResponse HubSpotSystem::PreferencesV3(const HttpRequest& req, const std::string& rest) {
  if (rest == "/definitions" && req.method == "GET") {
    json defs = json::array();
    for (const auto& d : model_.definitions()) {
      if (d.channel == "EMAIL") defs.push_back(DefinitionToJson(d, false));
    }
    return JsonResponse(200, {{"subscriptionDefinitions", defs}});
  }
  auto status_json = [&](const std::string& email) {
    json list = json::array();
    const bool wide = model_.GetWide("EMAIL", email).unsubscribed;
    for (const auto& d : model_.definitions()) {
      if (d.channel != "EMAIL") continue;
      SubscriptionStatus s = model_.GetStatus("EMAIL", email, d.id);
      json j = {{"id", std::to_string(d.id)},
                {"name", d.name},
                {"description", d.description},
                {"status", !wide && s.state == "SUBSCRIBED" ? "SUBSCRIBED" : "NOT_SUBSCRIBED"},
                {"sourceOfStatus", wide ? "PORTAL_WIDE_STATUS" : "SUBSCRIPTION_STATUS"}};
      if (!s.legal_basis.empty()) j["legalBasis"] = s.legal_basis;
      if (!s.legal_basis_explanation.empty())
        j["legalBasisExplanation"] = s.legal_basis_explanation;
      list.push_back(j);
    }
    return list;
  };
  const std::string status_prefix = "/status/email/";
  if (rest.rfind(status_prefix, 0) == 0 && req.method == "GET") {
    const std::string email =
        Model::Lower(net::UrlDecode(rest.substr(status_prefix.size()), false));
    return JsonResponse(200, {{"recipient", email}, {"subscriptionStatuses", status_json(email)}});
  }
  if ((rest == "/subscribe" || rest == "/unsubscribe") && req.method == "POST") {
    json body;
    if (auto e = ParseBody(*this, req, body)) return *e;
    Checks checks;
    checks.String(body, "emailAddress", true);
    checks.Integer(body, "subscriptionId", true, true);  // a string in v3's schema
    checks.Enum(body, "legalBasis", kLegalBases, false);
    checks.String(body, "legalBasisExplanation", false);
    if (!checks.ok()) return ValidationError(*this, checks);
    const std::string email = Model::Lower(body["emailAddress"]);
    std::int64_t id = 0;
    ToInt64(body["subscriptionId"], id);
    const Definition* d = model_.FindDefinition(id);
    if (!d || d->channel != "EMAIL") {
      return Error(400, "VALIDATION_ERROR", "Invalid subscription id " + std::to_string(id),
                   nullptr);
    }
    if (email.find('@') == std::string::npos) {
      return Error(400, "VALIDATION_ERROR", "Invalid email address " + email, nullptr);
    }
    if (model_.IsBlocklisted(email)) {
      return Error(400, "VALIDATION_ERROR", email + " was permanently deleted (GDPR)", nullptr);
    }
    const SubscriptionStatus s = model_.GetStatus("EMAIL", email, id);
    const bool wide = model_.GetWide("EMAIL", email).unsubscribed;
    const bool subscribe = rest == "/subscribe";
    if (subscribe && (wide || s.state == "UNSUBSCRIBED")) {
      // HubSpot v3 never re-subscribes an address that opted out.
      return Error(400, "VALIDATION_ERROR",
                   email + " has opted out and cannot be resubscribed through this API",
                   {{"subCategory", "SubscriptionErrors.CANNOT_RESUBSCRIBE"}});
    }
    if (subscribe && s.state == "SUBSCRIBED") {
      return Error(400, "VALIDATION_ERROR",
                   email + " is already subscribed to subscription " + std::to_string(id), nullptr);
    }
    if (!subscribe && (wide || s.state == "UNSUBSCRIBED")) {
      return Error(400, "VALIDATION_ERROR",
                   email + " is already unsubscribed from subscription " + std::to_string(id),
                   nullptr);
    }
    model_.SetStatus("EMAIL", email, id, subscribe ? "SUBSCRIBED" : "UNSUBSCRIBED",
                     body.value("legalBasis", ""), body.value("legalBasisExplanation", ""),
                     ApiActor());
    const SubscriptionStatus now = model_.GetStatus("EMAIL", email, id);
    json out = {{"id", std::to_string(id)},
                {"name", d->name},
                {"description", d->description},
                {"status", subscribe ? "SUBSCRIBED" : "NOT_SUBSCRIBED"},
                {"sourceOfStatus", "SUBSCRIPTION_STATUS"}};
    if (!now.legal_basis.empty()) out["legalBasis"] = now.legal_basis;
    if (!now.legal_basis_explanation.empty())
      out["legalBasisExplanation"] = now.legal_basis_explanation;
    return JsonResponse(200, out);
  }
  return Error(404, "OBJECT_NOT_FOUND", "No route for " + req.method + " " + req.path, nullptr);
}

HttpResponse HubSpotSystem::PreferencesV4(const HttpRequest& req, const std::string& rest) {
  const TimestampMs now = clock_.NowMs();
  if (rest == "/definitions" && req.method == "GET") {
    json defs = json::array();
    for (const auto& d : model_.definitions()) defs.push_back(DefinitionToJson(d, true));
    return JsonResponse(200, Envelope(defs, now));
  }
  // Query parameters shared by most v4 endpoints.
  auto channel_error = [&]() -> std::optional<HttpResponse> {
    json q = json::object();
    if (HasQuery(req, "channel")) q["channel"] = QueryValue(req, "channel");
    Checks c;
    c.Enum(q, "channel", kChannels, true);
    if (HasQuery(req, "businessUnitId")) {
      std::int64_t bu = 0;
      if (!ToInt64(json(QueryValue(req, "businessUnitId")), bu)) {
        c.Add("businessUnitId", "businessUnitId must be an integer", "INVALID_TYPE");
      }
    }
    if (!c.ok()) return ValidationError(*this, c);
    return std::nullopt;
  };
  auto statuses_for = [&](const std::string& channel, const std::string& subscriber,
                          bool only_set) {
    json list = json::array();
    const std::string lower = Model::Lower(subscriber);
    for (const auto& d : model_.definitions()) {
      if (d.channel != channel) continue;
      SubscriptionStatus s = model_.GetStatus(channel, subscriber, d.id);
      if (only_set && s.state == "NOT_SPECIFIED") continue;
      list.push_back(PublicStatusJson(d, lower, s, ""));
    }
    return list;
  };
  auto wide_for = [&](const std::string& channel, const std::string& subscriber) {
    WideStatus w = model_.GetWide(channel, subscriber);
    return json::array({{{"channel", channel},
                         {"subscriberIdString", Model::Lower(subscriber)},
                         {"status", w.unsubscribed ? "UNSUBSCRIBED" : "SUBSCRIBED"},
                         {"wideStatusType", "PORTAL_WIDE"},
                         {"businessUnitId", 0},
                         {"timestamp", FormatTime(w.timestamp)}}});
  };
  // One status write, shared by the single and the batch endpoint.
  auto write = [&](const json& in, const std::string& subscriber, Checks& checks) -> json {
    checks.Enum(in, "channel", kChannels, true);
    checks.Enum(in, "statusState", kStatusStates, true);
    checks.Integer(in, "subscriptionId", true);
    checks.Enum(in, "legalBasis", kLegalBases, false);
    checks.String(in, "legalBasisExplanation", false);
    if (!checks.ok()) return nullptr;
    const std::string channel = in["channel"];
    const Definition* d = model_.FindDefinition(in["subscriptionId"].get<std::int64_t>());
    if (!d || d->channel != channel) {
      checks.Add(
          "subscriptionId",
          "No subscription definition " + in["subscriptionId"].dump() + " for channel " + channel,
          "INVALID_SUBSCRIPTION");
      return nullptr;
    }
    if (model_.IsBlocklisted(subscriber)) {
      checks.Add("subscriberIdString", subscriber + " was permanently deleted (GDPR)",
                 "GDPR_DELETED");
      return nullptr;
    }
    std::string reason =
        model_.SetStatus(channel, subscriber, d->id, in["statusState"], in.value("legalBasis", ""),
                         in.value("legalBasisExplanation", ""), ApiActor());
    return PublicStatusJson(*d, Model::Lower(subscriber),
                            model_.GetStatus(channel, subscriber, d->id), reason);
  };
  auto batch_inputs = [&](json& body) -> std::optional<HttpResponse> {
    if (auto e = ParseBody(*this, req, body)) return e;
    Checks c;
    c.Array(body, "inputs", true);
    if (c.ok()) {
      for (size_t i = 0; i < body["inputs"].size(); ++i) {
        if (!body["inputs"][i].is_string()) {
          c.Add("inputs[" + std::to_string(i) + "]", "inputs must be strings", "INVALID_TYPE");
        }
      }
    }
    if (!c.ok()) return ValidationError(*this, c);
    return std::nullopt;
  };

  if (rest == "/statuses/batch/write" && req.method == "POST") {
    json body;
    if (auto e = ParseBody(*this, req, body)) return *e;
    Checks checks;
    checks.Array(body, "inputs", true);
    if (!checks.ok()) return ValidationError(*this, checks);
    // Validate all first, so an invalid batch changes nothing.
    for (size_t i = 0; i < body["inputs"].size(); ++i) {
      Checks c("inputs[" + std::to_string(i) + "].");
      const json& in = body["inputs"][i];
      c.String(in, "subscriberIdString", true);
      c.Enum(in, "channel", kChannels, true);
      c.Enum(in, "statusState", kStatusStates, true);
      c.Integer(in, "subscriptionId", true);
      c.Enum(in, "legalBasis", kLegalBases, false);
      c.String(in, "legalBasisExplanation", false);
      checks.Append(c);
    }
    if (!checks.ok()) return ValidationError(*this, checks);
    json results = json::array(), errors = json::array();
    for (size_t i = 0; i < body["inputs"].size(); ++i) {
      Checks c("inputs[" + std::to_string(i) + "].");
      const json& in = body["inputs"][i];
      json r = write(in, in["subscriberIdString"], c);
      if (r.is_null()) {
        errors.push_back({{"status", "error"},
                          {"category", "VALIDATION_ERROR"},
                          {"message", c.Message()},
                          {"context", json::object()},
                          {"errors", json::array()},
                          {"links", json::object()}});
      } else {
        results.push_back(std::move(r));
      }
    }
    json out = Envelope(results, now);
    if (!errors.empty()) {
      out["errors"] = errors;
      out["numErrors"] = errors.size();
    }
    return JsonResponse(errors.empty() ? 200 : 207, out);
  }
  if (rest == "/statuses/batch/read" && req.method == "POST") {
    if (auto e = channel_error()) return *e;
    json body;
    if (auto e = batch_inputs(body)) return *e;
    std::vector<std::string> subscribers;
    subscribers.reserve(body["inputs"].size());
    for (const auto& s : body["inputs"]) subscribers.push_back(s.get<std::string>());
    if (model_.AnyReadFailing()) {
      // The read-failure fault (docs/simulator.md): a 207 whose errors name
      // the failing subscribers; the others are answered.
      std::vector<std::string> answered;
      json errors = json::array();
      for (const std::string& sub : subscribers) {
        if (!model_.ReadFailing(Model::Lower(sub))) {
          answered.push_back(sub);
          continue;
        }
        errors.push_back({{"status", "error"},
                          {"category", "INTERNAL_ERROR"},
                          {"message", "Could not read the statuses of some subscribers"},
                          {"context", {{"ids", {sub}}}},
                          {"errors", json::array()},
                          {"links", json::object()}});
      }
      if (!errors.empty()) {
        json out =
            json::parse(StatusesBatchReadBody(model_, QueryValue(req, "channel"), answered, now));
        out["numErrors"] = errors.size();
        out["errors"] = std::move(errors);
        return JsonResponse(207, out);
      }
    }
    return JsonTextResponse(
        200, StatusesBatchReadBody(model_, QueryValue(req, "channel"), subscribers, now));
  }
  if (rest == "/statuses/batch/unsubscribe-all" && req.method == "POST") {
    if (auto e = channel_error()) return *e;
    json body;
    if (auto e = batch_inputs(body)) return *e;
    const std::string channel = QueryValue(req, "channel");
    json results = json::array();
    for (const auto& s : body["inputs"]) {
      if (model_.IsBlocklisted(s)) continue;
      model_.UnsubscribeAll(channel, s, ApiActor());
      results.push_back(
          {{"subscriberIdString", Model::Lower(s)}, {"statuses", statuses_for(channel, s, true)}});
    }
    return JsonResponse(200, Envelope(results, now));
  }
  if (rest == "/statuses/batch/unsubscribe-all/read" && req.method == "POST") {
    if (auto e = channel_error()) return *e;
    json body;
    if (auto e = batch_inputs(body)) return *e;
    const std::string channel = QueryValue(req, "channel");
    json results = json::array();
    for (const auto& s : body["inputs"]) {
      json& r = results.emplace_back(json::object());
      r["subscriberIdString"] = Model::Lower(s);
      r["wideStatuses"] = wide_for(channel, s);
    }
    return JsonResponse(200, Envelope(std::move(results), now));
  }
  const std::string prefix = "/statuses/";
  if (rest.rfind(prefix, 0) != 0) {
    return Error(404, "OBJECT_NOT_FOUND", "No route for " + req.method + " " + req.path, nullptr);
  }
  std::string tail = rest.substr(prefix.size());
  bool unsubscribe_all = false;
  const std::string kAll = "/unsubscribe-all";
  if (tail.size() > kAll.size() &&
      tail.compare(tail.size() - kAll.size(), kAll.size(), kAll) == 0) {
    unsubscribe_all = true;
    tail.resize(tail.size() - kAll.size());
  }
  const std::string subscriber = net::UrlDecode(tail, false);
  if (subscriber.empty() || subscriber.find('/') != std::string::npos) {
    return Error(404, "OBJECT_NOT_FOUND", "No route for " + req.method + " " + req.path, nullptr);
  }
  if (!unsubscribe_all && req.method == "GET") {
    if (auto e = channel_error()) return *e;
    return JsonResponse(200,
                        Envelope(statuses_for(QueryValue(req, "channel"), subscriber, false), now));
  }
  if (!unsubscribe_all && req.method == "POST") {
    json body;
    if (auto e = ParseBody(*this, req, body)) return *e;
    Checks checks;
    json r = write(body, subscriber, checks);
    if (r.is_null()) return ValidationError(*this, checks);
    return JsonResponse(200, Envelope(json::array({r}), now));
  }
  if (unsubscribe_all && req.method == "GET") {
    if (auto e = channel_error()) return *e;
    return JsonResponse(200, Envelope(wide_for(QueryValue(req, "channel"), subscriber), now));
  }
  if (unsubscribe_all && req.method == "POST") {
    if (auto e = channel_error()) return *e;
    if (model_.IsBlocklisted(subscriber)) {
      return Error(400, "VALIDATION_ERROR", subscriber + " was permanently deleted (GDPR)",
                   nullptr);
    }
    const std::string channel = QueryValue(req, "channel");
    model_.UnsubscribeAll(channel, subscriber, ApiActor());
    const bool verbose = QueryValue(req, "verbose") == "true";
    json list = statuses_for(channel, subscriber, !verbose);
    for (auto& s : list) s["setStatusSuccessReason"] = "UNSUBSCRIBE_FROM_ALL_OCCURRED";
    return JsonResponse(200, Envelope(list, now));
  }
  return Error(405, "METHOD_NOT_ALLOWED", "Method not allowed", nullptr);
}

}  // namespace consentd::sim::hubspot
