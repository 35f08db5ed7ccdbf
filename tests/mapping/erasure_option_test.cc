// mapping.erasure.<mailchimp system>.on_permanent_delete (issue #7
// "Forget"): record (the default) or erase; anything else, or the key on a
// system that is not Mailchimp, is an error at its FILE:LINE:COLUMN.
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

Result<MappingSpec> Load(std::vector<std::string> lines) {
  return LoadMappingFromConfigString(Join(lines), "f.yaml");
}

TEST(MappingErasureOption, PermanentDeleteIsOnlyRecordedByDefault) {
  Result<MappingSpec> spec = Load(BaseLines());
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ(spec->erasure.at("mailchimp").on_permanent_delete,
            ErasureSpec::OnPermanentDelete::kRecord);
}

TEST(MappingErasureOption, EraseIsReadAndChangesTheMappingHash) {
  std::vector<std::string> lines = BaseLines();
  const std::string before = MappingHash(*Load(lines));
  lines[14] = "    mailchimp: {mode: delete, on_permanent_delete: erase}";
  Result<MappingSpec> spec = Load(lines);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ(spec->erasure.at("mailchimp").on_permanent_delete,
            ErasureSpec::OnPermanentDelete::kErase);
  EXPECT_NE(MappingHash(*spec), before);
  lines[14] = "    mailchimp: {mode: delete, on_permanent_delete: record}";
  EXPECT_EQ(MappingHash(*Load(lines)), before) << "the explicit default keeps the hash";
}

TEST(MappingErasureOption, UnknownValueIsAnErrorAtItsPosition) {
  std::vector<std::string> lines = BaseLines();
  lines[14] = "    mailchimp: {mode: delete, on_permanent_delete: forget}";
  Result<MappingSpec> spec = Load(lines);
  ASSERT_FALSE(spec.ok());
  const std::string at = "f.yaml:15:" + std::to_string(lines[14].find("forget") + 1) + ": ";
  EXPECT_NE(spec.status().message().find(at), std::string::npos) << spec.status().message();
  EXPECT_NE(spec.status().message().find("record"), std::string::npos) << spec.status().message();
}

TEST(MappingErasureOption, OptionOnANonMailchimpSystemIsAnError) {
  std::vector<std::string> lines = BaseLines();
  lines[13] = "    hubspot: {mode: delete, on_permanent_delete: erase}";
  Result<MappingSpec> spec = Load(lines);
  ASSERT_FALSE(spec.ok());
  const std::string at =
      "f.yaml:14:" + std::to_string(lines[13].find("on_permanent_delete") + 1) + ": ";
  EXPECT_NE(spec.status().message().find(at + "'on_permanent_delete' is for mailchimp systems"),
            std::string::npos)
      << spec.status().message();
}

}  // namespace
}  // namespace consentd::mapping
