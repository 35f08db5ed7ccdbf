// Crash test (issue #5): consentd is killed with SIGKILL at random moments
// under a steady stream of changes in the CRM, and restarted each time.
// Every change must reach the journey platform exactly once as a member,
// and the proof log must verify afterwards (the fixture's TearDown).
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>

#include "tests/e2e/sync_fixture.h"

namespace consentd::testing {
namespace {

class SyncCrash : public SyncE2E {
 protected:
  void Kill() {
    consentd_->Signal(SIGKILL);
    consentd_->WaitExit(std::chrono::seconds(10));
    consentd_.reset();
  }
};

TEST_F(SyncCrash, EveryChangeArrivesOnceDespiteSigkillAtRandomMoments) {
  StartAll(WithPolling("1s"));
  constexpr int kPeople = 40;
  constexpr int kKills = 5;
  auto email = [](int i) { return "crash" + std::to_string(i) + "@example.com"; };

  std::atomic<int> made{0};
  std::thread changes([&] {
    for (int i = 0; i < kPeople; ++i) {
      Crm("POST", "/_sim/hubspot/person/signup",
          {{"email", email(i)}, {"subscriptionId", kProductUpdates}});
      made.store(i + 1);
      std::this_thread::sleep_for(std::chrono::milliseconds(60));
    }
  });
  std::mt19937 rng(20261129);
  std::uniform_int_distribution<int> pause_ms(100, 600);
  for (int k = 0; k < kKills; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));
    Kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng) / 4));
    StartConsentd();
  }
  changes.join();

  ASSERT_TRUE(Eventually(
      [&] {
        for (int i = 0; i < kPeople; ++i) {
          if (MemberStatus(email(i)) != "subscribed") return false;
        }
        return true;
      },
      std::chrono::seconds(90)))
      << Log();
  Json members = Journey("GET", "/_sim/mailchimp/state")["members"];
  EXPECT_EQ(static_cast<int>(members.size()), kPeople);
}

}  // namespace
}  // namespace consentd::testing
