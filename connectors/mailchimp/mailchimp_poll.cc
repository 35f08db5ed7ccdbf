// Poll: members ordered by last_changed, read in windows (since, before)
// with keyset paging, so a member that changes while a window is paged
// cannot make another one slip past (docs/connectors-mailchimp.md).
//
// Mailchimp's last_changed has one-second resolution and both filters are
// strict: since_last_changed = S returns members changed after second S,
// before_last_changed = U those changed before second U. A window's upper
// bound U is taken from the caller's clock before the first fetch; the next
// window starts `poll_overlap` before U (clock skew, late commits), and
// what was returned inside the overlap is skipped by key.
#include <algorithm>
#include <charconv>
#include <set>

#include "connectors/mailchimp/connector_impl.h"
#include "connectors/mailchimp/wire_format.h"

namespace consentd::connectors::mailchimp {
namespace {

using nlohmann::json;

// Most keys the cursor remembers for skipping (an optimisation only: a
// record returned twice carries the same event id and the inbox drops it).
constexpr size_t kMaxSeen = 2000;
// Paging by offset inside one crowded second steps back this many places:
// a member of that second that changes meanwhile leaves it and moves the
// ones after it up, which would otherwise skip one member per change. The
// members read twice are in `seen`, or dropped by the version memory.
constexpr std::int64_t kOffsetSlack = 100;

std::int64_t Seconds(TimestampMs ms) { return ms >= 0 ? ms / 1000 : (ms - 999) / 1000; }

struct Cursor {
  std::optional<std::int64_t> since;   // exclusive lower bound (Unix seconds)
  std::optional<std::int64_t> before;  // exclusive upper bound while a window is paged
  std::int64_t offset = 0;             // only inside a second holding > a page of members
  std::vector<std::string> seen;       // "id:second#digest" already returned
};

std::string EncodeCursor(const Cursor& c) {
  json j = {{"v", 1}, {"offset", c.offset}, {"seen", c.seen}};
  j["since"] = c.since ? json(*c.since) : json(nullptr);
  j["before"] = c.before ? json(*c.before) : json(nullptr);
  return j.dump();
}

Result<Cursor> DecodeCursor(std::string_view text) {
  Cursor c;
  if (text.empty()) return c;
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("v") || j["v"] != 1) {
    return InvalidArgument("mailchimp poll cursor: not a version 1 cursor");
  }
  auto bound = [&](const char* key, std::optional<std::int64_t>& out) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return true;
    if (!it->is_number_integer()) return false;
    out = it->get<std::int64_t>();
    return true;
  };
  if (!bound("since", c.since) || !bound("before", c.before)) {
    return InvalidArgument("mailchimp poll cursor: since/before must be integers");
  }
  if (auto it = j.find("offset"); it != j.end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0) {
      return InvalidArgument("mailchimp poll cursor: offset must be a non-negative integer");
    }
    c.offset = it->get<std::int64_t>();
  }
  for (const json& s : ArrayAt(j, "seen")) {
    if (s.is_string()) c.seen.push_back(s.get<std::string>());
  }
  return c;
}

// The second a seen key ("id:second#digest") is about. A cursor stored
// before the version slots came has "id:second:digest".
std::int64_t SecondOfKey(const std::string& key) {
  const size_t a = key.find(':');
  const size_t b = a == std::string::npos ? a : key.find_first_of(":#", a + 1);
  std::int64_t second = 0;
  if (a == std::string::npos || b == std::string::npos) return second;
  std::from_chars(key.data() + a + 1, key.data() + b, second);
  return second;
}

}  // namespace

