// sim/json_writer.h: what the simulator writes as text reads back as the
// values written, in the bytes nlohmann's dump() would produce.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sim/json_writer.h"

namespace consentd::sim {
namespace {

using nlohmann::json;

TEST(SimJsonWriter, StringsNumbersAndNestingReadBackAsNlohmannWritesThem) {
  const std::vector<std::string> values = {"plain",
                                           "quote \" and backslash \\",
                                           "tab\tnew\nline\rfeed\fback\b",
                                           std::string("nul\0x", 5),
                                           "\x01\x1f\x7f",
                                           "\xc3\xa9 \xe6\xbc\xa2",
                                           ""};
  std::string text;
  JsonWriter w(text);
  w.BeginObject();
  w.Field("b", false);
  w.Field("n", static_cast<std::int64_t>(-5));
  w.Key("nested").BeginObject().Key("empty").BeginArray().EndArray().EndObject();
  w.Key("values").BeginArray();
  for (const std::string& v : values) w.String(v);
  w.EndArray();
  w.Key("z").Null();
  w.EndObject();

  const json j = json::parse(text);
  EXPECT_EQ(j["values"].get<std::vector<std::string>>(), values);
  EXPECT_EQ(j["n"], -5);
  EXPECT_EQ(j["b"], false);
  EXPECT_TRUE(j["z"].is_null());
  EXPECT_EQ(text, j.dump());  // keys written in nlohmann's (sorted) order
}

TEST(SimJsonWriter, RawValuesAndArraysOfObjectsAreSeparated) {
  std::string text;
  JsonWriter w(text);
  w.BeginArray();
  w.Raw(R"({"a":1})").BeginObject().Field("k", "v").EndObject().Raw("[2,3]").Int(4);
  w.EndArray();
  EXPECT_EQ(text, R"([{"a":1},{"k":"v"},[2,3],4])");
}

}  // namespace
}  // namespace consentd::sim
