#include "core/proof/note.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/proof/bytes.h"
#include "core/proof/hash.h"

namespace consentd::proof {
namespace {

constexpr std::string_view kSigPrefix = "\xe2\x80\x94 ";  // U+2014 EM DASH, space
constexpr char kEd25519Type = 0x01;
constexpr std::size_t kEd25519KeySize = 32;
constexpr std::size_t kEd25519SigSize = 64;

std::shared_ptr<void> WrapKey(EVP_PKEY* key) {
  if (key == nullptr) return nullptr;
  return {key, [](void* k) { EVP_PKEY_free(static_cast<EVP_PKEY*>(k)); }};
}

EVP_PKEY* Raw(const std::shared_ptr<void>& key) { return static_cast<EVP_PKEY*>(key.get()); }

std::string KeyIdHex(std::uint32_t id) {
  std::string b(4, '\0');
  for (int i = 0; i < 4; ++i)
    b[static_cast<std::size_t>(i)] = static_cast<char>((id >> (24 - 8 * i)) & 0xff);
  return HexEncode(b);
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

// Parses "<name>+<hex id>+<base64(type ‖ key)>" (after any prefix).
struct KeyParts {
  std::string name;
  std::uint32_t key_id = 0;
  std::string key;  // without the type byte
};

Result<KeyParts> ParseKeyParts(std::string_view s) {
  // The base64 key may itself contain '+': split at the first two only.
  std::size_t a = s.find('+');
  std::size_t b = a == std::string_view::npos ? a : s.find('+', a + 1);
  if (b == std::string_view::npos) return InvalidArgument("key: want <name>+<id>+<key>");
  std::string_view parts[3] = {s.substr(0, a), s.substr(a + 1, b - a - 1), s.substr(b + 1)};
  if (!ValidKeyName(parts[0])) return InvalidArgument("key: bad name");
  auto id = HexDecode(parts[1]);
  if (!id || id->size() != 4 || parts[1].size() != 8) return InvalidArgument("key: bad key ID");
  auto key = Base64Decode(parts[2]);
  if (!key || key->size() != 1 + kEd25519KeySize || (*key)[0] != kEd25519Type) {
    return InvalidArgument("key: not an Ed25519 key");
  }
  KeyParts out;
  out.name = std::string(parts[0]);
  for (char c : *id) out.key_id = (out.key_id << 8) | static_cast<unsigned char>(c);
  out.key = key->substr(1);
  return out;
}

bool ValidNoteText(std::string_view text) {
  if (text.empty() || text.back() != '\n') return false;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n') || u == 0x7f) return false;
  }
  return true;
}

}  // namespace

bool ValidKeyName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (c == '+' || u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

std::uint32_t Ed25519KeyId(std::string_view name, std::string_view public_key) {
  std::string buf(name);
  buf += '\n';
  buf += kEd25519Type;
  buf += public_key;
  Hash h = Sha256(buf);
  return (std::uint32_t{h[0]} << 24) | (std::uint32_t{h[1]} << 16) | (std::uint32_t{h[2]} << 8) |
         std::uint32_t{h[3]};
}

Result<Note> ParseNote(std::string_view note) {
  std::size_t sep = note.rfind("\n\n");
  if (sep == std::string_view::npos)
    return InvalidArgument("note: no blank line before signatures");
  Note out;
  out.text = std::string(note.substr(0, sep + 1));
  if (!ValidNoteText(out.text))
    return InvalidArgument("note: text is empty or has control characters");
  std::string_view sigs = note.substr(sep + 2);
  if (sigs.empty() || sigs.back() != '\n') return InvalidArgument("note: no signature lines");
  sigs.remove_suffix(1);
  for (std::string_view line : Split(sigs, '\n')) {
    if (line.substr(0, kSigPrefix.size()) != kSigPrefix)
      return InvalidArgument("note: bad signature line");
    line.remove_prefix(kSigPrefix.size());
    std::size_t space = line.rfind(' ');
    if (space == std::string_view::npos) return InvalidArgument("note: bad signature line");
    std::string_view name = line.substr(0, space);
    auto blob = Base64Decode(line.substr(space + 1));
    if (!ValidKeyName(name) || !blob || blob->size() < 5)
      return InvalidArgument("note: bad signature line");
    NoteSignature sig;
    sig.name = std::string(name);
    for (int i = 0; i < 4; ++i)
      sig.key_id =
          (sig.key_id << 8) | static_cast<unsigned char>((*blob)[static_cast<std::size_t>(i)]);
    sig.signature = blob->substr(4);
    out.signatures.push_back(std::move(sig));
  }
  return out;
}

std::string FormatNote(const Note& note) {
  std::string out = note.text;
  out += '\n';
  for (const NoteSignature& s : note.signatures) {
    std::string blob(4, '\0');
    for (int i = 0; i < 4; ++i)
      blob[static_cast<std::size_t>(i)] = static_cast<char>((s.key_id >> (24 - 8 * i)) & 0xff);
    blob += s.signature;
    out += kSigPrefix;
    out += s.name;
    out += ' ';
    out += Base64Encode(blob);
    out += '\n';
  }
  return out;
}

Result<NoteVerifier> NoteVerifier::FromVerifierKey(std::string_view vkey) {
  Result<KeyParts> parts = ParseKeyParts(vkey);
  if (!parts.ok()) return parts.status();
  if (Ed25519KeyId(parts->name, parts->key) != parts->key_id) {
    return InvalidArgument("verifier key: key ID does not match the key");
  }
  NoteVerifier v;
  v.name_ = parts->name;
  v.key_id_ = parts->key_id;
  v.key_ = WrapKey(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(parts->key.data()),
      parts->key.size()));
  if (!v.key_) return InvalidArgument("verifier key: OpenSSL rejected the public key");
  return v;
}

bool NoteVerifier::Verify(std::string_view text, const NoteSignature& sig) const {
  if (sig.name != name_ || sig.key_id != key_id_ || sig.signature.size() != kEd25519SigSize) {
    return false;
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, Raw(key_)) != 1)
    return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.signature.data()),
                          sig.signature.size(), reinterpret_cast<const unsigned char*>(text.data()),
                          text.size()) == 1;
}

