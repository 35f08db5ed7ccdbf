// Shared set-up for the sim_mailchimp_* tests: a MailchimpSim on a manual
// clock whose webhooks are collected, and request helpers.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/clock.h"
#include "net/http_types.h"
#include "sim/mailchimp/mailchimp_sim.h"
#include "sim/mailchimp/subscriber_hash.h"

namespace consentd::sim::mailchimp::testing {

inline constexpr char kKey[] = "0123456789abcdef0123456789abcdef-us21";
inline constexpr TimestampMs kStart = 1'790'000'000'000;  // 2026-09-21

// "Basic base64(anystring:KEY)".
inline std::string BasicAuth(const std::string& user_colon_key) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  const std::string& s = user_colon_key;
  for (; i + 2 < s.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(s[i]) << 16) |
                 (static_cast<unsigned char>(s[i + 1]) << 8) | static_cast<unsigned char>(s[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out.push_back(kAlphabet[(v >> k) & 63]);
  }
  if (i < s.size()) {
    unsigned v = static_cast<unsigned char>(s[i]) << 16;
    if (i + 1 < s.size()) v |= static_cast<unsigned char>(s[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < s.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return "Basic " + out;
}

inline net::HttpRequest Request(std::string method, std::string target, std::string body = "",
                                std::string auth = BasicAuth(std::string("anystring:") + kKey)) {
  net::HttpRequest r;
  r.method = std::move(method);
  r.target = target;
  size_t q = target.find('?');
  r.path = target.substr(0, q);
  r.query = q == std::string::npos ? "" : target.substr(q + 1);
  if (!auth.empty()) r.headers.emplace_back("Authorization", auth);
  if (!body.empty()) r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body);
  r.remote_address = "127.0.0.1";
  return r;
}

inline nlohmann::json Body(const net::HttpResponse& r) {
  return r.body.empty() ? nlohmann::json() : nlohmann::json::parse(r.body);
}

inline MailchimpOptions TestOptions() {
  MailchimpOptions o;
  o.api_key = kKey;
  o.webhook_url = "http://127.0.0.1:9/hooks/mailchimp?secret=s3cr3t";
  o.webhook.api = true;  // most tests want to see the API's changes
  return o;
}

class SimFixture {
 public:
  explicit SimFixture(MailchimpOptions options = TestOptions())
      : clock_(kStart), sim_(std::move(options), clock_) {
    sim_.SetWebhookSink([this](OutgoingWebhook w) { webhooks_.push_back(std::move(w)); });
  }

  net::HttpResponse Api(const std::string& method, const std::string& target,
                        const nlohmann::json& body = nullptr) {
    return sim_.HandleApi(Request(method, target, body.is_null() ? "" : body.dump()));
  }
  net::HttpResponse Control(const std::string& method, const std::string& path,
                            const nlohmann::json& body = nullptr) {
    return sim_.HandleControl(Request(method, path, body.is_null() ? "" : body.dump(), ""));
  }
  std::string ListPath() const { return "/3.0/lists/" + sim_.audience().list_id(); }
  std::string MemberPath(const std::string& email) const {
    return ListPath() + "/members/" + SubscriberHash(email);
  }
  // PUT upsert with status_if_new and optional status.
  net::HttpResponse Put(const std::string& email, const std::string& status_if_new,
                        const std::string& status = "") {
    nlohmann::json body = {{"email_address", email}, {"status_if_new", status_if_new}};
    if (!status.empty()) body["status"] = status;
    return Api("PUT", MemberPath(email), body);
  }
  std::string FirstInterestId() const { return sim_.audience().interests().front().id; }
  std::string FirstPermissionId() const { return sim_.audience().permissions().front().id; }

  ManualClock clock_;
  MailchimpSim sim_;
  std::vector<OutgoingWebhook> webhooks_;
};

// The decoded form fields of a webhook body.
inline std::vector<std::pair<std::string, std::string>> FormFields(const OutgoingWebhook& w) {
  return net::ParseQuery(w.body);
}

inline std::string Field(const OutgoingWebhook& w, const std::string& name) {
  for (const auto& [k, v] : FormFields(w)) {
    if (k == name) return v;
  }
  return "<missing>";
}

}  // namespace consentd::sim::mailchimp::testing
