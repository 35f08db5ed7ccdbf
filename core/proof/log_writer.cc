#include "core/proof/log_writer.h"

#include <openssl/rand.h>

#include <cstring>

#include "core/proof/entry_codec.h"
#include "core/redact.h"

namespace consentd::proof {

namespace {

constexpr std::size_t kRecordIdRandom = 16;

std::string RecordIdFrom(const unsigned char* random) {
  unsigned char b[kRecordIdRandom];
  std::memcpy(b, random, sizeof b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  // 8-4-4-4-12 hex digits, written in place (one allocation per entry).
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string id(36, '-');
  std::size_t o = 0;
  for (std::size_t i = 0; i < sizeof b; ++i) {
    if (o == 8 || o == 13 || o == 18 || o == 23) ++o;
    id[o++] = kDigits[b[i] >> 4];
    id[o++] = kDigits[b[i] & 15];
  }
  return id;
}

}  // namespace

Result<std::string> NewRecordId() {
  unsigned char b[kRecordIdRandom];
  if (RAND_bytes(b, sizeof b) != 1) return Internal("CSPRNG failure");
  return RecordIdFrom(b);
}

Result<PreparedBatch> ProofLogWriter::Prepare(std::vector<ProofEntry> entries) {
  PreparedBatch batch;
  batch.frontier = frontier_;
  batch.entries.reserve(entries.size());
  // One CSPRNG call per batch: per-entry calls cost more than the sealing.
  constexpr std::size_t kPerEntry = kRecordIdRandom + kEvidenceNonceSize;
  std::vector<unsigned char> random(entries.size() * kPerEntry);
  if (!random.empty() && RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return Internal("CSPRNG failure");
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    ProofEntry& e = entries[i];
    const unsigned char* r = random.data() + i * kPerEntry;
    e.sequence = batch.frontier.size();
    if (e.record_id.empty()) e.record_id = RecordIdFrom(r);
    // Reasons quote vendors' error messages; the log outlives any erasure.
    if (!e.reason.empty()) e.reason = RedactIdentifiersInText(e.reason);
    SealedEvidence sealed;
    if (!e.evidence.empty()) {
      Result<SubjectKey> key = keys_.KeyForSealing(e.subject);
      if (key.ok()) {
        std::string_view nonce(reinterpret_cast<const char*>(r + kRecordIdRandom),
                               kEvidenceNonceSize);
        Result<SealedEvidence> s =
            SealEvidenceWithNonce(e.evidence, *key, e.sequence, e.record_id, nonce);
        if (!s.ok()) return s.status();
        sealed = std::move(s).value();
      } else if (key.status().code() == StatusCode::kFailedPrecondition) {
        ++batch.evidence_dropped;
      } else {
        return key.status();
      }
      e.evidence.clear();
    }
    Result<std::string> bytes = EncodeEntry(e, sealed);
    if (!bytes.ok()) return bytes.status();
    PreparedEntry row{e.sequence, e.subject, std::move(bytes).value(), {}};
    row.leaf_hash = HashLeaf(row.bytes);
    batch.frontier.Append(row.leaf_hash, [&batch](int level, std::uint64_t index, const Hash& h) {
      if (IsStoredLevel(level)) batch.nodes.push_back({level, index, h});
    });
    batch.entries.push_back(std::move(row));
    if (e.kind == ProofKind::kErasureCompleted) {
      CONSENTD_RETURN_IF_ERROR(keys_.Shred(e.subject));
    }
  }
  return batch;
}

}  // namespace consentd::proof
