// Deliver: absolute member state through batch subscribe (POST
// /lists/{id}, members[] <= 500, update_existing) or, for members whose
// write carries marketing permissions (the batch schema has none), PUT
// /members/{hash}; Mailchimp's compliance rules (re-consent through its
// double opt-in; cleaned and forgotten addresses) and erasure.
#include <algorithm>
#include <map>
#include <set>

#include "connectors/mailchimp/connector_impl.h"
#include "connectors/mailchimp/wire_format.h"
#include "core/time_format.h"

namespace consentd::connectors::mailchimp {
namespace {

using mapping::mailchimp::MemberStatus;
using mapping::mailchimp::MemberWrite;
using nlohmann::json;

constexpr char kCompliance[] = "Member In Compliance State";
constexpr char kForgotten[] = "Forgotten Email Not Subscribed";

void Fail(DeliveryResult& r, Status s, std::optional<std::chrono::milliseconds> retry_after = {}) {
  r.error_class = ClassOf(s);
  r.detail = s.message();
  r.status = std::move(s);
  r.retry_after = retry_after;
}

// A write Mailchimp refused with an answer changed nothing there
// (DeliveryResult::known_not_written): a 4xx, or a 503 that is Mailchimp's
// own problem document (down for maintenance, overloaded). Another 5xx, a
// 503 of a proxy in front of it (it may have timed out waiting for a write
// Mailchimp went on to make), or no answer may have come after the member
// was written.
void FailAnswered(DeliveryResult& r, const ApiAnswer& a) {
  Fail(r, a.status, a.retry_after);
  r.known_not_written =
      (a.http_status >= 400 && a.http_status < 500) || (a.http_status == 503 && !a.title.empty());
}

// A refusal of this one member (a per-member error, a compliance state):
// nothing of the write landed.
void FailRefused(DeliveryResult& r, Status s) {
  Fail(r, std::move(s));
  r.known_not_written = true;
}

// A row for an address whose earlier row in the same delivery failed (two
// people sharing it): not written before that one in this delivery; both
// are retried (their retries are not ordered with each other).
void FailAfterEarlierRow(DeliveryResult& r) {
  FailRefused(r,
              Unavailable("mailchimp: an earlier row for the same address failed in this delivery, "
                          "so this one is not written before it (retried)"));
}

Status ForgottenStatus() {
  return BlockedByTarget(
      "mailchimp: the address was permanently deleted (Forgotten Email Not Subscribed); only the "
      "person can re-subscribe through a sign-up form");
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return LowerAscii(haystack).find(needle) != std::string::npos;
}

std::string Joined(const std::vector<std::string>& notes) {
  std::string out;
  for (const std::string& n : notes) out += (out.empty() ? "" : "; ") + n;
  return out;
}

// The key OwnWrites keeps a box (interest or marketing permission) under.
std::string BoxKey(mapping::MailchimpTopicKind kind, const std::string& id) {
  return (kind == mapping::MailchimpTopicKind::kInterest ? "i:" : "p:") + id;
}

// The boxes `w` turns on.
std::vector<std::string> TickedBoxes(const MemberWrite& w) {
  std::vector<std::string> out;
  for (const auto& [id, on] : w.interests) {
    if (on) out.push_back(BoxKey(mapping::MailchimpTopicKind::kInterest, id));
  }
  for (const auto& perm : w.marketing_permissions) {
    if (perm.enabled)
      out.push_back(BoxKey(mapping::MailchimpTopicKind::kMarketingPermission, perm.id));
  }
  return out;
}

// Leaves the box (interest or marketing permission) `id` out of `w`.
void Untick(MemberWrite& w, mapping::MailchimpTopicKind kind, const std::string& id) {
  if (kind == mapping::MailchimpTopicKind::kInterest) {
    w.interests.erase(id);
    return;
  }
  std::erase_if(w.marketing_permissions, [&](const auto& perm) { return perm.id == id; });
}

// The member's value of each mapped interest or marketing permission, as
// a member holding exactly `desired` shows it where `w` writes nothing
// (a topic not asked, or one that flows only from this audience): on only
// for granted or pending.
bool ShowsOnlyWritten(const mapping::MappingSpec& spec, const std::string& system,
                      const SubjectState& desired, const MemberWrite& w,
                      const mapping::mailchimp::Member& answer) {
  if (!w.status || answer.status != *w.status) return false;
  for (const mapping::TopicSpec& t : spec.topics) {
    const auto b = t.bindings.find(system);
    if (b == t.bindings.end()) continue;
    const std::string& id = b->second.mailchimp_id;
    std::optional<bool> written;
    std::optional<bool> shown;
    switch (b->second.mailchimp_kind) {
      case mapping::MailchimpTopicKind::kInterest: {
        if (auto it = w.interests.find(id); it != w.interests.end()) written = it->second;
        auto it = answer.interests.find(id);
        shown = it != answer.interests.end() && it->second;
        break;
      }
      case mapping::MailchimpTopicKind::kMarketingPermission:
        for (const auto& perm : w.marketing_permissions) {
          if (perm.id == id) written = perm.enabled;
        }
        shown = false;
        for (const auto& perm : answer.marketing_permissions) {
          if (perm.id == id) shown = perm.enabled;
        }
        break;
      case mapping::MailchimpTopicKind::kMemberStatus:
        continue;  // the status, compared above
    }
    if (!written) {
      std::string channel;
      for (const std::string& ch : t.channels) {
        if (!spec.NativeChannel(ch, system).empty()) {
          channel = ch;
          break;
        }
      }
      const ConsentRecord* rec = desired.FindConsent({desired.subject, t.name, channel, ""});
      written = rec != nullptr &&
                (rec->status == ConsentStatus::kGranted || rec->status == ConsentStatus::kPending);
    }
    if (*written != *shown) return false;
  }
  return true;
}

}  // namespace

struct MailchimpConnector::Pending {
  const OutboundItem* item = nullptr;
  DeliveryResult* result = nullptr;
  std::string hash;
  SubjectState state;       // desired, with re-consent topics held pending
  MemberWrite write;        // what is sent
  bool reconsent = false;   // the engine asked for a re-consent write
  bool compliance = false;  // Mailchimp answered Member In Compliance State
  bool resolved = false;    // already re-written once after that answer
  bool by_put = false;      // written by PUT (else in a batch subscribe)
  std::string kept_out_note;  // why KeepNewerUnticks left boxes out
  // The boxes it left out: (kind, id), left out of a re-written write too.
  std::vector<std::pair<mapping::MailchimpTopicKind, std::string>> unticked;
  // Re-consent marker for a newer notice (issue #7), as absolute state:
  // tag name -> active, or the merge field's value ("" = none pending).
  std::map<std::string, bool> marker_tags;
  std::optional<std::string> marker_merge_value;
};

namespace {

// The member's re-consent marker from the desired state: a topic listed in
// notice_marker_topics is marked iff one of its consents awaits re-consent.
void SetMarker(const mapping::SystemSpec* system, const DesiredState& d,
               std::map<std::string, bool>& tags, std::optional<std::string>& merge_value) {
  if (system == nullptr || !system->ShowsReconsentMarker() || d.notice_marker_topics.empty()) {
    return;
  }
  std::map<std::string, bool> marked;  // topic -> awaits re-consent
  for (const std::string& topic : d.notice_marker_topics) marked[topic] = false;
  for (const auto& [key, rec] : d.state.consents) {
    auto it = marked.find(key.topic);
    if (it != marked.end() && !rec.reconsent_notice.empty()) it->second = true;
  }
  const mapping::ReconsentMarker& m = system->reconsent_marker;
  if (m.kind == mapping::ReconsentMarkerKind::kTag) {
    // Topics may share a tag: it is active if any of them is marked.
    for (const auto& [topic, on] : marked) tags[m.For(topic)] |= on;
    return;
  }
  std::string value;
  for (const auto& [topic, on] : marked) {
    if (on) value += (value.empty() ? "" : ",") + m.For(topic);
  }
  merge_value = std::move(value);
}

}  // namespace

void MailchimpConnector::TakeOverMemory(const Connector& previous) {
  if (const auto* old = dynamic_cast<const MailchimpConnector*>(&previous)) {
    own_writes_.CopyFrom(old->own_writes_);
  }
}

std::vector<DeliveryResult> MailchimpConnector::Deliver(const std::vector<OutboundItem>& items) {
  std::vector<DeliveryResult> results(items.size());
  std::vector<Pending> pending;
  pending.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const OutboundItem& item = items[i];
    DeliveryResult& r = results[i];
    r.outbox_id = item.outbox_id;
    const DesiredState& d = item.desired;
    if (d.erase) {
      // One after another: erasures are rare, and two touching one member
      // at once (a shared address, a merged person's other members) could
      // meet each other's half-done archive.
      Erase(item, r);
      continue;
    }
    if (d.email.empty()) {
      // PUT and batch subscribe both need the address (the hash must match it).
      FailRefused(r, InvalidArgument("mailchimp: the subject has no e-mail address to write"));
      continue;
    }
    Pending p;
    p.item = &item;
    p.result = &r;
    p.hash = SubscriberHash(d.email);
    r.system_id = p.hash;
    p.state = d.state;
    // Mailchimp's double opt-in is for the member's status: a member that
    // another grant keeps subscribed takes a re-consent topic's interest
    // as it is (the grant is written), and only a member that would not
    // be subscribed otherwise goes through `pending`.
    const bool subscribed_anyway =
        std::any_of(p.state.consents.begin(), p.state.consents.end(), [&](const auto& c) {
          return c.second.status == ConsentStatus::kGranted &&
                 d.reconsent_topics.count(c.first.topic) == 0;
        });
    for (auto& [key, rec] : p.state.consents) {
      if (rec.status == ConsentStatus::kGranted && d.reconsent_topics.count(key.topic) != 0 &&
          !subscribed_anyway) {
        rec.status = ConsentStatus::kPending;  // re-consent through Mailchimp's double opt-in
        p.reconsent = true;
      }
    }
    p.write = mapper_.ToMember(p.state, std::nullopt);
    SetMarker(spec_->FindSystem(settings_.name), d, p.marker_tags, p.marker_merge_value);
    if (p.write.empty() || !p.write.status) {
      r.status = Status::Ok();
      r.detail = "nothing to write: " + Joined(p.write.notes);
      continue;
    }
    pending.push_back(std::move(p));
  }
  KeepNewerUnticks(pending);

