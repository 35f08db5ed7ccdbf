// Vocabulary, normalisation and keyed-hash rules of the canonical model.
#include "core/model.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/consent_types.h"
#include "core/keyed_hash.h"
#include "core/normalise.h"
#include "core/punycode.h"

namespace consentd {
namespace {

std::string Puny(std::string_view utf8) {
  auto cps = DecodeUtf8(utf8);
  EXPECT_TRUE(cps.ok()) << cps.status().ToString();
  auto out = PunycodeEncode(*cps);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? *out : std::string();
}

TEST(ConsentTypes, StatusNamesAreStableAndRoundTrip) {
  const std::vector<std::pair<ConsentStatus, std::string>> expected = {
      {ConsentStatus::kNotAsked, "not_asked"},
      {ConsentStatus::kPending, "pending"},
      {ConsentStatus::kGranted, "granted"},
      {ConsentStatus::kWithdrawn, "withdrawn"},
      {ConsentStatus::kRefused, "refused"}};
  for (const auto& [status, name] : expected) {
    EXPECT_EQ(ConsentStatusName(status), name);
    auto parsed = ParseConsentStatus(name);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, status);
  }
  EXPECT_FALSE(ParseConsentStatus("GRANTED").ok());
  EXPECT_FALSE(ParseConsentStatus("subscribed").ok());
  EXPECT_FALSE(ParseConsentStatus("").ok());
}

TEST(ConsentTypes, MethodAndReasonNamesRoundTrip) {
  for (std::string name : {"form", "double_opt_in", "unsubscribe_link", "admin", "api", "import"}) {
    auto m = ParseConsentMethod(name);
    ASSERT_TRUE(m.ok()) << name;
    EXPECT_EQ(ConsentMethodName(*m), name);
  }
  for (std::string name : {"unsubscribed", "bounced", "complaint", "manual", "legal"}) {
    auto r = ParseBlockReason(name);
    ASSERT_TRUE(r.ok()) << name;
    EXPECT_EQ(BlockReasonName(*r), name);
  }
  EXPECT_FALSE(ParseConsentMethod("email").ok());
  EXPECT_FALSE(ParseBlockReason("spam").ok());
}

TEST(ConsentTypes, OnlyWithdrawnAndRefusedAreRestrictive) {
  EXPECT_TRUE(IsRestrictive(ConsentStatus::kWithdrawn));
  EXPECT_TRUE(IsRestrictive(ConsentStatus::kRefused));
  EXPECT_FALSE(IsRestrictive(ConsentStatus::kGranted));
  EXPECT_FALSE(IsRestrictive(ConsentStatus::kPending));
  EXPECT_FALSE(IsRestrictive(ConsentStatus::kNotAsked));
}

// Every Art. 6(1) term of the DPV eu-gdpr 2.3 vocabulary is accepted and
// maps to its IRI; nothing else is.
TEST(ConsentTypes, LegalBasesAreTheDpvArticle6Terms) {
  std::ifstream in(std::string(CONSENTD_SOURCE_DIR) +
                   "/tests/data/consent/eu-gdpr-2.3-legal_basis.csv");
  ASSERT_TRUE(in) << "missing tests/data/consent/eu-gdpr-2.3-legal_basis.csv";
  std::string line;
  std::getline(in, line);  // header
  int article6 = 0;
  while (std::getline(in, line)) {
    // "term","type","iri",...: the first three fields never contain commas.
    std::vector<std::string> fields;
    std::stringstream ss(line);
    for (std::string f; fields.size() < 3 && std::getline(ss, f, ',');) {
      fields.push_back(f.size() >= 2 ? f.substr(1, f.size() - 2) : f);
    }
    ASSERT_EQ(fields.size(), 3u);
    const std::string basis = "eu-gdpr:" + fields[0];
    if (!fields[0].starts_with("A6-1")) {
      EXPECT_FALSE(IsKnownLegalBasis(basis)) << basis;
      continue;
    }
    ++article6;
    EXPECT_TRUE(IsKnownLegalBasis(basis)) << basis;
    auto iri = LegalBasisIri(basis);
    ASSERT_TRUE(iri.ok());
    EXPECT_EQ(*iri, fields[2]);
  }
  EXPECT_EQ(article6, 16);
  EXPECT_TRUE(IsKnownLegalBasis(kLegalBasisConsent));
  EXPECT_FALSE(IsKnownLegalBasis("A6-1-a"));
  EXPECT_FALSE(IsKnownLegalBasis("eu-gdpr:A6-1-g"));
  EXPECT_FALSE(LegalBasisIri("eu-gdpr:A9-2-a").ok());
}

// RFC 3492 §7.1 sample strings (A, B, L, M, P, Q, R) and common labels.
TEST(Punycode, EncodesRfc3492Samples) {
  EXPECT_EQ(Puny("\u0644\u064A\u0647\u0645\u0627\u0628\u062A\u0643\u0644\u0645\u0648\u0634\u0639"
                 "\u0631\u0628\u064A\u061F"),
            "egbpdaj6bu4bxfgehfvwxn");
  EXPECT_EQ(Puny("\u4ED6\u4EEC\u4E3A\u4EC0\u4E48\u4E0D\u8BF4\u4E2D\u6587"),
            "ihqwcrb4cv8a8dqg056pqjye");
  EXPECT_EQ(Puny("3\u5E74B\u7D44\u91D1\u516B\u5148\u751F"), "3B-ww4c5e180e575a65lsy2b");
  EXPECT_EQ(Puny("\u5B89\u5BA4\u5948\u7F8E\u6075-with-SUPER-MONKEYS"),
            "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n");
  EXPECT_EQ(Puny("\u30D1\u30D5\u30A3\u30FCde\u30EB\u30F3\u30D0"), "de-jg4avhby1noc0d");
  EXPECT_EQ(Puny("\u305D\u306E\u30B9\u30D4\u30FC\u30C9\u3067"), "d9juau41awczczp");
  EXPECT_EQ(Puny("-> $1.00 <-"), "-> $1.00 <--");
  EXPECT_EQ(Puny("m\u00FCnchen"), "mnchen-3ya");
  EXPECT_EQ(Puny("b\u00FCcher"), "bcher-kva");
  EXPECT_EQ(Puny("\U0001F600"), "e28h");
}

TEST(Utf8, MalformedInputIsRejected) {
  EXPECT_FALSE(DecodeUtf8("\xC3").ok());              // truncated
  EXPECT_FALSE(DecodeUtf8("\xC0\xAF").ok());          // overlong '/'
  EXPECT_FALSE(DecodeUtf8("\xED\xA0\x80").ok());      // surrogate
  EXPECT_FALSE(DecodeUtf8("\xF4\x90\x80\x80").ok());  // > U+10FFFF
  EXPECT_FALSE(DecodeUtf8("\xFF").ok());
  EXPECT_TRUE(DecodeUtf8("plain \xE2\x82\xAC").ok());
}

std::string Email(std::string_view raw) {
  auto r = NormaliseEmail(raw);
  EXPECT_TRUE(r.ok()) << raw << ": " << r.status().ToString();
  return r.ok() ? *r : std::string();
}

TEST(NormaliseEmail, TrimsAndLowerCasesDomainKeepingLocalPart) {
  EXPECT_EQ(Email("  Jane.Doe@Example.COM \t"), "Jane.Doe@example.com");
  EXPECT_EQ(Email("jane+news@example.com."), "jane+news@example.com");
  EXPECT_EQ(EmailMatchKey(Email("Jane.Doe@Example.COM")), "jane.doe@example.com");
}

TEST(NormaliseEmail, InternationalisedDomainBecomesALabel) {
  EXPECT_EQ(Email("info@m\u00FCnchen.de"), "info@xn--mnchen-3ya.de");
  EXPECT_EQ(Email("info@M\u00DCNCHEN.DE"), "info@xn--mnchen-3ya.de");  // upper-case umlaut
  EXPECT_EQ(Email("a@\u4F8B\u3048.\u30C6\u30B9\u30C8"), "a@xn--r8jz45g.xn--zckzah");
  EXPECT_EQ(Email("a@\u4F8B\u3048\u3002\u30C6\u30B9\u30C8"),
            "a@xn--r8jz45g.xn--zckzah");                       // ideographic dot
  EXPECT_EQ(Email("a@stra\u00DFe.de"), "a@xn--strae-oqa.de");  // IDNA2008 keeps sharp s
  EXPECT_EQ(Email("a@\u0420\u041E\u0421\u0421\u0418\u042F.ru"), "a@xn--h1alffa9f.ru");
  EXPECT_EQ(Email("a@xn--mnchen-3ya.de"), "a@xn--mnchen-3ya.de");  // already an A-label
  // The same person typed two ways compares equal.
  EXPECT_EQ(EmailMatchKey(Email("Info@M\u00FCnchen.de")),
            EmailMatchKey(Email("info@xn--MNCHEN-3ya.de")));
}

TEST(NormaliseEmail, GarbageIsRejectedWithAClearStatus) {
  for (std::string_view bad :
       {"", "   ", "jane", "@example.com", "jane@", "jane@@example.com", "ja ne@example.com",
        "jane@example", "jane@exa mple.com", "jane@-example.com", "jane@example..com",
        "\"jane\"@example.com", "jane@example.123", ".jane@example.com", "jane..doe@example.com",
        "jane@ex_ample.com", "jane@\xC3.com", "a@b@c.com"}) {
    auto r = NormaliseEmail(bad);
    EXPECT_FALSE(r.ok()) << "accepted '" << bad << "'";
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
      EXPECT_FALSE(r.status().message().empty());
    }
  }
  EXPECT_FALSE(NormaliseEmail(std::string(65, 'a') + "@example.com").ok());
  EXPECT_FALSE(NormaliseEmail("a@" + std::string(64, 'b') + ".com").ok());
}

