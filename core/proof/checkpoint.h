// C2SP tlog-checkpoint bodies and tlog-proof bundles (c2sp.org/tlog-proof).
//
// Checkpoint text: "<origin>\n<decimal size>\n<base64 root>\n" then optional
// non-empty extension lines; it is signed as a signed note by the log key,
// whose name is the origin. A tlog-proof bundle is
//   c2sp.org/tlog-proof@v1\n[extra <base64>\n]index <n>\n<base64 hash>\n...\n\n<checkpoint note>
// consentd puts the entry's canonical bytes in `extra`, so one file holds
// everything needed to check an entry offline against the log's public key.
// Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/proof/hash.h"
#include "core/proof/note.h"
#include "core/status.h"

namespace consentd::proof {

struct Checkpoint {
  std::string origin;
  std::uint64_t size = 0;
  Hash root{};
  std::vector<std::string> extensions;
  bool operator==(const Checkpoint&) const = default;
};

std::string CheckpointText(const Checkpoint& checkpoint);
Result<Checkpoint> ParseCheckpointText(std::string_view text);

Result<std::string> SignCheckpoint(const Checkpoint& checkpoint, const NoteSigner& signer);
// Unauthenticated unless signed by `verifier` and the origin equals the
// verifier key's name; InvalidArgument for a malformed note or body.
Result<Checkpoint> OpenCheckpoint(std::string_view note, const NoteVerifier& verifier);

inline constexpr std::string_view kTlogProofHeader = "c2sp.org/tlog-proof@v1";

struct TlogProof {
  std::optional<std::string> extra;  // raw bytes (consentd: the entry)
  std::uint64_t index = 0;
  std::vector<Hash> inclusion;
  std::string checkpoint_note;  // the signed checkpoint, verbatim
};

std::string FormatTlogProof(const TlogProof& proof);
Result<TlogProof> ParseTlogProof(std::string_view text);

struct VerifiedTlogProof {
  Checkpoint checkpoint;
  std::uint64_t index = 0;
  std::string entry;  // the bytes whose inclusion was proven
};

// Checks the checkpoint signature and the inclusion of `entry` (or, if
// empty, of the bundle's `extra`) at the bundle's index. Unauthenticated for
// a bad signature, DataLoss for a proof that does not match.
Result<VerifiedTlogProof> VerifyTlogProof(std::string_view text, const NoteVerifier& verifier,
                                          std::string_view entry = {});

}  // namespace consentd::proof
