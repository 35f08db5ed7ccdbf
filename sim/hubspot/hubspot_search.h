// The simulated HubSpot contact search (POST /crm/v3/objects/contacts/search)
// without HTTP: filter groups, one sort, offset paging. hubspot_api.cc
// validates the request and renders the page.
//
// Results and their order are HubSpot's: filter groups are ORed, filters in a
// group ANDed; dates compare as instants, numbers as numbers, else as text;
// without a sort, by id; ties keep id order. A query bounded on
// lastmodifieddate, or sorted by it, reads Model::by_modified(): when the
// bounds are its only filters a page costs O(log N + page) (total by rank),
// otherwise O(log N + matching range); any other query scans every live
// contact.
//
// Pure; reads the model (the simulator's io thread only).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sim/hubspot/hubspot_model.h"

namespace consentd::sim::hubspot {

struct SearchFilter {
  std::string property;
  std::string op;  // EQ, NEQ, GT, GTE, LT, LTE, BETWEEN, IN, NOT_IN, (NOT_)HAS_PROPERTY, ...
  std::string value;
  std::string high;                 // BETWEEN
  std::vector<std::string> values;  // IN, NOT_IN
};

struct SearchQuery {
  std::vector<std::vector<SearchFilter>> groups;  // empty: every live contact
  std::string sort_property;                      // empty: by id
  bool descending = false;
  std::int64_t offset = 0;
  std::int64_t limit = 10;
  // Contacts the index does not hold yet (the search lag); null: none.
  std::function<bool(const Contact&)> hidden;
};

struct SearchPage {
  std::vector<const Contact*> results;
  std::int64_t total = 0;  // all matches, not just this page
};

SearchPage RunSearch(const Model& model, const SearchQuery& query);

}  // namespace consentd::sim::hubspot
