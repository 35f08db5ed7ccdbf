#include "connectors/common/webhook_signatures.h"

#include <openssl/crypto.h>

#include <charconv>
#include <cstdlib>

#include "core/keyed_hash.h"
#include "core/proof/bytes.h"

namespace consentd::connectors {
namespace {

// An OpenSSL failure gives an empty MAC (the callers refuse it).
std::string HmacSha256(std::string_view key, std::string_view msg) {
  auto mac = consentd::HmacSha256(key, msg);
  return mac.ok() ? *std::move(mac) : std::string();
}

// Strict decimal integer (optional leading '-'): "1.0", " 1", "" fail.
bool ParseInt64(std::string_view text, std::int64_t& out) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

Result<std::string> StandardWebhooksKey(std::string_view secret) {
  constexpr std::string_view kPrefix = "whsec_";
  if (secret.substr(0, kPrefix.size()) == kPrefix) secret.remove_prefix(kPrefix.size());
  if (secret.empty()) return InvalidArgument("empty webhook secret");
  auto key = proof::Base64Decode(secret);
  if (!key || key->empty()) return InvalidArgument("webhook secret is not base64");
  return *std::move(key);
}

}  // namespace

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Compared as digests: the comparison then takes the same time whatever
  // the lengths, so a guess of the wrong length does not reveal the
  // secret's length either (hashing `b` costs the same for every guess).
  const std::string da = Sha256Hex(a);
  const std::string db = Sha256Hex(b);
  return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0 && a.size() == b.size();
}

std::string HubSpotSignedUri(std::string_view uri) {
  // HubSpot's list of characters it decodes; anything else stays escaped
  // (decoding %20 or %25 would change what the signature covers).
  constexpr std::string_view kDecoded = ":/?@!$'()*,;";
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(uri.size());
  for (size_t i = 0; i < uri.size(); ++i) {
    if (uri[i] == '%' && i + 2 < uri.size()) {
      const int hi = hex(uri[i + 1]), lo = hex(uri[i + 2]);
      if (hi >= 0 && lo >= 0) {
        const char c = static_cast<char>(hi * 16 + lo);
        if (kDecoded.find(c) != std::string_view::npos) {
          out.push_back(c);
          i += 2;
          continue;
        }
      }
    }
    out.push_back(uri[i]);
  }
  return out;
}

std::string HubSpotSignV3(std::string_view client_secret, std::string_view method,
                          std::string_view uri, std::string_view body,
                          std::string_view timestamp_ms) {
  const std::string signed_uri = HubSpotSignedUri(uri);
  std::string msg;
  msg.reserve(method.size() + signed_uri.size() + body.size() + timestamp_ms.size());
  msg.append(method).append(signed_uri).append(body).append(timestamp_ms);
  return proof::Base64Encode(HmacSha256(client_secret, msg));
}

Status HubSpotVerifyV3(std::string_view client_secret, std::string_view method,
                       std::string_view uri, std::string_view body,
                       std::string_view signature_header, std::string_view timestamp_header,
                       TimestampMs now, std::int64_t max_age_ms) {
  if (client_secret.empty()) return InvalidArgument("empty client secret");
  std::int64_t ts = 0;
  if (!ParseInt64(timestamp_header, ts)) {
    return InvalidArgument("X-HubSpot-Request-Timestamp is not an integer");
  }
  // Compared without subtracting: a timestamp near INT64_MIN must not overflow.
  if (ts < now - max_age_ms || ts > now + max_age_ms) {
    return Unauthenticated("X-HubSpot-Request-Timestamp outside the allowed window");
  }
  std::string expected = HubSpotSignV3(client_secret, method, uri, body, timestamp_header);
  if (expected.empty()) return Internal("HMAC-SHA256 failed");  // never equal to an empty header
  if (!ConstantTimeEquals(expected, signature_header)) {
    return Unauthenticated("X-HubSpot-Signature-v3 does not match");
  }
  return Status::Ok();
}

Result<std::string> StandardWebhooksSign(std::string_view secret, std::string_view msg_id,
                                         std::int64_t timestamp_s, std::string_view body) {
  auto key = StandardWebhooksKey(secret);
  if (!key.ok()) return key.status();
  std::string msg;
  msg.append(msg_id).append(".").append(std::to_string(timestamp_s)).append(".").append(body);
  auto mac = consentd::HmacSha256(key.value(), msg);
  if (!mac.ok()) return mac.status();
  return "v1," + proof::Base64Encode(*mac);
}

Status StandardWebhooksVerify(std::string_view secret, std::string_view msg_id,
                              std::string_view timestamp_header, std::string_view signature_header,
                              std::string_view body, TimestampMs now, std::int64_t tolerance_s) {
  std::int64_t ts = 0;
  if (!ParseInt64(timestamp_header, ts)) {
    return InvalidArgument("webhook-timestamp is not an integer");
  }
  if (ts < now / 1000 - tolerance_s || ts > now / 1000 + tolerance_s) {
    return Unauthenticated("webhook-timestamp outside the tolerance");
  }
  auto expected = StandardWebhooksSign(secret, msg_id, ts, body);
  if (!expected.ok()) return expected.status();
  bool match = false;
  std::string_view rest = signature_header;
  while (!rest.empty()) {
    size_t sp = rest.find(' ');
    std::string_view entry = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    if (entry.substr(0, 3) != "v1,") continue;  // unknown versions are skipped
    // No early exit: every entry is compared, so timing does not reveal which.
    match = ConstantTimeEquals(entry, expected.value()) || match;
  }
  if (!match) return Unauthenticated("no webhook-signature entry matches");
  return Status::Ok();
}

}  // namespace consentd::connectors
