#include "sim/webhook_dispatcher.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "sim/http_client.h"

namespace consentd::sim {

namespace asio = boost::asio;

class WebhookDispatcher::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, FaultInjector& faults, const Clock& clock,
       WebhookDispatcherOptions options)
      : io_(io), faults_(faults), clock_(clock), options_(options), rng_(options.seed), pool_(io) {}

  void Deliver(const std::string& system, OutgoingWebhook hook) {
    ++emitted_;
    WebhookFaultDecision d = faults_.ForWebhook(system, hook.url);
    if (d.drop) {
      ++dropped_;
      Log(system, hook.url, "dropped", 0, 0);
      FirstAnswer(hook);
      return;
    }
    auto h = std::make_shared<OutgoingWebhook>(std::move(hook));
    // Held or delayed: the sender need not wait for it.
    if (d.reorder || d.delay_ms > 0) FirstAnswer(*h);
    // A held (reordered) webhook goes out right after the one that overtakes it.
    std::shared_ptr<OutgoingWebhook> held;
    if (auto it = held_.find(system); it != held_.end()) {
      held = std::move(it->second.hook);
      it->second.timer->cancel();
      held_.erase(it);
    }
    if (d.reorder && !held) {
      ++reordered_;
      auto timer = std::make_shared<asio::steady_timer>(io_, options_.reorder_hold);
      held_[system] = Held{h, timer};
      timer->async_wait([self = shared_from_this(), system, timer](const auto& ec) {
        if (ec) return;  // cancelled: overtaken (or shutdown)
        auto it = self->held_.find(system);
        if (it == self->held_.end() || it->second.timer != timer) return;
        auto held_hook = std::move(it->second.hook);
        self->held_.erase(it);
        self->Schedule(system, held_hook, 0);
      });
    } else {
      Schedule(system, h, d.delay_ms);
      if (d.duplicate) {
        ++duplicated_;
        auto copy = std::make_shared<OutgoingWebhook>(*h);
        copy->on_first_answer = nullptr;
        Schedule(system, std::move(copy), d.delay_ms);
      }
    }
    if (held) Schedule(system, held, 0);
  }

  void Schedule(const std::string& system, std::shared_ptr<OutgoingWebhook> hook,
                std::int64_t delay_ms) {
    ++in_flight_;
    if (delay_ms <= 0) {
      Attempt(system, std::move(hook), 0);
      return;
    }
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(delay_ms));
    timer->async_wait([self = shared_from_this(), system, hook, timer](const auto& ec) {
      if (ec) return;
      self->Attempt(system, hook, 0);
    });
  }

  void Attempt(const std::string& system, std::shared_ptr<OutgoingWebhook> hook, int attempt) {
    ++attempts_;
    if (hook->body_for_attempt) hook->body = hook->body_for_attempt(attempt);
    ClientRequest req;
    req.method = "POST";
    req.url = hook->url;
    req.content_type = hook->content_type;
    req.headers = hook->headers;
    if (hook->sign) {
      for (auto& h : hook->sign(*hook, clock_.NowMs())) req.headers.push_back(std::move(h));
    }
    req.body = hook->body;
    req.deadline = options_.attempt_deadline;
    pool_.Send(std::move(req),
               [self = shared_from_this(), system, hook, attempt](Result<ClientResponse> r) {
                 self->OnAnswer(system, hook, attempt, std::move(r));
               });
  }

  void OnAnswer(const std::string& system, std::shared_ptr<OutgoingWebhook> hook, int attempt,
                Result<ClientResponse> r) {
    FirstAnswer(*hook);
    const int status = r.ok() ? r->status : 0;
    if (status >= 200 && status < 300) {
      ++delivered_;
      --in_flight_;
      Log(system, hook->url, "delivered", attempt + 1, status);
      return;
    }
    if (attempt + 1 >= hook->max_attempts) {
      ++failed_;
      --in_flight_;
      Log(system, hook->url, r.ok() ? "failed" : "failed: " + r.status().message(), attempt + 1,
          status);
      return;
    }
    // Doubling backoff with up to 25% jitter, drawn from the seeded generator.
    std::int64_t delay = hook->first_retry_delay_ms << std::min(attempt, 20);
    delay += static_cast<std::int64_t>(rng_() % static_cast<std::uint64_t>(delay / 4 + 1));
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(delay));
    timer->async_wait([self = shared_from_this(), system, hook, attempt, timer](const auto& ec) {
      if (ec) return;
      self->Attempt(system, hook, attempt + 1);
    });
  }

  // Runs the hook's on_first_answer once (moved out first: it may emit
  // the next webhook, re-entering Deliver).
  static void FirstAnswer(OutgoingWebhook& hook) {
    if (!hook.on_first_answer) return;
    std::function<void()> f = std::move(hook.on_first_answer);
    hook.on_first_answer = nullptr;
    f();
  }

  void Log(const std::string& system, const std::string& url, std::string outcome, int attempts,
           int status) {
    recent_.push_back({{"system", system},
                       {"url", url},
                       {"outcome", std::move(outcome)},
                       {"attempts", attempts},
                       {"status", status},
                       {"at", clock_.NowMs()}});
    if (recent_.size() > 100) recent_.pop_front();
  }

  nlohmann::json Stats() const {
    nlohmann::json recent = nlohmann::json::array();
    for (const auto& r : recent_) recent.push_back(r);
    return {{"emitted", emitted_},     {"attempts", attempts_},   {"delivered", delivered_},
            {"failed", failed_},       {"dropped", dropped_},     {"duplicated", duplicated_},
            {"reordered", reordered_}, {"in_flight", in_flight_}, {"recent", std::move(recent)}};
  }

  void ResetStats() {
    emitted_ = attempts_ = delivered_ = failed_ = dropped_ = duplicated_ = reordered_ = 0;
    recent_.clear();
    rng_.seed(options_.seed);
  }

  void Stop() {
    for (auto& [name, h] : held_) h.timer->cancel();
    held_.clear();
  }

 private:
  struct Held {
    std::shared_ptr<OutgoingWebhook> hook;
    std::shared_ptr<asio::steady_timer> timer;
  };

  asio::io_context& io_;
  FaultInjector& faults_;
  const Clock& clock_;
  WebhookDispatcherOptions options_;
  std::mt19937_64 rng_;
  // Kept-alive connections to the receivers (a connect and close per
  // webhook cost more than the webhook at 1,000/s).
  HttpConnectionPool pool_;
  std::map<std::string, Held> held_;
  std::deque<nlohmann::json> recent_;
  std::int64_t emitted_ = 0, attempts_ = 0, delivered_ = 0, failed_ = 0, dropped_ = 0,
               duplicated_ = 0, reordered_ = 0, in_flight_ = 0;
};

WebhookDispatcher::WebhookDispatcher(asio::io_context& io, FaultInjector& faults,
                                     const Clock& clock, WebhookDispatcherOptions options)
    : impl_(std::make_shared<Impl>(io, faults, clock, options)) {}

WebhookDispatcher::~WebhookDispatcher() { impl_->Stop(); }

void WebhookDispatcher::Deliver(const std::string& system, OutgoingWebhook hook) {
  impl_->Deliver(system, std::move(hook));
}

nlohmann::json WebhookDispatcher::Stats() const { return impl_->Stats(); }
void WebhookDispatcher::ResetStats() { impl_->ResetStats(); }

}  // namespace consentd::sim
