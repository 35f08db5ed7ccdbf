#!/usr/bin/env python3
"""How much of the vendors' request budgets consentd uses during a backlog,
and how often it trips them (issue #5: "at least 95 % of the allowed request
budget is used during a backlog", "never trip it repeatedly").

Scenarios (per round): consentd-sim with its real limits (HubSpot 100
requests per rolling 10 s plus 4 searches per rolling second; Mailchimp 10
simultaneous connections), a fresh consentd with its default budgets, and a
Mailchimp -> HubSpot backlog that spans many HubSpot windows:
  seed     (default) the audience is seeded with MEMBERS members
           (--journey-seed-members) before consentd starts, which syncs
           them all into the empty HubSpot (initial sync: paged reads);
  signups  consentd runs first; then MEMBERS people sign up in Mailchimp
           with an interest and confirm (control API, as fast as it
           answers): one webhook each, so consentd reads every member on
           its own (GET member) before writing HubSpot.
  edits    as seed; once that backlog is drained, the request log is
           cleared and every subscribed member flips one interest in
           Mailchimp (profile edit): a backlog of writes to HubSpot
           contacts consentd has linked, each of which carries grants, so
           that HubSpot's connector reads their statuses before writing
           (docs/connectors-hubspot.md, Deliver step 0). Only this second
           backlog is measured.
The round ends when consentd's outbox is empty and both pollers have caught
up (held for 6 s).

Everything is measured from the SIMULATOR's request log (GET
/_sim/requests: each request's arrival and answer time on the sim's clock,
status and route), i.e. as the vendor would count:
  - HubSpot: accepted requests per consecutive 10 s window from the first
    HubSpot request, over the windows that end before the last request
    (steady state: the backlog is still there at each window's end); share
    = accepted / (100 x windows); the most accepted in any rolling 10 s
    window (<= 100 by construction); 429s (search and other); searches in
    any rolling second.
  - Mailchimp: mean requests in flight over its busy span (sum of
    answer - arrival / span) and the most at once, against its 10.
  - consentd's CPU time (utime+stime) and CPU ms per HubSpot request.

  bench/budget_use.py [--members 3000] [--rounds 1] [--scenario seed|signups|edits]
                      [--hubspot-latency-ms 0]
                      [--mailchimp-latency-ms 0] [--timeout 1200] [--port-base 18970]
                      [--save-log PREFIX]
  BENCH_BUILD=build/x   consentd under test (default build/release)
  SIM_BUILD=build/y     consentd-sim with /_sim/requests (default BENCH_BUILD)
"""
import argparse
import bisect
import http.client
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sync_bench_lib as lib  # noqa: E402

HS_BUDGET, HS_WINDOW_MS = 100, 10_000
HS_SEARCHES, HS_SEARCH_WINDOW_MS = 4, 1_000
MC_CONNECTIONS = 10
PRODUCT_NEWS = "ef0a182cab"  # an interest of the demo audience (bench/propagation.py)


def sim_bin():
    return os.path.join(os.environ.get("SIM_BUILD", lib.bin_dir()), "sim", "consentd-sim")


def most_in_rolling_window(times, window_ms):
    """The most of the sorted `times` in any window [t, t + window_ms)."""
    best = 0
    for i, t in enumerate(times):
        best = max(best, bisect.bisect_left(times, t + window_ms) - i)
    return best


def hubspot_figures(log):
    routes = log["routes"]
    reqs = log["requests"]
    accepted = sorted(a for a, _, st, _ in reqs if st != 429)
    searches = sorted(a for a, _, st, r in reqs if st != 429 and routes[r].endswith("/search"))
    r429 = [(a, routes[r]) for a, _, st, r in reqs if st == 429]
    by_route = {}
    for _, _, st, r in reqs:
        by_route[routes[r]] = by_route.get(routes[r], 0) + 1
    out = dict(by_route=by_route, total=len(reqs), accepted=len(accepted), r429=len(r429),
               r429_search=sum(1 for _, r in r429 if r.endswith("/search")),
               searches=len(searches))
    if not accepted:
        return out
    t0, t_end = accepted[0], accepted[-1]
    windows = []
    k = 0
    while t0 + (k + 1) * HS_WINDOW_MS <= t_end:
        lo, hi = t0 + k * HS_WINDOW_MS, t0 + (k + 1) * HS_WINDOW_MS
        windows.append(bisect.bisect_left(accepted, hi) - bisect.bisect_left(accepted, lo))
        k += 1
    out.update(span_s=(t_end - t0) / 1000.0, windows=windows,
               share=(sum(windows) / (HS_BUDGET * len(windows))) if windows else float("nan"),
               most_10s=most_in_rolling_window(accepted, HS_WINDOW_MS),
               most_search_1s=most_in_rolling_window(searches, HS_SEARCH_WINDOW_MS),
               mean_latency_ms=sum(b - a for a, b, _, _ in reqs) / len(reqs))
    return out


