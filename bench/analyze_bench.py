#!/usr/bin/env python3
"""`echolens analyze` end to end on one generated corpus: ingest into a fresh store, every analysis, the tables
and the report, as one process (wall time, peak RSS, the time of each stage from its summary). With --toolkit,
coordination-network-toolkit's preprocess and networks on the same corpus, one after another, for the ratio.

Run through bench/analyze.sh, which builds the release binary and the venv.
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coordination_bench import generate, run_toolkit  # noqa: E402
from ingest_bench import timed  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"))
    ap.add_argument("--toolkit", action="store_true")
    ap.add_argument("--skip-toolkit-similar", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    corpus = generate(args.bin, args.n, args.work)
    out = os.path.join(args.work, f"analyze_{args.n}")
    if os.path.exists(out):
        shutil.rmtree(out)
    secs, rss, _ = timed([args.bin, "analyze", corpus.jsonl, "--out", out, "--store", os.path.join(out, "store")])
    with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
        summary = json.load(f)
    print(f"echolens analyze, {args.n} messages: {secs:.1f} s, peak {rss:.0f} MB, report "
          f"{summary['report_bytes'] / 1e6:.2f} MB")
    for s in summary["stages"]:
        print(f"  {s['stage']:<13} {s['seconds']:>8.2f} s  peak so far {s.get('peak_rss_mb_so_far')} MB")
    results = {"n": args.n, "echolens": {"seconds": secs, "peak_rss_mb": rss, "stages": summary["stages"],
                                         "report_bytes": summary["report_bytes"],
                                         "clusters": summary["coordination"]["clusters"],
                                         "cascades": summary["reuse"]["cascades"],
                                         "campaigns": [c["title"] for c in summary["campaigns"]]}}
    if args.toolkit:
        db = os.path.join(args.work, f"toolkit_analyze_{args.n}.db")
        nets = ["co_tweet", "co_link"] + ([] if args.skip_toolkit_similar else ["co_similar_tweet"])
        rows = run_toolkit(args.python, args.work, corpus, db, nets)
        total = sum(r[1] for r in rows)
        print(f"coordination-network-toolkit, preprocess + {' + '.join(nets)}: {total:.1f} s, "
              f"peak {max(r[2] for r in rows):.0f} MB")
        for name, t, m in rows:
            print(f"  {name:<17} {t:>8.2f} s  {m:>6.0f} MB")
        print(f"ratio: the toolkit's load and {len(nets)} networks take {total / secs:.1f}x echolens's whole "
              f"analyze (ingest, seven coordination kinds with a window sweep, reuse and forwards, vocabulary, report)")
        results["toolkit"] = {"seconds": total, "steps": rows, "ratio": total / secs}
    with open(os.path.join(args.work, f"analyze_{args.n}.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
