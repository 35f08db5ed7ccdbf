#include "core/proof/log_audit.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string_view>
#include <system_error>
#include <thread>

#include "core/proof/checkpoint.h"
#include "core/proof/entry_codec.h"

namespace consentd::proof {
namespace {

void Fail(AuditResult& r, std::string problem, std::optional<std::uint64_t> seq) {
  if (!r.ok()) return;  // keep the first problem
  r.problem = std::move(problem);
  r.first_bad_sequence = seq;
}

// More threads than cores only adds handovers; this caps a wild option.
constexpr int kMaxHashThreads = 16;

// Rows copied out of the reader (whose views die with the next read), and
// the pure per-row work done on them: the leaf hash and the sequence the
// entry bytes carry. Buffers are reused batch after batch, so a full audit
// allocates only while the first batches grow them.
class RowBatch {
 public:
  struct Row {
    std::uint64_t sequence = 0;
    std::size_t offset = 0;  // of the entry in bytes_
    std::size_t length = 0;
    bool has_stored_leaf = false;
    Hash stored_leaf{};
    // Set by HashAll():
    Hash leaf{};
    std::optional<std::uint64_t> inner_sequence;
  };

  std::size_t size() const { return rows_.size(); }
  void Clear() {
    bytes_.clear();
    rows_.clear();
  }
  void Add(const RowView& row) {
    Row& r = rows_.emplace_back();
    r.sequence = row.sequence;
    r.offset = bytes_.size();
    r.length = row.bytes.size();
    r.has_stored_leaf = row.leaf_hash.has_value();
    if (r.has_stored_leaf) r.stored_leaf = *row.leaf_hash;
    bytes_.append(row.bytes);
  }
  // The part that may run on another thread: touches only this batch.
  void HashAll() {
    for (Row& r : rows_) {
      const std::string_view entry = Entry(r);
      r.leaf = HashLeaf(entry);
      r.inner_sequence = ExtractSequence(entry);
    }
  }
  const std::vector<Row>& rows() const { return rows_; }

  bool hashed = false;  // guarded by LeafHashers::mu_ while hashers run

 private:
  std::string_view Entry(const Row& r) const { return {bytes_.data() + r.offset, r.length}; }

  std::string bytes_;  // the entries, back to back
  std::vector<Row> rows_;
};

// Threads that run RowBatch::HashAll() on submitted batches, oldest
// first. Thread-safe between the submitting thread and the workers; a
// batch must not be touched by the submitter between Submit() and
// WaitHashed().
class LeafHashers {
 public:
  // Throws std::system_error if no thread can be started (the caller then
  // hashes on its own thread).
  explicit LeafHashers(int threads) {
    try {
      for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
    } catch (const std::system_error&) {
      if (workers_.empty()) throw;  // some started: they are enough
    }
  }
  ~LeafHashers() { Stop(); }
  LeafHashers(const LeafHashers&) = delete;
  LeafHashers& operator=(const LeafHashers&) = delete;

  void Submit(RowBatch* batch) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch->hashed = false;
      queue_.push_back(batch);
    }
    work_cv_.notify_one();
  }

  // Returns once `batch` is hashed. Until then the calling thread hashes
  // queued batches itself instead of idling: when reading outpaces the
  // hashers, the reader's thread takes up the difference.
  void WaitHashed(RowBatch* batch) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!batch->hashed && !queue_.empty()) HashOldestQueued(lock);
    done_cv_.wait(lock, [&] { return batch->hashed; });
  }

 private:
  // REQUIRES: `lock` holds mu_ and the queue is not empty. Unlocks while
  // hashing.
  void HashOldestQueued(std::unique_lock<std::mutex>& lock) {
    RowBatch* batch = queue_.front();
    queue_.pop_front();
    lock.unlock();
    batch->HashAll();
    lock.lock();
    batch->hashed = true;
    done_cv_.notify_all();
  }

  void Work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      // Stopping: the audit is over (done or failed); leftover batches
      // are not needed.
      if (stopping_) return;
      HashOldestQueued(lock);
    }
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    work_cv_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<RowBatch*> queue_;  // submitted, not yet taken by any thread
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

// The tree recomputation and every per-row check, in sequence order.
class TreeCheck {
 public:
  TreeCheck(const std::map<std::uint64_t, Checkpoint>& by_size, AuditResult& result)
      : by_size_(by_size), next_cp_(by_size.begin()), result_(result) {}

  const MerkleFrontier& tree() const { return tree_; }
  std::uint64_t vouched() const { return vouched_; }
  bool all_checkpoints_reached() const { return next_cp_ == by_size_.end(); }
  std::uint64_t next_checkpoint_size() const { return next_cp_->first; }

