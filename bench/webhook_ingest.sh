#!/usr/bin/env bash
# Durable webhook ingest of consentd (the "Two-way sync" section of
# docs/benchmarks.md). For each of ROUNDS rounds: a fresh consentd with its
# store on a real file in /var/tmp, both connectors' base_url on a closed
# loopback port (the hint reader fails fast and backs off, so this measures
# ingest alone: verify, durable inbox insert by group commit, 2xx), then wrk
# for DURATION at 32 and 256 connections against
#   GET  /healthz                       (same Beast server, no store: the raw HTTP limit)
#   POST /webhooks/mailchimp?secret=... (unique Mailchimp form webhooks)
# and afterwards the inbox row count against the 2xx answers wrk counted.
#
#   bench/webhook_ingest.sh [ROUNDS=3] [DURATION=10s]
#   BENCH_BUILD=build/release bench/webhook_ingest.sh   # default build/lead
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
duration=${2:-10s}
bin=${BENCH_BUILD:-build/lead}
port=${INGEST_PORT:-18570}
closed=127.0.0.1:9   # nothing listens on the discard port on loopback
work=$(mktemp -d /tmp/consentd-ingest.XXXXXX)
store=/var/tmp/consentd-ingest-bench.db
secret=$(cat config/demo/secrets/mailchimp_webhook_secret)
pid=""
cleanup() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; true; }
trap cleanup EXIT INT TERM

if (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null; then echo "port 9 is open; pick another" >&2; exit 1; fi
echo "build: $bin; store: $store ($(df -T /var/tmp | awk 'NR==2{print $2}'))"
echo "uptime before: $(uptime)"
python3 bench/sync_bench_lib.py config "$work/consentd.yaml" "127.0.0.1:$port" "$store" \
  "http://$closed" "http://$closed"

# wrk summary -> "rps p50_ms p99_ms requests non2xx"
parse() {
  python3 - "$1" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(s):
    v, u = re.match(r"([\d.]+)(us|ms|s)", s).groups()
    return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = ms(re.search(r"\s50%\s+(\S+)", t).group(1))
p99 = ms(re.search(r"\s99%\s+(\S+)", t).group(1))
req = int(re.search(r"(\d+) requests in", t).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
err = re.search(r"Socket errors: (.*)", t)
ok = re.search(r"INGEST_2XX (\d+)", t)
print(f"{rps:.0f} {p50:.2f} {p99:.2f} {req} {bad.group(1) if bad else 0} "
      f"{ok.group(1) if ok else req} {'errors:' + err.group(1).replace(' ', '') if err else ''}")
PY
}

results=$work/results
: >"$results"
for round in $(seq 1 "$rounds"); do
  rm -f "$store" "$store-wal" "$store-shm"
  "$bin/daemon/consentd" --config "$work/consentd.yaml" >"$work/consentd.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  acked=0
  for conns in 32 256; do
    wrk -t2 -c"$conns" -d"$duration" --latency "http://127.0.0.1:$port/healthz" >"$work/raw.txt"
    read -r raw_rps raw_p50 raw_p99 _ _ _ _ < <(parse "$work/raw.txt")
    INGEST_RUN=$round INGEST_CONNS=$conns wrk -t2 -c"$conns" -d"$duration" --latency \
      -s bench/webhook_ingest.lua "http://127.0.0.1:$port/webhooks/mailchimp?secret=$secret" >"$work/hook.txt"
    read -r hook_rps hook_p50 hook_p99 hook_req hook_bad hook_ok hook_err < <(parse "$work/hook.txt")
    acked=$((acked + hook_ok))
    echo "$round $conns $raw_rps $raw_p50 $raw_p99 $hook_rps $hook_p50 $hook_p99 $hook_req $hook_bad $hook_ok $hook_err" |
      tee -a "$results"
  done
  kill -TERM "$pid"; wait "$pid" || echo "consentd exited $?"
  pid=""
  rows=$(sqlite3 "$store" "SELECT count(*) FROM inbox WHERE source='mailchimp'")
  echo "round $round: inbox rows $rows, 2xx answers counted by wrk $acked, difference $((rows - acked))" |
    tee -a "$work/rows"
done
echo "uptime after: $(uptime)"

echo
echo "round conns raw_rps raw_p50_ms raw_p99_ms durable_rps durable_p50_ms durable_p99_ms requests non2xx 2xx [errors]"
cat "$results"
cat "$work/rows"
python3 - "$results" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
def med(xs):
    xs = sorted(xs); n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
print("\nmedians of %d rounds" % (len(rows) // 2))
print("| connections | raw /healthz req/s | raw p50 / p99 ms | durable events/s | ack p50 / p99 ms | durable/raw |")
print("|---:|---:|---:|---:|---:|---:|")
for c in ("32", "256"):
    r = [x for x in rows if x[1] == c]
    raw = med([float(x[2]) for x in r]); hook = med([float(x[5]) for x in r])
    ratio = med([float(x[5]) / float(x[2]) for x in r])
    print(f"| {c} | {raw:,.0f} | {med([float(x[3]) for x in r]):.2f} / {med([float(x[4]) for x in r]):.2f} "
          f"| {hook:,.0f} | {med([float(x[6]) for x in r]):.2f} / {med([float(x[7]) for x in r]):.2f} "
          f"| {100 * ratio:.0f} % |")
PY
rm -f "$store" "$store-wal" "$store-shm"
