#include "privacy/export.h"

#include <openssl/crypto.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "core/keyed_hash.h"
#include "core/may_contact.h"
#include "core/normalise.h"
#include "core/proof/bytes.h"
#include "core/proof/checkpoint.h"
#include "core/proof/entry_codec.h"
#include "core/proof/evidence.h"
#include "core/proof/hash.h"
#include "core/proof/note.h"
#include "core/time_format.h"
#include "store/erasure_requests.h"
#include "store/proof_log_store.h"
#include "store/subject_records.h"
#include "sync/subject_store.h"
#include "sync/sync_engine.h"

namespace consentd::privacy {
namespace {

// Insertion order keeps the document readable; the verifier compares
// without regard to order.
using Json = nlohmann::ordered_json;

// Every string in the document is valid UTF-8 already (the entry codec and
// the evidence sealer refuse anything else); replace, never throw.
std::string Dump(const Json& doc) {
  return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

void PutIfSet(Json& j, const char* name, const std::string& value) {
  if (!value.empty()) j[name] = value;
}

Json ConsentJson(const ConsentRecord& r, const SubjectState& state, const ExportRequest& req) {
  Json j;
  j["purpose"] = r.key.topic;
  j["channel"] = r.key.channel;
  PutIfSet(j, "address", r.key.address);
  j["event_state"] = std::string(ConsentStatusName(r.status));
  PutIfSet(j, "lawful_basis", r.legal_basis);
  j["collection_method"] = std::string(ConsentMethodName(r.method));
  PutIfSet(j, "privacy_notice", r.notice_version);
  j["event_time"] = r.provenance.occurred_at;
  j["recorded_at"] = r.provenance.recorded_at;
  PutIfSet(j, "source_system", r.provenance.source_system);
  PutIfSet(j, "source_event_id", r.provenance.source_event_id);
  // The one shared answer (DESIGN.md §1), so the export says what consentd
  // would do today, blocks included.
  const MayContactAnswer answer = MayContact(state, state.subject, r.key.channel, r.key.topic,
                                             r.key.address, req.now, req.policy);
  j["may_contact"] = {{"allowed", answer.allowed},
                      {"reason", std::string(ContactReasonName(answer.reason))}};
  return j;
}

Json BlockJson(const BlockRecord& b) {
  Json j;
  j["scope"] = BlockScopeString(b.scope);
  j["active"] = b.active;
  j["reason"] = std::string(BlockReasonName(b.reason));
  j["since"] = b.since;
  if (b.until != 0) j["until"] = b.until;
  j["event_time"] = b.provenance.occurred_at;
  PutIfSet(j, "source_system", b.provenance.source_system);
  PutIfSet(j, "source_event_id", b.provenance.source_event_id);
  return j;
}

Json IdentityJson(const sync::SubjectIdentity& identity) {
  Json emails = Json::array();
  for (const std::string& e : identity.emails) emails.push_back(e);
  Json ids = Json::array();
  for (const auto& [system, id] : identity.all_ids) {
    Json one = {{"system", system}, {"id", id}};
    // The address that record has, where consentd knows it (it writes there).
    if (const auto sys = identity.record_addresses.find(system);
        sys != identity.record_addresses.end()) {
      if (const auto r = sys->second.find(id); r != sys->second.end()) one["address"] = r->second;
    }
    ids.push_back(std::move(one));
  }
  // Records retired (deleted at their system while the person lives on, or
  // moved to another address): consentd keeps the address each had, so as
  // never to write there again.
  Json retired = Json::array();
  for (const auto& [system, records] : identity.retired_record_addresses) {
    for (const auto& [id, address] : records) {
      Json one = {{"system", system}, {"id", id}, {"address", address}};
      if (const auto sys = identity.retired_at.find(system); sys != identity.retired_at.end()) {
        if (const auto r = sys->second.find(id); r != sys->second.end())
          one["retired_at"] = r->second;
      }
      retired.push_back(std::move(one));
    }
  }
  return {{"email_addresses", std::move(emails)},
          {"system_ids", std::move(ids)},
          {"retired_records", std::move(retired)}};
}

// The latest signed checkpoint, parsed (its signature is the verifier's
// business: the builder only needs the size it covers).
struct CheckpointInfo {
  std::string note;
  proof::Checkpoint body;
};

Result<std::optional<CheckpointInfo>> LatestCheckpoint(store::Transaction& txn) {
  Result<std::optional<std::string>> note = store::LatestProofCheckpoint(txn);
  if (!note.ok()) return note.status();
  if (!note->has_value()) return std::optional<CheckpointInfo>();
  Result<proof::Note> parsed = proof::ParseNote(**note);
  if (!parsed.ok()) return DataLoss("stored checkpoint: " + parsed.status().message());
  Result<proof::Checkpoint> body = proof::ParseCheckpointText(parsed->text);
  if (!body.ok()) return DataLoss("stored checkpoint: " + body.status().message());
  return std::optional<CheckpointInfo>(CheckpointInfo{**note, std::move(*body)});
}

struct History {
  Json entries = Json::array();
  int proven = 0;
  int pending_proof = 0;
};

struct LoggedEntry {
  std::uint64_t sequence = 0;
  std::string bytes;
};

// One history entry: the logged bytes, their fields, the evidence opened
// with `key` (if any) and the inclusion proof against `cp` (if it covers
// the entry). Every proof comes from the same unit of work, so from the
// same latest checkpoint; the check below makes that explicit.
Result<Json> HistoryEntry(store::Transaction& txn, const LoggedEntry& logged,
                          const std::optional<proof::SubjectKey>& key,
                          const std::optional<CheckpointInfo>& cp, History& history) {
  Result<proof::DecodedEntry> decoded = proof::DecodeEntry(logged.bytes);
  if (!decoded.ok()) {
    return DataLoss("proof-log entry " + std::to_string(logged.sequence) + ": " +
                    decoded.status().message());
  }
  Json j;
  j["sequence"] = logged.sequence;
  j["logged_entry"] = proof::Base64Encode(logged.bytes);
  j["leaf_hash"] = proof::HexEncode(proof::AsBytes(proof::HashLeaf(logged.bytes)));
  // The canonical bytes are one JSON object: shown as they are, so the
  // fields a reader sees are exactly what the leaf hash covers.
  j["fields"] = Json::parse(logged.bytes, nullptr, /*allow_exceptions=*/false);
  if (j["fields"].is_discarded()) {
    return DataLoss("proof-log entry " + std::to_string(logged.sequence) + " is not JSON");
  }
  const proof::SealedEvidence& sealed = decoded->sealed;
  if (sealed.empty()) {
    j["evidence_status"] = "none";
  } else {
    j["evidence_aad"] = proof::Base64Encode(
        proof::EvidenceAssociatedData(decoded->entry.sequence, decoded->entry.record_id));
    if (!key) {
      j["evidence_status"] = "unreadable: evidence key destroyed or missing";
    } else {
      Result<std::map<std::string, std::string>> opened =
          proof::OpenEvidence(sealed, *key, decoded->entry.sequence, decoded->entry.record_id);
      if (opened.ok()) {
        j["evidence_status"] = "decrypted";
        j["evidence"] = *opened;
      } else {
        j["evidence_status"] = "unreadable: " + opened.status().message();
      }
    }
  }
  if (cp && logged.sequence < cp->body.size) {
    Result<std::string> bundle = store::ProveProofEntry(txn, logged.sequence);
    if (!bundle.ok()) return bundle.status();
    if (!bundle->ends_with(cp->note)) {
      return Internal("the latest checkpoint changed while the export was built");
    }
    j["proof_status"] = "included";
    j["tlog_proof"] = std::move(*bundle);
    ++history.proven;
  } else {
    j["proof_status"] = "not_yet_checkpointed";
    ++history.pending_proof;
  }
  return j;
}

Result<History> BuildHistory(store::Transaction& txn, std::string_view subject,
                             const std::optional<proof::SubjectKey>& key,
                             const std::optional<CheckpointInfo>& cp) {
  // Collected first: proving runs other statements on the same connection.
  std::vector<LoggedEntry> logged;
  CONSENTD_RETURN_IF_ERROR(store::ForEachSubjectProofEntry(
      txn, subject, [&logged](std::uint64_t seq, std::string_view bytes) -> Status {
        logged.push_back({seq, std::string(bytes)});
        return Status::Ok();
      }));
  History history;
  for (const LoggedEntry& e : logged) {
    Result<Json> j = HistoryEntry(txn, e, key, cp, history);
    if (!j.ok()) return j.status();
    history.entries.push_back(std::move(*j));
  }
  return history;
}

struct EvidenceKey {
  std::optional<proof::SubjectKey> key;
  std::string status = "none";  // present | destroyed | none
};

Result<EvidenceKey> EvidenceKeyOf(store::Transaction& txn, std::string_view subject,
                                  TimestampMs now) {
  EvidenceKey out;
  store::SqliteSubjectKeyStore keys(txn, now);
  Result<proof::SubjectKey> k = keys.KeyForOpening(subject);
  if (k.ok()) {
    out.key = *k;
    out.status = "present";
    OPENSSL_cleanse(k->data(), k->size());  // the copy in `out` is the one used
  } else if (k.status().code() == StatusCode::kFailedPrecondition) {
    out.status = "destroyed";
  } else if (k.status().code() != StatusCode::kNotFound) {
    return k.status();
  }
  return out;
}

Json EvidenceKeyJson(const std::optional<proof::SubjectKey>& key) {
  if (!key) return nullptr;
  return {{"alg", "A256GCM"},
          {"key", proof::Base64Encode(
                      std::string_view(reinterpret_cast<const char*>(key->data()), key->size()))}};
}

// What consentd is sending, or failed to send, to each system about the
// person (each write carries an address and the person's state).
Result<Json> OutboxJson(store::Transaction& txn, std::string_view subject) {
  Result<std::vector<store::OutboxRow>> outbox = store::ListOutboxOfSubject(txn, subject);
  if (!outbox.ok()) return outbox.status();
  Json writes = Json::array();
  for (const store::OutboxRow& row : *outbox) {
    Json desired = Json::parse(row.desired_json, nullptr, /*allow_exceptions=*/false);
    if (desired.is_discarded()) desired = row.desired_json;
    writes.push_back({{"id", row.id},
                      {"system", row.target},
                      {"status", std::string(store::OutboxStatusName(row.status))},
                      {"attempts", row.attempts},
                      {"created_at", row.created_at},
                      {"updated_at", row.updated_at},
                      {"reason", row.reason},
                      {"address", row.address},
                      {"desired_state", std::move(desired)}});
  }
  return writes;
}

// What consentd last wrote to each system about the person (its echo memory).
Result<Json> LastWrittenJson(store::Transaction& txn, std::string_view subject) {
  Result<std::vector<store::EchoRow>> echoes = store::ListEchoWritesOfSubject(txn, subject);
  if (!echoes.ok()) return echoes.status();
  Json written = Json::array();
  for (const store::EchoRow& e : *echoes) {
    written.push_back(
        {{"system", e.system}, {"key", e.key}, {"value", e.value}, {"written_at", e.written_at}});
  }
  return written;
}

// What each system's record of the person was last seen showing off (a
// Mailchimp box left unticked), so that the same "off" read again is not
// taken for a withdrawal.
Result<Json> ShownOffJson(store::Transaction& txn, std::string_view subject) {
  Result<std::vector<store::ShownOffRow>> rows = store::ListShownOffOfSubject(txn, subject);
  if (!rows.ok()) return rows.status();
  Json out = Json::array();
  for (const store::ShownOffRow& r : *rows) {
    out.push_back({{"system", r.system},
                   {"address", r.address},
                   {"key", r.key},
                   {"seen_at", r.seen_at},
                   {"read_at", r.read_at},
                   {"shown_on_at", r.on_at}});
  }
  return out;
}

// The pseudonyms merged into `subject` (CRM merges): the same person, whose
// earlier history, evidence and leftover writes (dead letters the merge
// kept) stay filed under the old pseudonym. Each with its own evidence key
// and history, proven against the same checkpoint as the person's own.
Result<Json> MergedSubjectsJson(store::Transaction& txn, std::string_view subject, TimestampMs now,
                                const std::optional<CheckpointInfo>& cp) {
  Result<std::vector<std::string>> merged = txn.ListMergedInto(subject);
  if (!merged.ok()) return merged.status();
  Json out = Json::array();
  for (const std::string& m : *merged) {
    Result<EvidenceKey> key = EvidenceKeyOf(txn, m, now);
    if (!key.ok()) return key.status();
    Result<History> history = BuildHistory(txn, m, key->key, cp);
    if (!history.ok()) return history.status();
    Result<Json> writes = OutboxJson(txn, m);
    if (!writes.ok()) return writes.status();
    Result<Json> written = LastWrittenJson(txn, m);
    if (!written.ok()) return written.status();
    Json j;
    j["pii_principal_id"] = m;
    j["evidence_key"] = EvidenceKeyJson(key->key);
    j["evidence_key_status"] = key->status;
    j["outbox"] = std::move(*writes);
    j["last_written"] = std::move(*written);
    j["history_summary"] = {{"entries", history->entries.size()},
                            {"proven", history->proven},
                            {"not_yet_checkpointed", history->pending_proof}};
    j["history"] = std::move(history->entries);
    if (key->key) OPENSSL_cleanse(key->key->data(), key->key->size());
    out.push_back(std::move(j));
  }
  return out;
}

Json Header(const ExportRequest& req) {
  Json doc;
  doc["format"] = std::string(kExportFormat);
  doc["generated_at"] = FormatUtcMillis(req.now);
  return doc;
}

// An erased person found only through the tombstone (the keyed hash of
// the address): all consentd can say is that and when.
std::string ErasedByAddress(const ExportRequest& req, TimestampMs erased_at) {
  Json doc = Header(req);
  doc["pii_principal_id"] = nullptr;
  doc["erased"] = true;
  doc["erased_at"] = erased_at;
  doc["statement"] =
      "This person's data was erased at " + FormatUtcMillis(erased_at) +
      ". consentd holds no personal data about them: only a keyed hash of the erased "
      "identifiers (a tombstone), kept so that a late event about the erased person is not "
      "processed. The proof-log entries about them remain in the log with their evidence "
      "encrypted under a destroyed key.";
  return Dump(doc);
}

// An erased subject whose erasure is still open and whose queued writes
// still carry the address (its keyed hash is `address_hash`): the rows
// that take the erasure to the other systems hold the address until each
// system has settled, and an access request by that address must show
// them, not "nothing held".
// Open requests are few (each closes within the legal month), so they are
// walked rather than indexed.
Result<std::optional<std::string>> ErasedSubjectStillHolding(store::Transaction& txn,
                                                             const std::string& identity_key,
                                                             const std::string& address_hash,
                                                             TimestampMs now) {
  store::ErasureListOptions options;
  options.open_only = true;
  options.limit = std::numeric_limits<int>::max();
  Result<std::vector<store::ErasureRequestRecord>> open =
      store::ListErasureRequests(txn, now, options);
  if (!open.ok()) return open.status();
  for (const store::ErasureRequestRecord& r : *open) {
    Result<std::vector<store::OutboxRow>> rows = store::ListOutboxOfSubject(txn, r.subject);
    if (!rows.ok()) return rows.status();
    for (const store::OutboxRow& row : *rows) {
      // Every address the row carries: its own, the desired state's, and
      // (an erasure at a target keeping one record per address, after a
      // merge) the person's other addresses it erases there too.
      std::vector<std::string> carried = {row.address};
      const Json desired = Json::parse(row.desired_json, nullptr, /*allow_exceptions=*/false);
      if (desired.is_object()) {
        if (auto e = desired.find("email"); e != desired.end() && e->is_string()) {
          carried.push_back(e->get<std::string>());
        }
        if (auto also = desired.find("also_erase"); also != desired.end() && also->is_array()) {
          for (const Json& a : *also) {
            if (a.is_string()) carried.push_back(a.get<std::string>());
          }
        }
        if (auto ids = desired.find("also_erase_ids"); ids != desired.end() && ids->is_object()) {
          for (const auto& [address, id] : ids->items()) carried.push_back(address);
        }
      }
      for (const std::string& address : carried) {
        if (address.empty()) continue;
        // Matched as identity matches addresses: by the keyed hash of the
        // normalised form.
        Result<std::string> normalised = NormaliseEmail(address);
        if (!normalised.ok()) continue;
        Result<std::string> hash =
            IdentifierHash(identity_key, IdentifierKind::kEmail, *normalised);
        if (hash.ok() && *hash == address_hash) return std::optional<std::string>(r.subject);
      }
    }
  }
  return std::optional<std::string>();
}

// Which subject the request names; nullopt with `erased_at` set when only
// a tombstone matches the address.
struct Resolved {
  std::optional<std::string> subject;
  std::optional<TimestampMs> tombstone_erased_at;
};

Result<Resolved> Resolve(store::Transaction& txn, const ExportRequest& req) {
  if (req.email.empty() == req.subject.empty()) {
    return InvalidArgument("name the person by e-mail address or by subject id (one of them)");
  }
  Resolved out;
  if (!req.subject.empty()) {
    out.subject = req.subject;
    return out;
  }
  Result<std::optional<std::string>> found =
      sync::FindSubjectByEmail(txn, req.identity_key, req.email);
  if (!found.ok()) return found.status();
  if (found->has_value()) {
    out.subject = **found;
    return out;
  }
  Result<std::string> normalised = NormaliseEmail(req.email);
  if (!normalised.ok()) return normalised.status();
  Result<std::string> hash = IdentifierHash(req.identity_key, IdentifierKind::kEmail, *normalised);
  if (!hash.ok()) return hash.status();
  Result<std::optional<store::TombstoneRow>> tomb = txn.FindTombstone(*hash);
  if (!tomb.ok()) return tomb.status();
  if (!tomb->has_value()) return NotFound("consentd holds no data about this address");
  Result<std::optional<std::string>> holding =
      ErasedSubjectStillHolding(txn, req.identity_key, *hash, req.now);
  if (!holding.ok()) return holding.status();
  if (holding->has_value()) {
    out.subject = **holding;
    return out;
  }
  out.tombstone_erased_at = (*tomb)->erased_at;
  return out;
}

}  // namespace

Result<std::string> BuildSubjectExport(store::Transaction& txn, const ExportRequest& req) {
  Result<Resolved> resolved = Resolve(txn, req);
  if (!resolved.ok()) return resolved.status();
  if (!resolved->subject) return ErasedByAddress(req, *resolved->tombstone_erased_at);
  const std::string& subject = *resolved->subject;

  Result<SubjectState> state = sync::LoadSubjectState(txn, subject, req.identity_key);
  if (!state.ok()) return state.status();
  Result<sync::SubjectIdentity> identity = sync::LoadIdentity(txn, subject);
  if (!identity.ok()) return identity.status();

  // The evidence key: handed to the person so they can open their own
  // evidence without consentd. Gone once shredded (erasure).
  Result<EvidenceKey> evidence_key = EvidenceKeyOf(txn, subject, req.now);
  if (!evidence_key.ok()) return evidence_key.status();
  std::optional<proof::SubjectKey>& key = evidence_key->key;
  const std::string key_status = evidence_key->status;
  Result<std::optional<CheckpointInfo>> cp = LatestCheckpoint(txn);
  if (!cp.ok()) return cp.status();
  Result<History> history = BuildHistory(txn, subject, key, *cp);
  if (!history.ok()) return history.status();
  Result<Json> merged = MergedSubjectsJson(txn, subject, req.now, *cp);
  if (!merged.ok()) return merged.status();

  const bool known = state->erased_at || !state->consents.empty() || !state->blocks.empty() ||
                     !identity->all_ids.empty() || !identity->emails.empty() ||
                     !history->entries.empty() || !merged->empty();
  if (!known) return NotFound("consentd holds no data about subject " + subject);

  Json doc = Header(req);
  doc["pii_principal_id"] = subject;
  doc["erased"] = state->erased_at.has_value();
  Result<Json> writes = OutboxJson(txn, subject);
  if (!writes.ok()) return writes.status();
  if (state->erased_at) {
    doc["erased_at"] = *state->erased_at;
    doc["statement"] =
        "This person's data was erased at " + FormatUtcMillis(*state->erased_at) +
        ": state and identifiers are deleted and the evidence key is destroyed. The history "
        "below stays provable; its evidence can no longer be read by anyone.";
    if (!writes->empty()) {
      doc["statement"] = doc["statement"].get<std::string>() +
                         " The erasure has not settled at every system yet: until it has, the "
                         "writes under \"outbox\" that carry it there hold the address they are "
                         "sent to.";
    }
  }
  doc["identities"] = IdentityJson(*identity);
  Json consents = Json::array();
  for (const auto& [k, record] : state->consents) {
    consents.push_back(ConsentJson(record, *state, req));
  }
  doc["consents"] = std::move(consents);
  Json blocks = Json::array();
  for (const auto& [scope, block] : state->blocks) blocks.push_back(BlockJson(block));
  doc["blocks"] = std::move(blocks);
  Json deletions = Json::array();
  for (const auto& [system, at] : state->deleted_at_target) {
    deletions.push_back({{"system", system}, {"deleted_at", at}});
  }
  doc["target_deletions"] = std::move(deletions);
  // What consentd is sending, or failed to send, to each system about the
  // person (each write carries an address and the person's state), what it
  // last wrote there (its echo memory), and the erasure request, if any.
  doc["outbox"] = std::move(*writes);
  Result<Json> written = LastWrittenJson(txn, subject);
  if (!written.ok()) return written.status();
  doc["last_written"] = std::move(*written);
  Result<Json> shown_off = ShownOffJson(txn, subject);
  if (!shown_off.ok()) return shown_off.status();
  doc["shown_off"] = std::move(*shown_off);
  Result<std::optional<store::ErasureRequestRecord>> erasure =
      store::FindErasureRequestBySubject(txn, subject);
  if (!erasure.ok()) return erasure.status();
  if (erasure->has_value()) {
    const store::ErasureRequestRecord& r = **erasure;
    Json targets = Json::array();
    for (const store::ErasureTarget& t : r.targets) {
      targets.push_back({{"system", t.target},
                         {"state", std::string(store::ErasureTargetStateName(t.state))},
                         {"mode", t.mode},
                         {"reason", t.reason},
                         {"updated_at", t.updated_at}});
    }
    doc["erasure_request"] = {{"id", r.id},
                              {"source", r.source},
                              {"requested_by", r.requested_by},
                              {"legal_ground", r.legal_ground},
                              {"requested_at", r.requested_at},
                              {"deadline", r.deadline},
                              {"targets", std::move(targets)}};
  } else {
    doc["erasure_request"] = nullptr;
  }
  doc["evidence_key"] = EvidenceKeyJson(key);
  doc["evidence_key_status"] = key_status;
  if (*cp) {
    const CheckpointInfo& c = **cp;
    doc["checkpoint"] = {{"origin", c.body.origin},
                         {"tree_size", c.body.size},
                         {"root_hash", proof::Base64Encode(proof::AsBytes(c.body.root))},
                         {"note", c.note}};
  } else {
    doc["checkpoint"] = nullptr;
  }
  doc["history_summary"] = {{"entries", history->entries.size()},
                            {"proven", history->proven},
                            {"not_yet_checkpointed", history->pending_proof}};
  doc["history"] = std::move(history->entries);
  doc["merged_subjects"] = std::move(*merged);
  // The key bytes in `key` are wiped with the store's cache; this copy too.
  if (key) OPENSSL_cleanse(key->data(), key->size());
  return Dump(doc);
}

}  // namespace consentd::privacy
