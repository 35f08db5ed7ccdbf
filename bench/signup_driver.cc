// Sign-ups at a steady rate against consentd-sim's HubSpot person API, for
// bench/propagation.py: change i is due at t0 + i/rate and is the sign-up
// of <prefix><i>@example.com to subscription 102 (or SUBSCRIPTION). The Python driver it
// replaces took ~0.28 CPU-s per 1,000 changes, 14 % of this 2-core machine
// at 1,000/s, competing with the consentd it measures; this one takes a
// few percent (docs/benchmarks.md, ninth round).
//
//   signup_driver PORT RATE DURATION_S PREFIX [THREADS [SUBSCRIPTION]]
//
// Prints one JSON line: {"total":N,"achieved":R,"errors":E}.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads one response (headers and a Content-Length body); its status code,
// or 0 on a transport error. The sim always sends Content-Length.
int ReadResponse(int fd, std::string& buf) {
  buf.clear();
  char chunk[4096];
  std::size_t header_end = std::string::npos;
  std::size_t need = 0;
  for (;;) {
    if (header_end == std::string::npos) {
      header_end = buf.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        std::size_t length = 0;
        for (const char* key : {"Content-Length:", "content-length:"}) {
          const std::size_t at = buf.find(key);
          if (at != std::string::npos && at < header_end) {
            length = std::strtoul(buf.c_str() + at + std::strlen(key), nullptr, 10);
          }
        }
        need = header_end + 4 + length;
      }
    }
    if (header_end != std::string::npos && buf.size() >= need) break;
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return 0;
    buf.append(chunk, static_cast<std::size_t>(n));
  }
  // "HTTP/1.1 200 OK"
  return buf.size() > 12 ? std::atoi(buf.c_str() + 9) : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s PORT RATE DURATION_S PREFIX [THREADS [SUBSCRIPTION]]\n",
                 argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const double rate = std::atof(argv[2]);
  const double duration = std::atof(argv[3]);
  const std::string prefix = argv[4];
  const int threads = argc > 5 ? std::atoi(argv[5]) : 8;
  const int subscription = argc > 6 ? std::atoi(argv[6]) : 102;
  if (port <= 0 || rate <= 0 || duration <= 0 || threads <= 0 || subscription <= 0) {
    std::fprintf(stderr,
                 "signup_driver: PORT, RATE, DURATION_S, THREADS and SUBSCRIPTION must be "
                 "positive\n");
    return 2;
  }
  const long total = static_cast<long>(rate * duration);
  const auto t0 = Clock::now() + std::chrono::milliseconds(200);
  std::atomic<long> done{0}, errors{0};

  auto worker = [&](int k) {
    int fd = Connect(port);
    std::string response;
    for (long i = k; i < total; i += threads) {
      std::this_thread::sleep_until(
          t0 + std::chrono::duration_cast<Clock::duration>(
                   std::chrono::duration<double>(static_cast<double>(i) / rate)));
      const std::string body = "{\"email\":\"" + prefix + std::to_string(i) +
                               "@example.com\",\"subscriptionId\":" + std::to_string(subscription) +
                               "}";
      const std::string request =
          "POST /_sim/hubspot/person/signup HTTP/1.1\r\n"
          "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
          "Content-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body;
      int status = 0;
      if (fd >= 0 && SendAll(fd, request)) status = ReadResponse(fd, response);
      if (status == 0) {  // reconnect once and count the change as an error
        if (fd >= 0) ::close(fd);
        fd = Connect(port);
      }
      if (status != 200) ++errors;
      ++done;
    }
    if (fd >= 0) ::close(fd);
  };
  std::vector<std::thread> pool;
  for (int k = 0; k < threads; ++k) pool.emplace_back(worker, k);
  for (auto& t : pool) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("{\"total\":%ld,\"achieved\":%.1f,\"errors\":%ld}\n", total,
              static_cast<double>(done.load()) / elapsed, errors.load());
  return 0;
}
