#!/usr/bin/env python3
"""Initial sync and idle cost of consentd (the "Two-way sync" section of
docs/benchmarks.md).

Initial sync: for each N, ROUNDS rounds of consentd-sim --no-rate-limits
--crm-seed-contacts N (Mailchimp empty; webhooks to consentd as in
scripts/demo) and a fresh consentd (HubSpot budget lifted like the sim's).
Time from starting consentd until consentd_connector_poll_caught_up{connector="hubspot"}
== 1 and consentd_outbox_rows{status="pending"|"inflight"} sum to 0 (polled every
0.5 s). The gauges refresh every 5 s, so a stale 0 right after catching up
is possible: the condition must still hold 6 s later (across a refresh); the
time reported is when it was first seen in that stretch. Peak RSS (VmHWM) of
consentd and of the sim, and consentd's vendor requests per contact.
1,000,000 only with --million (the brief: only if 100,000 takes < 2 min).

Idle: a fresh consentd against an empty sim, both connectors configured
(poll_interval 5 s as in the demo config): VmRSS after 30 s and the CPU time
(utime+stime) used in those 30 s.

  bench/initial_sync.py [--sizes 10000,30000,100000] [--rounds 3] [--million]
                        [--skip-idle] [--skip-sync]
  BENCH_BUILD=build/release bench/initial_sync.py   # default build/release
  ISYNC_KEEP_STORE=1 ...   # leaves the last round's store in /var/tmp
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sync_bench_lib as lib  # noqa: E402

# --port-base moves the three ports (and the store) so that two runs on one
# machine do not collide.
CRM, JOURNEY, API = 18771, 18772, 18770
STORE = "/var/tmp/consentd-initial-sync-bench.db"
SETTLE = 6.0  # seconds between seeding and starting consentd (--settle)


def lift_search_budget(cfg):
    """Lifts HubSpot's CRM-search budget too (4/s by default, like the
    vendor), where this build knows the key: the sim runs without limits."""
    text = open(cfg).read()
    marker = "    rate_limit:\n      requests: 0\n"
    assert marker in text
    with open(cfg, "w") as f:
        f.write(text.replace(marker, marker + "      search_requests: 0\n"))
    check = subprocess.run([os.path.join(lib.bin_dir(), "daemon", "consentd"), "--check-config", cfg],
                           capture_output=True, text=True)
    if check.returncode != 0:  # an older build: no search budget to lift
        with open(cfg, "w") as f:
            f.write(text)


def setup(work, seed_contacts, tag):
    lib.remove_store(STORE)
    cfg = os.path.join(work, "consentd.yaml")
    lib.write_config(cfg, "127.0.0.1:%d" % API, STORE, "http://127.0.0.1:%d" % CRM,
                     "http://127.0.0.1:%d" % JOURNEY, hubspot_requests=0)
    lift_search_budget(cfg)
    extra = ["--no-rate-limits"]
    if seed_contacts:
        extra += ["--crm-seed-contacts", str(seed_contacts)]
    t = time.monotonic()
    sim = lib.start_sim(CRM, JOURNEY, API, os.path.join(work, "sim-%s.log" % tag), extra)
    seeded = time.monotonic() - t
    if seed_contacts and SETTLE > 0:
        # A real CRM's contacts were not all modified in the seconds before
        # consentd starts; seeded ones are, and would all fall into the poll
        # overlap window (5 s) after the full read and be read twice.
        time.sleep(SETTLE)
    return cfg, sim, seeded


def one_sync(n, rnd, timeout):
    with tempfile.TemporaryDirectory(prefix="consentd-isync.") as work:
        cfg, sim, seeded = setup(work, n, "%d-%d" % (n, rnd))
        consentd = None
        try:
            load = lib.uptime()
            t0 = time.monotonic()
            consentd = lib.Proc([os.path.join(lib.bin_dir(), "daemon", "consentd"), "--config", cfg],
                                os.path.join(work, "consentd.log"))
            lib.wait_ready("http://127.0.0.1:%d/healthz" % API)
            done_at, m = lib.wait_drained(API, consentd, ("hubspot",), t0, timeout, every=0.5)
            if os.environ.get("ISYNC_METRICS_OUT"):  # the full /metrics, for a closer look
                with open(os.environ["ISYNC_METRICS_OUT"], "w") as f:
                    f.write(lib.http("GET", "http://127.0.0.1:%d/metrics" % API)[1].decode())
            hwm_c = lib.proc_status(consentd.pid, "VmHWM")
            rss_c = lib.proc_status(consentd.pid, "VmRSS")
            hwm_s = lib.proc_status(sim.pid, "VmHWM")
            cpu_c = lib.cpu_seconds(consentd.pid)
            cpu_s = lib.cpu_seconds(sim.pid)
            st = lib.get_json("http://127.0.0.1:%d/_sim/mailchimp/state" % JOURNEY, timeout=600)
            members = len(st.get("members", []))
        finally:
            if consentd:
                consentd.stop()
            sim.stop()
            if not os.environ.get("ISYNC_KEEP_STORE"):  # kept: for a look at what a contact costs on disk
                lib.remove_store(STORE)
    row = dict(n=n, round=rnd, seconds=None if done_at is None else round(done_at, 1), hwm_c=hwm_c, rss_c=rss_c, hwm_s=hwm_s, cpu_c=cpu_c,
               cpu_s=cpu_s,
               seeded=seeded, members=members, load=load,
               hs_req=m.get('consentd_connector_requests_sent_total{connector="hubspot"}', 0),
               mc_req=m.get('consentd_connector_requests_sent_total{connector="mailchimp"}', 0),
               deliveries=lib.metric_sum(m, "consentd_deliveries_total"),
               decisions=lib.metric_sum(m, "consentd_decisions_total"),
               by_label={k[len("consentd_decisions_total"):]: v for k, v in m.items()
                         if k.startswith("consentd_decisions_total{")})
    print("N=%(n)d round %(round)d: caught up after %(seconds)s s; consentd VmHWM %(hwm_c).0f MB "
          "(VmRSS %(rss_c).0f MB, CPU %(cpu_c).1f s), sim VmHWM %(hwm_s).0f MB (CPU %(cpu_s).1f s, "
          "seeding took "
          "%(seeded).1f s); HubSpot requests %(hs_req).0f, Mailchimp requests %(mc_req).0f, "
          "decisions %(decisions).0f, deliveries %(deliveries).0f, Mailchimp members %(members)d; "
          "%(load)s" % row, flush=True)
    # Decisions per {source, outcome, kind}: must not change with a speed-up.
    for label, v in sorted(row["by_label"].items()):
        print("  decisions%s %.0f" % (label, v), flush=True)
    return row


def idle(rounds):
    print("\n== idle: fresh consentd, empty sim, both connectors configured (poll 5 s)")
    rss, cpu = [], []
    for rnd in range(1, rounds + 1):
        with tempfile.TemporaryDirectory(prefix="consentd-idle.") as work:
            cfg, sim, _ = setup(work, 0, "idle")
            consentd = None
            try:
                consentd = lib.start_consentd(cfg, API, os.path.join(work, "consentd.log"))
                time.sleep(2)  # start-up done
                c0 = lib.cpu_seconds(consentd.pid)
                time.sleep(30)
                c1 = lib.cpu_seconds(consentd.pid)
                r = lib.proc_status(consentd.pid, "VmRSS")
                h = lib.proc_status(consentd.pid, "VmHWM")
                m = lib.metrics(API)
            finally:
                if consentd:
                    consentd.stop()
                sim.stop()
                lib.remove_store(STORE)
        rss.append(r)
        cpu.append(c1 - c0)
        print("round %d: VmRSS %.1f MB (VmHWM %.1f MB), CPU in 30 s idle %.2f s (%.2f %% of a core); "
              "HubSpot requests %d, Mailchimp requests %d; %s" % (
                  rnd, r, h, c1 - c0, 100 * (c1 - c0) / 30,
                  m.get('consentd_connector_requests_sent_total{connector="hubspot"}', 0),
                  m.get('consentd_connector_requests_sent_total{connector="mailchimp"}', 0), lib.uptime()),
              flush=True)
    print("median: VmRSS %.1f MB, CPU %.2f s per 30 s idle" % (lib.median(rss), lib.median(cpu)))


def main():
    global CRM, JOURNEY, API, STORE, SETTLE
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,30000,100000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--million", action="store_true")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--skip-idle", action="store_true")
    ap.add_argument("--skip-sync", action="store_true")
    ap.add_argument("--port-base", type=int, default=18770,
                    help="consentd API port; the sim's CRM and journey use the next two")
    ap.add_argument("--settle", type=float, default=SETTLE,
                    help="seconds between seeding and starting consentd, more than the poll "
                         "overlap (0: start at once, every seeded contact is read twice)")
    a = ap.parse_args()
    SETTLE = a.settle
    API, CRM, JOURNEY = a.port_base, a.port_base + 1, a.port_base + 2
    if a.port_base != 18770:
        STORE = "/var/tmp/consentd-initial-sync-bench-%d.db" % a.port_base
    print("build: %s" % lib.bin_dir())
    if not a.skip_sync:
        sizes = [int(x) for x in a.sizes.split(",")] + ([1000000] if a.million else [])
        results = {}
        for n in sizes:
            results[n] = [one_sync(n, r, a.timeout) for r in range(1, a.rounds + 1)]
        print("\n| contacts N | caught up (median s) | consentd VmHWM MB | sim VmHWM MB | "
              "HubSpot req / contact | Mailchimp req / contact | Mailchimp members | "
              "consentd CPU ms / contact | sim CPU ms / contact | decisions / contact |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n, rows in results.items():
            secs = [r["seconds"] for r in rows if r["seconds"] is not None]
            med = lambda k: lib.median([r[k] for r in rows])  # noqa: E731
            print("| %d | %s | %.0f | %.0f | %.3f | %.3f | %.0f | %.3f | %.3f | %.1f |" % (
                n, "%.1f" % lib.median(secs) if len(secs) == len(rows) else "timeout",
                med("hwm_c"), med("hwm_s"), med("hs_req") / n, med("mc_req") / n, med("members"),
                1000 * med("cpu_c") / n, 1000 * med("cpu_s") / n, med("decisions") / n))
    if not a.skip_idle:
        idle(a.rounds)


if __name__ == "__main__":
    main()
