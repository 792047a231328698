#!/usr/bin/env bash
# Leiden on combined networks of growing size, one process each (time and peak memory), as coordination runs it
# in the client process: where community detection stops fitting one machine.
#   bash bench/leiden.sh [EDGES...]   (default 500000 2000000 8000000 32000000)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/echolens-target}"
cargo build --release --locked -p echolens-analysis --example leiden_scale
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(500000 2000000 8000000 32000000)
for e in "${sizes[@]}"; do
  "$CARGO_TARGET_DIR/release/examples/leiden_scale" "$e"
done
