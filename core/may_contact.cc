#include "core/may_contact.h"

namespace consentd {

std::string_view ContactReasonName(ContactReason reason) {
  switch (reason) {
    case ContactReason::kGranted:
      return "granted";
    case ContactReason::kNotGranted:
      return "not_granted";
    case ContactReason::kUnconfirmed:
      return "unconfirmed";
    case ContactReason::kBlocked:
      return "blocked";
    case ContactReason::kErased:
      return "erased";
    case ContactReason::kReconsentRequired:
      return "reconsent_required";
  }
  return "unknown";
}

std::string MayContactAnswer::Explain() const {
  std::string out(allowed ? "allowed: " : "not allowed: ");
  out += ContactReasonName(reason);
  if (block) {
    const char* kinds[] = {"all", "channel", "address", "topic"};
    out += std::string("; ") + kinds[static_cast<int>(block->scope.kind)] + " block (" +
           std::string(BlockReasonName(block->reason)) + ") from " +
           block->provenance.source_system + " since " + std::to_string(block->since);
    if (block->until != 0) out += " until " + std::to_string(block->until);
  }
  if (reason == ContactReason::kReconsentRequired && consent) {
    out += "; re-consent required: granted for notice " + consent->notice_version + ", current " +
           consent->reconsent_notice;
  }
  out += "; consent ";
  out += ConsentStatusName(status);
  if (consent) {
    out += " (" + std::string(ConsentMethodName(consent->method)) + " via " +
           consent->provenance.source_system + " at " +
           std::to_string(consent->provenance.occurred_at) + ")";
  }
  return out;
}

MayContactAnswer MayContact(const SubjectState& state, std::string_view subject,
                            std::string_view channel, std::string_view topic,
                            std::string_view address, TimestampMs at, const Policy* policy) {
  MayContactAnswer answer;
  if (state.subject != subject) return answer;  // unknown: not_asked
  if (state.erased_at) {
    answer.reason = ContactReason::kErased;
    return answer;
  }

  ConsentKey key{std::string(subject), std::string(topic), std::string(channel),
                 std::string(address)};
  const ConsentRecord* record = state.FindConsent(key);
  if (record == nullptr && !address.empty()) {
    key.address.clear();
    record = state.FindConsent(key);
  }
  if (record != nullptr) {
    answer.consent = *record;
    answer.status = record->status;
  }

  for (const auto& [scope, block] : state.blocks) {
    if (block.ActiveAt(at) && BlockCovers(scope, channel, topic, address)) {
      answer.block = block;
      break;
    }
  }

  if (answer.block) {
    answer.reason = ContactReason::kBlocked;
  } else if (answer.status != ConsentStatus::kGranted) {
    answer.reason = ContactReason::kNotGranted;
  } else if (const TopicPolicy* tp = policy ? policy->FindTopic(topic) : nullptr;
             tp != nullptr && tp->requires_double_opt_in &&
             record->method != ConsentMethod::kDoubleOptIn) {
    answer.reason = ContactReason::kUnconfirmed;
  } else if (!record->reconsent_notice.empty()) {
    answer.reason = ContactReason::kReconsentRequired;
  } else {
    answer.reason = ContactReason::kGranted;
    answer.allowed = true;
  }
  return answer;
}

}  // namespace consentd
