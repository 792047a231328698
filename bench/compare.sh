#!/usr/bin/env bash
# `echolens compare` on the store `bench/analyze.sh N` left (run that first): two Telegram channels against the
# whole of X (40% of the corpus), so every measure runs on a large side. Wall time and peak RSS.
#   bash bench/compare.sh [N]   (default N = 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
source bench/env.sh
STORE="bench/out/analyze_$N/store"
if [ ! -d "$STORE" ]; then
  echo "no store at $STORE: run bash bench/analyze.sh $N first" >&2
  exit 2
fi
cargo build --release --locked -p echolens --bin echolens
OUT="bench/out/compare_$N"
/usr/bin/time -f "compare, $N messages: %e s, peak %M KB" "$ECHOLENS" compare --store "$STORE" --out "$OUT" \
  --side tg=channel=demo_channel_00 --side tg=channel=demo_channel_03 --side x=platform=x