  // Batch what the batch schema can carry; one PUT for the rest. Only a
  // member's first row can go in the batch (one batch cannot tell two rows
  // of an address apart, and the batch is written before any PUT): its
  // later rows go by PUT, after it, in their order.
  std::vector<Pending*> batch, after_batch;
  std::set<std::string> seen, failed;
  for (Pending& p : pending) {
    const bool first = seen.insert(p.hash).second;
    if (!p.result->status.ok()) {  // the guard's read failed: retried whole
      failed.insert(p.hash);
      continue;
    }
    if (failed.count(p.hash) != 0) {
      FailAfterEarlierRow(*p.result);
      continue;
    }
    p.by_put = !first || !p.write.marketing_permissions.empty();
    if (!p.by_put) batch.push_back(&p);
    after_batch.push_back(&p);
  }
  const size_t chunk = static_cast<size_t>(max_batch());
  for (size_t start = 0; start < batch.size(); start += chunk) {
    std::vector<Pending*> part(
        batch.begin() + static_cast<std::ptrdiff_t>(start),
        batch.begin() + static_cast<std::ptrdiff_t>(std::min(batch.size(), start + chunk)));
    DeliverBatch(part);
  }
  // Then, members side by side, each row of a member in turn: its PUT,
  // the re-write a compliance answer asks for, its marker tags. A row's
  // compliance re-write lands before the member's next row.
  ForEachMember(after_batch, [this](Pending& p) {
    if (p.by_put) DeliverPut(p);
    if (p.compliance) ResolveCompliance(p);
    // A member left alone (nothing written) gets no marker either: its tags
    // start the journey's automations.
    if (p.result->status.ok() && !p.result->nothing_written && !p.marker_tags.empty()) {
      WriteMarkerTags(p);
    }
  });
  return results;
}

