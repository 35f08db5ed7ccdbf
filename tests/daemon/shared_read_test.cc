// SharedRead: callers asking while a read runs share it; an answer is
// reused within its maximum age; a failure is given to those waiting and
// kept by no one (daemon/shared_read.h).
#include "daemon/shared_read.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace consentd::daemon {
namespace {

using std::chrono::hours;

struct Reads {
  SharedRead<std::string> shared;
  std::vector<SharedRead<std::string>::Finish> running;  // reads started, not finished
  std::vector<std::string> answers;

  void Ask(std::chrono::steady_clock::duration max_age) {
    shared.Get(
        max_age,
        [this](Result<std::string> r) {
          answers.push_back(r.ok() ? *r : "error: " + r.status().message());
        },
        [this](SharedRead<std::string>::Finish finish) { running.push_back(std::move(finish)); });
  }
};

TEST(SharedRead, CallersWhileAReadRunsShareItAndLaterOnesReuseItsAnswer) {
  Reads r;
  r.Ask(hours(1));
  r.Ask(hours(1));
  ASSERT_EQ(r.running.size(), 1u) << "a second read was started";
  EXPECT_TRUE(r.answers.empty());
  r.running[0](std::string("42"));
  EXPECT_EQ(r.answers, (std::vector<std::string>{"42", "42"}));
  r.Ask(hours(1));
  EXPECT_EQ(r.running.size(), 1u) << "a young answer was read again";
  EXPECT_EQ(r.answers.back(), "42");
}

TEST(SharedRead, AnOldOrForgottenAnswerIsReadAgain) {
  Reads r;
  r.Ask(hours(1));
  r.running[0](std::string("1"));
  r.Ask(std::chrono::steady_clock::duration::zero());
  ASSERT_EQ(r.running.size(), 2u);
  r.running[1](std::string("2"));
  r.shared.Forget();
  r.Ask(hours(1));
  ASSERT_EQ(r.running.size(), 3u);
  r.running[2](std::string("3"));
  EXPECT_EQ(r.answers, (std::vector<std::string>{"1", "2", "3"}));
}

TEST(SharedRead, AFailureReachesEveryoneWaitingAndIsNotKept) {
  Reads r;
  r.Ask(hours(1));
  r.Ask(hours(1));
  r.running[0](Unavailable("store stopped"));
  EXPECT_EQ(r.answers, (std::vector<std::string>{"error: store stopped", "error: store stopped"}));
  r.Ask(hours(1));
  EXPECT_EQ(r.running.size(), 2u) << "the failure was kept as an answer";
}

}  // namespace
}  // namespace consentd::daemon
