#include "core/keyed_hash.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

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

}  // namespace

Result<std::string> IdentifierHash(std::string_view key, IdentifierKind kind,
                                   std::string_view value, std::string_view system) {
  if (key.size() < kMinKeyBytes) {
    return InvalidArgument("identifier hash key must be at least 16 bytes");
  }
  std::string text;
  switch (kind) {
    case IdentifierKind::kEmail:
      text = "email:" + EmailMatchKey(value);
      break;
    case IdentifierKind::kPhone:
      text = "phone:" + std::string(value);
      break;
    case IdentifierKind::kNativeId:
      text = "id:" + std::string(system) + ":" + std::string(value);
      break;
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), Bytes(text), text.size(), mac,
           &mac_len) == nullptr) {
    return Internal("HMAC-SHA256 failed");
  }
  return Hex(mac, mac_len);
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

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(Bytes(data), data.size(), digest);
  return Hex(digest, sizeof digest);
}

}  // namespace consentd
