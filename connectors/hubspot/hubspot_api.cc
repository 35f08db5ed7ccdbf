// HTTP calls to HubSpot and the class of every error they can end in.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "connectors/common/retry_policy.h"
#include "connectors/hubspot/hubspot_internal.h"
#include "core/redact.h"

namespace consentd::connectors::hubspot_internal {

namespace {

std::optional<std::int64_t> ToInt(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

bool ContainsNoCase(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return true;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    bool eq = true;
    for (size_t j = 0; j < needle.size() && eq; ++j) {
      eq = std::tolower(static_cast<unsigned char>(hay[i + j])) ==
           std::tolower(static_cast<unsigned char>(needle[j]));
    }
    if (eq) return true;
  }
  return false;
}

bool IsDailyLimit(const net::HttpResponse& r, const json& body) {
  auto daily_remaining = net::FindHeader(r.headers, "X-HubSpot-RateLimit-Daily-Remaining");
  return (daily_remaining && *daily_remaining == "0") ||
         (body.is_object() && StringAt(body, "policyName") == "DAILY");
}

// When HubSpot says 429 without Retry-After: its rate-limit headers tell
// the rolling window, the body the policy (SECONDLY: the search limit;
// DAILY: the day's, see HubSpotDailyLimitRefusal).
std::optional<std::chrono::milliseconds> RateLimitWait(const net::HttpResponse& r,
                                                       const json& body) {
  if (IsDailyLimit(r, body)) return kHubSpotDailyLimitProbe;
  auto remaining = net::FindHeader(r.headers, "X-HubSpot-RateLimit-Remaining");
  auto interval = net::FindHeader(r.headers, "X-HubSpot-RateLimit-Interval-Milliseconds");
  if (remaining && interval && *remaining == "0") {
    // Capped as Retry-After is (a window of days would stall every call,
    // and the jitter added to it could overflow).
    if (auto ms = ToInt(*interval); ms && *ms > 0) {
      return std::min(std::chrono::milliseconds(*ms), kMaxRetryAfter);
    }
  }
  if (body.is_object() && StringAt(body, "policyName") == "SECONDLY") {
    return std::chrono::milliseconds(1000);
  }
  return std::nullopt;
}

}  // namespace

std::optional<TimestampMs> ParseHubSpotTime(const json& value) {
  // Times go into capture-time arithmetic (the skew window is added to
  // them): one near the ends of 64 bits would overflow there. Only
  // 1970-01-01 to 9999-12-31 are times.
  constexpr TimestampMs kLatest = 253'402'300'799'999;
  auto in_range = [](TimestampMs t) -> std::optional<TimestampMs> {
    if (t < 0 || t > kLatest) return std::nullopt;
    return t;
  };
  if (value.is_number_unsigned()) {
    return value.get<std::uint64_t>() > static_cast<std::uint64_t>(kLatest)
               ? std::nullopt
               : std::optional<TimestampMs>(value.get<TimestampMs>());
  }
  if (value.is_number_integer()) return in_range(value.get<TimestampMs>());
  if (!value.is_string()) return std::nullopt;
  const std::string s = value.get<std::string>();
  if (auto ms = ToInt(s)) return in_range(*ms);
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  std::string_view rest = std::string_view(s).substr(static_cast<size_t>(consumed));
  std::int64_t millis = 0;
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    int digits = 0;
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
      if (digits < 3) millis = millis * 10 + (rest.front() - '0');
      ++digits;
      rest.remove_prefix(1);
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 3; ++digits) millis *= 10;
  }
  if (rest != "Z" && rest != "+00:00" && !rest.empty()) return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<TimestampMs>(timegm(&tm)) * 1000 + millis;
}

std::string UrlEncode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string VendorMessage(const json& body) {
  std::string msg;
  if (body.is_object()) {
    msg = StringAt(body, "message");
    if (msg.empty() && body.contains("errors") && body["errors"].is_array() &&
        !body["errors"].empty() && body["errors"][0].is_object()) {
      msg = StringAt(body["errors"][0], "message");
    }
    if (const std::string cat = StringAt(body, "category"); !cat.empty()) {
      msg = cat + (msg.empty() ? "" : ": " + msg);
    }
  }
  return MaskEmailsInText(msg.empty() ? std::string("no error message") : msg);
}

bool IsGdprBlocklisted(const json& body) {
  if (!body.is_object()) return false;
  const std::string text = body.dump();
  return ContainsNoCase(text, "GDPR_DELETED") || ContainsNoCase(text, "permanently deleted") ||
         ContainsNoCase(text, "BLOCKLIST");
}

