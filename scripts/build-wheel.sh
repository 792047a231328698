#!/usr/bin/env bash
# Build the `echolens` wheel (maturin, binary bindings) for this machine's platform into dist/, with the same
# target folder as .ci/run and the benches (a release build that is already there is reused).
#   bash scripts/build-wheel.sh            # manylinux x86_64 here
#   bash scripts/build-wheel.sh --target aarch64-unknown-linux-gnu   # other targets need their toolchain
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/echolens-target}"
VENV="${ECHOLENS_WHEEL_VENV:-$HOME/.cache/echolens-wheel-build}"
if ! "$VENV/bin/maturin" --version >/dev/null 2>&1; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check "maturin>=1.7,<2" >&2
fi
"$VENV/bin/maturin" build --release --out dist "$@"
ls -l dist/echolens-*.whl
