#include "sim/hubspot/hubspot_search.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "sim/hubspot/hubspot_validation.h"

namespace consentd::sim::hubspot {

namespace {

constexpr TimestampMs kMinMs = std::numeric_limits<TimestampMs>::min();
constexpr TimestampMs kMaxMs = std::numeric_limits<TimestampMs>::max();
constexpr std::int64_t kMinId = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMaxId = std::numeric_limits<std::int64_t>::max();

template <typename T>
int Order(T x, T y) {
  return x < y ? -1 : x > y ? 1 : 0;
}

bool IsInt(const std::string& s, std::int64_t& out) { return ToInt64(nlohmann::json(s), out); }

// HubSpot's comparison of two property values: dates as instants (values
// may be ms or ISO), numbers as numbers, else as text.
int Compare(const std::string& prop, const std::string& a, const std::string& b) {
  if (prop == "lastmodifieddate" || prop == "createdate") {
    auto x = ParseTime(a), y = ParseTime(b);
    if (x && y) return Order(*x, *y);
  }
  std::int64_t x = 0, y = 0;
  if (IsInt(a, x) && IsInt(b, y)) return Order(x, y);
  return Order(a.compare(b), 0);
}

// The parsed instant of a date property; the model keeps it beside the
// string, so matching never re-parses the contact's side.
std::optional<TimestampMs> ContactTime(const Contact& c, const std::string& prop) {
  if (prop == "lastmodifieddate") return c.updated_at;
  if (prop == "createdate") return c.created_at;
  return std::nullopt;
}

// A filter with its operands parsed once per query.
struct Prepared {
  const SearchFilter* f = nullptr;
  std::optional<TimestampMs> value_ms, high_ms;
  bool covered = false;  // implied by the index range: not evaluated
};

int CompareTo(const Contact& c, const std::string& v, const std::string& prop,
              const std::string& operand, const std::optional<TimestampMs>& operand_ms) {
  if (operand_ms) {
    if (auto t = ContactTime(c, prop)) return Order(*t, *operand_ms);
  }
  return Compare(prop, v, operand);
}

bool Matches(const Contact& c, const Prepared& p) {
  const SearchFilter& f = *p.f;
  auto it = c.properties.find(f.property);
  const bool has = it != c.properties.end() && !it->second.empty();
  if (f.op == "HAS_PROPERTY") return has;
  if (f.op == "NOT_HAS_PROPERTY") return !has;
  if (!has) return f.op == "NEQ" || f.op == "NOT_IN" || f.op == "NOT_CONTAINS_TOKEN";
  const std::string& v = it->second;
  auto cmp = [&] { return CompareTo(c, v, f.property, f.value, p.value_ms); };
  if (f.op == "EQ") return cmp() == 0;
  if (f.op == "NEQ") return cmp() != 0;
  if (f.op == "GT") return cmp() > 0;
  if (f.op == "GTE") return cmp() >= 0;
  if (f.op == "LT") return cmp() < 0;
  if (f.op == "LTE") return cmp() <= 0;
  if (f.op == "BETWEEN") {
    return cmp() >= 0 && CompareTo(c, v, f.property, f.high, p.high_ms) <= 0;
  }
  if (f.op == "IN" || f.op == "NOT_IN") {
    bool in = std::any_of(f.values.begin(), f.values.end(),
                          [&](const std::string& x) { return Model::Lower(x) == Model::Lower(v); });
    return f.op == "IN" ? in : !in;
  }
  const bool token = Model::Lower(v).find(Model::Lower(f.value)) != std::string::npos;
  return f.op == "CONTAINS_TOKEN" ? token : !token;
}

// The (lastmodifieddate, id) range of by_modified() a query can be limited
// to. Only a single filter group narrows it (ORed groups would need a union).
struct Range {
  TimestampMs lo = kMinMs, hi = kMaxMs;
  std::int64_t first_id = kMinId;  // within lo, when lo == hi
  bool bounded = false;
  bool empty = false;
};

Range Narrow(std::vector<std::vector<Prepared>>& groups) {
  Range r;
  if (groups.size() != 1) return r;
  for (Prepared& p : groups[0]) {
    const SearchFilter& f = *p.f;
    if (f.property != "lastmodifieddate" || !p.value_ms) continue;
    const TimestampMs v = *p.value_ms;
    if (f.op == "EQ") {
      r.lo = std::max(r.lo, v);
      r.hi = std::min(r.hi, v);
    } else if (f.op == "GT") {
      if (v == kMaxMs) r.empty = true;
      r.lo = std::max(r.lo, v == kMaxMs ? v : v + 1);
    } else if (f.op == "GTE") {
      r.lo = std::max(r.lo, v);
    } else if (f.op == "LT") {
      if (v == kMinMs) r.empty = true;
      r.hi = std::min(r.hi, v == kMinMs ? v : v - 1);
    } else if (f.op == "LTE") {
      r.hi = std::min(r.hi, v);
    } else if (f.op == "BETWEEN" && p.high_ms) {
      r.lo = std::max(r.lo, v);
      r.hi = std::min(r.hi, *p.high_ms);
    } else {
      continue;
    }
    p.covered = true;
    r.bounded = true;
  }
  if (r.lo > r.hi) r.empty = true;
  if (r.bounded && r.lo == r.hi) {
    // Keyset paging within one millisecond (hs_object_id > X): start there.
    for (const Prepared& p : groups[0]) {
      std::int64_t id = 0;
      if (p.f->property != "hs_object_id" || !IsInt(p.f->value, id)) continue;
      if (p.f->op == "GT" && id < kMaxId) r.first_id = std::max(r.first_id, id + 1);
      if (p.f->op == "GTE") r.first_id = std::max(r.first_id, id);
    }
  }
  return r;
}

}  // namespace

SearchPage RunSearch(const Model& model, const SearchQuery& query) {
  std::vector<std::vector<Prepared>> groups;
  for (const auto& g : query.groups) {
    std::vector<Prepared> prepared;
    for (const SearchFilter& f : g) {
      Prepared p;
      p.f = &f;
      if (f.property == "lastmodifieddate" || f.property == "createdate") {
        p.value_ms = ParseTime(f.value);
        p.high_ms = ParseTime(f.high);
      }
      prepared.push_back(p);
    }
    groups.push_back(std::move(prepared));
  }
  const Range range = Narrow(groups);
  auto matches = [&](const Contact& c) {
    if (query.hidden && query.hidden(c)) return false;
    if (groups.empty()) return true;
    return std::any_of(groups.begin(), groups.end(), [&](const std::vector<Prepared>& g) {
      return std::all_of(g.begin(), g.end(),
                         [&](const Prepared& p) { return p.covered || Matches(c, p); });
    });
  };

  SearchPage page;
  if (range.empty) return page;
  const std::string& sort = query.sort_property;
  const bool by_modified = sort == "lastmodifieddate";
  const bool by_id = sort.empty() || (sort == "hs_object_id" && !query.descending);
  const bool use_index = range.bounded || by_modified;
  const auto& index = model.by_modified();
  auto first = index.lower_bound(Model::ModifiedKey{range.lo, range.first_id});
  auto last = index.upper_bound(Model::ModifiedKey{range.hi, kMaxId});
  auto contact = [&](std::int64_t id) -> const Contact& { return model.contacts().at(id); };

  // Streams candidates that already come in the wanted order: counts all
  // matches, keeps those inside the page.
  auto take = [&](const Contact& c) {
    if (!matches(c)) return;
    if (page.total >= query.offset && page.total < query.offset + query.limit) {
      page.results.push_back(&c);
    }
    ++page.total;
  };
  const bool all_covered =
      !query.hidden &&
      std::all_of(groups.begin(), groups.end(), [](const std::vector<Prepared>& g) {
        return std::all_of(g.begin(), g.end(), [](const Prepared& p) { return p.covered; });
      });
  if (use_index && all_covered && groups.size() <= 1 &&
      ((by_modified && !query.descending) || (by_id && range.lo == range.hi))) {
    // Every candidate matches: the total and the page's start come from
    // ranks (O(log N)), and only the page's contacts are looked up.
    const size_t from = first == index.end() ? index.size() : index.order_of_key(*first);
    const size_t to = last == index.end() ? index.size() : index.order_of_key(*last);
    page.total = static_cast<std::int64_t>(to - from);
    if (query.offset >= page.total) return page;
    auto it = index.find_by_order(from + static_cast<size_t>(query.offset));
    for (std::int64_t i = query.offset; i < page.total && i < query.offset + query.limit;
         ++i, ++it) {
      page.results.push_back(&contact(it->second));
    }
    return page;
  }
  if (use_index && by_modified && !query.descending) {
    for (auto it = first; it != last; ++it) take(contact(it->second));
    return page;
  }
  if (use_index && by_modified) {
    // Latest first; within one millisecond by id, as a stable sort leaves them.
    for (auto end = last; end != first;) {
      auto begin = index.lower_bound(Model::ModifiedKey{std::prev(end)->first, kMinId});
      if (begin == index.end() || *begin < *first) begin = first;
      for (auto it = begin; it != end; ++it) take(contact(it->second));
      end = begin;
    }
    return page;
  }
  if (by_id && (!use_index || range.lo == range.hi)) {
    if (use_index) {
      for (auto it = first; it != last; ++it) take(contact(it->second));
    } else {
      for (const auto& [id, c] : model.contacts()) {
        if (!c.archived) take(c);
      }
    }
    return page;
  }

  // Any other order: collect the matches in id order, then a stable sort on
  // keys parsed once per contact.
  std::vector<const Contact*> hits;
  if (use_index) {
    for (auto it = first; it != last; ++it) {
      if (const Contact& c = contact(it->second); matches(c)) hits.push_back(&c);
    }
    std::sort(hits.begin(), hits.end(),
              [](const Contact* a, const Contact* b) { return a->id < b->id; });
  } else {
    for (const auto& [id, c] : model.contacts()) {
      if (!c.archived && matches(c)) hits.push_back(&c);
    }
  }
  if (!sort.empty()) {
    struct Key {
      const Contact* c;
      std::string text;
      std::optional<TimestampMs> ms;
      std::optional<std::int64_t> number;
    };
    std::vector<Key> keys;
    keys.reserve(hits.size());
    const bool date = sort == "createdate";
    for (const Contact* c : hits) {
      auto it = c->properties.find(sort);
      Key k{c, it == c->properties.end() ? std::string() : it->second, std::nullopt, std::nullopt};
      if (date) k.ms = ParseTime(k.text);
      if (std::int64_t n = 0; IsInt(k.text, n)) k.number = n;
      keys.push_back(std::move(k));
    }
    auto compare = [](const Key& a, const Key& b) {
      if (a.ms && b.ms) return Order(*a.ms, *b.ms);
      if (a.number && b.number) return Order(*a.number, *b.number);
      return Order(a.text.compare(b.text), 0);
    };
    std::stable_sort(keys.begin(), keys.end(), [&](const Key& a, const Key& b) {
      const int c = compare(a, b);
      return query.descending ? c > 0 : c < 0;
    });
    for (size_t i = 0; i < keys.size(); ++i) hits[i] = keys[i].c;
  }
  page.total = static_cast<std::int64_t>(hits.size());
  for (std::int64_t i = query.offset; i < page.total && i < query.offset + query.limit; ++i) {
    page.results.push_back(hits[static_cast<size_t>(i)]);
  }
  return page;
}

}  // namespace consentd::sim::hubspot
