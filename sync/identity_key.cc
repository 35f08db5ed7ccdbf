// LoadOrCreateIdentityKey: the secret of the identifier hashes. Losing it
// makes every tombstone unrecognisable, so it is created once, atomically,
// and never rewritten.
#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/file_read.h"
#include "core/keyed_hash.h"
#include "core/normalise.h"
#include "sync/sync_engine.h"

namespace consentd::sync {
namespace {

constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kMinKeyBytes = 16;

Status Errno(std::string_view what, const std::string& path) {
  return Unavailable(std::string(what) + " " + path + ": " + std::strerror(errno));
}

Status WriteAll(int fd, const unsigned char* data, std::size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Errno("cannot write", path);
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return Status::Ok();
}

// Writes a fresh key to `path` via a temporary file, fsynced and renamed,
// so a crash leaves either no key or a whole one.
Status CreateKey(const std::string& path) {
  unsigned char key[kKeyBytes];
  if (RAND_bytes(key, sizeof key) != 1) return Internal("CSPRNG failure creating " + path);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create", tmp);
  Status s =
      ::fchmod(fd, 0600) == 0 ? WriteAll(fd, key, sizeof key, tmp) : Errno("cannot chmod", tmp);
  if (s.ok() && ::fsync(fd) != 0) s = Errno("cannot fsync", tmp);
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = Errno("cannot rename to", path);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> LoadOrCreateIdentityKey(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (ec) return Unavailable("cannot check " + path + ": " + ec.message());
    CONSENTD_RETURN_IF_ERROR(CreateKey(path));
  }
  return LoadIdentityKey(path);
}

Result<std::string> LoadIdentityKey(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return NotFound("identity key " + path +
                    " does not exist (consentd creates it on its first start)");
  }
  Result<std::string> read = ReadWholeFile(path, "identity key", 1 << 20);
  if (!read.ok()) return read.status();
  const std::string& key = *read;
  if (key.size() < kMinKeyBytes) {
    return InvalidArgument("identity key " + path + " is " + std::to_string(key.size()) +
                           " bytes; at least " + std::to_string(kMinKeyBytes) + " are needed");
  }
  return key;
}

Result<std::string> IdentityKeyCheck(std::string_view key) {
  Result<std::string> mac = HmacSha256(key, "consentd identity key check v1");
  if (!mac.ok()) return mac.status();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (std::size_t i = 0; i < 16; ++i) {
    const auto b = static_cast<unsigned char>((*mac)[i]);
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

namespace {

// The key made the stored hash of at least one of the addresses the
// store's records are linked by (none linked by an address: nothing to
// prove it with, and it is taken). A wrong key matches none: a keyed hash
// cannot be hit by chance.
Status ProveAgainstLinkedAddresses(store::Transaction& txn, std::string_view key,
                                   const std::string& path, const char* restore) {
  constexpr int kSample = 20;
  Result<std::vector<std::string>> addresses = txn.SampleLinkedAddresses(kSample);
  if (!addresses.ok()) return addresses.status();
  int tried = 0;
  for (const std::string& address : *addresses) {
    Result<std::string> normalised = NormaliseEmail(address);
    if (!normalised.ok()) continue;
    Result<std::string> hash = IdentifierHash(key, IdentifierKind::kEmail, *normalised);
    if (!hash.ok()) return hash.status();
    ++tried;
    Result<std::optional<std::string>> subject = txn.FindSubjectByEmailHash(*hash);
    if (!subject.ok()) return subject.status();
    if (subject->has_value()) return Status::Ok();
  }
  if (tried == 0) return Status::Ok();
  return FailedPrecondition("identity key " + path +
                            " is not the key this database's identifiers were hashed with: "
                            "none of " +
                            std::to_string(tried) +
                            " addresses its records are linked by is known under it" + restore);
}

}  // namespace

Result<std::string> OpenIdentityKey(store::Transaction& txn, const std::string& path,
                                    IdentityKeyUse use, TimestampMs now) {
  Result<std::optional<std::string>> stored = txn.GetCursor(kIdentityKeyCheckCursor);
  if (!stored.ok()) return stored.status();
  const char* const restore =
      ": restore that key from the backup taken with this database (consentctl backup copies "
      "both), or point sync.identity_key_file at it. Under another key consentd would "
      "recognise no one it knows, not even the people erased";
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (ec) return Unavailable("cannot check identity key " + path + ": " + ec.message());
  if (!exists) {
    Result<bool> hashes = txn.HoldsKeyedHashes();
    if (!hashes.ok()) return hashes.status();
    if (stored->has_value() || *hashes) {
      return FailedPrecondition("identity key " + path +
                                " does not exist, but this database's identifiers were hashed "
                                "with one" +
                                (stored->has_value() ? " (key check " + **stored + ")" : "") +
                                restore);
    }
    if (use != IdentityKeyUse::kCreateAndBind) return LoadIdentityKey(path);  // NotFound
    CONSENTD_RETURN_IF_ERROR(CreateKey(path));
  }
  Result<std::string> key = LoadIdentityKey(path);
  if (!key.ok()) return key.status();
  Result<std::string> check = IdentityKeyCheck(*key);
  if (!check.ok()) return check.status();
  if (stored->has_value() && **stored != *check) {
    return FailedPrecondition("identity key " + path + " (key check " + *check +
                              ") is not the key this database's identifiers were hashed with "
                              "(key check " +
                              **stored + ")" + restore);
  }
  if (!stored->has_value()) {
    // A store from before the key check that holds hashes: the key is
    // proven against the addresses of its linked records before it is
    // used or bound (a wrong key bound here could never be undone).
    Result<bool> hashes = txn.HoldsKeyedHashes();
    if (!hashes.ok()) return hashes.status();
    if (*hashes) CONSENTD_RETURN_IF_ERROR(ProveAgainstLinkedAddresses(txn, *key, path, restore));
  }
  if (!stored->has_value() && use != IdentityKeyUse::kRead) {
    CONSENTD_RETURN_IF_ERROR(txn.AdvanceCursor(kIdentityKeyCheckCursor, *check, now));
  }
  return key;
}

Result<std::optional<std::string>> FindSubjectByEmail(store::Transaction& txn,
                                                      std::string_view identity_key,
                                                      std::string_view email) {
  Result<std::string> normalised = NormaliseEmail(email);
  if (!normalised.ok()) return normalised.status();
  Result<std::string> hash = IdentifierHash(identity_key, IdentifierKind::kEmail, *normalised);
  if (!hash.ok()) return hash.status();
  return txn.FindSubjectByEmailHash(*hash);
}

}  // namespace consentd::sync
