// The one check-config routine behind `consentctl check-config FILE` and
// `consentd --check-config FILE`.
//
// Loads and validates `path` (with $CREDENTIALS_DIRECTORY from the
// environment). On success prints "PATH: OK" to `out` (after any warning
// lines on `err`) and returns 0; on failure prints every error line to `err`
// and returns 1; an empty path is a usage error: returns 2.
#pragma once

#include <cstdio>
#include <string>

namespace consentd::config {

int RunCheckConfig(const std::string& path, std::FILE* out, std::FILE* err);

}  // namespace consentd::config
