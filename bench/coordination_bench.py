#!/usr/bin/env python3
"""Coordination benchmark and cross-check, side by side in one run on one generated corpus.

  (a) echolens coordination --kinds text,link,similar (the toolkit's work), and the default run (all kinds);
  (b) coordination-network-toolkit co_tweet, co_link, co_similar_tweet on the same corpus and parameters;
  (c) coordinationz's co-URL + co-hashtag pipeline (bipartite null-model similarity), where installed.
Prints wall time and peak memory of each, the ratios, pair-F1 of echolens clusters against the planted
campaigns (the generator's truth.json), and how echolens text/link edges agree with co_tweet/co_link.

Run through bench/coordination.sh, which builds the release binary and the venv.
"""
import argparse
import csv
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest_bench import timed  # noqa: E402

WINDOW = 60
MIN_WEIGHT = 2
SIMILARITY = 0.8


class Corpus:
    """A corpus from the project's generator: `echolens demo --generate N --layout jsonl --toolkit-csv`, seed 1
    (WORK/corpus_N/corpus/messages.jsonl, WORK/corpus_N/toolkit.csv, WORK/corpus_N/truth.json)."""

    def __init__(self, folder):
        self.folder = folder
        self.jsonl = os.path.join(folder, "corpus", "messages.jsonl")
        self.csv = os.path.join(folder, "toolkit.csv")
        self.truth = os.path.join(folder, "truth.json")


def generate(bin, n, work, toolkit_csv=True):
    """The N-message corpus in WORK/corpus_N, generated unless there (with the toolkit's CSV when asked)."""
    corpus = Corpus(os.path.join(work, f"corpus_{n}"))
    if not (os.path.exists(corpus.truth) and os.path.exists(corpus.jsonl)
            and (os.path.exists(corpus.csv) or not toolkit_csv)):
        subprocess.run([bin, "demo", "--generate", str(n), "--seed", "1", "--layout", "jsonl", "--out", corpus.folder]
                       + (["--toolkit-csv"] if toolkit_csv else []), check=True)
    return corpus


