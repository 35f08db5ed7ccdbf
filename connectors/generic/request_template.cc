#include "connectors/generic/request_template.h"

#include <optional>

namespace consentd::connectors::generic {
namespace {

using nlohmann::json;

bool NameChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

// One piece of a template: literal text or a placeholder name.
struct Piece {
  bool placeholder = false;
  std::string text;
};

Result<std::vector<Piece>> Split(std::string_view text) {
  std::vector<Piece> out;
  std::string literal;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '}') {
      if (i + 1 < text.size() && text[i + 1] == '}') {
        literal += '}';
        ++i;
        continue;
      }
      return InvalidArgument("'}' at offset " + std::to_string(i) +
                             " closes no placeholder (write '}}' for a literal brace)");
    }
    if (c != '{') {
      literal += c;
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '{') {
      literal += '{';
      ++i;
      continue;
    }
    const std::size_t close = text.find('}', i + 1);
    if (close == std::string_view::npos) {
      return InvalidArgument("'{' at offset " + std::to_string(i) +
                             " is not closed (write '{{' for a literal brace)");
    }
    const std::string_view name = text.substr(i + 1, close - i - 1);
    bool ok = !name.empty();
    for (char n : name) ok = ok && NameChar(n);
    if (!ok) {
      return InvalidArgument("'{" + std::string(name) + "}' at offset " + std::to_string(i) +
                             " is not a placeholder: names are lower-case letters, digits and "
                             "'_' (write '{{' for a literal brace)");
    }
    if (!literal.empty()) out.push_back({false, std::move(literal)});
    literal.clear();
    out.push_back({true, std::string(name)});
    i = close;
  }
  if (!literal.empty()) out.push_back({false, std::move(literal)});
  return out;
}

std::string AsText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0f];
    }
  }
  return out;
}

Result<std::vector<std::string>> Placeholders(std::string_view text) {
  auto pieces = Split(text);
  if (!pieces.ok()) return pieces.status();
  std::vector<std::string> names;
  for (const Piece& p : *pieces) {
    if (p.placeholder) names.push_back(p.text);
  }
  return names;
}

Result<std::string> RenderText(std::string_view text, const TemplateValues& values,
                               TemplateEscape escape, bool null_is_error) {
  auto pieces = Split(text);
  if (!pieces.ok()) return pieces.status();
  std::string out;
  for (const Piece& p : *pieces) {
    if (!p.placeholder) {
      out += p.text;
      continue;
    }
    auto it = values.find(p.text);
    if (it == values.end()) return InvalidArgument("unknown placeholder {" + p.text + "}");
    if (it->second.is_null() && null_is_error) {
      return FailedPrecondition("placeholder {" + p.text + "} has no value for this change");
    }
    std::string v = AsText(it->second);
    switch (escape) {
      case TemplateEscape::kNone:
        break;
      case TemplateEscape::kUrlComponent:
        v = PercentEncode(v);
        break;
      case TemplateEscape::kHeader:
        if (v.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
          return InvalidArgument("placeholder {" + p.text +
                                 "} holds a line break, which a header cannot carry");
        }
        break;
    }
    out += v;
  }
  return out;
}

Result<json> RenderJson(const json& tmpl, const TemplateValues& values) {
  if (tmpl.is_object()) {
    json out = json::object();
    for (const auto& [k, v] : tmpl.items()) {
      auto r = RenderJson(v, values);
      if (!r.ok()) return r.status();
      out[k] = std::move(r).value();
    }
    return out;
  }
  if (tmpl.is_array()) {
    json out = json::array();
    for (const json& v : tmpl) {
      auto r = RenderJson(v, values);
      if (!r.ok()) return r.status();
      out.push_back(std::move(r).value());
    }
    return out;
  }
  if (!tmpl.is_string()) return tmpl;
  const std::string& s = tmpl.get_ref<const std::string&>();
  auto pieces = Split(s);
  if (!pieces.ok()) return pieces.status();
  if (pieces->size() == 1 && (*pieces)[0].placeholder) {
    auto it = values.find((*pieces)[0].text);
    if (it == values.end())
      return InvalidArgument("unknown placeholder {" + (*pieces)[0].text + "}");
    return it->second;
  }
  auto text = RenderText(s, values, TemplateEscape::kNone);
  if (!text.ok()) return text.status();
  return json(std::move(text).value());
}

}  // namespace consentd::connectors::generic
