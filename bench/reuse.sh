#!/usr/bin/env bash
# Reuse benchmark: echolens reuse vs datasketch MinHashLSH on one generated corpus (the demo generator with
# planted cascades), side by side: wall time, peak memory, recall of the planted cascades; and the threshold
# calibration.
#   bash bench/reuse.sh [N] [extra flags for reuse_bench.py]   (default N = 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
shift || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/echolens-target}"
VENV=bench/.venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c "import datasketch" 2>/dev/null || "$VENV/bin/pip" install -q datasketch==2.0.0
cargo build --release --locked -p echolens --bin echolens
"$VENV/bin/python" bench/reuse_bench.py --n "$N" --python "$VENV/bin/python" \
  --bin "$CARGO_TARGET_DIR/release/echolens" "$@"
