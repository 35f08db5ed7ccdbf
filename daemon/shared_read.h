// SharedRead<T>: one store read shared by every caller that asks while it
// runs, and its answer reused by those who ask within a maximum age. The
// status page's figures and the consent counts are read this way, so that
// many open pages (each asking every few seconds) cost one read.
//
// Thread-safety: none; every call, and `finish`, on one thread (the sync
// component's io thread).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "core/status.h"

namespace consentd::daemon {

template <typename T>
class SharedRead {
 public:
  using Done = std::function<void(Result<T>)>;
  using Finish = std::function<void(Result<T>)>;

  // Answers `done` from the last answer if it is younger than `max_age`;
  // else with the read in flight, or with a new one: `start(finish)`,
  // which calls `finish` once with the read's result (a failure is given
  // to everyone waiting and kept by no one).
  template <typename Start>
  void Get(std::chrono::steady_clock::duration max_age, Done done, Start start) {
    if (value_ && std::chrono::steady_clock::now() - at_ < max_age) return done(*value_);
    waiters_.push_back(std::move(done));
    if (waiters_.size() > 1) return;  // one read serves everyone waiting
    start(Finish([this](Result<T> r) {
      if (r.ok()) {
        value_ = *r;
        at_ = std::chrono::steady_clock::now();
      }
      auto waiters = std::move(waiters_);
      waiters_.clear();
      for (auto& w : waiters) w(r);
    }));
  }

  // The next Get reads again (what it answered is out of date).
  void Forget() { value_.reset(); }

 private:
  std::optional<T> value_;
  std::chrono::steady_clock::time_point at_;
  std::vector<Done> waiters_;
};

}  // namespace consentd::daemon