  // False once a problem is recorded in the result.
  bool CheckCheckpoints() {
    while (next_cp_ != by_size_.end() && next_cp_->first == tree_.size()) {
      if (next_cp_->second.root != tree_.Root()) {
        Fail(result_,
             "entries " + std::to_string(vouched_) + ".." + std::to_string(tree_.size() - 1) +
                 " do not match the signed checkpoint of size " + std::to_string(tree_.size()),
             vouched_);
        return false;
      }
      vouched_ = tree_.size();
      ++next_cp_;
    }
    return true;
  }

  bool Fold(const RowBatch& batch) {
    for (const RowBatch::Row& row : batch.rows()) {
      if (!FoldRow(row)) return false;
    }
    return true;
  }

 private:
  bool FoldRow(const RowBatch::Row& row) {
    const std::uint64_t expected = tree_.size();
    if (row.sequence != expected) {
      Fail(result_,
           row.sequence > expected
               ? "entry " + std::to_string(expected) + " is missing"
               : "entry " + std::to_string(row.sequence) + " appears twice or out of order",
           std::min(row.sequence, expected));
      return false;
    }
    if (row.inner_sequence != row.sequence) {
      Fail(result_,
           "entry " + std::to_string(row.sequence) + " holds the bytes of " +
               (row.inner_sequence ? "entry " + std::to_string(*row.inner_sequence)
                                   : std::string("no valid entry")),
           row.sequence);
      return false;
    }
    if (row.has_stored_leaf && row.stored_leaf != row.leaf) {
      Fail(result_, "entry " + std::to_string(row.sequence) + " was altered (leaf hash differs)",
           row.sequence);
      return false;
    }
    tree_.Append(row.leaf);
    return CheckCheckpoints();
  }

  const std::map<std::uint64_t, Checkpoint>& by_size_;
  std::map<std::uint64_t, Checkpoint>::const_iterator next_cp_;
  AuditResult& result_;
  MerkleFrontier tree_;
  std::uint64_t vouched_ = 0;  // entries [0, vouched_) are covered by a checkpoint
};

// Reads every row in batches, hashes them (on the hashers if any) and
// folds them in order. Returns the read error, if reading failed after
// every row before it passed; problems go into the result.
Status ReadAndFold(const RowViewReader& read, const AuditOptions& options, TreeCheck& check) {
  const std::size_t per_batch = std::max<std::size_t>(1, options.rows_per_batch);
  const int threads = std::clamp(options.hash_threads, 0, kMaxHashThreads);
  // Enough batches that the reader can fill one while each hasher works on
  // one and another waits hashed to be folded.
  std::vector<RowBatch> slots(threads == 0 ? 1 : 2 * static_cast<std::size_t>(threads) + 2);
  std::vector<RowBatch*> free_slots;
  for (RowBatch& b : slots) free_slots.push_back(&b);
  std::deque<RowBatch*> in_flight;  // in sequence order
  // Declared after the batches: stops and joins its threads before they go.
  std::unique_ptr<LeafHashers> hashers;

  auto fold_oldest = [&]() {
    RowBatch* b = in_flight.front();
    in_flight.pop_front();
    if (hashers) hashers->WaitHashed(b);
    free_slots.push_back(b);
    return check.Fold(*b);
  };

  RowView row;
  Status read_status;
  bool done = false;
  while (!done) {
    if (free_slots.empty() && !fold_oldest()) return Status::Ok();
    RowBatch* b = free_slots.back();
    free_slots.pop_back();
    b->Clear();
    while (b->size() < per_batch) {
      Result<bool> more = read(row);
      if (!more.ok()) read_status = more.status();
      if (!more.ok() || !*more) {
        done = true;
        break;
      }
      b->Add(row);
    }
    if (b->size() == 0) {
      free_slots.push_back(b);
      break;
    }
    // A log that fits in one batch is not worth a thread.
    if (!hashers && threads > 0 && !done) {
      try {
        hashers = std::make_unique<LeafHashers>(threads);
      } catch (const std::system_error&) {
        // No thread to be had: hash on this one; the result is the same.
      }
    }
    if (hashers) {
      hashers->Submit(b);
    } else {
      b->HashAll();
    }
    in_flight.push_back(b);
  }
  while (!in_flight.empty()) {
    if (!fold_oldest()) return Status::Ok();
  }
  return read_status;
}

}  // namespace

Result<AuditResult> AuditLog(const RowReader& read, const AuditInput& input) {
  StoredRow stored;
  return AuditLogRows(
      [&](RowView& row) -> Result<bool> {
        Result<bool> more = read(stored);
        if (!more.ok() || !*more) return more;
        row.sequence = stored.sequence;
        row.bytes = stored.bytes;
        row.leaf_hash = stored.leaf_hash;
        return true;
      },
      input);
}

