// A vendor's clock as the Date headers of its answers give it, for poll
// windows whose bounds the vendor compares with its own timestamps.
//
// With consentd's clock ahead, a window would end in the vendor's future
// and the next one start after changes the vendor then dates before it
// (lost for good when their webhook was). The lead is learnt from the Date
// header of a successful answer: the poll's `now` (taken at `now_steady`)
// carried forward to when the answer arrived, against the header, less the
// header's one-second resolution (what is left, under a second, the poll
// overlap covers). A clock behind the vendor's only makes windows overlap
// more, so only a lead is taken off; a lead over an hour is taken for a
// wrong header (a proxy's), not a clock, and ignored.
//
// Thread-safe (one atomic).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "core/clock.h"

namespace consentd::connectors {

// consentd's steady clock in ms: when a request was made and its answer came.
inline std::int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class VendorClock {
 public:
  static constexpr std::int64_t kMaxLeadMs = 3600 * 1000;

  // `now` and `now_steady`: consentd's clocks when the request was made;
  // `date_s`: the answer's Date header (seconds since the epoch), if any;
  // `received_steady_ms`: when the answer arrived.
  void Learn(TimestampMs now, std::int64_t now_steady, std::optional<std::int64_t> date_s,
             std::int64_t received_steady_ms) {
    if (!date_s) return;
    const TimestampMs arrived = now + std::max<std::int64_t>(0, received_steady_ms - now_steady);
    const std::int64_t lead = arrived - (*date_s * 1000 + 1000);
    if (lead > kMaxLeadMs) return;
    lead_ms_.store(std::max<std::int64_t>(0, lead));
  }
  // consentd's `now` on the vendor's clock.
  TimestampMs On(TimestampMs now) const { return now - lead_ms_.load(); }

 private:
  std::atomic<std::int64_t> lead_ms_{0};
};

}  // namespace consentd::connectors
