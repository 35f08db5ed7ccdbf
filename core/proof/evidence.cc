#include "core/proof/evidence.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

namespace consentd::proof {
namespace {

constexpr std::size_t kNonceSize = kEvidenceNonceSize;
constexpr std::size_t kTagSize = 16;

std::string AssociatedData(std::uint64_t sequence, std::string_view record_id) {
  std::string aad = "consentd-evidence/1";
  aad += '\0';
  for (int i = 0; i < 8; ++i) aad += static_cast<char>((sequence >> (56 - 8 * i)) & 0xff);
  aad += record_id;
  return aad;
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

// Fetch the cipher once and keep one context per thread: an implicit fetch
// on every init dominated the cost of sealing small evidence.
const EVP_CIPHER* Aes256Gcm() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

EVP_CIPHER_CTX* ThreadCipherCtx() {
  thread_local CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  return ctx.get();
}

const unsigned char* U(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* U(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

}  // namespace

Result<SubjectKey> NewSubjectKey() {
  SubjectKey key{};
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) return Internal("CSPRNG failure");
  return key;
}

Result<SealedEvidence> SealEvidence(const std::map<std::string, std::string>& evidence,
                                    const SubjectKey& key, std::uint64_t sequence,
                                    std::string_view record_id) {
  std::string nonce(kNonceSize, '\0');
  if (RAND_bytes(U(nonce), static_cast<int>(kNonceSize)) != 1) return Internal("CSPRNG failure");
  return SealEvidenceWithNonce(evidence, key, sequence, record_id, nonce);
}

Result<SealedEvidence> SealEvidenceWithNonce(const std::map<std::string, std::string>& evidence,
                                             const SubjectKey& key, std::uint64_t sequence,
                                             std::string_view record_id, std::string_view nonce) {
  if (nonce.size() != kNonceSize) return InvalidArgument("evidence nonce must be 12 bytes");
  Result<std::string> plain = EncodeEvidence(evidence);
  if (!plain.ok()) return plain.status();
  SealedEvidence out;
  out.nonce = std::string(nonce);
  out.tag.resize(kTagSize);
  out.ciphertext.resize(plain->size());
  std::string aad = AssociatedData(sequence, record_id);
  EVP_CIPHER_CTX* ctx = ThreadCipherCtx();
  int len = 0;
  bool ok =
      ctx && EVP_EncryptInit_ex2(ctx, Aes256Gcm(), key.data(), U(out.nonce), nullptr) == 1 &&
      EVP_EncryptUpdate(ctx, nullptr, &len, U(aad), static_cast<int>(aad.size())) == 1 &&
      EVP_EncryptUpdate(ctx, U(out.ciphertext), &len, U(*plain), static_cast<int>(plain->size())) ==
          1 &&
      EVP_EncryptFinal_ex(ctx, U(out.ciphertext) + len, &len) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize), U(out.tag)) == 1;
  OPENSSL_cleanse(plain->data(), plain->size());
  if (!ok) return Internal("AES-256-GCM encryption failed");
  return out;
}

Result<std::map<std::string, std::string>> OpenEvidence(const SealedEvidence& sealed,
                                                        const SubjectKey& key,
                                                        std::uint64_t sequence,
                                                        std::string_view record_id) {
  if (sealed.nonce.size() != kNonceSize || sealed.tag.size() != kTagSize) {
    return InvalidArgument("sealed evidence: bad nonce or tag size");
  }
  std::string aad = AssociatedData(sequence, record_id);
  std::string plain(sealed.ciphertext.size(), '\0');
  std::string tag = sealed.tag;
  EVP_CIPHER_CTX* ctx = ThreadCipherCtx();
  int len = 0;
  bool ok =
      ctx && EVP_DecryptInit_ex2(ctx, Aes256Gcm(), key.data(), U(sealed.nonce), nullptr) == 1 &&
      EVP_DecryptUpdate(ctx, nullptr, &len, U(aad), static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(ctx, U(plain), &len, U(sealed.ciphertext),
                        static_cast<int>(sealed.ciphertext.size())) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize), U(tag)) == 1 &&
      EVP_DecryptFinal_ex(ctx, U(plain) + len, &len) == 1;
  if (!ok) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return Unauthenticated("sealed evidence: wrong key or tampered ciphertext");
  }
  Result<std::map<std::string, std::string>> out = DecodeEvidence(plain);
  OPENSSL_cleanse(plain.data(), plain.size());
  return out;
}

Result<SubjectKey> InMemorySubjectKeyStore::KeyForSealing(std::string_view subject) {
  std::string s(subject);
  if (erased_.count(s)) return FailedPrecondition("subject is erased; no new evidence key");
  if (auto it = keys_.find(s); it != keys_.end()) return it->second;
  Result<SubjectKey> key = NewSubjectKey();
  if (!key.ok()) return key.status();
  keys_.emplace(std::move(s), *key);
  return key;
}

Result<SubjectKey> InMemorySubjectKeyStore::KeyForOpening(std::string_view subject) const {
  std::string s(subject);
  if (erased_.count(s)) return FailedPrecondition("subject is erased; evidence key destroyed");
  auto it = keys_.find(s);
  if (it == keys_.end()) return NotFound("no evidence key for subject");
  return it->second;
}

Status InMemorySubjectKeyStore::Shred(std::string_view subject) {
  std::string s(subject);
  if (auto it = keys_.find(s); it != keys_.end()) {
    OPENSSL_cleanse(it->second.data(), it->second.size());
    keys_.erase(it);
  }
  erased_.insert(std::move(s));
  return Status::Ok();
}

bool InMemorySubjectKeyStore::IsErased(std::string_view subject) const {
  return erased_.count(std::string(subject)) > 0;
}

std::string EvidenceAssociatedData(std::uint64_t sequence, std::string_view record_id) {
  return AssociatedData(sequence, record_id);
}

}  // namespace consentd::proof
