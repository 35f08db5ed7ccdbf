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
# Around each wrk run it reads consentd's CPU time (utime+stime, /proc) and
# prints it per request answered: whole process, io thread (the main
# thread) and the store (its worker threads, which run the SQL and fsync
# the WAL; for older builds the busiest other thread, i.e. the store
# thread alone), in microseconds.
# Unlike events/s these stay comparable when the machine is loaded.
#
#   bench/webhook_ingest.sh [ROUNDS=3] [DURATION=10s]
#   BENCH_BUILD=build/release bench/webhook_ingest.sh   # default build/release
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
duration=${2:-10s}
bin=${BENCH_BUILD:-build/release}
port=${INGEST_PORT:-18570}
closed=127.0.0.1:9   # nothing listens on the discard port on loopback
work=$(mktemp -d /tmp/consentd-ingest.XXXXXX)
store=${INGEST_STORE:-/var/tmp/consentd-ingest-bench-$port.db}  # per port: runs may overlap
secret=$(cat config/demo/secrets/mailchimp_webhook_secret)
pid=""
cleanup() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; true; }
trap cleanup EXIT INT TERM

if (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null; then echo "port 9 is open; pick another" >&2; exit 1; fi
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "port $port is in use; set INGEST_PORT" >&2; exit 1
fi
echo "build: $bin; store: $store ($(df -T /var/tmp | awk 'NR==2{print $2}'))"
echo "uptime before: $(uptime)"
python3 bench/sync_bench_lib.py config "$work/consentd.yaml" "127.0.0.1:$port" "$store" \
  "http://$closed" "http://$closed"

# CPU ticks of consentd now: "process io_thread name:tid:ticks..." (utime+stime
# of /proc/PID/stat and of each /proc/PID/task/TID/stat; thread names have
# no spaces: "store-worker" for the store's workers in builds that name them).
cpu_ticks() {
  python3 - "$1" <<'PY'
import os, sys
pid = sys.argv[1]
def stat(path):
    head, rest = open(path).read().rsplit(")", 1)
    f = rest.split()
    return head.split("(", 1)[1].replace(" ", "_") or "-", int(f[11]) + int(f[12])  # utime, stime
_, total = stat(f"/proc/{pid}/stat")
io, others = 0, []
for tid in os.listdir(f"/proc/{pid}/task"):
    try:
        name, ticks = stat(f"/proc/{pid}/task/{tid}/stat")
    except OSError:
        continue  # a thread that just ended
    if tid == pid:
        io = ticks
    else:
        others.append(f"{name}:{tid}:{ticks}")
print(total, io, " ".join(others))
PY
}

# Microseconds of CPU per answered request between two cpu_ticks lines:
# "total io store", store = the store's workers together (threads named
# store-worker), or for builds with one unnamed store thread the other
# thread that used the most.
cpu_per_request() {
  python3 - "$1" "$2" "$3" <<'PY'
import os, sys
hz = os.sysconf("SC_CLK_TCK")
def parse(line):
    f = line.split()
    threads = {}
    for x in f[2:]:
        name, tid, n = x.rsplit(":", 2)
        threads[tid] = (name, int(n))
    return int(f[0]), int(f[1]), threads
(t0, io0, o0), (t1, io1, o1) = parse(sys.argv[1]), parse(sys.argv[2])
n = max(int(sys.argv[3]), 1)
delta = {t: (name, v - o0.get(t, (name, 0))[1]) for t, (name, v) in o1.items()}
workers = [d for name, d in delta.values() if name == "store-worker"]
store = sum(workers) if workers else max([d for _, d in delta.values()] or [0])
us = lambda d: d * 1e6 / hz / n
print(f"{us(t1 - t0):.1f} {us(io1 - io0):.1f} {us(store):.1f}")
PY
}

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
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "consentd did not start:" >&2; cat "$work/consentd.log" >&2; pid=""; exit 1
  fi
  acked=0
  for conns in 32 256; do
    cpu0=$(cpu_ticks "$pid")
    wrk -t2 -c"$conns" -d"$duration" --latency "http://127.0.0.1:$port/healthz" >"$work/raw.txt"
    cpu1=$(cpu_ticks "$pid")
    read -r raw_rps raw_p50 raw_p99 raw_req _ _ _ < <(parse "$work/raw.txt")
    read -r raw_cpu _ _ < <(cpu_per_request "$cpu0" "$cpu1" "$raw_req")
    cpu0=$(cpu_ticks "$pid")
    INGEST_RUN=$round INGEST_CONNS=$conns wrk -t2 -c"$conns" -d"$duration" --latency \
      -s bench/webhook_ingest.lua "http://127.0.0.1:$port/webhooks/mailchimp?secret=$secret" >"$work/hook.txt"
    cpu1=$(cpu_ticks "$pid")
    read -r hook_rps hook_p50 hook_p99 hook_req hook_bad hook_ok hook_err < <(parse "$work/hook.txt")
    read -r hook_cpu hook_cpu_io hook_cpu_store < <(cpu_per_request "$cpu0" "$cpu1" "$hook_ok")
    acked=$((acked + hook_ok))
    echo "$round $conns $raw_rps $raw_p50 $raw_p99 $hook_rps $hook_p50 $hook_p99 $hook_req $hook_bad $hook_ok $raw_cpu $hook_cpu $hook_cpu_io $hook_cpu_store $hook_err" |
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
echo "round conns raw_rps raw_p50_ms raw_p99_ms durable_rps durable_p50_ms durable_p99_ms requests non2xx 2xx" \
  "raw_cpu_us/req cpu_us/event io_us/event store_us/event [errors]"
cat "$results"
cat "$work/rows"
python3 - "$results" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
def med(xs):
    xs = sorted(xs); n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
print("\nmedians of %d rounds" % (len(rows) // 2))
print("| connections | raw /healthz req/s | raw p50 / p99 ms | durable events/s | ack p50 / p99 ms | durable/raw "
      "| CPU µs/event (io + store) | raw CPU µs/req |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in ("32", "256"):
    r = [x for x in rows if x[1] == c]
    raw = med([float(x[2]) for x in r]); hook = med([float(x[5]) for x in r])
    ratio = med([float(x[5]) / float(x[2]) for x in r])
    print(f"| {c} | {raw:,.0f} | {med([float(x[3]) for x in r]):.2f} / {med([float(x[4]) for x in r]):.2f} "
          f"| {hook:,.0f} | {med([float(x[6]) for x in r]):.2f} / {med([float(x[7]) for x in r]):.2f} "
          f"| {100 * ratio:.0f} % | {med([float(x[12]) for x in r]):.1f} "
          f"({med([float(x[13]) for x in r]):.1f} + {med([float(x[14]) for x in r]):.1f}) "
          f"| {med([float(x[11]) for x in r]):.1f} |")
PY
rm -f "$store" "$store-wal" "$store-shm"
