// docs/openapi.yaml documents exactly the admin routes the daemon serves
// (daemon/admin_api.h AdminRoutes(); that the daemon registers each of them
// is checked against the running binary in process_test.cc).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <utility>

#include "daemon/admin_api.h"

namespace consentd::daemon {
namespace {

using Route = std::pair<std::string, std::string>;  // (METHOD, path)

YAML::Node LoadSpec() { return YAML::LoadFile(std::string(CONSENTD_SOURCE_DIR) + "/docs/openapi.yaml"); }

std::set<Route> DocumentedRoutes(const YAML::Node& spec) {
  std::set<Route> out;
  for (const auto& path : spec["paths"]) {
    for (const auto& op : path.second) {
      std::string method = op.first.as<std::string>();
      std::transform(method.begin(), method.end(), method.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      out.emplace(method, path.first.as<std::string>());
    }
  }
  return out;
}

TEST(OpenApiSync, SpecIsOpenApi31WithBearerAuth) {
  const YAML::Node spec = LoadSpec();
  EXPECT_EQ(spec["openapi"].as<std::string>().rfind("3.1.", 0), 0u);
  EXPECT_EQ(spec["components"]["securitySchemes"]["adminToken"]["scheme"].as<std::string>(),
            "bearer");
}

TEST(OpenApiSync, SpecDocumentsExactlyTheServedAdminRoutes) {
  std::set<Route> served;
  for (const AdminRouteInfo& r : AdminRoutes()) served.emplace(r.method, r.path);
  EXPECT_EQ(DocumentedRoutes(LoadSpec()), served);
}

TEST(OpenApiSync, EveryOperationDocumentsTheTokenRefusalAndProblemAnswers) {
  const YAML::Node spec = LoadSpec();
  for (const auto& path : spec["paths"]) {
    for (const auto& op : path.second) {
      const std::string where = op.first.as<std::string>() + " " + path.first.as<std::string>();
      EXPECT_TRUE(op.second["responses"]["401"]) << where;
      EXPECT_TRUE(op.second["operationId"]) << where;
    }
  }
}

}  // namespace
}  // namespace consentd::daemon
