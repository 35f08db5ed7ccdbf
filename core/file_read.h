// Reading a whole small file (a key, a secret, a saved checkpoint, a
// payload, the erasure ledger) the way every command and consentd do, so
// that a path that names a directory, or nothing, is said in those words
// instead of an exception from a stream or a parser's complaint about
// empty input.
#pragma once

#include <cstddef>
#include <string>

#include "core/status.h"

namespace consentd {

// The bytes of the file at `path`. NotFound ("no WHAT at PATH") when
// nothing is there; InvalidArgument ("WHAT PATH is a directory, not a
// file") for a directory or another kind of non-regular file;
// FailedPrecondition for one larger than `max_bytes`; Unavailable with the
// system's words for any other failure (no permission, an I/O error).
// `what` names the file in messages ("identity key", "saved checkpoint";
// empty: "file"). `accept_streams`: a FIFO or character device (a path a
// shell gives for `<(command)` or /dev/stdin, on a command line) is read
// to its end too, waiting for its writer; never for a file consentd reads
// while it runs, where a FIFO would hang it. Never throws.
Result<std::string> ReadWholeFile(const std::string& path, const std::string& what = "",
                                  std::size_t max_bytes = std::size_t{1} << 30,
                                  bool accept_streams = false);

}  // namespace consentd
