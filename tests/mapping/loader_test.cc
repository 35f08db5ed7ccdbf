// The mapping loader: every error and warning at its exact position, with
// suggestions for misspelt keys and names, and the cross-reference checks.
#include "mapping/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mapping_test_util.h"

namespace consentd::mapping {
namespace {

using testing::BaseLines;
using ::testing::HasSubstr;
using testing::Join;

// "f.yaml:LINE:COLUMN: " where COLUMN is where `text` starts on that line
// (1-based), so each expectation names the token it is about.
std::string At(const std::vector<std::string>& lines, int line, const std::string& text,
               int nth = 1) {
  const std::string& l = lines[static_cast<std::size_t>(line - 1)];
  std::size_t pos = l.find(text);
  for (int i = 1; i < nth; ++i) pos = l.find(text, pos + 1);
  EXPECT_NE(pos, std::string::npos) << text << " not on line " << line;
  return "f.yaml:" + std::to_string(line) + ":" + std::to_string(pos + 1) + ": ";
}

std::string Errors(const std::vector<std::string>& lines) {
  auto r = LoadMappingFromConfigString(Join(lines), "f.yaml");
  return r.ok() ? std::string("(loaded without error)") : r.status().message();
}

std::vector<std::string> Warnings(const std::vector<std::string>& lines) {
  std::vector<std::string> w;
  auto r = LoadMappingFromConfigString(Join(lines), "f.yaml", &w);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return w;
}

TEST(MappingLoader, BaseMappingLoadsWithoutErrorOrWarning) {
  EXPECT_TRUE(Warnings(BaseLines()).empty());
}

// consentctl and the tests load the mapping alone; a byte that is not
// UTF-8 is refused at its place there too, not passed on to JSON.
TEST(MappingLoader, AByteThatIsNotUtf8IsAnErrorAtItsPlace) {
  std::vector<std::string> lines = BaseLines();
  const std::string before = lines[7];
  lines[7] += " # f\xFCr";
  EXPECT_THAT(Errors(lines), HasSubstr("f.yaml:8:" + std::to_string(before.size() + 5) +
                                       ": this byte is not valid UTF-8"));
}

TEST(MappingLoader, WorkedExampleLoadsClean) {
  std::vector<std::string> warnings;
  auto spec = LoadMappingFromConfigFile(testing::kExamplePath, &warnings);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  ASSERT_EQ(spec->topics.size(), 3u);
  EXPECT_EQ(spec->topics[0].name, "newsletter");
  EXPECT_EQ(spec->topics[1].name, "product_news");
  EXPECT_EQ(spec->topics[2].name, "events");
  EXPECT_EQ(spec->topics[1].bindings.at("hubspot").subscriptions.at("sms"), 2012);
  EXPECT_EQ(spec->topics[2].bindings.at("mailchimp").mailchimp_kind,
            MailchimpTopicKind::kMarketingPermission);
  EXPECT_EQ(spec->topics[2].direction, FlowDirection::kCrmToJourney);
  ASSERT_EQ(spec->blocks.size(), 3u);
  EXPECT_EQ(spec->blocks[0].sides.at("hubspot").property, "werbesperre");
  EXPECT_EQ(spec->blocks[2].sides.at("mailchimp").member_status, "cleaned");
  const ErasureSpec& crm = spec->erasure.at("hubspot");
  EXPECT_EQ(crm.mode, ErasureMode::kRestrict);
  EXPECT_EQ(crm.retention, "10y");
  EXPECT_EQ(crm.retain, (std::vector<std::string>{"invoices", "contracts"}));
  EXPECT_EQ(spec->identity.keys, std::vector<std::string>{"email"});
  EXPECT_EQ(spec->skew_window.count(), 2000);
}

TEST(MappingLoader, MisspeltKeySuggestsTheKnownOne) {
  auto lines = BaseLines();
  lines[8] = "      chanels: [email]";
  EXPECT_EQ(Errors(lines), At(lines, 9, "chanels") +
                               "unknown key 'chanels' in 'mapping.topics[]' (did you mean "
                               "'channels'?)");
}

TEST(MappingLoader, TopicNamingAnUnknownChannelSuggestsTheDeclaredOne) {
  auto lines = BaseLines();
  lines[8] = "      channels: [emial]";
  EXPECT_EQ(Errors(lines),
            At(lines, 9, "emial") + "unknown channel 'emial' (did you mean 'email'?)");
}

TEST(MappingLoader, TopicChannelThatIsNotDeclaredIsAnError) {
  auto lines = BaseLines();
  lines[8] = "      channels: [email, sms]";
  EXPECT_EQ(Errors(lines),
            At(lines, 9, "sms") + "channel 'sms' is not declared under 'mapping.channels'");
}

TEST(MappingLoader, UnknownCanonicalChannelSuggestsOne) {
  auto lines = BaseLines();
  lines.insert(lines.begin() + 6, "    whatsap: {hubspot: WHATSAPP}");
  EXPECT_EQ(Errors(lines), At(lines, 7, "whatsap") +
                               "unknown channel 'whatsap' (did you mean 'whatsapp'?); channels "
                               "are email, sms, whatsapp, postal, phone");
}

TEST(MappingLoader, NativeChannelNameIsCheckedAgainstTheConnectorKind) {
  auto lines = BaseLines();
  lines[5] = "    email: {hubspot: EMAL, mailchimp: email}";
  EXPECT_EQ(Errors(lines), At(lines, 6, "EMAL") +
                               "hubspot has no channel 'EMAL' (did you mean 'EMAIL'?); it knows: "
                               "EMAIL, SMS, WHATSAPP");
}

TEST(MappingLoader, UnknownSystemInTopicSuggestsTheDeclaredOne) {
  auto lines = BaseLines();
  lines[10] = "        hubspt: {subscriptions: {email: 1}}";
  EXPECT_EQ(Errors(lines),
            At(lines, 11, "hubspt") + "unknown system 'hubspt' (did you mean 'hubspot'?)");
}

TEST(MappingLoader, DuplicateTopicNameIsAnErrorAtTheSecond) {
  auto lines = BaseLines();
  lines.insert(lines.begin() + 12, {"    - name: newsletter", "      channels: [email]"});
  EXPECT_EQ(Errors(lines),
            At(lines, 13, "newsletter") + "duplicate topic 'newsletter' (first at line 8)");
}

TEST(MappingLoader, TwoTopicsClaimingOneSubscriptionTypeIsAnError) {
  auto lines = BaseLines();
  lines.insert(lines.begin() + 12,
               {"    - name: offers", "      channels: [email]",
                "      systems:", "        hubspot: {subscriptions: {email: 1}}"});
  EXPECT_EQ(Errors(lines), At(lines, 16, "email") +
                               "subscription type 1 on EMAIL is already mapped to topic "
                               "'newsletter' (line 11): one native name maps to one canonical "
                               "topic");
}

TEST(MappingLoader, TwoTopicsClaimingOneInterestIsAnError) {
  auto lines = BaseLines();
  lines.insert(lines.begin() + 12, {"    - name: offers", "      channels: [email]",
                                    "      systems:", "        mailchimp: {interest: abc}"});
  EXPECT_EQ(Errors(lines), At(lines, 16, "mailchimp") +
                               "interest 'abc' of 'mailchimp' is already mapped to topic "
                               "'newsletter' (line 12): one native name maps to one canonical "
                               "topic");
}

TEST(MappingLoader, MailchimpTopicNeedsExactlyOneNativeThing) {
  auto lines = BaseLines();
  lines[11] = "        mailchimp: {interest: abc, member_status: true}";
  EXPECT_EQ(Errors(lines), At(lines, 12, "mailchimp") +
                               "topic 'newsletter' in mailchimp system 'mailchimp' needs exactly "
                               "one of 'interest', 'marketing_permission' or 'member_status: "
                               "true'");
}

TEST(MappingLoader, SubscriptionOnAChannelTheTopicDoesNotHaveIsAnError) {
  auto lines = BaseLines();
  lines[10] = "        hubspot: {subscriptions: {emial: 1}}";
  EXPECT_EQ(Errors(lines), At(lines, 11, "emial") +
                               "channel 'emial' is not one of topic 'newsletter''s channels (did "
                               "you mean 'email'?)");
}

TEST(MappingLoader, MisspeltLegalBasisSuggestsTheDpvTerm) {
  auto lines = BaseLines();
  lines.insert(lines.begin() + 8, "      legal_basis: eu-gdpr:A6-1a");
  EXPECT_EQ(Errors(lines), At(lines, 9, "eu-gdpr") +
                               "unknown legal basis \"eu-gdpr:A6-1a\": expected a GDPR Art. 6(1) "
                               "term such as eu-gdpr:A6-1-a (did you mean 'eu-gdpr:A6-1-a'?)");
}

TEST(MappingLoader, MisspeltDirectionSuggestsOne) {
  auto lines = BaseLines();
  lines.insert(lines.begin() + 8, "      direction: crm_to_jorney");
  EXPECT_EQ(Errors(lines), At(lines, 9, "crm_to_jorney") +
                               "expected one of both, crm_to_journey, journey_to_crm, none, got "
                               "\"crm_to_jorney\" (did you mean 'crm_to_journey'?)");
}

TEST(MappingLoader, BlockWithNoSideIsAnError) {
  auto lines = BaseLines();
  lines.insert(lines.end(),
               {"  blocks:", "    - name: werbesperre", "      scope: all", "      systems: {}"});
  EXPECT_EQ(Errors(lines), At(lines, 19, "systems") +
                               "block 'werbesperre' has no side: name at least one system under "
                               "'systems'");
}

TEST(MappingLoader, MailchimpBlockStatusMustFitTheScope) {
  auto lines = BaseLines();
  lines.insert(lines.end(), {"  blocks:", "    - name: bounced", "      scope: address",
                             "      systems:", "        mailchimp: {status: unsubscribed}"});
  EXPECT_EQ(Errors(lines), At(lines, 20, "unsubscribed") +
                               "an address block in mailchimp is member status 'cleaned', not "
                               "'unsubscribed'");
}

TEST(MappingLoader, TwoBlocksClaimingOneMemberStatusIsAnError) {
  auto lines = BaseLines();
  lines.insert(lines.end(),
               {"  blocks:", "    - name: werbesperre", "      scope: all",
                "      systems: {mailchimp: {status: unsubscribed}}", "    - name: email_opt_out",
                "      scope: channel", "      systems: {mailchimp: {status: unsubscribed}}"});
  EXPECT_EQ(Errors(lines), At(lines, 22, "mailchimp") +
                               "member status 'unsubscribed' of 'mailchimp' is already mapped to "
                               "block 'werbesperre' (line 19): one native name maps to one "
                               "canonical block");
}

TEST(MappingLoader, ErasureModeTheConnectorDoesNotSupportIsAnError) {
  auto lines = BaseLines();
  lines[14] = "    mailchimp: {mode: anonymize}";
  EXPECT_EQ(Errors(lines), At(lines, 15, "anonymize") +
                               "erasure mode 'anonymize' is not supported by mailchimp system "
                               "'mailchimp' (it supports: delete, restrict)");
}

TEST(MappingLoader, RestrictNeedsRetainedDataLegalGroundAndRetention) {
  auto lines = BaseLines();
  lines[13] = "    hubspot: {mode: restrict, retention: 10 years}";
  EXPECT_EQ(Errors(lines),
            At(lines, 14, "hubspot") +
                "erasure mode 'restrict' for 'hubspot' needs 'retain': the data categories kept "
                "(e.g. [invoices])\n" +
                At(lines, 14, "hubspot") +
                "erasure mode 'restrict' for 'hubspot' needs 'legal_ground': why the data is "
                "kept\n" +
                At(lines, 14, "10 years") +
                "expected a retention period: a number and d, w, m or y (e.g. \"10y\", \"6m\"), "
                "got \"10 years\"");
}

TEST(MappingLoader, OneSystemPerRole) {
  auto lines = BaseLines();
  lines[3] = "    mailchimp: {kind: mailchimp, role: crm}";
  EXPECT_EQ(Errors(lines), At(lines, 4, "crm") +
                               "system 'mailchimp' has role crm, already taken by 'hubspot' (line "
                               "3): one system per role");
}

TEST(MappingLoader, MisspeltRoleIsOneErrorNotAlsoARoleClash) {
  auto lines = BaseLines();
  lines[3] = "    mailchimp: {kind: mailchimp, role: journy}";
  EXPECT_EQ(Errors(lines), At(lines, 4, "journy") +
                               "expected one of crm, journey, got \"journy\" (did you mean "
                               "'journey'?)");
}

// The misspelt role must not claim the default (crm) either, or the
// system that really is the CRM would get a false clash of its own.
TEST(MappingLoader, AMisspeltRoleDoesNotClashWithTheSystemThatHasTheDefaultRole) {
  auto lines = BaseLines();
  lines[2] = "    hubspot: {kind: hubspot, role: crmm}";
  lines[3] = "    mailchimp: {kind: mailchimp, role: crm}";
  EXPECT_EQ(Errors(lines), At(lines, 3, "crmm") +
                               "expected one of crm, journey, got \"crmm\" (did you mean "
                               "'crm'?)");
}

// Linking by phone is not implemented: a mapping that asks for it loads
// (it may have been written for a later version), with a warning at each
// key that does nothing.
TEST(MappingLoader, PhoneIdentityLoadsWithAWarningThatItIsNotUsedYet) {
  auto lines = BaseLines();
  lines.insert(lines.begin() + 4,
               {"  identity:", "    keys: [email, phone]", "    default_country_code: \"49\""});
  std::vector<std::string> w;
  auto spec = LoadMappingFromConfigString(Join(lines), "f.yaml", &w);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ(spec->identity.default_country_code, "49");
  EXPECT_EQ(w, (std::vector<std::string>{
                   At(lines, 6, "phone") + "warning: " +
                       "identity key 'phone' is not used yet: consentd links a person's records "
                       "by the systems' ids and the normalised e-mail address only",
                   At(lines, 7, "\"49\"") + "warning: " +
                       "default_country_code is not used yet (linking by phone is not "
                       "implemented)"}));
}

TEST(MappingLoader, MissingErasureIsAWarningAndDefaultsToDelete) {
  auto lines = BaseLines();
  lines.resize(14);  // drop mailchimp's erasure line
  std::vector<std::string> w;
  auto spec = LoadMappingFromConfigString(Join(lines), "f.yaml", &w);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ(w, std::vector<std::string>{At(lines, 4, "mailchimp") +
                                        "warning: no erasure mode for system 'mailchimp': it "
                                        "defaults to delete"});
  EXPECT_EQ(spec->erasure.at("mailchimp").mode, ErasureMode::kDelete);
}

TEST(MappingLoader, TopicBoundToNoSystemIsAWarning) {
  auto lines = BaseLines();
  lines.resize(10);
  lines.insert(lines.end(),
               {"  erasure:", "    hubspot: {mode: delete}", "    mailchimp: {mode: delete}"});
  lines.erase(lines.begin() + 9);  // the topic's `systems:`
  auto w = Warnings(lines);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0],
            "f.yaml:8:13: warning: topic 'newsletter' is mapped to no system: it is never "
            "synchronised");
}