void MailchimpConnector::ForEachMember(const std::vector<Pending*>& rows,
                                       const std::function<void(Pending&)>& fn) {
  // Two rows for one address in one delivery (two people sharing it) are
  // written in their order, as the outbox queued them; after one fails,
  // the member's later rows are not written before it.
  std::vector<std::vector<Pending*>> by_member;
  std::map<std::string_view, std::size_t> index;
  for (Pending* p : rows) {
    auto [it, added] = index.try_emplace(p->hash, by_member.size());
    if (added) by_member.emplace_back();
    by_member[it->second].push_back(p);
  }
  calls_.ForEach(by_member.size(), [&](std::size_t i) {
    bool failed = false;
    for (Pending* p : by_member[i]) {
      if (failed) {
        FailAfterEarlierRow(*p->result);
        continue;
      }
      fn(*p);
      failed = !p->result->status.ok();
    }
  });
}

void MailchimpConnector::NoteWrittenVersion(Pending& p, const json& member) const {
  // Only a member that shows exactly what was written (and nothing of its
  // own, which a read must still decide) is consentd's own echo. A
  // re-consent write (pending for a grant) differs from the canonical state
  // on purpose: its read-back is decided as before.
  if (p.reconsent || p.write.reconsent) return;
  auto pm = ParseMember(member);
  if (!pm.ok() || pm->member.last_changed == 0 || pm->id != p.hash) return;
  if (!ShowsPermissionsIfMapped(member)) return;
  if (!ShowsOnlyWritten(*spec_, settings_.name, p.state, p.write, pm->member)) return;
  const std::string key = MemberVersionKey(*pm, mapped_permissions_);
  if (!key.empty()) p.result->version_id = "poll:" + key;
}

void MailchimpConnector::NoteOwnStatus(const Pending& p, const json& member) {
  if (!p.result->kept_out.empty()) {
    // The member keeps a change of someone else's that consentd has not
    // decided yet (KeepNewerUnticks): its state is not consentd's own. The
    // boxes written are on, and those kept out were on before the person
    // unticked them: until the engine has decided, the next row must find
    // them guarded still.
    std::vector<std::string> boxes = TickedBoxes(p.write);
    for (const auto& [kind, id] : p.unticked) boxes.push_back(BoxKey(kind, id));
    own_writes_.Note(p.hash, false, 0, {}, std::move(boxes));
    return;
  }
  const std::string changed = StringAt(member, "last_changed");
  const std::optional<TimestampMs> at = changed.empty() ? std::nullopt : ParseDateTime(changed);
  auto pm = ParseMember(member);
  own_writes_.Note(p.hash, StringAt(member, "status") == "unsubscribed", at.value_or(0),
                   pm.ok() && pm->id == p.hash && ShowsPermissionsIfMapped(member)
                       ? MemberVersionKey(*pm, mapped_permissions_)
                       : std::string(),
                   TickedBoxes(p.write));
}

