// The status page's files (daemon/status_page/), embedded into the binary
// at build time by cmake/EmbedFiles.cmake, so the page works offline and
// needs nothing installed beside consentd. Immutable; any thread.
#pragma once

#include <string_view>
#include <vector>

namespace consentd::daemon {

struct EmbeddedFile {
  std::string_view name;    // file name, e.g. "app.js"
  std::string_view sha256;  // hex digest of the bytes (the ETag)
  std::string_view bytes;
};

const std::vector<EmbeddedFile>& StatusPageFiles();

}  // namespace consentd::daemon
