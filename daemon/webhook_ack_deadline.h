// WebhookAckDeadline: a webhook waits for its commit at most `deadline`;
// then its sender gets 503 with Retry-After instead of silence.
//
// Why: a 2xx means "durable", so a webhook is answered only after the
// commit holding it is flushed. If the store stalls (a disk that takes
// seconds to flush, another process holding the database's lock), the
// sender would see an open connection and no answer, give up at its own
// timeout (HubSpot ~5 s, Mailchimp ~10 s) and retry on a new connection,
// piling connections up until /healthz and /metrics are refused too. A 503
// before the sender's timeout says "not stored yet, retry" in the sender's
// own terms. The commit may still land afterwards: the retry then finds
// its event id in the inbox and is acknowledged as a duplicate, so nothing
// is lost and nothing is decided twice.
//
// Cost: one deque entry per webhook and one timer for all of them (the
// deadline is the same for every webhook, so they expire in arrival order).
//
// Thread-safety: io thread only (Track, the wrapped responders, the timer).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "net/http_server.h"

namespace consentd::daemon {

class WebhookAckDeadline {
 public:
  // Called when a webhook of `connector` was answered 503 by the deadline.
  using OnExpired = std::function<void(const std::string& connector)>;

  WebhookAckDeadline(boost::asio::io_context& io, std::chrono::milliseconds deadline,
                     OnExpired on_expired);
  ~WebhookAckDeadline();
  WebhookAckDeadline(const WebhookAckDeadline&) = delete;
  WebhookAckDeadline& operator=(const WebhookAckDeadline&) = delete;

  // Applies to webhooks tracked from now on; a shorter deadline also
  // shortens the wait of those already waiting, counted from each one's
  // arrival.
  void set_deadline(std::chrono::milliseconds deadline);

  // Returns a responder that passes the first answer to `respond`, unless
  // the deadline has passed: then `respond` got the 503 and later answers
  // are dropped.
  net::Responder Track(const std::string& connector, net::Responder respond);

  // Webhooks tracked and not answered yet.
  std::size_t waiting() const;

  // Stops the timer; webhooks still waiting are answered by their commits.
  void Cancel();

 private:
  struct Pending {
    net::Responder respond;
    std::string connector;
    std::chrono::steady_clock::time_point arrived;
    std::chrono::steady_clock::time_point expires;
    bool answered = false;
  };
  void Arm();
  void Expire();

  boost::asio::io_context& io_;
  std::chrono::milliseconds deadline_;
  OnExpired on_expired_;
  boost::asio::steady_timer timer_;
  bool armed_ = false;
  bool cancelled_ = false;
  std::deque<std::shared_ptr<Pending>> pending_;  // in arrival order
};

}  // namespace consentd::daemon
