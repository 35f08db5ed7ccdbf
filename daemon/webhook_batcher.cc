#include "daemon/webhook_batcher.h"

#include <atomic>
#include <mutex>
#include <string>
#include <utility>

namespace consentd::daemon {
namespace {

// The deliveries of one submission. `taken` turns true when the store
// thread starts it (or the store refused it): from then on nothing is
// appended and `deliveries` belongs to whoever took it.
struct Group {
  std::vector<WebhookBatcher::Delivery> deliveries;
  bool taken = false;        // guarded by State::mu until true
  bool work_failed = false;  // store thread: `accept` failed for a delivery
};

}  // namespace

struct WebhookBatcher::State {
  Accept accept;
  Answer answer;
  Post post;
  std::size_t max_group;
  std::size_t max_pending;
  std::atomic<std::size_t> pending{0};  // added, not yet answered
  std::mutex mu;
  std::shared_ptr<Group> open;  // guarded by mu: queued, not yet taken

  // Marks `g` taken; true if it was not taken before.
  bool Take(const std::shared_ptr<Group>& g) {
    std::lock_guard lock(mu);
    if (open == g) open.reset();
    if (g->taken) return false;
    g->taken = true;
    return true;
  }

  // Any thread: answers every delivery of `g` on the io thread.
  static void AnswerAll(const std::shared_ptr<State>& self, std::shared_ptr<Group> g, Status s) {
    self->post([self, g = std::move(g), s = std::move(s)] {
      for (Delivery& d : g->deliveries) {
        self->answer(d, s);
        self->pending.fetch_sub(1);
      }
    });
  }

  static void Submit(const std::shared_ptr<State>& self, store::Store& store,
                     std::shared_ptr<Group> g) {
    store.Submit(
        [self, g](store::Transaction& txn) -> Status {
          (void)self->Take(g);
          for (Delivery& d : g->deliveries) {
            Result<int> dup = self->accept(txn, d);
            if (!dup.ok()) {
              g->work_failed = g->deliveries.size() > 1;
              return dup.status();
            }
            d.duplicates = *dup;
          }
          return Status::Ok();
        },
        [self, g, &store](const Status& s) {
          // Refused before it ran (closed, overloaded): nothing more may
          // join it, and its deliveries all get the refusal.
          if (self->Take(g) || s.ok() || !g->work_failed) {
            AnswerAll(self, g, s);
            return;
          }
          // One delivery's work failed and took the group down with it:
          // retry each alone, so that only the failing one is refused.
          for (Delivery& d : g->deliveries) {
            auto alone = std::make_shared<Group>();
            alone->taken = true;
            alone->deliveries.push_back(std::move(d));
            Submit(self, store, std::move(alone));
          }
        });
  }
};

WebhookBatcher::WebhookBatcher(Accept accept, Answer answer, Post post, std::size_t max_group,
                               std::size_t max_pending)
    : state_(std::make_shared<State>()) {
  state_->accept = std::move(accept);
  state_->answer = std::move(answer);
  state_->post = std::move(post);
  state_->max_group = max_group == 0 ? 1 : max_group;
  state_->max_pending = max_pending == 0 ? 1 : max_pending;
}

WebhookBatcher::~WebhookBatcher() = default;

void WebhookBatcher::Add(store::Store& store, Delivery d) {
  if (state_->pending.load() >= state_->max_pending) {
    state_->answer(d, Unavailable("too many webhooks waiting for the store (" +
                                  std::to_string(state_->max_pending) + ")"));
    return;
  }
  state_->pending.fetch_add(1);
  std::shared_ptr<Group> fresh;
  {
    std::lock_guard lock(state_->mu);
    const std::shared_ptr<Group>& g = state_->open;
    if (g && !g->taken && g->deliveries.size() < state_->max_group) {
      g->deliveries.push_back(std::move(d));
      return;
    }
    fresh = std::make_shared<Group>();
    fresh->deliveries.reserve(16);
    fresh->deliveries.push_back(std::move(d));
    state_->open = fresh;
  }
  State::Submit(state_, store, std::move(fresh));
}

}  // namespace consentd::daemon
