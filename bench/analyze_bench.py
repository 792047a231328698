#!/usr/bin/env python3
"""`echolens analyze` end to end on generated corpora: ingest into a fresh store, every analysis, the tables and
the report, as one process (wall time, peak RSS, each stage's time and its own peak memory, from `summary.json`
under ECHOLENS_TIMINGS; the steps' memory in out/analyze_N.log). With several sizes, one table side by side, and the scaling targets of the largest two: peak
memory no more than 1.25x and under 6 GB, wall time no more than 5.5x for 5x the messages. With --floor, the
serde_json floor on each corpus first and analyze as a multiple of it (target at most 8x). With --toolkit,
coordination-network-toolkit's preprocess and networks on the same corpus, one after another, for the ratio.

Run through bench/analyze.sh, which builds the release binary and the venv.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coordination_bench import generate, run_toolkit  # noqa: E402


def timed_stages(cmd, log):
    """Run cmd with ECHOLENS_TIMINGS (each step's and stage's memory to `log`); (seconds, ru_maxrss in MB)."""
    env = dict(os.environ, ECHOLENS_TIMINGS="1")
    t0 = time.perf_counter()
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)} (see {log})")
    return secs, usage.ru_maxrss / 1024


def run_one(args, n):
    corpus = generate(args.bin, n, args.work, toolkit_csv=args.toolkit)
    out = os.path.join(args.work, f"analyze_{n}")
    if os.path.exists(out):
        shutil.rmtree(out)
    store = os.path.join(out, "store")
    floor = None
    if args.floor:
        # The floor right before analyze, on the same file: a bare single-threaded serde_json parse of every line.
        start = time.monotonic()
        subprocess.run([args.floor, corpus.jsonl], check=True, stdout=subprocess.DEVNULL)
        floor = time.monotonic() - start
    secs, rss = timed_stages([args.bin, "analyze", corpus.jsonl, "--out", out, "--store", store],
                             os.path.join(args.work, f"analyze_{n}.log"))
    with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
        summary = json.load(f)
    # Each stage's high-water mark starts afresh, so the process's peak is the largest the stages saw.
    rss = max([rss] + [st.get("peak_rss_mb_so_far") or 0 for st in summary["stages"]])
    # The store is as large as the corpus: the outputs stay, the store goes.
    shutil.rmtree(store, ignore_errors=True)
    messages = summary["corpus"]["messages"]
    print(f"echolens analyze, {messages} messages: {secs:.1f} s, peak {rss:.0f} MB, report "
          f"{summary['report_bytes'] / 1e6:.2f} MB")
    for s in summary["stages"]:
        print(f"  {s['stage']:<13} {s['seconds']:>8.2f} s  peak {s.get('peak_rss_mb')} MB, "
              f"so far {s.get('peak_rss_mb_so_far')} MB")
    if floor:
        print(f"floor (serde_json parse of the JSONL, one thread): {floor:.2f} s; analyze = {secs / floor:.1f}x the "
              f"floor (target at most 8x)")
    result = {"n": n, "messages": messages, "seconds": secs, "peak_rss_mb": rss, "stages": summary["stages"],
              "floor_seconds": floor,
              "report_bytes": summary["report_bytes"], "clusters": summary["coordination"]["clusters"],
              "cascades": summary["reuse"]["cascades"],
              "campaigns": [c["title"] for c in summary["campaigns"]]}
    if args.toolkit:
        db = os.path.join(args.work, f"toolkit_analyze_{n}.db")
        nets = ["co_tweet", "co_link"] + ([] if args.skip_toolkit_similar else ["co_similar_tweet"])
        rows = run_toolkit(args.python, args.work, corpus, db, nets)
        total = sum(r[1] for r in rows)
        print(f"coordination-network-toolkit, preprocess + {' + '.join(nets)}: {total:.1f} s, "
              f"peak {max(r[2] for r in rows):.0f} MB")
        for name, t, m in rows:
            print(f"  {name:<17} {t:>8.2f} s  {m:>6.0f} MB")
        print(f"ratio: the toolkit's load and {len(nets)} networks take {total / secs:.1f}x echolens's whole "
              f"analyze (ingest, seven coordination kinds with a window sweep, reuse and forwards, vocabulary, report)")
        result["toolkit"] = {"seconds": total, "steps": rows, "ratio": total / secs}
    with open(os.path.join(args.work, f"analyze_{n}.json"), "w") as f:
        json.dump(result, f, indent=1)
    if args.drop_corpus:
        shutil.rmtree(corpus.folder, ignore_errors=True)
    return result


def table(results):
    """The sizes side by side: each stage's seconds and its own peak memory."""
    head = " | ".join(f"{r['messages'] / 1e6:.1f}M: s | peak MB" for r in results)
    print(f"\n| stage | {head} |")
    print("|---|" + "---:|---:|" * len(results))
    for i, s in enumerate(results[0]["stages"]):
        cells = " | ".join(f"{r['stages'][i]['seconds']:.2f} | {r['stages'][i].get('peak_rss_mb')}"
                           for r in results)
        print(f"| {s['stage']} | {cells} |")
    cells = " | ".join(f"**{r['seconds']:.1f}** | **{r['peak_rss_mb']:.0f}**" for r in results)
    print(f"| **whole process** | {cells} |")
    if all(r.get("floor_seconds") for r in results):
        cells = " | ".join(f"{r['floor_seconds']:.2f} ({r['seconds'] / r['floor_seconds']:.1f}x) | " for r in results)
        print(f"| floor: serde_json parse (analyze / floor) | {cells} |")
    if len(results) >= 2:
        small, large = results[-2], results[-1]
        scale = large["messages"] / small["messages"]
        mem = large["peak_rss_mb"] / small["peak_rss_mb"]
        wall = large["seconds"] / small["seconds"]
        print(f"\n{scale:.1f}x the messages: peak memory {mem:.2f}x (target at most 1.25x: "
              f"{'met' if mem <= 1.25 else 'not met'}), {large['peak_rss_mb'] / 1024:.2f} GB (target under 6 GB: "
              f"{'met' if large['peak_rss_mb'] < 6144 else 'not met'}); wall time {wall:.2f}x (target at most "
              f"{1.1 * scale:.1f}x: {'met' if wall <= 1.1 * scale else 'not met'})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", default="1000000", help="messages, or several comma-separated (e.g. 1000000,10000000)")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"))
    ap.add_argument("--floor", help="the jsonl_floor example binary: timed on each corpus before analyze")
    ap.add_argument("--toolkit", action="store_true")
    ap.add_argument("--skip-toolkit-similar", action="store_true")
    ap.add_argument("--drop-corpus", action="store_true", help="remove each corpus after its run (50M: 18.8 GB)")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    results = [run_one(args, int(n)) for n in args.n.split(",")]
    table(results)


if __name__ == "__main__":
    main()
