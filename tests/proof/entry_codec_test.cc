#include "core/proof/entry_codec.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/proof/test_data.h"

namespace consentd::proof {
namespace {

ProofEntry SampleEntry() {
  ProofEntry e;
  e.sequence = 42;
  e.record_id = "7f1c2a9e-0000-4000-8000-000000000042";
  e.recorded_at = 1764400000123;
  e.occurred_at = 1764399999000;
  e.subject = "subj_9f2c";
  e.kind = ProofKind::kDecided;
  e.topic = "newsletter";
  e.channel = "email";
  e.old_status = "not_asked";
  e.new_status = "granted";
  e.legal_basis = "eu-gdpr:A6-1-a";
  e.method = "double_opt_in";
  e.notice_version = "privacy-2026-01";
  e.source_system = "hubspot";
  e.source_event_id = "evt-1";
  e.signature_scheme = "hubspot-v3";
  e.mapping_hash = "abc123";
  e.reason = "Grüße \"quoted\"\n\x01";
  return e;
}

SealedEvidence SampleSealed() {
  return {std::string(12, '\x01'), "ciphertext-bytes", std::string(16, '\x02')};
}

TEST(EntryCodec, GoldenBytesPinTheFormat) {
  ProofEntry e;
  e.sequence = 7;
  e.record_id = "r7";
  e.recorded_at = 1000;
  e.subject = "s1";
  e.kind = ProofKind::kErasureCompleted;
  e.reason = "a\tb";
  Result<std::string> bytes = EncodeEntry(e, {});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes,
            R"({"event_type":"erasure_completed","pii_principal_id":"s1","reason":"a\tb",)"
            R"("record_id":"r7","recorded_at":1000,"schema_version":"consentd-proof-entry/1",)"
            R"("sequence":7})");
}

TEST(EntryCodec, MembersAreSortedCompactJson) {
  Result<std::string> bytes = EncodeEntry(SampleEntry(), SampleSealed());
  ASSERT_TRUE(bytes.ok());
  // nlohmann's object is a std::map: dump() is sorted and compact.
  EXPECT_EQ(nlohmann::json::parse(*bytes).dump(), *bytes);
}

TEST(EntryCodec, RoundTripGivesTheSameEntryAndBytes) {
  ProofEntry e = SampleEntry();
  Result<std::string> bytes = EncodeEntry(e, SampleSealed());
  ASSERT_TRUE(bytes.ok());
  Result<DecodedEntry> d = DecodeEntry(*bytes);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->sealed, SampleSealed());
  EXPECT_EQ(d->entry.reason, e.reason);
  EXPECT_EQ(d->entry.kind, e.kind);
  EXPECT_EQ(d->entry.occurred_at, e.occurred_at);
  EXPECT_EQ(d->entry.sequence, e.sequence);
  EXPECT_EQ(*EncodeEntry(d->entry, d->sealed), *bytes);
}

TEST(EntryCodec, EveryKindNameRoundTrips) {
  for (int k = 0; k <= static_cast<int>(ProofKind::kConfigChanged); ++k) {
    auto kind = static_cast<ProofKind>(k);
    EXPECT_EQ(ParseProofKind(ProofKindName(kind)), kind);
  }
  EXPECT_FALSE(ParseProofKind("granted").has_value());
}

TEST(EntryCodec, ClearEvidenceIsNeverEncoded) {
  ProofEntry e = SampleEntry();
  e.evidence["email"] = "a@example.com";
  EXPECT_EQ(EncodeEntry(e, {}).status().code(), StatusCode::kInvalidArgument);
}

TEST(EntryCodec, InvalidUtf8IsRefused) {
  ProofEntry e = SampleEntry();
  e.topic = "bad\xc3";
  EXPECT_FALSE(EncodeEntry(e, {}).ok());
  e.topic = "\xc0\xaf";  // overlong '/'
  EXPECT_FALSE(EncodeEntry(e, {}).ok());
}

