# Sourced by the bench scripts: the shared target directory, the bench venv with the peer packages a bench
# needs, and the release binary.
#   bench_env IMPORT "PIP PACKAGES..." [extra cargo build args]
# IMPORT is a Python statement that succeeds once the packages are installed.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/echolens-target}"
VENV=bench/.venv
PY="$VENV/bin/python"
ECHOLENS="$CARGO_TARGET_DIR/release/echolens"

bench_env() {
  local check="$1" packages="$2"
  shift 2
  if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV"
  fi
  # shellcheck disable=SC2086
  "$PY" -c "$check" 2>/dev/null || "$VENV/bin/pip" install -q $packages
  cargo build --release --locked -p echolens --bin echolens "$@"
}
