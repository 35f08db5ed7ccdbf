#include "store/file_sync.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace consentd::store {

Status SyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Unavailable("open " + path + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc == 0) return Status::Ok();
  return Unavailable("fsync " + path + ": " + std::strerror(saved));
}

Status SyncDirectoryOf(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return SyncPath(slash == std::string::npos ? "." : path.substr(0, slash + 1));
}

}  // namespace consentd::store
