"""Shared helpers of the two-way sync benchmarks (bench/propagation.py,
bench/initial_sync.py, bench/webhook_ingest.sh): a consentd configuration
derived from config/demo/consentd.yaml, starting/stopping consentd and
consentd-sim, reading /metrics and /proc.

Also a tiny CLI for the shell benchmark:
  python3 bench/sync_bench_lib.py config OUT.yaml LISTEN STORE HUBSPOT_URL MAILCHIMP_URL
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(REPO, "config", "demo", "consentd.yaml")
SECRETS = os.path.join(REPO, "config", "demo", "secrets")
WEBHOOK_SECRET = open(os.path.join(SECRETS, "mailchimp_webhook_secret")).read().strip()


def bin_dir():
    return os.environ.get("BENCH_BUILD", os.path.join(REPO, "build", "release"))


def write_config(out, listen, store, hubspot_url, mailchimp_url, poll_interval="5s",
                 hubspot_requests=None):
    """The demo configuration with our ports, store, absolute secrets, log warn.

    hubspot_requests: None keeps consentd's default HubSpot budget (100 per
    10 s, the sim's real limit); 0 lifts it (for a sim run with
    --no-rate-limits, where the budget would otherwise be the bottleneck)."""
    text = open(DEMO).read()
    if hubspot_requests is not None:
        marker = "    client_secret_file: secrets/hubspot_client_secret\n"
        assert marker in text
        text = text.replace(marker, marker + "    rate_limit:\n      requests: %d\n"
                            % int(hubspot_requests))
    text = text.replace('listen: "127.0.0.1:8470"', 'listen: "%s"' % listen)
    text = text.replace("path: ../../var/consentd.db", "path: %s" % store)
    text = text.replace("level: info", "level: warn")
    text = text.replace("base_url: http://127.0.0.1:8471", "base_url: %s" % hubspot_url)
    text = text.replace("base_url: http://127.0.0.1:8472", "base_url: %s" % mailchimp_url)
    text = re.sub(r"_file: secrets/", "_file: %s/" % SECRETS, text)
    text = text.replace("poll_interval: 5s", "poll_interval: %s" % poll_interval)
    with open(out, "w") as f:
        f.write(text)


def remove_store(store):
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(store + suffix)
        except FileNotFoundError:
            pass


def http(method, url, body=None, timeout=30):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def get_json(url, timeout=120):
    return json.loads(http("GET", url, timeout=timeout)[1])


def wait_ready(url, seconds=60):
    end = time.time() + seconds
    while time.time() < end:
        try:
            http("GET", url, timeout=2)
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError("%s did not come up" % url)


class Proc:
    """A child process we started; stop() ends exactly it."""

    def __init__(self, args, log):
        self.log = open(log, "w")
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.p.pid

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def start_sim(crm_port, journey_port, consentd_port, log, extra=()):
    args = [os.path.join(bin_dir(), "sim", "consentd-sim"),
            "--crm-listen", "127.0.0.1:%d" % crm_port,
            "--journey-listen", "127.0.0.1:%d" % journey_port, "--seed", "42"]
    if consentd_port:
        base = "http://127.0.0.1:%d" % consentd_port
        args += ["--crm-webhook", base + "/webhooks/hubspot",
                 "--journey-webhook", base + "/webhooks/mailchimp?secret=" + WEBHOOK_SECRET]
    args += list(extra)
    p = Proc(args, log)
    wait_ready("http://127.0.0.1:%d/_sim/health" % crm_port)
    return p


def start_consentd(config, port, log):
    p = Proc([os.path.join(bin_dir(), "daemon", "consentd"), "--config", config], log)
    wait_ready("http://127.0.0.1:%d/healthz" % port)
    return p


def metrics(port):
    """{name{labels}: value} of consentd's /metrics."""
    out = {}
    text = http("GET", "http://127.0.0.1:%d/metrics" % port, timeout=10)[1].decode()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        k, _, v = line.rpartition(" ")
        try:
            out[k] = float(v)
        except ValueError:
            pass
    return out


def metric_sum(m, name, label_fragment=""):
    return sum(v for k, v in m.items()
               if (k == name or k.startswith(name + "{")) and label_fragment in k)


def caught_up_and_drained(m, connectors):
    """From a /metrics sample: every named connector's poll has caught up and
    no outbox row is pending or in flight."""
    return (all(m.get('consentd_connector_poll_caught_up{connector="%s"}' % c) == 1
                for c in connectors)
            and metric_sum(m, "consentd_outbox_rows", 'status="pending"') == 0
            and metric_sum(m, "consentd_outbox_rows", 'status="inflight"') == 0)


def wait_drained(api, consentd, connectors, t0, timeout, every=1.0, hold=6, log_path=None):
    """Polls /metrics every `every` s until caught_up_and_drained has held for
    `hold` s in a row, or `timeout` s after t0 (time.monotonic()). Returns
    (seconds after t0 when it first held, or None on timeout; the last
    sample). Raises if consentd exits, printing the tail of `log_path`."""
    first_seen = None
    m = {}
    while time.monotonic() - t0 < timeout:
        time.sleep(every)
        if consentd.p.poll() is not None:
            if log_path:
                with open(log_path) as f:
                    sys.stderr.write("".join(f.readlines()[-30:]))
            raise RuntimeError("consentd exited %s" % consentd.p.returncode)
        m = metrics(api)
        now = time.monotonic() - t0
        if not caught_up_and_drained(m, connectors):
            first_seen = None
        elif first_seen is None:
            first_seen = now
        elif now - first_seen >= hold:
            return first_seen, m
    return None, m


def proc_status(pid, field):
    """A kB field of /proc/PID/status (VmHWM, VmRSS) in MB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime is field 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return float("nan") if n == 0 else (xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2)


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "config":
        write_config(*sys.argv[2:])
    else:
        sys.exit(__doc__)
