// ParallelCalls: runs the independent blocking calls of one connector
// operation (the member reads and PUTs of a Mailchimp delivery) side by
// side, so that their round trips overlap instead of adding up. Mailchimp
// limits connections, not requests: a delivery that reads its members one
// after another leaves most of them idle, and at the vendor's real latency
// (100–300 ms a call) a delivery of a few hundred members would take
// minutes.
//
// A few long-lived helper threads, started on first use, take work
// alongside the calling thread; they keep their libcurl handles, and so
// their kept-alive connections, between uses (a thread per call would open
// a new TLS connection every time). The caller takes work too, so a call
// never waits for a helper that is busy with another caller's work, and
// with no helpers everything runs on the caller, in order. The connector's
// in-flight cap (RateLimiter, through BudgetedHttpClient) still bounds the
// calls on the wire. Idle helpers block on a condition variable.
//
// Thread-safety: ForEach may be called from several threads at once. The
// destructor joins the helpers; REQUIRES: no ForEach is running then.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace consentd::connectors {

class ParallelCalls {
 public:
  // At most `helpers` threads besides the caller (0 or less: none).
  explicit ParallelCalls(int helpers);
  ~ParallelCalls();
  ParallelCalls(const ParallelCalls&) = delete;
  ParallelCalls& operator=(const ParallelCalls&) = delete;

  // Runs fn(0) … fn(n - 1), each once, in any order and possibly at once,
  // and returns when all have returned. If fn throws, the other indices
  // still run, and the first exception is rethrown here afterwards.
  // REQUIRES: the indices fn is given touch disjoint state (or state it
  // guards itself).
  void ForEach(std::size_t n, const std::function<void(std::size_t)>& fn);

  int helpers() const { return helpers_; }

 private:
  struct Job;
  void StartHelpersLocked();
  void HelperLoop();
  // Runs indices of `job` until none is left unclaimed.
  static void Work(Job& job);

  const int helpers_;
  std::mutex mu_;
  std::condition_variable work_;           // a job was queued, or stopping
  std::deque<std::shared_ptr<Job>> jobs_;  // with indices left to claim
  std::vector<std::thread> threads_;       // fewer than helpers_ if the system had no more
  bool tried_start_ = false;
  bool stopping_ = false;
};

}  // namespace consentd::connectors
