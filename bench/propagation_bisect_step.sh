#!/bin/bash
# One step of a `git bisect run` over propagation latency: builds the
# commit checked out in the current worktree (release preset), then runs
# bench/propagation.py at 1,000 changes/s three times, interleaved with a
# fixed base build, and calls the step bad when its median p50 exceeds the
# base's by more than BISECT_MARGIN_MS (default 6).
#
#   git worktree add /tmp/base <good commit>   # build it: cmake --preset release; cmake --build ...
#   git worktree add /tmp/bis <bad commit> && cd /tmp/bis
#   git bisect start <bad> <good>
#   BASE_BUILD=/tmp/base/build/release git bisect run /path/to/bench/propagation_bisect_step.sh
#
# Each run's line is appended to BISECT_LOG (default /tmp/propagation-bisect.log).
# Exit 125 (skip) when the commit does not build or a run gives no result.
set -u
if [ -z "${BASE_BUILD:-}" ]; then
  # 128 and above stop `git bisect run` instead of marking the commit bad.
  echo "set BASE_BUILD to the directory of the base build, e.g. /tmp/base/build/release" >&2
  exit 128
fi
log=${BISECT_LOG:-/tmp/propagation-bisect.log}
margin=${BISECT_MARGIN_MS:-6}
here=$(cd "$(dirname "$0")" && pwd)
tree=$(git rev-parse --show-toplevel) || exit 125
cd "$tree" || exit 125
export CCACHE_BASEDIR=$tree CCACHE_NOHASHDIR=1
c=$(git rev-parse --short HEAD)
echo "== $c $(date +%H:%M:%S) building" >> "$log"
(cmake --preset release >/dev/null 2>&1 &&
  cmake --build --preset release -j2 --target consentd consentd-sim consentctl signup_driver \
    >/dev/null 2>&1) || { echo "$c build failed" >> "$log"; exit 125; }
test_p50=() base_p50=()
for _ in 1 2 3; do
  for b in "$tree/build/release" "$BASE_BUILD"; do
    line=$(BENCH_BUILD=$b "$here/propagation.py" --skip-b --rates 1000 --rounds 1 2>&1 | grep '^rate')
    p50=$(echo "$line" | sed -n 's/.*p50 \([0-9]*\).*/\1/p')
    [ -n "$p50" ] || { echo "$c no result from $b" >> "$log"; exit 125; }
    if [ "$b" = "$BASE_BUILD" ]; then base_p50+=("$p50"); tag=base; else test_p50+=("$p50"); tag=test; fi
    echo "$c $tag p50 $p50 ms | $(echo "$line" | grep -o 'p99 [0-9]*')" >> "$log"
  done
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
mt=$(median "${test_p50[@]}") mb=$(median "${base_p50[@]}")
if [ $((mt - mb)) -gt "$margin" ]; then verdict=bad; else verdict=good; fi
echo "$c verdict: test ${test_p50[*]} base ${base_p50[*]} -> $verdict" >> "$log"
[ "$verdict" = good ]