TEST(EntryCodec, NonCanonicalSpellingsAreRejected) {
  std::string good = *EncodeEntry(SampleEntry(), SampleSealed());
  ASSERT_TRUE(DecodeEntry(good).ok());
  std::string spaced = good;
  spaced.insert(1, " ");
  EXPECT_FALSE(DecodeEntry(spaced).ok());
  // Same members, different order.
  nlohmann::ordered_json reordered = nlohmann::ordered_json::parse(good);
  nlohmann::ordered_json reversed;
  std::vector<std::pair<std::string, nlohmann::ordered_json>> members;
  for (auto& [k, v] : reordered.items()) members.emplace_back(k, v);
  for (auto it = members.rbegin(); it != members.rend(); ++it) reversed[it->first] = it->second;
  EXPECT_FALSE(DecodeEntry(reversed.dump()).ok());
  // An empty optional member must be omitted, not present.
  std::string with_empty = good;
  with_empty.replace(with_empty.find(R"("channel":"email")"), 15, R"("channel":"")");
  EXPECT_FALSE(DecodeEntry(with_empty).ok());
  // Duplicate member.
  std::string dup = good;
  dup.insert(1, R"("channel":"sms",)");
  EXPECT_FALSE(DecodeEntry(dup).ok());
  // Unknown member.
  std::string unknown = good;
  unknown.insert(1, R"("aaa":1,)");
  EXPECT_FALSE(DecodeEntry(unknown).ok());
  // Escaped character that needs no escape.
  ProofEntry plain = SampleEntry();
  plain.reason = "A";
  std::string a = *EncodeEntry(plain, {});
  std::string escaped = a;
  escaped.replace(escaped.find(R"("reason":"A")"), 12, R"("reason":"\u0041")");
  EXPECT_FALSE(DecodeEntry(escaped).ok());
}

TEST(EntryCodec, Iso27560FieldNamesComeFromTheStandard) {
  // The reference map lists the standard's snake_case names; every name we
  // borrow from it must be among them.
  std::string names = testing::LoadJson("consent/iso27560-dpv-gdpr-field-map.json")["caveat"];
  for (const char* field : {"schema_version", "record_id", "pii_principal_id", "privacy_notice",
                            "purpose", "lawful_basis", "pii_information", "collection_method",
                            "event_time", "event_type", "event_state"}) {
    EXPECT_NE(names.find(field), std::string::npos) << field;
    EXPECT_NE(EncodeEntry(SampleEntry(), SampleSealed())->find(std::string("\"") + field + "\""),
              std::string::npos)
        << field;
  }
}

TEST(EntryCodec, EvidenceRoundTripsCanonically) {
  std::map<std::string, std::string> ev{{"ip", "192.0.2.1"}, {"email", "a@example.com"}};
  Result<std::string> bytes = EncodeEvidence(ev);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, R"({"email":"a@example.com","ip":"192.0.2.1"})");
  EXPECT_EQ(*DecodeEvidence(*bytes), ev);
  EXPECT_FALSE(DecodeEvidence(R"({"ip":"192.0.2.1","email":"a@example.com"})").ok());
}

}  // namespace
}  // namespace consentd::proof

namespace consentd::proof {
namespace {

TEST(EntryCodec, SequenceIsExtractedWithoutAFullParse) {
  ProofEntry e = SampleEntry();
  e.reason = R"(tricky ,"sequence":99, text)";
  e.sequence = 123456789;
  std::string bytes = *EncodeEntry(e, SampleSealed());
  EXPECT_EQ(ExtractSequence(bytes), 123456789U);
  e.sequence = 0;
  EXPECT_EQ(ExtractSequence(*EncodeEntry(e, {})), 0U);
  EXPECT_FALSE(ExtractSequence(R"({"a":1,"sequence":01})").has_value());
  EXPECT_FALSE(ExtractSequence(R"({"a":1,"sequence":x})").has_value());
  EXPECT_FALSE(ExtractSequence("{}").has_value());
}

}  // namespace
}  // namespace consentd::proof

#include "core/proof/bytes.h"

namespace consentd::proof {
namespace {

TEST(Bytes, Base64MatchesRfc4648VectorsAndRejectsOtherSpellings) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, b64] : vectors) {
    EXPECT_EQ(Base64Encode(plain), b64);
    EXPECT_EQ(Base64Decode(b64), std::string(plain));
  }
  EXPECT_FALSE(Base64Decode("Zg=").has_value());   // bad length
  EXPECT_FALSE(Base64Decode("Zh==").has_value());  // non-zero padding bits
  EXPECT_FALSE(Base64Decode("Zm9v\n").has_value());
  EXPECT_FALSE(Base64Decode("Z===").has_value());
  EXPECT_EQ(HexEncode("\x01\xab"), "01ab");
  EXPECT_EQ(HexDecode("01AB"), std::string("\x01\xab"));
  EXPECT_FALSE(HexDecode("0g").has_value());
  EXPECT_FALSE(HexDecode("abc").has_value());
}

}  // namespace
}  // namespace consentd::proof
