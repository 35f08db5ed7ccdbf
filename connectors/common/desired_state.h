// DesiredState: the absolute state consentd wants one target to hold for
// one subject (DESIGN.md §2 rule 6). The sync engine writes it into the
// outbox (desired_json) in the same transaction as the decision; the
// dispatcher decodes it and hands it to the target's connector, which maps
// it to native writes. One outbox row per (target, subject): a newer row
// supersedes an older pending one, so a burst of changes to one person
// becomes one write.
//
// The JSON form is part of the database format ("consentd-desired/1");
// only add fields. Plain value; not thread-safe.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "core/model.h"
#include "core/status.h"

namespace consentd::connectors {

inline constexpr std::string_view kDesiredStateFormat = "consentd-desired/1";

struct DesiredState {
  std::string subject;    // consentd's subject id
  std::string email;      // normalised address the target knows the person by
  std::string system_id;  // the target's id for the subject, if known
  // Erase the subject at the target (its configured erasure mode); `state`
  // is then empty.
  bool erase = false;
  // The consents and blocks of the subject that the mapping sends to this
  // target (already filtered by direction); key.subject == subject.
  SubjectState state;
  // Targets that must receive a grant as pending (re-consent through the
  // target's double opt-in), by canonical topic.
  std::set<std::string> reconsent_topics;
  // Topics whose re-consent marker for a newer notice (issue #7; not the
  // double opt-in above) this target shows, as absolute state: on for a
  // consent whose reconsent_notice is set, off for every other topic listed.
  // Only topics whose notice version has risen are listed.
  std::set<std::string> notice_marker_topics;
  // Mapping in force when the row was written (proof log, explain).
  std::string mapping_hash;
  // For an erasure: the addresses of the person's other records at this
  // target (after a CRM merge the journey platform keeps a member per
  // address), erased with the one `email` names.
  std::set<std::string> also_erase;
  // For an erasure at a target whose writes address a record by its id
  // (the generic connector): the ids of those other records, by address
  // (an address whose id is unknown is not listed).
  std::map<std::string, std::string> also_erase_ids;

  bool operator==(const DesiredState&) const = default;
};

// {"format":"consentd-desired/1","subject":..,"email":..,"system_id":..,
//  "erase":false,"consents":[{topic,channel,address,status,legal_basis,
//  method,notice_version,occurred_at,recorded_at,source_system,
//  source_event_id}],"blocks":[{scope,active,reason,since,until,
//  occurred_at,recorded_at,source_system,source_event_id}],
//  "reconsent_topics":[..],"mapping_hash":..}; optional (absent when
//  empty): consents[].reconsent_notice, "notice_marker_topics":[..],
//  "also_erase":[..], "also_erase_ids":{address: id}
std::string EncodeDesiredState(const DesiredState& desired);
// InvalidArgument naming the field for anything malformed or another format.
Result<DesiredState> DecodeDesiredState(std::string_view json);

// One element of "consents" / "blocks" above, on its own (no subject: the
// caller knows it). The sync engine stores canonical records in this form
// (store ConsentRow::state_json, BlockRow::detail_json), so there is one
// JSON form of a record. Decode sets key.subject / subject to `subject`.
std::string EncodeConsentRecord(const ConsentRecord& record);
Result<ConsentRecord> DecodeConsentRecord(std::string_view json, std::string_view subject);
std::string EncodeBlockRecord(const BlockRecord& record);
Result<BlockRecord> DecodeBlockRecord(std::string_view json, std::string_view subject);

// The encoders above write their text directly (they are on the store's
// serial path: a JSON tree cost ~12 µs per desired state). These build a
// JSON tree and dump it instead: the reference spelling (keys sorted,
// compact, invalid UTF-8 replaced by U+FFFD), which the encoders fall back
// to for a string that is not valid UTF-8, and which the tests hold them to.
namespace by_tree {
std::string EncodeDesiredState(const DesiredState& desired);
std::string EncodeConsentRecord(const ConsentRecord& record);
std::string EncodeBlockRecord(const BlockRecord& record);
}  // namespace by_tree

}  // namespace consentd::connectors