Contact ContactFromJson(const json& j) {
  Contact c;
  if (!j.is_object()) return c;
  if (j.contains("id")) c.id = j["id"].is_string() ? j["id"].get<std::string>() : j["id"].dump();
  if (j.contains("properties") && j["properties"].is_object()) {
    for (const auto& [k, v] : j["properties"].items()) {
      if (v.is_string()) c.properties[k] = v.get<std::string>();
    }
  }
  if (auto e = c.properties.find("email"); e != c.properties.end()) c.email = e->second;
  for (const char* p : {"mobilephone", "phone"}) {
    if (auto it = c.properties.find(p); c.phone.empty() && it != c.properties.end()) {
      c.phone = it->second;
    }
  }
  if (auto it = c.properties.find("lastmodifieddate"); it != c.properties.end()) {
    c.last_modified = ParseHubSpotTime(json(it->second)).value_or(0);
  }
  if (c.last_modified == 0 && j.contains("updatedAt")) {
    c.last_modified = ParseHubSpotTime(j["updatedAt"]).value_or(0);
  }
  if (j.contains("archivedAt")) c.archived_at = ParseHubSpotTime(j["archivedAt"]).value_or(0);
  return c;
}

HubSpotConnector::CallResult HubSpotConnector::Call(std::string_view method,
                                                    const std::string& path_and_query,
                                                    const json& body) const {
  OutboundRequest req;
  req.method = std::string(method);
  std::string base = settings_.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  req.url = base + path_and_query;
  req.timeout = settings_.timeout;
  // CRM search endpoints (POST /crm/v3/objects/<type>/search) have their
  // own, stricter limit: the budget's search window.
  req.search = method == "POST" &&
               std::string_view(path_and_query).substr(0, path_and_query.find('?')).ends_with(
                   "/search");
  req.headers = {{"Authorization", "Bearer " + settings_.token}, {"Accept", "application/json"}};
  if (!body.is_null()) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = body.dump();
  }
  CallResult out;
  // The route only: no query, and a path segment holding an address
  // (PATCH .../contacts/{email}) is replaced.
  std::string what = std::string(method) + " ";
  {
    const std::string path = path_and_query.substr(0, path_and_query.find('?'));
    size_t start = 0;
    while (start < path.size()) {
      const size_t slash = path.find('/', start + 1);
      std::string seg = path.substr(start, slash == std::string::npos ? slash : slash - start);
      if (seg.find('@') != std::string::npos || seg.find("%40") != std::string::npos) {
        seg = "/{email}";
      }
      what += seg;
      if (slash == std::string::npos) break;
      start = slash;
    }
  }
  Result<net::HttpResponse> sent = http_.Send(req);
  if (!sent.ok()) {
    out.error.status = Status(sent.status().code(), "HubSpot " + MaskEmailsInText(what) + ": " +
                                                        MaskEmailsInText(sent.status().message()));
    return out;
  }
  const net::HttpResponse& r = *sent;
  out.received_steady_ms = SteadyNowMs();
  if (auto date = net::FindHeader(r.headers, "Date")) {
    out.date_s = ParseHttpDate(*date, clock_.NowMs());
  }
  json parsed = r.body.empty() ? json() : json::parse(r.body, nullptr, false);
  if (parsed.is_discarded()) parsed = json();
  if (r.status >= 200 && r.status < 300) {
    out.reply = ApiReply{r.status, std::move(parsed)};
    return out;
  }
  std::optional<std::chrono::milliseconds> retry_after;
  retry_after = RetryAfterOfAnswer(net::FindHeader(r.headers, "Retry-After"),
                                   net::FindHeader(r.headers, "Date"), clock_.NowMs());
  const std::string msg = "HubSpot " + MaskEmailsInText(what) + " answered " +
                          std::to_string(r.status) + ": " + VendorMessage(parsed);
  StatusCode code = StatusCode::kInvalidArgument;
  if (r.status == 401) {
    code = StatusCode::kUnauthenticated;
  } else if (r.status == 403) {
    code = StatusCode::kPermissionDenied;
  } else if (r.status == 404) {
    code = StatusCode::kNotFound;
  } else if (r.status == 409) {
    code = StatusCode::kAlreadyExists;
  } else if (r.status == 429) {
    code = StatusCode::kResourceExhausted;
    if (!retry_after) retry_after = RateLimitWait(r, parsed);
  } else if (r.status == 408 || r.status >= 500) {
    code = StatusCode::kUnavailable;
  } else if (r.status == 400 && IsGdprBlocklisted(parsed)) {
    code = StatusCode::kBlockedByTarget;
  }
  out.error = ApiError{Status(code, msg), retry_after};
  return out;
}

}  // namespace consentd::connectors::hubspot_internal

namespace consentd::connectors {

std::optional<QuotaRefusal> HubSpotDailyLimitRefusal(const net::HttpResponse& response) {
  if (response.status != 429) return std::nullopt;
  const nlohmann::json body =
      nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!hubspot_internal::IsDailyLimit(response, body)) return std::nullopt;
  return QuotaRefusal{kHubSpotDailyLimitProbe,
                      "HubSpot's daily request limit is used up (429, policy DAILY; HubSpot "
                      "restores it at midnight in the account's time zone)"};
}

}  // namespace consentd::connectors
