// MappingSpec -> the reconciler's Policy, and the mapping hash.
#include "mapping/policy.h"

#include <gtest/gtest.h>

#include "core/reconciler.h"
#include "mapping/hubspot.h"
#include "mapping/mailchimp.h"
#include "mapping_test_util.h"

namespace consentd::mapping {
namespace {

using testing::BaseLines;
using testing::Join;
using testing::LoadExample;

TEST(MappingPolicy, TopicsChannelsAndDoubleOptInComeFromTheMapping) {
  const Policy p = ToPolicy(LoadExample());
  ASSERT_EQ(p.topics.size(), 3u);
  EXPECT_TRUE(p.topics.at("newsletter").requires_double_opt_in);
  EXPECT_FALSE(p.topics.at("events").requires_double_opt_in);
  EXPECT_EQ(p.topics.at("product_news").channels, (std::set<std::string>{"email", "sms"}));
  EXPECT_EQ(p.FindTopic("webinars"), nullptr);
  EXPECT_EQ(p.skew_window_ms, 2000);
}

TEST(MappingPolicy, DirectionsBecomePerSystemFlows) {
  const Policy p = ToPolicy(LoadExample());
  const auto& both = p.topics.at("newsletter").systems;
  EXPECT_EQ(both.at("hubspot"), Direction::kBoth);
  EXPECT_EQ(both.at("mailchimp"), Direction::kBoth);
  // events: crm_to_journey -> accepted from the CRM only, written to the journey only.
  const auto& events = p.topics.at("events").systems;
  EXPECT_EQ(events.at("hubspot"), Direction::kInbound);
  EXPECT_EQ(events.at("mailchimp"), Direction::kOutbound);
}

TEST(MappingPolicy, DirectionNoneLeavesTheTopicKnownButUnsynchronised) {
  MappingSpec spec = LoadExample();
  spec.topics[0].direction = FlowDirection::kNone;
  const Policy p = ToPolicy(spec);
  ASSERT_NE(p.FindTopic("newsletter"), nullptr);
  EXPECT_TRUE(p.topics.at("newsletter").systems.empty());
}

TEST(MappingPolicy, BlockSystemsAreTheUnionOfTheBlocksDirections) {
  MappingSpec spec = LoadExample();
  EXPECT_EQ(ToPolicy(spec).block_systems.at("hubspot"), Direction::kBoth);
  EXPECT_EQ(ToPolicy(spec).block_systems.at("mailchimp"), Direction::kBoth);
  // Only the bounce block left: journey_to_crm.
  spec.blocks.erase(spec.blocks.begin(), spec.blocks.begin() + 2);
  const Policy p = ToPolicy(spec);
  EXPECT_EQ(p.block_systems.at("mailchimp"), Direction::kInbound);
  EXPECT_EQ(p.block_systems.at("hubspot"), Direction::kOutbound);
}

TEST(MappingPolicy, TargetConstraintsFollowKindAndErasureMode) {
  const Policy p = ToPolicy(LoadExample());
  EXPECT_TRUE(p.ConstraintsFor("mailchimp").resubscribe_via_pending);
  EXPECT_TRUE(p.ConstraintsFor("mailchimp").deletion_is_permanent);  // mode delete
  EXPECT_FALSE(p.ConstraintsFor("hubspot").resubscribe_via_pending);
  EXPECT_FALSE(p.ConstraintsFor("hubspot").deletion_is_permanent);  // mode restrict
}

TEST(MappingPolicy, SkewWindowIsTheOneWritten) {
  auto lines = BaseLines();
  lines.insert(lines.begin() + 4, "  skew_window: 1500ms");
  auto spec = LoadMappingFromConfigString(Join(lines), "f.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ(ToPolicy(*spec).skew_window_ms, 1500);
}

// The reconciler, fed the policy and a mapped change, does what the admin
// wrote: events flow CRM -> journey only.
TEST(MappingPolicy, ReconcilerRejectsAChangeAgainstTheTopicsDirection) {
  const MappingSpec spec = LoadExample();
  const Policy policy = ToPolicy(spec);
  mailchimp::Member m;
  m.email_address = "anna@example.org";
  m.status = mailchimp::MemberStatus::kUnsubscribed;
  m.last_changed = 1'000'000;
  MapResult r = mailchimp::Mapper(spec, "mailchimp").FromMember(m);
  ASSERT_FALSE(r.changes.empty());
  for (Change& c : r.changes) c.key.subject = "s-1";
  for (const Change& c : r.changes) {
    EXPECT_NE(c.key.topic, "events") << "the mapper already drops what does not flow";
  }
  // Build the change the mapper refused, to show the reconciler agrees.
  Change events = r.changes.front();
  events.key.topic = "events";
  const Decision d = Reconcile(events, SubjectState{}, EchoMemory{}, Tombstones{}, policy);
  EXPECT_EQ(d.outcome, Outcome::kRejectedUnmapped);

  hubspot::SubscriptionStatus s;
  s.subscription_id = 1013;  // events
  s.status = hubspot::SubscriptionState::kSubscribed;
  s.timestamp = 1'000'000;
  MapResult h = hubspot::Mapper(spec, "hubspot").FromStatus(s);
  ASSERT_EQ(h.changes.size(), 1u);
  h.changes[0].key.subject = "s-1";
  const Decision applied =
      Reconcile(h.changes[0], SubjectState{}, EchoMemory{}, Tombstones{}, policy);
  EXPECT_EQ(applied.outcome, Outcome::kApplied);
  ASSERT_EQ(applied.writes.size(), 1u);
  EXPECT_EQ(applied.writes[0].target, "mailchimp");
}

TEST(MappingHash, SameMappingSameHash) {
  EXPECT_EQ(MappingHash(LoadExample()), MappingHash(LoadExample()));
  EXPECT_EQ(MappingHash(LoadExample()).size(), 64u);
}

TEST(MappingHash, LayoutCommentsAndKeyOrderDoNotChangeIt) {
  auto a = LoadMappingFromConfigString(Join(BaseLines()), "a.yaml");
  auto lines = BaseLines();
  lines.insert(lines.begin(), "# a comment moves every line");
  lines[3] = "    hubspot: {role: crm, kind: hubspot}";  // keys swapped
  std::swap(lines[3], lines[4]);                         // systems swapped
  auto b = LoadMappingFromConfigString(Join(lines), "b.yaml");
  ASSERT_TRUE(a.ok() && b.ok()) << b.status().message();
  EXPECT_EQ(MappingHash(*a), MappingHash(*b));
}

TEST(MappingHash, EveryBehaviourChangeChangesIt) {
  const MappingSpec base = LoadExample();
  const std::string h = MappingHash(base);
  auto differs = [&](auto mutate) {
    MappingSpec s = base;
    mutate(s);
    return MappingHash(s) != h;
  };
  EXPECT_TRUE(
      differs([](MappingSpec& s) { s.topics[0].bindings["hubspot"].subscriptions["email"] = 9; }));
  EXPECT_TRUE(
      differs([](MappingSpec& s) { s.topics[0].direction = FlowDirection::kCrmToJourney; }));
  EXPECT_TRUE(differs([](MappingSpec& s) { s.topics[0].double_opt_in = false; }));
  EXPECT_TRUE(differs([](MappingSpec& s) { s.topics[0].notice_version = "2026-02"; }));
  EXPECT_TRUE(differs([](MappingSpec& s) { s.topics[0].legal_basis = "eu-gdpr:A6-1-f"; }));
  EXPECT_TRUE(differs([](MappingSpec& s) { std::swap(s.topics[0], s.topics[1]); }));
  EXPECT_TRUE(differs([](MappingSpec& s) { s.blocks[0].sides["hubspot"].value = "yes"; }));
  EXPECT_TRUE(differs([](MappingSpec& s) { s.erasure["hubspot"].retention = "11y"; }));
  EXPECT_TRUE(differs([](MappingSpec& s) { s.skew_window = std::chrono::milliseconds(1000); }));
  EXPECT_TRUE(differs([](MappingSpec& s) { s.channels["sms"].native["hubspot"] = "WHATSAPP"; }));
  EXPECT_TRUE(
      differs([](MappingSpec& s) { s.systems["mailchimp"].confirms_double_opt_in = false; }));
  EXPECT_FALSE(differs([](MappingSpec& s) { s.topics[0].at = {99, 1}; }));
}

TEST(DescribeMappingChange, SameMappingSaysNothing) {
  EXPECT_TRUE(DescribeMappingChange(LoadExample(), LoadExample()).empty());
}

TEST(DescribeMappingChange, RemovedTopicIsSaidToStopPropagating) {
  const MappingSpec before = LoadExample();
  MappingSpec after = before;
  after.topics.erase(after.topics.begin());
  EXPECT_EQ(DescribeMappingChange(before, after),
            std::vector<std::string>{"topic newsletter removed: it no longer propagates"});
  EXPECT_EQ(DescribeMappingChange(after, before),
            std::vector<std::string>{"topic newsletter added (direction both)"});
}

TEST(DescribeMappingChange, DirectionAndNoticeVersionChangesNameOldAndNew) {
  const MappingSpec before = LoadExample();
  MappingSpec after = before;
  after.topics[0].direction = FlowDirection::kCrmToJourney;
  after.topics[0].notice_version = "2027-01";
  after.topics[0].bindings["hubspot"].subscriptions["email"] = 9;
  const std::vector<std::string> lines = DescribeMappingChange(before, after);
  ASSERT_EQ(lines.size(), 3u) << Join(lines);
  EXPECT_EQ(lines[0], "topic newsletter: direction both -> crm_to_journey");
  EXPECT_EQ(lines[1], "topic newsletter: notice_version " + before.topics[0].notice_version +
                          " -> 2027-01");
  EXPECT_EQ(lines[2], "topic newsletter: systems changed");
}

TEST(DescribeMappingChange, BlocksErasureAndGlobalSettingsAreNamed) {
  const MappingSpec before = LoadExample();
  MappingSpec after = before;
  after.blocks[0].direction = FlowDirection::kNone;
  after.erasure["hubspot"].retention = "11y";
  after.skew_window = std::chrono::milliseconds(1000);
  const std::vector<std::string> lines = DescribeMappingChange(before, after);
  ASSERT_EQ(lines.size(), 3u) << Join(lines);
  EXPECT_EQ(lines[0].rfind("block " + before.blocks[0].name + ": direction both -> none", 0), 0u)
      << lines[0];
  EXPECT_EQ(lines[1].rfind("erasure for hubspot: retention ", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2], "skew_window_ms changed");
}

TEST(DescribeMappingChange, ReorderingIsStillAChange) {
  const MappingSpec before = LoadExample();
  MappingSpec after = before;
  std::swap(after.topics[0], after.topics[1]);
  EXPECT_EQ(DescribeMappingChange(before, after),
            std::vector<std::string>{"order of topics or blocks changed"});
}

}  // namespace
}  // namespace consentd::mapping
