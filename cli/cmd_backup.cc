// consentctl backup DIR (--config FILE | --db FILE [--key-file F]
// [--identity-key-file F]): a consistent copy of everything consentd needs
// to start again where it stood, safe while consentd runs:
//   - the database, as of one commit (store/sqlite_backup.h), checked;
//   - the proof log's signing key, without which later checkpoints need a
//     new key that auditors would have to be told about;
//   - the identity key, without which the keyed hashes (erasure
//     tombstones, links between systems) no longer match: erased people
//     would no longer be recognised;
//   - MANIFEST: where each file came from, its size and SHA-256, and the
//     proof log's size and root in the copy.
// The copy's proof log is verified (as `consentctl verify` would) before
// the command reports success. DIR must be new or empty; it is made 0700
// and every file 0600. Exit 0 done; 1 any failure (DIR then holds no
// MANIFEST); 2 usage.
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "cli/cmd_log_common.h"
#include "cli/command.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/file_read.h"
#include "core/proof/bytes.h"
#include "core/proof/key_file.h"
#include "core/time_format.h"
#include "store/file_sync.h"
#include "store/proof_log_store.h"
#include "store/sqlite_backup.h"
#include "sync/sync_engine.h"

namespace consentd::cli {
namespace {

namespace fs = std::filesystem;

struct BackupArgs {
  std::string config_file;
  std::string db_path;
  std::string key_file;
  std::string identity_key_file;
  std::string dir;
};

struct Sources {
  std::string db;
  std::string signing_key;
  std::string identity_key;
};

Result<Sources> FindSources(const BackupArgs& args) {
  Sources s;
  if (!args.db_path.empty()) {
    s.db = args.db_path;
    s.signing_key = proof::DefaultSigningKeyPath(s.db);
    s.identity_key = config::DefaultIdentityKeyPath(s.db);
  } else {
    Result<config::Config> config = config::LoadConfigFile(args.config_file);
    if (!config.ok()) return config.status();
    s.db = config->store.path;
    s.signing_key = config->proof_log.signing_key_file;
    s.identity_key = config->sync.identity_key_file;
  }
  if (!args.key_file.empty()) s.signing_key = args.key_file;
  if (!args.identity_key_file.empty()) s.identity_key = args.identity_key_file;
  return s;
}

// DIR made (0700) if missing; an existing one must be an empty directory,
// so that a backup never mixes with, or replaces, an earlier one.
// Makes `dir` (true) or checks that it is an empty directory (false).
Result<bool> PrepareDir(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    if (::mkdir(dir.c_str(), 0700) != 0) {
      return Unavailable("create " + dir + ": " + std::strerror(errno));
    }
    return true;
  }
  if (!fs::is_directory(dir, ec)) return AlreadyExists(dir + " exists and is not a directory");
  if (!fs::is_empty(dir, ec)) {
    return AlreadyExists(dir + " is not empty: give a new or empty directory");
  }
  if (::chmod(dir.c_str(), 0700) != 0) {
    return Unavailable("chmod " + dir + ": " + std::strerror(errno));
  }
  return false;
}

// Copies a small secret file byte for byte into a new 0600 file, flushed;
// `to` is added to `created` as soon as this call has made it.
Status CopySecretFile(const std::string& from, const std::string& to,
                      std::vector<std::string>& created) {
  Result<std::string> read = ReadWholeFile(from, "key file", 1 << 20);
  if (!read.ok()) {
    return Status(read.status().code(),
                  read.status().message() +
                      " (a backup without it is incomplete; give its path with the option for it)");
  }
  const std::string& bytes = *read;
  const int fd = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Unavailable("create " + to + ": " + std::strerror(errno));
  created.push_back(to);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return Unavailable("write " + to + ": " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  return synced ? Status::Ok() : Unavailable("fsync " + to + ": " + std::strerror(errno));
}

// SHA-256 of the file at `path`, hex, read in 1 MiB blocks.
Result<std::string> FileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Unavailable("cannot read " + path);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return Internal("SHA-256 unavailable");
  }
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return Unavailable("read " + path);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 0xF];
  }
  return hex;
}

