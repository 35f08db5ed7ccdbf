#!/bin/sh
# Fails unless `systemd-analyze security --offline=true UNIT` rates the
# unit's overall exposure at MAX (default 1.5) or lower.
set -eu
unit=$1
max=${2:-1.5}
out=$(systemd-analyze security --offline=true "$unit" 2>&1) || true
line=$(printf '%s\n' "$out" | grep 'Overall exposure level' || true)
if [ -z "$line" ]; then
  printf '%s\n' "$out"
  echo "no overall exposure line from systemd-analyze" >&2
  exit 1
fi
value=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9][0-9]*\.[0-9]\).*/\1/p')
echo "$line"
awk -v v="$value" -v m="$max" 'BEGIN { exit !(v != "" && v + 0 <= m + 0) }' || {
  echo "exposure $value is above $max" >&2
  exit 1
}