Result<NoteSigner> NoteSigner::FromSeed(std::string_view name, std::string_view seed) {
  if (!ValidKeyName(name)) return InvalidArgument("signing key: bad name");
  NoteSigner s;
  s.name_ = std::string(name);
  s.seed_ = std::string(seed);
  s.key_ = WrapKey(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), seed.size()));
  if (!s.key_) return InvalidArgument("signing key: OpenSSL rejected the seed");
  std::size_t len = kEd25519KeySize;
  s.public_key_.resize(len);
  if (EVP_PKEY_get_raw_public_key(
          Raw(s.key_), reinterpret_cast<unsigned char*>(s.public_key_.data()), &len) != 1 ||
      len != kEd25519KeySize) {
    return Internal("signing key: cannot derive public key");
  }
  s.key_id_ = Ed25519KeyId(s.name_, s.public_key_);
  return s;
}

Result<NoteSigner> NoteSigner::Generate(std::string_view name) {
  std::string seed(kEd25519KeySize, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(seed.data()), static_cast<int>(seed.size())) !=
      1) {
    return Internal("signing key: CSPRNG failure");
  }
  return FromSeed(name, seed);
}

Result<NoteSigner> NoteSigner::FromPrivateKey(std::string_view skey) {
  constexpr std::string_view kPrefix = "PRIVATE+KEY+";
  while (!skey.empty() && (skey.back() == '\n' || skey.back() == '\r')) skey.remove_suffix(1);
  if (skey.substr(0, kPrefix.size()) != kPrefix)
    return InvalidArgument("signing key: missing PRIVATE+KEY+ prefix");
  Result<KeyParts> parts = ParseKeyParts(skey.substr(kPrefix.size()));
  if (!parts.ok()) return parts.status();
  Result<NoteSigner> s = FromSeed(parts->name, parts->key);
  if (!s.ok()) return s.status();
  if (s->key_id_ != parts->key_id)
    return InvalidArgument("signing key: key ID does not match the key");
  return s;
}

std::string NoteSigner::PrivateKeyString() const {
  return "PRIVATE+KEY+" + name_ + "+" + KeyIdHex(key_id_) + "+" +
         Base64Encode(std::string(1, kEd25519Type) + seed_);
}

std::string NoteSigner::VerifierKey() const {
  return name_ + "+" + KeyIdHex(key_id_) + "+" +
         Base64Encode(std::string(1, kEd25519Type) + public_key_);
}

Result<NoteSignature> NoteSigner::Sign(std::string_view text) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::string sig(kEd25519SigSize, '\0');
  std::size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, Raw(key_)) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(text.data()), text.size()) != 1 ||
      len != kEd25519SigSize) {
    return Internal("signing failed");
  }
  return NoteSignature{name_, key_id_, std::move(sig)};
}

Result<std::string> SignNote(std::string_view text, const NoteSigner& signer) {
  if (!ValidNoteText(text))
    return InvalidArgument("note: text is empty, unterminated or has control characters");
  Result<NoteSignature> sig = signer.Sign(text);
  if (!sig.ok()) return sig.status();
  return FormatNote(Note{std::string(text), {std::move(sig).value()}});
}

Result<std::string> OpenNote(std::string_view note, const NoteVerifier& verifier) {
  Result<Note> parsed = ParseNote(note);
  if (!parsed.ok()) return parsed.status();
  for (const NoteSignature& sig : parsed->signatures) {
    if (verifier.Verify(parsed->text, sig)) return parsed->text;
  }
  return Unauthenticated("note: no valid signature by " + verifier.name());
}

}  // namespace consentd::proof
