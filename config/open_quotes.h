// Quoted values that run past the end of their line.
//
// YAML lets a quoted scalar span lines, and yaml-cpp even accepts one the
// file ends inside: `notice_version: "demo-1` as the last line loads as
// "demo-1 ", a new notice version nobody meant. In a configuration file a
// quote left open is a typo far more often than a wanted line break, so
// consentd's configuration requires every quoted value to close on the line
// it opens on, and says where the quote was opened: yaml-cpp itself reports
// such a typo, when it reports it at all, lines further down where the
// quote finally closes.
//
// Pure functions of the text (and the node tree yaml-cpp made of it);
// thread-safe.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string_view>

#include "config/diagnostics.h"

namespace consentd::config {

// Reports, as an error at its opening quote, every quoted scalar of `root`
// (keys and values, at any depth) that does not close on its line. `text`
// is what `root` was loaded from.
void ReportQuotesLeftOpen(const YAML::Node& root, std::string_view text, Diagnostics& diag);

// For a syntax error at `error_at`: the earliest quote opened before that
// line that does not close on its own line, found by a light scan (comments
// and block scalars skipped), or nullopt. Used only to add a hint to
// yaml-cpp's message, never to refuse a file by itself.
std::optional<Position> QuoteLeftOpenBefore(std::string_view text, Position error_at);

}  // namespace consentd::config
