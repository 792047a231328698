#!/usr/bin/env python3
"""Whole-tool ingest benchmark, side by side in one run.

Generates a corpus with the project's generator (`echolens demo --generate N --layout jsonl --toolkit-csv`), then
times on the same corpus:
  (a) the floor: a bare read-and-parse of the JSONL with serde_json (examples/jsonl_floor.rs);
  (b) `echolens ingest` of the JSONL into a fresh store (parse, normalise, Delta commit);
  (c) coordination-network-toolkit's load of the same corpus (`preprocess` of its CSV into SQLite).
Prints wall time, peak RSS and ratios. The floor and echolens take turns for --rounds rounds (the machine's speed
drifts between runs) and their medians are compared. Run through bench/ingest.sh, which installs what it needs.
"""
import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time


def timed(cmd, **kw):
    """Run cmd, return (seconds, peak RSS in MB of the child)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - t0
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out}\n{err}")
    return secs, usage.ru_maxrss / 1024, out


# Links, hashtags and mentions as Telegram Desktop marks them in `text` arrays and `text_entities`.
ENTITY = re.compile(r"(?P<link>https?://\S+)|(?P<hashtag>#\w+)|(?P<mention>@\w+)")


def telegram_text(text):
    """`text` and `text_entities` as Telegram Desktop writes them: a plain string when the text has no entity,
    else an array of strings and entity objects; `text_entities` always, with "plain" runs as objects."""
    parts, at = [], 0
    for m in ENTITY.finditer(text):
        if m.start() > at:
            parts.append(text[at:m.start()])
        parts.append({"type": m.lastgroup, "text": m.group()})
        at = m.end()
    if at < len(text):
        parts.append(text[at:])
    entities = [p if isinstance(p, dict) else {"type": "plain", "text": p} for p in parts]
    if all(isinstance(p, str) for p in parts):
        return text, entities
    return parts, entities


def from_id(author):
    """A Telegram Desktop `from_id`: the generator's channel authors are `channel<N>` already; accounts are
    numbers, written `user<N>`."""
    author = str(author)
    return author if author.startswith(("channel", "user", "chat")) else "user" + author


def write_telegram_export(jsonl, path):
    """The corpus as one Telegram Desktop chat export, laid out as the exporter writes it: one-space indentation,
    `text` as a string or an array with entity objects, and `text_entities` in every message."""
    with open(jsonl, encoding="utf-8") as src, open(path, "w", encoding="utf-8") as out:
        out.write('{\n "name": "bench",\n "type": "public_supergroup",\n "id": 4242,\n "messages": [\n')
        for i, line in enumerate(src):
            r = json.loads(line)
            text, entities = telegram_text(r["text"])
            m = {"id": i + 1, "type": "message", "date": "2024-01-01T00:00:00",
                 "date_unixtime": str(int(r["timestamp"])), "from": r["author"], "from_id": from_id(r["author"]),
                 "text": text, "text_entities": entities}
            out.write(("" if i == 0 else ",\n") + json.dumps(m, ensure_ascii=False, indent=1))
        out.write("\n ]\n}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--work", default="bench/out")
    ap.add_argument("--bin", required=True)
    ap.add_argument("--floor", required=True)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--skip-toolkit", action="store_true")
    ap.add_argument("--rounds", type=int, default=3, help="turns of the floor and echolens ingest (medians compared)")
    args = ap.parse_args()

    os.makedirs(args.work, exist_ok=True)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from coordination_bench import generate  # noqa: E402
    corpus = generate(args.bin, args.n, args.work)
    prefix = os.path.join(args.work, f"corpus_{args.n}")
    jsonl = corpus.jsonl
    size_mb = os.path.getsize(jsonl) / 1e6

    rows = []
    store = os.path.join(args.work, "store")
    floor_runs, ingest_runs = [], []
    for _ in range(max(1, args.rounds)):
        floor_runs.append(timed([args.floor, jsonl]))
        shutil.rmtree(store, ignore_errors=True)
        run = timed([args.bin, "ingest", "--json", "--store", store, jsonl])
        report = json.loads(run[2])
        assert report["new"] == report["messages"], report
        ingest_runs.append(run)
    for name, runs in (("floor: serde_json parse", floor_runs), ("echolens ingest", ingest_runs)):
        times = sorted(r[0] for r in runs)
        rows.append((name, times[len(times) // 2], max(r[1] for r in runs)))
        print(f"{name}: {' '.join(f'{r[0]:.2f}' for r in runs)} s")

    # Memory against corpus size: the same ingest on the first tenth of the corpus.
    small = prefix + ".head.jsonl"
    if not os.path.exists(small):
        with open(jsonl, "rb") as src, open(small, "wb") as dst:
            for i, line in enumerate(src):
                if i >= args.n // 10:
                    break
                dst.write(line)
    shutil.rmtree(store, ignore_errors=True)
    secs_small, rss_small, _ = timed([args.bin, "ingest", "--json", "--store", store, small])

    # One Telegram Desktop export holding the whole corpus as one chat: memory must not grow with the file.
    tg = prefix + ".telegram-entities.json"
    if not os.path.exists(tg):
        write_telegram_export(jsonl, tg)
    shutil.rmtree(store, ignore_errors=True)
    secs_tg, rss_tg, out = timed([args.bin, "ingest", "--json", "--store", store, tg])
    tg_report = json.loads(out)
    assert tg_report["quarantined"] == 0, {k: tg_report[k] for k in ("messages", "quarantined", "skipped")}
    tg_mb = os.path.getsize(tg) / 1e6

    if not args.skip_toolkit:
        db = os.path.join(args.work, "toolkit.db")
        if os.path.exists(db):
            os.remove(db)
        secs, rss, _ = timed([args.python, "-m", "coordination_network_toolkit", db, "preprocess",
                              "--format", "csv", corpus.csv])
        rows.append(("coordination-network-toolkit preprocess", secs, rss))

    print(f"\ncorpus: {args.n} messages, {size_mb:.0f} MB JSONL, {os.cpu_count()} cores")
    print(f"{'what (median of the rounds)':45} {'wall s':>8} {'peak MB':>8} {'msgs/s':>10}")
    for name, secs, rss in rows:
        print(f"{name:45} {secs:8.2f} {rss:8.0f} {args.n / secs:10.0f}")
    floor = rows[0][1]
    ours = rows[1][1]
    print(f"\necholens ingest / floor: {ours / floor:.2f}x (target <= 3x)")
    print(f"peak memory, echolens ingest of {args.n // 10} vs {args.n} messages: {rss_small:.0f} MB vs {rows[1][2]:.0f} MB")
    print(f"Telegram Desktop export, one {tg_mb:.0f} MB file: {secs_tg:.2f} s, peak {rss_tg:.0f} MB")
    if len(rows) > 2:
        print(f"toolkit load / echolens ingest: {rows[2][1] / ours:.1f}x faster (target >= 20x)")


if __name__ == "__main__":
    main()
