#include "daemon/router.h"

#include <algorithm>

namespace consentd::daemon {

void Router::Add(std::string method, std::string path, RouteHandler handler) {
  std::string label = path;
  routes_.push_back(
      {std::move(method), std::move(path), false, std::move(label), std::move(handler)});
}

void Router::AddPrefix(std::string method, std::string prefix, std::string label,
                       RouteHandler handler) {
  routes_.push_back(
      {std::move(method), std::move(prefix), true, std::move(label), std::move(handler)});
}

bool Router::Matches(const Route& r, std::string_view path) const {
  if (!r.prefix) return path == r.path;
  return path.size() > r.path.size() && path.substr(0, r.path.size()) == r.path;
}

void Router::Handle(net::HttpRequest req, net::Responder respond) const {
  std::vector<std::string_view> methods;
  for (const Route& r : routes_) {
    if (!Matches(r, req.path)) continue;
    if (r.method == req.method) {
      r.handler(std::move(req), std::move(respond));
      return;
    }
    if (std::find(methods.begin(), methods.end(), r.method) == methods.end()) {
      methods.push_back(r.method);
    }
  }
  std::string allow;
  for (std::string_view m : methods) {
    if (!allow.empty()) allow += ", ";
    allow += m;
  }
  if (allow.empty()) {
    respond(net::Problem(404, "Not Found", "no resource at " + req.path));
    return;
  }
  net::HttpResponse r =
      net::Problem(405, "Method Not Allowed", req.method + " is not allowed on " + req.path);
  r.headers.emplace_back("Allow", allow);
  respond(std::move(r));
}

std::string_view Router::RouteLabel(std::string_view path) const {
  for (const Route& r : routes_) {
    if (Matches(r, path)) return r.label;
  }
  return "unmatched";
}

net::Handler Router::AsHandler() const {
  return [this](net::HttpRequest req, net::Responder respond) {
    Handle(std::move(req), std::move(respond));
  };
}

std::string_view MethodLabel(std::string_view method) {
  static constexpr std::string_view kKnown[] = {"GET",    "HEAD",  "POST",   "PUT",
                                                "DELETE", "PATCH", "OPTIONS"};
  for (std::string_view m : kKnown) {
    if (m == method) return m;
  }
  return "other";
}

std::optional<net::HttpResponse> EmailParamProblem(const std::string& email,
                                                   std::string_view raw_query) {
  if (email.empty()) {
    return net::Problem(400, "Bad Request", "the query parameter 'email' is required");
  }
  if (email.find(' ') != std::string::npos && raw_query.find('+') != std::string_view::npos) {
    return net::Problem(400, "Bad Request",
                        "the address in 'email' holds a space: a '+' in a URL query means a "
                        "space, so percent-encode the address (a plus address as "
                        "name%2Btag%40example.com)");
  }
  return std::nullopt;
}

}  // namespace consentd::daemon
