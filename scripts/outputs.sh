#!/usr/bin/env bash
# Every output of the main job and of each command, on the demo corpus and on the sample exports, recorded so
# that two builds can be compared byte for byte (a refactor must not change them; a change a commit makes on
# purpose is listed and explained in its message).
#
#   bash scripts/outputs.sh record BIN DIR      run BIN (an echolens binary) and keep its outputs in DIR
#   bash scripts/outputs.sh compare DIR_A DIR_B list the files that differ (exit 1 if any)
#
# What varies from run to run is taken out before recording: timings, absolute paths, versions, dates of the run.
# The report's table of stages (seconds and peak memory per stage) still differs from run to run: read a
# difference in report.html there before anywhere else.
set -euo pipefail

mode="${1:-}"
case "$mode" in
record)
  bin="$(realpath "$2")"
  out="$(realpath -m "$3")"
  root="$(cd "$(dirname "$0")/.." && pwd)"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  rm -rf "$out"
  mkdir -p "$out"
  cd "$work"
  # A fixed pseudonymisation key, so that two runs give the same pseudonyms.
  for store in demo-store samples-store; do
    mkdir -p "$store"
    printf '%064d\n' 7 >"$store/pseudonym.key"
  done
  # The main job on the demo corpus (pseudonymised, as a user runs it) and on the samples.
  "$bin" analyze --demo-messages 6000 --out "$out/analyze-demo" --store demo-store --json >/dev/null 2>&1
  "$bin" analyze "$root/testdata/samples" --out "$out/analyze-samples" --store samples-store --json >/dev/null 2>&1
  for store in demo-store samples-store; do
    name="${store%-store}"
    "$bin" stats --store "$store" --json >"$out/stats-$name.json"
    "$bin" coordination --store "$store" --out "$out/coordination-$name" >/dev/null
    "$bin" coordination --store "$store" --out "$out/coordination-$name-sweep" --sweep 10s,600s \
      --kinds text,link,hashtag,repost,reply,similar,quote,domain >/dev/null
    "$bin" reuse --store "$store" --out "$out/reuse-$name" >/dev/null
    "$bin" keyness --store "$store" --target platform=x --out "$out/keyness-$name" >/dev/null 2>&1 ||
      echo "no x messages" >"$out/keyness-$name.none"
    "$bin" keyness --store "$store" --by channel --out "$out/keyness-by-$name" >/dev/null
    "$bin" timeline --store "$store" --out "$out/timeline-$name" >/dev/null
    printf 'truth\nelection\n' >terms.txt
    "$bin" diffusion --store "$store" --terms terms.txt --out "$out/diffusion-$name" >/dev/null
    "$bin" sql --store "$store" \
      "SELECT key, platform, author_id, ts, text_norm FROM messages ORDER BY key LIMIT 500" >"$out/sql-$name.csv"
  done
  # Run-specific values out: elapsed times, paths of this run, the version, the time the run was made.
  cat >"$work/clean.py" <<'PY'
import json, sys, re
VARYING = {"report_bytes", "seconds", "run_at", "elapsed_s", "started", "finished", "took", "echolens_version", "store", "out", "path",
           "command", "stages", "peak_rss_mb", "orphans_removed"}
def clean(v):
    if isinstance(v, dict):
        return {k: ("…" if k in VARYING else clean(x)) for k, x in v.items()}
    if isinstance(v, list):
        return [clean(x) for x in v]
    if isinstance(v, str):
        return re.sub(r"/tmp/[^\s\"']+", "…", v)
    return v
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError:
            continue
    with open(path, "w", encoding="utf-8") as f:
        json.dump(clean(data), f, indent=1, sort_keys=True, ensure_ascii=False)
PY
  find "$out" -name '*.json' -exec python3 "$work/clean.py" {} +
  # The report embeds the run's summary and parameters: its run-specific lines are taken out the same way.
  find "$out" -name 'report.html' -print0 | xargs -0 -r sed -i -E \
    -e 's#[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z#…#g' -e 's#"report_bytes":[0-9]+#"report_bytes":…#g' \
    -e "s#$bin#…#g" -e 's#/tmp/[^ "<]+#…#g' -e 's#[0-9]+\.[0-9]+ s\b#… s#g' -e 's#echolens [0-9]+\.[0-9]+\.[0-9]+#echolens …#g'
  echo "recorded $(find "$out" -type f | wc -l) files in $out"
  ;;
compare)
  a="$2"
  b="$3"
  if diff -rq "$a" "$b"; then
    echo "the same: $(find "$a" -type f | wc -l) files"
  else
    exit 1
  fi
  ;;
*)
  sed -n '2,9p' "$0"
  exit 2
  ;;
esac
