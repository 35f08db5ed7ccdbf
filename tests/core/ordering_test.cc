// The version order behind rules 2 and 3 (core/ordering.h).
#include "core/ordering.h"

#include <gtest/gtest.h>

namespace consentd {
namespace {

constexpr TimestampMs kWindow = 2000;

ConsentRecord Version(ConsentStatus status, TimestampMs at, std::string system = "hubspot",
                      std::string event = "e") {
  ConsentRecord r;
  r.key = ConsentKey{"s-1", "offers", "email", ""};
  r.status = status;
  r.provenance = Provenance{at, at + 1, std::move(system), std::move(event)};
  return r;
}

bool Beats(const ConsentRecord& a, const ConsentRecord& b) {
  return CompareConsentVersions(a, b, kWindow) > 0;
}

TEST(Ordering, LaterCaptureWinsAmongSameSide) {
  EXPECT_TRUE(Beats(Version(ConsentStatus::kGranted, 2), Version(ConsentStatus::kGranted, 1)));
  EXPECT_TRUE(Beats(Version(ConsentStatus::kWithdrawn, 2), Version(ConsentStatus::kRefused, 1)));
  EXPECT_TRUE(Beats(Version(ConsentStatus::kPending, 2), Version(ConsentStatus::kGranted, 1)));
}

TEST(Ordering, RestrictiveBeatsPermissiveUpToTheWindowInclusive) {
  const ConsentRecord withdrawn = Version(ConsentStatus::kWithdrawn, 10'000);
  EXPECT_TRUE(Beats(withdrawn, Version(ConsentStatus::kGranted, 10'000 + kWindow)));
  EXPECT_TRUE(Beats(Version(ConsentStatus::kGranted, 10'000 + kWindow + 1), withdrawn));
  EXPECT_TRUE(Beats(withdrawn, Version(ConsentStatus::kGranted, 10'000 - 5'000)));
}

TEST(Ordering, ExactTieGoesToTheMoreRestrictiveStatus) {
  EXPECT_TRUE(Beats(Version(ConsentStatus::kRefused, 5), Version(ConsentStatus::kWithdrawn, 5)));
  EXPECT_TRUE(Beats(Version(ConsentStatus::kNotAsked, 5), Version(ConsentStatus::kPending, 5)));
  EXPECT_TRUE(Beats(Version(ConsentStatus::kPending, 5), Version(ConsentStatus::kGranted, 5)));
}

TEST(Ordering, OnlyTheSameVersionCompareEqual) {
  const ConsentRecord a = Version(ConsentStatus::kGranted, 5, "hubspot", "e1");
  ConsentRecord redelivered = a;
  redelivered.provenance.recorded_at += 1000;  // arrival time is not part of the version
  EXPECT_EQ(CompareConsentVersions(a, redelivered, kWindow), std::strong_ordering::equal);
  EXPECT_NE(
      CompareConsentVersions(a, Version(ConsentStatus::kGranted, 5, "mailchimp", "e1"), kWindow),
      std::strong_ordering::equal);
  EXPECT_NE(
      CompareConsentVersions(a, Version(ConsentStatus::kGranted, 5, "hubspot", "e2"), kWindow),
      std::strong_ordering::equal);
}

TEST(Ordering, BlockSetIsRestrictive) {
  BlockRecord set;
  set.active = true;
  set.provenance.occurred_at = 1000;
  BlockRecord cleared;
  cleared.active = false;
  cleared.provenance.occurred_at = 1000 + kWindow;
  EXPECT_TRUE(CompareBlockVersions(set, cleared, kWindow) > 0);
  cleared.provenance.occurred_at += 1;
  EXPECT_TRUE(CompareBlockVersions(set, cleared, kWindow) < 0);
}

}  // namespace
}  // namespace consentd
