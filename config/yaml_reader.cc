#include "config/yaml_reader.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>

#include "config/suggest.h"

namespace consentd::config {
namespace {

namespace fs = std::filesystem;

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// What the node holds, for "expected X, got Y".
std::string Got(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing";
  if (n.IsMap()) return "a mapping";
  if (n.IsSequence()) return "a list";
  return Quote(n.Scalar());
}

bool IsScalarValue(const YAML::Node& n) { return n.IsDefined() && n.IsScalar(); }

void Expected(const YAML::Node& n, ReadContext& c, std::string_view what) {
  c.diag.Error(ValuePosition(n, c), "expected " + std::string(what) + ", got " + Got(n));
}

std::optional<std::uint64_t> ParseUnsigned(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string FormatDuration(std::chrono::milliseconds d) {
  const std::int64_t ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

struct SizeUnit {
  std::string_view name;
  std::uint64_t factor;
};
constexpr std::array<SizeUnit, 7> kSizeUnits{{{"B", 1},
                                              {"KiB", 1ULL << 10},
                                              {"MiB", 1ULL << 20},
                                              {"GiB", 1ULL << 30},
                                              {"kB", 1000},
                                              {"MB", 1'000'000},
                                              {"GB", 1'000'000'000}}};

std::string FormatSize(std::uint64_t v) {
  for (std::string_view unit : {"GiB", "MiB", "KiB"}) {
    for (const SizeUnit& u : kSizeUnits) {
      if (u.name == unit && v != 0 && v % u.factor == 0) {
        return std::to_string(v / u.factor) + std::string(unit);
      }
    }
  }
  return std::to_string(v) + "B";
}

bool IsIpv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}
bool IsIpv6(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

}  // namespace

Position PositionOf(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0 || mark.column < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

Position PositionOf(const YAML::Node& node) {
  if (!node.IsDefined()) return {};
  return PositionOf(node.Mark());
}

Position ValuePosition(const YAML::Node& n, const ReadContext& c) {
  if (!n.IsDefined() || n.IsNull()) return c.key_at;
  Position p = PositionOf(n);
  return p.line > 0 ? p : c.key_at;
}

std::optional<std::string> ReadString(const YAML::Node& n, ReadContext& c, std::string_view what) {
  if (!IsScalarValue(n)) {
    Expected(n, c, what);
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<bool> ReadBool(const YAML::Node& n, ReadContext& c) {
  if (IsScalarValue(n)) {
    if (n.Scalar() == "true") return true;
    if (n.Scalar() == "false") return false;
  }
  Expected(n, c, "true or false");
  return std::nullopt;
}

std::optional<std::int64_t> ReadInteger(const YAML::Node& n, ReadContext& c, std::int64_t min,
                                        std::int64_t max) {
  const std::string range = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (!IsScalarValue(n)) {
    Expected(n, c, range);
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range ||
      (ec == std::errc() && end == s.data() + s.size() && (v < min || v > max))) {
    c.diag.Error(PositionOf(n), s + " is out of range: expected " + range);
    return std::nullopt;
  }
  if (ec != std::errc() || end != s.data() + s.size()) {
    Expected(n, c, range);
    return std::nullopt;
  }
  return v;
}

std::optional<std::chrono::milliseconds> ReadDuration(const YAML::Node& n, ReadContext& c,
                                                      std::chrono::milliseconds min,
                                                      std::chrono::milliseconds max) {
  const std::string form =
      "a duration such as \"10s\" or \"500ms\" (whole numbers; units ms, s, m, h; sums like "
      "\"1m30s\")";
  if (!IsScalarValue(n)) {
    Expected(n, c, form);
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  std::uint64_t total_ms = 0;
  bool overflow = false;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t digits_end = i;
    while (digits_end < s.size() && s[digits_end] >= '0' && s[digits_end] <= '9') ++digits_end;
    std::size_t unit_end = digits_end;
    while (unit_end < s.size() && s[unit_end] >= 'a' && s[unit_end] <= 'z') ++unit_end;
    const auto amount = ParseUnsigned(std::string_view(s).substr(i, digits_end - i));
    const std::string_view unit = std::string_view(s).substr(digits_end, unit_end - digits_end);
    std::uint64_t factor = 0;
    if (unit == "ms")
      factor = 1;
    else if (unit == "s")
      factor = 1000;
    else if (unit == "m")
      factor = 60'000;
    else if (unit == "h")
      factor = 3'600'000;
    if (!amount || factor == 0) {
      Expected(n, c, form);
      return std::nullopt;
    }
    if (*amount > std::numeric_limits<std::uint32_t>::max())
      overflow = true;
    else
      total_ms += *amount * factor;
    i = unit_end;
  }
  if (s.empty()) {
    Expected(n, c, form);
    return std::nullopt;
  }
  const auto max_ms = static_cast<std::uint64_t>(max.count());
  const auto min_ms = static_cast<std::uint64_t>(min.count());
  if (overflow || total_ms > max_ms || total_ms < min_ms) {
    c.diag.Error(PositionOf(n), "duration \"" + s + "\" is out of range: expected from " +
                                    FormatDuration(min) + " to " + FormatDuration(max));
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(total_ms));
}

std::optional<std::uint64_t> ReadByteSize(const YAML::Node& n, ReadContext& c, std::uint64_t min,
                                          std::uint64_t max) {
  const std::string form =
      "a size in bytes, e.g. 1048576 or \"1MiB\" (units B, KiB, MiB, GiB, kB, MB, GB)";
  if (!IsScalarValue(n)) {
    Expected(n, c, form);
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  std::size_t digits_end = 0;
  while (digits_end < s.size() && s[digits_end] >= '0' && s[digits_end] <= '9') ++digits_end;
  std::size_t unit_start = digits_end;
  while (unit_start < s.size() && s[unit_start] == ' ') ++unit_start;
  const auto amount = ParseUnsigned(std::string_view(s).substr(0, digits_end));
  const std::string_view unit = std::string_view(s).substr(unit_start);
  std::uint64_t factor = unit.empty() ? 1 : 0;
  for (const SizeUnit& u : kSizeUnits) {
    if (u.name == unit) factor = u.factor;
  }
  if (!amount || factor == 0) {
    std::string hint;
    if (amount && !unit.empty()) {
      std::vector<std::string_view> names;
      for (const SizeUnit& u : kSizeUnits) names.push_back(u.name);
      hint = DidYouMean(unit, names);
    }
    c.diag.Error(PositionOf(n), "expected " + form + ", got " + Got(n) + hint);
    return std::nullopt;
  }
  if (*amount > max / factor || *amount * factor > max || *amount * factor < min) {
    c.diag.Error(PositionOf(n), "size \"" + s + "\" is out of range: expected from " +
                                    FormatSize(min) + " to " + FormatSize(max));
    return std::nullopt;
  }
  return *amount * factor;
}

std::optional<std::string> ReadChoice(const YAML::Node& n, ReadContext& c,
                                      std::span<const std::string_view> choices) {
  std::string list;
  for (std::string_view choice : choices) {
    if (!list.empty()) list += ", ";
    list += choice;
  }
  if (IsScalarValue(n)) {
    for (std::string_view choice : choices) {
      if (n.Scalar() == choice) return n.Scalar();
    }
  }
  std::string hint = IsScalarValue(n) ? DidYouMean(n.Scalar(), choices) : std::string();
  c.diag.Error(ValuePosition(n, c), "expected one of " + list + ", got " + Got(n) + hint);
  return std::nullopt;
}

std::optional<ListenAddress> ReadListenAddress(const YAML::Node& n, ReadContext& c) {
  const std::string form = "\"ADDRESS:PORT\", e.g. \"127.0.0.1:8470\" or \"[::1]:8470\"";
  if (!IsScalarValue(n)) {
    Expected(n, c, form);
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  const Position at = PositionOf(n);
  std::string host;
  std::string port_text;
  bool bracketed = false;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      Expected(n, c, form);
      return std::nullopt;
    }
    host = s.substr(1, close - 1);
    port_text = s.substr(close + 2);
    bracketed = true;
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos) {
      Expected(n, c, form);
      return std::nullopt;
    }
    host = s.substr(0, colon);
    port_text = s.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      c.diag.Error(at, "an IPv6 address needs brackets: expected " + form + ", got " + Got(n));
      return std::nullopt;
    }
  }
  const auto port = ParseUnsigned(port_text);
  if (host.empty() || !port || port_text.size() > 10) {
    Expected(n, c, form);
    return std::nullopt;
  }
  if (bracketed ? !IsIpv6(host) : !IsIpv4(host)) {
    c.diag.Error(at, "\"" + host + "\" is not an " + (bracketed ? "IPv6" : "IPv4") +
                         " address (host names are not resolved): expected " + form);
    return std::nullopt;
  }
  if (*port > 65535) {
    c.diag.Error(
        at, "port " + port_text + " is out of range: expected 0 to 65535 (0 picks a free port)");
    return std::nullopt;
  }
  return ListenAddress{host, static_cast<std::uint16_t>(*port)};
}

std::optional<std::string> ReadPath(const YAML::Node& n, ReadContext& c) {
  auto s = ReadString(n, c, "a file path");
  if (!s) return std::nullopt;
  if (s->empty()) {
    c.diag.Error(ValuePosition(n, c), "expected a file path, got an empty string");
    return std::nullopt;
  }
  fs::path p(*s);
  if (p.is_relative()) p = fs::path(c.base_dir) / p;
  return p.lexically_normal().string();
}

std::optional<std::string> ReadFilePath(const YAML::Node& n, ReadContext& c) {
  std::optional<std::string> path = ReadPath(n, c);
  if (!path) return std::nullopt;
  struct stat st {};
  if (::stat(path->c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    c.diag.Error(ValuePosition(n, c), "expected the path of a file, but " + *path + " is " +
                                          (S_ISDIR(st.st_mode) ? "a directory (name the file in it)"
                                                               : "not a regular file"));
    return std::nullopt;
  }
  return path;
}

std::optional<std::string> ReadFileToCreate(const YAML::Node& n, ReadContext& c) {
  std::optional<std::string> path = ReadFilePath(n, c);
  if (!path) return std::nullopt;
  struct stat st {};
  if (::stat(path->c_str(), &st) == 0) return path;
  const std::string dir = fs::path(*path).parent_path().string();
  std::error_code ec;
  // A warning, not an error: a directory systemd creates at the service's
  // start (a second StateDirectory=) does not exist before the first one.
  // consentd itself refuses to start if it cannot write there.
  if (!dir.empty() && dir != c.store_dir && !fs::is_directory(dir, ec)) {
    c.diag.Warning(ValuePosition(n, c),
                   *path + " does not exist and its directory " + dir +
                       " does not either: consentd creates the file there and refuses to start "
                       "unless it can (a typo? or a directory systemd creates at start)");
  }
  return path;
}

std::string ResolveSecretFile(const std::string& value, const std::string& base_dir,
                              const std::string& credentials_dir) {
  const fs::path p(value);
  if (p.is_absolute()) return p.lexically_normal().string();
  if (value.find('/') == std::string::npos && !credentials_dir.empty()) {
    return (fs::path(credentials_dir) / p).lexically_normal().string();
  }
  return (fs::path(base_dir) / p).lexically_normal().string();
}

std::string UrlForMessages(std::string_view url) {
  std::string out;
  std::size_t rest = 0;
  if (const std::size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    rest = scheme + 3;
    out.append(url.substr(0, rest));
  }
  // User information, with a scheme or without one ("user:key@host/…").
  const std::size_t authority_end = std::min(url.find_first_of("/?#", rest), url.size());
  if (authority_end > rest) {
    if (const std::size_t at = url.rfind('@', authority_end - 1);
        at != std::string_view::npos && at >= rest) {
      out.append("…@");
      rest = at + 1;
    }
  }
  const std::size_t cut = std::min(url.find_first_of("?#", rest), url.size());
  out.append(url.substr(rest, cut - rest));
  if (cut < url.size()) out.append(url[cut] == '?' ? "?…" : "#…");
  return out;
}

std::optional<std::string> ReadSecretFile(const YAML::Node& n, ReadContext& c) {
  auto s = ReadString(n, c, "the path or credential name of a file holding the secret");
  if (!s) return std::nullopt;
  const Position at = ValuePosition(n, c);
  if (s->empty()) {
    c.diag.Error(at,
                 "expected the path or credential name of a file holding the secret, got "
                 "an empty string");
    return std::nullopt;
  }
  const std::string path = ResolveSecretFile(*s, c.base_dir, c.credentials_dir);
  const bool from_credentials = s->find('/') == std::string::npos && !fs::path(*s).is_absolute() &&
                                !c.credentials_dir.empty();
  const std::string where = from_credentials
                                ? "'" + *s + "' in $CREDENTIALS_DIRECTORY (" + path + ")"
                                : "'" + *s + "' (" + path + ")";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    // A bare name outside systemd: the unit's LoadCredential= files are
    // elsewhere (consentd's own unit: /etc/consentd/credentials).
    const bool bare_name_without_credentials = s->find('/') == std::string::npos &&
                                               !fs::path(*s).is_absolute() &&
                                               c.credentials_dir.empty();
    c.diag.Error(at, "cannot use secret file " + where + ": " + std::strerror(err) +
                         (err == ENOENT && bare_name_without_credentials
                              ? " (a bare name is looked up in $CREDENTIALS_DIRECTORY, which "
                                "systemd sets for the service and which is not set here: run "
                                "with CREDENTIALS_DIRECTORY=<the directory of the unit's "
                                "LoadCredential= files>, e.g. /etc/consentd/credentials)"
                              : ""));
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    c.diag.Error(at, "cannot use secret file " + where + ": not a regular file");
    return std::nullopt;
  }
  if (::access(path.c_str(), R_OK) != 0) {
    const int err = errno;
    c.diag.Error(at, "cannot use secret file " + where + ": " + std::strerror(err));
    return std::nullopt;
  }
  // A warning, not an error: who else can log in here is the operator's to
  // judge, and systemd's credentials are private to the service anyway.
  if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    c.diag.Warning(at, "secret file " + where + " can be " +
                           ((st.st_mode & S_IROTH) != 0 ? "read" : "written") +
                           " by every user of this machine (mode " + mode +
                           "): chmod o-rwx it (e.g. 0600, or 0640 with consentd's group)");
  }
  // Empty, or line breaks only: every secret consentd reads needs content.
  // (Larger files are not read here: a secret is never mostly line breaks.)
  if (st.st_size <= 4096) {
    std::ifstream in(path, std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (content.find_first_not_of("\r\n") == std::string::npos) {
      c.diag.Error(at, "cannot use secret file " + where + ": it is empty");
      return std::nullopt;
    }
  }
  return path;
}

std::optional<std::string> ReadGeneratedKeyFile(const YAML::Node& n, ReadContext& c,
                                                std::string_view what) {
  const std::string w(what);
  auto s = ReadString(n, c, "the path or credential name of the " + w);
  if (!s) return std::nullopt;
  const Position at = ValuePosition(n, c);
  if (s->empty()) {
    c.diag.Error(at, "expected the path or credential name of the " + w + ", got an empty string");
    return std::nullopt;
  }
  const std::string path = ResolveSecretFile(*s, c.base_dir, c.credentials_dir);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      c.diag.Error(at, "cannot use " + w + " '" + *s + "' (" + path + "): not a regular file");
      return std::nullopt;
    }
    return path;
  }
  const int err = errno;
  if (err != ENOENT) {
    c.diag.Error(at, "cannot use " + w + " '" + *s + "' (" + path + "): " + std::strerror(err));
    return std::nullopt;
  }
  const std::string dir = fs::path(path).parent_path().string();
  std::error_code ec;
  if (dir != c.store_dir && !fs::is_directory(dir, ec)) {
    c.diag.Error(at, w + " '" + *s + "' (" + path + ") does not exist and its directory " + dir +
                         " does not either; the key is generated there on first start, so "
                         "create the directory");
    return std::nullopt;
  }
  return path;
}

void ReadList(const YAML::Node& n, ReadContext& c,
              const std::function<void(const YAML::Node& item)>& each) {
  if (!n.IsDefined() || n.IsNull()) return;
  if (!n.IsSequence()) {
    Expected(n, c, "a list");
    return;
  }
  for (const YAML::Node& item : n) {
    const Position saved = c.key_at;
    if (Position p = PositionOf(item); p.line > 0) c.key_at = p;
    each(item);
    c.key_at = saved;
  }
}

void ReadNamedMappings(
    const YAML::Node& n, ReadContext& c,
    const std::function<void(const std::string&, const YAML::Node&, const YAML::Node&)>& each) {
  if (!n.IsDefined() || n.IsNull()) return;
  if (!n.IsMap()) {
    Expected(n, c, "a mapping of names to settings");
    return;
  }
  std::map<std::string, Position> seen;
  for (auto it = n.begin(); it != n.end(); ++it) {
    const YAML::Node key = it->first;
    const Position key_pos = PositionOf(key);
    if (!IsScalarValue(key)) {
      c.diag.Error(key_pos, "expected a name as key, got " + Got(key));
      continue;
    }
    auto [prev, inserted] = seen.emplace(key.Scalar(), key_pos);
    if (!inserted) {
      c.diag.Error(key_pos, "duplicate name '" + key.Scalar() + "' (first at line " +
                                std::to_string(prev->second.line) + ")");
      continue;
    }
    const Position saved = c.key_at;
    c.key_at = key_pos;
    each(key.Scalar(), key, it->second);
    c.key_at = saved;
  }
}

bool FirstOccurrence(std::map<std::string, Position>& seen, const std::string& key, Position at,
                     ReadContext& c, std::string_view what) {
  auto [prev, inserted] = seen.emplace(key, at);
  if (inserted) return true;
  const Position first = c.diag.InCharacters(prev->second);
  c.diag.Error(at, "duplicate " + std::string(what) + " '" + key + "' (first at line " +
                       std::to_string(first.line) + ", column " + std::to_string(first.column) +
                       ")");
  return false;
}

namespace internal {

void ReadMapping(const YAML::Node& node, ReadContext& c, std::string_view where,
                 std::span<const FieldRef> fields,
                 const std::function<void(std::size_t, const YAML::Node&)>& read) {
  const std::string in = where.empty() ? std::string() : " in '" + std::string(where) + "'";
  std::vector<std::string_view> names;
  for (const FieldRef& f : fields) names.push_back(f.key);
  const Position node_pos = ValuePosition(node, c);

  std::vector<bool> present(fields.size(), false);
  std::vector<std::string> suggested;  // keys an unknown key was taken for
  if (node.IsDefined() && !node.IsNull()) {
    if (!node.IsMap()) {
      std::string keys;
      for (std::string_view name : names) keys += (keys.empty() ? "" : ", ") + std::string(name);
      c.diag.Error(node_pos, "expected a mapping" + in + " (keys: " + keys + "), got " + Got(node));
      return;
    }
    std::map<std::string, Position> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      const Position key_pos = PositionOf(key);
      if (!IsScalarValue(key)) {
        c.diag.Error(key_pos, "expected a plain key" + in + ", got " + Got(key));
        continue;
      }
      const std::string& name = key.Scalar();
      auto [prev, inserted] = seen.emplace(name, key_pos);
      if (!inserted) {
        const Position first = c.diag.InCharacters(prev->second);
        c.diag.Error(key_pos, "duplicate key '" + name + "'" + in + " (first at line " +
                                  std::to_string(first.line) + ", column " +
                                  std::to_string(first.column) + ")");
        continue;
      }
      std::size_t index = fields.size();
      for (std::size_t i = 0; i < fields.size(); ++i) {
        if (fields[i].key == name) index = i;
      }
      if (index < fields.size()) {
        present[index] = true;
        const Position saved = c.key_at;
        c.key_at = key_pos;
        read(index, it->second);
        c.key_at = saved;
        continue;
      }
      // Unknown key. Its value is never echoed: it may be a secret.
      const std::string file_key = name + "_file";
      bool wants_file = false;
      for (std::string_view f : names) wants_file = wants_file || f == file_key;
      if (wants_file) {
        c.diag.Error(key_pos, "'" + name + "'" + in +
                                  " must not hold a secret inline: write the secret to a file "
                                  "and set '" +
                                  file_key +
                                  "' to its path or to a credential name (systemd "
                                  "LoadCredential=, found in $CREDENTIALS_DIRECTORY)");
        suggested.push_back(file_key);
        continue;
      }
      if (auto s = SuggestClosest(name, names)) {
        c.diag.Error(key_pos, "unknown key '" + name + "'" + in + " (did you mean '" + *s + "'?)");
        suggested.push_back(*s);
      } else {
        std::string keys;
        for (std::string_view k : names) keys += (keys.empty() ? "" : ", ") + std::string(k);
        c.diag.Error(key_pos, "unknown key '" + name + "'" + in + "; valid keys: " + keys);
      }
    }
  }
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (present[i] || fields[i].presence != Presence::kRequired) continue;
    bool explained = false;  // an unknown key already pointed here
    for (const std::string& s : suggested) explained = explained || s == fields[i].key;
    if (explained) continue;
    const std::string full = where.empty() ? std::string(fields[i].key)
                                           : std::string(where) + "." + std::string(fields[i].key);
    // At the section's own key ("store:"), or the top of the file.
    c.diag.Error(c.key_at, "missing required key '" + full + "'");
  }
}

}  // namespace internal

namespace {
void AppendKeyPaths(const KeyTree& tree, const std::string& prefix, bool required_only,
                    std::vector<std::string>& out) {
  for (const KeyInfo& k : tree.Keys()) {
    const std::string path = prefix + std::string(k.key);
    if (!required_only || k.presence == Presence::kRequired) out.push_back(path);
    if (k.sub == nullptr) continue;
    switch (k.shape) {
      case Shape::kValue:
      case Shape::kMapping:
        AppendKeyPaths(*k.sub, path + ".", required_only, out);
        break;
      case Shape::kList:
        AppendKeyPaths(*k.sub, path + "[].", required_only, out);
        break;
      case Shape::kNamedMappings:
        AppendKeyPaths(*k.sub, path + ".*.", required_only, out);
        break;
    }
  }
}
}  // namespace

std::vector<std::string> KeyPaths(const KeyTree& tree, bool required_only) {
  std::vector<std::string> out;
  AppendKeyPaths(tree, "", required_only, out);
  return out;
}

}  // namespace consentd::config
