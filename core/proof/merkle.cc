#include "core/proof/merkle.h"

#include <bit>
#include <cstring>

namespace consentd::proof {
namespace {

// Largest power of two strictly less than n. REQUIRES: n >= 2.
std::uint64_t SplitPoint(std::uint64_t n) { return std::bit_floor(n - 1); }

bool SameBytes(const Hash& h, std::string_view bytes) {
  return bytes.size() == kHashSize && std::memcmp(h.data(), bytes.data(), kHashSize) == 0;
}

Status Mismatch(std::string what) { return DataLoss(std::move(what)); }

Status Path(const NodeSource& nodes, std::uint64_t m, std::uint64_t begin, std::uint64_t end,
            std::vector<Hash>& out) {
  std::uint64_t n = end - begin;
  if (n == 1) return Status::Ok();
  std::uint64_t k = SplitPoint(n);
  if (m < k) {
    CONSENTD_RETURN_IF_ERROR(Path(nodes, m, begin, begin + k, out));
    Result<Hash> h = RangeHash(nodes, begin + k, end);
    if (!h.ok()) return h.status();
    out.push_back(*h);
  } else {
    CONSENTD_RETURN_IF_ERROR(Path(nodes, m - k, begin + k, end, out));
    Result<Hash> h = RangeHash(nodes, begin, begin + k);
    if (!h.ok()) return h.status();
    out.push_back(*h);
  }
  return Status::Ok();
}

Status SubProof(const NodeSource& nodes, std::uint64_t m, std::uint64_t begin, std::uint64_t end,
                bool complete, std::vector<Hash>& out) {
  std::uint64_t n = end - begin;
  if (m == n) {
    if (!complete) {
      Result<Hash> h = RangeHash(nodes, begin, end);
      if (!h.ok()) return h.status();
      out.push_back(*h);
    }
    return Status::Ok();
  }
  std::uint64_t k = SplitPoint(n);
  if (m <= k) {
    CONSENTD_RETURN_IF_ERROR(SubProof(nodes, m, begin, begin + k, complete, out));
    Result<Hash> h = RangeHash(nodes, begin + k, end);
    if (!h.ok()) return h.status();
    out.push_back(*h);
  } else {
    CONSENTD_RETURN_IF_ERROR(SubProof(nodes, m - k, begin + k, end, false, out));
    Result<Hash> h = RangeHash(nodes, begin, begin + k);
    if (!h.ok()) return h.status();
    out.push_back(*h);
  }
  return Status::Ok();
}

}  // namespace

void MerkleFrontier::Append(const Hash& leaf_hash, const NodeSink& on_node) {
  Hash h = leaf_hash;
  std::uint64_t index = size_;
  int level = 0;
  while ((size_ >> level) & 1U) {
    h = HashChildren(hashes_.back(), h);
    hashes_.pop_back();
    ++level;
    index >>= 1;
    if (on_node) on_node(level, index, h);
  }
  hashes_.push_back(h);
  ++size_;
}

Hash MerkleFrontier::Root() const {
  if (hashes_.empty()) return EmptyTreeHash();
  Hash r = hashes_.back();
  for (std::size_t i = hashes_.size() - 1; i-- > 0;) r = HashChildren(hashes_[i], r);
  return r;
}

std::string MerkleFrontier::Serialize() const {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<char>((size_ >> (56 - 8 * i)) & 0xff);
  for (const Hash& h : hashes_) out.append(AsBytes(h));
  return out;
}

Result<MerkleFrontier> MerkleFrontier::Restore(std::string_view bytes) {
  if (bytes.size() < 8) return InvalidArgument("frontier: truncated size");
  MerkleFrontier f;
  for (int i = 0; i < 8; ++i)
    f.size_ = (f.size_ << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  std::size_t count = static_cast<std::size_t>(std::popcount(f.size_));
  if (bytes.size() != 8 + count * kHashSize) {
    return InvalidArgument("frontier: hash count does not match size");
  }
  for (std::size_t i = 0; i < count; ++i)
    f.hashes_.push_back(HashFromBytes(bytes.substr(8 + i * kHashSize, kHashSize)));
  return f;
}

Result<Hash> RangeHash(const NodeSource& nodes, std::uint64_t begin, std::uint64_t end) {
  if (begin >= end) return InvalidArgument("range hash: empty range");
  // Greedy split into aligned perfect subtrees, left to right; the tree
  // shape of RFC 9162 then folds them right to left.
  std::vector<Hash> parts;
  while (begin < end) {
    int level = begin == 0 ? 63 : std::countr_zero(begin);
    while (level > 0 && (std::uint64_t{1} << level) > end - begin) --level;
    Result<Hash> h = nodes.Node(level, begin >> level);
    if (!h.ok()) return h.status();
    parts.push_back(*h);
    begin += std::uint64_t{1} << level;
  }
  Hash r = parts.back();
  for (std::size_t i = parts.size() - 1; i-- > 0;) r = HashChildren(parts[i], r);
  return r;
}

Result<std::vector<Hash>> InclusionProof(const NodeSource& nodes, std::uint64_t index,
                                         std::uint64_t size) {
  if (index >= size) return InvalidArgument("inclusion proof: index not below tree size");
  std::vector<Hash> out;
  CONSENTD_RETURN_IF_ERROR(Path(nodes, index, 0, size, out));
  return out;
}

Result<std::vector<Hash>> ConsistencyProof(const NodeSource& nodes, std::uint64_t size1,
                                           std::uint64_t size2) {
  if (size1 == 0 || size1 > size2) {
    return InvalidArgument("consistency proof: need 0 < size1 <= size2");
  }
  std::vector<Hash> out;
  CONSENTD_RETURN_IF_ERROR(SubProof(nodes, size1, 0, size2, true, out));
  return out;
}

Status VerifyInclusion(std::uint64_t index, std::uint64_t size, std::string_view leaf_hash,
                       std::span<const Hash> proof, std::string_view root) {
  if (index >= size) return InvalidArgument("inclusion: index not below tree size");
  if (leaf_hash.size() != kHashSize) return InvalidArgument("inclusion: leaf hash is not 32 bytes");
  std::uint64_t fn = index;
  std::uint64_t sn = size - 1;
  Hash r = HashFromBytes(leaf_hash);
  for (const Hash& p : proof) {
    if (sn == 0) return Mismatch("inclusion: proof too long");
    if ((fn & 1U) || fn == sn) {
      r = HashChildren(p, r);
      if (!(fn & 1U)) {
        while (!(fn & 1U) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = HashChildren(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Mismatch("inclusion: proof too short");
  if (!SameBytes(r, root)) return Mismatch("inclusion: root does not match");
  return Status::Ok();
}

Status VerifyConsistency(std::uint64_t size1, std::uint64_t size2, std::span<const Hash> proof,
                         std::string_view root1, std::string_view root2) {
  if (size2 < size1) return InvalidArgument("consistency: size2 < size1");
  // A proof from the empty tree says nothing; RFC 9162 forbids size1 = 0.
  if (size1 == 0) return InvalidArgument("consistency: size1 is zero");
  if (size1 == size2) {
    if (!proof.empty()) return Mismatch("consistency: equal sizes need an empty proof");
    if (root1 != root2) return Mismatch("consistency: equal sizes, different roots");
    return Status::Ok();
  }
  if (proof.empty()) return Mismatch("consistency: empty proof");
  if (root1.size() != kHashSize || root2.size() != kHashSize) {
    return InvalidArgument("consistency: root is not 32 bytes");
  }
  std::vector<Hash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(size1)) path.push_back(HashFromBytes(root1));
  path.insert(path.end(), proof.begin(), proof.end());

  std::uint64_t fn = size1 - 1;
  std::uint64_t sn = size2 - 1;
  while (fn & 1U) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0];
  Hash sr = path[0];
  for (std::size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return Mismatch("consistency: proof too long");
    if ((fn & 1U) || fn == sn) {
      fr = HashChildren(c, fr);
      sr = HashChildren(c, sr);
      if (!(fn & 1U)) {
        while (!(fn & 1U) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = HashChildren(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Mismatch("consistency: proof too short");
  if (!SameBytes(fr, root1)) return Mismatch("consistency: first root does not match");
  if (!SameBytes(sr, root2)) return Mismatch("consistency: second root does not match");
  return Status::Ok();
}

void InMemoryTree::Append(const Hash& leaf_hash) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf_hash);
  frontier_.Append(leaf_hash, [this](int level, std::uint64_t, const Hash& h) {
    if (levels_.size() <= static_cast<std::size_t>(level))
      levels_.resize(static_cast<std::size_t>(level) + 1);
    levels_[static_cast<std::size_t>(level)].push_back(h);
  });
}

Result<Hash> InMemoryTree::Node(int level, std::uint64_t index) const {
  if (level < 0 || static_cast<std::size_t>(level) >= levels_.size() ||
      index >= levels_[static_cast<std::size_t>(level)].size()) {
    return NotFound("tree node not present");
  }
  return levels_[static_cast<std::size_t>(level)][index];
}

Result<Hash> StridedNodeSource::Node(int level, std::uint64_t index) const {
  if (level < 0 || level >= 64) return InvalidArgument("tree node level out of range");
  int stored = level - level % kStoredLevelStride;
  int up = level - stored;
  std::uint64_t count = std::uint64_t{1} << up;
  Result<std::vector<Hash>> got = fetch_(stored, index << up, count);
  if (!got.ok()) return got.status();
  std::vector<Hash> row = std::move(got).value();
  if (row.size() != count) return NotFound("stored tree level is incomplete");
  while (row.size() > 1) {
    for (std::size_t i = 0; i < row.size() / 2; ++i)
      row[i] = HashChildren(row[2 * i], row[2 * i + 1]);
    row.resize(row.size() / 2);
  }
  return row[0];
}

}  // namespace consentd::proof
