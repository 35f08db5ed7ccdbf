// The validation toolkit others build their sections with: suggestions,
// the diagnostics collector, typed readers, and tables with lists and
// user-named entries (as mapping: and connectors: will use them).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <string>
#include <vector>

#include "config/diagnostics.h"
#include "config/suggest.h"
#include "config/yaml_reader.h"

namespace consentd::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ConfigSuggest, EditDistanceCountsTranspositionAsOne) {
  EXPECT_EQ(EditDistance("listen", "lsiten"), 1u);
  EXPECT_EQ(EditDistance("listen", "listn"), 1u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
}

TEST(ConfigSuggest, ClosestPlausibleCandidateIsSuggested) {
  constexpr std::array<std::string_view, 3> keys = {"listen", "body_limit", "max_connections"};
  EXPECT_EQ(SuggestClosest("lisen", keys), "listen");
  EXPECT_EQ(SuggestClosest("Listen", keys), "listen");
  EXPECT_EQ(SuggestClosest("body-limit", keys), "body_limit");
  EXPECT_EQ(SuggestClosest("max_connection", keys), "max_connections");
  EXPECT_EQ(SuggestClosest("color", keys), std::nullopt);
  EXPECT_EQ(DidYouMean("color", keys), "");
}

TEST(ConfigDiagnostics, LinesAreSortedByPositionAndWarningsMarked) {
  Diagnostics d("f.yaml");
  d.Error({3, 1}, "third");
  d.Warning({1, 9}, "first");
  d.Error({1, 10}, "second");
  d.Error({}, "no position");
  EXPECT_THAT(d.Lines(), ElementsAre("f.yaml: no position", "f.yaml:1:9: warning: first",
                                     "f.yaml:1:10: second", "f.yaml:3:1: third"));
  EXPECT_THAT(d.WarningLines(), ElementsAre("f.yaml:1:9: warning: first"));
  EXPECT_EQ(d.ToStatus().message(), "f.yaml: no position\nf.yaml:1:10: second\nf.yaml:3:1: third");
}

TEST(ConfigDiagnostics, WarningsAloneAreOk) {
  Diagnostics d("f.yaml");
  d.Warning({1, 1}, "w");
  EXPECT_TRUE(d.ToStatus().ok());
}

struct Reading {
  Diagnostics diag{"t.yaml"};
  ReadContext ctx{diag, "/etc/consentd", ""};
};

TEST(ConfigReaders, ByteSizesAcceptUnits) {
  Reading r;
  EXPECT_EQ(ReadByteSize(YAML::Load("1MiB"), r.ctx, 1, 1ULL << 40), 1u << 20);
  EXPECT_EQ(ReadByteSize(YAML::Load("512 KiB"), r.ctx, 1, 1ULL << 40), 512u * 1024);
  EXPECT_EQ(ReadByteSize(YAML::Load("2kB"), r.ctx, 1, 1ULL << 40), 2000u);
  EXPECT_EQ(ReadByteSize(YAML::Load("4096"), r.ctx, 1, 1ULL << 40), 4096u);
  EXPECT_FALSE(r.diag.has_errors());
  EXPECT_EQ(ReadByteSize(YAML::Load("2GiB"), r.ctx, 1, 1ULL << 30), std::nullopt);
  EXPECT_THAT(r.diag.Lines(), ElementsAre("t.yaml:1:1: size \"2GiB\" is out of range: expected "
                                          "from 1B to 1GiB"));
}

TEST(ConfigReaders, DurationsAcceptSumsOfUnits) {
  Reading r;
  using std::chrono::milliseconds;
  const milliseconds max = std::chrono::hours(100);
  EXPECT_EQ(ReadDuration(YAML::Load("1h2m3s4ms"), r.ctx, milliseconds(0), max),
            milliseconds(3'723'004));
  EXPECT_EQ(ReadDuration(YAML::Load("1.5s"), r.ctx, milliseconds(0), max), std::nullopt);
  EXPECT_EQ(ReadDuration(YAML::Load("s"), r.ctx, milliseconds(0), max), std::nullopt);
  EXPECT_EQ(ReadDuration(YAML::Load("99999999999h"), r.ctx, milliseconds(0), max), std::nullopt);
  EXPECT_EQ(r.diag.Lines().size(), 3u);
}

TEST(ConfigReaders, BoolIsOnlyTrueOrFalse) {
  Reading r;
  EXPECT_EQ(ReadBool(YAML::Load("true"), r.ctx), true);
  EXPECT_EQ(ReadBool(YAML::Load("false"), r.ctx), false);
  EXPECT_EQ(ReadBool(YAML::Load("yes"), r.ctx), std::nullopt);
  EXPECT_THAT(r.diag.Lines(), ElementsAre("t.yaml:1:1: expected true or false, got \"yes\""));
}

TEST(ConfigReaders, NullValueIsReportedAtItsKey) {
  Reading r;
  r.ctx.key_at = {4, 3};
  EXPECT_EQ(ReadString(YAML::Load("~"), r.ctx, "a name"), std::nullopt);
  EXPECT_THAT(r.diag.Lines(), ElementsAre("t.yaml:4:3: expected a name, got nothing"));
}

// A toy mapping section: a list of topics and named connectors.
struct Topic {
  std::string name;
  bool double_opt_in = false;
};
struct Connector {
  std::string kind;
};
struct Toy {
  std::vector<Topic> topics;
  std::map<std::string, Connector> connectors;
};

const Section<Topic>& TopicSection() {
  static const Section<Topic> s(
      "topics[]",
      {
          ValueField<Topic>(
              "name", Presence::kRequired, &Topic::name,
              [](const YAML::Node& n, ReadContext& c) { return ReadString(n, c, "a topic name"); }),
          ValueField<Topic>("double_opt_in", Presence::kOptional, &Topic::double_opt_in, ReadBool),
      });
  return s;
}

const Section<Connector>& ConnectorSection() {
  static const Section<Connector> s(
      "connectors.*",
      {
          ValueField<Connector>(
              "kind", Presence::kRequired, &Connector::kind,
              [](const YAML::Node& n, ReadContext& c) {
                static constexpr std::array<std::string_view, 2> kinds = {"hubspot", "mailchimp"};
                return ReadChoice(n, c, kinds);
              }),
      });
  return s;
}

const Section<Toy>& ToySection() {
  static const Section<Toy> s(
      "", {
              Field<Toy>{"topics", Presence::kOptional,
                         [](const YAML::Node& n, ReadContext& c, Toy& out) {
                           ReadList(n, c, [&](const YAML::Node& item) {
                             Topic t;
                             TopicSection().Read(item, c, t);
                             out.topics.push_back(t);
                           });
                         },
                         Shape::kList, &TopicSection()},
              Field<Toy>{"connectors", Presence::kOptional,
                         [](const YAML::Node& n, ReadContext& c, Toy& out) {
                           ReadNamedMappings(n, c,
                                             [&](const std::string& name, const YAML::Node&,
                                                 const YAML::Node& value) {
                                               ConnectorSection().Read(value, c,
                                                                       out.connectors[name]);
                                             });
                         },
                         Shape::kNamedMappings, &ConnectorSection()},
          });
  return s;
}

TEST(ConfigSections, KeyPathsCoverListsAndNamedEntries) {
  EXPECT_THAT(KeyPaths(ToySection()),
              ElementsAre("topics", "topics[].name", "topics[].double_opt_in", "connectors",
                          "connectors.*.kind"));
  EXPECT_THAT(KeyPaths(ToySection(), /*required_only=*/true),
              ElementsAre("topics[].name", "connectors.*.kind"));
}

TEST(ConfigSections, ListsAndNamedEntriesAreReadWithPositions) {
  Reading r;
  Toy toy;
  ToySection().Read(YAML::Load("topics:\n"
                               "  - name: news\n"
                               "    double_opt_in: true\n"
                               "  - double_opt_in: maybe\n"
                               "connectors:\n"
                               "  crm:\n"
                               "    kind: hubspt\n"
                               "  journey: {kind: mailchimp}\n"
                               "  crm: {kind: hubspot}\n"),
                    r.ctx, toy);
  ASSERT_EQ(toy.topics.size(), 2u);
  EXPECT_EQ(toy.topics[0].name, "news");
  EXPECT_TRUE(toy.topics[0].double_opt_in);
  EXPECT_EQ(toy.connectors.at("journey").kind, "mailchimp");
  EXPECT_THAT(r.diag.Lines(),
              ElementsAre("t.yaml:4:5: missing required key 'topics[].name'",
                          "t.yaml:4:20: expected true or false, got \"maybe\"",
                          "t.yaml:7:11: expected one of hubspot, mailchimp, got \"hubspt\" (did "
                          "you mean 'hubspot'?)",
                          "t.yaml:9:3: duplicate name 'crm' (first at line 6)"));
}

}  // namespace
}  // namespace consentd::config
