// HttpClient over libcurl's easy interface. Each calling thread keeps one
// easy handle in a thread_local: the handle owns curl's connection cache,
// so sequential requests from one worker reuse a kept-alive connection and
// threads never share a handle (libcurl forbids that).
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "connectors/common/http_client.h"

namespace consentd::connectors {
namespace {

constexpr std::size_t kMaxResponseBody = std::size_t{64} << 20;  // 64 MiB

void GlobalInitOnce() {
  // curl_global_init is not thread-safe; the first client to be made or
  // used initialises it for the whole process (and it is never torn down:
  // worker threads may still hold handles at exit).
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct ThreadHandle {
  CURL* easy = nullptr;
  ThreadHandle() = default;
  ThreadHandle(const ThreadHandle&) = delete;
  ThreadHandle& operator=(const ThreadHandle&) = delete;
  ~ThreadHandle() {
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
};

// The calling thread's handle (created on first use); nullptr if curl
// cannot allocate one.
CURL* ThisThreadHandle() {
  thread_local ThreadHandle handle;
  if (handle.easy == nullptr) handle.easy = curl_easy_init();
  return handle.easy;
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// What the callbacks collect for one transfer.
struct Collector {
  net::HttpResponse response;
  bool has_content_type = false;
  bool body_too_large = false;
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// One header line per call, status lines included.
std::size_t OnHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* c = static_cast<Collector*>(user);
  const std::size_t n = size * count;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    // A new response begins (after an interim 1xx): forget the previous one.
    c->response.headers.clear();
    c->response.content_type.clear();
    c->has_content_type = false;
    return n;
  }
  if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
    // Obsolete line folding: continues the previous value.
    if (!c->response.headers.empty()) {
      auto& value = c->response.headers.back().second;
      value += ' ';
      value += Trim(line);
    }
    return n;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return n;  // the blank line, or junk
  std::string name = Lower(Trim(line.substr(0, colon)));
  std::string value(Trim(line.substr(colon + 1)));
  if (name == "content-type") {
    c->response.content_type = std::move(value);
    c->has_content_type = true;
  } else {
    c->response.headers.emplace_back(std::move(name), std::move(value));
  }
  return n;
}

std::size_t OnBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* c = static_cast<Collector*>(user);
  const std::size_t n = size * count;
  if (c->response.body.size() + n > kMaxResponseBody) {
    c->body_too_large = true;
    return 0;  // makes curl abort with CURLE_WRITE_ERROR
  }
  c->response.body.append(data, n);
  return n;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char ch) {
    return std::isalnum(ch) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(ch)) !=
                                   std::string_view::npos;
  });
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// The scheme, host and port of `url`, without user info, path, query or
// fragment. A transport error names only these: its text travels into the
// outbox, dead letters and the proof log's reasons, which hold no personal
// data, and a path can hold an address (HubSpot's `?idProperty=email`
// reads, a generic system's `{email}` templates), a query a credential.
std::string UrlOrigin(std::string_view url) {
  const std::size_t scheme_end = url.find("://");
  const std::size_t host_start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  std::size_t host_end = url.find_first_of("/?#", host_start);
  if (host_end == std::string_view::npos) host_end = url.size();
  std::string_view authority = url.substr(host_start, host_end - host_start);
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  return std::string(url.substr(0, host_start)) + std::string(authority);
}

Status MapCurlError(CURLcode code, const char* detail, std::string_view url) {
  std::string message = std::string(curl_easy_strerror(code));
  if (detail != nullptr && detail[0] != '\0') message += std::string(": ") + detail;
  const std::string origin = UrlOrigin(url);
  message += " (" + origin + ")";
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return DeadlineExceeded(std::move(message));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return InvalidArgument(std::move(message));
    case CURLE_FILESIZE_EXCEEDED:
      return ResourceExhausted("response body over 64 MiB (" + origin + ")");
    case CURLE_OUT_OF_MEMORY:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_NOT_BUILT_IN:
      return Internal(std::move(message));
    default:
      // Connect/resolve failures, resets, send/recv errors, empty replies,
      // TLS handshake and verification failures: the network or the peer,
      // so worth another try later.
      return Unavailable(std::move(message));
  }
}

