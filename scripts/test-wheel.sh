#!/usr/bin/env bash
# Before a release: install the built wheel (dist/echolens-*.whl, from scripts/build-wheel.sh) into a fresh venv
# and run what a new user runs: `echolens --version`, `echolens analyze` on the demo corpus, and `echolens stats
# --json` on its store. Not part of .ci/run: the wheel needs a release build.
#   bash scripts/test-wheel.sh [WHEEL]
set -euo pipefail
cd "$(dirname "$0")/.."
WHEEL="${1:-$(ls -t dist/echolens-*.whl | head -1)}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q --disable-pip-version-check "$WHEEL"
BIN="$WORK/venv/bin/echolens"
test -x "$BIN" || { echo "FAIL: the wheel put no echolens on the venv's PATH" >&2; exit 1; }
version="$("$BIN" --version)"
expected="echolens $(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)"
[ "$version" = "$expected" ] || { echo "FAIL: --version said '$version', expected '$expected'" >&2; exit 1; }
(cd "$WORK" && "$BIN" analyze --out report >/dev/null)
test -s "$WORK/report/report.html" || { echo "FAIL: analyze wrote no report" >&2; exit 1; }
"$BIN" stats --json --store "$WORK/report-store" > "$WORK/stats.json"
"$WORK/venv/bin/python" - "$WORK/stats.json" <<'PY'
import json, sys
stats = json.load(open(sys.argv[1]))
assert stats["messages"] > 20000, stats
assert {"telegram", "x", "instagram"} <= set(stats["platforms"]), stats["platforms"]
print(f"ok: {stats['messages']} messages on {', '.join(sorted(stats['platforms']))}")
PY
echo "ok: $WHEEL installs, $version, analyze and stats --json run"