Result<AuditResult> AuditLogRows(const RowViewReader& read, const AuditInput& input) {
  AuditResult result;
  if (input.verifier == nullptr) return InvalidArgument("audit: no verifier key");

  // 1. Every checkpoint must carry a valid signature by the log's key.
  std::map<std::uint64_t, Checkpoint> by_size;
  for (std::size_t i = 0; i < input.checkpoint_notes.size(); ++i) {
    Result<Checkpoint> c = OpenCheckpoint(input.checkpoint_notes[i], *input.verifier);
    if (!c.ok()) {
      Fail(
          result,
          "checkpoint #" + std::to_string(i + 1) + " is forged or corrupt: " + c.status().message(),
          std::nullopt);
      return result;
    }
    auto [it, fresh] = by_size.emplace(c->size, *c);
    if (!fresh && it->second.root != c->root) {
      Fail(
          result,
          "two signed checkpoints of size " + std::to_string(c->size) + " disagree: the log forked",
          c->size == 0 ? 0 : c->size - 1);
      return result;
    }
  }
  result.checkpoints = input.checkpoint_notes.size();
  if (!by_size.empty()) result.largest_signed = by_size.rbegin()->first;
  std::set<std::uint64_t> saved_sizes;
  for (std::size_t i = 0; i < input.saved_checkpoints.size(); ++i) {
    const std::string which = "saved checkpoint #" + std::to_string(i + 1);
    Result<Checkpoint> c = OpenCheckpoint(input.saved_checkpoints[i], *input.verifier);
    if (!c.ok()) {
      Fail(result,
           which + " does not verify with this key (a replaced key file, or the wrong --vkey): " +
               c.status().message(),
           std::nullopt);
      return result;
    }
    auto [it, fresh] = by_size.emplace(c->size, *c);
    if (!fresh && it->second.root != c->root) {
      Fail(result,
           which + " and a checkpoint in the log both cover " + std::to_string(c->size) +
               " entries with different roots: the log forked or was rolled back",
           c->size == 0 ? 0 : c->size - 1);
      return result;
    }
    saved_sizes.insert(c->size);
    result.largest_saved = std::max(result.largest_saved, c->size);
  }
  result.saved_checkpoints = input.saved_checkpoints.size();

  // 2. Recompute the tree from the entries; check each checkpoint on the way.
  TreeCheck check(by_size, result);
  if (!check.CheckCheckpoints()) return result;
  if (Status s = ReadAndFold(read, input.options, check); !s.ok()) {
    // A problem in the rows before the failed read is the better answer.
    if (!result.ok()) return result;
    return s;
  }
  if (!result.ok()) return result;
  const MerkleFrontier& tree = check.tree();
  result.entries = tree.size();
  result.root = tree.Root();
  if (!check.all_checkpoints_reached()) {
    const std::uint64_t size = check.next_checkpoint_size();
    Fail(result,
         saved_sizes.contains(size)
             ? "a checkpoint saved outside the database covers " + std::to_string(size) +
                   " entries but the log has only " + std::to_string(tree.size()) +
                   ": entries were removed or the database was rolled back"
             : "a signed checkpoint covers " + std::to_string(size) +
                   " entries but the log has only " + std::to_string(tree.size()) +
                   ": entries were removed",
         tree.size());
    return result;
  }
  if (input.recorded_state && !(*input.recorded_state == tree)) {
    std::uint64_t recorded = input.recorded_state->size();
    Fail(result,
         "the recorded tree state (" + std::to_string(recorded) +
             " entries) does not match the entries (" + std::to_string(tree.size()) + ")",
         // Nothing after the last checkpoint, or after what the state
         // accounts for, can be trusted.
         std::min(check.vouched(), recorded));
    return result;
  }

  // 3. Consecutive checkpoints: the proofs served from the stored nodes
  // must prove each one an extension of the previous.
  if (input.nodes != nullptr) {
    const Checkpoint* prev = nullptr;
    for (const auto& [size, cp] : by_size) {
      if (size == 0) continue;
      if (prev != nullptr) {
        Result<std::vector<Hash>> proof = ConsistencyProof(*input.nodes, prev->size, size);
        Status s = proof.ok() ? VerifyConsistency(prev->size, size, *proof, AsBytes(prev->root),
                                                  AsBytes(cp.root))
                              : proof.status();
        if (!s.ok()) {
          Fail(result,
               "no valid consistency proof from checkpoint " + std::to_string(prev->size) + " to " +
                   std::to_string(size) + ": " + s.message(),
               prev->size);
          return result;
        }
      }
      prev = &cp;
    }
  }
  return result;
}

}  // namespace consentd::proof
