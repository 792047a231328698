#!/usr/bin/env bash
# The main job end to end: `echolens analyze` on a generated corpus, wall time per stage and peak memory; with
# --toolkit, coordination-network-toolkit's load and co_tweet + co_link (+ co_similar_tweet) on the same corpus,
# side by side. Each corpus is also read by the floor (examples/jsonl_floor.rs: a bare single-threaded serde_json
# parse of the JSONL), and analyze's time is given as a multiple of it.
#   bash bench/analyze.sh [N[,N...]] [--toolkit] [--skip-toolkit-similar] [--drop-corpus]   (default N = 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
shift || true
source bench/env.sh
bench_env "import coordination_network_toolkit, numpy" "numpy coordination-network-toolkit==1.5.2" --example jsonl_floor
"$PY" bench/analyze_bench.py --n "$N" --python "$PY" \
  --bin "$ECHOLENS" --floor "$CARGO_TARGET_DIR/release/examples/jsonl_floor" "$@"