std::string Phone(std::string_view raw, std::string_view cc = "49") {
  auto r = NormalisePhone(raw, cc);
  EXPECT_TRUE(r.ok()) << raw << ": " << r.status().ToString();
  return r.ok() ? *r : std::string();
}

TEST(NormalisePhone, ProducesE164) {
  EXPECT_EQ(Phone("+49 30 1234567"), "+49301234567");
  EXPECT_EQ(Phone("0049 (30) 123-45-67"), "+49301234567");
  EXPECT_EQ(Phone("030 / 1234567"), "+49301234567");      // national with trunk 0
  EXPECT_EQ(Phone("+49 (0)30 1234567"), "+49301234567");  // "(0)" not dialled from abroad
  EXPECT_EQ(Phone("tel:+1-415-555-2671"), "+14155552671");
  EXPECT_EQ(Phone("(415) 555.2671", "1"), "+14155552671");  // national without trunk prefix
  EXPECT_EQ(Phone("087 123 4567", "353"), "+353871234567");
  EXPECT_EQ(Phone("+683 4002"), "+6834002");  // shortest plans
}

TEST(NormalisePhone, GarbageIsRejectedWithAClearStatus) {
  for (std::string_view bad :
       {"", "  ", "call me", "+49 30 12A4567", "++49301234567", "49+301234567", "+0 30 1234567",
        "+49 30", "1234", "+49 30 1234567890123", "0000 123456789"}) {
    auto r = NormalisePhone(bad, "49");
    EXPECT_FALSE(r.ok()) << "accepted '" << bad << "' as " << (r.ok() ? *r : "");
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
  }
  EXPECT_FALSE(NormalisePhone("030 1234567", "").ok());
  EXPECT_FALSE(NormalisePhone("030 1234567", "049").ok());
  EXPECT_FALSE(NormalisePhone("030 1234567", "4x").ok());
}

