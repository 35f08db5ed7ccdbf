// Injected time. core/ and mapping/ never read the system clock directly
// (STYLE.md habit 5); tests pass a ManualClock.
#pragma once

#include <chrono>
#include <cstdint>

namespace consentd {

// Milliseconds since the Unix epoch, UTC. The unit of every timestamp in the
// model (occurred_at, recorded_at): vendors report ms or seconds.
using TimestampMs = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimestampMs NowMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimestampMs NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// Thread-compatible (not thread-safe): tests advance it between calls.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimestampMs start = 0) : now_(start) {}
  TimestampMs NowMs() const override { return now_; }
  void Set(TimestampMs t) { now_ = t; }
  void Advance(TimestampMs d) { now_ += d; }

 private:
  TimestampMs now_;
};

}  // namespace consentd
