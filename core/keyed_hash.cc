#include "core/keyed_hash.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <memory>

#include "core/normalise.h"

namespace consentd {
namespace {

constexpr std::size_t kMinKeyBytes = 16;

std::string Hex(const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0x0F]);
  }
  return out;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// OpenSSL 3's one-shot HMAC() and SHA256() fetch the algorithm and build a
// context on every call: ~1.5 and ~0.4 µs a call here, against ~0.26 and
// ~0.11 µs with one context per thread that is reset for each message
// (docs/benchmarks.md, twenty-first round). The store thread hashes several
// identifiers per record, and the io thread signs every HubSpot webhook.
class ThreadHmac {
 public:
  ThreadHmac() {
    static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (mac != nullptr) ctx_ = EVP_MAC_CTX_new(mac);
  }
  ~ThreadHmac() {
    ForgetKey();
    EVP_MAC_CTX_free(ctx_);
  }
  ThreadHmac(const ThreadHmac&) = delete;
  ThreadHmac& operator=(const ThreadHmac&) = delete;

  // HMAC-SHA256(key, concatenation of `parts`) into out[32]; false on an
  // OpenSSL failure. The context keeps the last key (cleansed when it
  // changes and at thread exit), so the same key is not set up again.
  bool Compute(std::string_view key, std::initializer_list<std::string_view> parts,
               unsigned char out[SHA256_DIGEST_LENGTH]) {
    if (ctx_ == nullptr) return false;
    bool ok;
    if (has_key_ && key == key_) {
      ok = EVP_MAC_init(ctx_, nullptr, 0, nullptr) == 1;  // same key: reset only
    } else {
      ForgetKey();
      char digest[] = "SHA256";
      const OSSL_PARAM params[] = {
          OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
          OSSL_PARAM_construct_end()};
      ok = EVP_MAC_init(ctx_, Bytes(key), key.size(), params) == 1;
      if (ok) {
        key_.assign(key.data(), key.size());
        has_key_ = true;
      }
    }
    for (std::string_view part : parts) {
      ok = ok && EVP_MAC_update(ctx_, Bytes(part), part.size()) == 1;
    }
    std::size_t len = 0;
    ok = ok && EVP_MAC_final(ctx_, out, &len, SHA256_DIGEST_LENGTH) == 1;
    if (!ok || len != SHA256_DIGEST_LENGTH) {
      ForgetKey();  // the context's state is unknown: set the key up again
      return false;
    }
    return true;
  }

 private:
  void ForgetKey() {
    if (!key_.empty()) OPENSSL_cleanse(key_.data(), key_.size());
    key_.clear();
    has_key_ = false;
  }

  EVP_MAC_CTX* ctx_ = nullptr;
  std::string key_;
  bool has_key_ = false;
};

bool Hmac(std::string_view key, std::initializer_list<std::string_view> parts,
          unsigned char out[SHA256_DIGEST_LENGTH]) {
  thread_local ThreadHmac hmac;
  return hmac.Compute(key, parts, out);
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

}  // namespace

Result<std::string> IdentifierHash(std::string_view key, IdentifierKind kind,
                                   std::string_view value, std::string_view system) {
  if (key.size() < kMinKeyBytes) {
    return InvalidArgument("identifier hash key must be at least 16 bytes");
  }
  unsigned char mac[SHA256_DIGEST_LENGTH];
  bool ok = false;
  switch (kind) {
    case IdentifierKind::kEmail:
      ok = Hmac(key, {"email:", EmailMatchKey(value)}, mac);
      break;
    case IdentifierKind::kPhone:
      ok = Hmac(key, {"phone:", value}, mac);
      break;
    case IdentifierKind::kNativeId:
      ok = Hmac(key, {"id:", system, ":", value}, mac);
      break;
  }
  if (!ok) return Internal("HMAC-SHA256 failed");
  return Hex(mac, sizeof mac);
}

Result<std::set<std::string>> SubjectIdentifierHashes(std::string_view key,
                                                      const Subject& subject) {
  std::set<std::string> out;
  const auto add = [&](IdentifierKind kind, std::string_view value,
                       std::string_view system) -> Status {
    auto h = IdentifierHash(key, kind, value, system);
    if (!h.ok()) return h.status();
    out.insert(std::move(*h));
    return Status::Ok();
  };
  for (const std::string& e : subject.emails) {
    CONSENTD_RETURN_IF_ERROR(add(IdentifierKind::kEmail, e, {}));
  }
  for (const std::string& p : subject.phones) {
    CONSENTD_RETURN_IF_ERROR(add(IdentifierKind::kPhone, p, {}));
  }
  for (const auto& [system, id] : subject.native_ids) {
    CONSENTD_RETURN_IF_ERROR(add(IdentifierKind::kNativeId, id, system));
  }
  return out;
}

Result<std::string> HmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[SHA256_DIGEST_LENGTH];
  if (!Hmac(key, {data}, mac)) return Internal("HMAC-SHA256 failed");
  return std::string(reinterpret_cast<const char*>(mac), sizeof mac);
}

std::string Sha256Hex(std::string_view data) {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  unsigned char digest[SHA256_DIGEST_LENGTH];
  unsigned int len = 0;
  const bool ok = md != nullptr && ctx != nullptr &&
                  EVP_DigestInit_ex2(ctx.get(), md, nullptr) == 1 &&
                  EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx.get(), digest, &len) == 1 && len == sizeof digest;
  if (!ok) {
    // Only a broken OpenSSL install or memory exhaustion gets here (as in
    // core/proof/hash.cc). Idempotency keys and event ids must not quietly
    // become one constant, so stop instead.
    std::fputs("consentd: SHA-256 via OpenSSL failed; aborting\n", stderr);
    std::abort();
  }
  return Hex(digest, sizeof digest);
}

}  // namespace consentd
