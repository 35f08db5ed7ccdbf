#!/usr/bin/env python3
"""HubSpot -> Mailchimp propagation latency, and HubSpot budget use on a
Mailchimp -> HubSpot backlog (the "Two-way sync" section of
docs/benchmarks.md).

Part A (per rate, ROUNDS rounds, each on a fresh consentd-sim
--no-rate-limits + fresh consentd whose HubSpot budget is lifted too):
sign-ups to HubSpot subscription 102 (product updates, no double opt-in) at a
steady RATE for DURATION through the sim's control API, unique e-mails,
several keep-alive connections (bench/signup_driver from build/release if it
is built, BENCH_DRIVER=python for the Python threads used before the ninth
round); then wait until every person is a subscribed
Mailchimp member with the "Product news" interest. Latency per person =
member._sim.last_changed_ms - HubSpot status timestamp of subscription 102
(both from the simulator's clock, ms resolution).

Part B (once): the sim's real limits on, consentd's default HubSpot budget
(100 requests / 10 s); BACKLOG Mailchimp sign-ups + confirmations made at
once; consentd's HubSpot requests_sent metric sampled every second until the
backlog is drained (every person SUBSCRIBED to 102 in HubSpot); share of the
budget per 10 s window and 429s.

With --edits, each round of A has a second wave: once every person is a
member, the same people subscribe to HubSpot subscription 103 (Events) at
the same rate; latency per person as above for the Events interest, and
the simulator's count of Mailchimp requests per route during that wave
(each write now ticks a box consentd ticked before, which the Mailchimp
connector reads the member for first).

With --edit-latency MS as well, every Mailchimp API answer in the second
wave comes MS ms late (the simulator's latency fault), closer to a round
trip to Mailchimp's cloud than loopback is.

  bench/propagation.py [--rates 1000,200] [--rounds 3] [--duration 10]
                       [--backlog 300] [--skip-a] [--skip-b] [--edits]
                       [--edit-latency MS]
  BENCH_BUILD=build/release bench/propagation.py   # default build/release
  BENCH_PORT_BASE=19670 (ports 19670-19672), BENCH_POLL_INTERVAL=600s (default 5s)
"""
import argparse
import datetime
import http.client
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sync_bench_lib as lib  # noqa: E402

# BENCH_PORT_BASE moves the three ports (parallel runs on one machine).
API = int(os.environ.get("BENCH_PORT_BASE", "18670"))
CRM, JOURNEY = API + 1, API + 2
PRODUCT_NEWS = "ef0a182cab"
EVENTS = "051dfbf11a"  # the demo mapping's "Events" interest: HubSpot subscription 103
STORE = "/var/tmp/consentd-propagation-bench-%d.db" % API


def iso_ms(s):
    return int(datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
               .replace(tzinfo=datetime.timezone.utc).timestamp() * 1000 + 0.5)


class Env:
    """consentd-sim + consentd with webhooks both ways, as scripts/demo."""

    def __init__(self, work, rate_limits, tag):
        self.work = work
        lib.remove_store(STORE)
        cfg = os.path.join(work, "consentd.yaml")
        lib.write_config(cfg, "127.0.0.1:%d" % API, STORE, "http://127.0.0.1:%d" % CRM,
                         "http://127.0.0.1:%d" % JOURNEY,
                         poll_interval=os.environ.get("BENCH_POLL_INTERVAL", "5s"),
                         hubspot_requests=None if rate_limits else 0)
        self.sim = lib.start_sim(CRM, JOURNEY, API, os.path.join(work, "sim-%s.log" % tag),
                                 [] if rate_limits else ["--no-rate-limits"])
        try:
            lib.http("PUT", "http://127.0.0.1:%d/_sim/mailchimp/webhook" % JOURNEY,
                     {"sources": {"user": True, "admin": True, "api": True},
                      "first_retry_delay_ms": 500})
            self.consentd = lib.start_consentd(cfg, API, os.path.join(work, "consentd-%s.log" % tag))
        except Exception:
            self.sim.stop()
            raise

    def stop(self):
        self.consentd.stop()
        self.sim.stop()
        lib.remove_store(STORE)