class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(std::string user_agent) : user_agent_(std::move(user_agent)) {
    GlobalInitOnce();
  }

  Result<net::HttpResponse> Send(const OutboundRequest& request) override;

 private:
  const std::string user_agent_;
};

Result<net::HttpResponse> CurlHttpClient::Send(const OutboundRequest& request) {
  const std::string& method = request.method;
  if (!IsToken(method)) return InvalidArgument("bad HTTP method '" + method + "'");
  if (request.url.empty() || HasLineBreak(request.url)) {
    return InvalidArgument("bad URL '" + request.url + "'");
  }
  // curl reads 0 as "no timeout"; every call must have a deadline.
  if (request.timeout.count() <= 0) return InvalidArgument("request timeout must be positive");

  Slist headers;
  auto add_header = [&headers](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next == nullptr) return false;
    static_cast<void>(headers.release());
    headers.reset(next);
    return true;
  };
  bool has_content_type = false;
  for (const auto& [name, value] : request.headers) {
    if (!IsToken(name) || HasLineBreak(value)) {
      return InvalidArgument("bad request header '" + name + "'");
    }
    if (Lower(name) == "content-type") has_content_type = true;
    // "Name:" alone would delete a header in curl; "Name;" sends it empty.
    if (!add_header(value.empty() ? name + ";" : name + ": " + value)) {
      return Internal("out of memory building request headers");
    }
  }
  // No "Expect: 100-continue" round trip before larger bodies, and no
  // made-up form Content-Type when the caller sent none.
  if (!add_header("Expect:")) return Internal("out of memory building request headers");
  if (!has_content_type && !add_header("Content-Type:")) {
    return Internal("out of memory building request headers");
  }

  GlobalInitOnce();
  CURL* easy = ThisThreadHandle();
  if (easy == nullptr) return Internal("curl_easy_init failed");
  // Reset keeps the connection cache (and DNS/TLS session caches): only
  // the previous request's options go.
  curl_easy_reset(easy);

  Collector collector;
  char error_buffer[CURL_ERROR_SIZE] = {};
  const bool with_body =
      method != "GET" && method != "HEAD" && !(method == "DELETE" && request.body.empty());

  CURLcode rc = CURLE_OK;
  auto set = [&rc](CURLcode r) {
    if (rc == CURLE_OK) rc = r;
  };
  set(curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer));
  set(curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str()));
  set(curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https"));
  set(curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L));
  set(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count())));
  set(curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1)));
  set(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L));
  set(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L));
  set(curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L));
  if (request.direct) set(curl_easy_setopt(easy, CURLOPT_NOPROXY, "*"));
  set(curl_easy_setopt(easy, CURLOPT_USERAGENT, user_agent_.c_str()));
  set(curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get()));
  set(curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(kMaxResponseBody)));
  set(curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeader));
  set(curl_easy_setopt(easy, CURLOPT_HEADERDATA, &collector));
  set(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody));
  set(curl_easy_setopt(easy, CURLOPT_WRITEDATA, &collector));
  if (method == "GET") {
    set(curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L));
  } else if (method == "HEAD") {
    set(curl_easy_setopt(easy, CURLOPT_NOBODY, 1L));
  } else {
    if (with_body) {
      // POSTFIELDS does not copy: request.body outlives the transfer.
      set(curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                           static_cast<curl_off_t>(request.body.size())));
      set(curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data()));
    }
    if (method != "POST") set(curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method.c_str()));
  }
  if (rc != CURLE_OK) {
    curl_easy_reset(easy);
    return MapCurlError(rc, error_buffer, request.url);
  }

  rc = curl_easy_perform(easy);
  long status = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  // Drop pointers into this frame (error buffer, header list, collector)
  // before they go out of scope.
  curl_easy_reset(easy);

  if (collector.body_too_large) {
    return ResourceExhausted("response body over 64 MiB (" + UrlOrigin(request.url) + ")");
  }
  if (rc != CURLE_OK) return MapCurlError(rc, error_buffer, request.url);
  collector.response.status = static_cast<int>(status);
  if (!collector.has_content_type) collector.response.content_type.clear();
  return std::move(collector.response);
}

}  // namespace

std::unique_ptr<HttpClient> MakeCurlHttpClient(std::string user_agent) {
  return std::make_unique<CurlHttpClient>(std::move(user_agent));
}

}  // namespace consentd::connectors