void MailchimpConnector::DeliverBatch(std::vector<Pending*>& batch) {
  json members = json::array();
  for (const Pending* p : batch) {
    json m = {{"email_address", p->item->desired.email},
              {"status", std::string(MemberStatusName(*p->write.status))}};
    if (!p->write.interests.empty()) m["interests"] = p->write.interests;
    if (p->marker_merge_value) {
      const mapping::SystemSpec* system = spec_->FindSystem(settings_.name);
      m["merge_fields"] = {{system->reconsent_marker.merge_field, *p->marker_merge_value}};
    }
    members.push_back(std::move(m));
  }
  const json body = {{"members", std::move(members)}, {"update_existing", true}};
  // consentd writes consent, not names: an audience that requires a merge
  // field (FNAME) would refuse every new member it creates otherwise.
  ApiAnswer a = DeliveryCall("POST", ListPath(), {{"skip_merge_validation", "true"}}, &body);
  if (!a.status.ok()) {
    // A 400 for the batch as a whole can come from one member's field:
    // halve it until the bad member fails alone and the others go through
    // (writes are absolute, so resending is safe). Any other refusal
    // (credentials, a missing audience) would fail every half the same way.
    if (a.http_status == 400 && batch.size() > 1) {
      const auto mid = batch.begin() + static_cast<std::ptrdiff_t>(batch.size() / 2);
      std::vector<Pending*> first(batch.begin(), mid);
      std::vector<Pending*> second(mid, batch.end());
      DeliverBatch(first);
      DeliverBatch(second);
      return;
    }
    for (Pending* p : batch) FailAnswered(*p->result, a);
    return;
  }
  std::map<std::string, Pending*> by_hash;
  for (Pending* p : batch) by_hash[p->hash] = p;
  auto find = [&](const json& entry) -> Pending* {
    const std::string email = StringAt(entry, "email_address");
    auto it = by_hash.find(SubscriberHash(email));
    return email.empty() || it == by_hash.end() ? nullptr : it->second;
  };
  std::set<Pending*> answered;
  for (const char* list : {"new_members", "updated_members"}) {
    for (const json& m : ArrayAt(a.body, list)) {
      if (Pending* p = find(m)) {
        answered.insert(p);
        p->result->status = Status::Ok();
        p->result->reconsent = p->reconsent && p->write.status == MemberStatus::kPending;
        p->result->detail = "wrote status " + std::string(MemberStatusName(*p->write.status)) +
                            (p->result->reconsent ? " (re-consent)" : "");
        if (!p->kept_out_note.empty()) p->result->detail += "; " + p->kept_out_note;
        NoteWrittenVersion(*p, m);
        NoteOwnStatus(*p, m);
      }
    }
  }
  for (const json& e : ArrayAt(a.body, "errors")) {
    Pending* p = find(e);
    if (p == nullptr) continue;
    answered.insert(p);
    const std::string message = StringAt(e, "error");
    if (Contains(message, "compliance state")) {
      p->compliance = true;
    } else if (Contains(message, "permanently deleted") || Contains(message, "forgotten")) {
      FailRefused(*p->result, ForgottenStatus());
    } else {
      // Mailchimp's message names the address: only its code and field go on.
      std::string why = StringAt(e, "error_code");
      if (const std::string field = StringAt(e, "field"); !field.empty()) {
        why += (why.empty() ? "field " : ", field ") + field;
      }
      FailRefused(*p->result, InvalidArgument("mailchimp: batch subscribe refused the member" +
                                              (why.empty() ? std::string() : " (" + why + ")")));
    }
  }
  for (Pending* p : batch) {
    if (answered.count(p) == 0) {
      // Absolute state: writing it again is safe.
      Fail(*p->result, Unavailable("mailchimp: the batch answer does not mention the member"));
    }
  }
}

