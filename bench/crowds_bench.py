#!/usr/bin/env python3
"""Crowds against campaigns: pair precision and recall of coordination clusters on generated corpora where
planted campaigns sit beside crowds of ordinary accounts (`echolens demo --generate N --crowds C`).

A pair of accounts is predicted when both are in one cluster, true when both are in one planted campaign.
Precision = true predicted pairs / predicted pairs; recall = true predicted pairs / planted pairs. A campaign's
members take part in each wave with a probability of 0.6 to 1, so some pairs acted together only once, which no
"again and again" rule can tell from chance: "recall (2+ waves)" counts only the planted pairs that took part in at
least two waves together. Also printed: how many crowd accounts (in no campaign) ended up in a cluster. Each option set is a list of extra flags for
`echolens coordination`. Run through bench/crowds.sh.
"""
import argparse
import csv
import itertools
import json
import os
import subprocess
import sys
import time

OPTIONS = {
    "defaults": [],
}


def pairs_of(groups):
    out = set()
    for members in groups:
        out.update(itertools.combinations(sorted(members), 2))
    return out


def wave_pairs(truth, corpus):
    """The planted pairs that took part in at least two waves together: each campaign message is put in the
    latest of its campaign's waves that started at or before it."""
    times = {}
    with open(os.path.join(corpus, "messages.jsonl"), encoding="utf-8") as f:
        for line in f:
            m = json.loads(line)
            times[f"{m['platform']}:{m['channel']}:{m['id']}"] = m["timestamp"]
    out = set()
    for c in truth["campaigns"]:
        waves = sorted(c["waves"])
        taking = {}
        for key in c["message_keys"]:
            ts = times.get(key)
            if ts is None:
                continue
            wave = max((w for w in waves if w <= ts), default=waves[0])
            account = ":".join(key.split(":")[:2])
            taking.setdefault(account, set()).add(wave)
        for a, b in itertools.combinations(sorted(taking), 2):
            if len(taking[a] & taking[b]) >= 2:
                out.add((a, b))
    return out


def score(clusters_csv, truth, repeated):
    groups = {}
    with open(clusters_csv, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            groups.setdefault(row["cluster"], []).append(row["account"])
    # Clusters whose timing is like chance (timing_p >= 0.05): what analyze would not take as campaigns.
    marked = set()
    summary_csv = os.path.join(os.path.dirname(clusters_csv), "cluster_summary.csv")
    with open(summary_csv, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("timing_p") and float(row["timing_p"]) >= 0.05:
                marked.add(row["cluster"])
    predicted = pairs_of(groups.values())
    planted = pairs_of(c["members"] for c in truth["campaigns"])
    unmarked = pairs_of(members for cluster, members in groups.items() if cluster not in marked)
    hit = len(predicted & planted)
    campaign = {m for c in truth["campaigns"] for m in c["members"]}
    crowd = {m for c in truth.get("crowds", []) for m in c["members"]} - campaign
    clustered = {a for members in groups.values() for a in members}
    return {
        "precision": hit / len(predicted) if predicted else 1.0,
        "recall": hit / len(planted) if planted else 1.0,
        "recall_repeated": len(predicted & repeated) / len(repeated) if repeated else 1.0,
        "clusters": len(groups),
        "marked_chance": len(marked),
        "recall_unmarked": len(unmarked & planted) / len(planted) if planted else 1.0,
        "crowd_accounts_clustered": len(clustered & crowd),
        "crowd_accounts": len(crowd),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", default="bench/out/crowds")
    ap.add_argument("--mixes", default="20000:0,20000:4,100000:12,100000:24",
                    help="N:CROWDS pairs, comma-separated")
    ap.add_argument("--seed", type=int, default=1, help="the generator's seed")
    ap.add_argument("--options", default=None, help="JSON object: name -> list of coordination flags")
    args = ap.parse_args()
    options = json.loads(args.options) if args.options else OPTIONS
    os.makedirs(args.work, exist_ok=True)
    results = []
    print(f"{'corpus':>16} {'option':>28} {'precision':>9} {'recall':>7} {'2+ waves':>8} {'clusters':>8} {'chance':>6} {'recall unmarked':>15} {'crowd in clusters':>18} {'s':>6}")
    for mix in args.mixes.split(","):
        n, crowds = (int(x) for x in mix.split(":"))
        base = os.path.join(args.work, f"n{n}_c{crowds}" + (f"_s{args.seed}" if args.seed != 1 else ""))
        if not os.path.exists(os.path.join(base, "truth.json")):
            subprocess.run([args.bin, "demo", "--generate", str(n), "--crowds", str(crowds), "--seed", str(args.seed),
                            "--layout", "jsonl", "--out", base, "--json"], check=True, stdout=subprocess.DEVNULL)
        store = os.path.join(base, "store")
        if not os.path.exists(os.path.join(store, "echolens.json")):
            subprocess.run([args.bin, "ingest", "--store", store, os.path.join(base, "corpus")], check=True,
                           stdout=subprocess.DEVNULL)
        with open(os.path.join(base, "truth.json"), encoding="utf-8") as f:
            truth = json.load(f)
        repeated = wave_pairs(truth, os.path.join(base, "corpus"))
        for name, flags in options.items():
            out = os.path.join(base, "coord_" + name.replace(" ", "_"))
            t0 = time.perf_counter()
            subprocess.run([args.bin, "coordination", "--store", store, "--reveal", "--out", out] + flags, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            secs = time.perf_counter() - t0
            s = score(os.path.join(out, "clusters.csv"), truth, repeated)
            s.update({"n": n, "crowds": crowds, "option": name, "flags": flags, "seconds": round(secs, 2)})
            results.append(s)
            print(f"{f'{n} / {crowds} crowds':>16} {name:>28} {s['precision']:9.3f} {s['recall']:7.3f} {s['recall_repeated']:8.3f} "
                  f"{s['clusters']:8d} {s['marked_chance']:6d} {s['recall_unmarked']:15.3f} {s['crowd_accounts_clustered']:>8d} of {s['crowd_accounts']:<7d} {secs:6.1f}")
    with open(os.path.join(args.work, "results.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
