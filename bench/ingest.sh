#!/usr/bin/env bash
# Ingest benchmark: echolens vs the serde_json floor vs coordination-network-toolkit, on one generated corpus.
#   bash bench/ingest.sh [N]        (default N = 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
source bench/env.sh
bench_env "import coordination_network_toolkit, numpy" "numpy coordination-network-toolkit==1.5.2" --example jsonl_floor
"$PY" bench/ingest_bench.py --n "$N" --python "$PY" \
  --bin "$ECHOLENS" --floor "$CARGO_TARGET_DIR/release/examples/jsonl_floor"