constexpr std::string_view kKey = "0123456789abcdef0123456789abcdef";

// Expected values computed independently:
//   python3 -c "import hmac,hashlib;print(hmac.new(b'0123456789abcdef0123456789abcdef',
//               b'email:jane.doe@example.com',hashlib.sha256).hexdigest())"
TEST(IdentifierHash, IsHmacSha256OfKindAndMatchKey) {
  auto h = IdentifierHash(kKey, IdentifierKind::kEmail, "Jane.Doe@example.com");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, "204b2273cba71ba7fade5af6833b91be2df680c8322869a7ef15254287172fca");
  auto p = IdentifierHash(kKey, IdentifierKind::kPhone, "+49301234567");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, "fae8ee73819a9e6b33ce41afdbf595f8e759e28b6cf00a1c43e95aa9d8b7dc36");
}

TEST(IdentifierHash, KindSystemAndKeySeparateHashes) {
  const auto a = IdentifierHash(kKey, IdentifierKind::kNativeId, "42", "hubspot");
  const auto b = IdentifierHash(kKey, IdentifierKind::kNativeId, "42", "mailchimp");
  const auto c = IdentifierHash(kKey, IdentifierKind::kPhone, "42");
  const auto d =
      IdentifierHash("another key of 32 bytes........", IdentifierKind::kNativeId, "42", "hubspot");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  EXPECT_NE(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_NE(*a, *d);
  EXPECT_FALSE(IdentifierHash("short", IdentifierKind::kEmail, "a@b.de").ok());
}

TEST(IdentifierHash, SubjectHashesCoverEveryIdentifier) {
  Subject s;
  s.id = "s-1";
  s.emails = {"Jane.Doe@example.com"};
  s.phones = {"+49301234567"};
  s.native_ids = {{"hubspot", "42"}};
  auto hashes = SubjectIdentifierHashes(kKey, s);
  ASSERT_TRUE(hashes.ok());
  EXPECT_EQ(hashes->size(), 3u);
  // Matches the hash of the same address spelled in another case.
  EXPECT_TRUE(
      hashes->contains(*IdentifierHash(kKey, IdentifierKind::kEmail, "jane.doe@example.com")));
  EXPECT_TRUE(hashes->contains(*IdentifierHash(kKey, IdentifierKind::kNativeId, "42", "hubspot")));
}

TEST(IdempotencyDigest, IsSha256Hex) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0x0F]);
  }
  return out;
}

