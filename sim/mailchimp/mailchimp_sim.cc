#include "sim/mailchimp/mailchimp_sim.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

#include "sim/mailchimp/mc_time.h"
#include "sim/mailchimp/render.h"

namespace consentd::sim::mailchimp {
namespace {

using nlohmann::json;

constexpr size_t kWebhookLogCap = 1000;

std::optional<std::string> Base64Decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int v = value(c);
    if (v < 0) return std::nullopt;
    buf = (buf << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xff));
    }
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

}  // namespace

MailchimpSim::ConcurrencySlot::ConcurrencySlot(ConcurrencySlot&& other) noexcept
    : in_flight_(std::move(other.in_flight_)),
      key_(std::move(other.key_)),
      admitted_(other.admitted_) {
  other.in_flight_.reset();
}

MailchimpSim::ConcurrencySlot& MailchimpSim::ConcurrencySlot::operator=(
    ConcurrencySlot&& other) noexcept {
  if (this != &other) {
    Release();
    in_flight_ = std::move(other.in_flight_);
    key_ = std::move(other.key_);
    admitted_ = other.admitted_;
    other.in_flight_.reset();
  }
  return *this;
}

MailchimpSim::ConcurrencySlot::~ConcurrencySlot() { Release(); }

void MailchimpSim::ConcurrencySlot::Release() {
  if (!in_flight_) return;
  auto it = in_flight_->find(key_);
  if (it != in_flight_->end() && --it->second <= 0) in_flight_->erase(it);
  in_flight_.reset();
}

