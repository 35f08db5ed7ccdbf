// The control API of MailchimpSim (/_sim/mailchimp/...): no vendor auth.
#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string_view>

#include "sim/mailchimp/mailchimp_sim.h"
#include "sim/mailchimp/member_request.h"
#include "sim/mailchimp/render.h"

namespace consentd::sim::mailchimp {
namespace {

using nlohmann::json;

net::HttpResponse Ok(const json& body) {
  net::HttpResponse r;
  r.content_type = "application/json; charset=utf-8";
  r.body = body.dump();
  return r;
}

net::HttpResponse Bad(int status, std::string_view detail) {
  return net::Problem(status, net::ReasonPhrase(status), detail);
}

net::HttpResponse FromApiError(const ApiError& e) {
  return net::Problem(e.status, e.title, e.detail);
}

std::string EmailOf(const json& body) {
  for (const char* k : {"email_address", "email"}) {
    auto it = body.find(k);
    if (it != body.end() && it->is_string()) return it->get<std::string>();
  }
  return {};
}

}  // namespace

net::HttpResponse MailchimpSim::HandleControl(const net::HttpRequest& req) {
  std::string path = req.path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const std::string& method = req.method;

  if (path == "/state" && method == "GET") return Ok(StateJson(audience_));
  if (path == "/webhook" && method == "GET") return Ok(WebhookConfigJson(webhook_));
  if (path == "/webhooks" && method == "GET") {
    json log = json::array();
    for (const SentWebhook& w : webhook_log_) {
      log.push_back({{"type", w.type}, {"source", w.source}, {"sent", w.sent}, {"body", w.body}});
    }
    return Ok({{"webhooks", log}});
  }
  if (path == "/reset" && method == "POST") {
    ResetState();
    return Ok({{"ok", true}});
  }
  static constexpr std::string_view kWriteRoutes[] = {"/webhook",
                                                      "/seed",
                                                      "/person/signup",
                                                      "/person/confirm",
                                                      "/person/unsubscribe",
                                                      "/person/complaint",
                                                      "/person/bounce",
                                                      "/person/profile",
                                                      "/admin/profile",
                                                      "/admin/status",
                                                      "/admin/change-email",
                                                      "/admin/delete",
                                                      "/admin/delete-permanent"};
  const bool known =
      std::find(std::begin(kWriteRoutes), std::end(kWriteRoutes), path) != std::end(kWriteRoutes);
  if (!known) {
    const bool read_route = path == "/state" || path == "/webhooks" || path == "/reset";
    return Bad(read_route ? 405 : 404, "unknown control route");
  }
  if (method != "POST" && method != "PUT") return Bad(405, "use POST");

  json body = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return Bad(400, "body must be a JSON object");

  if (path == "/webhook") {
    if (auto err = UpdateWebhookConfig(body, webhook_)) return Bad(400, *err);
    return Ok(WebhookConfigJson(webhook_));
  }
  if (path == "/seed") {
    auto count = body.find("count");
    if (count == body.end() || !count->is_number_integer() || count->get<long>() < 0 ||
        count->get<long>() > 1'000'000) {
      return Bad(400, "count must be an integer in [0, 1000000]");
    }
    std::uint64_t seed = options_.seed;
    if (auto s = body.find("seed"); s != body.end()) {
      if (!s->is_number_unsigned()) return Bad(400, "seed must be a non-negative integer");
      seed = s->get<std::uint64_t>();
    }
    const size_t before = audience_.Members().size();
    audience_.Seed(count->get<int>(), seed);
    return Ok({{"seeded", audience_.Members().size() - before}, {"seed", seed}});
  }

  const std::string email = EmailOf(body);
  auto member_reply = [&](std::optional<ApiError> err, const std::string& key) {
    if (err) return FromApiError(*err);
    const Member* m = audience_.Find(key);
    return Ok({{"ok", true}, {"member", m ? MemberJson(*m, audience_) : json(nullptr)}});
  };
  if (path == "/person/confirm") {
    std::string key = email;
    if (auto t = body.find("token"); t != body.end() && t->is_string()) key = t->get<std::string>();
    if (key.empty()) return Bad(400, "token or email_address required");
    const Confirmation* c = nullptr;
    if (auto it = audience_.confirmations().find(key); it != audience_.confirmations().end())
      c = &it->second;
    const std::string hash = c ? c->hash : key;
    return member_reply(audience_.Confirm(key), hash);
  }
  if (email.empty()) return Bad(400, "email_address required");
  if (!IsValidEmail(email)) return Bad(400, "email_address is not a valid address");
  json with_email = body;
  with_email["email_address"] = email;
  with_email.erase("email");
  with_email.erase("status");
  auto parsed = ParseMemberUpdate(with_email, BodyKind::kControl, audience_);
  if (auto* e = std::get_if<ApiError>(&parsed)) return FromApiError(*e);
  MemberUpdate update = std::get<MemberUpdate>(parsed);
  const std::string campaign = body.value("campaign_id", "");

  if (path == "/person/signup") {
    auto r = audience_.SignUp(update);
    if (auto* e = std::get_if<ApiError>(&r)) return FromApiError(*e);
    const Confirmation& c = std::get<Confirmation>(r);
    const Member* m = audience_.Find(email);
    return Ok({{"ok", true},
               {"confirmation_token", c.token},
               {"member", m ? MemberJson(*m, audience_) : json(nullptr)}});
  }
  if (path == "/person/unsubscribe") {
    return member_reply(
        audience_.SetStatus(email, MemberStatus::kUnsubscribed, Source::kUser, "manual", campaign),
        email);
  }
  if (path == "/person/complaint") {
    return member_reply(
        audience_.SetStatus(email, MemberStatus::kUnsubscribed, Source::kUser, "abuse", campaign),
        email);
  }
  if (path == "/person/bounce") {
    return member_reply(
        audience_.SetStatus(email, MemberStatus::kCleaned, Source::kUser, "hard", campaign), email);
  }
  if (path == "/person/profile" || path == "/admin/profile") {
    const Source source = path == "/admin/profile" ? Source::kAdmin : Source::kUser;
    update.email_address.reset();
    auto r = audience_.Write(email, update, WriteMode::kUpdate, source);
    if (auto* e = std::get_if<ApiError>(&r)) return FromApiError(*e);
    return member_reply(std::nullopt, email);
  }
  if (path == "/admin/status") {
    auto s = body.find("status");
    std::optional<MemberStatus> status;
    if (s != body.end() && s->is_string()) status = ParseStatus(s->get<std::string>());
    if (!status) {
      return Bad(400,
                 "status must be one of subscribed, unsubscribed, cleaned, pending, "
                 "transactional, archived");
    }
    if (*status == MemberStatus::kArchived) {
      return member_reply(audience_.Archive(email, Source::kAdmin), email);
    }
    return member_reply(audience_.SetStatus(email, *status, Source::kAdmin, "manual", campaign),
                        email);
  }
  if (path == "/admin/change-email") {
    auto n = body.find("new_email_address");
    if (n == body.end() || !n->is_string() || !IsValidEmail(n->get<std::string>())) {
      return Bad(400, "new_email_address must be a valid address");
    }
    return member_reply(audience_.ChangeEmail(email, n->get<std::string>(), Source::kAdmin),
                        n->get<std::string>());
  }
  if (path == "/admin/delete") return member_reply(audience_.Archive(email, Source::kAdmin), email);
  if (path == "/admin/delete-permanent") {
    if (auto e = audience_.DeletePermanent(email, Source::kAdmin)) return FromApiError(*e);
    return Ok({{"ok", true}});
  }
  return Bad(404, "unknown control route");
}

}  // namespace consentd::sim::mailchimp
