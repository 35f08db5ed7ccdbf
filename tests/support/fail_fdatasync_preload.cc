// An LD_PRELOAD library for process tests: fdatasync() fails with EIO if
// the file named by CONSENTD_TEST_FAIL_FDATASYNC_IF exists, and removes
// that file, so that only that call fails (the disk failed one flush); it
// is the real one otherwise. It lets a test make the real consentd binary
// meet a disk that fails its flush, without a test hook in consentd itself.
#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

extern "C" int fdatasync(int fd) {
  const char* flag = std::getenv("CONSENTD_TEST_FAIL_FDATASYNC_IF");
  if (flag != nullptr && ::unlink(flag) == 0) {
    errno = EIO;
    return -1;
  }
  using Real = int (*)(int);
  static const Real real = reinterpret_cast<Real>(::dlsym(RTLD_NEXT, "fdatasync"));
  return real(fd);
}
