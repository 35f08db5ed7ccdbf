#include "core/proof/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace consentd::proof {
namespace {

Status IoError(const std::string& what, const std::string& path) {
  return Unavailable(what + " " + path + ": " + std::strerror(errno));
}

Status WriteNewFile(const std::string& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return AlreadyExists("signing key file appeared concurrently: " + path);
    return IoError("cannot create signing key", path);
  }
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = IoError("cannot write signing key", path);
      ::close(fd);
      ::unlink(path.c_str());
      return s;
    }
    done += static_cast<std::size_t>(n);
  }
  // The key must survive a crash before the first checkpoint it signs:
  // its bytes, and its name in the directory.
  if (::fsync(fd) != 0) {
    Status s = IoError("cannot sync signing key", path);
    ::close(fd);
    return s;
  }
  ::close(fd);
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return IoError("cannot open the directory of signing key", path);
  const bool synced = ::fsync(dfd) == 0;
  ::close(dfd);
  if (!synced) return IoError("cannot sync the directory of signing key", path);
  return Status::Ok();
}

}  // namespace

std::string DefaultSigningKeyPath(const std::string& db_path) {
  std::size_t slash = db_path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : db_path.substr(0, slash == 0 ? 1 : slash);
  return dir + (dir.back() == '/' ? "" : "/") + "proof_signing.key";
}

Result<NoteSigner> LoadSigningKey(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound("no signing key file at " + path);
    return IoError("cannot open signing key", path);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Status s = IoError("cannot stat signing key", path);
    ::close(fd);
    return s;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(
        "signing key " + path +
        (S_ISDIR(st.st_mode) ? " is a directory, not a file" : " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return Status(StatusCode::kPermissionDenied,
                  "signing key " + path + " is readable by others; chmod 600 it");
  }
  std::string content;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = IoError("cannot read signing key", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    content.append(buf, static_cast<std::size_t>(n));
    if (content.size() > 4096) break;
  }
  ::close(fd);
  Result<NoteSigner> signer = NoteSigner::FromPrivateKey(content);
  if (!signer.ok()) return signer.status().WithContext(path);
  return signer;
}

Result<NoteSigner> LoadOrCreateSigningKey(const std::string& path, std::string_view name) {
  Result<NoteSigner> loaded = LoadSigningKey(path);
  if (loaded.ok()) {
    if (loaded->name() != name) {
      return FailedPrecondition("signing key " + path + " is named '" + loaded->name() +
                                "', configured log name is '" + std::string(name) + "'");
    }
    return loaded;
  }
  if (loaded.status().code() != StatusCode::kNotFound) return loaded.status();
  Result<NoteSigner> fresh = NoteSigner::Generate(name);
  if (!fresh.ok()) return fresh.status();
  CONSENTD_RETURN_IF_ERROR(WriteNewFile(path, fresh->PrivateKeyString() + "\n"));
  return fresh;
}

Result<NoteSigner> LoadSigningKeyForLog(const std::string& path, std::string_view name,
                                        const std::optional<std::string>& latest_checkpoint) {
  if (!latest_checkpoint) return LoadOrCreateSigningKey(path, name);
  // Which key signed the log so far, for the messages.
  std::string signed_by = "another key";
  if (Result<Note> note = ParseNote(*latest_checkpoint); note.ok() && !note->signatures.empty()) {
    char id[9];
    std::snprintf(id, sizeof id, "%08x", note->signatures.front().key_id);
    signed_by = "key '" + note->signatures.front().name + "' (key ID " + id + ")";
  }
  Result<NoteSigner> loaded = LoadSigningKey(path);
  if (!loaded.ok()) {
    if (loaded.status().code() != StatusCode::kNotFound) return loaded.status();
    return FailedPrecondition(
        "signing key " + path + " does not exist, but the proof log's checkpoints are signed by " +
        signed_by + ": restore that key file (consentctl backup copies it) or point " +
        "proof_log.signing_key_file at it; a new key would leave no key that verifies the log");
  }
  if (loaded->name() != name) {
    return FailedPrecondition("signing key " + path + " is named '" + loaded->name() +
                              "', configured log name is '" + std::string(name) + "'");
  }
  Result<NoteVerifier> verifier = NoteVerifier::FromVerifierKey(loaded->VerifierKey());
  if (!verifier.ok()) return verifier.status();
  if (!OpenNote(*latest_checkpoint, *verifier).ok()) {
    return FailedPrecondition("signing key " + path + " did not sign the proof log's latest " +
                              "checkpoint (signed by " + signed_by + "): use the key file " +
                              "that did, or no key will verify the whole log");
  }
  return loaded;
}

}  // namespace consentd::proof