def native_driver():
    """bench/signup_driver from this checkout's release build (it does not
    depend on the consentd build measured), or None: then the Python driver."""
    if os.environ.get("BENCH_DRIVER") == "python":
        return None
    path = os.path.join(lib.REPO, "build", "release", "bench", "signup_driver")
    return path if os.access(path, os.X_OK) else None


def drive(rate, duration, prefix, threads=8, subscription=102):
    """Sign-ups at a steady rate: change i is due at t0 + i/rate. The native
    driver if built (a few % of a core at 1,000/s), else Python threads
    (~28 % of a core at 1,000/s, competing with what is measured)."""
    native = native_driver()
    if native:
        out = subprocess.run([native, str(CRM), str(rate), str(duration), prefix, str(threads),
                              str(subscription)],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out)
        return r["total"], r["achieved"], ["error"] * r["errors"]
    return drive_python(rate, duration, prefix, threads, subscription)


def drive_python(rate, duration, prefix, threads=8, subscription=102):
    """Sign-ups at a steady rate from Python threads (BENCH_DRIVER=python)."""
    total = int(rate * duration)
    errors = []
    done = [0] * threads
    t0 = time.monotonic() + 0.2

    def worker(k):
        conn = http.client.HTTPConnection("127.0.0.1", CRM, timeout=30)
        for i in range(k, total, threads):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body = json.dumps({"email": "%s%d@example.com" % (prefix, i),
                               "subscriptionId": subscription})
            try:
                conn.request("POST", "/_sim/hubspot/person/signup", body,
                             {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    errors.append(r.status)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", CRM, timeout=30)
            done[k] += 1
        conn.close()

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.monotonic() - t0
    return total, sum(done) / elapsed, errors


class Sampler:
    """consentd's accepted HubSpot webhooks and Mailchimp deliveries, every second:
    shows whether the sim's webhooks keep up and where consentd falls behind."""

    def __init__(self):
        self.rows = []
        self.stopped = threading.Event()
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        while not self.stopped.wait(1.0):
            try:
                m = lib.metrics(API)
            except Exception:  # noqa: BLE001
                continue
            self.rows.append((
                m.get('consentd_webhooks_received_total{connector="hubspot",result="accepted"}', 0),
                mailchimp_done(m)))

    def stop(self):
        self.stopped.set()
        self.t.join()

    def series(self, i):
        return ",".join("%d" % r[i] for r in self.rows)


def mailchimp_done(m=None):
    """consentd's Mailchimp deliveries done so far (from `m`, else /metrics)."""
    m = lib.metrics(API) if m is None else m
    return sum(v for k, v in m.items() if k.startswith("consentd_deliveries_total{")
               and 'target="mailchimp"' in k and 'result="done"' in k)


def latencies(prefix, total, timeout=180, interest=PRODUCT_NEWS, subscription=102, done_before=0):
    """Waits until all are subscribed with the interest; per-person latencies (ms).

    The whole state of 10,000 people is a large JSON document the sim builds
    on its one io thread, so it is not polled while consentd works: first
    consentd's Mailchimp deliveries are awaited (cheap /metrics), then the
    state is read (again every 2 s only if someone is still missing)."""
    end = time.time() + timeout
    while time.time() < end:
        if mailchimp_done() - done_before >= total:
            break
        time.sleep(0.5)
    while True:
        st = lib.get_json("http://127.0.0.1:%d/_sim/state" % CRM)
        members = {m["email_address"]: m for m in st["mailchimp"]["members"]
                   if m["email_address"].startswith(prefix)}
        ok = [m for m in members.values()
              if m["status"] == "subscribed" and m.get("interests", {}).get(interest)]
        if len(ok) == total or time.time() > end:
            break
        time.sleep(2)
    hs = {s["subscriberIdString"]: iso_ms(s["timestamp"])
          for s in st["hubspot"]["subscriptionStatuses"]
          if s["subscriptionId"] == subscription and s["subscriberIdString"].startswith(prefix)}
    lat = [m["_sim"]["last_changed_ms"] - hs[m["email_address"]] for m in ok
           if m["email_address"] in hs]
    return lat, len(ok)


def own_cpu():
    """CPU seconds of this script and of its children that ended (the native
    driver; consentd and the sim end only after the round's second reading)."""
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + c.ru_utime + c.ru_stime


def second_wave(rate, duration, prefix, consentd_pid, latency_ms=0):
    """The same people, once all are members, subscribe to a second topic
    (HubSpot 103, "Events") at the same rate: each write to Mailchimp now
    ticks a box (Product news) that consentd's own last write ticked, so
    the connector reads the member before writing it (KeepNewerUnticks,
    docs/connectors-mailchimp.md). Returns latency figures and the
    simulator's count of Mailchimp requests per route during the wave."""
    lib.http("DELETE", "http://127.0.0.1:%d/_sim/requests" % CRM)
    if latency_ms:
        lib.http("POST", "http://127.0.0.1:%d/_sim/faults" % CRM,
                 {"kind": "latency", "system": "mailchimp", "latency_ms": latency_ms})
    done0 = mailchimp_done()
    cpu0 = lib.cpu_seconds(consentd_pid)
    total2, achieved, errors = drive(rate, duration, prefix, subscription=103)
    lat, n_ok = latencies(prefix, total2, interest=EVENTS, subscription=103, done_before=done0)
    cpu1 = lib.cpu_seconds(consentd_pid)
    log = lib.get_json("http://127.0.0.1:%d/_sim/requests" % CRM, timeout=600)
    mc = log.get("mailchimp", {"routes": [], "requests": []})
    by_route = {}
    for req in mc["requests"]:
        route = mc["routes"][req[3]]
        by_route[route] = by_route.get(route, 0) + 1
    return dict(total2=total2, achieved2=achieved, synced2=n_ok, errors2=len(errors),
                p50_2=lib.percentile(lat, 50), p99_2=lib.percentile(lat, 99),
                max_2=max(lat) if lat else float("nan"),
                cpu_consentd2=1000.0 * (cpu1 - cpu0) / max(total2, 1),
                mc_routes=by_route, mc_requests=len(mc["requests"]))



def part_a(rates, rounds, duration, edits=False, edit_latency=0):
    print("== A: HubSpot -> Mailchimp propagation (sim --no-rate-limits, consentd HubSpot budget off)")
    summary = {}
    for rate in rates:
        rows = []
        for rnd in range(1, rounds + 1):
            with tempfile.TemporaryDirectory(prefix="consentd-prop.") as work:
                env = Env(work, rate_limits=False, tag="a")
                try:
                    load = lib.uptime()
                    prefix = "p%d-r%d-" % (rate, rnd)
                    sampler = Sampler()
                    cpu0 = (lib.cpu_seconds(env.consentd.pid), lib.cpu_seconds(env.sim.pid),
                            own_cpu())
                    total, achieved, errors = drive(rate, duration, prefix)
                    lat, n_ok = latencies(prefix, total)
                    cpu1 = (lib.cpu_seconds(env.consentd.pid), lib.cpu_seconds(env.sim.pid),
                            own_cpu())
                    sampler.stop()
                    m = lib.metrics(API)
                    wave = {}
                    if edits:
                        wave = second_wave(rate, duration, prefix, env.consentd.pid,
                                           edit_latency)
                finally:
                    env.stop()
            row = dict(rate=rate, round=rnd, achieved=achieved, total=total, synced=n_ok,
                       errors=len(errors), p50=lib.percentile(lat, 50),
                       p99=lib.percentile(lat, 99), max=max(lat) if lat else float("nan"),
                       deliveries=lib.metric_sum(m, "consentd_deliveries_total"), load=load,
                       # CPU seconds per 1,000 changes (the sim's includes the
                       # driver's sign-ups and the final state read).
                       cpu_consentd=1000.0 * (cpu1[0] - cpu0[0]) / max(total, 1),
                       cpu_sim=1000.0 * (cpu1[1] - cpu0[1]) / max(total, 1),
                       # this script's own threads (driver, sampler, state read)
                       # and the native driver: on a 2-core machine they
                       # compete with both processes.
                       cpu_driver=1000.0 * (cpu1[2] - cpu0[2]) / max(total, 1))
            row.update(wave)
            rows.append(row)
            print("rate %(rate)d round %(round)d: achieved %(achieved).0f/s, %(synced)d/%(total)d "
                  "subscribed in Mailchimp, %(errors)d driver errors, latency ms p50 %(p50)s "
                  "p99 %(p99)s max %(max)s; CPU s per 1,000 changes: consentd %(cpu_consentd).2f, "
                  "sim %(cpu_sim).2f, this script %(cpu_driver).2f; %(load)s" % row, flush=True)
            decided = {}
            for k, v in m.items():
                if k.startswith("consentd_decisions_total{") or k.startswith(
                        "consentd_records_received_total{"):
                    decided[k.split("{", 1)[1].rstrip("}")] = decided.get(
                        k.split("{", 1)[1].rstrip("}"), 0) + v
                elif k.startswith("consentd_records_skipped_total{"):
                    # read in a version already decided or written by consentd
                    decided["skipped," + k.split("{", 1)[1].rstrip("}")] = v
            print("  decisions / records by label: %s" % ", ".join(
                "%s=%d" % kv for kv in sorted(decided.items())), flush=True)
            if wave:
                print("  second topic (Events) for the same people: %(synced2)d/%(total2)d ticked, "
                      "achieved %(achieved2).0f/s, latency ms p50 %(p50_2)s p99 %(p99_2)s max "
                      "%(max_2)s; consentd CPU s per 1,000 changes %(cpu_consentd2).2f; Mailchimp "
                      "requests %(mc_requests)d by route %(mc_routes)s" % wave, flush=True)
            print("  per second since the first change: HubSpot webhook requests accepted by consentd "
                  "(cumulative) %s; Mailchimp deliveries (cumulative) %s"
                  % (sampler.series(0), sampler.series(1)), flush=True)
        summary[rate] = rows
    print("\n| target rate | achieved (median) | synced | p50 ms | p99 ms | max ms "
          "| consentd CPU s / 1k | sim CPU s / 1k | script CPU s / 1k |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rate, rows in summary.items():
        med = lambda k: lib.median([r[k] for r in rows])  # noqa: E731
        print("| %d/s | %.0f/s | %s | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f |" % (
            rate, med("achieved"), " ".join("%d/%d" % (r["synced"], r["total"]) for r in rows),
            med("p50"), med("p99"), med("max"), med("cpu_consentd"), med("cpu_sim"),
            med("cpu_driver")))
    if edits:
        print("\n| target rate | second topic: synced | p50 ms | p99 ms | max ms "
              "| consentd CPU s / 1k | Mailchimp requests / change |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for rate, rows in summary.items():
            med = lambda k: lib.median([r[k] for r in rows])  # noqa: E731
            print("| %d/s | %s | %.0f | %.0f | %.0f | %.2f | %.2f |" % (
                rate, " ".join("%d/%d" % (r["synced2"], r["total2"]) for r in rows),
                med("p50_2"), med("p99_2"), med("max_2"), med("cpu_consentd2"),
                lib.median([r["mc_requests"] / max(r["total2"], 1) for r in rows])))


def hubspot_subscribed(prefix):
    st = lib.get_json("http://127.0.0.1:%d/_sim/state" % CRM)
    return sum(1 for s in st["hubspot"]["subscriptionStatuses"]
               if s["subscriptionId"] == 102 and s["status"] == "SUBSCRIBED"
               and s["subscriberIdString"].startswith(prefix))


def part_b(backlog):
    print("\n== B: Mailchimp -> HubSpot backlog of %d, sim's real limits, consentd's default "
          "HubSpot budget (100 / 10 s)" % backlog)
    with tempfile.TemporaryDirectory(prefix="consentd-prop.") as work:
        env = Env(work, rate_limits=True, tag="b")
        try:
            print("load: %s" % lib.uptime())
            prefix = "b-"
            J = "http://127.0.0.1:%d/_sim/mailchimp" % JOURNEY
            conn = http.client.HTTPConnection("127.0.0.1", JOURNEY, timeout=30)

            def post(path, body):
                conn.request("POST", "/_sim/mailchimp" + path, json.dumps(body),
                             {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                assert r.status == 200, (path, r.status)

            samples = []  # (t, requests_sent, rate_limited)

            def sample():
                m = lib.metrics(API)
                samples.append((time.monotonic(),
                                m.get('consentd_connector_requests_sent_total{connector="hubspot"}', 0),
                                m.get('consentd_connector_rate_limited_total{connector="hubspot"}', 0),
                                m.get('consentd_connector_budget_waits_total{connector="hubspot"}', 0)))
            lib.http("DELETE", "http://127.0.0.1:%d/_sim/counters" % CRM)
            sample()
            t_start = time.monotonic()
            for i in range(backlog):
                email = "%s%d@example.com" % (prefix, i)
                post("/person/signup", {"email_address": email, "interests": {PRODUCT_NEWS: True}})
                post("/person/confirm", {"email_address": email})
            conn.close()
            t_made = time.monotonic() - t_start
            drained = None
            next_t = time.monotonic() + 1
            while time.monotonic() - t_start < 900:
                time.sleep(max(0, next_t - time.monotonic()))
                next_t += 1
                sample()
                if len(samples) % 5 == 0 and hubspot_subscribed(prefix) == backlog:
                    drained = time.monotonic() - t_start
                    break
            counters = lib.get_json("http://127.0.0.1:%d/_sim/counters" % CRM)
            print("load after: %s" % lib.uptime())
        finally:
            env.stop()
    hs = counters.get("hubspot", {})
    sim_total = sum(n for route in hs.values() for n in route.values())
    sim_429 = sum(n for route in hs.values() for st, n in route.items() if st == "429")
    sent = samples[-1][1] - samples[0][1]
    print("backlog made in %.1f s; drained (all %d SUBSCRIBED in HubSpot) after %s s" % (
        t_made, backlog, "%.0f" % drained if drained else "NOT within 900"))
    print("consentd HubSpot requests: %d (%.2f per change); sim counted %d, of them 429: %d; "
          "consentd rate_limited_total %d, budget_waits_total %d" % (
              sent, sent / backlog, sim_total, sim_429, samples[-1][2], samples[-1][3]))
    print("HubSpot routes: %s" % json.dumps(hs, sort_keys=True))
    # consentd spends its budget in bursts (a window's 100 slots at once),
    # so sliding 1 s-step windows mostly see 0 or 100; the share is taken
    # over consecutive 10 s windows from the moment the backlog was made,
    # up to the last window with a HubSpot request.
    per_s = [samples[k][1] - samples[k - 1][1] for k in range(1, len(samples))]
    last = max((k for k, v in enumerate(per_s) if v > 0), default=-1)
    windows = [sum(per_s[i:i + 10]) / 100.0 for i in range(0, last + 1, 10)]
    full = windows[:-1] if len(windows) > 1 else windows
    print("budget share per consecutive 10 s window: %s; windows before the last: median %.0f %%"
          % (" ".join("%.0f%%" % (100 * w) for w in windows),
             100 * lib.median(full) if full else float("nan")))
    print("per-second requests: %s" % " ".join("%d" % v for v in per_s))
    return dict(sent=sent, per_change=sent / backlog, drained=drained, sim_429=sim_429,
                share=lib.median(full) if full else float("nan"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="1000,200")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--backlog", type=int, default=300)
    ap.add_argument("--skip-a", action="store_true")
    ap.add_argument("--skip-b", action="store_true")
    ap.add_argument("--edits", action="store_true",
                    help="in A, a second wave: the same people subscribe to a second topic")
    ap.add_argument("--edit-latency", type=int, default=0, metavar="MS",
                    help="with --edits: Mailchimp answers MS ms late during the second wave")
    a = ap.parse_args()
    print("build: %s" % lib.bin_dir())
    if not a.skip_a:
        part_a([int(r) for r in a.rates.split(",")], a.rounds, a.duration, a.edits,
               a.edit_latency)
    if not a.skip_b:
        rows = [part_b(a.backlog) for _ in range(a.rounds)]
        print("\nB medians of %d rounds: drained after %s s, %.0f HubSpot requests (%.2f per change), "
              "budget share %.0f %% per full 10 s window; 429s per round: %s" % (
                  len(rows), lib.median([r["drained"] or float("inf") for r in rows]),
                  lib.median([r["sent"] for r in rows]), lib.median([r["per_change"] for r in rows]),
                  100 * lib.median([r["share"] for r in rows]),
                  " ".join(str(r["sim_429"]) for r in rows)))


if __name__ == "__main__":
    main()
