// SHA-256 and the RFC 9162 §2.1.1 domain-separated Merkle hashes:
// leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖ left ‖ right).
// Backed by OpenSSL EVP; every function is thread-safe (each thread keeps
// its own digest context, the algorithm is fetched once).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace consentd::proof {

inline constexpr std::size_t kHashSize = 32;
using Hash = std::array<std::uint8_t, kHashSize>;

Hash Sha256(std::string_view data);
Hash HashLeaf(std::string_view entry);
Hash HashChildren(const Hash& left, const Hash& right);
// MTH({}) = SHA-256 of the empty string.
Hash EmptyTreeHash();

inline std::string_view AsBytes(const Hash& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}
// REQUIRES: bytes.size() == kHashSize (checked by callers that parse input).
Hash HashFromBytes(std::string_view bytes);

}  // namespace consentd::proof
