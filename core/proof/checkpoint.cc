#include "core/proof/checkpoint.h"

#include <charconv>

#include "core/proof/bytes.h"
#include "core/proof/merkle.h"

namespace consentd::proof {
namespace {

std::vector<std::string_view> Lines(std::string_view text) {
  // REQUIRES: text ends with '\n'; returns the lines without terminators.
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      lines.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  return lines;
}

// Decimal without sign or leading zeros ("0" alone is fine).
std::optional<std::uint64_t> ParseDecimal(std::string_view s) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<Hash> ParseB64Hash(std::string_view s) {
  auto b = Base64Decode(s);
  if (!b || b->size() != kHashSize) return std::nullopt;
  return HashFromBytes(*b);
}

}  // namespace

std::string CheckpointText(const Checkpoint& c) {
  std::string out =
      c.origin + "\n" + std::to_string(c.size) + "\n" + Base64Encode(AsBytes(c.root)) + "\n";
  for (const std::string& ext : c.extensions) out += ext + "\n";
  return out;
}

Result<Checkpoint> ParseCheckpointText(std::string_view text) {
  if (text.empty() || text.back() != '\n')
    return InvalidArgument("checkpoint: text must end with a newline");
  std::vector<std::string_view> lines = Lines(text);
  if (lines.size() < 3) return InvalidArgument("checkpoint: needs origin, size and root lines");
  Checkpoint c;
  c.origin = std::string(lines[0]);
  if (c.origin.empty()) return InvalidArgument("checkpoint: empty origin");
  std::optional<std::uint64_t> size = ParseDecimal(lines[1]);
  if (!size) return InvalidArgument("checkpoint: bad tree size");
  c.size = *size;
  std::optional<Hash> root = ParseB64Hash(lines[2]);
  if (!root) return InvalidArgument("checkpoint: bad root hash");
  c.root = *root;
  for (std::size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) return InvalidArgument("checkpoint: empty extension line");
    c.extensions.emplace_back(lines[i]);
  }
  return c;
}

Result<std::string> SignCheckpoint(const Checkpoint& checkpoint, const NoteSigner& signer) {
  if (checkpoint.origin != signer.name()) {
    return InvalidArgument("checkpoint: origin must be the signing key's name");
  }
  return SignNote(CheckpointText(checkpoint), signer);
}

Result<Checkpoint> OpenCheckpoint(std::string_view note, const NoteVerifier& verifier) {
  Result<std::string> text = OpenNote(note, verifier);
  if (!text.ok()) return text.status();
  Result<Checkpoint> c = ParseCheckpointText(*text);
  if (!c.ok()) return c.status();
  if (c->origin != verifier.name())
    return Unauthenticated("checkpoint: origin is not the key's name");
  return c;
}

std::string FormatTlogProof(const TlogProof& p) {
  std::string out(kTlogProofHeader);
  out += '\n';
  if (p.extra) out += "extra " + Base64Encode(*p.extra) + "\n";
  out += "index " + std::to_string(p.index) + "\n";
  for (const Hash& h : p.inclusion) out += Base64Encode(AsBytes(h)) + "\n";
  out += '\n';
  out += p.checkpoint_note;
  return out;
}

Result<TlogProof> ParseTlogProof(std::string_view text) {
  std::size_t blank = text.find("\n\n");
  if (blank == std::string_view::npos)
    return InvalidArgument("tlog-proof: no blank line before the checkpoint");
  std::vector<std::string_view> lines = Lines(text.substr(0, blank + 1));
  TlogProof p;
  p.checkpoint_note = std::string(text.substr(blank + 2));
  std::size_t i = 0;
  if (lines.empty() || lines[i++] != kTlogProofHeader)
    return InvalidArgument("tlog-proof: bad header line");
  if (i < lines.size() && lines[i].substr(0, 6) == "extra ") {
    auto extra = Base64Decode(lines[i].substr(6));
    if (!extra) return InvalidArgument("tlog-proof: bad extra data");
    p.extra = std::move(*extra);
    ++i;
  }
  if (i >= lines.size() || lines[i].substr(0, 6) != "index ")
    return InvalidArgument("tlog-proof: missing index line");
  std::optional<std::uint64_t> index = ParseDecimal(lines[i++].substr(6));
  if (!index) return InvalidArgument("tlog-proof: bad index");
  p.index = *index;
  for (; i < lines.size(); ++i) {
    std::optional<Hash> h = ParseB64Hash(lines[i]);
    if (!h) return InvalidArgument("tlog-proof: bad proof hash line");
    p.inclusion.push_back(*h);
  }
  return p;
}

Result<VerifiedTlogProof> VerifyTlogProof(std::string_view text, const NoteVerifier& verifier,
                                          std::string_view entry) {
  Result<TlogProof> p = ParseTlogProof(text);
  if (!p.ok()) return p.status();
  Result<Checkpoint> c = OpenCheckpoint(p->checkpoint_note, verifier);
  if (!c.ok()) return c.status();
  VerifiedTlogProof out{*c, p->index, std::string(entry)};
  if (out.entry.empty()) {
    if (!p->extra) return InvalidArgument("tlog-proof: no entry given and no extra data");
    out.entry = *p->extra;
  }
  Hash leaf = HashLeaf(out.entry);
  CONSENTD_RETURN_IF_ERROR(
      VerifyInclusion(p->index, c->size, AsBytes(leaf), p->inclusion, AsBytes(c->root)));
  return out;
}

}  // namespace consentd::proof
