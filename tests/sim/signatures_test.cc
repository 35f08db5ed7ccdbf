// Webhook signature schemes against the published reference vectors
// (tests/data/webhooks/webhook_signature_vectors.json).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "connectors/common/webhook_signatures.h"
#include "core/keyed_hash.h"
#include "core/proof/bytes.h"

namespace consentd::connectors {
namespace {

nlohmann::json Vectors() {
  std::ifstream in(std::string(CONSENTD_SOURCE_DIR) +
                   "/tests/data/webhooks/webhook_signature_vectors.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

nlohmann::json HubSpotV3Vector() {
  const nlohmann::json all = Vectors();  // the loop must not range over a temporary
  for (const auto& v : all["hubspot"]["vectors"]) {
    if (v["version"] == "v3") return v;
  }
  ADD_FAILURE() << "no v3 vector";
  return {};
}

TEST(WebhookSignaturesHubSpot, SignMatchesPublishedVector) {
  auto v = HubSpotV3Vector();
  EXPECT_EQ(HubSpotSignV3(v["client_secret"].get<std::string>(), v["method"].get<std::string>(),
                          v["uri"].get<std::string>(), v["body"].get<std::string>(),
                          v["timestamp"].get<std::string>()),
            v["expected_signature"].get<std::string>());
}

TEST(WebhookSignaturesHubSpot, VerifyAcceptsPublishedVectorWithinFiveMinutes) {
  auto v = HubSpotV3Vector();
  const TimestampMs ts = std::stoll(v["timestamp"].get<std::string>());
  for (TimestampMs now : {ts, ts + 299'000, ts - 299'000}) {
    EXPECT_TRUE(HubSpotVerifyV3(v["client_secret"].get<std::string>(), "POST",
                                v["uri"].get<std::string>(), v["body"].get<std::string>(),
                                v["expected_signature"].get<std::string>(),
                                v["timestamp"].get<std::string>(), now)
                    .ok());
  }
}

TEST(WebhookSignaturesHubSpot, VerifyRejectsStaleTimestamp) {
  auto v = HubSpotV3Vector();
  const TimestampMs ts = std::stoll(v["timestamp"].get<std::string>());
  Status s =
      HubSpotVerifyV3(v["client_secret"].get<std::string>(), "POST", v["uri"].get<std::string>(),
                      v["body"].get<std::string>(), v["expected_signature"].get<std::string>(),
                      v["timestamp"].get<std::string>(), ts + 300'001);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
}

TEST(WebhookSignaturesHubSpot, VerifyRejectsAnyChangedInput) {
  auto v = HubSpotV3Vector();
  const std::string secret = v["client_secret"], uri = v["uri"], body = v["body"],
                    sig = v["expected_signature"], ts = v["timestamp"];
  const TimestampMs now = std::stoll(ts);
  EXPECT_FALSE(HubSpotVerifyV3(secret, "PUT", uri, body, sig, ts, now).ok());
  EXPECT_FALSE(HubSpotVerifyV3(secret, "POST", uri + "?x=1", body, sig, ts, now).ok());
  EXPECT_FALSE(HubSpotVerifyV3(secret, "POST", uri, body + " ", sig, ts, now).ok());
  EXPECT_FALSE(HubSpotVerifyV3(secret + "z", "POST", uri, body, sig, ts, now).ok());
  EXPECT_FALSE(HubSpotVerifyV3(secret, "POST", uri, body, sig, std::to_string(now + 1), now).ok());
  EXPECT_EQ(HubSpotVerifyV3(secret, "POST", uri, body, sig, "abc", now).code(),
            StatusCode::kInvalidArgument);
}

// HubSpot decodes twelve escapes in the URI before it signs; the rest stay.
TEST(WebhookSignaturesHubSpot, SignedUriDecodesOnlyHubSpotsListOfEscapes) {
  EXPECT_EQ(HubSpotSignedUri("https://h.example/w%3Ahook?a=%2F%3f%40%21%24%27%28%29%2A%2c%3B"),
            "https://h.example/w:hook?a=/?@!$'()*,;");
  // %20, %25, %3D, %26 and %2B are not in the list; a truncated or
  // non-hex escape is copied as it is.
  EXPECT_EQ(HubSpotSignedUri("https://h.example/w?a=b%20c%25%3D%26%2B&d=%3"),
            "https://h.example/w?a=b%20c%25%3D%26%2B&d=%3");
  EXPECT_EQ(HubSpotSignedUri("%zz%3A%"), "%zz:%");
}

// A request to a URL with such escapes verifies against the signature
// HubSpot computes over the decoded form (and the simulator, which signs
// the URL it sends to, produces the same signature).
TEST(WebhookSignaturesHubSpot, VerifyUsesTheDecodedUri) {
  auto v = HubSpotV3Vector();
  const std::string secret = v["client_secret"], body = v["body"], ts = v["timestamp"];
  const TimestampMs now = std::stoll(ts);
  const std::string sent = "https://www.example.com/webhook_uri?tag=a%3Ab%2Cc%20d";
  const std::string decoded = "https://www.example.com/webhook_uri?tag=a:b,c%20d";
  std::string msg = "POST" + decoded + body + ts;
  auto mac = consentd::HmacSha256(secret, msg);
  ASSERT_TRUE(mac.ok());
  const std::string hubspot_sig = proof::Base64Encode(*mac);
  EXPECT_TRUE(HubSpotVerifyV3(secret, "POST", sent, body, hubspot_sig, ts, now).ok());
  EXPECT_EQ(HubSpotSignV3(secret, "POST", sent, body, ts), hubspot_sig);
  // %20 is signed as sent: a verifier that decoded it would not match.
  EXPECT_FALSE(HubSpotVerifyV3(secret, "POST", "https://www.example.com/webhook_uri?tag=a:b,c d",
                               body, hubspot_sig, ts, now)
                   .ok());
}

// Timestamps at the ends of the 64-bit range are refused as stale; the
// window test must not overflow on them (UBSan in the asan preset).
TEST(WebhookSignatures, ExtremeTimestampsAreOutsideTheWindow) {
  auto v = HubSpotV3Vector();
  const std::string secret = v["client_secret"], uri = v["uri"], body = v["body"],
                    sig = v["expected_signature"];
  const TimestampMs now = std::stoll(v["timestamp"].get<std::string>());
  for (const std::string ts : {"-9223372036854775808", "9223372036854775807"}) {
    EXPECT_EQ(HubSpotVerifyV3(secret, "POST", uri, body, sig, ts, now).code(),
              StatusCode::kUnauthenticated)
        << ts;
  }
  auto w = Vectors()["standard_webhooks"]["vectors"][0];
  const std::string w_secret = w["secret"], w_id = w["msg_id"], w_sig = w["expected_signature"],
                    w_body = w["payload"];
  const TimestampMs w_now = w["timestamp"].get<std::int64_t>() * 1000;
  for (const std::string ts : {"-9223372036854775808", "9223372036854775807"}) {
    EXPECT_EQ(StandardWebhooksVerify(w_secret, w_id, ts, w_sig, w_body, w_now).code(),
              StatusCode::kUnauthenticated)
        << ts;
  }
}

TEST(WebhookSignatures, ConstantTimeEqualsComparesWholeValues) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_FALSE(ConstantTimeEquals("secret", ""));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(WebhookSignaturesStandard, SignMatchesPublishedVectors) {
  const nlohmann::json all = Vectors();
  for (const auto& v : all["standard_webhooks"]["vectors"]) {
    auto sig =
        StandardWebhooksSign(v["secret"].get<std::string>(), v["msg_id"].get<std::string>(),
                             v["timestamp"].get<std::int64_t>(), v["payload"].get<std::string>());
    ASSERT_TRUE(sig.ok()) << sig.status().ToString();
    EXPECT_EQ(sig.value(), v["expected_signature"].get<std::string>());
  }
}

TEST(WebhookSignaturesStandard, VerifyAcceptsAnyMatchingEntryAndSecretWithoutPrefix) {
  auto v = Vectors()["standard_webhooks"]["vectors"][0];
  const std::string secret = v["secret"], id = v["msg_id"], body = v["payload"],
                    sig = v["expected_signature"];
  const std::int64_t ts = v["timestamp"];
  const TimestampMs now = ts * 1000;
  EXPECT_TRUE(StandardWebhooksVerify(secret, id, std::to_string(ts), sig, body, now).ok());
  EXPECT_TRUE(
      StandardWebhooksVerify(secret.substr(6), id, std::to_string(ts), sig, body, now).ok());
  const std::string several =
      "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2," + sig.substr(3) + " " + sig;
  EXPECT_TRUE(StandardWebhooksVerify(secret, id, std::to_string(ts), several, body, now).ok());
}

TEST(WebhookSignaturesStandard, VerifyRejectsNegativeSignaturesAndUnknownVersions) {
  auto vectors = Vectors()["standard_webhooks"];
  auto v = vectors["vectors"][0];
  const std::string secret = v["secret"], id = v["msg_id"], body = v["payload"],
                    sig = v["expected_signature"];
  const std::int64_t ts = v["timestamp"];
  for (const auto& neg : vectors["negative_signatures_from_tests"]) {
    std::string s = neg;
    if (s.rfind("v2,", 0) == 0) s = "v2," + sig.substr(3);  // valid sig, unknown version
    EXPECT_EQ(StandardWebhooksVerify(secret, id, std::to_string(ts), s, body, ts * 1000).code(),
              StatusCode::kUnauthenticated)
        << s;
  }
}

TEST(WebhookSignaturesStandard, VerifyRejectsTimestampOutsideToleranceOrMalformed) {
  auto v = Vectors()["standard_webhooks"]["vectors"][0];
  const std::string secret = v["secret"], id = v["msg_id"], body = v["payload"],
                    sig = v["expected_signature"];
  const std::int64_t ts = v["timestamp"];
  EXPECT_EQ(
      StandardWebhooksVerify(secret, id, std::to_string(ts), sig, body, (ts + 301) * 1000).code(),
      StatusCode::kUnauthenticated);
  EXPECT_EQ(
      StandardWebhooksVerify(secret, id, std::to_string(ts), sig, body, (ts - 301) * 1000).code(),
      StatusCode::kUnauthenticated);
  for (std::string bad : {"161426533.0", "hello", ""}) {
    EXPECT_EQ(StandardWebhooksVerify(secret, id, bad, sig, body, ts * 1000).code(),
              StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(WebhookSignaturesStandard, EmptySecretIsRejected) {
  EXPECT_FALSE(StandardWebhooksSign("whsec_", "id", 1, "{}").ok());
  EXPECT_FALSE(StandardWebhooksSign("", "id", 1, "{}").ok());
}

}  // namespace
}  // namespace consentd::connectors
