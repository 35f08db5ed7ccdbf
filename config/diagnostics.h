// Diagnostics: collects every error and warning found while reading one
// configuration file, so a single pass reports them all.
//
// Each entry reads "FILE:LINE:COLUMN: message" (1-based line and column);
// warnings read "FILE:LINE:COLUMN: warning: message". An entry without a
// position (e.g. the file cannot be opened) reads "FILE: message".
// Lines() returns entries sorted by position (stable for equal positions).
// Thread-compatible: one Diagnostics per load, not shared between threads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace consentd::config {

// A position in the file, 1-based. line == 0 means "no position".
struct Position {
  int line = 0;
  int column = 0;
};

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  // The file's text. Positions are taken in bytes (yaml-cpp counts a
  // column's bytes); with the text, they are reported in characters, as
  // editors count them ("Ü" is one column, not two).
  // A UTF-8 byte-order mark is left out, as yaml-cpp does not count it.
  void SetText(std::string_view text) {
    if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
    text_ = std::string(text);
  }

  void Error(Position at, std::string message);
  void Warning(Position at, std::string message);

  bool has_errors() const { return error_count_ > 0; }
  const std::string& file() const { return file_; }

  // `at` with its column counted in characters of its line of the text
  // (as every entry is reported), for positions quoted inside a message.
  Position InCharacters(Position at) const;

  // Errors and warnings, formatted, sorted by position.
  std::vector<std::string> Lines() const;
  // Warnings only, formatted, sorted by position.
  std::vector<std::string> WarningLines() const;
  // OK when there is no error; else InvalidArgument whose message is every
  // error line (sorted, joined by '\n'; warnings are left out).
  Status ToStatus() const;

 private:
  struct Entry {
    Position at;
    bool warning;
    std::string message;
  };
  std::string Format(const Entry& e) const;
  std::vector<Entry> Sorted() const;

  std::string file_;
  std::string text_;
  std::vector<Entry> entries_;
  int error_count_ = 0;
};

// `at` (column in bytes, as yaml-cpp counts) with its column counted in
// characters of its line of `text` (without a byte-order mark), as editors
// count them. `at` itself when the text does not reach it.
Position InCharacters(std::string_view text, Position at);

// Line and column (1-based, the column in bytes, as yaml-cpp's) of byte
// `offset` of `text`; a leading UTF-8 byte-order mark is not counted.
Position PositionOfOffset(std::string_view text, std::size_t offset);

// yaml-cpp passes any bytes through; the mapping's texts and templates
// later go through JSON, which takes UTF-8 only. False, with an error at
// the first byte that is not valid UTF-8, if there is one.
bool CheckUtf8(std::string_view text, Diagnostics& diag);

}  // namespace consentd::config
