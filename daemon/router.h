// Routes HTTP requests by exact path (or path prefix, for
// /webhooks/<connector>) and method. Unknown paths get 404, a known path
// with another method 405 with an Allow header; both, like every error the
// daemon sends, as RFC 9457 application/problem+json.
//
// Each route has a label, its pattern ("/webhooks/{connector}"), used for
// metrics so that raw paths never blow up label cardinality.
//
// Thread-safety: routes are added before serving; Handle and RouteLabel are
// const and may run concurrently.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_server.h"
#include "net/http_types.h"

namespace consentd::daemon {

class Router {
 public:
  using RouteHandler = std::function<void(net::HttpRequest, net::Responder)>;

  // Exact path.
  void Add(std::string method, std::string path, RouteHandler handler);
  // Every path starting with `prefix` ("/webhooks/"); `label` names it.
  void AddPrefix(std::string method, std::string prefix, std::string label, RouteHandler handler);

  void Handle(net::HttpRequest req, net::Responder respond) const;

  // The route label for metrics; "unmatched" when no route has the path.
  std::string_view RouteLabel(std::string_view path) const;

  // A Handler for net::HttpServer that dispatches to this router, which
  // must outlive the server.
  net::Handler AsHandler() const;

 private:
  struct Route {
    std::string method;
    std::string path;  // exact path, or prefix
    bool prefix = false;
    std::string label;
    RouteHandler handler;
  };
  bool Matches(const Route& r, std::string_view path) const;
  std::vector<Route> routes_;
};

// The method label for metrics: known methods as they are, others "other".
std::string_view MethodLabel(std::string_view method);

// A 400 for the `email` query parameter of an admin request, or nullopt
// when it can be used: missing, or holding a space that came from a '+' (a
// '+' in a URL query means a space, so a plus address such as
// jane+news@example.com must come as jane%2Bnews%40example.com, as
// consentctl and the status page send it).
std::optional<net::HttpResponse> EmailParamProblem(const std::string& email,
                                                   std::string_view raw_query);

}  // namespace consentd::daemon
