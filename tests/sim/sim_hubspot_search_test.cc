// The simulated HubSpot search reads an index ordered by (lastmodifieddate,
// id) instead of scanning and sorting every contact. These tests hold it to
// the plain definition (scan every live contact, keep the matches in id
// order, stable-sort by the sort property), written out below, over a model
// that has gone through creates, updates in the same millisecond, archives,
// merges, GDPR deletes and a save/load.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/clock.h"
#include "sim/hubspot/hubspot_model.h"
#include "sim/hubspot/hubspot_search.h"
#include "sim/hubspot/hubspot_validation.h"

namespace consentd::sim::hubspot {
namespace {

int ReferenceCompare(const std::string& prop, const std::string& a, const std::string& b) {
  if (prop == "lastmodifieddate" || prop == "createdate") {
    auto x = ParseTime(a), y = ParseTime(b);
    if (x && y) return *x < *y ? -1 : *x > *y ? 1 : 0;
  }
  std::int64_t x = 0, y = 0;
  if (ToInt64(nlohmann::json(a), x) && ToInt64(nlohmann::json(b), y)) {
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a.compare(b) < 0 ? -1 : a.compare(b) > 0 ? 1 : 0;
}

bool ReferenceMatches(const Contact& c, const SearchFilter& f) {
  auto it = c.properties.find(f.property);
  const bool has = it != c.properties.end() && !it->second.empty();
  if (f.op == "HAS_PROPERTY") return has;
  if (f.op == "NOT_HAS_PROPERTY") return !has;
  if (!has) return f.op == "NEQ" || f.op == "NOT_IN" || f.op == "NOT_CONTAINS_TOKEN";
  const int c0 = ReferenceCompare(f.property, it->second, f.value);
  if (f.op == "EQ") return c0 == 0;
  if (f.op == "NEQ") return c0 != 0;
  if (f.op == "GT") return c0 > 0;
  if (f.op == "GTE") return c0 >= 0;
  if (f.op == "LT") return c0 < 0;
  if (f.op == "LTE") return c0 <= 0;
  if (f.op == "BETWEEN") return c0 >= 0 && ReferenceCompare(f.property, it->second, f.high) <= 0;
  ADD_FAILURE() << "operator not covered by the reference: " << f.op;
  return false;
}

std::vector<std::int64_t> ReferenceSearch(const Model& m, const SearchQuery& q,
                                          std::int64_t& total) {
  std::vector<const Contact*> hits;
  for (const auto& [id, c] : m.contacts()) {
    if (c.archived) continue;
    bool ok = q.groups.empty();
    for (const auto& g : q.groups) {
      ok = ok || std::all_of(g.begin(), g.end(),
                             [&](const SearchFilter& f) { return ReferenceMatches(c, f); });
    }
    if (ok) hits.push_back(&c);
  }
  if (!q.sort_property.empty()) {
    const std::string& p = q.sort_property;
    std::stable_sort(hits.begin(), hits.end(), [&](const Contact* a, const Contact* b) {
      auto va = a->properties.count(p) ? a->properties.at(p) : "";
      auto vb = b->properties.count(p) ? b->properties.at(p) : "";
      const int c = ReferenceCompare(p, va, vb);
      return q.descending ? c > 0 : c < 0;
    });
  }
  total = static_cast<std::int64_t>(hits.size());
  std::vector<std::int64_t> out;
  for (std::int64_t i = q.offset; i < total && i < q.offset + q.limit; ++i) {
    out.push_back(hits[static_cast<size_t>(i)]->id);
  }
  return out;
}

class SimHubSpotSearch : public ::testing::Test {
 protected:
  static constexpr TimestampMs kStart = 1'767'225'600'000;  // 2026-01-01

  SimHubSpotSearch() : model_(clock_, "consentd_werbesperre") {
    clock_.Set(kStart);
    std::mt19937_64 rng(7);
    const Actor actor;
    std::vector<std::int64_t> ids;
    // Several contacts per millisecond, so ties are common.
    for (int i = 0; i < 400; ++i) {
      if (rng() % 3 == 0) clock_.Advance(static_cast<TimestampMs>(rng() % 4));
      auto c = model_.Create({{"email", "p" + std::to_string(i) + "@example.com"},
                              {"firstname", i % 2 ? "Ada" : "Bo"}},
                             actor);
      ids.push_back(c.value()->id);
    }
    for (int round = 0; round < 600; ++round) {
      if (rng() % 2 == 0) clock_.Advance(static_cast<TimestampMs>(rng() % 3));
      Contact* c = model_.Find(ids[rng() % ids.size()]);
      if (c == nullptr) continue;
      switch (rng() % 20) {
        case 0:
          model_.Archive(*c, actor);
          break;
        case 1:
          model_.GdprDelete(*c, actor);
          break;
        case 2:
          if (Contact* other = model_.Find(ids[rng() % ids.size()]); other && other != c) {
            model_.Merge(*c, *other, actor);
          }
          break;
        case 3:
        case 4:
          model_.UnsubscribeAll("EMAIL", c->properties.at("email"), actor);
          break;
        case 5:
        case 6:
        case 7:
          model_.SetStatus("EMAIL", c->properties.at("email"), 101,
                           rng() % 2 ? "SUBSCRIBED" : "UNSUBSCRIBED", "", "", actor);
          break;
        default:
          model_.Update(*c, {{"consentd_werbesperre", rng() % 2 ? "true" : "false"}}, actor);
      }
    }
    model_.TakeEvents();
  }

  // Every query shape below, at several offsets, against both models.
  void ExpectSameAsReference(const Model& m, SearchQuery q) {
    for (std::int64_t offset : {0, 7, 100, 350}) {
      for (std::int64_t limit : {1, 10, 100}) {
        q.offset = offset;
        q.limit = limit;
        std::int64_t total = 0;
        const std::vector<std::int64_t> want = ReferenceSearch(m, q, total);
        const SearchPage page = RunSearch(m, q);
        std::vector<std::int64_t> got;
        for (const Contact* c : page.results) got.push_back(c->id);
        EXPECT_EQ(got, want) << Describe(q);
        EXPECT_EQ(page.total, total) << Describe(q);
      }
    }
  }

  static std::string Describe(const SearchQuery& q) {
    std::string s = "sort " + q.sort_property + (q.descending ? " DESC" : " ASC");
    for (const auto& g : q.groups) {
      s += " | group:";
      for (const auto& f : g) s += " " + f.property + " " + f.op + " " + f.value + " " + f.high;
    }
    return s + " offset " + std::to_string(q.offset) + " limit " + std::to_string(q.limit);
  }

  static SearchFilter Filter(std::string property, std::string op, std::string value,
                             std::string high = "") {
    return SearchFilter{std::move(property), std::move(op), std::move(value), std::move(high), {}};
  }
  static SearchQuery Query(std::vector<std::vector<SearchFilter>> groups, std::string sort,
                           bool descending = false) {
    SearchQuery q;
    q.groups = std::move(groups);
    q.sort_property = std::move(sort);
    q.descending = descending;
    return q;
  }

  std::vector<SearchQuery> Queries() const {
    // Bounds on times contacts have, so that GT and GTE (LT, LTE) differ.
    auto time_at = [&](size_t num, size_t den) {
      return std::next(model_.by_modified().begin(),
                       static_cast<std::ptrdiff_t>(model_.by_modified().size() * num / den))
          ->first;
    };
    const std::string mid = std::to_string(time_at(1, 3));
    const std::string late = std::to_string(time_at(2, 3));
    const std::string iso = FormatTime(time_at(1, 2));
    std::vector<SearchQuery> out;
    auto lm = [](const char* op, std::string v, std::string high = "") {
      return Filter("lastmodifieddate", op, std::move(v), std::move(high));
    };
    // The poller's window and its same-millisecond keyset read.
    out.push_back(Query({{lm("GTE", mid), lm("LTE", late)}}, "lastmodifieddate"));
    out.push_back(Query({{lm("GT", mid), lm("LTE", late)}}, "lastmodifieddate"));
    // A millisecond shared by several contacts, for the keyset query.
    TimestampMs busy = 0;
    size_t best = 0;
    for (auto it = model_.by_modified().begin(); it != model_.by_modified().end();) {
      auto end = model_.by_modified().upper_bound(Model::ModifiedKey{it->first, INT64_MAX});
      const auto n = static_cast<size_t>(std::distance(it, end));
      if (n > best) {
        best = n;
        busy = it->first;
      }
      it = end;
    }
    EXPECT_GE(best, 3u);
    const auto tied = *model_.by_modified().lower_bound(Model::ModifiedKey{busy, INT64_MIN});
    const std::string ms = std::to_string(busy);
    for (const std::string& after : {std::string("0"), std::to_string(tied.second)}) {
      out.push_back(Query({{lm("EQ", ms), Filter("hs_object_id", "GT", after)}}, "hs_object_id"));
    }
    out.push_back(Query({{lm("EQ", ms)}}, ""));
    // Other bounds, ISO values, sorts and directions.
    out.push_back(Query({{lm("BETWEEN", mid, late)}}, "lastmodifieddate", true));
    out.push_back(Query({{lm("LT", iso)}}, "lastmodifieddate", true));
    out.push_back(Query({{lm("LTE", iso)}}, "email"));
    out.push_back(Query({{lm("GTE", mid)}}, "hs_object_id", true));
    out.push_back(Query({{lm("GTE", mid)}}, "createdate"));
    out.push_back(Query({{lm("GTE", mid)}}, ""));
    out.push_back(Query({}, "lastmodifieddate"));
    out.push_back(Query({}, "lastmodifieddate", true));
    out.push_back(Query({}, ""));
    out.push_back(Query({}, "createdate", true));
    out.push_back(Query({{lm("GT", "not a time")}}, "lastmodifieddate"));
    // Bounds mixed with other filters, and ORed groups.
    out.push_back(Query({{lm("GTE", mid), Filter("consentd_werbesperre", "EQ", "true")}},
                        "lastmodifieddate"));
    out.push_back(Query({{lm("LT", mid)}, {lm("GT", late)}}, "lastmodifieddate"));
    out.push_back(Query({{lm("LT", mid)}, {Filter("firstname", "EQ", "Ada")}}, ""));
    out.push_back(Query({{Filter("createdate", "GTE", mid)}}, "lastmodifieddate", true));
    out.push_back(Query({{lm("GT", late), lm("LT", mid)}}, "lastmodifieddate"));
    return out;
  }

  ManualClock clock_;
  Model model_;
};

TEST_F(SimHubSpotSearch, IndexedSearchReturnsTheFullScanResultsInTheSameOrder) {
  for (const SearchQuery& q : Queries()) ExpectSameAsReference(model_, q);
}

TEST_F(SimHubSpotSearch, IndexIsRebuiltBySaveAndLoad) {
  Model loaded(clock_, "consentd_werbesperre");
  ASSERT_TRUE(loaded.LoadState(model_.SaveState()).ok());
  EXPECT_TRUE(std::equal(loaded.by_modified().begin(), loaded.by_modified().end(),
                         model_.by_modified().begin(), model_.by_modified().end()));
  EXPECT_EQ(loaded.archived_ids(), model_.archived_ids());
  for (const SearchQuery& q : Queries()) ExpectSameAsReference(loaded, q);
}

TEST_F(SimHubSpotSearch, IndexHoldsExactlyTheLiveContactsAtTheirLastModifiedTime) {
  size_t live = 0;
  for (const auto& [id, c] : model_.contacts()) {
    if (c.archived) {
      EXPECT_TRUE(model_.archived_ids().contains(id));
      continue;
    }
    ++live;
    EXPECT_NE(model_.by_modified().find(Model::ModifiedKey{c.updated_at, id}),
              model_.by_modified().end());
    EXPECT_EQ(ParseTime(c.properties.at("lastmodifieddate")), c.updated_at);
  }
  EXPECT_EQ(model_.by_modified().size(), live);
  EXPECT_GT(model_.archived_ids().size(), 0u);
  EXPECT_LT(live, model_.contacts().size());
}

}  // namespace
}  // namespace consentd::sim::hubspot
