// Poll: pages of items per the `poll:` declaration, each item turned into a
// protocol event (ItemEvent) and mapped like a webhook event.
//
// Two ways of paging, by what the URL template asks for:
// - time windows ({since}/{until}, optionally paged by {cursor} inside a
//   window): the window's upper bound is taken from the caller's clock
//   before the first fetch, and the next window starts `poll_overlap`
//   before it (clock skew, late commits). Items returned twice carry the
//   same event id and the inbox drops them.
// - a server cursor only ({cursor}): the system's own position; the cursor
//   moves to what the system returns and never past items not returned.
// Our cursor (opaque to the daemon) is {"v":1,"since":ms|null,
// "upper":ms|null,"page":"<server cursor>"}.
#include <algorithm>

#include "connectors/generic/generic_impl.h"
#include "core/keyed_hash.h"

namespace consentd::connectors::generic {
namespace {

using nlohmann::json;

struct Cursor {
  std::optional<TimestampMs> since;  // exclusive lower bound of the next window
  std::optional<TimestampMs> upper;  // bound of the window being paged
  std::string page;                  // the system's cursor
};

std::string EncodeCursor(const Cursor& c) {
  json j = {{"v", 1}, {"page", c.page}};
  j["since"] = c.since ? json(*c.since) : json(nullptr);
  j["upper"] = c.upper ? json(*c.upper) : json(nullptr);
  return j.dump();
}

Result<Cursor> DecodeCursor(std::string_view text) {
  Cursor c;
  if (text.empty()) return c;
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("v", 0) != 1) {
    return InvalidArgument("generic poll cursor: not a version 1 cursor");
  }
  for (auto [key, out] : {std::pair{"since", &c.since}, std::pair{"upper", &c.upper}}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_number_integer()) {
      return InvalidArgument(std::string("generic poll cursor: ") + key + " must be an integer");
    }
    *out = it->get<TimestampMs>();
  }
  if (auto it = j.find("page"); it != j.end() && it->is_string()) c.page = it->get<std::string>();
  return c;
}

std::string AsText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Whether the request's URL or one of its header values names one of
// `wanted`: a window's bounds or the cursor may travel in either.
bool RequestUses(const config::GenericRequest& request,
                 std::initializer_list<std::string_view> wanted) {
  auto names_any = [&](const std::string& text) {
    auto names = Placeholders(text);
    if (!names.ok()) return false;
    return std::any_of(names->begin(), names->end(), [&](const std::string& n) {
      return std::find(wanted.begin(), wanted.end(), n) != wanted.end();
    });
  };
  return names_any(request.url) ||
         std::any_of(request.headers.begin(), request.headers.end(),
                     [&](const auto& header) { return names_any(header.second); });
}

bool UsesWindow(const config::GenericRequest& request) {
  return RequestUses(request, {"since", "until", "since_ms", "until_ms"});
}

}  // namespace

json ItemEvent(const std::vector<config::GenericItemField>& fields, const json& item) {
  json e = json::object();
  json subject = json::object();
  json data = json::object();
  for (const config::GenericItemField& f : fields) {
    json v;
    if (!f.pointer.empty()) {
      const json* at = AtPointer(item, f.pointer);
      if (at == nullptr || at->is_null()) continue;
      v = *at;
    } else {
      v = json::parse(f.const_json, nullptr, false);
    }
    if (f.field == "occurred_at" && v.is_number_integer()) {
      v = FormatRfc3339(v.get<TimestampMs>());  // Unix milliseconds
    }
    if (f.field == "system_id" || f.field == "email") {
      subject[f.field == "system_id" ? "id" : "email"] = v.is_string() ? v : json(AsText(v));
    } else if (f.field.starts_with("data/")) {
      data[f.field.substr(5)] = std::move(v);
    } else if (f.field == "id") {
      e["id"] = AsText(v);
    } else {
      e[f.field] = std::move(v);
    }
  }
  if (!e.contains("id")) {
    e["id"] = "poll:" +
              Sha256Hex(item.dump(-1, ' ', false, json::error_handler_t::replace)).substr(0, 32);
  }
  e["subject"] = std::move(subject);
  e["data"] = std::move(data);
  return e;
}

Result<PollPage> GenericConnector::Poll(std::string_view cursor_text, TimestampMs now) {
  if (!decl_.poll.declared) {
    return FailedPrecondition("connector " + settings_.name + " declares no poll");
  }
  auto decoded = DecodeCursor(cursor_text);
  if (!decoded.ok()) return decoded.status();
  Cursor c = std::move(decoded).value();
  const bool window = UsesWindow(decl_.poll.request);

  PollPage page;
  if (window && !c.upper) {
    // A new window: its upper bound is fixed before anything is fetched.
    if (c.since && *c.since >= now) {
      page.next_cursor = EncodeCursor(c);
      return page;
    }
    c.upper = now;
    c.page.clear();
  }
  const TimestampMs since = c.since.value_or(0);
  const TimestampMs until = c.upper.value_or(now);
  TemplateValues v = {{"cursor", c.page},
                      {"since", FormatRfc3339(since)},
                      {"until", FormatRfc3339(until)},
                      {"since_ms", since},
                      {"until_ms", until}};
  Answer a = Send(decl_.poll.request, v, "", "poll", "", false);
  if (!a.status.ok()) return a.status;
  const json* items = AtPointer(a.body, decl_.poll.items_pointer);
  if (items == nullptr || !items->is_array()) {
    return InvalidArgument(settings_.name + " poll: the answer holds no list at \"" +
                           decl_.poll.items_pointer + "\"");
  }
  page.records = RecordsOf(*items, false);

  std::string next;
  if (!decl_.poll.next_cursor_pointer.empty()) {
    if (const json* n = AtPointer(a.body, decl_.poll.next_cursor_pointer)) next = AsText(*n);
  }
  bool more = false;
  if (!decl_.poll.more_pointer.empty()) {
    const json* m = AtPointer(a.body, decl_.poll.more_pointer);
    more = m != nullptr && m->is_boolean() && m->get<bool>();
  } else {
    more = !next.empty() && next != c.page && !items->empty();
  }

  if (more && (next.empty() || next == c.page || !RequestUses(decl_.poll.request, {"cursor"}))) {
    // The next request would be this one again, and so would its answer:
    // a poll that never ends. Refused, so the poll fails visibly (and is
    // tried again later) instead of spinning on one page.
    return InvalidArgument(settings_.name +
                           " poll: the answer says there is more, but the next request would be "
                           "the same (" +
                           (RequestUses(decl_.poll.request, {"cursor"})
                                ? "no new cursor at \"" + decl_.poll.next_cursor_pointer + "\""
                                : std::string("the poll request has no {cursor}")) +
                           ")");
  }
  Cursor n;
  if (more) {
    n.since = c.since;
    n.upper = c.upper;
    n.page = next.empty() ? c.page : next;
    page.more = true;
  } else if (window) {
    // The window is complete; the next one re-reads the overlap.
    n.since = *c.upper - settings_.poll_overlap.count();
  } else {
    n.page = next.empty() ? c.page : next;
  }
  page.next_cursor = EncodeCursor(n);
  return page;
}

}  // namespace consentd::connectors::generic
