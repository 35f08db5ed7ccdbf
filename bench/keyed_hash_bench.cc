// The identifier hashes and digests on the store's path (core/keyed_hash.h):
// IdentifierHash (HMAC-SHA256, several per record ingested) and Sha256Hex
// (idempotency keys, inbox event ids), against OpenSSL's one-shot HMAC() and
// SHA256(), which fetch the algorithm and build a context on every call (what
// consentd used before the twenty-first round of docs/benchmarks.md). Prints
// the median of 5 runs, µs per call.
//
//   build/release/bench/keyed_hash_bench [iterations]   (default 200000)
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/keyed_hash.h"

namespace {

template <typename F>
double MedianMicros(int iterations, F&& call) {
  std::vector<double> runs;
  std::size_t sink = 0;
  for (int r = 0; r < 5; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i) sink += call(i);
    const auto end = std::chrono::steady_clock::now();
    runs.push_back(std::chrono::duration<double, std::micro>(end - start).count() / iterations);
  }
  std::sort(runs.begin(), runs.end());
  if (sink == 42) std::puts("");  // keeps the calls
  return runs[2];
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 200000;
  const std::string key(32, 'k');
  std::string address = "anna.muster@example.org";
  auto vary = [&](int i) {
    address[0] = static_cast<char>('a' + i % 26);
    return address;
  };
  const double identifier = MedianMicros(iterations, [&](int i) {
    return consentd::IdentifierHash(key, consentd::IdentifierKind::kEmail, vary(i))->size();
  });
  const double one_shot_hmac = MedianMicros(iterations, [&](int i) {
    const std::string text = "email:" + vary(i);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &len);
    return static_cast<std::size_t>(len + mac[0]);
  });
  const std::string body(300, 'x');
  const double digest = MedianMicros(iterations, [&](int i) {
    std::string b = body;
    b[0] = static_cast<char>('a' + i % 26);
    return consentd::Sha256Hex(b).size();
  });
  const double one_shot_sha = MedianMicros(iterations, [&](int i) {
    std::string b = body;
    b[0] = static_cast<char>('a' + i % 26);
    unsigned char out[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), out);
    return static_cast<std::size_t>(out[0]);
  });
  std::printf("µs per call (median of 5 runs of %d)\n", iterations);
  std::printf("IdentifierHash (e-mail)     %.3f   one-shot HMAC()  %.3f\n", identifier,
              one_shot_hmac);
  std::printf("Sha256Hex (300 bytes)       %.3f   one-shot SHA256() %.3f (no hex)\n", digest,
              one_shot_sha);
  return 0;
}