Result<PollPage> MailchimpConnector::Poll(std::string_view cursor_text, TimestampMs now) {
  auto decoded = DecodeCursor(cursor_text);
  if (!decoded.ok()) return decoded.status();
  Cursor c = std::move(decoded).value();

  PollPage page;
  const std::int64_t now_steady = SteadyNowMs();
  if (!c.before) {
    // A new window: its upper bound is fixed before anything is fetched,
    // on Mailchimp's clock as its earlier answers dated it.
    const std::int64_t upper = Seconds(mailchimp_clock_.On(now));
    if (c.since && *c.since >= upper - 1) {
      page.next_cursor = EncodeCursor(c);  // nothing can lie in (since, upper) yet
      return page;
    }
    c.before = upper;
    c.offset = 0;
  }

  Query q = {{"fields",
              "members.id,members.unique_email_id,members.email_address,"
              "members.status,members.interests,members.marketing_permissions,"
              "members.last_changed"},
             {"count", std::to_string(kPageSize)},
             {"offset", std::to_string(c.offset)},
             {"sort_field", "last_changed"},
             {"sort_dir", "ASC"},
             {"before_last_changed", FormatIso(*c.before * 1000)}};
  if (c.since) q.emplace_back("since_last_changed", FormatIso(*c.since * 1000));
  ApiAnswer a = Call("GET", ListPath() + "/members", q);
  if (!a.status.ok()) return a.status;
  mailchimp_clock_.Learn(now, now_steady, a.date_s, a.received_steady_ms);
  // A 200 without a member list (a proxy's maintenance page, a truncated
  // answer) would read as an empty page, which completes the window and
  // skips every change in it: retried instead.
  if (!a.body.is_object() || !a.body.contains("members") || !a.body["members"].is_array()) {
    return Unavailable("mailchimp poll: the answer holds no member list");
  }
  const json& members = a.body["members"];

  const std::set<std::string> seen(c.seen.begin(), c.seen.end());
  std::vector<std::string> keys;  // of this page, in order
  for (const json& mj : members) {
    auto pm = ParseMember(mj);
    if (pm.ok() && pm->unique_id.empty()) {
      pm = InvalidArgument("member has no unique_email_id");  // no version key
    }
    if (!pm.ok()) {
      InboundRecord bad;
      bad.system_id = StringAt(mj, "id");
      bad.mapped.notes.push_back("skipped: " + pm.status().message());
      // Its place in the order still counts for paging: the second it
      // reports, else that of the member before it.
      const auto changed = ParseDateTime(StringAt(mj, "last_changed"));
      const std::int64_t second = changed         ? Seconds(*changed)
                                  : !keys.empty() ? SecondOfKey(keys.back())
                                                  : c.since.value_or(0) + 1;
      // Named by the opaque id like every key (the event id is kept).
      const std::string unique_id = StringAt(mj, "unique_email_id");
      keys.push_back((unique_id.empty() ? "-" : unique_id) + ":" + std::to_string(second) + "#-");
      bad.event_id = "poll:" + keys.back();
      if (seen.count(keys.back()) == 0) page.records.push_back(std::move(bad));
      continue;
    }
    // Two states within one second get two event ids, the same state read
    // twice gets one.
    const std::string key = MemberVersionKey(*pm, mapped_permissions_);
    keys.push_back(key);
    if (seen.count(key) != 0) continue;
    InboundRecord rec = FromApiMember(*pm, "poll:" + key, pm->member.last_changed);
    // The version in version_id, where its slot counts (sync/
    // version_memory.h); an event id alone is a slot of its own.
    if (pm->member.last_changed != 0) rec.version_id = rec.event_id;
    page.records.push_back(std::move(rec));
  }

  Cursor next;
  const size_t n = members.size();
  if (n < static_cast<size_t>(kPageSize)) {
    // The window is complete. The next one re-reads the overlap: at least
    // 2 s, as the estimate of Mailchimp's now (VendorClock, from a Date
    // header in whole seconds) may run up to a second ahead of it, so the
    // window may have ended inside Mailchimp's current second.
    const std::int64_t overlap_s =
        std::max<std::int64_t>(2, (settings_.poll_overlap.count() + 999) / 1000);
    // Mailchimp dates nothing after its own now: the window ends there at
    // the latest (the first window after a start learns the lead only from
    // its own answer, after its bound was set).
    const std::int64_t end = std::min(*c.before, Seconds(mailchimp_clock_.On(now)));
    next.since = end - overlap_s;
    for (const auto* list : {&c.seen, &keys}) {
      for (const std::string& k : *list) {
        if (SecondOfKey(k) > *next.since) next.seen.push_back(k);
      }
    }
  } else {
    // More in this window. Continue after the last second of the page,
    // re-reading that second from its start (offset 0), so nothing shifts
    // past us when members of the window change meanwhile. Only when the
    // whole page is one second (a bulk import) is an offset needed.
    const std::int64_t last = SecondOfKey(keys.back());
    size_t in_last = 0;
    for (const std::string& k : keys) in_last += SecondOfKey(k) == last ? 1 : 0;
    next.before = c.before;
    next.since = last - 1;
    if (in_last == n) {
      next.offset = (c.since == last - 1 ? c.offset : 0) + static_cast<std::int64_t>(n) -
                    std::min<std::int64_t>(kOffsetSlack, static_cast<std::int64_t>(n) / 2);
    }
    for (const auto* list : {&c.seen, &keys}) {
      for (const std::string& k : *list) {
        if (SecondOfKey(k) >= last) next.seen.push_back(k);
      }
    }
    page.more = true;
  }
  std::sort(next.seen.begin(), next.seen.end());
  next.seen.erase(std::unique(next.seen.begin(), next.seen.end()), next.seen.end());
  if (next.seen.size() > kMaxSeen) next.seen.resize(kMaxSeen);
  page.next_cursor = EncodeCursor(next);
  return page;
}

}  // namespace consentd::connectors::mailchimp
