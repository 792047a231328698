#!/usr/bin/env bash
# Coordination benchmark and cross-check: echolens vs coordination-network-toolkit (and coordinationz) on one
# generated corpus, side by side.
#   bash bench/coordination.sh [N] [extra flags for coordination_bench.py]   (default N = 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
shift || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/echolens-target}"
VENV=bench/.venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c "import coordination_network_toolkit, numpy" 2>/dev/null ||
  "$VENV/bin/pip" install -q numpy coordination-network-toolkit==1.5.2
cargo build --release --locked -p echolens --bin echolens
"$VENV/bin/python" bench/coordination_bench.py --n "$N" --python "$VENV/bin/python" \
  --bin "$CARGO_TARGET_DIR/release/echolens" "$@"
