#!/usr/bin/env bash
# `analyze` locally and on a Ballista cluster of `echolens cluster` processes on this machine (one scheduler with
# one, then two executors), on the same store of one generated corpus: wall time, peak memory and each stage.
# On one machine the cluster can only cost: the figure is its overhead.
#   bash bench/cluster.sh [N]   (default N = 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
source bench/env.sh
bench_env "import sys" ""
"$PY" bench/cluster_bench.py --n "$N" --bin "$ECHOLENS"
