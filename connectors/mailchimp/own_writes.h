// The state consentd's own last write left each member in, by the time
// Mailchimp gave that write (the member's last_changed, whole seconds), so
// that a later write can tell consentd's own doing from someone else's
// change it has not decided yet:
// - a member found unsubscribed: consentd's own block or withdrawal (the
//   engine has already ordered it against the grant now being written) or
//   someone else's unsubscribe (MailchimpConnector::ResolveCompliance);
// - a member found with an interest or marketing permission off that the
//   write turns on: unticked by consentd's last write, or by the person
//   since (MailchimpConnector::KeepNewerUnticks).
// A member whose version (MemberVersionKey: the second of last_changed and
// a digest of its status and boxes) is the one consentd's last write got
// is exactly as consentd left it; last_changed alone is not enough, as the
// person can change the member within the second of consentd's write.
// The boxes that write ticked are kept too: a box consentd never ticked
// there and the person did not tick either (a grant from elsewhere) shows
// off without anyone having unticked it.
//
// Kept in memory only: after a restart (a reload that builds the connector
// again hands it over: CopyFrom), or once more than `capacity` members were
// noted (the memory then starts again), consentd's own state counts as
// someone else's, which errs towards not subscribing or ticking (the member
// is read again and decided). Thread-safe.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"

namespace consentd::connectors::mailchimp {

class OwnWrites {
 public:
  static constexpr std::size_t kDefaultCapacity = 65536;

  explicit OwnWrites(std::size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  // consentd's write left the member `hash` with `unsubscribed` true or
  // false, as Mailchimp answered it at `last_changed` (0: not answered, or
  // not consentd's state alone: nothing later is matched to it), in the
  // version `version` (empty: unknown), with the boxes `ticked` on (keys
  // of the caller's choosing; the write's other boxes off).
  void Note(const std::string& hash, bool unsubscribed, TimestampMs last_changed,
            std::string version = {}, std::vector<std::string> ticked = {});

  // Whether the member `hash`, found unsubscribed as of `last_changed`, is
  // in the state consentd's own last write there left it in.
  bool IsOwnUnsubscribe(const std::string& hash, TimestampMs last_changed) const;

  // Whether the member `hash`, read in the version `version`, is in the
  // state consentd's own last write left it in (whatever that wrote).
  bool IsOwnState(const std::string& hash, const std::string& version) const;

  // Whether consentd's last write to the member `hash` ticked `box`.
  bool Ticked(const std::string& hash, const std::string& box) const;

  std::size_t size() const;

  // Replaces what this one knows with what `other` knows (a connector
  // rebuilt by a reload takes over its predecessor's memory).
  void CopyFrom(const OwnWrites& other);

 private:
  struct Written {
    TimestampMs last_changed = 0;
    bool unsubscribed = false;
    std::string version;
    // The ticked boxes' keys, each followed by '\n': one allocation per
    // member (a full memory holds 65,536 of them, an initial sync fills it).
    std::string ticked;
  };

  mutable std::mutex mu_;
  std::unordered_map<std::string, Written> by_hash_;
  std::size_t capacity_;
};

}  // namespace consentd::connectors::mailchimp