def read_edges(path, kinds):
    """echolens edges.csv as {kind: {(a, b): weight}} with the platform prefix dropped."""
    out = {k: {} for k in kinds}
    with open(path, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["kind"] in out:
                a = row["account_a"].split(":", 1)[1]
                b = row["account_b"].split(":", 1)[1]
                out[row["kind"]][(min(a, b), max(a, b))] = int(row["weight"])
    return out


def toolkit_edges(db, table):
    """A toolkit network as {(a, b): weight}: self-loops dropped, both directions folded (the toolkit stores
    (u1, u2) and (u2, u1), each weighted by the distinct messages of its first user)."""
    con = sqlite3.connect(db)
    out = {}
    for u1, u2, w in con.execute(f"select user_1, user_2, weight from {table}"):
        u1, u2 = str(u1), str(u2)
        if u1 == u2:
            continue
        key = (min(u1, u2), max(u1, u2))
        out[key] = max(out.get(key, 0), int(w))
    con.close()
    return out


def pair_f1(clusters_csv, truth):
    """Pair precision, recall and F1 of predicted clusters against planted campaigns."""
    pred = {}
    with open(clusters_csv, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            pred.setdefault(row["cluster"], []).append(row["account"])
    pred_pairs = set()
    for members in pred.values():
        pred_pairs.update(itertools.combinations(sorted(members), 2))
    true_pairs = set()
    for camp in truth["campaigns"]:
        true_pairs.update(itertools.combinations(sorted(camp["members"]), 2))
    hit = len(pred_pairs & true_pairs)
    p = hit / len(pred_pairs) if pred_pairs else 0.0
    r = hit / len(true_pairs) if true_pairs else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def compare(name, ours, theirs):
    both = set(ours) & set(theirs)
    same_w = sum(1 for k in both if ours[k] == theirs[k])
    only_ours = len(set(ours) - set(theirs))
    only_theirs = len(set(theirs) - set(ours))
    print(f"  {name}: echolens {len(ours)}, toolkit {len(theirs)}, both {len(both)} "
          f"(same weight {same_w}), only echolens {only_ours}, only toolkit {only_theirs}")
    return {"echolens": len(ours), "toolkit": len(theirs), "both": len(both), "same_weight": same_w,
            "only_echolens": only_ours, "only_toolkit": only_theirs}


TOOLKIT_SCRIPT = """
import sys, time, resource, sqlite3
from coordination_network_toolkit.compute_networks import (
    compute_co_tweet_network, compute_co_link_network, compute_co_similar_tweet)
db, what, window, min_weight, sim = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
if what == "co_tweet":
    compute_co_tweet_network(db, window, min_edge_weight=min_weight, n_threads=2)
elif what == "co_link":
    compute_co_link_network(db, window, n_threads=2, min_edge_weight=min_weight)
elif what == "co_similar_tweet":
    compute_co_similar_tweet(db, window, n_threads=2, similarity_threshold=sim, min_edge_weight=min_weight)
"""

def run_toolkit(python, work, corpus, db, nets):
    """The toolkit's preprocess of the corpus into a fresh `db`, then each of `nets` at the bench parameters, each
    as its own process: [(step, seconds, peak RSS MB)], preprocess first."""
    if os.path.exists(db):
        os.remove(db)
    steps = [("preprocess",) + timed([python, "-m", "coordination_network_toolkit", db, "preprocess",
                                      "--format", "csv", corpus.csv])[:2]]
    con = sqlite3.connect(db)
    con.execute("delete from message_url where url = ''")  # the toolkit reads an empty urls field as the URL ''
    con.commit()
    con.close()
    script = os.path.join(work, "toolkit_networks.py")
    with open(script, "w") as f:
        f.write(TOOLKIT_SCRIPT)
    for net in nets:
        steps.append((net,) + timed([python, script, db, net, str(WINDOW), str(MIN_WEIGHT), str(SIMILARITY)])[:2])
    return steps


COORDINATIONZ_SCRIPT = """
import sys, json, os, types
# coordinationz 0.2.2 downloads nltk stopwords and a spaCy model from GitHub when imported; neither is used by
# the co-URL and co-hashtag indicators, and this machine reaches package registries only. A stopword stub and a
# spaCy stub stand in for them.
stub = os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), "nltk_data")
os.makedirs(os.path.join(stub, "corpora", "stopwords"), exist_ok=True)
with open(os.path.join(stub, "corpora", "stopwords", "english"), "w") as f:
    f.write("the\\n")
os.environ["NLTK_DATA"] = stub
sys.modules["spacy"] = types.SimpleNamespace(load=lambda *a, **k: None)
import pandas as pd
from coordinationz import indicator_utilities as iu
from coordinationz import nullmodel as nm
rows = []
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        r = json.loads(line)
        tags = [w[1:].lower() for w in r["text"].split() if w.startswith("#") and len(w) > 1]
        rows.append({"user_id": str(r["author"]), "urls": r.get("urls") or [], "hashtags": tags,
                     "tweet_type": "tweet"})
df = pd.DataFrame(rows)
for name, get in [("courl", iu.obtainBipartiteEdgesURLs), ("cohashtag", iu.obtainBipartiteEdgesHashtags)]:
    edges = get(df)
    edges = iu.filterNodes(edges, minRightDegree=2, minLeftDegree=2)
    if len(edges) == 0:
        print(name, 0)
        continue
    import numpy as np
    left = {u: i for i, u in enumerate(sorted({e[0] for e in edges}))}
    right = {u: i for i, u in enumerate(sorted({e[1] for e in edges}))}
    indexed = np.array([(left[a], right[b]) for a, b in edges])
    out = nm.bipartiteNullModelSimilarity(indexed, scoreType=["pvalue"], realizations=int(sys.argv[2]),
                                          workers=2, showProgress=False)
    print(name, len(out["indexedEdges"]))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--work", default="bench/out")
    ap.add_argument("--bin", required=True)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--skip-toolkit", action="store_true")
    ap.add_argument("--skip-toolkit-similar", action="store_true",
                    help="co_similar_tweet compares every pair in the window; it does not finish on large corpora")
    ap.add_argument("--coordinationz", action="store_true")
    ap.add_argument("--cz-realizations", type=int, default=1000)
    args = ap.parse_args()

    os.makedirs(args.work, exist_ok=True)
    corpus = generate(args.bin, args.n, args.work)
    truth = json.load(open(corpus.truth, encoding="utf-8"))
    results = {"n": args.n, "window_s": WINDOW, "min_weight": MIN_WEIGHT, "similarity": SIMILARITY, "runs": {}}

    store = os.path.join(args.work, f"store_{args.n}")
    if not os.path.exists(os.path.join(store, "echolens.json")):
        secs, rss, _ = timed([args.bin, "ingest", "--store", store, corpus.jsonl])
        print(f"echolens ingest: {secs:.1f} s, {rss:.0f} MB (not part of the comparison)")

    rows = []
    same_work = os.path.join(args.work, f"coord_{args.n}_toolkit_params")
    secs, rss, _ = timed([args.bin, "coordination", "--store", store, "--reveal", "--out", same_work,
                          "--kinds", "text,link,similar", "--window", f"{WINDOW}s", "--min-weight", str(MIN_WEIGHT),
                          "--min-tokens", "1", "--max-key-accounts", "1000000000", "--crowd-size", "0", "--horizon", "0",
                          "--similarity", str(SIMILARITY)])
    rows.append(("echolens text+link+similar", secs, rss))
    for kind in ["text", "link", "similar"]:
        secs_k, rss_k, _ = timed([args.bin, "coordination", "--store", store, "--reveal", "--out", same_work + "_" + kind,
                                  "--kinds", kind, "--window", f"{WINDOW}s", "--min-weight", str(MIN_WEIGHT),
                                  "--min-tokens", "1", "--max-key-accounts", "1000000000", "--crowd-size", "0", "--horizon", "0",
                                  "--similarity", str(SIMILARITY)])
        rows.append((f"echolens {kind}", secs_k, rss_k))
    default_out = os.path.join(args.work, f"coord_{args.n}_default")
    secs, rss, _ = timed([args.bin, "coordination", "--store", store, "--reveal", "--out", default_out])
    rows.append(("echolens all kinds, defaults", secs, rss))
    p, r, f1 = pair_f1(os.path.join(default_out, "clusters.csv"), truth)
    results["f1_default"] = {"precision": p, "recall": r, "f1": f1}
    p2, r2, f12 = pair_f1(os.path.join(same_work, "clusters.csv"), truth)
    results["f1_toolkit_params"] = {"precision": p2, "recall": r2, "f1": f12}

    if not args.skip_toolkit:
        db = os.path.join(args.work, f"toolkit_{args.n}.db")
        nets = ["co_tweet", "co_link"] + ([] if args.skip_toolkit_similar else ["co_similar_tweet"])
        steps = run_toolkit(args.python, args.work, corpus, db, nets)
        secs, rss = steps[0][1], steps[0][2]
        print(f"toolkit preprocess: {secs:.1f} s, {rss:.0f} MB (not part of the comparison)")
        rows.extend((f"toolkit {net}", secs, rss) for net, secs, rss in steps[1:])
        total_secs = sum(r[1] for r in steps[1:])
        peak = max(r[2] for r in steps[1:])
        rows.append(("toolkit " + " + ".join(nets), total_secs, peak))
        ours = read_edges(os.path.join(same_work, "edges.csv"), ["text", "link", "similar"])
        print("agreement (window 60 s, min weight 2; toolkit self-loops dropped, directions folded):")
        results["agreement"] = {
            "text_vs_co_tweet": compare("text vs co_tweet", ours["text"], toolkit_edges(db, "co_tweet_network")),
            "link_vs_co_link": compare("link vs co_link", ours["link"], toolkit_edges(db, "co_link_network")),
        }
        if not args.skip_toolkit_similar:
            results["agreement"]["similar_vs_co_similar_tweet"] = compare(
                "similar vs co_similar_tweet", ours["similar"], toolkit_edges(db, "co_similar_tweet_network"))

    if args.coordinationz:
        script = os.path.join(args.work, "coordinationz_pipeline.py")
        with open(script, "w") as f:
            f.write(COORDINATIONZ_SCRIPT)
        t0 = time.perf_counter()
        proc = subprocess.Popen([args.python, script, corpus.jsonl, str(args.cz_realizations)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        secs, rss = time.perf_counter() - t0, usage.ru_maxrss / 1024
        if os.waitstatus_to_exitcode(status) == 0:
            rows.append(("coordinationz co-URL + co-hashtag", secs, rss))
        else:
            print(f"coordinationz failed after {secs:.0f} s (peak {rss:.0f} MB), status {status}")
        secs_e, rss_e, _ = timed([args.bin, "coordination", "--store", store, "--reveal", "--out", default_out + "_lh",
                                  "--kinds", "link,hashtag"])
        rows.append(("echolens link+hashtag", secs_e, rss_e))

    print(f"\ncorpus: {args.n} messages ({corpus.jsonl})")
    print(f"{'run':44} {'wall s':>9} {'peak MB':>9}")
    for name, secs, rss in rows:
        print(f"{name:44} {secs:9.2f} {rss:9.0f}")
        results["runs"][name] = {"seconds": round(secs, 3), "peak_mb": round(rss)}
    by = {name: secs for name, secs, _ in rows}
    ratios = {}
    for ours, theirs in [("echolens text+link+similar", "toolkit co_tweet + co_link + co_similar_tweet"),
                         ("echolens text+link+similar", "toolkit co_tweet + co_link"),
                         ("echolens text", "toolkit co_tweet"), ("echolens link", "toolkit co_link"),
                         ("echolens similar", "toolkit co_similar_tweet"),
                         ("echolens link+hashtag", "coordinationz co-URL + co-hashtag")]:
        if ours in by and theirs in by:
            ratios[f"{theirs} / {ours}"] = by[theirs] / by[ours]
            print(f"{theirs} / {ours}: {by[theirs] / by[ours]:.1f}x")
    results["ratios"] = ratios
    print(f"pair-F1 of clusters vs planted campaigns: defaults {f1:.3f} (P {p:.3f} R {r:.3f}); "
          f"toolkit parameters {f12:.3f} (P {p2:.3f} R {r2:.3f})")
    with open(os.path.join(args.work, f"coordination_{args.n}.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
