#include "config/diagnostics.h"

#include <algorithm>

#include "core/json_string.h"

namespace consentd::config {

void Diagnostics::Error(Position at, std::string message) {
  entries_.push_back({at, false, std::move(message)});
  ++error_count_;
}

void Diagnostics::Warning(Position at, std::string message) {
  entries_.push_back({at, true, std::move(message)});
}

Position InCharacters(std::string_view text, Position at) {
  if (text.empty() || at.line < 1 || at.column <= 1) return at;
  std::size_t start = 0;
  for (int line = 1; line < at.line; ++line) {
    start = text.find('\n', start);
    if (start == std::string_view::npos) return at;
    ++start;
  }
  int column = 1;
  const std::size_t end = start + static_cast<std::size_t>(at.column - 1);
  for (std::size_t i = start; i < end && i < text.size() && text[i] != '\n'; ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++column;  // a character starts
  }
  return {at.line, column};
}

Position Diagnostics::InCharacters(Position at) const { return config::InCharacters(text_, at); }

std::string Diagnostics::Format(const Entry& e) const {
  std::string out = file_;
  if (e.at.line > 0) {
    const Position at = InCharacters(e.at);
    out += ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
  }
  out += e.warning ? ": warning: " : ": ";
  out += e.message;
  return out;
}

std::vector<Diagnostics::Entry> Diagnostics::Sorted() const {
  std::vector<Entry> sorted = entries_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Entry& a, const Entry& b) {
    if (a.at.line != b.at.line) return a.at.line < b.at.line;
    return a.at.column < b.at.column;
  });
  return sorted;
}

std::vector<std::string> Diagnostics::Lines() const {
  std::vector<std::string> lines;
  for (const Entry& e : Sorted()) lines.push_back(Format(e));
  return lines;
}

std::vector<std::string> Diagnostics::WarningLines() const {
  std::vector<std::string> lines;
  for (const Entry& e : Sorted()) {
    if (e.warning) lines.push_back(Format(e));
  }
  return lines;
}

Status Diagnostics::ToStatus() const {
  if (!has_errors()) return Status::Ok();
  std::string message;
  for (const Entry& e : Sorted()) {
    if (e.warning) continue;
    if (!message.empty()) message += '\n';
    message += Format(e);
  }
  return InvalidArgument(std::move(message));
}

// Line and column (1-based, in characters) of byte `offset` of `text`,
// everything before which is valid UTF-8.
Position PositionOfOffset(std::string_view text, std::size_t offset) {
  // A byte-order mark is no column (yaml-cpp skips it; Diagnostics drops it).
  if (text.starts_with("\xEF\xBB\xBF") && offset >= 3) {
    text.remove_prefix(3);
    offset -= 3;
  }
  Position at{1, 1};
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++at.line;
      at.column = 1;
    } else {
      ++at.column;
    }
  }
  return at;
}

bool CheckUtf8(std::string_view text, Diagnostics& diag) {
  const std::size_t bad = FirstInvalidUtf8(text);
  if (bad == std::string_view::npos) return true;
  diag.Error(PositionOfOffset(text, bad),
             "this byte is not valid UTF-8; the configuration must be saved as UTF-8 "
             "(e.g. iconv -f latin1 -t utf-8)");
  return false;
}

}  // namespace consentd::config
