// The hand-written sd_notify client against a datagram socket of our own.
#include "daemon/notify.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>

#include "tests/daemon/notify_listener.h"

namespace consentd::daemon {
namespace {

using Listener = testing::NotifyListener;

std::string TempSocketPath() {
  return (std::filesystem::temp_directory_path() /
          ("consentd-notify-test-" + std::to_string(::getpid()) + ".sock"))
      .string();
}

TEST(Notifier, SendsReadyReloadingStoppingAndWatchdog) {
  const std::string path = TempSocketPath();
  Listener listener(path);
  Notifier n(path);
  ASSERT_TRUE(n.enabled());
  ASSERT_TRUE(n.Ready("serving").ok());
  EXPECT_EQ(listener.Receive(), "READY=1\nSTATUS=serving");
  ASSERT_TRUE(n.Reloading("reloading").ok());
  auto reloading = listener.Receive();
  ASSERT_TRUE(reloading);
  EXPECT_EQ(reloading->rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << *reloading;
  const auto usec_at = reloading->find("MONOTONIC_USEC=") + 15;
  EXPECT_GT(std::strtoull(reloading->c_str() + usec_at, nullptr, 10), 0u);
  ASSERT_TRUE(n.Stopping("bye").ok());
  EXPECT_EQ(listener.Receive(), "STOPPING=1\nSTATUS=bye");
  ASSERT_TRUE(n.Watchdog().ok());
  EXPECT_EQ(listener.Receive(), "WATCHDOG=1");
  ASSERT_TRUE(n.SetStatus("two\nlines").ok());
  EXPECT_EQ(listener.Receive(), "STATUS=two lines");
}

TEST(Notifier, AbstractSocketNamesWork) {
  const std::string name = "@consentd-notify-test-" + std::to_string(::getpid());
  Listener listener(name);
  Notifier n(name);
  ASSERT_TRUE(n.Watchdog().ok());
  EXPECT_EQ(listener.Receive(), "WATCHDOG=1");
}

TEST(Notifier, DisabledWithoutSocketAndSendsNothing) {
  Notifier n("");
  EXPECT_FALSE(n.enabled());
  EXPECT_TRUE(n.Ready("x").ok());
}

TEST(Notifier, MissingSocketIsAnErrorNotACrash) {
  Notifier n(TempSocketPath() + ".absent");
  EXPECT_EQ(n.Ready("x").code(), StatusCode::kUnavailable);
}

TEST(Notifier, WatchdogIntervalFollowsEnvironment) {
  ::unsetenv("WATCHDOG_PID");
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  EXPECT_EQ(Notifier::WatchdogInterval(), std::chrono::microseconds(2000000));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_EQ(Notifier::WatchdogInterval(), std::nullopt);  // meant for another process
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(Notifier::WatchdogInterval(), std::chrono::microseconds(2000000));
  ::setenv("WATCHDOG_USEC", "junk", 1);
  EXPECT_EQ(Notifier::WatchdogInterval(), std::nullopt);
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
  EXPECT_EQ(Notifier::WatchdogInterval(), std::nullopt);
}

}  // namespace
}  // namespace consentd::daemon