def mailchimp_figures(log):
    reqs = log["requests"]
    if not reqs:
        return dict(total=0)
    t0 = min(a for a, _, _, _ in reqs)
    t1 = max(b for _, b, _, _ in reqs)
    busy = sum(b - a for a, b, _, _ in reqs)
    events = sorted([(a, 1) for a, _, _, _ in reqs] + [(b, -1) for _, b, _, _ in reqs],
                    key=lambda e: (e[0], e[1]))
    cur = most = 0
    for _, d in events:
        cur += d
        most = max(most, cur)
    return dict(total=len(reqs), r429=sum(1 for _, _, st, _ in reqs if st == 429),
                span_s=(t1 - t0) / 1000.0, mean_in_flight=busy / max(1, t1 - t0), most=most,
                mean_latency_ms=busy / len(reqs))


def fault(port, system, ms):
    lib.http("POST", "http://127.0.0.1:%d/_sim/faults" % port,
             {"kind": "latency", "system": system, "latency_ms": ms})


def sign_up(journey, members):
    conn = http.client.HTTPConnection("127.0.0.1", journey, timeout=30)
    for i in range(members):
        email = "budget-%d@example.com" % i
        for path, body in (("/person/signup", {"email_address": email,
                                               "interests": {PRODUCT_NEWS: True}}),
                           ("/person/confirm", {"email_address": email})):
            conn.request("POST", "/_sim/mailchimp" + path, json.dumps(body),
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            assert r.status == 200, (path, r.status)
    conn.close()


def flip_interest(journey):
    """Every subscribed member flips PRODUCT_NEWS (a user's profile edit)."""
    state = lib.get_json("http://127.0.0.1:%d/_sim/mailchimp/state" % journey)
    conn = http.client.HTTPConnection("127.0.0.1", journey, timeout=30)
    n = 0
    for m in state["members"]:
        if m.get("status") != "subscribed":
            continue
        on = bool(m.get("interests", {}).get(PRODUCT_NEWS, False))
        body = {"email_address": m["email_address"], "interests": {PRODUCT_NEWS: not on}}
        conn.request("POST", "/_sim/mailchimp/person/profile", json.dumps(body),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status
        n += 1
    conn.close()
    return n


def one_round(args, rnd):
    api, crm, journey = args.port_base, args.port_base + 1, args.port_base + 2
    store = "/var/tmp/consentd-budget-bench-%d.db" % args.port_base
    with tempfile.TemporaryDirectory(prefix="consentd-budget.") as work:
        lib.remove_store(store)
        cfg = os.path.join(work, "consentd.yaml")
        lib.write_config(cfg, "127.0.0.1:%d" % api, store, "http://127.0.0.1:%d" % crm,
                         "http://127.0.0.1:%d" % journey)
        base = "http://127.0.0.1:%d" % api
        sim = lib.Proc([sim_bin(), "--crm-listen", "127.0.0.1:%d" % crm,
                        "--journey-listen", "127.0.0.1:%d" % journey, "--seed", "42",
                        "--crm-webhook", base + "/webhooks/hubspot",
                        "--journey-webhook",
                        base + "/webhooks/mailchimp?secret=" + lib.WEBHOOK_SECRET,
                        "--journey-seed-members",
                        str(args.members if args.scenario != "signups" else 0)],
                       os.path.join(work, "sim.log"))
        consentd = None
        try:
            lib.wait_ready("http://127.0.0.1:%d/_sim/health" % crm, 120)
            if args.hubspot_latency_ms:
                fault(crm, "hubspot", args.hubspot_latency_ms)
            if args.mailchimp_latency_ms:
                fault(crm, "mailchimp", args.mailchimp_latency_ms)
            lib.http("DELETE", "http://127.0.0.1:%d/_sim/requests" % crm)
            load = lib.uptime()
            t0 = time.monotonic()
            consentd = lib.Proc([os.path.join(lib.bin_dir(), "daemon", "consentd"), "--config",
                                 cfg], os.path.join(work, "consentd.log"))
            lib.wait_ready(base + "/healthz")
            cpu0 = lib.cpu_seconds(consentd.pid)
            if args.scenario == "signups":
                lib.http("PUT", "http://127.0.0.1:%d/_sim/mailchimp/webhook" % journey,
                         {"sources": {"user": True, "admin": True, "api": True},
                          "first_retry_delay_ms": 500})
                t_made = time.monotonic()
                sign_up(journey, args.members)
                print("  %d sign-ups made in %.1f s" % (args.members, time.monotonic() - t_made))
            done_at, m = lib.wait_drained(api, consentd, ("hubspot", "mailchimp"), t0, args.timeout,
                                          log_path=os.path.join(work, "consentd.log"))
            if args.scenario == "edits":
                print("  seed drained after %s s" % ("%.0f" % done_at if done_at else "NOT"))
                lib.http("PUT", "http://127.0.0.1:%d/_sim/mailchimp/webhook" % journey,
                         {"sources": {"user": True, "admin": True, "api": True},
                          "first_retry_delay_ms": 500})
                lib.http("DELETE", "http://127.0.0.1:%d/_sim/requests" % crm)
                t0 = time.monotonic()
                print("  %d profile edits made" % flip_interest(journey))
                done_at, m = lib.wait_drained(api, consentd, ("hubspot", "mailchimp"), t0,
                                              args.timeout,
                                              log_path=os.path.join(work, "consentd.log"))
            cpu = lib.cpu_seconds(consentd.pid) - cpu0
            log = lib.get_json("http://127.0.0.1:%d/_sim/requests" % crm, timeout=600)
            if args.save_log:
                with open("%s.%d.json" % (args.save_log, rnd), "w") as f:
                    json.dump(log, f)
            load_after = lib.uptime()
        finally:
            if consentd:
                consentd.stop()
            sim.stop()
            lib.remove_store(store)
    hs = hubspot_figures(log.get("hubspot", {"routes": [], "requests": []}))
    mc = mailchimp_figures(log.get("mailchimp", {"routes": [], "requests": []}))
    row = dict(round=rnd, drained=done_at, cpu=cpu, hs=hs, mc=mc,
               consentd_429=m.get('consentd_connector_rate_limited_total{connector="hubspot"}', 0),
               waits=m.get('consentd_connector_budget_waits_total{connector="hubspot"}', 0))
    print("round %d (%s; after: %s)" % (rnd, load, load_after))
    print("  drained after %s s; consentd CPU %.1f s (%.1f ms per HubSpot request)" % (
        "%.0f" % done_at if done_at else "NOT within %d" % args.timeout, cpu,
        1000.0 * cpu / max(1, hs["total"])))
    if "windows" in hs:
        print("  HubSpot: %d requests (%d accepted, %d searches) over %.0f s; 429s: %d "
              "(%d on searches); mean answer time %.1f ms" % (
                  hs["total"], hs["accepted"], hs["searches"], hs["span_s"], hs["r429"],
                  hs["r429_search"], hs["mean_latency_ms"]))
        print("  accepted per consecutive 10 s window: %s" % " ".join(map(str, hs["windows"])))
        print("  by route: %s" % ", ".join(
            "%s %d" % (r, n) for r, n in sorted(hs["by_route"].items(), key=lambda x: -x[1])))
        print("  steady-state share of the budget: %.1f %% over %d windows; most in any "
              "rolling 10 s: %d (of %d); most searches in any rolling 1 s: %d (of %d)" % (
                  100 * hs["share"], len(hs["windows"]), hs["most_10s"], HS_BUDGET,
                  hs["most_search_1s"], HS_SEARCHES))
    if mc.get("total"):
        print("  Mailchimp: %d requests, 429s %d, over %.1f s; mean in flight %.2f, most %d "
              "(of %d); mean answer time %.1f ms" % (
                  mc["total"], mc["r429"], mc["span_s"], mc["mean_in_flight"], mc["most"],
                  MC_CONNECTIONS, mc["mean_latency_ms"]))
    sys.stdout.flush()
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=3000)
    ap.add_argument("--scenario", choices=("seed", "signups", "edits"), default="seed")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--hubspot-latency-ms", type=int, default=0)
    ap.add_argument("--mailchimp-latency-ms", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=1200)
    ap.add_argument("--port-base", type=int, default=18970)
    ap.add_argument("--save-log", metavar="PREFIX",
                    help="write each round's /_sim/requests to PREFIX.ROUND.json")
    args = ap.parse_args()
    print("consentd %s, sim %s; %s: %d Mailchimp members -> empty HubSpot, real limits%s" % (
        os.path.join(lib.bin_dir(), "daemon", "consentd"), sim_bin(), args.scenario, args.members,
        "".join(", %s answers +%d ms" % (n, v) for n, v in (
            ("HubSpot", args.hubspot_latency_ms), ("Mailchimp", args.mailchimp_latency_ms)) if v)))
    rows = [one_round(args, r + 1) for r in range(args.rounds)]
    shares = [r["hs"].get("share") for r in rows if r["hs"].get("windows")]
    if shares:
        print("median steady-state share %.1f %%; 429s per round: %s" % (
            100 * lib.median(shares), " ".join(str(r["hs"]["r429"]) for r in rows)))


if __name__ == "__main__":
    main()
