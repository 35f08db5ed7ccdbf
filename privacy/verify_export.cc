#include "privacy/verify_export.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "core/proof/bytes.h"
#include "core/proof/checkpoint.h"
#include "core/proof/entry_codec.h"
#include "core/proof/evidence.h"
#include "core/proof/hash.h"
#include "privacy/export.h"

namespace consentd::privacy {
namespace {

// Plain (sorted) objects: field order in the document does not matter.
using Json = nlohmann::json;

const Json* Member(const Json& obj, const char* name) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(name);
  return it == obj.end() ? nullptr : &*it;
}

std::optional<std::string> StringMember(const Json& obj, const char* name) {
  const Json* m = Member(obj, name);
  if (m == nullptr || !m->is_string()) return std::nullopt;
  return m->get<std::string>();
}

struct Context {
  const proof::NoteVerifier& verifier;
  std::string subject;
  std::optional<proof::Checkpoint> checkpoint;
  std::string checkpoint_note;
  std::optional<proof::SubjectKey> key;
};

Result<std::optional<proof::Checkpoint>> CheckCheckpoint(const Json& doc, Context& ctx) {
  const Json* cp = Member(doc, "checkpoint");
  if (cp == nullptr || cp->is_null()) return std::optional<proof::Checkpoint>();
  std::optional<std::string> note = StringMember(*cp, "note");
  if (!note) return InvalidArgument("checkpoint has no signed note");
  Result<proof::Checkpoint> opened = proof::OpenCheckpoint(*note, ctx.verifier);
  if (!opened.ok()) return opened.status().WithContext("checkpoint");
  const Json* size = Member(*cp, "tree_size");
  if (StringMember(*cp, "origin") != opened->origin || size == nullptr ||
      !size->is_number_unsigned() || size->get<std::uint64_t>() != opened->size ||
      StringMember(*cp, "root_hash") != proof::Base64Encode(proof::AsBytes(opened->root))) {
    return DataLoss("checkpoint: origin, tree_size or root_hash differ from its signed note");
  }
  ctx.checkpoint_note = *note;
  return std::optional<proof::Checkpoint>(*opened);
}

Result<std::optional<proof::SubjectKey>> CheckKey(const Json& doc) {
  const Json* k = Member(doc, "evidence_key");
  if (k == nullptr || k->is_null()) return std::optional<proof::SubjectKey>();
  if (StringMember(*k, "alg") != "A256GCM") return InvalidArgument("evidence_key: alg A256GCM");
  std::optional<std::string> b64 = StringMember(*k, "key");
  std::optional<std::string> raw = b64 ? proof::Base64Decode(*b64) : std::nullopt;
  if (!raw || raw->size() != proof::kSubjectKeySize) {
    return InvalidArgument("evidence_key: key is not 32 bytes of base64");
  }
  proof::SubjectKey key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>((*raw)[i]);
  return std::optional<proof::SubjectKey>(key);
}

Status CheckProof(const Json& e, std::uint64_t seq, const std::string& bytes, const Context& ctx,
                  ExportCheck& out) {
  const std::optional<std::string> status = StringMember(e, "proof_status");
  const std::optional<std::string> bundle = StringMember(e, "tlog_proof");
  if (status == "not_yet_checkpointed") {
    if (bundle) return DataLoss("has a tlog_proof but says it is not yet checkpointed");
    if (ctx.checkpoint && seq < ctx.checkpoint->size) {
      return DataLoss("carries no proof although the checkpoint (size " +
                      std::to_string(ctx.checkpoint->size) + ") covers it");
    }
    ++out.not_yet_checkpointed;
    return Status::Ok();
  }
  if (status != "included" || !bundle) return DataLoss("no tlog_proof");
  if (!ctx.checkpoint) return DataLoss("has a proof but the document has no checkpoint");
  Result<proof::TlogProof> parsed = proof::ParseTlogProof(*bundle);
  if (!parsed.ok()) return DataLoss("tlog_proof: " + parsed.status().message());
  if (parsed->checkpoint_note != ctx.checkpoint_note) {
    return DataLoss("tlog_proof is against another checkpoint than the document's");
  }
  if (parsed->extra && *parsed->extra != bytes) {
    return DataLoss("tlog_proof carries other bytes than logged_entry");
  }
  if (parsed->index != seq) {
    return DataLoss("tlog_proof is for index " + std::to_string(parsed->index));
  }
  Result<proof::VerifiedTlogProof> v = proof::VerifyTlogProof(*bundle, ctx.verifier, bytes);
  if (!v.ok()) return DataLoss("inclusion proof fails: " + v.status().message());
  ++out.proven;
  return Status::Ok();
}

Status CheckEvidence(const Json& e, const proof::DecodedEntry& d, const Context& ctx,
                     ExportCheck& out) {
  const Json* shown = Member(e, "evidence");
  if (d.sealed.empty()) {
    if (shown != nullptr && !shown->empty()) return DataLoss("shows evidence the entry lacks");
    return Status::Ok();
  }
  const std::string aad = proof::EvidenceAssociatedData(d.entry.sequence, d.entry.record_id);
  if (const Json* a = Member(e, "evidence_aad"); a != nullptr) {
    if (!a->is_string() || a->get<std::string>() != proof::Base64Encode(aad)) {
      return DataLoss("evidence_aad is not the entry's associated data");
    }
  }
  if (!ctx.key) {
    if (shown != nullptr) return DataLoss("shows evidence but the document has no key to check it");
    ++out.evidence_unreadable;
    return Status::Ok();
  }
  Result<std::map<std::string, std::string>> opened =
      proof::OpenEvidence(d.sealed, *ctx.key, d.entry.sequence, d.entry.record_id);
  if (!opened.ok()) {
    return DataLoss("logged evidence does not open with the evidence key: " +
                    opened.status().message());
  }
  if (shown == nullptr || *shown != Json(*opened)) {
    return DataLoss("evidence shown differs from the evidence in the logged bytes");
  }
  ++out.evidence_opened;
  return Status::Ok();
}

Status CheckEntry(const Json& e, std::uint64_t seq, const Context& ctx, ExportCheck& out) {
  std::optional<std::string> b64 = StringMember(e, "logged_entry");
  std::optional<std::string> bytes = b64 ? proof::Base64Decode(*b64) : std::nullopt;
  if (!bytes) return DataLoss("logged_entry is not base64");
  Result<proof::DecodedEntry> d = proof::DecodeEntry(*bytes);
  if (!d.ok()) return DataLoss("logged bytes are not a proof-log entry: " + d.status().message());
  if (d->entry.sequence != seq) return DataLoss("logged bytes are for another sequence");
  if (d->entry.subject != ctx.subject) return DataLoss("logged bytes are about another subject");
  const Json* fields = Member(e, "fields");
  if (fields == nullptr || *fields != Json::parse(*bytes, nullptr, false)) {
    return DataLoss("fields shown differ from the logged bytes");
  }
  if (std::optional<std::string> leaf = StringMember(e, "leaf_hash");
      leaf && *leaf != proof::HexEncode(proof::AsBytes(proof::HashLeaf(*bytes)))) {
    return DataLoss("leaf_hash is not SHA-256(0x00 || logged bytes)");
  }
  CONSENTD_RETURN_IF_ERROR(CheckProof(e, seq, *bytes, ctx, out));
  return CheckEvidence(e, *d, ctx, out);
}

// The pseudonyms a merged subject's history says it was merged into: the
// engine logs "merged into <pseudonym> (<system>)" under the merged one.
// Read from `fields`, which CheckEntry holds to the logged bytes, and only
// from entries proven against the checkpoint: an unproven entry is
// consistent with itself only, and one made up would let another person's
// history pass as merged into this one.
std::set<std::string> MergeTargets(const Json& holder) {
  std::set<std::string> out;
  const Json* history = Member(holder, "history");
  if (history == nullptr || !history->is_array()) return out;
  static constexpr std::string_view kPrefix = "merged into ";
  for (const Json& e : *history) {
    if (StringMember(e, "proof_status") != "included") continue;
    const Json* fields = Member(e, "fields");
    std::optional<std::string> reason = fields ? StringMember(*fields, "reason") : std::nullopt;
    if (!reason || !reason->starts_with(kPrefix)) continue;
    const std::string rest = reason->substr(kPrefix.size());
    out.insert(rest.substr(0, rest.find_first_of(" ,")));  // " (system)" or ", erased …"
  }
  return out;
}

// The `history` and `history_summary` of `holder` (the document, or one of
// its merged subjects), each entry about ctx.subject; counts into `out`.
Status CheckHistory(const Json& holder, const Context& ctx, ExportCheck& out) {
  const Json* history = Member(holder, "history");
  if (history == nullptr || !history->is_array()) return InvalidArgument("history missing");
  std::optional<std::uint64_t> previous;
  for (std::size_t i = 0; i < history->size(); ++i) {
    const Json& e = (*history)[i];
    const Json* s = Member(e, "sequence");
    if (s == nullptr || !s->is_number_unsigned()) {
      return DataLoss("history item " + std::to_string(i) + ": no sequence");
    }
    const auto seq = s->get<std::uint64_t>();
    const std::string where = "entry " + std::to_string(seq);
    if (previous && seq <= *previous) return DataLoss(where + ": out of sequence order");
    previous = seq;
    if (Status st = CheckEntry(e, seq, ctx, out); !st.ok()) return st.WithContext(where);
    ++out.entries;
  }
  const Json* summary = Member(holder, "history_summary");
  if (summary != nullptr &&
      (summary->value("entries", std::uint64_t{0}) != out.entries ||
       summary->value("proven", std::uint64_t{0}) != out.proven ||
       summary->value("not_yet_checkpointed", std::uint64_t{0}) != out.not_yet_checkpointed)) {
    return DataLoss("history_summary does not match the history");
  }
  return Status::Ok();
}

Result<ExportCheck> Verify(const Json& doc, const proof::NoteVerifier& verifier) {
  if (!doc.is_object() || StringMember(doc, "format") != kExportFormat) {
    return InvalidArgument("not a " + std::string(kExportFormat) + " document");
  }
  ExportCheck out;
  const Json* erased = Member(doc, "erased");
  out.erased = erased != nullptr && erased->is_boolean() && erased->get<bool>();
  Context ctx{verifier, "", std::nullopt, "", std::nullopt};
  Result<std::optional<proof::SubjectKey>> key = CheckKey(doc);
  if (!key.ok()) return key.status();
  ctx.key = *key;
  if (out.erased && ctx.key) return DataLoss("an erased subject's export carries an evidence key");
  const Json* history = Member(doc, "history");
  std::optional<std::string> subject = StringMember(doc, "pii_principal_id");
  if (!subject) {
    // Erased, found by address through the tombstone only: no history.
    if (!out.erased) return InvalidArgument("pii_principal_id missing");
    if (history != nullptr && !history->empty()) return DataLoss("history without a subject");
    return out;
  }
  ctx.subject = out.subject = *subject;
  Result<std::optional<proof::Checkpoint>> cp = CheckCheckpoint(doc, ctx);
  if (!cp.ok()) return cp.status();
  ctx.checkpoint = *cp;
  if (ctx.checkpoint) {
    out.origin = ctx.checkpoint->origin;
    out.tree_size = ctx.checkpoint->size;
  }
  CONSENTD_RETURN_IF_ERROR(CheckHistory(doc, ctx, out));
  // Pseudonyms merged into the person: each history is about its own
  // pseudonym, opens with its own key, and is proven against the same
  // checkpoint.
  const Json* merged = Member(doc, "merged_subjects");
  if (merged == nullptr) return out;  // documents from before the member
  if (!merged->is_array()) return InvalidArgument("merged_subjects is not an array");
  // pseudonym -> the pseudonyms its logged history says it was merged into
  std::map<std::string, std::set<std::string>> merged_into;
  for (const Json& m : *merged) {
    std::optional<std::string> pseudonym = StringMember(m, "pii_principal_id");
    if (!pseudonym || *pseudonym == *subject) {
      return InvalidArgument("merged_subjects: an item without its own pii_principal_id");
    }
    if (merged_into.contains(*pseudonym)) {
      return InvalidArgument("merged_subjects: " + *pseudonym + " is listed twice");
    }
    merged_into[*pseudonym] = MergeTargets(m);
    Result<std::optional<proof::SubjectKey>> merged_key = CheckKey(m);
    if (!merged_key.ok()) return merged_key.status().WithContext("merged subject " + *pseudonym);
    if (out.erased && *merged_key) {
      return DataLoss("an erased subject's export carries the evidence key of merged subject " +
                      *pseudonym);
    }
    Context merged_ctx{verifier, *pseudonym, ctx.checkpoint, ctx.checkpoint_note, *merged_key};
    ExportCheck part;
    if (Status st = CheckHistory(m, merged_ctx, part); !st.ok()) {
      return st.WithContext("merged subject " + *pseudonym);
    }
    out.entries += part.entries;
    out.proven += part.proven;
    out.not_yet_checkpointed += part.not_yet_checkpointed;
    out.evidence_opened += part.evidence_opened;
    out.evidence_unreadable += part.evidence_unreadable;
    ++out.merged_subjects;
  }
  // Each was merged into the person, or into one merged into the person
  // (merges chain): the merge is in its own logged history, so another
  // person's history cannot pass as a merged one.
  std::set<std::string> of_the_person = {*subject};
  for (bool grew = true; grew;) {
    grew = false;
    for (auto it = merged_into.begin(); it != merged_into.end();) {
      const bool joins =
          std::any_of(it->second.begin(), it->second.end(),
                      [&](const std::string& s) { return of_the_person.contains(s); });
      if (!joins) {
        ++it;
        continue;
      }
      of_the_person.insert(it->first);
      it = merged_into.erase(it);
      grew = true;
    }
  }
  if (!merged_into.empty()) {
    return DataLoss("merged subject " + merged_into.begin()->first +
                    ": its history shows no merge into this person");
  }
  return out;
}

}  // namespace

Result<ExportCheck> VerifyExport(std::string_view document, const proof::NoteVerifier& verifier) {
  Json doc = Json::parse(document, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument("not a JSON document");
  try {
    return Verify(doc, verifier);
  } catch (const Json::exception& e) {
    // A member of an unexpected type (e.g. history_summary values).
    return InvalidArgument(std::string("malformed document: ") + e.what());
  }
}

}  // namespace consentd::privacy
