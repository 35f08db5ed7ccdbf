#include "sim/sim_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "sim/faults.h"
#include "sim/request_log.h"
#include "sim/webhook_dispatcher.h"

namespace consentd::sim {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

net::HttpResponse Json(int status, const json& body) {
  net::HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump();
  return r;
}

// IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (always in English).
std::string HttpDate(TimestampMs t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t secs = static_cast<std::time_t>(t >= 0 ? t / 1000 : (t - 999) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

bool IsIdSegment(std::string_view s) {
  if (s.empty()) return false;
  if (s.find('@') != std::string_view::npos || s.find("%40") != std::string_view::npos) return true;
  bool digits = true, hex = s.size() == 32;
  for (char c : s) {
    digits = digits && c >= '0' && c <= '9';
    hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  }
  return digits || hex || (s.size() > 1 && s[0] == '+');
}

}  // namespace

std::string RouteKey(std::string_view method, std::string_view path) {
  std::string out(method);
  out += ' ';
  size_t pos = 0;
  while (pos < path.size()) {
    size_t next = path.find('/', pos + 1);
    std::string_view seg = path.substr(
        pos + 1, next == std::string_view::npos ? std::string_view::npos : next - pos - 1);
    out += '/';
    out += IsIdSegment(seg) ? std::string_view("{id}") : seg;
    if (next == std::string_view::npos) break;
    pos = next;
  }
  if (path.empty()) out += '/';
  return out;
}

bool IsLoopbackAddress(std::string_view a) {
  if (a.rfind("::ffff:", 0) == 0) a.remove_prefix(7);
  return a == "::1" || a.rfind("127.", 0) == 0;
}

class SimServer::Impl {
 public:
  Impl(asio::io_context& io, const Clock& clock, SimServerOptions options)
      : io_(io),
        clock_(clock),
        options_(options),
        faults_(options.seed),
        dispatcher_(io, faults_, clock,
                    WebhookDispatcherOptions{options.webhook_attempt_deadline,
                                             options.webhook_reorder_hold, options.seed}) {}

  struct Entry {
    std::unique_ptr<SimSystem> system;
    net::HttpServerOptions listen;
    std::unique_ptr<net::HttpServer> server;
  };

  void AddSystem(std::unique_ptr<SimSystem> system, net::HttpServerOptions listen) {
    const std::string name = system->Name();
    system->SetWebhookSink(
        [this, name](OutgoingWebhook hook) { dispatcher_.Deliver(name, std::move(hook)); });
    entries_.push_back(Entry{std::move(system), std::move(listen), nullptr});
  }

  Status Start() {
    for (size_t i = 0; i < entries_.size(); ++i) {
      Entry& e = entries_[i];
      e.listen.server_name = "consentd-sim";
      e.server = std::make_unique<net::HttpServer>(
          io_, e.listen, [this, i](net::HttpRequest req, net::Responder respond) {
            Handle(i, std::move(req), std::move(respond));
          });
      const std::string name = e.system->Name();
      e.server->SetObserver(
          [this, name](const net::HttpRequest& req, int status, std::chrono::nanoseconds took) {
            if (req.path.rfind("/_sim/", 0) == 0) return;
            const std::string route = RouteKey(req.method, req.path);
            ++counters_[name][route][std::to_string(status)];
            const TimestampMs answered = clock_.NowMs();
            requests_.Add(name, route, status,
                          answered - std::chrono::duration_cast<std::chrono::milliseconds>(took)
                                         .count(),
                          answered);
          });
      if (Status s = e.server->Start(); !s.ok()) {
        return s.WithContext(name + " on " + e.listen.address + ":" +
                             std::to_string(e.listen.port));
      }
    }
    return Status::Ok();
  }

  std::uint16_t port(std::string_view name) const {
    for (const Entry& e : entries_) {
      if (e.system->Name() == name && e.server) return e.server->port();
    }
    return 0;
  }

  void Shutdown(std::chrono::milliseconds deadline, std::function<void()> done) {
    auto left = std::make_shared<size_t>(0);
    for (Entry& e : entries_) {
      if (e.server) ++*left;
    }
    if (*left == 0) {
      if (done) done();
      return;
    }
    auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
    for (Entry& e : entries_) {
      if (!e.server) continue;
      e.server->Shutdown(deadline, [left, shared_done] {
        if (--*left == 0 && *shared_done) (*shared_done)();
      });
    }
  }

 private:
  void Handle(size_t index, net::HttpRequest req, net::Responder respond) {
    if (req.path == "/_sim" || req.path.rfind("/_sim/", 0) == 0) {
      if (!IsLoopbackAddress(req.remote_address)) {
        respond(net::Problem(403, "Forbidden", "the control API answers loopback clients only"));
        return;
      }
      respond(Control(req));
      return;
    }
    SimSystem& system = *entries_[index].system;
    std::shared_ptr<void> admission = system.AdmitRequest(req);
    ApiFaultDecision d = faults_.ForApi(system.Name(), req.method, req.path);
    if (d.hold_ms <= 0) {
      Answer(system, req, std::move(respond), std::move(admission), d);
      return;
    }
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(d.hold_ms));
    timer->async_wait([this, timer, &system, req = std::move(req), respond = std::move(respond),
                       admission = std::move(admission), d](const auto& ec) mutable {
      // Cancelled (nothing cancels it today; at io.stop() the handler is
      // destroyed unrun): the connection closes unanswered.
      if (ec) return;
      Answer(system, req, std::move(respond), std::move(admission), d);
    });
  }

  // The system's answer to `req` (or the fault's), after any hold.
  void Answer(SimSystem& system, const net::HttpRequest& req, net::Responder respond,
              std::shared_ptr<void> admission, const ApiFaultDecision& d) {
    net::HttpResponse res;
    if (d.drop) {
      res.drop_connection = true;
    } else if (d.status) {
      res = system.FaultResponse(*d.status);
      res.status = *d.status;
      if (d.retry_after_s)
        res.headers.emplace_back("Retry-After", std::to_string(*d.retry_after_s));
    } else {
      res = system.HandleAdmittedApi(req, admission);
    }
    // Every HTTP server dates its answers (RFC 9110 §6.6.1), the vendors'
    // too: a client can tell its clock from theirs (consentd's HubSpot poll
    // bounds its windows by it). The simulator's clock, which tests move.
    if (!res.drop_connection) res.headers.emplace_back("Date", HttpDate(clock_.NowMs()));
    if (d.latency_ms <= 0) {
      respond(std::move(res));
      return;
    }
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(d.latency_ms));
    timer->async_wait([timer, admission, respond = std::move(respond),
                       res = std::move(res)](const auto&) mutable {
      respond(std::move(res));
      admission.reset();
    });
  }