void MailchimpConnector::DeliverPut(Pending& p) {
  const MemberWrite& w = p.write;
  json body = {{"email_address", p.item->desired.email},
               {"status_if_new", std::string(MemberStatusName(*w.status))},
               {"status", std::string(MemberStatusName(*w.status))}};
  if (!w.interests.empty()) body["interests"] = w.interests;
  if (p.marker_merge_value) {
    const mapping::SystemSpec* system = spec_->FindSystem(settings_.name);
    body["merge_fields"] = {{system->reconsent_marker.merge_field, *p.marker_merge_value}};
  }
  if (!w.marketing_permissions.empty()) {
    json perms = json::array();
    for (const auto& perm : w.marketing_permissions) {
      perms.push_back({{"marketing_permission_id", perm.id}, {"enabled", perm.enabled}});
    }
    body["marketing_permissions"] = std::move(perms);
  }
  ApiAnswer a = DeliveryCall("PUT", MemberPath(p.hash), {{"skip_merge_validation", "true"}}, &body);
  DeliveryResult& r = *p.result;
  if (a.status.ok()) {
    r.status = Status::Ok();
    r.reconsent = (w.reconsent || p.reconsent) && w.status == MemberStatus::kPending;
    r.detail = "wrote status " + std::string(MemberStatusName(*w.status)) +
               (r.reconsent ? " (re-consent)" : "");
    if (!p.kept_out_note.empty()) r.detail += "; " + p.kept_out_note;
    NoteWrittenVersion(p, a.body);
    NoteOwnStatus(p, a.body);
    return;
  }
  if (a.title == kCompliance) {
    if (!p.resolved) {
      p.compliance = true;
      return;
    }
    FailRefused(r,
                BlockedByTarget("mailchimp: the member is in a compliance state and refuses even a "
                                "re-confirmation (pending)"));
    return;
  }
  if (a.title == kForgotten) {
    FailRefused(r, ForgottenStatus());
    return;
  }
  FailAnswered(r, a);
}

void MailchimpConnector::ResolveCompliance(Pending& p) {
  p.compliance = false;
  p.resolved = true;
  // Which compliance state: unsubscribed re-consents through pending,
  // cleaned refuses (DESIGN.md rule 7; Mapper::ToMember decides).
  ApiAnswer a = DeliveryCall("GET", MemberPath(p.hash), {{"fields", "status,last_changed"}});
  if (a.status.code() == StatusCode::kNotFound) {
    Fail(*p.result, Unavailable("mailchimp: the member vanished while being written"));
    return;
  }
  if (!a.status.ok()) {
    Fail(*p.result, a.status, a.retry_after);
    return;
  }
  auto current = mapping::mailchimp::ParseMemberStatus(StringAt(a.body, "status"));
  if (!current.ok()) {
    // An answer without a status we know (truncated, a proxy's page) says
    // nothing about the member: tried again, not given up.
    Fail(*p.result, Unavailable("mailchimp: " + current.status().message()));
    return;
  }
  // An archived member keeps the compliance state it was archived in; it can
  // only have been unsubscribed or cleaned, and a cleaned one refuses the
  // pending write below too.
  MemberStatus status = *current;
  if (status == MemberStatus::kArchived) status = MemberStatus::kUnsubscribed;
  MemberWrite w = mapper_.ToMember(p.state, status);
  if (w.blocked_by_target) {
    FailRefused(*p.result,
                BlockedByTarget("mailchimp: the address is cleaned (it bounced) and cannot "
                                "be subscribed again"));
    return;
  }
  if (!w.status || *w.status == MemberStatus::kSubscribed) {
    FailRefused(*p.result, BlockedByTarget("mailchimp: the member is in a compliance state (" +
                                           std::string(MemberStatusName(*current)) +
                                           ") and cannot be subscribed through the API"));
    return;
  }
  // An archived member: its read decides nothing, so nothing would order
  // the archive against the grant; written as before.
  if (*current == MemberStatus::kUnsubscribed && KeepNewerUnsubscribe(p, a.body)) return;
  for (const auto& [kind, id] : p.unticked) Untick(w, kind, id);
  p.write = std::move(w);
  DeliverPut(p);
}

namespace {

// The capture time of the newest reason `state` gives to subscribe: a grant
// (or a pending one), or a block lifted.
TimestampMs NewestReasonToSubscribe(const SubjectState& state) {
  TimestampMs newest = 0;
  for (const auto& [key, rec] : state.consents) {
    if (rec.status == ConsentStatus::kGranted || rec.status == ConsentStatus::kPending) {
      newest = std::max(newest, rec.provenance.occurred_at);
    }
  }
  for (const auto& [scope, block] : state.blocks) {
    if (!block.active) newest = std::max(newest, block.provenance.occurred_at);
  }
  return newest;
}

// Whether a read of `read` (an unsubscribed member) would oppose a grant of
// `desired`: set a block, or withdraw a granted topic. Depends on the
// mapping (blocks carried as `unsubscribed` and the topics that flow from
// Mailchimp, unsubscribe_withdraws_topics).
bool ReadOpposesAGrant(const mapping::MapResult& read, const SubjectState& desired) {
  for (const Change& c : read.changes) {
    if (c.kind == ChangeKind::kBlockSet) return true;
    if (c.kind != ChangeKind::kConsent || c.status != ConsentStatus::kWithdrawn) continue;
    for (const auto& [key, rec] : desired.consents) {
      if (key.topic == c.key.topic && rec.status == ConsentStatus::kGranted) return true;
    }
  }
  return false;
}

}  // namespace

