#include "tests/generic_systems/bsi_system.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "connectors/common/webhook_signatures.h"

namespace consentd::testing::bsi {
namespace {

using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

HttpResponse JsonReply(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump();
  return r;
}

HttpResponse Error(int status, std::string_view code, std::string_view message) {
  return JsonReply(status, {{"error", {{"code", code}, {"message", message}}}});
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// RFC 3339 with milliseconds, UTC (kept independent of the code under test).
std::string Rfc3339(TimestampMs t) {
  const std::time_t secs = static_cast<std::time_t>(t / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::array<char, 64> buf{};
  const std::size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S", &tm);
  std::array<char, 16> ms{};
  std::snprintf(ms.data(), ms.size(), ".%03dZ", static_cast<int>(t % 1000));
  return std::string(buf.data(), n) + ms.data();
}

// Parses the subset the tests send: "YYYY-MM-DDTHH:MM:SS[.mmm]Z".
std::optional<TimestampMs> ParseTime(const std::string& s) {
  std::tm tm{};
  int ms = 0;
  if (s.size() < 20) return std::nullopt;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return std::nullopt;
  }
  if (s[19] == '.') std::sscanf(s.c_str() + 20, "%3d", &ms);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<TimestampMs>(timegm(&tm)) * 1000 + ms;
}

std::string Str(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

struct OptIn {
  std::string status;
  std::string method;
  std::string legal_basis;
  std::string notice_version;
  TimestampMs changed_at = 0;
};

struct Sperre {
  bool active = false;
  std::string reason;
  TimestampMs changed_at = 0;
};

struct Contact {
  std::string id;
  std::string email;
  std::map<std::string, OptIn> optins;    // "thema|channel|address"
  std::map<std::string, Sperre> sperren;  // "sperre|value"
  std::set<std::string> campaigns;
};

class BsiSystem final : public sim::SimSystem {
 public:
  BsiSystem(const Clock& clock, BsiOptions o) : clock_(clock), o_(std::move(o)) {
    if (o_.themen.empty()) o_.themen = DefaultThemen();
  }

  std::string Name() const override { return SystemName(o_.flavour); }
  void SetWebhookSink(sim::WebhookSink sink) override { sink_ = std::move(sink); }

  json SaveState() const override { return {{"changes", log_.size()}}; }
  Status LoadState(const json&) override { return Status(); }

  HttpResponse HandleApi(const HttpRequest& req) override {
    Bump("api_requests");
    if (!Authorised(req)) return Error(401, "unauthorized", "missing or wrong credentials");
    const std::string prefix = ApiPrefix(o_.flavour);
    if (req.path.rfind(prefix + "/", 0) != 0) return Error(404, "not_found", "unknown path");
    const std::vector<std::string> seg = Split(req.path.substr(prefix.size() + 1));
    std::string idem;
    if (auto h = req.Header("Idempotency-Key")) idem = std::string(*h);
    if (!idem.empty() && req.method != "GET") {
      if (auto it = replies_.find(idem); it != replies_.end()) {
        Bump("idempotent_replays");
        return it->second;
      }
    }
    HttpResponse r = Route(req, seg);
    // Remember successful writes only: a refused one may be retried.
    if (!idem.empty() && req.method != "GET" && r.status < 300) replies_[idem] = r;
    return r;
  }

  HttpResponse HandleControl(const HttpRequest& req) override {
    const json body = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
    if (body.is_discarded()) return Error(400, "bad_json", "body is not JSON");
    const bool send = !body.contains("webhook") || body["webhook"] != false;
    const std::optional<TimestampMs> at =
        body.contains("occurred_at") ? ParseTime(Str(body, "occurred_at")) : std::nullopt;
    const TimestampMs when = at.value_or(clock_.NowMs());
    if (req.method == "POST" && req.path == "/reset") {
      contacts_.clear();
      log_.clear();
      replies_.clear();
      stats_.clear();
      return JsonReply(200, json::object());
    }
    if (req.method == "GET" && req.path == "/state") {
      json all = json::array();
      for (const auto& [key, c] : contacts_) all.push_back(View(c));
      return JsonReply(200, {{"contacts", all}, {"changes", log_.size()}});
    }
    if (req.method == "GET" && req.path == "/stats") return JsonReply(200, stats_);
    if (req.method == "POST" && req.path == "/webhook") {
      o_.webhook_url = Str(body, "url");
      return JsonReply(200, {{"url", o_.webhook_url}});
    }
    if (req.method == "GET" && req.path == "/contact") {
      std::string email;
      for (const auto& [k, v] : net::ParseQuery(req.query)) {
        if (k == "email") email = v;
      }
      const Contact* c = Find(email);
      if (c == nullptr) return Error(404, "not_found", "no such contact");
      return JsonReply(200, View(*c));
    }
    if (req.method != "POST") return Error(404, "not_found", "unknown control route");
    if (req.path == "/person/optin" || req.path == "/person/confirm") {
      const bool confirm = req.path == "/person/confirm";
      json b = body;
      if (confirm) {
        b["status"] = "granted";
        b["method"] = "double_opt_in";
      } else if (!b.contains("method")) {
        b["method"] = Str(b, "status") == "withdrawn" ? "unsubscribe_link" : "form";
      }
      return SetOptIn(Str(b, "email"), Str(b, "topic"), Str(b, "channel"), b, when, send,
                      /*by_api=*/false);
    }
    if (req.path == "/person/sperre") {
      return SetSperre(Str(body, "email"), Str(body, "sperre"), body, when, send);
    }
    if (req.path == "/person/delete") return Delete(Str(body, "email"), when, send);
    if (req.path == "/person/merge") {
      return Merge(Str(body, "email"), Str(body, "merged_email"), when, send);
    }
    if (req.path == "/replay") {
      const std::string id = Str(body, "change_id");
      for (const auto& entry : log_) {
        if (entry.item["change_id"] == id) {
          Send(entry);
          return JsonReply(200, {{"replayed", id}});
        }
      }
      return Error(404, "not_found", "no such change");
    }
    if (req.path.rfind("/campaigns/", 0) == 0 && req.path.size() > 19 &&
        req.path.substr(req.path.size() - 8) == "/members") {
      const std::string name = req.path.substr(11, req.path.size() - 19);
      Contact& c = Upsert(Str(body, "email"));
      c.campaigns.insert(name);
      return JsonReply(200, View(c));
    }
    return Error(404, "not_found", "unknown control route");
  }

 private:
  struct LogEntry {
    json item;   // the flat poll item
    json event;  // the protocol event
  };

  void Bump(const char* counter) { stats_[counter] = stats_.value(counter, 0) + 1; }

  bool Authorised(const HttpRequest& req) const {
    if (o_.flavour == Flavour::kCrm) {
      auto h = req.Header("Authorization");
      return h && *h == "Bearer " + o_.credential;
    }
    // Studio authenticates callers by a Standard Webhooks signature over
    // the request body (an empty body for GET and DELETE).
    const auto id = req.Header("webhook-id");
    const auto ts = req.Header("webhook-timestamp");
    const auto sig = req.Header("webhook-signature");
    return id && ts && sig &&
           connectors::StandardWebhooksVerify(o_.credential, *id, *ts, *sig, req.body,
                                              clock_.NowMs())
               .ok();
  }

  static std::vector<std::string> Split(const std::string& path) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= path.size()) {
      const std::size_t slash = path.find('/', start);
      const std::size_t end = slash == std::string::npos ? path.size() : slash;
      out.push_back(net::UrlDecode(std::string_view(path).substr(start, end - start), false));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    return out;
  }

  HttpResponse Route(const HttpRequest& req, const std::vector<std::string>& seg) {
    const TimestampMs now = clock_.NowMs();
    if (seg.size() == 1 && seg[0] == "health" && req.method == "GET") {
      return JsonReply(200, {{"ok", true}});
    }
    if (seg.size() == 1 && seg[0] == "themen" && req.method == "GET") {
      json rows = json::array();
      for (const Thema& t : o_.themen) {
        for (const std::string& ch : t.channels) {
          rows.push_back({{"name", t.name},
                          {"title", t.title},
                          {"channel", ch},
                          {"double_opt_in", t.double_opt_in}});
        }
      }
      return JsonReply(200, {{"themen", rows}});
    }
    if (seg.size() == 1 && seg[0] == "changes" && req.method == "GET") return Changes(req);
    if (seg.size() < 2 || seg[0] != "contacts") return Error(404, "not_found", "unknown path");
    const std::string& email = seg[1];
    json body = json::object();
    if (!req.body.empty()) {
      body = json::parse(req.body, nullptr, false);
      if (body.is_discarded() || !body.is_object()) {
        return Error(400, "bad_json", "the body must be a JSON object");
      }
    }
    TimestampMs when = now;
    if (body.contains("occurred_at") && body["occurred_at"].is_string()) {
      if (auto t = ParseTime(body["occurred_at"].get<std::string>())) when = *t;
    }
    if (seg.size() == 2 && req.method == "GET") {
      const Contact* c = Find(email);
      return c == nullptr ? Error(404, "not_found", "no such contact") : JsonReply(200, View(*c));
    }
    if (seg.size() == 2 && req.method == "DELETE") return Delete(email, now, true);
    if (seg.size() == 5 && seg[2] == "optins" && req.method == "PUT") {
      return SetOptIn(email, seg[3], seg[4], body, when, true, /*by_api=*/true);
    }
    if (seg.size() == 4 && seg[2] == "sperren" && req.method == "PUT") {
      return SetSperre(email, seg[3], body, when, true);
    }
    return Error(404, "not_found", "unknown path");
  }

  HttpResponse Changes(const HttpRequest& req) {
    std::size_t cursor = 0;
    std::size_t limit = 50;
    for (const auto& [k, v] : net::ParseQuery(req.query)) {
      try {
        if (k == "cursor" && !v.empty()) cursor = std::stoul(v);
        if (k == "limit" && !v.empty()) limit = std::clamp<std::size_t>(std::stoul(v), 1, 500);
      } catch (const std::exception&) {
        return Error(400, "bad_cursor", "cursor and limit are numbers");
      }
    }
    json items = json::array();
    std::size_t next = std::min(cursor, log_.size());
    while (next < log_.size() && items.size() < limit) items.push_back(log_[next++].item);
    return JsonReply(200, {{"items", items},
                           {"next_cursor", std::to_string(next)},
                           {"has_more", next < log_.size()}});
  }

  Contact* Find(const std::string& email) {
    const auto it = contacts_.find(Lower(email));
    return it == contacts_.end() ? nullptr : &it->second;
  }

  Contact& Upsert(const std::string& email) {
    Contact& c = contacts_[Lower(email)];
    if (c.id.empty()) {
      c.id = (o_.flavour == Flavour::kCrm ? "c-" : "s-") + std::to_string(++next_id_);
      c.email = email;
    }
    return c;
  }

  const Thema* FindThema(const std::string& name, const std::string& channel) const {
    for (const Thema& t : o_.themen) {
      if (t.name == name &&
          std::find(t.channels.begin(), t.channels.end(), channel) != t.channels.end()) {
        return &t;
      }
    }
    return nullptr;
  }

  static bool Known(const std::string& v, std::initializer_list<const char*> allowed) {
    for (const char* a : allowed) {
      if (v == a) return true;
    }
    return false;
  }

  HttpResponse SetOptIn(const std::string& email, const std::string& thema,
                        const std::string& channel, const json& b, TimestampMs when, bool send,
                        bool by_api) {
    if (email.find('@') == std::string::npos) return Error(422, "bad_email", "not an address");
    const Thema* t = FindThema(thema, channel);
    if (t == nullptr) return Error(422, "unknown_topic", "no such Thema on that channel");
    std::string status = Str(b, "status");
    if (!Known(status, {"granted", "withdrawn", "refused", "pending", "not_asked"})) {
      return Error(422, "bad_status", "status");
    }
    std::string method = Str(b, "method");
    if (method.empty()) method = by_api ? "api" : "form";
    const std::string address = Lower(Str(b, "address"));
    if (status == "granted" && o_.flavour == Flavour::kStudio) {
      const Contact* existing = Find(email);
      const std::string addr = address.empty() ? Lower(email) : address;
      if (existing != nullptr) {
        const auto s = existing->sperren.find("adresssperre|" + addr);
        if (s != existing->sperren.end() && s->second.active) {
          Bump("refused_transitions");
          return Error(409, "transition_refused", "the address is blocked");
        }
      }
    }
    // Double opt-in: only the person's confirmation grants; anything else
    // sends the confirmation mail and holds the opt-in as pending.
    if (status == "granted" && t->double_opt_in && o_.flavour == Flavour::kCrm &&
        method != "double_opt_in") {
      status = "pending";
      Bump("doi_mails");
    }
    Contact& c = Upsert(email);
    const std::string key = thema + "|" + channel + "|" + address;
    if (status == "not_asked") {
      c.optins.erase(key);
      return JsonReply(200, {{"contact_id", c.id}, {"status", status}});
    }
    OptIn& o = c.optins[key];
    const bool changed = o.status != status || o.method != method;
    o.status = status;
    o.method = method;
    o.legal_basis = Str(b, "legal_basis");
    o.notice_version = Str(b, "notice_version");
    o.changed_at = when;
    if (changed) {
      json item = Item(c, "consent.changed", when);
      json data = {{"topic", thema}, {"channel", channel}, {"status", status}, {"method", method}};
      if (!address.empty()) data["address"] = address;
      if (!o.legal_basis.empty()) data["legal_basis"] = o.legal_basis;
      if (!o.notice_version.empty()) data["notice_version"] = o.notice_version;
      Record(c, std::move(item), "consent.changed", when, std::move(data), send);
    }
    return JsonReply(200, {{"contact_id", c.id}, {"status", status}});
  }

  HttpResponse SetSperre(const std::string& email, const std::string& sperre, const json& b,
                         TimestampMs when, bool send) {
    if (email.find('@') == std::string::npos) return Error(422, "bad_email", "not an address");
    if (!Known(sperre, {"werbesperre", "kanalsperre", "adresssperre"})) {
      return Error(422, "unknown_sperre", "no such Sperre");
    }
    if (!b.contains("active") || !b["active"].is_boolean()) {
      return Error(422, "bad_active", "active must be true or false");
    }
    const bool active = b["active"].get<bool>();
    std::string value;
    std::string channel;
    std::string address;
    if (sperre == "kanalsperre") {
      channel = Str(b, "channel");
      if (channel != "email" && channel != "sms") {
        return Error(422, "bad_channel", "kanalsperre needs a channel");
      }
      value = channel;
    } else if (sperre == "adresssperre") {
      address = Lower(Str(b, "address"));
      if (address.empty()) address = Lower(email);
      value = address;
    }
    Contact& c = Upsert(email);
    Sperre& s = c.sperren[sperre + "|" + value];
    const bool changed = s.active != active || s.changed_at == 0;
    s.active = active;
    s.reason = Str(b, "reason");
    s.changed_at = when;
    if (changed) {
      json data = {{"block", sperre}, {"active", active}};
      if (!s.reason.empty()) data["reason"] = s.reason;
      if (!channel.empty()) data["channel"] = channel;
      if (!address.empty()) data["address"] = address;
      Record(c, Item(c, "block.changed", when), "block.changed", when, std::move(data), send);
    }
    return JsonReply(200, {{"contact_id", c.id}, {"active", active}});
  }

  HttpResponse Delete(const std::string& email, TimestampMs when, bool send) {
    Contact* c = Find(email);
    if (c == nullptr) return Error(404, "not_found", "no such contact");
    const Contact gone = *c;
    contacts_.erase(Lower(email));
    // Studio: the contact leaves every campaign with its record.
    for (std::size_t i = 0; i < gone.campaigns.size(); ++i) Bump("campaign_removals");
    Record(gone, Item(gone, "subject.erased", when), "subject.erased", when, json::object(), send);
    HttpResponse r;
    r.status = 204;
    return r;
  }

  // Two records of one person become one: `email` survives and keeps its
  // own opt-ins and Sperren; the merged record's fill the gaps. The event
  // names the merged record's id; consentd combines the consents itself.
  HttpResponse Merge(const std::string& email, const std::string& merged_email, TimestampMs when,
                     bool send) {
    Contact* survivor = Find(email);
    const Contact* merged = Find(merged_email);
    if (survivor == nullptr || merged == nullptr) return Error(404, "not_found", "no such contact");
    if (survivor == merged) return Error(422, "same_contact", "a contact cannot merge into itself");
    for (const auto& [k, o] : merged->optins) survivor->optins.emplace(k, o);
    for (const auto& [k, v] : merged->sperren) survivor->sperren.emplace(k, v);
    const std::string merged_id = merged->id;
    contacts_.erase(Lower(merged_email));
    json item = Item(*survivor, "subject.merged", when);
    Record(*survivor, std::move(item), "subject.merged", when,
           {{"merged_ids", json::array({merged_id})}}, send);
    return JsonReply(200, View(*survivor));
  }

  json Item(const Contact& c, const std::string& type, TimestampMs when) {
    return {{"change_id", Name() + "-" + std::to_string(log_.size() + 1)},
            {"type", type},
            {"changed_at", Rfc3339(when)},
            {"contact_id", c.id},
            {"email", c.email}};
  }

  void Record(const Contact& c, json item, const std::string& type, TimestampMs when, json data,
              bool send) {
    for (const auto& [k, v] : data.items()) {
      item[k == "block" ? "sperre" : k] = v;  // the poll view says "sperre"
    }
    LogEntry e;
    e.event = {{"id", item["change_id"]},
               {"type", type},
               {"occurred_at", Rfc3339(when)},
               {"subject", {{"id", c.id}, {"email", c.email}}},
               {"data", std::move(data)}};
    e.item = std::move(item);
    log_.push_back(e);
    if (send) Send(e);
  }

  void Send(const LogEntry& e) {
    if (!sink_ || o_.webhook_url.empty()) return;
    Bump("webhooks_sent");
    sim::OutgoingWebhook hook;
    hook.url = o_.webhook_url;
    hook.content_type = "application/json";
    hook.body = e.event.dump();
    hook.max_attempts = 4;
    hook.first_retry_delay_ms = o_.webhook_retry_ms;
    const std::string msg_id = "msg_" + e.event["id"].get<std::string>();
    const std::string secret = o_.webhook_secret;
    hook.sign = [msg_id, secret](const sim::OutgoingWebhook& h, TimestampMs now) {
      const std::int64_t ts = now / 1000;
      Result<std::string> sig = connectors::StandardWebhooksSign(secret, msg_id, ts, h.body);
      return net::HeaderList{{"webhook-id", msg_id},
                             {"webhook-timestamp", std::to_string(ts)},
                             {"webhook-signature", sig.ok() ? *sig : std::string("v1,invalid")}};
    };
    sink_(std::move(hook));
  }

  json View(const Contact& c) const {
    json optins = json::object();
    for (const auto& [k, o] : c.optins) {
      optins[k] = {
          {"status", o.status}, {"method", o.method}, {"changed_at", Rfc3339(o.changed_at)}};
    }
    json sperren = json::object();
    for (const auto& [k, s] : c.sperren) {
      sperren[k] = {{"active", s.active}, {"reason", s.reason}};
    }
    return {{"id", c.id},
            {"email", c.email},
            {"optins", optins},
            {"sperren", sperren},
            {"campaigns", c.campaigns}};
  }

  const Clock& clock_;
  BsiOptions o_;
  sim::WebhookSink sink_;
  std::map<std::string, Contact> contacts_;  // by lower-cased e-mail
  std::vector<LogEntry> log_;
  std::map<std::string, HttpResponse> replies_;  // by Idempotency-Key
  json stats_ = json::object();
  int next_id_ = 0;
};

}  // namespace

std::vector<Thema> DefaultThemen() {
  return {{"newsletter", "Newsletter", {"email"}, true},
          {"produktinfo", "Produktinformationen", {"email", "sms"}, false},
          {"events", "Veranstaltungen", {"email"}, false}};
}

std::string SystemName(Flavour f) { return f == Flavour::kCrm ? "bsi_crm" : "bsi_studio"; }
std::string ApiPrefix(Flavour f) { return f == Flavour::kCrm ? "/crm/v1" : "/studio/v1"; }

std::unique_ptr<sim::SimSystem> MakeBsiSystem(const Clock& clock, BsiOptions options) {
  return std::make_unique<BsiSystem>(clock, std::move(options));
}

}  // namespace consentd::testing::bsi