  net::HttpResponse Control(const net::HttpRequest& req) {
    const std::string_view path = req.path;
    if (path == "/_sim/health") return Json(200, {{"status", "ok"}});
    if (path == "/_sim/state" && req.method == "GET") {
      json out = json::object();
      for (Entry& e : entries_) out[e.system->Name()] = SystemJson(*e.system, "GET", "/state");
      out["faults"] = faults_.ToJson();
      return Json(200, out);
    }
    if (path == "/_sim/reset" && req.method == "POST") {
      for (Entry& e : entries_) SystemJson(*e.system, "POST", "/reset");
      faults_.Clear();
      counters_.clear();
      requests_.Clear();
      dispatcher_.ResetStats();
      return Json(200, {{"reset", true}});
    }
    if (path == "/_sim/counters" && req.method == "GET") return Json(200, CountersJson());
    if (path == "/_sim/counters" && req.method == "DELETE") {
      counters_.clear();
      return Json(200, CountersJson());
    }
    if (path == "/_sim/webhooks" && req.method == "GET") return Json(200, dispatcher_.Stats());
    if (path == "/_sim/requests" && req.method == "GET") return Requests(req);
    if (path == "/_sim/requests" && req.method == "DELETE") {
      requests_.Clear();
      return Json(200, json::object());
    }
    if (path == "/_sim/faults") {
      if (req.method == "GET") return Json(200, {{"faults", faults_.ToJson()}});
      if (req.method == "DELETE") {
        faults_.Clear();
        return Json(200, {{"faults", json::array()}});
      }
      if (req.method == "POST") {
        json spec = json::parse(req.body, nullptr, false);
        if (spec.is_discarded()) return net::Problem(400, "Bad Request", "body is not JSON");
        // A list adds several rules at once.
        json specs = spec.is_array() ? spec : json::array({spec});
        json ids = json::array();
        for (const json& s : specs) {
          auto id = faults_.Add(s);
          if (!id.ok()) return net::Problem(400, "Bad Request", id.status().message());
          ids.push_back(id.value());
        }
        return Json(201, {{"ids", ids}, {"faults", faults_.ToJson()}});
      }
    }
    if (path.rfind("/_sim/faults/", 0) == 0 && req.method == "DELETE") {
      std::string id(path.substr(13));
      int n = std::atoi(id.c_str());
      if (!faults_.Remove(n)) return net::Problem(404, "Not Found", "no fault " + id);
      return Json(200, {{"faults", faults_.ToJson()}});
    }
    for (Entry& e : entries_) {
      const std::string prefix = "/_sim/" + e.system->Name();
      if (path == prefix || path.rfind(prefix + "/", 0) == 0) {
        net::HttpRequest sub = req;
        sub.path = std::string(path.substr(prefix.size()));
        if (sub.path.empty()) sub.path = "/";
        sub.target = sub.query.empty() ? sub.path : sub.path + "?" + sub.query;
        return e.system->HandleControl(sub);
      }
    }
    return net::Problem(404, "Not Found", "no control route " + std::string(path));
  }