// A member found unsubscribed by someone other than consentd (the person's
// unsubscribe link, a Mailchimp user) after the grant consentd is writing
// was captured, or within the skew window before it, holds a change
// consentd has not decided yet: read, it would win (rule 3: a withdrawal
// wins ties). Re-subscribed through pending, the person would get a
// confirmation request right after unsubscribing, and the read-back would
// show consentd's pending instead of the unsubscribe, which would be lost.
// So nothing is written: the grants are reported kept out, the engine
// forgets writing them and reads the member again, and what the member
// holds is decided (as for HubSpot, hubspot_deliver.cc
// KeepNewerWithdrawals). An unsubscribe consentd wrote itself (a block, a
// withdrawal), which the engine already ordered before the grant, is
// written over as before. The time compared is the instant the engine's
// read of the member counts as (ReadInstant), so both agree on the order.
bool MailchimpConnector::KeepNewerUnsubscribe(Pending& p, const json& member) {
  const std::string changed = StringAt(member, "last_changed");
  const std::optional<TimestampMs> unsubscribed_at =
      changed.empty() ? std::nullopt : ParseDateTime(changed);
  // Without a time nothing can be ordered: written as before.
  if (!unsubscribed_at || own_writes_.IsOwnUnsubscribe(p.hash, *unsubscribed_at)) return false;
  const TimestampMs newest = NewestReasonToSubscribe(p.item->desired.state);
  const auto skew = static_cast<TimestampMs>(spec_->skew_window.count());
  if (ReadInstant(*unsubscribed_at) + skew < newest) return false;
  // Only a change the read would decide against the grant is kept: one the
  // mapping takes nothing from would leave the grant unwritten for good.
  mapping::mailchimp::Member read;
  read.status = MemberStatus::kUnsubscribed;
  read.email_address = p.item->desired.email;
  read.last_changed = ReadInstant(*unsubscribed_at);
  if (!ReadOpposesAGrant(mapper_.FromMember(read), p.item->desired.state)) return false;
  std::vector<std::string> kept_out;
  for (const auto& [key, rec] : p.item->desired.state.consents) {
    if (rec.status == ConsentStatus::kGranted) kept_out.push_back(ConsentKeyString(key));
  }
  // The engine reads the member again only for values kept out; without a
  // grant to keep out (not seen: a subscribe needs one) nothing would.
  if (kept_out.empty()) return false;
  DeliveryResult& r = *p.result;
  r.status = Status::Ok();
  r.reconsent = false;
  r.kept_out = std::move(kept_out);
  r.nothing_written = true;
  r.detail = "the member was " + StringAt(member, "status") + " at " + changed +
             " by someone other than consentd, not before the newest grant (captured at " +
             FormatUtcMillis(newest) +
             ") by more than the skew window (a withdrawal wins ties); read again and decided";
  return true;
}

namespace {

// The grant a box shows is the one Mapper::ToMember writes it from: the
// topic's consent on the audience's e-mail channel, no address.
std::vector<GuardedTick> GuardedTicks(const mapping::MappingSpec& spec,
                                      const mapping::mailchimp::Mapper& mapper,
                                      const std::string& system, const SubjectState& desired,
                                      const MemberWrite& w) {
  std::vector<GuardedTick> out;
  const mapping::SystemSpec* sys = spec.FindSystem(system);
  if (sys == nullptr || w.status != MemberStatus::kSubscribed) return out;
  for (const mapping::TopicSpec& t : spec.topics) {
    if (!mapping::FlowsFrom(t.direction, sys->role)) continue;
    const auto b = t.bindings.find(system);
    if (b == t.bindings.end()) continue;
    const ConsentRecord* rec =
        desired.FindConsent({desired.subject, t.name, mapper.EmailChannel(t), ""});
    if (rec == nullptr || rec->status != ConsentStatus::kGranted) continue;
    const std::string& id = b->second.mailchimp_id;
    bool on = false;
    switch (b->second.mailchimp_kind) {
      case mapping::MailchimpTopicKind::kInterest: {
        const auto it = w.interests.find(id);
        on = it != w.interests.end() && it->second;
        break;
      }
      case mapping::MailchimpTopicKind::kMarketingPermission:
        for (const auto& perm : w.marketing_permissions) on = on || (perm.id == id && perm.enabled);
        break;
      case mapping::MailchimpTopicKind::kMemberStatus:
        break;  // the status: Mailchimp's compliance state guards it
    }
    if (on) out.push_back({b->second.mailchimp_kind, id, rec});
  }
  return out;
}

// Whether `member` shows the box explicitly off.
bool ShowsOff(const mapping::mailchimp::Member& member, const GuardedTick& tick) {
  if (tick.kind == mapping::MailchimpTopicKind::kInterest) {
    const auto it = member.interests.find(tick.id);
    return it != member.interests.end() && !it->second;
  }
  for (const auto& perm : member.marketing_permissions) {
    if (perm.id == tick.id) return !perm.enabled;
  }
  return false;
}

}  // namespace

