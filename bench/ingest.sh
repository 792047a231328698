#!/usr/bin/env bash
# Ingest benchmark: echolens vs the serde_json floor vs coordination-network-toolkit, on one generated corpus.
#   bash bench/ingest.sh [N]        (default N = 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/echolens-target}"
VENV=bench/.venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q numpy coordination-network-toolkit==1.5.2
fi
cargo build --release --locked -p echolens --bin echolens --example jsonl_floor
"$VENV/bin/python" bench/ingest_bench.py --n "$N" --python "$VENV/bin/python" \
  --bin "$CARGO_TARGET_DIR/release/echolens" --floor "$CARGO_TARGET_DIR/release/examples/jsonl_floor"
