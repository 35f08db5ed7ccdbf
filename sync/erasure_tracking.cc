#include "sync/erasure_tracking.h"

#include <algorithm>
#include <string>

#include "store/erasure_requests.h"

namespace consentd::sync {
namespace {

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

Status OpenErasureRequest(store::Transaction& txn, const mapping::MappingSpec& spec,
                          const Change& c, const Decision& d, TimestampMs now,
                          bool source_has_others) {
  using store::ErasureTargetState;
  store::ErasureRequestRecord r;
  r.subject = c.key.subject;
  r.source = c.provenance.source_system;
  r.requested_by = r.source;  // the operator's name replaces it for admin requests
  r.id =
      c.provenance.source_event_id.empty() ? "erasure-" + r.subject : c.provenance.source_event_id;
  const TimestampMs at = c.provenance.occurred_at;
  r.requested_at = at > 0 && at < now ? at : now;
  for (const auto& [name, system] : spec.systems) {
    store::ErasureTarget t;
    t.target = name;
    const auto e = spec.erasure.find(name);
    const mapping::ErasureMode mode =
        e == spec.erasure.end() ? mapping::ErasureMode::kDelete : e->second.mode;
    t.mode = std::string(mapping::ErasureModeName(mode));
    if (e != spec.erasure.end() && mode == mapping::ErasureMode::kRestrict) {
      t.retained = Join(e->second.retain);
    }
    const bool written = std::any_of(d.writes.begin(), d.writes.end(), [&](const Write& w) {
      return w.kind == WriteKind::kErasure && w.target == name;
    });
    if (name == r.source && !source_has_others) {
      t.state = ErasureTargetState::kDone;
      t.reason = "erased at the source first";
    } else if (name == r.source) {
      t.state = ErasureTargetState::kPending;
      t.reason = "erased at the source first; the person's other records there follow";
    } else if (written) {
      t.state = ErasureTargetState::kPending;
      if (!t.retained.empty()) {
        t.reason = "restrict: keeps " + t.retained + " (" + e->second.legal_ground + ", " +
                   e->second.retention + ")";
      }
    } else {
      t.state = ErasureTargetState::kUnsupported;
      t.reason = "the mapping sends nothing to " + name + ": erase the record there by hand";
    }
    r.targets.push_back(std::move(t));
  }
  Result<std::optional<store::ErasureRequestRecord>> existing = store::GetErasureRequest(txn, r.id);
  if (!existing.ok()) return existing.status();
  // One event erasing two subjects (a merge's leftovers): one request each.
  if (existing->has_value()) r.id += ":" + r.subject;
  return store::CreateErasureRequest(txn, std::move(r), now);
}

Status TrackErasureDelivery(store::Transaction& txn, std::string_view target,
                            const store::OutboxRow& row, const connectors::DeliveryResult& result,
                            bool dead, std::string_view reason, TimestampMs now) {
  using store::ErasureTargetState;
  if (result.status.ok()) {
    return store::RecordErasureOutcome(
        txn, row.key, target,
        result.already_gone ? ErasureTargetState::kAlreadyDone : ErasureTargetState::kDone, reason,
        now);
  }
  if (!dead) return Status::Ok();
  // A target that refuses the transition (rule 7) cannot erase in this mode.
  const ErasureTargetState state = result.error_class == connectors::ErrorClass::kBlockedByTarget
                                       ? ErasureTargetState::kUnsupported
                                       : ErasureTargetState::kFailed;
  return store::RecordErasureOutcome(txn, row.key, target, state, reason, now);
}

}  // namespace consentd::sync
