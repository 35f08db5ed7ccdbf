#include "sim/mailchimp/audience.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <limits>
#include <random>
#include <utility>

#include "sim/mailchimp/mc_time.h"
#include "sim/mailchimp/subscriber_hash.h"

namespace consentd::sim::mailchimp {
namespace {

constexpr TimestampMs kDay = 86'400'000;

std::string ShortId(std::string_view salt) { return Md5Hex(salt).substr(0, 10); }

ApiError ComplianceError(const std::string& email) {
  return {400, "Member In Compliance State",
          email +
              " is in a compliance state due to unsubscribe, bounce, or compliance "
              "review and cannot be subscribed.",
          nullptr, "ERROR_GENERIC"};
}

ApiError ForgottenError(const std::string& email) {
  return {400, "Forgotten Email Not Subscribed",
          email +
              " was permanently deleted and cannot be re-imported. The contact must "
              "re-subscribe to get back on the list.",
          nullptr, "ERROR_GENERIC"};
}

ApiError MemberExistsError(const std::string& email) {
  return {400, "Member Exists",
          email + " is already a list member. Use PUT to insert or update list members.", nullptr,
          "ERROR_CONTACT_EXISTS"};
}

bool InCompliance(MemberStatus s) {
  return s == MemberStatus::kUnsubscribed || s == MemberStatus::kCleaned;
}

// The fields a `profile` webhook reports on.
bool SameProfile(const Member& a, const Member& b) {
  return a.merge_fields == b.merge_fields && a.interests == b.interests &&
         a.permissions == b.permissions && a.email_type == b.email_type &&
         a.language == b.language && a.vip == b.vip && a.tags == b.tags && a.location == b.location;
}

}  // namespace

std::string_view StatusName(MemberStatus s) {
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
  return "subscribed";
}

std::optional<MemberStatus> ParseStatus(std::string_view s) {
  for (MemberStatus st :
       {MemberStatus::kSubscribed, MemberStatus::kUnsubscribed, MemberStatus::kCleaned,
        MemberStatus::kPending, MemberStatus::kTransactional, MemberStatus::kArchived}) {
    if (StatusName(st) == s) return st;
  }
  return std::nullopt;
}

std::string_view SourceName(Source s) {
  switch (s) {
    case Source::kUser:
      return "user";
    case Source::kAdmin:
      return "admin";
    case Source::kApi:
      return "api";
  }
  return "api";
}

Audience::Audience(std::string list_id, const Clock& clock, EventSink sink)
    : list_id_(std::move(list_id)), clock_(clock), sink_(std::move(sink)) {
  Reset();
}

void Audience::Reset() {
  date_created_ = clock_.NowMs();
  categories_.clear();
  interests_.clear();
  permissions_.clear();
  members_.clear();
  by_changed_.clear();
  forgotten_.clear();
  confirmations_.clear();
  next_seq_ = 1;
  confirmation_counter_ = 0;
  // A fixed, realistic shape: topics a person can pick and a frequency.
  struct Cat {
    const char* title;
    const char* type;
    std::vector<const char*> names;
  };
  const Cat cats[] = {{"Topics", "checkboxes", {"Newsletter", "Product news", "Events", "Offers"}},
                      {"Frequency", "radio", {"Weekly", "Monthly"}}};
  int cat_order = 0;
  for (const Cat& c : cats) {
    InterestCategory ic{ShortId(list_id_ + ":category:" + c.title), c.title, c.type, cat_order++};
    int order = 0;
    for (const char* name : c.names) {
      interests_.push_back(Interest{ShortId(list_id_ + ":interest:" + name), ic.id, name, order++});
    }
    categories_.push_back(std::move(ic));
  }
  // Mailchimp's standard GDPR fields.
  for (const char* text : {"Email", "Direct Mail", "Customized Online Advertising"}) {
    permissions_.push_back({ShortId(list_id_ + ":permission:" + text), text});
  }
}

std::vector<const Member*> Audience::Members() const {
  std::vector<const Member*> out;
  out.reserve(members_.size());
  for (const auto& [hash, m] : members_) out.push_back(&m);
  std::sort(out.begin(), out.end(),
            [](const Member* a, const Member* b) { return a->seq < b->seq; });
  return out;
}

Member* Audience::FindMutable(std::string_view hash_or_email) {
  auto it = members_.find(std::string(hash_or_email));
  if (it == members_.end()) it = members_.find(LowerAscii(hash_or_email));
  if (it == members_.end() && hash_or_email.find('@') != std::string_view::npos) {
    it = members_.find(SubscriberHash(hash_or_email));
  }
  return it == members_.end() ? nullptr : &it->second;
}

const Member* Audience::Find(std::string_view hash_or_email) const {
  return const_cast<Audience*>(this)->FindMutable(hash_or_email);
}

bool Audience::IsKnownInterest(std::string_view id) const { return FindInterest(id) != nullptr; }

const Interest* Audience::FindInterest(std::string_view id) const {
  for (const Interest& i : interests_) {
    if (i.id == id) return &i;
  }
  return nullptr;
}

bool Audience::IsKnownPermission(std::string_view id) const {
  return std::any_of(permissions_.begin(), permissions_.end(),
                     [&](const MarketingPermissionDef& p) { return p.id == id; });
}

Member& Audience::Create(const std::string& email, Source source) {
  Member m;
  m.email = email;
  m.hash = SubscriberHash(email);
  m.unique_email_id = ShortId("unique:" + m.hash);
  m.seq = next_seq_++;
  m.web_id = 100'000'000 + m.seq;
  for (const Interest& i : interests_) m.interests[i.id] = false;
  for (const MarketingPermissionDef& p : permissions_) m.permissions[p.id] = false;
  m.merge_fields = {{"FNAME", ""}, {"LNAME", ""}};
  m.timestamp_signup = "";
  m.source = source == Source::kApi     ? "API - Generic"
             : source == Source::kAdmin ? "Admin Add"
                                        : "Hosted Signup Form";
  auto [it, inserted] = members_.emplace(m.hash, std::move(m));
  Touch(it->second, it->second.last_changed);
  return it->second;
}

void Audience::Touch(Member& m, TimestampMs when) {
  m.last_changed = when;
  by_changed_.emplace(-when, m.seq, m.hash);
  // Entries of earlier states stay until there are as many as members.
  if (by_changed_.size() > 2 * members_.size() + 1024) ReindexChanged();
}

void Audience::ReindexChanged() {
  by_changed_.clear();
  for (const auto& [hash, m] : members_) by_changed_.emplace(-m.last_changed, m.seq, hash);
}

std::vector<const Member*> Audience::RecentlyChanged(std::size_t offset, std::size_t count) const {
  std::vector<const Member*> out;
  for (const auto& [neg_changed, seq, hash] : by_changed_) {
    if (out.size() >= count) break;
    auto it = members_.find(hash);
    // An entry of an earlier state (or of a member since gone or renamed).
    if (it == members_.end() || it->second.last_changed != -neg_changed || it->second.seq != seq) {
      continue;
    }
    if (offset > 0) {
      --offset;
      continue;
    }
    out.push_back(&it->second);
  }
  return out;
}

std::vector<const Member*> Audience::ChangedBetween(std::optional<TimestampMs> from_ms,
                                                    std::optional<TimestampMs> until_ms,
                                                    std::size_t offset, std::size_t count) const {
  constexpr std::int64_t kFirstSeq = std::numeric_limits<std::int64_t>::min();
  // by_changed_ is newest first, so the window is walked backwards one
  // instant at a time, and each instant forwards (ascending seq): an
  // instant of a bulk import holds thousands of members, of which a page
  // needs offset + count.
  auto end = from_ms ? by_changed_.lower_bound({-*from_ms + 1, kFirstSeq, std::string()})
                     : by_changed_.end();  // entries before `end` changed at from_ms or later
  std::vector<const Member*> out;
  while (end != by_changed_.begin() && out.size() < count) {
    const TimestampMs neg_changed = std::get<0>(*std::prev(end));
    if (until_ms && -neg_changed >= *until_ms) break;
    const auto begin = by_changed_.lower_bound({neg_changed, kFirstSeq, std::string()});
    for (auto it = begin; it != end && out.size() < count; ++it) {
      const auto& [neg, seq, hash] = *it;
      auto m = members_.find(hash);
      // An entry of an earlier state (or of a member since gone or renamed).
      if (m == members_.end() || m->second.last_changed != -neg || m->second.seq != seq) continue;
      if (offset > 0) {
        --offset;
        continue;
      }
      out.push_back(&m->second);
    }
    end = begin;
  }
  return out;
}

void Audience::ApplyFields(Member& m, const MemberUpdate& u) const {
  if (u.email_type) m.email_type = *u.email_type;
  if (u.language) m.language = *u.language;
  if (u.ip_signup) m.ip_signup = *u.ip_signup;
  if (u.ip_opt) m.ip_opt = *u.ip_opt;
  if (u.timestamp_signup) m.timestamp_signup = *u.timestamp_signup;
  if (u.timestamp_opt) m.timestamp_opt = *u.timestamp_opt;
  if (u.merge_fields) {
    for (auto it = u.merge_fields->begin(); it != u.merge_fields->end(); ++it) {
      m.merge_fields[it.key()] = it.value();
    }
  }
  for (const auto& [id, on] : u.interests) m.interests[id] = on;
  for (const auto& [id, on] : u.permissions) m.permissions[id] = on;
  if (u.vip) m.vip = *u.vip;
  if (u.tags) {
    for (const std::string& t : *u.tags) {
      if (std::find(m.tags.begin(), m.tags.end(), t) == m.tags.end()) m.tags.push_back(t);
    }
  }
  if (u.location) m.location = u.location;
}

void Audience::EnterStatus(Member& m, MemberStatus s, Source source) {
  if (s == MemberStatus::kArchived) m.status_before_archive = m.status;
  if (m.status == MemberStatus::kPending) {
    std::erase_if(confirmations_, [&](const auto& kv) { return kv.second.hash == m.hash; });
  }
  m.status = s;
  if (s == MemberStatus::kUnsubscribed) {
    m.unsubscribe_reason = source == Source::kUser ? "N/A (Unsubscribed by the contact)"
                                                   : "N/A (Unsubscribed by an admin)";
  } else if (s != MemberStatus::kArchived) {
    m.unsubscribe_reason.clear();
  }
  if (s == MemberStatus::kPending) {
    ++confirmation_counter_;
    Confirmation c{
        Md5Hex(m.hash + ":confirm:" + std::to_string(confirmation_counter_)).substr(0, 16), m.hash,
        clock_.NowMs()};
    confirmations_[c.token] = c;
  }
}

void Audience::Emit(MemberEvent::Kind kind, Source source, const Member& m, std::string action,
                    std::string reason, std::string old_email, std::string campaign) {
  if (!sink_) return;
  sink_(MemberEvent{kind, source, m, std::move(action), std::move(reason), std::move(old_email),
                    std::move(campaign)});
}

void Audience::EmitChange(const Member& before, const Member& after, Source source, bool created) {
  using K = MemberEvent::Kind;
  if (created) {
    if (after.status == MemberStatus::kSubscribed) Emit(K::kSubscribe, source, after);
    return;
  }
  if (LowerAscii(before.email) != LowerAscii(after.email)) {
    Emit(K::kUpEmail, source, after, "", "", before.email);
  }
  if (before.status != after.status) {
    switch (after.status) {
      case MemberStatus::kSubscribed:
        Emit(K::kSubscribe, source, after);
        break;
      case MemberStatus::kUnsubscribed:
        Emit(K::kUnsubscribe, source, after, "unsub", "manual");
        break;
      case MemberStatus::kCleaned:
        Emit(K::kCleaned, source, after, "", "hard");
        break;
      case MemberStatus::kArchived:
        Emit(K::kUnsubscribe, source, after, "delete", "manual");
        break;
      case MemberStatus::kPending:
      case MemberStatus::kTransactional:
        break;  // Mailchimp sends nothing
    }
    return;
  }
  if (!SameProfile(before, after)) Emit(K::kProfile, source, after);
}

std::variant<Audience::WriteResult, ApiError> Audience::Write(std::string_view hash_or_email,
                                                              const MemberUpdate& u, WriteMode mode,
                                                              Source source) {
  Member* m = nullptr;
  if (!hash_or_email.empty()) {
    m = FindMutable(hash_or_email);
  } else if (u.email_address) {
    m = FindMutable(*u.email_address);
  }
  const TimestampMs now = clock_.NowMs();
  if (m == nullptr) {
    if (mode == WriteMode::kUpdate) return NotFoundError();
    if (!u.email_address)
      return InvalidResource("email_address", "This value should not be blank.");
    const std::string hash = SubscriberHash(*u.email_address);
    if (!hash_or_email.empty() && LowerAscii(hash_or_email) != hash &&
        LowerAscii(hash_or_email) != LowerAscii(*u.email_address)) {
      return InvalidResourceDetail(
          "The subscriber hash in the URL does not match the email_address in the request body.");
    }
    if (forgotten_.count(hash) != 0) return ForgottenError(*u.email_address);
    std::optional<MemberStatus> status =
        mode == WriteMode::kUpsert ? (u.status_if_new ? u.status_if_new : u.status) : u.status;
    if (!status) {
      return InvalidResource(mode == WriteMode::kUpsert ? "status_if_new" : "status",
                             "This value should not be blank.");
    }
    Member& nm = Create(*u.email_address, source);
    ApplyFields(nm, u);
    EnterStatus(nm, *status, source);
    if (*status == MemberStatus::kSubscribed && !u.timestamp_opt) nm.timestamp_opt = FormatIso(now);
    Touch(nm, now);
    EmitChange(nm, nm, source, /*created=*/true);
    return WriteResult{&nm, true};
  }

  if (mode == WriteMode::kCreate && m->status != MemberStatus::kArchived) {
    return MemberExistsError(m->email);
  }
  std::optional<std::string> new_hash;
  if (u.email_address && LowerAscii(*u.email_address) != LowerAscii(m->email)) {
    std::string h = SubscriberHash(*u.email_address);
    if (members_.count(h) != 0) return MemberExistsError(*u.email_address);
    if (forgotten_.count(h) != 0) return ForgottenError(*u.email_address);
    new_hash = std::move(h);
  }
  std::optional<MemberStatus> target = u.status;
  if (!target && m->status == MemberStatus::kArchived && mode == WriteMode::kUpsert) {
    target = u.status_if_new;
  }
  const MemberStatus effective =
      m->status == MemberStatus::kArchived ? m->status_before_archive : m->status;
  if (target == MemberStatus::kSubscribed && effective != MemberStatus::kSubscribed &&
      InCompliance(effective)) {
    return ComplianceError(m->email);
  }

  const Member before = *m;
  ApplyFields(*m, u);
  if (new_hash) {
    const std::string old_hash = m->hash;
    auto node = members_.extract(old_hash);
    node.key() = *new_hash;
    node.mapped().hash = *new_hash;
    node.mapped().email = *u.email_address;
    members_.insert(std::move(node));  // node handles keep the element's address
    for (auto& [token, c] : confirmations_) {
      if (c.hash == old_hash) c.hash = *new_hash;
    }
  } else if (u.email_address) {
    m->email = *u.email_address;  // same address, perhaps other letter case
  }
  if (target && *target != m->status) {
    EnterStatus(*m, *target, source);
    if (*target == MemberStatus::kSubscribed && !u.timestamp_opt) m->timestamp_opt = FormatIso(now);
  }
  if (!(*m == before)) {
    Touch(*m, now);
    EmitChange(before, *m, source, false);
  }
  return WriteResult{m, false};
}

std::optional<ApiError> Audience::SetStatus(std::string_view hash_or_email, MemberStatus status,
                                            Source source, std::string reason,
                                            std::string campaign_id) {
  Member* m = FindMutable(hash_or_email);
  if (m == nullptr) return NotFoundError();
  if (m->status == status) return std::nullopt;
  const Member before = *m;
  EnterStatus(*m, status, source);
  const TimestampMs now = clock_.NowMs();
  if (status == MemberStatus::kSubscribed) m->timestamp_opt = FormatIso(now);
  Touch(*m, now);
  using K = MemberEvent::Kind;
  switch (status) {
    case MemberStatus::kUnsubscribed:
      Emit(K::kUnsubscribe, source, *m, "unsub", reason, "", campaign_id);
      break;
    case MemberStatus::kCleaned:
      Emit(K::kCleaned, source, *m, "", reason == "manual" ? "hard" : reason, "", campaign_id);
      break;
    default:
      EmitChange(before, *m, source, false);
  }
  return std::nullopt;
}

std::optional<ApiError> Audience::Archive(std::string_view hash_or_email, Source source) {
  Member* m = FindMutable(hash_or_email);
  if (m == nullptr) return NotFoundError();
  if (m->status == MemberStatus::kArchived) return std::nullopt;
  const Member before = *m;
  EnterStatus(*m, MemberStatus::kArchived, source);
  Touch(*m, clock_.NowMs());
  EmitChange(before, *m, source, false);
  return std::nullopt;
}

std::optional<ApiError> Audience::DeletePermanent(std::string_view hash_or_email, Source source) {
  Member* m = FindMutable(hash_or_email);
  if (m == nullptr) return NotFoundError();
  Member gone = *m;
  gone.last_changed = clock_.NowMs();
  std::erase_if(confirmations_, [&](const auto& kv) { return kv.second.hash == gone.hash; });
  forgotten_.insert(gone.hash);
  members_.erase(gone.hash);
  Emit(MemberEvent::Kind::kUnsubscribe, source, gone, "delete", "manual");
  return std::nullopt;
}

std::optional<ApiError> Audience::ChangeEmail(std::string_view hash_or_email,
                                              std::string_view new_email, Source source) {
  Member* m = FindMutable(hash_or_email);
  if (m == nullptr) return NotFoundError();
  MemberUpdate u;
  u.email_address = std::string(new_email);
  auto r = Write(m->hash, u, WriteMode::kUpdate, source);
  if (auto* e = std::get_if<ApiError>(&r)) return *e;
  return std::nullopt;
}

std::variant<Confirmation, ApiError> Audience::SignUp(const MemberUpdate& update) {
  if (!update.email_address)
    return InvalidResource("email_address", "This value should not be blank.");
  const std::string hash = SubscriberHash(*update.email_address);
  Member* m = FindMutable(hash);
  const TimestampMs now = clock_.NowMs();
  if (m != nullptr && m->status == MemberStatus::kSubscribed) {
    // Already subscribed: the form only updates the profile.
    MemberUpdate profile = update;
    profile.email_address.reset();
    profile.status.reset();
    auto r = Write(hash, profile, WriteMode::kUpdate, Source::kUser);
    if (auto* e = std::get_if<ApiError>(&r)) return *e;
    return Confirmation{};
  }
  if (m == nullptr) m = &Create(*update.email_address, Source::kUser);
  ApplyFields(*m, update);
  m->timestamp_signup = FormatIso(now);
  EnterStatus(*m, MemberStatus::kPending, Source::kUser);
  Touch(*m, now);
  for (const auto& [token, c] : confirmations_) {
    if (c.hash == m->hash) return c;
  }
  return ApiError{500, "Internal Server Error", "confirmation missing", nullptr, "ERROR_GENERIC"};
}

std::optional<ApiError> Audience::Confirm(std::string_view token_or_email) {
  std::string hash;
  auto it = confirmations_.find(std::string(token_or_email));
  if (it != confirmations_.end()) {
    hash = it->second.hash;
  } else if (const Member* m = Find(token_or_email);
             m != nullptr && m->status == MemberStatus::kPending) {
    hash = m->hash;
  } else {
    return NotFoundError();
  }
  Member* m = FindMutable(hash);
  if (m == nullptr) return NotFoundError();
  const Member before = *m;
  EnterStatus(*m, MemberStatus::kSubscribed, Source::kUser);
  forgotten_.erase(hash);  // a person may always come back through the form
  const TimestampMs now = clock_.NowMs();
  m->timestamp_opt = FormatIso(now);
  Touch(*m, now);
  EmitChange(before, *m, Source::kUser, false);
  return std::nullopt;
}

void Audience::Seed(int count, std::uint64_t seed) {
  static constexpr const char* kFirst[] = {"anna",  "ben",    "clara", "david", "eva", "felix",
                                           "greta", "hannes", "ida",   "jonas", "lea", "max"};
  static constexpr const char* kLast[] = {"schmidt", "mueller",  "weber", "fischer", "wagner",
                                          "becker",  "hoffmann", "koch",  "richter", "wolf"};
  // mt19937_64's output sequence is fixed by the standard (distributions are
  // not), so only raw draws are used: the same seed gives the same members
  // on every platform.
  std::mt19937_64 rng(seed);
  const TimestampMs now = clock_.NowMs();
  for (int i = 0; i < count; ++i) {
    const char* first = kFirst[rng() % std::size(kFirst)];
    const char* last = kLast[rng() % std::size(kLast)];
    char email[128];
    std::snprintf(email, sizeof email, "%s.%s.%llu.%d@example.org", first, last,
                  static_cast<unsigned long long>(seed % 1000), i);
    if (members_.count(SubscriberHash(email)) != 0) continue;
    Member& m = Create(email, Source::kAdmin);
    m.source = "Import";
    std::string fname = first, lname = last;
    fname[0] = static_cast<char>(fname[0] - 'a' + 'A');
    lname[0] = static_cast<char>(lname[0] - 'a' + 'A');
    m.merge_fields = {{"FNAME", fname}, {"LNAME", lname}};
    const std::uint64_t roll = rng() % 100;
    MemberStatus st = roll < 60   ? MemberStatus::kSubscribed
                      : roll < 75 ? MemberStatus::kUnsubscribed
                      : roll < 85 ? MemberStatus::kPending
                      : roll < 90 ? MemberStatus::kCleaned
                      : roll < 95 ? MemberStatus::kArchived
                                  : MemberStatus::kTransactional;
    for (auto& [id, on] : m.interests) on = (rng() & 1) != 0;
    for (auto& [id, on] : m.permissions) on = st == MemberStatus::kSubscribed && (rng() % 4) != 0;
    const TimestampMs changed = (now - static_cast<TimestampMs>(rng() % (30 * kDay))) / 1000 * 1000;
    m.timestamp_signup = FormatIso(changed - static_cast<TimestampMs>(rng() % (300 * kDay)));
    if (st == MemberStatus::kArchived) {
      m.status_before_archive =
          (rng() & 1) != 0 ? MemberStatus::kSubscribed : MemberStatus::kUnsubscribed;
      m.status = st;
    } else {
      EnterStatus(m, st, Source::kUser);
    }
    if (st == MemberStatus::kSubscribed) m.timestamp_opt = m.timestamp_signup;
    Touch(m, changed);
  }
}

}  // namespace consentd::sim::mailchimp
