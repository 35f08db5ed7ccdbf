// `reconsent_marker` under mapping.systems.<mailchimp> (issue #7): its
// default, both forms, and each mistake at FILE:LINE:COLUMN.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mapping/loader.h"
#include "mapping/policy.h"
#include "mapping_test_util.h"

namespace consentd::mapping {
namespace {

using testing::BaseLines;
using testing::Join;

// BaseLines with the mailchimp system (line 4) written as `system`.
std::vector<std::string> WithMailchimp(const std::string& system) {
  auto lines = BaseLines();
  lines[3] = "    mailchimp: " + system;
  return lines;
}

std::string Errors(const std::vector<std::string>& lines) {
  auto r = LoadMappingFromConfigString(Join(lines), "f.yaml");
  return r.ok() ? std::string("(loaded without error)") : r.status().message();
}

std::string Col(const std::vector<std::string>& lines, const std::string& text) {
  const std::size_t pos = lines[3].find(text);
  EXPECT_NE(pos, std::string::npos) << text;
  return "f.yaml:4:" + std::to_string(pos + 1) + ": ";
}

TEST(ReconsentMarker, MailchimpDefaultsToATagPerTopic) {
  auto spec = LoadMappingFromConfigString(Join(BaseLines()), "f.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  const SystemSpec& mc = spec->systems.at("mailchimp");
  EXPECT_TRUE(mc.ShowsReconsentMarker());
  EXPECT_EQ(mc.reconsent_marker.kind, ReconsentMarkerKind::kTag);
  EXPECT_EQ(mc.reconsent_marker.For("newsletter"), "consentd-reconsent-newsletter");
  EXPECT_FALSE(spec->systems.at("hubspot").ShowsReconsentMarker());
  const Policy p = ToPolicy(*spec);
  EXPECT_TRUE(p.ConstraintsFor("mailchimp").reconsent_marker);
  EXPECT_FALSE(p.ConstraintsFor("hubspot").reconsent_marker);
}

TEST(ReconsentMarker, MergeFieldFormAndADisabledMarkerLoad) {
  auto spec = LoadMappingFromConfigString(
      Join(WithMailchimp("{kind: mailchimp, role: journey, reconsent_marker: "
                         "{merge_field: RECONSENT, value: \"ask-{topic}\"}}")),
      "f.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  const ReconsentMarker& m = spec->systems.at("mailchimp").reconsent_marker;
  EXPECT_EQ(m.kind, ReconsentMarkerKind::kMergeField);
  EXPECT_EQ(m.merge_field, "RECONSENT");
  EXPECT_EQ(m.For("newsletter"), "ask-newsletter");
  // A non-default marker is part of the mapping hash.
  auto plain = LoadMappingFromConfigString(Join(BaseLines()), "f.yaml");
  EXPECT_NE(MappingHash(*spec), MappingHash(*plain));

  auto off = LoadMappingFromConfigString(
      Join(WithMailchimp("{kind: mailchimp, role: journey, reconsent_marker: {enabled: false}}")),
      "f.yaml");
  ASSERT_TRUE(off.ok()) << off.status().message();
  EXPECT_FALSE(off->systems.at("mailchimp").ShowsReconsentMarker());
}

TEST(ReconsentMarker, TagAndMergeFieldTogetherIsAnErrorAtTheSecond) {
  const auto lines = WithMailchimp(
      "{kind: mailchimp, role: journey, reconsent_marker: {tag: \"t-{topic}\", merge_field: RC}}");
  EXPECT_EQ(Errors(lines), Col(lines, "RC}") +
                               "reconsent_marker takes either 'tag' or 'merge_field', not both "
                               "(tag at line 4)");
}

TEST(ReconsentMarker, UnknownPlaceholderIsAnErrorAtTheTag) {
  const auto lines =
      WithMailchimp("{kind: mailchimp, role: journey, reconsent_marker: {tag: \"rc-{topik}\"}}");
  EXPECT_EQ(Errors(lines), Col(lines, "\"rc-") +
                               "reconsent_marker tag: unknown placeholder at '{topik}': only "
                               "{topic} is replaced");
}

TEST(ReconsentMarker, MergeFieldMustBeAMailchimpMergeTag) {
  const auto lines = WithMailchimp(
      "{kind: mailchimp, role: journey, reconsent_marker: {merge_field: reconsent_flag}}");
  EXPECT_EQ(Errors(lines), Col(lines, "reconsent_flag") +
                               "merge_field \"reconsent_flag\" is not a Mailchimp merge tag: 1 to "
                               "10 upper-case letters, digits or '_', starting with a letter");
}

TEST(ReconsentMarker, EmptyMarkerSaysWhatItNeeds) {
  const auto lines = WithMailchimp("{kind: mailchimp, role: journey, reconsent_marker: {}}");
  EXPECT_EQ(Errors(lines),
            Col(lines, "{}") +
                "reconsent_marker needs 'tag' (e.g. \"consentd-reconsent-{topic}\"), "
                "'merge_field' (with an optional 'value') or 'enabled: false'");
}

// docs/configuration.md gives the tag a default: `enabled: true` alone
// takes it (an empty marker, above, still says what it needs).
TEST(ReconsentMarker, EnabledAloneTakesTheDefaultTag) {
  const auto lines =
      WithMailchimp("{kind: mailchimp, role: journey, reconsent_marker: {enabled: true}}");
  auto r = LoadMappingFromConfigString(Join(lines), "f.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ReconsentMarker& m = r->FindSystem("mailchimp")->reconsent_marker;
  EXPECT_EQ(m.kind, ReconsentMarkerKind::kTag);
  EXPECT_EQ(m.For("newsletter"), "consentd-reconsent-newsletter");
}

// The tag is written with the topic's own name, however long: a tag over
// Mailchimp's 100 characters is an error at the topic, not a write that
// fails at every re-consent.
TEST(ReconsentMarker, ATagTooLongForItsTopicIsAnErrorAtTheTopic) {
  auto lines = WithMailchimp("{kind: mailchimp, role: journey}");
  const std::string long_name(91, 'n');
  for (std::string& l : lines) {
    if (l == "    - name: newsletter") l = "    - name: " + long_name;
  }
  const std::string errors = Errors(lines);
  EXPECT_NE(errors.find("f.yaml:8:7: topic '" + long_name +
                        "': its re-consent tag in 'mailchimp' would be 110 characters, over "
                        "Mailchimp's 100"),
            std::string::npos)
      << errors;
}

TEST(ReconsentMarker, MarkerOnAnotherSystemKindIsAWarning) {
  auto lines = BaseLines();
  lines[2] = "    hubspot: {kind: hubspot, role: crm, reconsent_marker: {tag: x}}";
  std::vector<std::string> warnings;
  auto r = LoadMappingFromConfigString(Join(lines), "f.yaml", &warnings);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("'reconsent_marker' only applies to mailchimp systems"),
            std::string::npos)
      << warnings[0];
  EXPECT_EQ(warnings[0].rfind("f.yaml:3:", 0), 0u) << warnings[0];
}

}  // namespace
}  // namespace consentd::mapping
