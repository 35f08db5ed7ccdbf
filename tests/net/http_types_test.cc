#include "net/http_types.h"

#include <gtest/gtest.h>

#include "tests/net/test_client.h"

namespace consentd::net {
namespace {

testing::RawResponse AsRaw(const HttpResponse& r) {
  testing::RawResponse raw;
  raw.status = r.status;
  raw.headers["content-type"] = r.content_type;
  raw.body = r.body;
  return raw;
}

TEST(Problem, BodyFollowsRfc9457Schema) {
  auto r = Problem(404, "Not Found", "no resource at /x", "about:blank", "/x");
  EXPECT_EQ(testing::CheckProblem(AsRaw(r)), std::vector<std::string>{});
}

TEST(Problem, InvalidUtf8InDetailStillGivesJson) {
  auto r = Problem(400, "Bad Request", std::string("path \xff\xfe"));
  EXPECT_EQ(testing::CheckProblem(AsRaw(r)), std::vector<std::string>{});
}

TEST(Problem, CheckerRejectsAStatusThatDoesNotMatch) {
  auto r = Problem(404, "Not Found", "x");
  auto raw = AsRaw(r);
  raw.status = 500;
  EXPECT_FALSE(testing::CheckProblem(raw).empty());
  raw = AsRaw(r);
  raw.body = R"({"title":"t","status":"404"})";
  raw.status = 404;
  EXPECT_FALSE(testing::CheckProblem(raw).empty());
}

TEST(Query, DecodesPercentAndPlus) {
  auto q = ParseQuery("a=1%202&b=x+y&flag");
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[0], std::make_pair(std::string("a"), std::string("1 2")));
  EXPECT_EQ(q[1], std::make_pair(std::string("b"), std::string("x y")));
  EXPECT_EQ(q[2], std::make_pair(std::string("flag"), std::string("")));
}

TEST(Headers, LookUpIgnoresCase) {
  HeaderList h = {{"Content-Type", "a/b"}};
  EXPECT_EQ(FindHeader(h, "content-type").value_or(""), "a/b");
  EXPECT_FALSE(FindHeader(h, "accept").has_value());
}

}  // namespace
}  // namespace consentd::net
