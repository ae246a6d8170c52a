#!/usr/bin/env python3
"""Checks a bench/run output directory: results.json has every scenario and every figure (opaque
TCP and HTTP), and the figures are sane (positive, ordered percentiles, few errors, proxy CPU and
RSS sampled). Asserts no speed.

    tests/bench/check_results.py OUT_DIR
Prints one line per failed check and "N passed, N failed"; exits 1 on any failure.
"""
import json
import os
import sys

SCENARIOS = ["direct", "strait", "haproxy", "nginx", "gateway"]
PROXIED = ["strait", "haproxy", "nginx", "gateway"]


def main():
    out = sys.argv[1]
    passed, failed = 0, 0

    def check(cond, what):
        nonlocal passed, failed
        if cond:
            passed += 1
        else:
            failed += 1
            print(f"FAILED: {what}")

    path = os.path.join(out, "results.json")
    check(os.path.exists(path), "results.json exists")
    check(os.path.exists(os.path.join(out, "results.md")), "results.md exists")
    if not os.path.exists(path):
        print(f"{passed} passed, {failed} failed")
        return 1
    with open(path) as f:
        r = json.load(f)

    dp = r.get("dataplane", {})
    agg = dp.get("aggregate", {})
    for sc in SCENARIOS:
        check(sc in agg, f"data plane scenario {sc} present")
        tests = agg.get(sc, {})
        names = list(tests)
        check(any(n.startswith("open-") for n in names), f"{sc}: an open-loop run")
        check(any(n.startswith("rss-") for n in names), f"{sc}: the RSS run")
        for n in ("closed", "bulk", "connrate"):
            check(n in tests, f"{sc}: {n} present")
        # HTTP: HTTP/1.1 open loop at fixed rates and for the RSS target, closed loop, HTTP/2
        check(any(n.startswith("http-open-") for n in names), f"{sc}: an HTTP/1.1 open-loop run")
        check(any(n.startswith("http-rss-") for n in names), f"{sc}: the HTTP/1.1 RSS run")
        for n in ("http-closed", "h2-max"):
            check(n in tests and "latency_us" in tests[n], f"{sc}: {n} present, with latencies")
        raw = dp.get("raw", {}).get(sc, {})
        for n, t in tests.items():
            if "latency_us" in t:
                lat = t["latency_us"]
                check(t.get("achieved_rps", 0) > 0, f"{sc} {n}: requests completed")
                check(0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"],
                      f"{sc} {n}: percentiles positive and ordered {lat}")
                sent = sum(x.get("sent", 0) for x in raw.get(n, []))
                bad = sum(x.get("errors", 0) + x.get("unfinished", 0) for x in raw.get(n, []))
                check(sent > 0 and bad <= max(1, sent // 100),
                      f"{sc} {n}: at most 1% errors ({bad} of {sent})")
        check(tests.get("bulk", {}).get("mb_per_s", 0) > 0, f"{sc}: bulk MB/s > 0")
        if sc in PROXIED:
            idle = dp.get("idle_rss_kb", {}).get(sc, {})
            check(len(idle) >= 2 and all(v and v > 0 for v in idle.values()),
                  f"{sc}: idle RSS of every proxy {idle}")
            for n, t in tests.items():
                for role, p in t.get("proxies", {}).items():
                    check(p.get("rss_peak_kb", 0) > 0, f"{sc} {n} {role}: RSS sampled")
                    check(p.get("cpu_s") is not None and p["cpu_s"] >= 0,
                          f"{sc} {n} {role}: CPU time measured")

    cp = r.get("controlplane", {})
    scale = cp.get("scale", [])
    check(len(scale) >= 1, "control plane: at least one scale step")
    for s in scale:
        for k in ("gateway_add", "flat_add", "gateway_remove", "flat_remove", "local_add"):
            p = s.get("propagation", {}).get(k, {})
            check(p.get("count", 0) > 0 and 0 < p.get("p50_ms", 0) <= p.get("p99_ms", 0),
                  f"control plane {s.get('endpoints')} endpoints: {k} {p}")
        check(s.get("east_rss_kb", 0) > 0 and s.get("west_rss_kb", 0) > 0, "controller RSS")
    gf = cp.get("gateway_failure", {})
    check(gf.get("last_stream", {}).get("count", 0) > 0, f"gateway failure measured {gf}")
    fo = cp.get("fanout", {})
    check(fo.get("all_streams", {}).get("count", 0) > 0 and fo.get("streams", 0) > 0,
          f"fan-out measured {fo}")
    check(len(r.get("targets", [])) >= 7, "every target evaluated")
    http_targets = [t["target"] for t in r.get("targets", []) if t["target"].startswith("HTTP:")]
    for what in ("added p99", "max throughput", "CPU per 1,000 requests", "proxy RSS"):
        check(any(what in t for t in http_targets), f"HTTP target evaluated: {what}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
