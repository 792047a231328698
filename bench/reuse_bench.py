"""Reuse benchmark: echolens reuse vs datasketch MinHashLSH on the same corpus, with the same threshold, shingles
and short-text rule; both scored against the planted cascades of the demo generator the same way.

Run through bench/reuse.sh. The corpus is `echolens demo --messages N` (planted cascades with exact copies, 10%
edits, "via" prefixes, suffixes, Arabic letters without ZWNJ, forwards; channel signatures as boilerplate).
"""
import argparse
import csv
import json
import os
import subprocess
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(__file__))
from ingest_bench import timed  # noqa: E402

DATASKETCH = r'''
import csv, re, sys, time
from datasketch import MinHash, MinHashLSH
texts, out, threshold, shingle, min_tokens, num_perm = sys.argv[1:7]
threshold, shingle, min_tokens, num_perm = float(threshold), int(shingle), int(min_tokens), int(num_perm)
csv.field_size_limit(1 << 30)
word = re.compile(r"[#@]?\w+")
lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
sigs, first, parent, sim = {}, {}, {}, {}
with open(texts, newline="", encoding="utf-8") as f:
    rows = csv.reader(f)
    next(rows)
    for key, ch, ts, text in rows:
        words = word.findall(text.replace("\u200c", ""))
        if not words:
            continue
        exact = " ".join(words)
        if exact in first:
            parent[key], sim[key] = first[exact], 1.0
            continue
        first[exact] = key
        if len(words) < min_tokens:
            continue
        grams = {" ".join(words[i:i + shingle]) for i in range(max(1, len(words) - shingle + 1))}
        m = MinHash(num_perm=num_perm)
        m.update_batch([g.encode("utf-8") for g in grams])
        best = None
        for c in lsh.query(m):
            j = m.jaccard(sigs[c])
            if j >= threshold and (best is None or j > best[0]):
                best = (j, c)
        if best:
            parent[key], sim[key] = best[1], best[0]
        lsh.insert(key, m)
        sigs[key] = m
# Trees from parents: the root is the origin.
def root(k):
    while k in parent:
        k = parent[k]
    return k
with open(out, "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["key", "cascade", "role"])
    roots = set()
    for k in parent:
        r = root(k)
        roots.add(r)
        w.writerow([k, r, "copy"])
    for r in roots:
        w.writerow([r, r, "origin"])
'''


