// HubSpot answers written straight into a string (sim/json_writer.h): one
// contact, one subscription status, and the two large pages an initial sync
// reads, the contacts list page and the v4 statuses batch read. The
// nlohmann forms in hubspot_api.cc (ContactToJson, PublicStatusJson) parse
// these, so there is one rendering of each record.
//
// Pure; reads the model (the simulator's io thread only).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/clock.h"
#include "sim/hubspot/hubspot_model.h"
#include "sim/hubspot/hubspot_search.h"
#include "sim/json_writer.h"

namespace consentd::sim::hubspot {

// A contact as contacts v3 returns it: the requested properties (null when
// unset) plus createdate, hs_object_id and lastmodifieddate, or HubSpot's
// default set when none were requested.
void WriteContact(JsonWriter& w, const Contact& c, const std::vector<std::string>& requested);

// A v4 PublicStatus; `subscriber` lower-cased; `reason` (setStatusSuccessReason)
// only when not empty.
void WriteStatus(JsonWriter& w, const Definition& d, const std::string& subscriber,
                 const SubscriptionStatus& s, const std::string& reason);

// GET /crm/v3/objects/contacts: {"results": [...], "paging": {"next":
// {"after": "<next_after>"}}}, paging only when next_after is not 0.
std::string ContactsPageBody(const std::vector<const Contact*>& page,
                             const std::vector<std::string>& requested, std::int64_t next_after);

// POST /crm/v3/objects/contacts/search: {"total": ..., "results": [...],
// "paging": {"next": {"after": "<next_offset>"}}}, paging only when
// next_offset is not 0.
std::string SearchPageBody(const SearchPage& page, const std::vector<std::string>& requested,
                           std::int64_t next_offset);

// POST /communication-preferences/v4/statuses/batch/read: per subscriber
// (as given), every definition of `channel` with its status (NOT_SPECIFIED
// when none was recorded), in the batch envelope stamped `now`.
std::string StatusesBatchReadBody(const Model& model, const std::string& channel,
                                  const std::vector<std::string>& subscribers, TimestampMs now);

}  // namespace consentd::sim::hubspot