// Mailchimp keeps an interest (or marketing permission) as the last write
// left it, and every write of consentd carries the person's whole state. A
// box the person unticked at Mailchimp (the preferences page), whose
// webhook was lost or not read yet, would be ticked again by the next row
// for that person (a change in the CRM, a resync), and the withdrawal lost:
// the member's read-back would show consentd's tick. So before a write that
// ticks a box whose changes flow back and that was on there (the person
// ticked it there: the grant is the audience's own; or consentd's last
// write there ticked it or kept it out this way, as far as this process
// remembers: OwnWrites), the linked member is read (GET, one per member),
// and such a box it shows off since the grant's capture (or within the
// skew window before it: a withdrawal wins ties) is left out of the write,
// unless the member is exactly as consentd's own last write left it
// (consentd's own untick was ordered by the engine already). The rest of
// the row is written; the box left out is reported in `kept_out`, so the
// engine forgets writing it, reads the member again and decides. A box
// that was never on there (a grant from elsewhere not yet written there)
// shows off without anyone having unticked it, and is ticked unread: kept
// out, its read would withdraw the grant whenever the member changed for
// another reason. The member's last_changed is its only clock (any change
// to it moves it, whole seconds), so a box unticked long ago on a member
// changed since the grant is left out too, and its read withdraws the
// grant, as a read of that change would have. A member not linked yet (a
// first write, as in an initial sync) is not read: it holds nothing of the
// person's that consentd has not seen. A read that fails retryably fails
// the row (nothing is written blind); a member the read does not find or
// cannot parse, or a read refused for good, leaves the write unguarded
// (the write meets the same answer).
void MailchimpConnector::KeepNewerUnticks(std::vector<Pending>& pending) {
  struct Guarded {
    Pending* p = nullptr;
    std::vector<GuardedTick> ticks;  // pointing into p->state
  };
  std::vector<Guarded> guarded;
  for (Pending& p : pending) {
    if (p.item->desired.system_id.empty()) continue;
    std::vector<GuardedTick> ticks =
        GuardedTicks(*spec_, mapper_, settings_.name, p.state, p.write);
    std::erase_if(ticks, [&](const GuardedTick& tick) {
      return tick.grant->provenance.source_system != settings_.name &&
             !own_writes_.Ticked(p.hash, BoxKey(tick.kind, tick.id));
    });
    if (!ticks.empty()) guarded.push_back({&p, std::move(ticks)});
  }
  // One read per member, side by side: each costs a round trip.
  calls_.ForEach(guarded.size(),
                 [&](std::size_t i) { KeepOutUnticked(*guarded[i].p, guarded[i].ticks); });
}

void MailchimpConnector::KeepOutUnticked(Pending& p, const std::vector<GuardedTick>& ticks) {
  const auto skew = static_cast<TimestampMs>(spec_->skew_window.count());
  ApiAnswer a = DeliveryCall("GET", MemberPath(p.hash), {{"fields", kMemberFields}});
  if (!a.status.ok()) {
    if (a.status.IsRetryable()) {
      Fail(*p.result, a.status, a.retry_after);
      p.result->known_not_written = true;  // only the read was sent
    }
    return;
  }
  auto pm = ParseMember(a.body);
  if (!pm.ok() || pm->member.status != MemberStatus::kSubscribed || pm->member.last_changed == 0 ||
      own_writes_.IsOwnState(p.hash, MemberVersionKey(*pm, mapped_permissions_))) {
    return;
  }
  const TimestampMs changed_at = ReadInstant(pm->member.last_changed);
  for (const GuardedTick& tick : ticks) {
    if (!ShowsOff(pm->member, tick) || changed_at + skew < tick.grant->provenance.occurred_at) {
      continue;
    }
    Untick(p.write, tick.kind, tick.id);
    p.unticked.emplace_back(tick.kind, tick.id);
    p.result->kept_out.push_back(ConsentKeyString(tick.grant->key));
  }
  if (!p.result->kept_out.empty()) {
    p.kept_out_note = std::to_string(p.result->kept_out.size()) +
                      " box(es) not ticked: the member shows them unticked at " +
                      StringAt(a.body, "last_changed") +
                      " by someone other than consentd, not before the grant by more than the "
                      "skew window; read again and decided";
  }
}

void MailchimpConnector::WriteMarkerTags(Pending& p) {
  json tags = json::array();
  for (const auto& [name, active] : p.marker_tags) {
    tags.push_back({{"name", name}, {"status", active ? "active" : "inactive"}});
  }
  // is_syncing false: the journey's tag-triggered automations must fire
  // (that is how it asks the person again).
  const json body = {{"tags", std::move(tags)}, {"is_syncing", false}};
  ApiAnswer a = DeliveryCall("POST", MemberPath(p.hash) + "/tags", {}, &body);
  DeliveryResult& r = *p.result;
  if (a.status.ok()) {
    int on = 0;
    for (const auto& [name, active] : p.marker_tags) on += active ? 1 : 0;
    r.detail += "; re-consent marker tags: " + std::to_string(on) + " active, " +
                std::to_string(p.marker_tags.size() - static_cast<size_t>(on)) + " inactive";
    return;
  }
  // The member is written; the row is retried whole (absolute state).
  Fail(r, a.status, a.retry_after);
}