// RFC 4231 test cases 2 and 6 (a short key; a key longer than the block).
TEST(HmacSha256, MatchesRfc4231) {
  auto short_key = HmacSha256("Jefe", "what do ya want for nothing?");
  ASSERT_TRUE(short_key.ok());
  EXPECT_EQ(Hex(*short_key), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  auto long_key = HmacSha256(std::string(131, '\xaa'),
                             "Test Using Larger Than Block-Size Key - Hash Key First");
  ASSERT_TRUE(long_key.ok());
  EXPECT_EQ(Hex(*long_key), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

// Each thread keeps one HMAC context and its last key: alternating keys,
// a key that is a prefix of the other, and another thread must all give
// what a fresh computation gives.
TEST(HmacSha256, AlternatingKeysAndThreadsGiveTheSameMacs) {
  const std::string a = "0123456789abcdef0123456789abcdef";
  const std::string b = a.substr(0, 16);
  const std::string with_nul = std::string("0123456789abcdef\0tail", 21);
  auto mac = [](std::string_view key) {
    auto r = HmacSha256(key, "message");
    EXPECT_TRUE(r.ok());
    return r.ok() ? Hex(*r) : std::string();
  };
  const std::string mac_a = mac(a);
  const std::string mac_b = mac(b);
  const std::string mac_nul = mac(with_nul);
  EXPECT_NE(mac_a, mac_b);
  EXPECT_NE(mac_b, mac_nul);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(mac(a), mac_a);
    EXPECT_EQ(mac(a), mac_a);
    EXPECT_EQ(mac(b), mac_b);
    EXPECT_EQ(mac(with_nul), mac_nul);
  }
  const auto email = IdentifierHash(kKey, IdentifierKind::kEmail, "Jane.Doe@example.com");
  std::string from_thread;
  std::thread([&] {
    EXPECT_EQ(mac(b), mac_b);
    auto h = IdentifierHash(kKey, IdentifierKind::kEmail, "Jane.Doe@example.com");
    if (h.ok()) from_thread = *h;
  }).join();
  ASSERT_TRUE(email.ok());
  EXPECT_EQ(from_thread, *email);
  EXPECT_EQ(*email, "204b2273cba71ba7fade5af6833b91be2df680c8322869a7ef15254287172fca");
}

TEST(BlockScope, TextFormRoundTrips) {
  for (std::string text :
       {"all", "channel:email", "address:jane@example.com", "topic:newsletter"}) {
    auto s = ParseBlockScope(text);
    ASSERT_TRUE(s.ok()) << text;
    EXPECT_EQ(BlockScopeString(*s), text);
  }
  EXPECT_FALSE(ParseBlockScope("channel:").ok());
  EXPECT_FALSE(ParseBlockScope("person:x").ok());
  EXPECT_FALSE(ParseBlockScope("").ok());
}

}  // namespace
}  // namespace consentd
