#include "tests/daemon/prom_check.h"

#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

namespace consentd::testing {

namespace {

bool ValidName(const std::string& n, bool colon) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::optional<double> ParseValue(const std::string& s) {
  if (s == "+Inf" || s == "Inf") return HUGE_VAL;
  if (s == "-Inf") return -HUGE_VAL;
  if (s == "NaN") return std::nan("");
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (*end != '\0') return std::nullopt;
  return v;
}

// The family a sample belongs to: histogram samples carry suffixes.
std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string sfx(suffix);
    if (name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0) {
      std::string base = name.substr(0, name.size() - sfx.size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return name;
}

// Parses `{a="x",b="y"}` at text[pos]; advances pos past '}'.
bool ParseLabels(const std::string& text, size_t& pos, std::map<std::string, std::string>& out,
                 std::string& error) {
  ++pos;  // '{'
  while (pos < text.size() && text[pos] != '}') {
    size_t eq = text.find('=', pos);
    if (eq == std::string::npos) return error = "label without '='", false;
    std::string name = text.substr(pos, eq - pos);
    if (!ValidName(name, false)) return error = "bad label name '" + name + "'", false;
    pos = eq + 1;
    if (pos >= text.size() || text[pos] != '"') return error = "label value not quoted", false;
    ++pos;
    std::string value;
    while (pos < text.size() && text[pos] != '"') {
      if (text[pos] == '\\') {
        if (pos + 1 >= text.size()) return error = "dangling escape", false;
        const char e = text[pos + 1];
        if (e == '\\')
          value.push_back('\\');
        else if (e == '"')
          value.push_back('"');
        else if (e == 'n')
          value.push_back('\n');
        else
          return error = std::string("bad escape \\") + e, false;
        pos += 2;
      } else {
        value.push_back(text[pos++]);
      }
    }
    if (pos >= text.size()) return error = "unterminated label value", false;
    ++pos;  // closing quote
    if (out.count(name)) return error = "label '" + name + "' repeated", false;
    out[name] = value;
    if (pos < text.size() && text[pos] == ',') ++pos;
  }
  if (pos >= text.size()) return error = "unterminated label set", false;
  ++pos;  // '}'
  return true;
}

std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      out.push_back(s[i + 1] == 'n' ? '\n' : s[i + 1]);
      ++i;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

void CheckHistograms(PromExposition& e) {
  for (const auto& [family, type] : e.types) {
    if (type != "histogram") continue;
    // Group bucket samples by their labels without `le`.
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    for (const auto& s : e.samples) {
      if (s.name != family + "_bucket") continue;
      auto labels = s.labels;
      auto le = labels.find("le");
      if (le == labels.end()) {
        e.errors.push_back(family + "_bucket without le");
        continue;
      }
      auto bound = ParseValue(le->second);
      if (!bound) e.errors.push_back(family + ": bad le '" + le->second + "'");
      labels.erase(le);
      buckets[labels].emplace_back(bound.value_or(0), s.value);
    }
    for (const auto& [labels, list] : buckets) {
      for (size_t i = 1; i < list.size(); ++i) {
        if (!(list[i - 1].first < list[i].first))
          e.errors.push_back(family + ": le not increasing");
        if (list[i - 1].second > list[i].second)
          e.errors.push_back(family + ": buckets not cumulative");
      }
      if (list.empty() || !std::isinf(list.back().first)) {
        e.errors.push_back(family + ": no +Inf bucket");
        continue;
      }
      auto count = e.Value(family + "_count", labels);
      auto sum = e.Value(family + "_sum", labels);
      if (!count || !sum) e.errors.push_back(family + ": _count or _sum missing");
      if (count && *count != list.back().second) {
        e.errors.push_back(family + ": _count differs from the +Inf bucket");
      }
    }
  }
}

}  // namespace

std::optional<double> PromExposition::Value(
    const std::string& name, const std::map<std::string, std::string>& labels) const {
  for (const auto& s : samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return std::nullopt;
}

PromExposition ParseExposition(const std::string& text) {
  PromExposition e;
  if (!text.empty() && text.back() != '\n') e.errors.push_back("does not end with a newline");
  std::istringstream in(text);
  std::string line;
  std::set<std::string> finished;  // families whose samples are complete
  std::string current;             // family of the previous sample
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    const std::string where = "line " + std::to_string(n) + ": ";
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, kind, name;
      words >> hash >> kind >> name;
      if (kind != "HELP" && kind != "TYPE") continue;  // plain comment
      if (!ValidName(name, true)) e.errors.push_back(where + "bad metric name '" + name + "'");
      std::string rest;
      std::getline(words, rest);
      if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
      if (kind == "TYPE") {
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (!kTypes.count(rest)) e.errors.push_back(where + "unknown type '" + rest + "'");
        if (e.types.count(name)) e.errors.push_back(where + "second TYPE for " + name);
        for (const auto& s : e.samples) {
          if (FamilyOf(s.name, {{name, rest}}) == name) {
            e.errors.push_back(where + "TYPE for " + name + " after its samples");
            break;
          }
        }
        e.types[name] = rest;
      } else {
        if (e.help.count(name)) e.errors.push_back(where + "second HELP for " + name);
        e.help[name] = Unescape(rest);
      }
      continue;
    }
    PromSample s;
    size_t pos = 0;
    while (pos < line.size() && line[pos] != '{' && line[pos] != ' ') ++pos;
    s.name = line.substr(0, pos);
    if (!ValidName(s.name, true)) e.errors.push_back(where + "bad metric name '" + s.name + "'");
    if (pos < line.size() && line[pos] == '{') {
      std::string error;
      if (!ParseLabels(line, pos, s.labels, error)) {
        e.errors.push_back(where + error);
        continue;
      }
    }
    if (pos >= line.size() || line[pos] != ' ') {
      e.errors.push_back(where + "no value");
      continue;
    }
    std::istringstream rest(line.substr(pos + 1));
    std::string value, timestamp, extra;
    rest >> value >> timestamp >> extra;
    auto v = ParseValue(value);
    if (!v) e.errors.push_back(where + "bad value '" + value + "'");
    if (!extra.empty()) e.errors.push_back(where + "trailing text");
    s.value = v.value_or(0);
    const std::string family = FamilyOf(s.name, e.types);
    if (family != current) {
      if (finished.count(family)) e.errors.push_back(where + family + " samples not contiguous");
      if (!current.empty()) finished.insert(current);
      current = family;
    }
    auto type = e.types.find(family);
    if (type != e.types.end() && type->second == "counter" && s.value < 0) {
      e.errors.push_back(where + "negative counter");
    }
    if (e.Value(s.name, s.labels)) e.errors.push_back(where + "duplicate sample");
    e.samples.push_back(std::move(s));
  }
  CheckHistograms(e);
  return e;
}

}  // namespace consentd::testing
