#!/usr/bin/env bash
# `echolens serve` on a generated corpus: the latency of searches, cluster pages, evidence lookups and cascade
# pages (median and p95 over repeated requests), the server's start time and memory.
#   bash bench/serve.sh [N]   (default N = 10000000; the store and analyze output are kept in bench/out/serve_N)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-10000000}"
source bench/env.sh
bench_env "import sys" ""
"$PY" bench/serve_bench.py --n "$N" --bin "$ECHOLENS"