MailchimpSim::MailchimpSim(MailchimpOptions options, const Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      webhook_(options_.webhook),
      audience_(options_.list_id, clock, [this](const MemberEvent& e) { OnEvent(e); }),
      in_flight_(std::make_shared<std::map<std::string, int>>()) {
  webhook_.url = options_.webhook_url;
  ResetState();
}

MailchimpSim::~MailchimpSim() = default;

void MailchimpSim::SetWebhookSink(WebhookSink sink) { sink_ = std::move(sink); }

void MailchimpSim::ResetState() {
  audience_.Reset();
  webhook_log_.clear();
  instance_counter_ = 0;
  if (options_.seed_members > 0) audience_.Seed(options_.seed_members, options_.seed);
}

int MailchimpSim::InFlight(const std::string& key) const {
  auto it = in_flight_->find(key);
  return it == in_flight_->end() ? 0 : it->second;
}

void MailchimpSim::OnEvent(const MemberEvent& e) {
  const bool send = ShouldNotify(e, webhook_);
  const TimestampMs now = clock_.NowMs();
  OutgoingWebhook w = BuildWebhook(e, audience_, webhook_, now);
  webhook_log_.push_back(SentWebhook{std::string(EventTypeName(e.kind)),
                                     std::string(SourceName(e.source)), w.body, send});
  if (webhook_log_.size() > kWebhookLogCap) webhook_log_.pop_front();
  if (send && sink_) sink_(std::move(w));
}

std::optional<std::string> MailchimpSim::ApiKeyOf(const net::HttpRequest& req) const {
  std::optional<std::string_view> auth = req.Header("Authorization");
  if (!auth) return std::nullopt;
  std::string_view v = Trim(*auth);
  if (StartsWithNoCase(v, "bearer ")) return std::string(Trim(v.substr(7)));
  if (StartsWithNoCase(v, "basic ")) {
    std::optional<std::string> decoded = Base64Decode(Trim(v.substr(6)));
    if (!decoded) return std::string();
    size_t colon = decoded->find(':');
    return colon == std::string::npos ? std::string() : decoded->substr(colon + 1);
  }
  return std::string();  // a scheme Mailchimp does not take: an invalid key
}

MailchimpSim::ConcurrencySlot MailchimpSim::AcquireSlot(const net::HttpRequest& req) {
  ConcurrencySlot slot;
  std::optional<std::string> key = ApiKeyOf(req);
  if (!options_.rate_limits_enabled || !key || *key != options_.api_key) return slot;
  int& n = (*in_flight_)[*key];
  if (n >= options_.max_concurrent_per_key) {
    slot.admitted_ = false;
    return slot;
  }
  ++n;
  slot.in_flight_ = in_flight_;
  slot.key_ = *key;
  return slot;
}

std::shared_ptr<void> MailchimpSim::AdmitRequest(const net::HttpRequest& req) {
  return std::make_shared<ConcurrencySlot>(AcquireSlot(req));
}

net::HttpResponse MailchimpSim::HandleAdmittedApi(const net::HttpRequest& req,
                                                  const std::shared_ptr<void>& admission) {
  if (!admission) return HandleApi(req);
  // Only AdmitRequest above creates admissions for this system.
  return HandleApiWithSlot(req, *std::static_pointer_cast<ConcurrencySlot>(admission));
}

net::HttpResponse MailchimpSim::FaultResponse(int status) const {
  if (status == 429) {
    return Error({429, "Too Many Requests",
                  "You have exceeded the limit of " +
                      std::to_string(options_.max_concurrent_per_key) +
                      " simultaneous connections.",
                  nullptr, "ERROR_GENERIC"});
  }
  if (status == 400) {
    return Error(InvalidResource("email_address", "Please provide a valid email address."));
  }
  if (status == 404) return Error(NotFoundError());
  if (status == 403) {
    return Error({403, "Forbidden", "You don't have permission to access this resource.", nullptr,
                  "ERROR_GENERIC"});
  }
  if (status == 401) {
    return Error({401, "API Key Invalid",
                  "Your API key may be invalid, or you've attempted to access the wrong "
                  "datacenter.",
                  nullptr, "ERROR_GENERIC"});
  }
  return Error({status, std::string(net::ReasonPhrase(status)),
                "An unexpected internal error has occurred. Please contact Support for more "
                "information.",
                nullptr, "ERROR_GENERIC"});
}

net::HttpResponse MailchimpSim::HandleApi(const net::HttpRequest& req) {
  ConcurrencySlot slot = AcquireSlot(req);
  return HandleApiWithSlot(req, slot);
}

net::HttpResponse MailchimpSim::HandleApiWithSlot(const net::HttpRequest& req,
                                                  const ConcurrencySlot& slot) {
  std::optional<std::string> key = ApiKeyOf(req);
  if (!key) {
    return Error({401, "API Key Missing", "Your request did not include an API key.", nullptr,
                  "ERROR_GENERIC"});
  }
  if (*key != options_.api_key) {
    return Error({401, "API Key Invalid",
                  "Your API key may be invalid, or you've attempted to access the wrong "
                  "datacenter.",
                  nullptr, "ERROR_GENERIC"});
  }
  if (!slot.admitted()) {
    return Error({429, "Too Many Requests",
                  "You have exceeded the limit of " +
                      std::to_string(options_.max_concurrent_per_key) +
                      " simultaneous connections.",
                  nullptr, "ERROR_GENERIC"});
  }
  return Route(req);
}

net::HttpResponse MailchimpSim::Error(const ApiError& e) const {
  ++instance_counter_;
  char instance[40];
  // Deterministic, UUID-shaped: the same run yields the same documents.
  std::snprintf(instance, sizeof instance, "00000000-0000-4000-8000-%012llx",
                static_cast<unsigned long long>(instance_counter_));
  json body = {{"type", kErrorDocType},
               {"title", e.title},
               {"status", e.status},
               {"detail", e.detail},
               {"instance", instance}};
  if (!e.errors.is_null()) body["errors"] = e.errors;
  net::HttpResponse r;
  r.status = e.status;
  r.content_type = "application/problem+json";
  r.body = body.dump();
  return r;
}

net::HttpResponse MailchimpSim::Json(int status, const json& body) const {
  net::HttpResponse r;
  r.status = status;
  r.content_type = "application/json; charset=utf-8";
  r.body = body.dump();
  return r;
}

}  // namespace consentd::sim::mailchimp
