#!/usr/bin/env bash
# ctest entry of the status page's browser test (label "browser"):
#   run_status_page_test.sh CONSENTD CONSENTD_SIM
# Missing prerequisites FAIL the test (they are installed by
# scripts/install-deps), so CI never passes without having run it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
chromium="${CONSENTD_CHROMIUM:-/usr/bin/chromium}"
fail() { echo "status page browser test: $*; run scripts/install-deps" >&2; exit 1; }
command -v node >/dev/null || fail "node is not installed"
[ -x "$chromium" ] || fail "$chromium is missing (Debian package chromium)"
[ -d "$here/node_modules/playwright-core" ] || fail "tests/browser/node_modules is missing (npm ci)"
exec node "$here/status_page_test.mjs" --consentd "$1" --sim "$2" --chromium "$chromium"
