#include "sim/faults.h"

#include <nlohmann/json.hpp>

namespace consentd::sim {
namespace {

struct KindName {
  FaultKind kind;
  const char* name;
};
constexpr KindName kKinds[] = {
    {FaultKind::kError, "error"},
    {FaultKind::kRateLimit, "rate_limit"},
    {FaultKind::kLatency, "latency"},
    {FaultKind::kHold, "hold"},
    {FaultKind::kDrop, "drop"},
    {FaultKind::kWebhookDelay, "webhook_delay"},
    {FaultKind::kWebhookDuplicate, "webhook_duplicate"},
    {FaultKind::kWebhookReorder, "webhook_reorder"},
    {FaultKind::kWebhookDrop, "webhook_drop"},
};

const char* KindToName(FaultKind k) {
  for (const auto& e : kKinds) {
    if (e.kind == k) return e.name;
  }
  return "?";
}

bool IsWebhookKind(FaultKind k) {
  return k == FaultKind::kWebhookDelay || k == FaultKind::kWebhookDuplicate ||
         k == FaultKind::kWebhookReorder || k == FaultKind::kWebhookDrop;
}

Status WrongType(const char* field, const char* type) {
  return InvalidArgument(std::string("fault field '") + field + "' must be " + type);
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view text) {
  // Iterative matcher with single backtrack point: linear for one '*'.
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Result<int> FaultInjector::Add(const nlohmann::json& spec) {
  if (!spec.is_object()) return InvalidArgument("fault must be a JSON object");
  FaultRule r;
  if (!spec.contains("kind") || !spec["kind"].is_string()) return WrongType("kind", "a string");
  bool known = false;
  for (const auto& e : kKinds) {
    if (spec["kind"] == e.name) {
      r.kind = e.kind;
      known = true;
    }
  }
  if (!known)
    return InvalidArgument("unknown fault kind '" + spec["kind"].get<std::string>() + "'");
  for (const char* f : {"system", "method", "route"}) {
    if (!spec.contains(f)) continue;
    if (!spec[f].is_string()) return WrongType(f, "a string");
  }
  r.system = spec.value("system", "*");
  r.method = spec.value("method", "*");
  r.route = spec.value("route", "*");
  if (spec.contains("rate")) {
    if (!spec["rate"].is_number()) return WrongType("rate", "a number");
    r.rate = spec["rate"].get<double>();
    if (r.rate < 0 || r.rate > 1) return InvalidArgument("fault field 'rate' must be in [0, 1]");
  }
  if (spec.contains("count")) {
    if (!spec["count"].is_number_integer()) return WrongType("count", "an integer");
    r.count = spec["count"].get<std::int64_t>();
  }
  if (r.kind == FaultKind::kError) {
    r.status = spec.value("status", 503);
    if (r.status != 400 && r.status != 401 && r.status != 403 && r.status != 404 &&
        r.status != 500 && r.status != 502 && r.status != 503) {
      return InvalidArgument("fault field 'status' must be 400, 401, 403, 404, 500, 502 or 503");
    }
  }
  if (r.kind == FaultKind::kRateLimit) r.status = 429;
  // A 503 (or any error) may say when to come back, as a 429 does.
  if (r.kind == FaultKind::kRateLimit || r.kind == FaultKind::kError) {
    if (spec.contains("retry_after") && !spec["retry_after"].is_null()) {
      if (!spec["retry_after"].is_number_integer()) return WrongType("retry_after", "an integer");
      r.retry_after_s = spec["retry_after"].get<int>();
    }
  }
  for (const char* f : {"latency_ms", "delay_ms", "hold_ms"}) {
    if (!spec.contains(f)) continue;
    if (!spec[f].is_number_integer()) return WrongType(f, "an integer");
    r.latency_ms = spec[f].get<std::int64_t>();
  }
  r.id = next_id_++;
  r.rng.seed(seed_ * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(r.id));
  rules_.push_back(std::move(r));
  return rules_.back().id;
}

bool FaultInjector::Remove(int id) {
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (it->id == id) {
      rules_.erase(it);
      return true;
    }
  }
  return false;
}

void FaultInjector::Clear() {
  rules_.clear();
  next_id_ = 1;
}

bool FaultInjector::Fires(FaultRule& rule) {
  if (rule.count == 0) return false;
  // Always draw, so that the sequence of decisions depends only on the
  // sequence of matching calls.
  const double u = static_cast<double>(rule.rng() >> 11) * 0x1.0p-53;
  if (u >= rule.rate) return false;
  if (rule.count > 0) --rule.count;
  ++rule.hits;
  return true;
}

ApiFaultDecision FaultInjector::ForApi(std::string_view system, std::string_view method,
                                       std::string_view path) {
  ApiFaultDecision d;
  for (FaultRule& r : rules_) {
    if (IsWebhookKind(r.kind)) continue;
    if (r.system != "*" && r.system != system) continue;
    if (r.method != "*" && r.method != method) continue;
    if (!GlobMatch(r.route, path)) continue;
    if (!Fires(r)) continue;
    switch (r.kind) {
      case FaultKind::kDrop:
        d.drop = true;
        break;
      case FaultKind::kLatency:
        d.latency_ms += r.latency_ms;
        break;
      case FaultKind::kHold:
        d.hold_ms += r.latency_ms;
        break;
      case FaultKind::kError:
      case FaultKind::kRateLimit:
        if (!d.status) {
          d.status = r.status;
          d.retry_after_s = r.retry_after_s;
        }
        break;
      default:
        break;
    }
  }
  return d;
}

WebhookFaultDecision FaultInjector::ForWebhook(std::string_view system, std::string_view url) {
  WebhookFaultDecision d;
  for (FaultRule& r : rules_) {
    if (!IsWebhookKind(r.kind)) continue;
    if (r.system != "*" && r.system != system) continue;
    if (!GlobMatch(r.route, url)) continue;
    if (!Fires(r)) continue;
    switch (r.kind) {
      case FaultKind::kWebhookDrop:
        d.drop = true;
        break;
      case FaultKind::kWebhookDuplicate:
        d.duplicate = true;
        break;
      case FaultKind::kWebhookReorder:
        d.reorder = true;
        break;
      case FaultKind::kWebhookDelay:
        d.delay_ms += r.latency_ms;
        break;
      default:
        break;
    }
  }
  return d;
}

nlohmann::json FaultInjector::ToJson() const {
  nlohmann::json out = nlohmann::json::array();
  for (const FaultRule& r : rules_) {
    nlohmann::json j = {{"id", r.id},         {"kind", KindToName(r.kind)},
                        {"system", r.system}, {"method", r.method},
                        {"route", r.route},   {"rate", r.rate},
                        {"count", r.count},   {"hits", r.hits}};
    if (r.kind == FaultKind::kError || r.kind == FaultKind::kRateLimit) j["status"] = r.status;
    if (r.retry_after_s) j["retry_after"] = *r.retry_after_s;
    if (r.latency_ms) {
      const char* field = r.kind == FaultKind::kLatency ? "latency_ms"
                          : r.kind == FaultKind::kHold  ? "hold_ms"
                                                        : "delay_ms";
      j[field] = r.latency_ms;
    }
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace consentd::sim
