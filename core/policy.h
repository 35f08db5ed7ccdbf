// Policy: what the reconciler needs to know from the mapping and the
// configuration (DESIGN.md §2). Which topics and channels are mapped,
// which systems each topic flows from and to, which topics need double
// opt-in evidence, the skew window, and what each target refuses.
//
// A plain value built by mapping/config; immutable while in force and safe
// to share between threads for reading.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/notice.h"

namespace consentd {

// Direction of flow between consentd and one system, per topic.
enum class Direction {
  kInbound,   // consentd accepts the system's changes, never writes to it
  kOutbound,  // consentd writes to the system, ignores its changes
  kBoth,
};

struct TopicPolicy {
  // A grant without a double opt-in confirmation is held as pending.
  bool requires_double_opt_in = false;
  // Channels this topic is mapped on ("email", "sms", ...).
  std::set<std::string> channels;
  // Systems the topic is synchronised with.
  std::map<std::string, Direction> systems;
  // The topic's notice versions over time (filled by the sync engine from
  // the store; empty: no versions, nothing ever needs re-consent).
  NoticeTimeline notice;
};

// What a target refuses (rule 7). Modelled so the refusal is decided and
// logged up front instead of retried forever.
struct TargetConstraints {
  // An unsubscribed member cannot be re-subscribed directly: re-consent is
  // written as pending (the target then runs its own double opt-in).
  bool resubscribe_via_pending = false;
  // A permanently deleted record cannot be re-added: every later write is
  // blocked_by_target.
  bool deletion_is_permanent = false;
  // The target shows a re-consent marker (a tag or merge field) for a grant
  // given for an older notice: it is written when the marker is set or
  // cleared, even when the consent status itself does not change.
  bool reconsent_marker = false;
  // The capture time the system reports for a consent is its record's last
  // change (Mailchimp's last_changed: any edit moves it), not the time of
  // the grant: a grant it reports while re-consent is required is the old
  // grant read again, never an answer.
  bool grant_time_is_record_time = false;
};

struct Policy {
  // Rule 3: a grant and a restrictive change closer than this resolve to
  // the restrictive side.
  TimestampMs skew_window_ms = 2000;
  // Mapped topics by canonical name; anything else is never propagated.
  std::map<std::string, TopicPolicy> topics;
  // Systems that receive and send blocks and erasures, with direction.
  std::map<std::string, Direction> block_systems;
  // Target constraints by system name (absent = no constraints).
  std::map<std::string, TargetConstraints> constraints;
  // Sources that are consentd itself (admin API, consentctl): always
  // accepted for mapped topics, never written to.
  std::set<std::string> local_sources{"admin", "api"};

  // The topic's policy, or nullptr if the topic is not mapped.
  const TopicPolicy* FindTopic(std::string_view topic) const;
  // True if `channel` is mapped for any topic.
  bool IsChannelMapped(std::string_view channel) const;
  // Constraints for `system` (defaults if none configured).
  TargetConstraints ConstraintsFor(std::string_view system) const;
};

// True if changes from a system with this direction are accepted.
inline bool AcceptsFrom(Direction d) { return d != Direction::kOutbound; }
// True if consentd writes to a system with this direction.
inline bool WritesTo(Direction d) { return d != Direction::kInbound; }

}  // namespace consentd
