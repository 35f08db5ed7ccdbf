// The members consentd itself left unsubscribed, with the time Mailchimp
// gave that write (the member's last_changed, whole seconds), so that a
// later write that finds a member unsubscribed can tell consentd's own
// doing (a block or withdrawal it wrote, which the engine has already
// ordered against the grant now being written) from someone else's
// unsubscribe it has not decided yet (MailchimpConnector::ResolveCompliance).
//
// Kept in memory only: after a restart (a reload that builds the connector
// again hands it over: CopyFrom), or once more than `capacity`
// members were noted (the memory then starts again), an own unsubscribe
// counts as someone else's, which errs towards not re-subscribing (the
// member is read again and decided). Thread-safe.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/clock.h"

namespace consentd::connectors::mailchimp {

class OwnUnsubscribes {
 public:
  static constexpr std::size_t kDefaultCapacity = 65536;

  explicit OwnUnsubscribes(std::size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  // consentd's write left the member `hash` with `unsubscribed` true or
  // false, as Mailchimp answered it at `last_changed` (0: not answered).
  void Note(const std::string& hash, bool unsubscribed, TimestampMs last_changed);

  // Whether the member `hash`, found unsubscribed as of `last_changed`, is
  // in the state consentd's own last write there left it in.
  bool IsOwn(const std::string& hash, TimestampMs last_changed) const;

  std::size_t size() const;

  // Replaces what this one knows with what `other` knows (a connector
  // rebuilt by a reload takes over its predecessor's memory).
  void CopyFrom(const OwnUnsubscribes& other);

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, TimestampMs> last_changed_by_hash_;
  std::size_t capacity_;
};

}  // namespace consentd::connectors::mailchimp
