#include "tests/net/test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace consentd::testing {

using Steady = std::chrono::steady_clock;

std::unique_ptr<TcpClient> TcpClient::Connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<TcpClient>(new TcpClient(fd));
}

TcpClient::~TcpClient() { ::close(fd_); }

bool TcpClient::Send(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool TcpClient::ReadMore(Steady::time_point until, bool* closed) {
  *closed = false;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Steady::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *closed = true;
      return false;
    }
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }
}

std::optional<RawResponse> TcpClient::ReadResponse(std::chrono::milliseconds timeout) {
  const auto until = Steady::now() + timeout;
  bool closed = false;
  size_t header_end;
  while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!ReadMore(until, &closed)) return std::nullopt;
  }
  RawResponse r;
  std::istringstream head(buffer_.substr(0, header_end));
  std::string line;
  std::getline(head, line);
  if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12) return std::nullopt;
  r.status = std::stoi(line.substr(9, 3));
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t v = line.find_first_not_of(' ', colon + 1);
    r.headers[name] = v == std::string::npos ? "" : line.substr(v);
  }
  const size_t length =
      r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
  while (buffer_.size() < header_end + 4 + length) {
    if (!ReadMore(until, &closed)) return std::nullopt;
  }
  r.body = buffer_.substr(header_end + 4, length);
  buffer_.erase(0, header_end + 4 + length);
  return r;
}

bool TcpClient::WaitForClose(std::chrono::milliseconds timeout) {
  const auto until = Steady::now() + timeout;
  bool closed = false;
  while (Steady::now() < until) {
    if (!ReadMore(until, &closed)) return closed;
  }
  return false;
}

std::string BuildRequest(std::string_view method, std::string_view path, std::string_view body,
                         std::vector<std::string> extra) {
  std::string r;
  r.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  for (const auto& h : extra) r.append(h).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PUT") {
    r.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  r.append("\r\n").append(body);
  return r;
}

std::optional<RawResponse> Fetch(std::uint16_t port, std::string_view method, std::string_view path,
                                 std::string_view body) {
  auto c = TcpClient::Connect(port);
  if (!c || !c->Send(BuildRequest(method, path, body))) return std::nullopt;
  return c->ReadResponse();
}

bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto until = Steady::now() + timeout;
  while (Steady::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

namespace {

bool HasType(const nlohmann::json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "array") return v.is_array();
  return false;
}

void Validate(const nlohmann::json& schema, const nlohmann::json& v, const std::string& where,
              std::vector<std::string>& errors) {
  if (schema.contains("type") && !HasType(v, schema["type"])) {
    errors.push_back(where + ": expected " + schema["type"].get<std::string>());
    return;
  }
  if (v.is_number()) {
    if (schema.contains("minimum") && v.get<double>() < schema["minimum"].get<double>()) {
      errors.push_back(where + ": below minimum");
    }
    if (schema.contains("maximum") && v.get<double>() > schema["maximum"].get<double>()) {
      errors.push_back(where + ": above maximum");
    }
  }
  if (v.is_object()) {
    if (schema.contains("required")) {
      for (const auto& name : schema["required"]) {
        if (!v.contains(name.get<std::string>())) {
          errors.push_back(where + ": missing " + name.get<std::string>());
        }
      }
    }
    if (schema.contains("properties")) {
      for (const auto& [name, sub] : schema["properties"].items()) {
        if (v.contains(name)) Validate(sub, v[name], where + "." + name, errors);
      }
    }
  }
}

}  // namespace

std::vector<std::string> CheckProblem(const RawResponse& r) {
  std::vector<std::string> errors;
  if (r.Header("content-type") != "application/problem+json") {
    errors.push_back("content-type is '" + r.Header("content-type") + "'");
  }
  std::ifstream in(CONSENTD_SOURCE_DIR "/tests/data/http/rfc9457-problem.schema.json");
  const auto schema = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded()) {
    errors.push_back("cannot read the problem schema");
    return errors;
  }
  const auto body = nlohmann::json::parse(r.body, nullptr, false);
  if (body.is_discarded()) {
    errors.push_back("body is not JSON: " + r.body);
    return errors;
  }
  Validate(schema, body, "$", errors);
  if (!body.contains("title")) errors.push_back("$: no title");
  if (!body.contains("status") || body["status"] != r.status) {
    errors.push_back("$.status does not match the HTTP status");
  }
  return errors;
}

}  // namespace consentd::testing
