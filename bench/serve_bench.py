#!/usr/bin/env python3
"""`echolens serve` latency on one generated corpus: a store and its `analyze` folder (made once and kept),
then the server, and requests as the pages make them, each repeated: median and p95 per kind, the time the
server took to start and its memory (RSS after start, peak at the end).

Run through bench/serve.sh, which builds the release binary.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coordination_bench import generate  # noqa: E402


def status_kb(pid, field):
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def get(base, path, params):
    url = f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as r:
        body = r.read()
    return time.perf_counter() - t, json.loads(body)


def p95(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--work", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"))
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    folder = os.path.join(args.work, f"serve_{args.n}")
    store, results = os.path.join(folder, "store"), os.path.join(folder, "results")
    if not os.path.exists(os.path.join(results, "summary.json")):
        corpus = generate(args.bin, args.n, args.work)
        subprocess.run([args.bin, "analyze", corpus.jsonl, "--store", store, "--out", results], check=True,
                       stdout=subprocess.DEVNULL)
    started = time.perf_counter()
    # A first start makes the search index when the store has none (timed apart: ingest keeps it current after).
    indexed_s = None
    if not os.path.exists(os.path.join(store, "search", "meta.json")):
        t = time.perf_counter()
        first = subprocess.Popen([args.bin, "serve", "--store", store, "--port", "0"], stdout=subprocess.PIPE, text=True)
        first.stdout.readline()
        indexed_s = time.perf_counter() - t
        first.terminate()
        first.wait()
        started = time.perf_counter()
    server = subprocess.Popen([args.bin, "serve", "--store", store, "--results", results, "--port", "0"],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        start_s = time.perf_counter() - started
        base = line.split("http://", 1)[1].split("/", 1)[0]
        base = f"http://{base}"
        rss_start = status_kb(server.pid, "VmRSS") / 1024
        _, stats = get(base, "/api/stats", {})
        _, cascades = get(base, "/api/cascades", {})
        _, clusters = get(base, "/api/clusters", {})
        excerpt = cascades["cascade_summary"][0]["excerpt"].split()
        # The phrase the first cascade's copies share (its excerpt's first words, handles and links left out).
        phrase = " ".join([w for w in excerpt if w.isalpha()][:4])
        prefix = next(w for w in excerpt if w.isalpha() and len(w) > 5)[:4] + "*"
        kinds = {
            "search: a phrase": [("/api/search", {"q": f'"{phrase}"'})],
            "search: a common word": [("/api/search", {"q": "the"})],
            "search: a prefix": [("/api/search", {"q": prefix})],
            "search: a phrase in one platform": [("/api/search", {"q": f'"{phrase}"', "select": "platform=telegram"})],
            "search: page 50 of a common word": [("/api/search", {"q": "the", "page": 50})],
            "search: a phrase, by scan": [("/api/search", {"q": f'"{phrase}"', "engine": "scan"})],
            "search: a common word, by scan": [("/api/search", {"q": "the", "engine": "scan"})],
            "search: a where= selection (scan)": [("/api/search", {"q": f'"{phrase}"',
                                                                  "select": "where=platform = 'telegram'"})],
            "cluster page": [(f"/api/clusters/{c['cluster']}", {}) for c in clusters["cluster_summary"][:args.reps]],
            "cascade page (with texts)": [(f"/api/cascades/{c['cascade']}", {})
                                          for c in cascades["cascade_summary"][:args.reps]],
        }
        _, first = get(base, f"/api/clusters/{clusters['cluster_summary'][0]['cluster']}", {})
        keys = [k for pair in first["edges"][0]["evidence_pairs"] for k in pair][:10]
        kinds["evidence lookup (10 keys)"] = [("/api/messages", {"key": keys})]
        rows = []
        for kind, requests in kinds.items():
            times = []
            for i in range(args.reps):
                path, params = requests[i % len(requests)]
                secs, body = get(base, path, params)
                times.append(secs)
            rows.append({"kind": kind, "median_s": statistics.median(times), "p95_s": p95(times),
                         "total": body.get("total") if isinstance(body, dict) else None})
        peak = status_kb(server.pid, "VmHWM") / 1024
    finally:
        server.terminate()
        server.wait()
    print(f"echolens serve on {stats['messages']:,} messages ({len(clusters['cluster_summary'])} clusters, "
          f"{len(cascades['cascade_summary'])} cascades): started in {start_s:.1f} s, RSS {rss_start:.0f} MB after "
          f"start, peak {peak:.0f} MB")
    if indexed_s is not None:
        print(f"the search index was made by the first start: {indexed_s:.1f} s")
    index_mb = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(store, "search"))
                   for f in fs) / 1e6
    print(f"search index: {index_mb:.0f} MB")
    print(f"{'request':<36} {'median':>9} {'p95':>9}  matches")
    for r in rows:
        print(f"{r['kind']:<36} {r['median_s']:>8.3f}s {r['p95_s']:>8.3f}s  {r['total'] if r['total'] is not None else ''}")
    with open(os.path.join(args.work, f"serve_{args.n}.json"), "w", encoding="utf-8") as f:
        json.dump({"n": stats["messages"], "start_s": start_s, "indexed_s": indexed_s, "index_mb": index_mb, "rss_start_mb": rss_start, "peak_mb": peak,
                   "phrase": phrase, "prefix": prefix, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
