#!/usr/bin/env bash
# `analyze` locally and on a Ballista cluster of `echolens cluster` processes on this machine (one scheduler with
# one, then two executors), on the same store of one generated corpus: wall time, peak memory and each stage.
# On one machine the cluster can only cost: the figure is its overhead. With --s3, the store copied to an S3
# server on 127.0.0.1 (moto) and analysed there, here and on two executors, instead of the cluster runs.
#   bash bench/cluster.sh [N] [--s3]   (default N = 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
shift || true
source bench/env.sh
bench_env "import moto.server, boto3" "moto[server]==5.2.6"
"$PY" bench/cluster_bench.py --n "$N" --bin "$ECHOLENS" "$@"
