#include "mapping/mailchimp.h"

#include "core/normalise.h"
#include "mapping/native_util.h"
#include "mapping/policy.h"

namespace consentd::mapping::mailchimp {

using internal::NoFlow;

std::string_view MemberStatusName(MemberStatus s) {
  switch (s) {
    case MemberStatus::kSubscribed:
      return "subscribed";
    case MemberStatus::kUnsubscribed:
      return "unsubscribed";
    case MemberStatus::kCleaned:
      return "cleaned";
    case MemberStatus::kPending:
      return "pending";
    case MemberStatus::kTransactional:
      return "transactional";
    case MemberStatus::kArchived:
      return "archived";
  }
  return "archived";
}

Result<MemberStatus> ParseMemberStatus(std::string_view name) {
  for (auto s : {MemberStatus::kSubscribed, MemberStatus::kUnsubscribed, MemberStatus::kCleaned,
                 MemberStatus::kPending, MemberStatus::kTransactional, MemberStatus::kArchived}) {
    if (MemberStatusName(s) == name) return s;
  }
  return InvalidArgument("unknown Mailchimp member status \"" + std::string(name) + "\"");
}

Mapper::Mapper(const MappingSpec& spec, std::string system)
    : spec_(spec), system_(std::move(system)), hash_(MappingHash(spec)) {
  if (const SystemSpec* s = spec_.FindSystem(system_)) system_spec_ = *s;
}

Change Mapper::Base(const Member& m) const {
  Change c;
  c.provenance.occurred_at = m.last_changed;
  c.provenance.source_system = system_;
  c.provenance.source_event_id = m.event_id;
  c.mapping_hash = hash_;
  return c;
}

// The topic's channel that this audience carries (e-mail), or "".
std::string Mapper::EmailChannel(const TopicSpec& t) const {
  for (const std::string& ch : t.channels) {
    if (!spec_.NativeChannel(ch, system_).empty()) return ch;
  }
  return {};
}

namespace {

const bool* PermissionOf(const Member& m, const std::string& id) {
  for (const MarketingPermission& p : m.marketing_permissions) {
    if (p.id == id) return &p.enabled;
  }
  return nullptr;
}

// The member's own statement about a topic: true/false, or nullopt if the
// member record says nothing about it.
std::optional<bool> Ticked(const Member& m, const TopicBinding& b) {
  switch (b.mailchimp_kind) {
    case MailchimpTopicKind::kMemberStatus:
      return true;
    case MailchimpTopicKind::kInterest: {
      const auto it = m.interests.find(b.mailchimp_id);
      if (it == m.interests.end()) return std::nullopt;
      return it->second;
    }
    case MailchimpTopicKind::kMarketingPermission: {
      const bool* p = PermissionOf(m, b.mailchimp_id);
      if (p == nullptr) return std::nullopt;
      return *p;
    }
  }
  return std::nullopt;
}

}  // namespace

MapResult Mapper::FromMember(const Member& m) const {
  MapResult r;
  const SystemRole role = system_spec_.role;
  const std::string status(MemberStatusName(m.status));

  // Interests and permissions the mapping does not know: said, and ignored.
  for (const auto& [id, on] : m.interests) {
    bool known = false;
    for (const TopicSpec& t : spec_.topics) {
      const auto b = t.bindings.find(system_);
      known = known ||
              (b != t.bindings.end() && b->second.mailchimp_kind == MailchimpTopicKind::kInterest &&
               b->second.mailchimp_id == id);
    }
    if (!known) r.notes.push_back("unmapped: interest " + id + " is not in the mapping");
  }

  auto consent = [&](const TopicSpec& t, ConsentStatus s, ConsentMethod method) -> Change& {
    Change c = Base(m);
    c.kind = ChangeKind::kConsent;
    c.key.topic = t.name;
    c.key.channel = EmailChannel(t);
    c.status = s;
    c.method = method;
    c.legal_basis = t.legal_basis;
    c.notice_version = t.notice_version;
    r.changes.push_back(std::move(c));
    return r.changes.back();
  };
  // Blocks whose Mailchimp side is the member status `side_status`.
  auto blocks = [&](const std::string& side_status, bool set) {
    for (const BlockSpec& b : spec_.blocks) {
      const auto side = b.sides.find(system_);
      if (side == b.sides.end() || side->second.member_status != side_status) continue;
      if (!FlowsFrom(b.direction, role)) {
        r.notes.push_back(NoFlow("block", b.name, "from", system_, b.direction));
        continue;
      }
      Change c = Base(m);
      c.kind = set ? ChangeKind::kBlockSet : ChangeKind::kBlockCleared;
      // A member that is not unsubscribed or cleaned only says "no block":
      // it lifts an active block, but records nothing where none was known.
      // An unsubscribed member may only reflect another block consentd
      // wrote as `unsubscribed` (the reconciler checks).
      c.reports_absence = true;
      c.block_reason = b.reason;
      if (b.scope == BlockScope::Kind::kAddress) {
        auto email = NormaliseEmail(m.email_address);
        if (!email.ok()) {
          r.notes.push_back("block '" + b.name + "': the member's address is not usable");
          continue;
        }
        c.scope = BlockScope::Address(*email);
      } else if (b.scope == BlockScope::Kind::kChannel) {
        const std::string ch = spec_.CanonicalChannel("email", system_);
        if (ch.empty()) continue;
        c.scope = BlockScope::Channel(ch);
      } else {
        c.scope = BlockScope::All();
      }
      r.changes.push_back(std::move(c));
    }
  };

  // The topics this audience carries that flow from it.
  // Those that do not are named when the member record speaks about them.
  std::vector<std::pair<const TopicSpec*, const TopicBinding*>> topics;
  const bool speaks_of_topics =
      m.status == MemberStatus::kSubscribed || m.status == MemberStatus::kPending ||
      (m.status == MemberStatus::kUnsubscribed && system_spec_.unsubscribe_withdraws_topics);
  for (const TopicSpec& t : spec_.topics) {
    const auto b = t.bindings.find(system_);
    if (b == t.bindings.end()) continue;
    if (!FlowsFrom(t.direction, role)) {
      const bool mentioned =
          m.status == MemberStatus::kUnsubscribed || Ticked(m, b->second).has_value();
      if (speaks_of_topics && mentioned) {
        r.notes.push_back(NoFlow("topic", t.name, "from", system_, t.direction));
      }
      continue;
    }
    topics.emplace_back(&t, &b->second);
  }

  switch (m.status) {
    case MemberStatus::kSubscribed: {
      const ConsentMethod grant =
          system_spec_.confirms_double_opt_in ? ConsentMethod::kDoubleOptIn : ConsentMethod::kForm;
      for (const auto& [t, b] : topics) {
        const auto ticked = Ticked(m, *b);
        if (!ticked) {
          r.notes.push_back("topic '" + t->name + "': the member record does not mention " +
                            std::string(MailchimpTopicKindName(b->mailchimp_kind)) + " " +
                            b->mailchimp_id);
          continue;
        }
        Change& made = consent(*t, *ticked ? ConsentStatus::kGranted : ConsentStatus::kWithdrawn,
                               *ticked ? grant : ConsentMethod::kForm);
        // An unticked box cannot tell "withdrawn" from "never asked".
        made.reports_absence = !*ticked;
      }
      // Subscribed means neither unsubscribed nor cleaned (absolute state).
      blocks("unsubscribed", false);
      blocks("cleaned", false);
      break;
    }
    case MemberStatus::kPending:
      for (const auto& [t, b] : topics) {
        if (Ticked(m, *b).value_or(false))
          consent(*t, ConsentStatus::kPending, ConsentMethod::kForm);
      }
      if (r.changes.empty()) r.notes.push_back("pending: no mapped topic is ticked");
      break;
    case MemberStatus::kUnsubscribed:
      if (system_spec_.unsubscribe_withdraws_topics) {
        for (const auto& [t, b] : topics) {
          // `unsubscribed` is audience-wide: it withdraws what was granted,
          // but states nothing about topics never asked, and nothing while
          // a block consentd wrote as `unsubscribed` is active.
          consent(*t, ConsentStatus::kWithdrawn, ConsentMethod::kUnsubscribeLink).reports_absence =
              true;
        }
      } else {
        r.notes.push_back("unsubscribed: topics are kept (unsubscribe_withdraws_topics: false)");
      }
      blocks("unsubscribed", true);
      break;
    case MemberStatus::kCleaned:
      blocks("cleaned", true);
      r.notes.push_back(
          "cleaned: the address bounced; topics are kept, the address is blocked" +
          std::string(r.changes.empty() ? " only if an address block is mapped" : ""));
      break;
    case MemberStatus::kArchived:
      r.notes.push_back(
          "archived: Mailchimp keeps the member out of the audience without a "
          "consent statement; nothing changes (a deletion arrives as its own event)");
      break;
    case MemberStatus::kTransactional:
      r.notes.push_back("transactional: not a marketing status; nothing changes");
      break;
  }
  if (r.changes.empty() && r.notes.empty()) {
    r.notes.push_back(status + ": no topic or block of the mapping is carried by " + system_);
  }
  return r;
}

MemberWrite Mapper::ToMember(const SubjectState& desired,
                             std::optional<MemberStatus> current) const {
  MemberWrite w;
  const SystemRole role = system_spec_.role;

  // An active block that this audience carries as `unsubscribed`.
  bool blocked = false;
  for (const auto& [scope, block] : desired.blocks) {
    if (!block.active) continue;
    for (const BlockSpec& b : spec_.blocks) {
      const auto side = b.sides.find(system_);
      if (b.scope != scope.kind || side == b.sides.end()) continue;
      if (!FlowsTo(b.direction, role)) {
        w.notes.push_back(NoFlow("block", b.name, "to", system_, b.direction));
        continue;
      }
      if (scope.kind == BlockScope::Kind::kAddress) {
        w.notes.push_back("block '" + b.name +
                          "': Mailchimp cannot be told to clean an address; kept in consentd");
        continue;
      }
      if (scope.kind == BlockScope::Kind::kChannel &&
          spec_.NativeChannel(scope.value, system_).empty()) {
        continue;
      }
      blocked = true;
    }
  }

  bool any_granted = false, any_pending = false, any_restrictive = false;
  std::optional<MemberStatus> own_status;  // from a member_status topic
  std::vector<std::pair<MailchimpTopicKind, std::string>> pending_boxes;
  for (const TopicSpec& t : spec_.topics) {
    const auto b = t.bindings.find(system_);
    if (b == t.bindings.end()) continue;
    if (!FlowsTo(t.direction, role)) {
      w.notes.push_back(NoFlow("topic", t.name, "to", system_, t.direction));
      continue;
    }
    const ConsentRecord* rec = desired.FindConsent({desired.subject, t.name, EmailChannel(t), ""});
    const ConsentStatus s = rec == nullptr ? ConsentStatus::kNotAsked : rec->status;
    const bool on = !blocked && (s == ConsentStatus::kGranted || s == ConsentStatus::kPending);
    any_granted = any_granted || s == ConsentStatus::kGranted;
    any_pending = any_pending || s == ConsentStatus::kPending;
    any_restrictive =
        any_restrictive || s == ConsentStatus::kWithdrawn || s == ConsentStatus::kRefused;
    if (s == ConsentStatus::kPending && !blocked) {
      pending_boxes.emplace_back(b->second.mailchimp_kind, b->second.mailchimp_id);
    }
    switch (b->second.mailchimp_kind) {
      case MailchimpTopicKind::kInterest:
        if (s != ConsentStatus::kNotAsked || blocked) w.interests[b->second.mailchimp_id] = on;
        break;
      case MailchimpTopicKind::kMarketingPermission:
        if (s != ConsentStatus::kNotAsked || blocked) {
          w.marketing_permissions.push_back({b->second.mailchimp_id, on});
        }
        break;
      case MailchimpTopicKind::kMemberStatus:
        if (s == ConsentStatus::kGranted) own_status = MemberStatus::kSubscribed;
        if (s == ConsentStatus::kPending) own_status = MemberStatus::kPending;
        if (s == ConsentStatus::kWithdrawn || s == ConsentStatus::kRefused) {
          own_status = MemberStatus::kUnsubscribed;
        }
        break;
    }
  }

  std::optional<MemberStatus> status;
  if (blocked) {
    status = MemberStatus::kUnsubscribed;
  } else if (own_status) {
    status = own_status;
  } else if (any_granted) {
    status = MemberStatus::kSubscribed;
  } else if (any_pending) {
    status = MemberStatus::kPending;
  } else if (any_restrictive) {
    // Every topic this audience carries is withdrawn: a subscribed member
    // without interests would still get audience-wide campaigns.
    status = MemberStatus::kUnsubscribed;
  }
  if (!status) {
    w.notes.push_back("nothing asked: no member status is written");
    return w;
  }
  if (current == MemberStatus::kCleaned && *status != MemberStatus::kUnsubscribed) {
    w.blocked_by_target = true;
    w.notes.push_back(
        "blocked_by_target: the address is cleaned in Mailchimp and cannot be "
        "subscribed again");
    w.interests.clear();
    w.marketing_permissions.clear();
    return w;
  }
  // A pending topic on a member who is (and stays) subscribed for another
  // topic: ticking its box would put the person in that topic's campaigns
  // before they confirmed, and read back it would look confirmed. It stays
  // unticked until the person confirms (here through a pending member's
  // double opt-in, or in the other system).
  if (*status == MemberStatus::kSubscribed && current != MemberStatus::kUnsubscribed) {
    for (const auto& [kind, id] : pending_boxes) {
      if (kind == MailchimpTopicKind::kInterest) w.interests[id] = false;
      if (kind == MailchimpTopicKind::kMarketingPermission) {
        for (auto& p : w.marketing_permissions) {
          if (p.id == id) p.enabled = false;
        }
      }
    }
    if (!pending_boxes.empty()) {
      w.notes.push_back("pending topics stay unticked on a subscribed member until confirmed");
    }
  }
  if (*status == MemberStatus::kSubscribed && current == MemberStatus::kUnsubscribed) {
    status = MemberStatus::kPending;
    w.reconsent = true;
    w.notes.push_back(
        "reconsent: an unsubscribed member is re-subscribed through Mailchimp's "
        "double opt-in (written as pending)");
  }
  w.status = status;
  w.status_if_new = status;
  return w;
}

}  // namespace consentd::mapping::mailchimp
