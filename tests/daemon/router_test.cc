#include "daemon/router.h"

#include <gtest/gtest.h>

#include "tests/net/test_client.h"

namespace consentd::daemon {
namespace {

net::HttpResponse Call(const Router& router, std::string method, std::string path) {
  net::HttpRequest req;
  req.method = std::move(method);
  req.path = std::move(path);
  req.target = req.path;
  net::HttpResponse out;
  router.Handle(std::move(req), [&out](net::HttpResponse r) { out = std::move(r); });
  return out;
}

testing::RawResponse AsRaw(const net::HttpResponse& r) {
  testing::RawResponse raw;
  raw.status = r.status;
  raw.headers["content-type"] = r.content_type;
  raw.body = r.body;
  return raw;
}

Router MakeRouter() {
  Router router;
  auto ok = [](std::string body) {
    return [body](net::HttpRequest, net::Responder respond) {
      net::HttpResponse r;
      r.body = body;
      respond(std::move(r));
    };
  };
  router.Add("GET", "/healthz", ok("health"));
  router.Add("GET", "/api/v1/things", ok("list"));
  router.Add("POST", "/api/v1/things", ok("create"));
  router.AddPrefix("POST", "/webhooks/", "/webhooks/{connector}", ok("hook"));
  return router;
}

TEST(Router, DispatchesByPathAndMethod) {
  Router router = MakeRouter();
  EXPECT_EQ(Call(router, "GET", "/healthz").body, "health");
  EXPECT_EQ(Call(router, "GET", "/api/v1/things").body, "list");
  EXPECT_EQ(Call(router, "POST", "/api/v1/things").body, "create");
  EXPECT_EQ(Call(router, "POST", "/webhooks/hubspot").body, "hook");
}

TEST(Router, UnknownPathIs404Problem) {
  Router router = MakeRouter();
  auto r = Call(router, "GET", "/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(testing::CheckProblem(AsRaw(r)), std::vector<std::string>{});
  // The bare prefix is not a webhook route.
  EXPECT_EQ(Call(router, "POST", "/webhooks/").status, 404);
}

TEST(Router, WrongMethodIs405WithAllow) {
  Router router = MakeRouter();
  auto r = Call(router, "DELETE", "/api/v1/things");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(testing::CheckProblem(AsRaw(r)), std::vector<std::string>{});
  EXPECT_EQ(net::FindHeader(r.headers, "Allow").value_or(""), "GET, POST");
  EXPECT_EQ(Call(router, "GET", "/webhooks/x").status, 405);
}

TEST(Router, RouteLabelsArePatternsNotRawPaths) {
  Router router = MakeRouter();
  EXPECT_EQ(router.RouteLabel("/healthz"), "/healthz");
  EXPECT_EQ(router.RouteLabel("/webhooks/mailchimp"), "/webhooks/{connector}");
  EXPECT_EQ(router.RouteLabel("/random/123"), "unmatched");
  EXPECT_EQ(MethodLabel("GET"), "GET");
  EXPECT_EQ(MethodLabel("BREW"), "other");
}

}  // namespace
}  // namespace consentd::daemon
