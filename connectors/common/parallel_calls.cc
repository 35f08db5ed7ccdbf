#include "connectors/common/parallel_calls.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <system_error>

namespace consentd::connectors {

struct ParallelCalls::Job {
  const std::function<void(std::size_t)>* fn = nullptr;  // the caller's, alive until done
  std::size_t n = 0;
  std::atomic<std::size_t> next{0};  // the next index to claim
  std::mutex mu;
  std::condition_variable finished;
  std::size_t done = 0;        // guarded by mu
  std::exception_ptr failure;  // guarded by mu: the first exception fn threw
};

ParallelCalls::ParallelCalls(int helpers) : helpers_(std::max(0, helpers)) {}

ParallelCalls::~ParallelCalls() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void ParallelCalls::StartHelpersLocked() {
  if (tried_start_) return;
  tried_start_ = true;
  try {
    while (threads_.size() < static_cast<std::size_t>(helpers_)) {
      threads_.emplace_back([this] { HelperLoop(); });
    }
  } catch (const std::system_error&) {
    // Out of threads: the helpers started help, the callers do the rest.
  }
}

void ParallelCalls::Work(Job& job) {
  std::size_t ran = 0;
  std::exception_ptr failure;
  for (std::size_t i = job.next.fetch_add(1); i < job.n; i = job.next.fetch_add(1)) {
    // An exception must not end a helper (std::terminate) nor leave the
    // caller's fn to helpers after the caller has unwound: it is handed
    // to the caller, which rethrows it once every index has run.
    try {
      (*job.fn)(i);
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
    ++ran;
  }
  if (ran == 0) return;
  std::lock_guard lock(job.mu);
  if (failure && !job.failure) job.failure = failure;
  job.done += ran;
  if (job.done == job.n) job.finished.notify_all();
}

void ParallelCalls::HelperLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    std::shared_ptr<Job> job = jobs_.front();
    // Every index of the front job is claimed once a claim runs past its
    // end; the job then leaves the queue (its callers wait on it alone).
    if (job->next.load() >= job->n) {
      jobs_.pop_front();
      continue;
    }
    lock.unlock();
    Work(*job);
    lock.lock();
    if (!jobs_.empty() && jobs_.front() == job) jobs_.pop_front();
  }
}

void ParallelCalls::ForEach(std::size_t n, const std::function<void(std::size_t)>& fn) {
  if (n == 0) return;
  if (helpers_ == 0 || n == 1) {
    std::exception_ptr failure;  // as below: every index runs
    for (std::size_t i = 0; i < n; ++i) {
      try {
        fn(i);
      } catch (...) {
        if (!failure) failure = std::current_exception();
      }
    }
    if (failure) std::rethrow_exception(failure);
    return;
  }
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->n = n;
  {
    std::lock_guard lock(mu_);
    StartHelpersLocked();
    jobs_.push_back(job);
  }
  // One index is the caller's anyway; wake at most as many helpers as
  // there are indices left.
  const std::size_t wake = std::min<std::size_t>(n - 1, static_cast<std::size_t>(helpers_));
  for (std::size_t i = 0; i < wake; ++i) work_.notify_one();
  Work(*job);
  std::exception_ptr failure;
  {
    std::unique_lock lock(job->mu);
    job->finished.wait(lock, [&] { return job->done == job->n; });
    failure = job->failure;
  }
  // A helper may still hold `job` (it found no index left), but never
  // calls fn again: fn may now go out of scope. If no helper came to it,
  // it is still queued.
  {
    std::lock_guard lock(mu_);
    if (auto it = std::find(jobs_.begin(), jobs_.end(), job); it != jobs_.end()) jobs_.erase(it);
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace consentd::connectors