  static json SystemJson(SimSystem& system, const char* method, const char* path) {
    net::HttpRequest r;
    r.method = method;
    r.path = r.target = path;
    r.remote_address = "127.0.0.1";
    net::HttpResponse res = system.HandleControl(r);
    json j = json::parse(res.body, nullptr, false);
    return j.is_discarded() ? json(res.body) : j;
  }

  // GET /_sim/requests[?system=NAME][&since=MS]: the request log.
  net::HttpResponse Requests(const net::HttpRequest& req) const {
    std::string system;
    TimestampMs since = 0;
    for (std::string_view rest = req.query; !rest.empty();) {
      const std::string_view pair = rest.substr(0, rest.find('&'));
      rest.remove_prefix(std::min(rest.size(), pair.size() + 1));
      const std::size_t eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string_view key = pair.substr(0, eq), value = pair.substr(eq + 1);
      if (key == "system") system = std::string(value);
      if (key == "since") since = std::atoll(std::string(value).c_str());
    }
    return Json(200, requests_.ToJson(system, since));
  }

  json CountersJson() const {
    json out = json::object();
    for (const auto& [system, routes] : counters_) {
      for (const auto& [route, statuses] : routes) {
        for (const auto& [status, n] : statuses) out[system][route][status] = n;
      }
    }
    return out;
  }

  asio::io_context& io_;
  const Clock& clock_;
  SimServerOptions options_;
  FaultInjector faults_;
  WebhookDispatcher dispatcher_;
  std::vector<Entry> entries_;
  std::map<std::string, std::map<std::string, std::map<std::string, std::int64_t>>> counters_;
  RequestLog requests_;
};

SimServer::SimServer(asio::io_context& io, const Clock& clock, SimServerOptions options)
    : impl_(std::make_unique<Impl>(io, clock, options)) {}
SimServer::~SimServer() = default;
void SimServer::AddSystem(std::unique_ptr<SimSystem> system, net::HttpServerOptions listen) {
  impl_->AddSystem(std::move(system), std::move(listen));
}
Status SimServer::Start() { return impl_->Start(); }
std::uint16_t SimServer::port(std::string_view system) const { return impl_->port(system); }
void SimServer::Shutdown(std::chrono::milliseconds deadline, std::function<void()> done) {
  impl_->Shutdown(deadline, std::move(done));
}

}  // namespace consentd::sim
