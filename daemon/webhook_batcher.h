// WebhookBatcher: the webhooks of one connector that arrive while the store
// is busy become ONE store submission, and their answers ONE post back to
// the io thread (DESIGN §3 ②, group commit one level up).
//
// Why: per webhook, a submission of its own costs a SAVEPOINT/RELEASE, a
// queue hand-off, a Done call on the sync thread and a cross-thread post
// (and the frees of all of it on a thread that did not allocate it). With
// 32-256 webhooks in flight that was a third of the ingest CPU. Here the io
// thread appends a delivery to the group that is queued but not yet taken
// by the store thread, or queues a new group; the store thread runs the
// whole group as one unit of work; its Done posts one closure that answers
// every delivery of the group on the io thread.
//
// Contract kept: a delivery is answered OK only after the commit covering
// it is durable (Store's Done). A group whose unit of work fails is rolled
// back as a whole, and each of its deliveries is then retried once as a
// submission of its own, so one failing delivery cannot fail the others.
// A group refused by the store, or whose commit failed, answers every
// delivery with that error.
//
// Thread-safety: Add is called on the io thread (one thread); `accept` runs
// on the store thread; `answer` runs through `post` (the io thread). The
// batcher's state is shared with the submissions in flight, so it may be
// destroyed while they are pending (their answers still run).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "connectors/common/connector.h"
#include "core/clock.h"
#include "core/status.h"
#include "net/http_server.h"
#include "store/store.h"

namespace consentd::daemon {

class WebhookBatcher {
 public:
  // One webhook request, parsed and verified.
  struct Delivery {
    std::vector<connectors::RecordRef> refs;
    TimestampMs received_at = 0;
    net::Responder respond;
    int duplicates = 0;  // set by `accept` (hints already in the inbox)
  };
  // Stores one delivery's hints in `txn`; returns how many were duplicates.
  using Accept = std::function<Result<int>(store::Transaction& txn, const Delivery& d)>;
  // Answers one delivery: OK means its hints are durable.
  using Answer = std::function<void(Delivery& d, const Status& s)>;
  // Runs a closure on the io thread.
  using Post = std::function<void(std::function<void()>)>;

  // At most `max_group` deliveries per submission (bounds a transaction).
  // At most `max_pending` deliveries added and not yet answered: beyond
  // that a delivery is answered Unavailable at once (503, the sender
  // retries). A stalled store's deliveries stay queued after the ack
  // deadline has answered their requests, and every retry would add
  // another copy; this bounds the memory they hold.
  static constexpr std::size_t kDefaultMaxPending = 8192;
  WebhookBatcher(Accept accept, Answer answer, Post post, std::size_t max_group = 512,
                 std::size_t max_pending = kDefaultMaxPending);
  ~WebhookBatcher();
  WebhookBatcher(const WebhookBatcher&) = delete;
  WebhookBatcher& operator=(const WebhookBatcher&) = delete;

  // io thread. `store` must outlive the submission it queues.
  void Add(store::Store& store, Delivery d);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace consentd::daemon
