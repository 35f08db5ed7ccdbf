#include "config/open_quotes.h"

#include <set>
#include <string>

#include "config/yaml_reader.h"

namespace consentd::config {
namespace {

// Whether the quoted scalar whose opening quote is at `open` closes before
// the end of that line. Double quotes escape with a backslash, single
// quotes by doubling.
bool ClosesOnItsLine(std::string_view text, std::size_t open) {
  const char quote = text[open];
  for (std::size_t i = open + 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n' || c == '\r') return false;
    if (quote == '"' && c == '\\') {
      ++i;  // the escaped character (a line break there continues the line)
      if (i < text.size() && (text[i] == '\n' || text[i] == '\r')) return false;
      continue;
    }
    if (c != quote) continue;
    if (quote == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
      ++i;  // '' is a quote inside the value
      continue;
    }
    return true;
  }
  return false;  // the file ends inside the quote
}

// Where a node's own text starts: past an anchor ("&a ") or a tag
// ("!!str ") that the node's mark points at.
std::size_t PastProperties(std::string_view text, std::size_t at) {
  while (at < text.size() && (text[at] == '&' || text[at] == '!')) {
    while (at < text.size() && text[at] != ' ' && text[at] != '\t' && text[at] != '\n') ++at;
    while (at < text.size() && (text[at] == ' ' || text[at] == '\t')) ++at;
  }
  return at;
}

struct WalkState {
  std::string_view text;
  std::size_t offset = 0;  // bytes yaml-cpp did not count (a UTF-8 byte-order mark)
  Diagnostics& diag;
  // Nodes already walked, by position: an alias names a node again, and a
  // file may alias a node into itself (`x: &a [*a]`) or nest aliases to a
  // billion visits; each node is walked once.
  std::set<int> seen;
};

void Walk(const YAML::Node& node, WalkState& w) {
  const YAML::NodeType::value type = node.Type();
  if (type != YAML::NodeType::Scalar && type != YAML::NodeType::Sequence &&
      type != YAML::NodeType::Map) {
    return;
  }
  const YAML::Mark mark = node.Mark();
  if (mark.pos >= 0 && !w.seen.insert(mark.pos).second) return;
  switch (type) {
    case YAML::NodeType::Scalar: {
      // A plain scalar cannot start with a quote; a quoted one (tagged
      // too: `!!str "x"`) starts with its quote past any anchor and tag.
      if (mark.pos < 0) return;
      const std::string_view text = w.text;
      const std::size_t open = PastProperties(text, static_cast<std::size_t>(mark.pos) + w.offset);
      if (open >= text.size() || (text[open] != '"' && text[open] != '\'')) return;
      if (ClosesOnItsLine(text, open)) return;
      w.diag.Error(PositionOfOffset(text.substr(w.offset), open - w.offset),
                   std::string("the ") + text[open] +
                       " opened here is not closed on this line (a quoted value must end on "
                       "the line it starts on)");
      return;
    }
    case YAML::NodeType::Sequence:
      for (const YAML::Node& child : node) Walk(child, w);
      return;
    case YAML::NodeType::Map:
      for (auto it = node.begin(); it != node.end(); ++it) {
        Walk(it->first, w);
        Walk(it->second, w);
      }
      return;
    default:
      return;
  }
}

std::size_t Indent(std::string_view line) {
  std::size_t n = 0;
  while (n < line.size() && line[n] == ' ') ++n;
  return n;
}

}  // namespace

void ReportQuotesLeftOpen(const YAML::Node& root, std::string_view text, Diagnostics& diag) {
  WalkState w{text, 0, diag, {}};
  if (text.starts_with("\xEF\xBB\xBF")) w.offset = 3;  // yaml-cpp skips it uncounted
  Walk(root, w);
}

std::optional<Position> QuoteLeftOpenBefore(std::string_view text, Position error_at) {
  int line_no = 0;
  std::size_t start = 0;
  // Inside a block scalar while lines are indented deeper than this.
  constexpr std::size_t kNoBlock = std::string_view::npos;
  std::size_t block_indent = kNoBlock;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++line_no;
    if (line_no >= error_at.line) return std::nullopt;
    const std::size_t indent = Indent(line);
    const bool blank = indent == line.size();
    if (block_indent != kNoBlock && (blank || indent > block_indent)) {
      start = end + 1;
      continue;
    }
    block_indent = kNoBlock;
    // A token may start at the line's first character or after one of
    // ": - [ { , ?" and a space (or directly after [ { ,).
    char before = ' ';
    std::size_t last_token_end = 0;
    for (std::size_t i = indent; i < line.size(); ++i) {
      const char c = line[i];
      if (c == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) break;
      const bool token_start = i == indent || before == '[' || before == '{' || before == ',' ||
                               (before == ' ' && i >= 2 &&
                                (line[i - 2] == ':' || line[i - 2] == '-' || line[i - 2] == ',' ||
                                 line[i - 2] == '?' || line[i - 2] == '[' || line[i - 2] == '{'));
      if ((c == '"' || c == '\'') && token_start) {
        const std::size_t open = start + i;
        if (!ClosesOnItsLine(text, open)) return PositionOfOffset(text, open);
        // Skip to the closing quote.
        std::size_t j = i + 1;
        while (j < line.size()) {
          if (c == '"' && line[j] == '\\') {
            j += 2;
            continue;
          }
          if (line[j] == c) {
            if (c == '\'' && j + 1 < line.size() && line[j + 1] == '\'') {
              j += 2;
              continue;
            }
            break;
          }
          ++j;
        }
        i = j;
        before = c;
        last_token_end = j + 1;
        continue;
      }
      if (c != ' ' && c != '\t') last_token_end = i + 1;
      before = c;
    }
    // "key: |" or "- >-" opens a block scalar: its lines are text.
    std::string_view content = line.substr(0, last_token_end);
    while (!content.empty() && (content.back() == '-' || content.back() == '+' ||
                                (content.back() >= '0' && content.back() <= '9'))) {
      content.remove_suffix(1);
    }
    if (!content.empty() && (content.back() == '|' || content.back() == '>') &&
        (content.size() == 1 || content[content.size() - 2] == ' ')) {
      block_indent = indent;
    }
    if (end == text.size()) break;
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace consentd::config
