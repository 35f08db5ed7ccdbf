// C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys via OpenSSL.
//
// A note is text (non-empty, UTF-8, every line ending in '\n'), a blank
// line, then signature lines "— <key name> <base64(key ID ‖ signature)>".
// Key ID = first 4 bytes (big-endian) of SHA-256(name ‖ "\n" ‖ 0x01 ‖
// 32-byte public key); 0x01 is the Ed25519 signature type. Verifier keys
// read "<name>+<hex key ID>+<base64(0x01 ‖ public key)>"; private keys use
// the Go sumdb form "PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ‖ seed)>".
//
// Signer and verifier are immutable after construction and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace consentd::proof {

struct NoteSignature {
  std::string name;
  std::uint32_t key_id = 0;
  std::string signature;  // raw signature bytes (64 for Ed25519)
};

struct Note {
  std::string text;  // ends with '\n'
  std::vector<NoteSignature> signatures;
};

// Strict parse: InvalidArgument for any deviation from the format.
Result<Note> ParseNote(std::string_view note);
std::string FormatNote(const Note& note);

std::uint32_t Ed25519KeyId(std::string_view name, std::string_view public_key);
// Names are non-empty and contain no whitespace and no '+'.
bool ValidKeyName(std::string_view name);

class NoteVerifier {
 public:
  static Result<NoteVerifier> FromVerifierKey(std::string_view vkey);
  const std::string& name() const { return name_; }
  std::uint32_t key_id() const { return key_id_; }
  // True if `sig` is this key's valid signature of `text`.
  bool Verify(std::string_view text, const NoteSignature& sig) const;

 private:
  std::string name_;
  std::uint32_t key_id_ = 0;
  std::shared_ptr<void> key_;  // EVP_PKEY, kept opaque to spare includers OpenSSL
};

class NoteSigner {
 public:
  // A fresh random key. Internal error only if the CSPRNG fails.
  static Result<NoteSigner> Generate(std::string_view name);
  static Result<NoteSigner> FromPrivateKey(std::string_view skey);

  const std::string& name() const { return name_; }
  std::uint32_t key_id() const { return key_id_; }
  std::string PrivateKeyString() const;
  std::string VerifierKey() const;
  Result<NoteSignature> Sign(std::string_view text) const;

 private:
  static Result<NoteSigner> FromSeed(std::string_view name, std::string_view seed);
  std::string name_;
  std::uint32_t key_id_ = 0;
  std::string seed_;
  std::string public_key_;
  std::shared_ptr<void> key_;
};

// Signs `text` (which must end in '\n') and returns the complete note.
Result<std::string> SignNote(std::string_view text, const NoteSigner& signer);

// Parses `note` and checks that it carries a valid signature by `verifier`
// (other signatures are ignored, as the spec allows). Unauthenticated when
// no such signature verifies; returns the note's text otherwise.
Result<std::string> OpenNote(std::string_view note, const NoteVerifier& verifier);

}  // namespace consentd::proof
