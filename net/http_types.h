// Plain HTTP request/response values shared by the daemon's ingress, the
// admin API and consentd-sim. Deliberately free of Boost so that handlers
// and their tests do not pay for Beast's headers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace consentd::net {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive header look-up (HTTP field names are case-insensitive).
std::optional<std::string_view> FindHeader(const HeaderList& headers,
                                           std::string_view name);

struct HttpRequest {
  std::string method;   // "GET", "POST", ...
  std::string target;   // raw request target: path and query
  std::string path;     // target up to '?', percent-decoding NOT applied
  std::string query;    // after '?', raw
  HeaderList headers;
  std::string body;     // raw bytes as received (signatures cover these)
  std::string remote_address;

  std::optional<std::string_view> Header(std::string_view name) const {
    return FindHeader(headers, name);
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  HeaderList headers;   // extra headers (Retry-After, WWW-Authenticate, ...)
  std::string body;
  // Close the connection without writing any answer (consentd-sim's
  // "dropped connection" fault). Never set by the daemon.
  bool drop_connection = false;
};

// Decodes %XX and (for form/query encoding) '+' as space.
std::string UrlDecode(std::string_view in, bool plus_as_space = true);

// Splits "a=1&b=2" into decoded key/value pairs, in order.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);

// RFC 9457 application/problem+json response with type, title, status,
// detail (and instance when given).
HttpResponse Problem(int status, std::string_view title, std::string_view detail,
                     std::string_view type = "about:blank",
                     std::string_view instance = "");

// Standard reason phrase for a status code ("Not Found").
std::string_view ReasonPhrase(int status);

}  // namespace consentd::net
