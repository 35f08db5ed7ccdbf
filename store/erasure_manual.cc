#include "store/erasure_manual.h"

#include <string>
#include <utility>

#include "core/proof_entry.h"
#include "store/erasure_requests.h"
#include "store/proof_log_store.h"

namespace consentd::store {

Result<std::uint64_t> RecordManualErasure(Transaction& txn, std::string_view id,
                                          std::string_view target, std::string_view note,
                                          TimestampMs now) {
  CONSENTD_RETURN_IF_ERROR(MarkErasureTargetManual(txn, id, target, note, now));
  Result<std::optional<ErasureRequestRecord>> request = GetErasureRequest(txn, id);
  if (!request.ok()) return request.status();
  if (!request->has_value()) return NotFound("no erasure request " + std::string(id));
  ProofEntry e;
  e.recorded_at = now;
  e.occurred_at = now;
  e.subject = (*request)->subject;
  e.kind = ProofKind::kPropagated;
  e.source_system = "admin";
  e.source_event_id = std::string(id);
  e.method = "manual";
  e.reason = "erasure at " + std::string(target) + " done by hand, recorded by the operator";
  Result<ProofAppendResult> appended = AppendProofEntries(txn, {std::move(e)}, now);
  if (!appended.ok()) return appended.status();
  return appended->first_sequence;
}

}  // namespace consentd::store
