#include "core/file_read.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace consentd {

namespace {

// Closes the descriptor on every way out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<std::string> ReadWholeFile(const std::string& path, const std::string& what,
                                  std::size_t max_bytes, bool accept_streams) {
  const std::string name = what.empty() ? std::string("file") : what;
  // O_NONBLOCK: a FIFO put where a file belongs must not hang the reader.
  const Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | (accept_streams ? 0 : O_NONBLOCK))};
  if (f.fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound("no " + name + " at " + path);
    if (err == EISDIR) return InvalidArgument(name + " " + path + " is a directory, not a file");
    return Unavailable("cannot open " + name + " " + path + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    const int err = errno;
    return Unavailable("cannot read " + name + " " + path + ": " + std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) {
    return InvalidArgument(name + " " + path + " is a directory, not a file");
  }
  const bool stream = accept_streams && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode));
  if (!S_ISREG(st.st_mode) && !stream) {
    return InvalidArgument(name + " " + path + " is not a regular file");
  }
  if (static_cast<std::size_t>(st.st_size) > max_bytes) {
    return FailedPrecondition(name + " " + path + " is " + std::to_string(st.st_size) +
                              " bytes, more than the " + std::to_string(max_bytes) + " a " + name +
                              " may have");
  }
  std::string content;
  if (!stream) content.reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      return Unavailable("cannot read " + name + " " + path + ": " + std::strerror(err));
    }
    if (n == 0) return content;
    content.append(buf, static_cast<std::size_t>(n));
    if (content.size() > max_bytes) {
      return FailedPrecondition(name + " " + path + " grew past " + std::to_string(max_bytes) +
                                " bytes while it was read");
    }
  }
}

}  // namespace consentd
