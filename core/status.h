// Status and Result<T>: the one error channel of consentd.
//
// Expected failures are values, never exceptions across module boundaries
// (STYLE.md habit 2). Codes distinguish what a caller may retry from what
// it must not: IsRetryable() is the single place that decides.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace consentd {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // bad input: malformed payload, bad config value
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,  // the world is not in the state the call needs
  kUnauthenticated,     // missing or bad signature / credentials
  kPermissionDenied,
  kResourceExhausted,   // rate limited, queue full (retryable)
  kUnavailable,         // transient: I/O, network, busy database (retryable)
  kDeadlineExceeded,    // timed out (retryable)
  kBlockedByTarget,     // the target refuses this transition; terminal
  kDataLoss,            // corruption detected (proof log, database)
  kInternal,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // True for failures that may succeed if tried again later.
  bool IsRetryable() const {
    return code_ == StatusCode::kUnavailable ||
           code_ == StatusCode::kDeadlineExceeded ||
           code_ == StatusCode::kResourceExhausted;
  }

  // "CODE: message", for logs and one-line CLI errors.
  std::string ToString() const;

  // Returns a copy whose message is "context: message".
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DeadlineExceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status BlockedByTarget(std::string m) { return {StatusCode::kBlockedByTarget, std::move(m)}; }
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A value or a non-OK Status. REQUIRES: value() only when ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "Result constructed from an OK status without a value");
    if (status_.ok()) status_ = Internal("Result built from OK status without value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace consentd

// Propagates a non-OK Status from an expression returning Status.
#define CONSENTD_RETURN_IF_ERROR(expr)                  \
  do {                                                  \
    if (::consentd::Status _st = (expr); !_st.ok()) {   \
      return _st;                                       \
    }                                                   \
  } while (false)
