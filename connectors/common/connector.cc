#include "connectors/common/connector.h"

namespace consentd::connectors {

std::string_view ErrorClassName(ErrorClass c) {
  switch (c) {
    case ErrorClass::kRetryable:
      return "retryable";
    case ErrorClass::kPermanent:
      return "permanent";
    case ErrorClass::kBlockedByTarget:
      return "blocked_by_target";
  }
  return "unknown";
}

ErrorClass ClassOf(const Status& status) {
  if (status.code() == StatusCode::kBlockedByTarget) return ErrorClass::kBlockedByTarget;
  if (status.IsRetryable()) return ErrorClass::kRetryable;
  return ErrorClass::kPermanent;
}

std::string_view RecordHintName(RecordHint h) {
  switch (h) {
    case RecordHint::kChanged:
      return "changed";
    case RecordHint::kDeleted:
      return "deleted";
    case RecordHint::kPrivacyDeletion:
      return "privacy_deletion";
    case RecordHint::kMerged:
      return "merged";
    case RecordHint::kEmailChanged:
      return "email_changed";
  }
  return "unknown";
}

}  // namespace consentd::connectors
