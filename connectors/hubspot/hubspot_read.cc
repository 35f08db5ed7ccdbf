// Read (webhook hints -> current state) and Poll (full read, then
// lastmodifieddate search plus a scan of archived contacts).
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <optional>
#include <utility>

#include "connectors/hubspot/hubspot_internal.h"
#include "core/normalise.h"
#include "core/redact.h"

namespace consentd::connectors::hubspot_internal {

namespace hs = mapping::hubspot;

namespace {

std::string PollEventId(const Contact& c) {
  return "poll:" + c.id + ":" + std::to_string(c.last_modified);
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

}  // namespace

hs::SubscriptionStatus StatusFromJson(const json& j) {
  hs::SubscriptionStatus s;
  if (j.contains("subscriptionId")) {
    const json& id = j["subscriptionId"];
    if (id.is_number_integer()) {
      s.subscription_id = id.get<std::int64_t>();
    } else if (id.is_string()) {
      s.subscription_id = std::atoll(id.get<std::string>().c_str());
    }
  }
  auto state = hs::ParseSubscriptionState(StringAt(j, "status", "NOT_SPECIFIED"));
  s.status = state.ok() ? *state : hs::SubscriptionState::kNotSpecified;
  s.channel = StringAt(j, "channel", "EMAIL");
  s.legal_basis = StringAt(j, "legalBasis");
  s.legal_basis_explanation = StringAt(j, "legalBasisExplanation");
  s.timestamp = j.contains("timestamp") ? ParseHubSpotTime(j["timestamp"]).value_or(0) : 0;
  s.source_of_status = StringAt(j, "source");
  return s;
}

std::vector<std::string> HubSpotConnector::ContactProperties() const {
  std::vector<std::string> props = {"email", "lastmodifieddate"};
  // The subscriber on a phone channel is the contact's phone number, for
  // statuses and for unsubscribe-all (a channel block) alike.
  const auto phone_channel = [](const std::string& c) { return c != "EMAIL"; };
  if (std::any_of(status_channels_.begin(), status_channels_.end(), phone_channel) ||
      std::any_of(wide_channels_.begin(), wide_channels_.end(), phone_channel)) {
    props.push_back("mobilephone");
    props.push_back("phone");
  }
  props.insert(props.end(), block_properties_.begin(), block_properties_.end());
  return props;
}

const std::string* HubSpotConnector::ContactBatch::FailureOf(const std::string& input) const {
  if (failed.empty()) return nullptr;
  if (auto it = failed.find(input); it != failed.end()) return &it->second;
  for (const auto& [key, reason] : failed) {  // addresses: HubSpot may echo another case
    if (key.size() == input.size() &&
        std::equal(key.begin(), key.end(), input.begin(), [](unsigned char a, unsigned char b) {
          return std::tolower(a) == std::tolower(b);
        })) {
      return &reason;
    }
  }
  return nullptr;
}

Result<HubSpotConnector::ContactBatch> HubSpotConnector::ReadContacts(
    const std::vector<std::string>& ids, bool by_email,
    std::optional<std::chrono::milliseconds>* retry_after) const {
  ContactBatch out;
  for (size_t start = 0; start < ids.size(); start += kApiBatchLimit) {
    json inputs = json::array();
    for (size_t i = start; i < std::min(ids.size(), start + kApiBatchLimit); ++i) {
      inputs.push_back({{"id", ids[i]}});
    }
    json body = {{"inputs", inputs},
                 {"properties", ContactProperties()},
                 {"propertiesWithHistory", json::array()}};
    if (by_email) body["idProperty"] = "email";
    CallResult r = Call("POST", "/crm/v3/objects/contacts/batch/read", body);
    if (!r.ok()) {
      if (retry_after != nullptr) *retry_after = r.error.retry_after;
      return r.error.status;
    }
    const json& reply = r.reply->body;
    if (!HasResultsList(reply)) {
      return Unavailable("HubSpot contacts batch read: answered without a results list");
    }
    for (const json& c : ArrayAt(reply, "results")) {
      out.found.push_back(ContactFromJson(c));
    }
    // Only OBJECT_NOT_FOUND says a contact is gone; callers act on that
    // (a deletion recorded, an erasure counted as done). Any other error
    // about some inputs (a HubSpot-side failure within a 207) leaves them
    // unknown: `failed`, for the caller to retry rather than guess at.
    for (const json& e : ArrayAt(reply, "errors")) {
      if (!e.is_object()) continue;
      const std::string category = StringAt(e, "category");
      const bool gone = category == "OBJECT_NOT_FOUND";
      const std::string reason =
          "HubSpot contacts batch read: " + (category.empty() ? std::string("error") : category) +
          ": " + MaskEmailsInText(StringAt(e, "message"));
      bool named = false;
      for (const json& id : ArrayAt(ObjectAt(e, "context"), "ids")) {
        if (!id.is_string()) continue;
        named = true;
        if (gone) {
          out.missing.insert(id.get<std::string>());
        } else {
          out.failed.emplace(id.get<std::string>(), reason);
        }
      }
      // A failure that names no input cannot be pinned on one: the whole
      // read failed (its inputs would otherwise be neither found nor gone).
      if (!gone && !named) return Unavailable(reason);
    }
  }
  return out;
}

Result<HubSpotConnector::Preferences> HubSpotConnector::ReadPreferences(
    const std::vector<Contact>& contacts) const {
  Preferences prefs;
  // subscriber (lower-cased, as HubSpot echoes it) -> contact ids, per channel
  auto subscribers = [&](const std::string& channel) {
    std::map<std::string, std::vector<std::string>> out;
    for (const Contact& c : contacts) {
      std::string sub = channel == "EMAIL" ? c.email : c.phone;
      if (sub.empty()) continue;
      std::transform(sub.begin(), sub.end(), sub.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      out[sub].push_back(c.id);
    }
    return out;
  };
  auto batched =
      [&](const std::string& path, const std::string& channel,
          const std::map<std::string, std::vector<std::string>>& subs,
          const std::string& list_field,
          const std::function<void(const std::vector<std::string>&, const json&)>& use) -> Status {
    std::vector<std::string> keys;
    for (const auto& [k, v] : subs) keys.push_back(k);
    for (size_t start = 0; start < keys.size(); start += kApiBatchLimit) {
      json inputs = json::array();
      for (size_t i = start; i < std::min(keys.size(), start + kApiBatchLimit); ++i) {
        inputs.push_back(keys[i]);
      }
      CallResult r = Call("POST", path + "?channel=" + UrlEncode(channel), {{"inputs", inputs}});
      if (!r.ok()) return r.error.status;
      if (!HasResultsList(r.reply->body)) {
        return Unavailable("HubSpot " + path + ": answered without a results list");
      }
      for (const json& res : ArrayAt(r.reply->body, "results")) {
        if (!res.is_object()) continue;
        std::string sub = StringAt(res, "subscriberIdString");
        std::transform(sub.begin(), sub.end(), sub.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        auto it = subs.find(sub);
        if (it == subs.end()) continue;
        // By reference: value() would copy every contact's status list.
        static const json kNone = json::array();
        const auto list = res.find(list_field);
        use(it->second, list == res.end() ? kNone : *list);
      }
      // A 207 failing some subscribers on HubSpot's side leaves their
      // statuses unknown: read as "none", the poll's version memory would
      // take the contact's change as decided and skip it until a resync.
      // Their contacts are not read (`failed`: the daemon reads them again
      // later; whether the whole read failed is judged over all of its
      // inputs, BroadFailure). An input HubSpot refuses for what it is (not
      // an address it knows, not valid) stays without statuses, or a poll
      // would stall on it for ever.
      std::map<std::string, std::string> failing;  // subscriber -> reason
      for (const json& e : ArrayAt(r.reply->body, "errors")) {
        if (!e.is_object()) continue;
        const std::string category = StringAt(e, "category");
        if (category == "OBJECT_NOT_FOUND" || category == "VALIDATION_ERROR") continue;
        const std::string reason = "HubSpot " + path + ": " +
                                   (category.empty() ? std::string("error") : category) + ": " +
                                   MaskEmailsInText(StringAt(e, "message"));
        const json& named = ArrayAt(ObjectAt(e, "context"), "ids");
        bool any_known = false;
        for (const json& id : named) {
          if (!id.is_string()) continue;
          std::string sub = id.get<std::string>();
          std::transform(sub.begin(), sub.end(), sub.begin(),
                         [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
          if (!subs.contains(sub)) continue;
          failing.emplace(std::move(sub), reason);
          any_known = true;
        }
        // An error that names none of the inputs cannot be pinned on one.
        if (!any_known) return Unavailable(reason);
      }
      for (const auto& [sub, reason] : failing) {
        prefs.failing.insert(channel + '\n' + sub);
        for (const std::string& id : subs.at(sub)) prefs.failed.emplace(id, reason);
      }
    }
    return Status::Ok();
  };
  // Inputs asked, for BroadFailure: a channel's subscribers once, though
  // both its reads ask for them.
  std::set<std::string> counted;
  auto count = [&](const std::string& channel,
                   const std::map<std::string, std::vector<std::string>>& subs) {
    if (counted.insert(channel).second) prefs.asked += subs.size();
  };
  for (const std::string& channel : status_channels_) {
    const auto subs = subscribers(channel);
    count(channel, subs);
    Status s = batched("/communication-preferences/v4/statuses/batch/read", channel, subs,
                       "statuses", [&](const std::vector<std::string>& ids, const json& list) {
                         AddStatuses(ids, list, channel, prefs);
                       });
    if (!s.ok()) return s;
  }
  for (const std::string& channel : wide_channels_) {
    const auto subs = subscribers(channel);
    count(channel, subs);
    Status s =
        batched("/communication-preferences/v4/statuses/batch/unsubscribe-all/read", channel, subs,
                "wideStatuses", [&](const std::vector<std::string>& ids, const json& list) {
                  AddWideStatuses(ids, list, channel, prefs);
                });
    if (!s.ok()) return s;
  }
  return prefs;
}

void HubSpotConnector::AddStatuses(const std::vector<std::string>& ids, const json& list,
                                   const std::string& channel, Preferences& prefs) const {
  if (!list.is_array()) return;
  const std::string own_source = OwnStatusSource();
  for (const json& j : list) {
    if (!j.is_object()) continue;
    hs::SubscriptionStatus st = StatusFromJson(j);
    if (st.channel.empty()) st.channel = channel;
    // consentd's own write read back: its explanation, and once learnt the
    // source HubSpot gives consentd's writes (an explanation alone may be
    // one someone else's change kept), as deliveries tell them apart.
    st.written_by_consentd = hs::WriterOfExplanation(st.legal_basis_explanation, st.status) ==
                                 hs::ExplanationWriter::kConsentd &&
                             (own_source.empty() || st.source_of_status == own_source);
    if (!mapped_ids_.contains(st.subscription_id)) {
      // Not mapped: nothing to decide; the mapper says why.
      for (const std::string& note : mapper_.FromStatus(st).notes) {
        for (const auto& id : ids) prefs.notes[id].push_back(note);
      }
      continue;
    }
    for (const auto& id : ids) prefs.statuses[id].push_back(st);
  }
}

void HubSpotConnector::AddWideStatuses(const std::vector<std::string>& ids, const json& list,
                                       const std::string& channel, Preferences& prefs) const {
  if (!list.is_array()) return;
  for (const json& j : list) {
    if (!j.is_object()) continue;
    hs::UnsubscribeAll u;
    u.channel = StringAt(j, "channel", channel);
    const std::string status = StringAt(j, "status");
    u.unsubscribed = status == "UNSUBSCRIBED";
    u.timestamp = j.contains("timestamp") ? ParseHubSpotTime(j["timestamp"]).value_or(0) : 0;
    // Only UNSUBSCRIBED sets the block and only a dated SUBSCRIBED (opted
    // in again) clears it. NOT_SPECIFIED states nothing, dated or not (the
    // spec's example dates it): read as a clearing, it would lift a block
    // set elsewhere since. Never unsubscribed from all: HubSpot states
    // nothing either (an empty list, or SUBSCRIBED at time 0).
    if (!u.unsubscribed && (status != "SUBSCRIBED" || u.timestamp == 0)) continue;
    for (const auto& id : ids) prefs.wide[id].push_back(u);
  }
}

mapping::MapResult HubSpotConnector::MapContact(const Contact& c, const Preferences& prefs,
                                                const std::string& event_id) const {
  mapping::MapResult all;
  auto add = [&all](mapping::MapResult r) {
    for (auto& ch : r.changes) all.changes.push_back(std::move(ch));
    for (auto& n : r.notes) all.notes.push_back(std::move(n));
  };
  if (auto it = prefs.statuses.find(c.id); it != prefs.statuses.end()) {
    for (hs::SubscriptionStatus s : it->second) {
      s.event_id = event_id;
      add(mapper_.FromStatus(s));
    }
  }
  if (auto it = prefs.wide.find(c.id); it != prefs.wide.end()) {
    for (hs::UnsubscribeAll u : it->second) {
      u.event_id = event_id;
      add(mapper_.FromUnsubscribeAll(u));
    }
  }
  if (auto it = prefs.notes.find(c.id); it != prefs.notes.end()) {
    all.notes.insert(all.notes.end(), it->second.begin(), it->second.end());
  }
  for (const std::string& property : block_properties_) {
    auto it = c.properties.find(property);
    // Never set: HubSpot states nothing (a clear dated by an unrelated
    // edit would wrongly beat a block set elsewhere).
    if (it == c.properties.end() || it->second.empty()) continue;
    // HubSpot has no per-property time without history; lastmodifieddate
    // is the latest the value can date from.
    add(mapper_.FromProperty({property, it->second, c.email, c.last_modified, event_id}));
  }
  return all;
}

InboundRecord HubSpotConnector::DeletedRecord(const RecordRef& ref, bool erasure) const {
  InboundRecord rec;
  rec.event_id = ref.event_id;
  rec.system_id = ref.system_id;
  rec.email = ref.email;
  rec.merged_ids = ref.merged_ids;
  Change c;
  c.kind = erasure ? ChangeKind::kErasure : ChangeKind::kTargetDeleted;
  c.provenance.occurred_at = ref.occurred_at;
  c.provenance.source_system = settings_.name;
  c.provenance.source_event_id = ref.event_id;
  c.mapping_hash = mapping_hash_;
  rec.mapped.changes.push_back(std::move(c));
  rec.mapped.notes.push_back(erasure ? "HubSpot erased the contact (GDPR delete)"
                                     : "the contact no longer exists in HubSpot");
  return rec;
}

InboundRecord HubSpotConnector::NotReadRecord(std::string event_id, RecordRef again,
                                              std::string reason) {
  InboundRecord rec;
  rec.event_id = std::move(event_id);
  rec.system_id = again.system_id;
  rec.email = again.email;
  rec.merged_ids = again.merged_ids;
  rec.not_read = std::move(reason);
  again.event_id.clear();
  rec.read_again = std::move(again);
  return rec;
}

bool HubSpotConnector::BroadFailure(std::size_t asked, std::size_t failed) {
  // One input failing is returned not read, as any other: a poll window
  // or hint round holding that contact alone must go on too (the daemon
  // reads it again at its own pace). Two or more, and nine in ten of what
  // was asked or more, is HubSpot failing broadly: the whole read fails
  // and is retried as such, rather than turning every contact into a
  // record to read again.
  return failed >= 2 && failed * 10 >= asked * 9;
}

namespace {

// How a contact read on its own again finds it: by id.
RecordRef ReadAgainRef(const Contact& c) {
  RecordRef ref;
  ref.system_id = c.id;
  if (auto email = NormaliseEmail(c.email); email.ok()) ref.email = *email;
  ref.hint = RecordHint::kChanged;
  return ref;
}

InboundRecord LiveRecord(const Contact& c, std::string event_id) {
  InboundRecord rec;
  rec.event_id = std::move(event_id);
  rec.system_id = c.id;
  if (auto email = NormaliseEmail(c.email); email.ok()) {
    rec.email = *email;
  } else if (!c.email.empty()) {
    rec.mapped.notes.push_back("the contact's e-mail address is not usable: " +
                               email.status().message());
  }
  return rec;
}

}  // namespace

// --- MapRecordPayload (consentctl map) ------------------------------------------
//
// {"contact": <CRM contacts v3 object>,
//  "statuses": <GET /communication-preferences/v4/statuses/{subscriber}>,
//  "wideStatuses": <GET .../statuses/{subscriber}/unsubscribe-all>}  (optional)
// Each of the last two may also be given as its bare `results` array.

namespace {

// The `results` of a v4 answer, or the array itself; nullopt otherwise.
std::optional<json> ResultsOf(const json& j) {
  if (j.is_array()) return j;
  if (j.is_object() && j.contains("results") && j["results"].is_array()) return j["results"];
  return std::nullopt;
}

}  // namespace

Result<std::vector<InboundRecord>> HubSpotConnector::MapRecordPayload(std::string_view text) const {
  const json payload = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (payload.is_discarded()) return InvalidArgument("not JSON");
  try {
    return MapRecordPayloadImpl(payload);
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("a field of an unexpected type: ") + e.what());
  }
}

Result<std::vector<InboundRecord>> HubSpotConnector::MapRecordPayloadImpl(
    const json& payload) const {
  if (!payload.is_object() || !payload.contains("contact")) {
    return InvalidArgument(
        "expected a HubSpot record {\"contact\": {...}, \"statuses\": {\"results\": [...]}}");
  }
  const json& cj = payload["contact"];
  if (!cj.is_object() || !cj.contains("properties") || !cj["properties"].is_object()) {
    return InvalidArgument("\"contact\" is not a CRM contact object (no \"properties\")");
  }
  const Contact c = ContactFromJson(cj);
  if (c.id.empty()) return InvalidArgument("\"contact\" has no \"id\"");
  Preferences prefs;
  for (const auto& [key, wide] : {std::pair{"statuses", false}, std::pair{"wideStatuses", true}}) {
    if (!payload.contains(key)) continue;
    std::optional<json> list = ResultsOf(payload[key]);
    if (!list) return InvalidArgument(std::string("\"") + key + "\" has no \"results\" array");
    // Each status names its channel; a batch read would ask per channel.
    if (wide) {
      AddWideStatuses({c.id}, *list, "EMAIL", prefs);
    } else {
      AddStatuses({c.id}, *list, "EMAIL", prefs);
    }
  }
  InboundRecord rec = LiveRecord(c, "payload:" + c.id);
  mapping::MapResult m = MapContact(c, prefs, rec.event_id);
  rec.mapped.changes = std::move(m.changes);
  rec.mapped.notes.insert(rec.mapped.notes.end(), m.notes.begin(), m.notes.end());
  if (!payload.contains("statuses")) {
    rec.mapped.notes.push_back(
        "no \"statuses\": subscription statuses are not part of the payload");
  }
  return std::vector<InboundRecord>{std::move(rec)};
}

Result<std::vector<InboundRecord>> HubSpotConnector::RecordsForContacts(
    const std::vector<Contact>& contacts, const std::vector<std::string>& event_ids) const {
  Result<Preferences> prefs = ReadPreferences(contacts);
  if (!prefs.ok()) return prefs.status();
  if (BroadFailure(prefs->asked, prefs->failing.size())) {
    return Unavailable(prefs->failed.begin()->second);
  }
  std::vector<InboundRecord> out;
  for (size_t i = 0; i < contacts.size(); ++i) {
    if (auto failed = prefs->failed.find(contacts[i].id); failed != prefs->failed.end()) {
      out.push_back(NotReadRecord(event_ids[i], ReadAgainRef(contacts[i]), failed->second));
      continue;
    }
    InboundRecord rec = LiveRecord(contacts[i], event_ids[i]);
    mapping::MapResult m = MapContact(contacts[i], *prefs, rec.event_id);
    rec.mapped.changes = std::move(m.changes);
    rec.mapped.notes.insert(rec.mapped.notes.end(), m.notes.begin(), m.notes.end());
    out.push_back(std::move(rec));
  }
  return out;
}

Result<std::vector<InboundRecord>> HubSpotConnector::Read(const std::vector<RecordRef>& refs) {
  try {
    return ReadImpl(refs);
  } catch (const json::exception& e) {
    return Unavailable(std::string("HubSpot read: unexpected answer: ") + e.what());
  }
}

Result<std::vector<InboundRecord>> HubSpotConnector::ReadImpl(const std::vector<RecordRef>& refs) {
  std::vector<std::string> ids;
  std::vector<std::string> emails;
  for (const RecordRef& ref : refs) {
    if (ref.hint == RecordHint::kPrivacyDeletion) continue;  // gone: nothing to read
    auto& list = ref.system_id.empty() ? emails : ids;
    const std::string& key = ref.system_id.empty() ? ref.email : ref.system_id;
    if (!key.empty() && std::find(list.begin(), list.end(), key) == list.end()) {
      list.push_back(key);
    }
  }
  ContactBatch by_id, by_email;
  if (!ids.empty()) {
    auto r = ReadContacts(ids, false);
    if (!r.ok()) return r.status();
    by_id = std::move(*r);
  }
  if (!emails.empty()) {
    auto r = ReadContacts(emails, true);
    if (!r.ok()) return r.status();
    by_email = std::move(*r);
  }
  // A record HubSpot could not answer for is not read (InboundRecord::
  // not_read: the daemon reads it again later): dropped, its change would
  // be lost. When HubSpot failed most of several (BroadFailure), the whole
  // read failed and is retried as such (the hints stay in the inbox).
  const std::size_t failed = by_id.failed.size() + by_email.failed.size();
  if (BroadFailure(ids.size() + emails.size(), failed)) {
    return Unavailable((by_id.failed.empty() ? by_email : by_id).failed.begin()->second);
  }
  std::vector<Contact> all = by_id.found;
  all.insert(all.end(), by_email.found.begin(), by_email.found.end());
  Result<Preferences> prefs = ReadPreferences(all);
  if (!prefs.ok()) return prefs.status();
  if (BroadFailure(prefs->asked, prefs->failing.size())) {
    return Unavailable(prefs->failed.begin()->second);
  }

  // A merged-away id resolves to the surviving contact, which then answers
  // under its own id. With exactly one such pair in the batch they are
  // matched; otherwise the unresolved ref is dropped (the merge event names
  // the survivor anyway).
  std::set<std::string> requested(ids.begin(), ids.end());
  std::vector<const Contact*> unexpected;
  for (const Contact& c : by_id.found) {
    if (!requested.contains(c.id)) unexpected.push_back(&c);
  }
  auto find_id = [&](const std::string& id) -> const Contact* {
    for (const Contact& c : by_id.found) {
      if (c.id == id) return &c;
    }
    return nullptr;
  };
  std::vector<const RecordRef*> unresolved;
  for (const RecordRef& ref : refs) {
    if (ref.hint == RecordHint::kPrivacyDeletion) continue;
    if (!ref.system_id.empty() && !find_id(ref.system_id) &&
        !by_id.missing.contains(ref.system_id) && by_id.FailureOf(ref.system_id) == nullptr) {
      unresolved.push_back(&ref);
    }
  }
  const bool pair = unresolved.size() == 1 && unexpected.size() == 1;

  std::vector<InboundRecord> out;
  for (const RecordRef& ref : refs) {
    if (ref.hint == RecordHint::kPrivacyDeletion) {
      out.push_back(DeletedRecord(ref, true));
      continue;
    }
    const Contact* c = nullptr;
    bool merged_away = false;
    if (!ref.system_id.empty()) {
      c = find_id(ref.system_id);
      if (!c && pair && unresolved.front() == &ref) {
        c = unexpected.front();
        merged_away = true;
      }
    } else {
      for (const Contact& e : by_email.found) {
        if (EmailMatchKey(e.email) == EmailMatchKey(ref.email)) c = &e;
      }
    }
    const std::string* failure = c != nullptr
                                     ? nullptr
                                     : (ref.system_id.empty() ? by_email.FailureOf(ref.email)
                                                              : by_id.FailureOf(ref.system_id));
    if (failure != nullptr) {
      out.push_back(NotReadRecord(ref.event_id, ref, *failure));
      continue;
    }
    if (c != nullptr) {
      if (auto f = prefs->failed.find(c->id); f != prefs->failed.end()) {
        RecordRef again = ReadAgainRef(*c);
        again.hint = ref.hint;
        again.merged_ids = ref.merged_ids;
        if (merged_away) again.merged_ids.push_back(ref.system_id);
        out.push_back(NotReadRecord(ref.event_id, std::move(again), f->second));
        continue;
      }
    }
    if (c == nullptr) {
      const bool missing =
          ref.system_id.empty() ? !ref.email.empty() : by_id.missing.contains(ref.system_id);
      if (missing || ref.hint == RecordHint::kDeleted) out.push_back(DeletedRecord(ref, false));
      continue;  // neither found nor reported missing: dropped
    }
    InboundRecord rec = LiveRecord(*c, ref.event_id);
    rec.version_id = PollEventId(*c);
    rec.merged_ids = ref.merged_ids;
    if (merged_away) rec.merged_ids.push_back(ref.system_id);
    mapping::MapResult m = MapContact(*c, *prefs, ref.event_id);
    rec.mapped.changes = std::move(m.changes);
    rec.mapped.notes.insert(rec.mapped.notes.end(), m.notes.begin(), m.notes.end());
    out.push_back(std::move(rec));
  }
  return out;
}

// --- Poll -------------------------------------------------------------------------
//
// Cursor (JSON): {"v":1,"phase":"full","after":ID,"started":MS} during the
// initial full read; then {"v":1,"phase":"incr","lower":MS,"strict":B,
// "tie_id":ID,"arch_after":ID,"arch_mark":MS,"arch_cycle":MS}. See
// docs/connectors-hubspot.md.

Result<PollPage> HubSpotConnector::Poll(std::string_view cursor_text, TimestampMs now) {
  json cursor = json::object();
  try {
    if (!cursor_text.empty()) {
      cursor = json::parse(cursor_text, nullptr, false);
      if (!cursor.is_object() || cursor.value("v", 0) != 1) {
        return InvalidArgument("HubSpot poll cursor is not a consentd HubSpot cursor (v1)");
      }
    }
    if (cursor.value("phase", "full") == "full") return PollFull(std::move(cursor), now);
    if (!cursor.contains("lower") || !cursor["lower"].is_number_integer()) {
      return InvalidArgument("HubSpot poll cursor: an incremental cursor needs 'lower'");
    }
    return PollIncremental(std::move(cursor), now);
  } catch (const json::exception& e) {
    // Answers are read with tolerant accessors, so what still throws is
    // most likely an answer of an unexpected shape: retryable, as the
    // docs' error table says (a permanent error would also end a full
    // reconciliation at this page). The cursor is consentd's own.
    return Unavailable(std::string("HubSpot poll: unexpected JSON in the cursor or answer: ") +
                       e.what());
  }
}

void HubSpotConnector::LearnClockLead(TimestampMs now, std::int64_t now_steady,
                                      const CallResult& answer) {
  if (!answer.ok()) return;
  hubspot_clock_.Learn(now, now_steady, answer.date_s, answer.received_steady_ms);
}

Result<PollPage> HubSpotConnector::PollFull(json cursor, TimestampMs now) {
  const std::int64_t now_steady = SteadyNowMs();
  const std::string after = cursor.value("after", "");
  std::string path = "/crm/v3/objects/contacts?limit=" + std::to_string(kListPageSize) +
                     "&archived=false&properties=" + UrlEncode(Join(ContactProperties()));
  if (!after.empty()) path += "&after=" + UrlEncode(after);
  CallResult r = Call("GET", path, nullptr);
  LearnClockLead(now, now_steady, r);
  // When the full read began, on HubSpot's clock (its first answer dates it).
  const TimestampMs started = cursor.value("started", OnHubSpotClock(now));
  if (!r.ok()) return r.error.status;
  const json& body = r.reply->body;
  if (!HasResultsList(body))
    return Unavailable("HubSpot contacts list: answered without a results list");
  std::vector<Contact> contacts;
  std::vector<std::string> event_ids;
  for (const json& j : ArrayAt(body, "results")) {
    contacts.push_back(ContactFromJson(j));
    event_ids.push_back(PollEventId(contacts.back()));
  }
  auto records = RecordsForContacts(contacts, event_ids);
  if (!records.ok()) return records.status();
  PollPage page;
  page.records = std::move(*records);
  std::string next;
  if (body.contains("paging") && body["paging"].is_object()) {
    next = StringAt(ObjectAt(ObjectAt(body, "paging"), "next"), "after");
  }
  const TimestampMs from = started - settings_.poll_overlap.count();
  if (!next.empty()) {
    page.next_cursor =
        json{{"v", 1}, {"phase", "full"}, {"after", next}, {"started", started}}.dump();
    page.more = true;
  } else {
    // Everything changed since the full read began is found by the search;
    // archivals from then on by the archived scan.
    page.next_cursor =
        json{{"v", 1},       {"phase", "incr"},  {"lower", from},     {"strict", false},
             {"tie_id", ""}, {"arch_after", ""}, {"arch_mark", from}, {"arch_cycle", started}}
            .dump();
  }
  return page;
}

Result<PollPage> HubSpotConnector::PollIncremental(json cursor, TimestampMs now) {
  // The upper bound is taken before the fetch: what changes while we page
  // is newer than it and found by a later query. On HubSpot's clock, as
  // the poll's earlier answers dated it (and again below, from this
  // window's own answer: the first window after a start has no lead yet).
  const std::int64_t now_steady = SteadyNowMs();
  TimestampMs upper = OnHubSpotClock(now);
  const TimestampMs lower = cursor.at("lower").get<TimestampMs>();
  const bool strict = cursor.value("strict", false);
  const std::string tie_id = cursor.value("tie_id", "");
  auto filter = [](const char* property, const char* op, const std::string& value) {
    return json{{"propertyName", property}, {"operator", op}, {"value", value}};
  };
  json filters, sort;
  if (!tie_id.empty()) {
    // More than a page modified in one millisecond: read that millisecond
    // by contact id (keyset), which no concurrent change can shift.
    filters = json::array({filter("lastmodifieddate", "EQ", std::to_string(lower)),
                           filter("hs_object_id", "GT", tie_id)});
    sort = {{"propertyName", "hs_object_id"}, {"direction", "ASCENDING"}};
  } else {
    filters = json::array({filter("lastmodifieddate", strict ? "GT" : "GTE", std::to_string(lower)),
                           filter("lastmodifieddate", "LTE", std::to_string(upper))});
    sort = {{"propertyName", "lastmodifieddate"}, {"direction", "ASCENDING"}};
  }
  // No `after`: the lower bound moves instead, so a query never pages past
  // HubSpot's 10 000-result cap and offsets never shift under us.
  json body = {{"filterGroups", json::array({{{"filters", filters}}})},
               {"sorts", json::array({sort})},
               {"properties", ContactProperties()},
               {"limit", kSearchPageSize},
               {"after", "0"}};
  CallResult r = Call("POST", "/crm/v3/objects/contacts/search", body);
  LearnClockLead(now, now_steady, r);
  if (!r.ok()) return r.error.status;
  // HubSpot dates nothing after its own now: the window may end there.
  upper = std::min(upper, OnHubSpotClock(now));
  now = upper;
  if (!HasResultsList(r.reply->body)) {
    return Unavailable("HubSpot contacts search: answered without a results list");
  }
  // Contacts the previous page returned at `lower` come again (the bound
  // moved to their millisecond): the same id at the same lastmodifieddate is
  // the same version, so it is not read (preferences) or decided again.
  std::set<std::string> seen;
  for (const json& id : cursor.value("seen", json::array())) {
    if (id.is_string()) seen.insert(id.get<std::string>());
  }
  std::vector<Contact> contacts;  // as returned, for paging
  std::vector<Contact> fresh;
  std::vector<std::string> event_ids;
  for (const json& j : ArrayAt(r.reply->body, "results")) {
    contacts.push_back(ContactFromJson(j));
    const Contact& c = contacts.back();
    if (c.last_modified == lower && seen.contains(c.id)) continue;
    fresh.push_back(c);
    event_ids.push_back(PollEventId(c));
  }
  auto records = RecordsForContacts(fresh, event_ids);
  if (!records.ok()) return records.status();
  PollPage page;
  page.records = std::move(*records);
  // The search index lags: a contact archived a moment ago may still be
  // listed (its statuses, read by address, do not tell).
  for (InboundRecord& rec : page.records) rec.found_in_lagging_index = true;
  const bool full = static_cast<int>(contacts.size()) >= kSearchPageSize;
  page.more = true;
  // HubSpot's search index lags behind writes. A page queried at `upper`
  // may lack a change made after upper - overlap that sorts before the
  // last time the page returned; the next window must read again from the
  // earliest such time of any page of this window ("rescan"), not only
  // from the last page's: the bound has moved past the earlier pages. A
  // page still working through a backlog (its last time is older than
  // upper - overlap) can lack nothing of its range and adds no rescan.
  const TimestampMs overlap_from = std::max(lower, upper - settings_.poll_overlap.count());
  auto note_rescan = [&](TimestampMs last_returned) {
    if (overlap_from > last_returned) return;
    const json earlier = cursor.value("rescan", json());
    if (!earlier.is_number_integer() || overlap_from < earlier.get<TimestampMs>()) {
      cursor["rescan"] = overlap_from;
    }
  };
  auto seen_at = [&](TimestampMs at, json ids) {
    for (const Contact& c : contacts) {
      if (c.last_modified == at) ids.push_back(c.id);
    }
    return ids;
  };
  if (!tie_id.empty()) {
    note_rescan(lower);  // the page read the millisecond `lower`
    if (full) {
      cursor["tie_id"] = contacts.back().id;
    } else {
      cursor["tie_id"] = "";
      cursor["strict"] = true;  // that millisecond is done
      cursor.erase("seen");
    }
  } else if (full) {
    // Move the lower bound to the last time seen: the page's last contacts
    // come again and are skipped by `seen`. A page that is all one
    // millisecond switches to reading that millisecond by id.
    const TimestampMs last = contacts.back().last_modified;
    note_rescan(last);
    if (last > lower) {
      cursor["lower"] = last;
      cursor["strict"] = false;
      cursor["seen"] = seen_at(last, json::array());
    } else {
      cursor["tie_id"] = "0";
      cursor["seen"] = seen_at(lower, cursor.value("seen", json::array()));
    }
  } else {
    // Window complete up to `upper`; the overlap covers the search index
    // lagging behind writes, for this page and the window's earlier ones.
    TimestampMs next_lower = overlap_from;
    if (const json rescan = cursor.value("rescan", json()); rescan.is_number_integer()) {
      next_lower = std::min(next_lower, rescan.get<TimestampMs>());
    }
    cursor["lower"] = next_lower;
    cursor["strict"] = false;
    cursor.erase("seen");  // the overlap re-reads on purpose (index lag)
    cursor.erase("rescan");
    page.more = false;
    if (Status s = PollArchived(cursor, now, page.records); !s.ok()) return s;
  }
  page.next_cursor = cursor.dump();
  return page;
}

// Archiving does not touch lastmodifieddate, so the search never sees it.
// One page of the archived list per completed search window; a contact
// archived since the previous full pass over that list started (minus the
// overlap) is reported as deleted.
Status HubSpotConnector::PollArchived(json& cursor, TimestampMs now,
                                      std::vector<InboundRecord>& out) {
  std::string after = cursor.value("arch_after", "");
  if (after.empty()) cursor["arch_cycle"] = now;
  std::string path = "/crm/v3/objects/contacts?limit=" + std::to_string(kListPageSize) +
                     "&archived=true&properties=email";
  if (!after.empty()) path += "&after=" + UrlEncode(after);
  CallResult r = Call("GET", path, nullptr);
  if (!r.ok()) return r.error.status;
  if (!HasResultsList(r.reply->body)) {
    return Unavailable("HubSpot archived contacts list: answered without a results list");
  }
  const TimestampMs mark = cursor.value("arch_mark", TimestampMs{0});
  for (const json& j : ArrayAt(r.reply->body, "results")) {
    Contact c = ContactFromJson(j);
    if (c.archived_at < mark) continue;
    RecordRef ref;
    ref.event_id = "poll:archived:" + c.id + ":" + std::to_string(c.archived_at);
    ref.system_id = c.id;
    if (auto email = NormaliseEmail(c.email); email.ok()) ref.email = *email;
    ref.occurred_at = c.archived_at;
    out.push_back(DeletedRecord(ref, false));
  }
  std::string next;
  const json& body = r.reply->body;
  if (body.contains("paging") && body["paging"].is_object()) {
    next = StringAt(ObjectAt(ObjectAt(body, "paging"), "next"), "after");
  }
  cursor["arch_after"] = next;
  if (next.empty()) {
    cursor["arch_mark"] = cursor.value("arch_cycle", now) - settings_.poll_overlap.count();
  }
  return Status::Ok();
}

}  // namespace consentd::connectors::hubspot_internal
