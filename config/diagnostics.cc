#include "config/diagnostics.h"

#include <algorithm>

namespace consentd::config {

void Diagnostics::Error(Position at, std::string message) {
  entries_.push_back({at, false, std::move(message)});
  ++error_count_;
}

void Diagnostics::Warning(Position at, std::string message) {
  entries_.push_back({at, true, std::move(message)});
}

std::string Diagnostics::Format(const Entry& e) const {
  std::string out = file_;
  if (e.at.line > 0) {
    out += ":" + std::to_string(e.at.line) + ":" + std::to_string(e.at.column);
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

}  // namespace consentd::config
