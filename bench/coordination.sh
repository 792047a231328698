#!/usr/bin/env bash
# Coordination benchmark and cross-check: echolens vs coordination-network-toolkit (and coordinationz) on one
# generated corpus, side by side.
#   bash bench/coordination.sh [N] [extra flags for coordination_bench.py]   (default N = 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
shift || true
source bench/env.sh
bench_env "import coordination_network_toolkit, numpy" "numpy coordination-network-toolkit==1.5.2"
"$PY" bench/coordination_bench.py --n "$N" --python "$PY" \
  --bin "$ECHOLENS" "$@"
