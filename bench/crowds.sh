#!/usr/bin/env bash
# Crowds against campaigns: pair precision and recall of coordination clusters on generated corpora with planted
# campaigns beside crowds of ordinary accounts, for each option set.
#   bash bench/crowds.sh [--mixes N:CROWDS,...] [--options JSON] [--bin PATH]
# Uses the debug binary when no release build is asked for: the corpora are small.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/echolens-target}"
BIN="$CARGO_TARGET_DIR/debug/echolens"
if [ "${1:-}" = "--release" ]; then
  shift
  cargo build --release --locked -p echolens --bin echolens
  BIN="$CARGO_TARGET_DIR/release/echolens"
else
  cargo build --locked -p echolens --bin echolens
fi
python3 bench/crowds_bench.py --bin "$BIN" "$@"
