// Keyed hashes of normalised identifiers (the tombstone of an erased
// person, DESIGN.md §2 rule 4) and plain SHA-256 digests (idempotency keys).
//
// A tombstone must let consentd recognise an erased person's identifiers
// without keeping them: HMAC-SHA256 under a secret key, so the hash cannot
// be reversed by hashing candidate addresses without the key.
// Pure and thread-safe (one OpenSSL context per thread, reset per message).
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "core/model.h"
#include "core/status.h"

namespace consentd {

// What an identifier is; part of the hashed text so that an e-mail and a
// native id with the same spelling never collide.
enum class IdentifierKind {
  kEmail,     // normalised e-mail (hashed in its EmailMatchKey form)
  kPhone,     // E.164
  kNativeId,  // a system's own id; `system` names the system
};

// Lower-case hex HMAC-SHA256(key, "<kind>:" [system ":"] value).
// `value` must already be normalised (NormaliseEmail / NormalisePhone).
// InvalidArgument if the key is shorter than 16 bytes.
Result<std::string> IdentifierHash(std::string_view key, IdentifierKind kind,
                                   std::string_view value, std::string_view system = {});

// The keyed hashes of every identifier of `subject` (e-mails, phones,
// native ids): what SubjectState::identifier_hashes and a tombstone hold.
Result<std::set<std::string>> SubjectIdentifierHashes(std::string_view key, const Subject& subject);

// Raw HMAC-SHA256(key, data): 32 bytes; Internal on an OpenSSL failure.
Result<std::string> HmacSha256(std::string_view key, std::string_view data);

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

}  // namespace consentd
