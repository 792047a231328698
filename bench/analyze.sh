#!/usr/bin/env bash
# The main job end to end: `echolens analyze` on a generated corpus, wall time per stage and peak memory; with
# --toolkit, coordination-network-toolkit's load and co_tweet + co_link (+ co_similar_tweet) on the same corpus,
# side by side.
#   bash bench/analyze.sh [N] [--toolkit] [--skip-toolkit-similar]   (default N = 1000000)
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
"$VENV/bin/python" bench/analyze_bench.py --n "$N" --python "$VENV/bin/python" \
  --bin "$CARGO_TARGET_DIR/release/echolens" "$@"
