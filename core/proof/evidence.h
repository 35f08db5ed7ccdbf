// Personal evidence (address, IP, user agent, form fields) of a proof-log
// entry is stored only as AES-256-GCM ciphertext under a per-subject key
// (DESIGN.md §4). Destroying that key (crypto-shredding) makes the evidence
// unreadable while the entry's bytes, and so every proof, stay unchanged.
//
// Associated data binds the ciphertext to its entry:
//   "consentd-evidence/1" ‖ 0x00 ‖ big-endian u64 sequence ‖ record_id
// so a ciphertext moved to another entry fails to open.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "core/proof/entry_codec.h"
#include "core/status.h"

namespace consentd::proof {

inline constexpr std::size_t kSubjectKeySize = 32;
inline constexpr std::size_t kEvidenceNonceSize = 12;
using SubjectKey = std::array<std::uint8_t, kSubjectKeySize>;

// Fresh random nonce each call. Internal error only if OpenSSL fails;
// InvalidArgument if the evidence is not valid UTF-8.
Result<SealedEvidence> SealEvidence(const std::map<std::string, std::string>& evidence,
                                    const SubjectKey& key, std::uint64_t sequence,
                                    std::string_view record_id);

// Same, with a caller-drawn 12-byte random nonce (the writer draws a whole
// batch's randomness at once). REQUIRES: a nonce never reused with `key`.
Result<SealedEvidence> SealEvidenceWithNonce(const std::map<std::string, std::string>& evidence,
                                             const SubjectKey& key, std::uint64_t sequence,
                                             std::string_view record_id, std::string_view nonce);

// The associated data above for entry (`sequence`, `record_id`); the
// access export shows it so evidence can be opened without consentd.
std::string EvidenceAssociatedData(std::uint64_t sequence, std::string_view record_id);

// Unauthenticated if the key, the associated data or the bytes are wrong.
Result<std::map<std::string, std::string>> OpenEvidence(const SealedEvidence& sealed,
                                                        const SubjectKey& key,
                                                        std::uint64_t sequence,
                                                        std::string_view record_id);

// Where subject keys live. The proof-log writer calls it inside the
// caller's transaction, so a durable implementation must make its changes
// part of that transaction. Implementations document their thread-safety.
class SubjectKeyStore {
 public:
  virtual ~SubjectKeyStore() = default;
  // The key to seal new evidence: the existing one, or a new random key.
  // FailedPrecondition if the subject was erased: an event after erasure
  // must never silently give the subject a fresh key.
  virtual Result<SubjectKey> KeyForSealing(std::string_view subject) = 0;
  // The key to open stored evidence. NotFound if the subject never had a
  // key, FailedPrecondition if it was shredded.
  virtual Result<SubjectKey> KeyForOpening(std::string_view subject) const = 0;
  // Destroys the key (if any) and marks the subject erased. Idempotent.
  virtual Status Shred(std::string_view subject) = 0;
  virtual bool IsErased(std::string_view subject) const = 0;
};

// Random 32-byte key from the OpenSSL CSPRNG.
Result<SubjectKey> NewSubjectKey();

// For tests and tools. Not thread-safe.
class InMemorySubjectKeyStore final : public SubjectKeyStore {
 public:
  Result<SubjectKey> KeyForSealing(std::string_view subject) override;
  Result<SubjectKey> KeyForOpening(std::string_view subject) const override;
  Status Shred(std::string_view subject) override;
  bool IsErased(std::string_view subject) const override;

 private:
  std::unordered_map<std::string, SubjectKey> keys_;
  std::unordered_set<std::string> erased_;
};

}  // namespace consentd::proof