TEST(MappingLoader, MemberStatusTopicBesideOtherTopicsIsAWarning) {
  auto lines = BaseLines();
  lines[11] = "        mailchimp: {member_status: true}";
  lines.insert(lines.begin() + 12, {"    - name: offers", "      channels: [email]",
                                    "      systems: {mailchimp: {interest: abc}}"});
  auto w = Warnings(lines);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0], At(lines, 12, "mailchimp") +
                      "warning: topic 'newsletter' is the member status of 'mailchimp', which "
                      "also carries 1 other topic(s): the member status is meant for a "
                      "single-topic audience");
}

TEST(MappingLoader, GenericConnectorSupportsEveryErasureModeAndNamesItsOwnTopics) {
  auto lines = BaseLines();
  lines[3] = "    shop: {kind: generic, role: journey}";
  lines[5] = "    email: {hubspot: EMAIL, shop: mail}";
  lines[11] = "        shop: {topic: news}";
  lines[14] = "    shop: {mode: anonymize}";
  auto spec = LoadMappingFromConfigString(Join(lines), "f.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ(spec->topics[0].bindings.at("shop").native_topic, "news");
  EXPECT_EQ(spec->erasure.at("shop").mode, ErasureMode::kAnonymize);
  EXPECT_EQ(spec->NativeChannel("email", "shop"), "mail");
}

// An empty native name would bind nothing: the topic or block would be
// left out of the mapping without a word (a Werbesperre silently gone).
TEST(MappingLoader, AnEmptyNativeNameIsAnErrorAtItsValue) {
  {
    auto lines = BaseLines();
    lines[11] = "        mailchimp: {interest: \"\"}";
    EXPECT_THAT(Errors(lines), HasSubstr(At(lines, 12, "\"\"") + "expected an id, got \"\""));
  }
  {
    auto lines = BaseLines();
    lines[10] = "        hubspot: {subscriptions: {}}";
    EXPECT_THAT(Errors(lines),
                HasSubstr(At(lines, 11, "{}") + "expected a subscription type id per channel"));
  }
  auto generic = BaseLines();
  generic[3] = "    shop: {kind: generic, role: journey}";
  generic[5] = "    email: {hubspot: EMAIL, shop: mail}";
  generic[11] = "        shop: {topic: news}";
  generic[14] = "    shop: {mode: anonymize}";
  {
    auto lines = generic;
    lines[11] = "        shop: {topic: ''}";
    EXPECT_THAT(Errors(lines), HasSubstr(At(lines, 12, "''") + "expected a topic name, got \"\""));
  }
  {
    auto lines = generic;
    lines.insert(lines.end(), {"  blocks:", "    - name: werbesperre", "      scope: all",
                               "      systems: {shop: {block: ''}}"});
    EXPECT_THAT(Errors(lines), HasSubstr(At(lines, 19, "''") + "expected a block name, got \"\""));
  }
}

// Events name a generic system's block by its native name: two blocks
// sharing one could not be told apart (the later would take every event).
TEST(MappingLoader, TwoBlocksClaimingOneGenericBlockNameIsAnError) {
  auto lines = BaseLines();
  lines[3] = "    shop: {kind: generic, role: journey}";
  lines[5] = "    email: {hubspot: EMAIL, shop: mail}";
  lines[11] = "        shop: {topic: news}";
  lines[14] = "    shop: {mode: anonymize}";
  lines.insert(lines.end(), {"  blocks:", "    - name: werbesperre", "      scope: all",
                             "      systems: {shop: {block: ad_block}}", "    - name: other",
                             "      scope: all", "      systems: {shop: {block: ad_block}}"});
  EXPECT_EQ(Errors(lines), At(lines, 22, "shop") +
                               "block 'ad_block' of 'shop' is already mapped to block "
                               "'werbesperre' (line 19): one native name maps to one canonical "
                               "block");
}

// A mapping with nothing in it is valid, but a reload of it would stop
// every topic: said as a warning, as for a single system.
TEST(MappingLoader, AMappingWithoutTopicsOrSystemsSaysNothingWillBeSynchronised) {
  auto lines = BaseLines();
  lines.erase(lines.begin() + 7, lines.begin() + 12);  // the one topic
  lines[6] = "  topics: []";
  const std::vector<std::string> w = Warnings(lines);
  ASSERT_EQ(w.size(), 1u) << Join(w);
  EXPECT_EQ(w[0], "f.yaml:1:1: warning: no topic or block is mapped: nothing will be synchronised");
  const std::vector<std::string> empty =
      Warnings({"mapping:", "  systems:", "  channels:", "  topics:"});
  EXPECT_THAT(Join(empty), HasSubstr("warning: no system is declared: nothing will be "
                                     "synchronised"));
  EXPECT_THAT(Join(empty), HasSubstr("warning: no topic or block is mapped"));
}

TEST(MappingLoader, EveryErrorIsReportedInOnePass) {
  auto lines = BaseLines();
  lines[2] = "    hubspot: {kind: hubsopt, role: crm}";
  lines[8] = "      channels: [emial]";
  lines[14] = "    mailchimp: {mode: anonymize}";
  const std::string e = Errors(lines);
  EXPECT_NE(e.find(At(lines, 3, "hubsopt") + "expected one of hubspot, mailchimp, generic, got "
                                             "\"hubsopt\" (did you mean 'hubspot'?)"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(At(lines, 9, "emial")), std::string::npos) << e;
  EXPECT_NE(e.find(At(lines, 15, "anonymize")), std::string::npos) << e;
}

TEST(MappingLoader, MissingMappingSectionIsAnError) {
  EXPECT_EQ(LoadMappingFromConfigString("store: {path: x}\n", "f.yaml").status().message(),
            "f.yaml:1:1: missing required key 'mapping'");
}

TEST(MappingLoader, YamlSyntaxErrorIsPositioned) {
  auto r = LoadMappingFromConfigString("mapping:\n  systems: [\n", "f.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("f.yaml:", 0), 0u);
  EXPECT_NE(r.status().message().find("YAML syntax error"), std::string::npos);
}

TEST(MappingLoader, LoadMappingReadsTheSectionValueDirectly) {
  const YAML::Node root = YAML::Load(Join(BaseLines()));
  auto spec = LoadMapping(root["mapping"], "f.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ(spec->topics.at(0).bindings.at("mailchimp").mailchimp_id, "abc");
}

TEST(MappingLoader, KeyTreeListsNestedKeysForTheSchemaCheck) {
  const auto paths = config::KeyPaths(MappingKeys());
  auto has = [&](const std::string& p) {
    return std::find(paths.begin(), paths.end(), p) != paths.end();
  };
  EXPECT_TRUE(has("systems.*.kind"));
  EXPECT_TRUE(has("topics[].legal_basis"));
  EXPECT_TRUE(has("blocks[].scope"));
  EXPECT_TRUE(has("erasure.*.retention"));
}

}  // namespace
}  // namespace consentd::mapping
