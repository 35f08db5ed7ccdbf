#include "core/proof/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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
  // The key must survive a crash before the first checkpoint it signs.
  if (::fsync(fd) != 0) {
    Status s = IoError("cannot sync signing key", path);
    ::close(fd);
    return s;
  }
  ::close(fd);
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

}  // namespace consentd::proof