def score(found, truth):
    """found: key -> (cascade, role). Pair precision/recall/F1 over planted messages, origins found, and the
    recall of each kind of planted copy (in the same found cascade as its origin)."""
    planted = {k: c["id"] for c in truth["cascades"] for k in c["member_keys"]}
    by_found = defaultdict(list)
    for k, (c, _) in found.items():
        by_found[c].append(k)
    tp = found_pairs = 0
    for keys in by_found.values():
        n = len(keys)
        ps = [planted[k] for k in keys if k in planted]
        p = len(ps)
        found_pairs += n * (n - 1) // 2 - (n - p) * (n - p - 1) // 2
        counts = defaultdict(int)
        for t in ps:
            counts[t] += 1
        tp += sum(c * (c - 1) // 2 for c in counts.values())
    planted_pairs = sum(len(c["member_keys"]) * (len(c["member_keys"]) - 1) // 2 for c in truth["cascades"])
    origins = 0
    variant_hits, variant_all = defaultdict(int), defaultdict(int)
    for c in truth["cascades"]:
        votes = defaultdict(int)
        for k in c["member_keys"]:
            if k in found:
                votes[found[k][0]] += 1
        if votes:
            best = max(votes.items(), key=lambda kv: kv[1])[0]
            if found.get(c["origin_key"]) == (best, "origin"):
                origins += 1
        origin = found.get(c["origin_key"])
        for k, v in zip(c["member_keys"][1:], c["variants"][1:]):
            variant_all[v] += 1
            if origin and k in found and found[k][0] == origin[0]:
                variant_hits[v] += 1
    precision = tp / found_pairs if found_pairs else 0.0
    recall = tp / planted_pairs if planted_pairs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    variants = {v: round(variant_hits[v] / variant_all[v], 3) for v in sorted(variant_all)}
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "origins_found": origins, "cascades": len(truth["cascades"]), "recall_by_variant": variants}


def read_echolens(path):
    with open(path, newline="", encoding="utf-8") as f:
        return {r["key"]: (r["cascade"], r["role"]) for r in csv.DictReader(f)}


def read_datasketch(path):
    with open(path, newline="", encoding="utf-8") as f:
        return {r["key"]: (r["cascade"], r["role"]) for r in csv.DictReader(f)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--work", default="bench/out")
    ap.add_argument("--bin", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--shingle", type=int, default=2)
    ap.add_argument("--min-tokens", type=int, default=5)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--skip-datasketch", action="store_true")
    ap.add_argument("--calibrate", action="store_true", help="echolens at several thresholds (default below 300k)")
    args = ap.parse_args()
    base = os.path.join(args.work, f"reuse_{args.n}")
    store = os.path.join(base, "store")
    if not os.path.exists(os.path.join(base, "truth.json")):
        secs, mb, _ = timed([args.bin, "demo", "--ingest-only", "--json", "--messages", str(args.n), "--out", base])
        print(f"demo corpus and ingest: {secs:.1f} s, {mb:.0f} MB (not part of the comparison)")
    with open(os.path.join(base, "truth.json"), encoding="utf-8") as f:
        truth = json.load(f)
    print(f"corpus: {truth['messages']} messages, {len(truth['cascades'])} planted cascades ({base})")
    params = ["--threshold", str(args.threshold), "--shingle", str(args.shingle), "--min-tokens", str(args.min_tokens)]
    results = {"n": truth["messages"], "params": vars(args)}

    out = os.path.join(base, "echolens_reuse")
    secs, mb, _ = timed([args.bin, "reuse", "--store", store, "--reveal", "--out", out, "--json"] + params)
    ours = score(read_echolens(os.path.join(out, "cascades.csv")), truth)
    results["echolens"] = {"seconds": round(secs, 2), "peak_mb": round(mb), **ours}
    rows = [("echolens reuse", secs, mb, ours)]

    if not args.skip_datasketch:
        texts = os.path.join(base, "texts.csv")
        if not os.path.exists(texts):
            sql = ("SELECT key, concat(platform, ':', channel_id) AS ch, CAST(ts AS BIGINT) AS ts, text_norm "
                   "FROM messages ORDER BY ts, key")
            with open(texts, "w", encoding="utf-8") as f:
                subprocess.run([args.bin, "sql", "--store", store, "--output", "csv", sql], stdout=f, check=True)
        script = os.path.join(base, "datasketch_reuse.py")
        with open(script, "w", encoding="utf-8") as f:
            f.write(DATASKETCH)
        dout = os.path.join(base, "datasketch_cascades.csv")
        secs_d, mb_d, _ = timed([args.python, script, texts, dout, str(args.threshold), str(args.shingle),
                                 str(args.min_tokens), str(args.num_perm)])
        theirs = score(read_datasketch(dout), truth)
        results["datasketch"] = {"seconds": round(secs_d, 2), "peak_mb": round(mb_d), **theirs}
        rows.append((f"datasketch MinHashLSH ({args.num_perm} perm)", secs_d, mb_d, theirs))

    print(f"{'run':<36}{'wall s':>9}{'peak MB':>9}{'pair F1':>9}{'P':>7}{'R':>7}{'origins':>9}")
    for name, s, m, sc in rows:
        print(f"{name:<36}{s:>9.2f}{m:>9.0f}{sc['f1']:>9.3f}{sc['precision']:>7.3f}{sc['recall']:>7.3f}"
              f"{sc['origins_found']:>5}/{sc['cascades']}")
    for name, _, _, sc in rows:
        print(f"  {name} recall by kind of copy: {sc['recall_by_variant']}")
    if len(rows) == 2:
        print(f"datasketch / echolens wall time: {rows[1][1] / rows[0][1]:.1f}x; "
              f"peak memory: {rows[1][2] / rows[0][2]:.1f}x")

    if args.calibrate or args.n < 300_000:
        print("calibration (echolens, shingle %d): threshold -> pair F1, P, R, origins" % args.shingle)
        results["calibration"] = []
        for t in [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]:
            cout = os.path.join(base, f"calibrate_{t}")
            timed([args.bin, "reuse", "--store", store, "--reveal", "--out", cout, "--json", "--threshold", str(t),
                   "--shingle", str(args.shingle), "--min-tokens", str(args.min_tokens)])
            sc = score(read_echolens(os.path.join(cout, "cascades.csv")), truth)
            results["calibration"].append({"threshold": t, **sc})
            print(f"  {t:.1f}  F1 {sc['f1']:.3f}  P {sc['precision']:.3f}  R {sc['recall']:.3f}  "
                  f"origins {sc['origins_found']}/{sc['cascades']}  by kind {sc['recall_by_variant']}")
    with open(os.path.join(args.work, f"reuse_{args.n}.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
