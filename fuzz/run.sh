#!/usr/bin/env bash
# Run every fuzz target for a set time (default 60 s each) on the pinned stable toolchain, with
# libFuzzer's coverage and no sanitizer, then the selector parser's proptest harness. Seed corpora: every sample export under testdata/samples (each
# once per format byte, so every reader starts from real files) plus what earlier runs found (fuzz/corpus/,
# not committed). A crash is saved under fuzz/artifacts/TARGET/; turn it into a test, then fix it.
#   bash fuzz/run.sh [SECONDS]
# Needs cargo-fuzz: cargo install cargo-fuzz --locked
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-60}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/echolens-target}/fuzz"
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2; exit 2; }

seeds=fuzz/seeds
rm -rf "$seeds"
mkdir -p "$seeds/readers" "$seeds/normalize"
i=0
while IFS= read -r -d '' f; do
  # Every sample (its first 256 KiB: libFuzzer's inputs stay small), with every format byte (0-5: a format,
  # 6: detect).
  for b in 0 1 2 3 4 5 6; do
    { printf "\\x0$b"; head -c 262143 "$f"; } > "$seeds/readers/$i-$b"
  done
  head -c 4096 "$f" > "$seeds/normalize/$i"
  i=$((i + 1))
done < <(find testdata/samples -type f \( -name '*.json' -o -name '*.jsonl' -o -name '*.csv' -o -name '*.txt' \) -print0)
echo "seeds: $i sample files"

status=0
for target in readers normalize; do
  mkdir -p "fuzz/corpus/$target"
  echo "== $target for ${SECONDS_EACH}s"
  if ! cargo fuzz run --sanitizer none --fuzz-dir fuzz "$target" "fuzz/corpus/$target" "$seeds/$target" -- \
      -max_total_time="$SECONDS_EACH" -max_len=262144 -rss_limit_mb=2048 -timeout=20 -print_final_stats=1; then
    status=1
  fi
done
# The selector parser: a structured proptest harness (hostile values select their row and no other, through
# DataFusion), run with as many cases as the time allows.
echo "== selector values, $((SECONDS_EACH * 50)) cases"
if ! PROPTEST_CASES=$((SECONDS_EACH * 50)) CARGO_TARGET_DIR="${CARGO_TARGET_DIR%/fuzz}" \
    cargo test --locked -p echolens-analysis --lib select::tests::any_value; then
  status=1
fi
exit $status