int Backup(const BackupArgs& args) {
  if (args.config_file.empty() == args.db_path.empty()) {
    return UsageError("backup", "give either --config FILE or --db FILE");
  }
  Result<Sources> sources = FindSources(args);
  if (!sources.ok()) return Fail("backup", sources.status());
  const Sources& src = *sources;
  if (Status exists = CheckDatabaseFile(src.db); !exists.ok()) return Fail("backup", exists);
  for (const std::string* key : {&src.signing_key, &src.identity_key}) {
    struct stat st {};
    if (::stat(key->c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      return Fail("backup", InvalidArgument(*key +
                                            (S_ISDIR(st.st_mode) ? " is a directory, not a key file"
                                                                 : " is not a regular file") +
                                            " (a backup without this key is incomplete)"));
    }
    if (::access(key->c_str(), R_OK) != 0) {
      return Fail("backup", NotFound("cannot read " + *key + ": " + std::strerror(errno) +
                                     " (a backup without this key is incomplete)"));
    }
  }
  const std::vector<std::string> names = {fs::path(src.db).filename().string(),
                                          fs::path(src.signing_key).filename().string(),
                                          fs::path(src.identity_key).filename().string()};
  if (names[0] == names[1] || names[0] == names[2] || names[1] == names[2] ||
      names[0] == "MANIFEST" || names[1] == "MANIFEST" || names[2] == "MANIFEST") {
    return Fail("backup", InvalidArgument("the database and its two keys must have different "
                                          "file names (and none may be MANIFEST)"));
  }
  Result<bool> created = PrepareDir(args.dir);
  if (!created.ok()) return Fail("backup", created.status());
  // A backup that fails part way takes back the files this run made (and
  // the directory, if it made it and nothing else is in it), so that the
  // same command can simply be rerun. Only what this run created: another
  // run into the same directory at the same time keeps its own files.
  struct TakeBackOnFailure {
    fs::path dir;
    bool made_dir = false;
    std::vector<std::string> created;
    bool done = false;
    ~TakeBackOnFailure() {
      if (done) return;
      std::error_code ec;
      for (const std::string& f : created) fs::remove(f, ec);
      if (made_dir && fs::is_empty(dir, ec)) fs::remove(dir, ec);
    }
  } take_back{fs::path(args.dir), *created, {}};

  const fs::path dir(args.dir);
  const std::string db_copy = (dir / names[0]).string();
  Result<store::DatabaseCopy> copied = store::CopyDatabase(src.db, db_copy);
  if (!copied.ok()) return Fail("backup", copied.status());
  take_back.created.push_back(db_copy);
  if (Status s = CopySecretFile(src.signing_key, (dir / names[1]).string(), take_back.created);
      !s.ok()) {
    return Fail("backup", s);
  }
  if (Status s = CopySecretFile(src.identity_key, (dir / names[2]).string(), take_back.created);
      !s.ok()) {
    return Fail("backup", s);
  }

  // The copy's proof log, verified with the copied key: what a restore
  // would start from. (Opening it is what `consentctl verify` does.)
  Result<proof::NoteSigner> signer = proof::LoadSigningKey((dir / names[1]).string());
  if (!signer.ok()) return Fail("backup", signer.status());
  Result<proof::NoteVerifier> verifier =
      proof::NoteVerifier::FromVerifierKey(signer->VerifierKey());
  if (!verifier.ok()) return Fail("backup", verifier.status());
  proof::AuditResult audit;
  Status audited = ReadStore(db_copy, [&](store::Transaction& txn) -> Status {
    // The copied identity key must be the one the copy's identifiers were
    // hashed with: a restore with another one would refuse to start (a
    // --identity-key-file that names the wrong file, a stale key beside the
    // database). A store that never bound one has nothing to compare.
    Result<std::string> identity = sync::OpenIdentityKey(
        txn, (dir / names[2]).string(), sync::IdentityKeyUse::kRead, SystemClock().NowMs());
    if (!identity.ok()) {
      return identity.status().WithContext("the copied identity key does not fit the copy");
    }
    Result<proof::AuditResult> r = store::AuditProofLog(txn, *verifier, {}, {});
    if (!r.ok()) return r.status();
    audit = std::move(r).value();
    return Status::Ok();
  });
  if (!audited.ok()) return Fail("backup", audited);
  if (!audit.ok()) {
    return Fail("backup",
                DataLoss("the copy's proof log does not verify" +
                         (audit.first_bad_sequence
                              ? " at sequence " + std::to_string(*audit.first_bad_sequence)
                              : std::string()) +
                         ": " + audit.problem + " (run consentctl verify on the store)"));
  }
  const std::string root = proof::Base64Encode(proof::AsBytes(audit.root));
  if (Status s = store::SyncPath(db_copy); !s.ok()) return Fail("backup", s);

  std::string manifest = "consentd backup\ncreated " + FormatUtcMillis(SystemClock().NowMs()) +
                         "\nproof_log " + std::to_string(audit.entries) + " entries, " +
                         std::to_string(audit.checkpoints) + " checkpoints, root " + root + "\n";
  const std::vector<std::string> from = {src.db, src.signing_key, src.identity_key};
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string path = (dir / names[i]).string();
    Result<std::string> sha = FileSha256(path);
    if (!sha.ok()) return Fail("backup", sha.status());
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    manifest += "file " + names[i] + " sha256 " + *sha + " bytes " + std::to_string(size) +
                " from " + fs::absolute(from[i], ec).string() + "\n";
  }
  const std::string manifest_tmp = (dir / "MANIFEST.partial").string();
  take_back.created.push_back(manifest_tmp);
  {
    std::ofstream out(manifest_tmp, std::ios::binary | std::ios::trunc);
    out << manifest;
    if (!out.flush()) return Fail("backup", Unavailable("write " + manifest_tmp));
  }
  ::chmod(manifest_tmp.c_str(), 0600);
  if (Status s = store::SyncPath(manifest_tmp); !s.ok()) return Fail("backup", s);
  // MANIFEST last: a directory holding one is a complete backup.
  if (::rename(manifest_tmp.c_str(), (dir / "MANIFEST").c_str()) != 0) {
    return Fail("backup", Unavailable("rename " + manifest_tmp + ": " + std::strerror(errno)));
  }
  take_back.created.push_back((dir / "MANIFEST").string());
  if (Status s = store::SyncPath(args.dir); !s.ok()) return Fail("backup", s);
  take_back.done = true;  // a complete backup, MANIFEST and all, durable

  std::printf("backup in %s: %s (%.1f MB), %s, %s; proof log verified: %llu entries, root %s\n",
              args.dir.c_str(), names[0].c_str(), static_cast<double>(copied->bytes) / 1e6,
              names[1].c_str(), names[2].c_str(), static_cast<unsigned long long>(audit.entries),
              root.c_str());
  return 0;
}

}  // namespace

void RegisterBackup(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<BackupArgs>();
  auto* cmd = app.add_subcommand(
      "backup", "Copy the store and its two keys into DIR, consistently, while consentd runs");
  cmd->add_option("DIR", args->dir, "new or empty directory for the backup")->required();
  cmd->add_option("--config", args->config_file,
                  "consentd config file (store.path, proof_log.signing_key_file, "
                  "sync.identity_key_file)");
  cmd->add_option("--db", args->db_path,
                  "SQLite database file (instead of --config; keys beside it)");
  cmd->add_option("--key-file", args->key_file, "proof log signing key file (overrides)");
  cmd->add_option("--identity-key-file", args->identity_key_file, "identity key file (overrides)");
  cmd->callback([&run, args] { run = [args] { return Backup(*args); }; });
}

}  // namespace consentd::cli