void MailchimpConnector::Erase(const OutboundItem& item, DeliveryResult& r) {
  const DesiredState& d = item.desired;
  const std::string hash =
      !d.system_id.empty() ? d.system_id : (d.email.empty() ? "" : SubscriberHash(d.email));
  if (hash.empty()) {
    Fail(r, InvalidArgument("mailchimp: erasure without subscriber hash or address"));
    return;
  }
  // The person's other members (after a CRM merge) first: a failure leaves
  // the row to be retried whole, and a member erased before answers 404,
  // which counts as done.
  std::vector<std::string> others;
  for (const std::string& address : d.also_erase) {
    const std::string other = SubscriberHash(address);
    if (other == hash) continue;
    DeliveryResult one;
    EraseMember(other, one);
    if (!one.status.ok()) {
      r.system_id = hash;
      r.error_class = one.error_class;
      r.retry_after = one.retry_after;
      r.detail = "another member of the person: " + one.detail;
      r.status = std::move(one.status);
      return;
    }
    others.push_back(one.detail);
  }
  EraseMember(hash, r);
  if (r.status.ok() && !others.empty()) {
    r.detail += "; " + std::to_string(others.size()) + " other member(s) of the person: " +
                Joined(others);
  }
}

void MailchimpConnector::EraseMember(const std::string& hash, DeliveryResult& r) {
  r.system_id = hash;
  mapping::ErasureMode mode = mapping::ErasureMode::kDelete;  // the loader's default
  if (auto it = spec_->erasure.find(settings_.name); it != spec_->erasure.end()) {
    mode = it->second.mode;
  }
  const bool permanent = mode == mapping::ErasureMode::kDelete;
  ApiAnswer a = permanent ? DeliveryCall("POST", MemberPath(hash) + "/actions/delete-permanent")
                          : DeliveryCall("DELETE", MemberPath(hash));
  if (a.status.ok() || a.status.code() == StatusCode::kNotFound) {
    r.status = Status::Ok();
    r.detail = std::string(permanent ? "deleted permanently" : "archived (restrict)") +
               (a.status.ok() ? "" : "; the member was already gone");
    r.already_gone = !a.status.ok();
    return;
  }
  if (!permanent && a.http_status == 405) {
    ArchiveRefused(hash, r);
    return;
  }
  Fail(r, a.status, a.retry_after);
}

// Mailchimp does not archive a member that is pending, cleaned or already
// archived (405). Which of them it is decides what the restrict erasure does;
// the 405's wording is not relied on.
void MailchimpConnector::ArchiveRefused(const std::string& hash, DeliveryResult& r) {
  ApiAnswer a = DeliveryCall("GET", MemberPath(hash), {{"fields", "status"}});
  if (a.status.code() == StatusCode::kNotFound) {
    r.status = Status::Ok();
    r.detail = "archived (restrict); the member was already gone";
    r.already_gone = true;
    return;
  }
  if (!a.status.ok()) {
    Fail(r, a.status, a.retry_after);
    return;
  }
  const std::string status = StringAt(a.body, "status");
  if (status == "archived") {
    r.status = Status::Ok();
    r.detail = "archived (restrict); the member was already archived";
    r.already_gone = true;
    return;
  }
  if (status == "cleaned") {
    // The address bounced: Mailchimp sends it nothing and keeps it cleaned,
    // which is what restrict asks for (kept, no marketing).
    r.status = Status::Ok();
    r.detail =
        "kept as cleaned (restrict): Mailchimp does not archive a cleaned member, and "
        "sends it nothing";
    return;
  }
  if (status == "pending") {
    // A pending double opt-in could still be confirmed; end it, then archive.
    const json body = {{"status", "unsubscribed"}};
    ApiAnswer end = DeliveryCall("PATCH", MemberPath(hash), {}, &body);
    if (!end.status.ok()) {
      Fail(r, end.status, end.retry_after);
      return;
    }
    ApiAnswer again = DeliveryCall("DELETE", MemberPath(hash));
    if (!again.status.ok()) {
      Fail(r, again.status, again.retry_after);
      return;
    }
    r.status = Status::Ok();
    r.detail = "archived (restrict) after ending its pending double opt-in";
    return;
  }
  if (status.empty()) {
    // The re-read answered without a status: nothing known, tried again.
    Fail(r, Unavailable("mailchimp: the member's re-read after 405 named no status"));
    return;
  }
  Fail(r, FailedPrecondition("mailchimp: the member (status '" + status +
                             "') cannot be archived (405 Method Not Allowed)"));
}

}  // namespace consentd::connectors::mailchimp
