#!/usr/bin/env bash
# Reuse benchmark: echolens reuse vs datasketch MinHashLSH on one generated corpus (the demo generator with
# planted cascades), side by side: wall time, peak memory, recall of the planted cascades; and the threshold
# calibration.
#   bash bench/reuse.sh [N] [extra flags for reuse_bench.py]   (default N = 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
shift || true
source bench/env.sh
bench_env "import datasketch" "datasketch==2.0.0"
"$PY" bench/reuse_bench.py --n "$N" --python "$PY" \
  --bin "$ECHOLENS" "$@"
