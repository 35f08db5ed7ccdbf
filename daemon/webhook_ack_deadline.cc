#include "daemon/webhook_ack_deadline.h"

#include <algorithm>
#include <utility>

#include "net/http_types.h"

namespace consentd::daemon {

WebhookAckDeadline::WebhookAckDeadline(boost::asio::io_context& io,
                                       std::chrono::milliseconds deadline, OnExpired on_expired)
    : io_(io), deadline_(deadline), on_expired_(std::move(on_expired)), timer_(io) {}

WebhookAckDeadline::~WebhookAckDeadline() { timer_.cancel(); }

net::Responder WebhookAckDeadline::Track(const std::string& connector, net::Responder respond) {
  // Answers come in about the order webhooks arrived (commits are in
  // order), so dropping the answered ones at the front keeps the queue to
  // the webhooks in flight.
  while (!pending_.empty() && pending_.front()->answered) pending_.pop_front();
  auto p = std::make_shared<Pending>();
  p->respond = std::move(respond);
  p->connector = connector;
  p->arrived = std::chrono::steady_clock::now();
  p->expires = p->arrived + deadline_;
  pending_.push_back(p);
  if (!armed_ && !cancelled_) Arm();
  return [p](net::HttpResponse r) {
    if (p->answered) return;  // the deadline answered it already
    p->answered = true;
    net::Responder once = std::move(p->respond);
    once(std::move(r));
  };
}

void WebhookAckDeadline::set_deadline(std::chrono::milliseconds deadline) {
  const bool shorter = deadline < deadline_;
  deadline_ = deadline;
  if (!shorter || pending_.empty()) return;
  // Counted from each webhook's arrival: one that has waited longer than
  // the new deadline is answered at once. Arrival order stays expiry order.
  for (const auto& p : pending_) p->expires = std::min(p->expires, p->arrived + deadline);
  if (armed_) {
    timer_.cancel();  // its handler sees operation_aborted and leaves armed_ alone
    armed_ = false;
  }
  if (!cancelled_) Arm();
}

std::size_t WebhookAckDeadline::waiting() const {
  return static_cast<std::size_t>(
      std::count_if(pending_.begin(), pending_.end(), [](const auto& p) { return !p->answered; }));
}

void WebhookAckDeadline::Cancel() {
  cancelled_ = true;
  timer_.cancel();
}

void WebhookAckDeadline::Arm() {
  while (!pending_.empty() && pending_.front()->answered) pending_.pop_front();
  if (pending_.empty() || cancelled_) {
    armed_ = false;
    return;
  }
  armed_ = true;
  timer_.expires_at(pending_.front()->expires);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    // Aborted: whoever cancelled the wait re-arms if needed (set_deadline)
    // or stops for good (Cancel, the destructor).
    if (ec) return;
    Expire();
  });
}

void WebhookAckDeadline::Expire() {
  const auto now = std::chrono::steady_clock::now();
  // Entries expire in arrival order, except right after a reload changed
  // the deadline; then a later entry waits for the one before it, which
  // only makes its 503 later, never earlier.
  while (!pending_.empty() && (pending_.front()->answered || pending_.front()->expires <= now)) {
    std::shared_ptr<Pending> p = std::move(pending_.front());
    pending_.pop_front();
    if (p->answered) continue;
    p->answered = true;
    net::HttpResponse r = net::Problem(
        503, "Service Unavailable",
        "not stored in time (the store is slow); please retry: a copy stored meanwhile is "
        "recognised as a duplicate");
    r.headers.emplace_back("Retry-After", "5");
    net::Responder respond = std::move(p->respond);
    respond(std::move(r));
    if (on_expired_) on_expired_(p->connector);
  }
  Arm();
}

}  // namespace consentd::daemon
