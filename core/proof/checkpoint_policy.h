// When to sign a new checkpoint: every `every_entries` new entries, or once
// `every_ms` has passed since the last checkpoint if the tree grew, and on
// shutdown (the caller asks with `force`). Pure; time is passed in.
// Thread-compatible.
#pragma once

#include <cstdint>

#include "core/clock.h"

namespace consentd::proof {

struct CheckpointPolicyOptions {
  std::uint64_t every_entries = 1000;
  TimestampMs every_ms = 60'000;
};

class CheckpointPolicy {
 public:
  explicit CheckpointPolicy(CheckpointPolicyOptions options, std::uint64_t last_size = 0,
                            TimestampMs last_at = 0)
      : options_(options), last_size_(last_size), last_at_(last_at) {}

  // True if a checkpoint of a tree of `size` entries should be written now.
  // Never for a tree that has not grown since the last one.
  bool Due(std::uint64_t size, TimestampMs now, bool force = false) const {
    if (size <= last_size_) return false;
    return force || size - last_size_ >= options_.every_entries ||
           now - last_at_ >= options_.every_ms;
  }

  // Record that a checkpoint of `size` entries was written (durably) at `now`.
  void Written(std::uint64_t size, TimestampMs now) {
    last_size_ = size;
    last_at_ = now;
  }

 private:
  CheckpointPolicyOptions options_;
  std::uint64_t last_size_;
  TimestampMs last_at_;
};

}  // namespace consentd::proof
