#!/usr/bin/env bash
# A release binary: `echolens` built in release, stripped, copied to dist/ with its SHA-256 and size printed.
#   bash scripts/release-binary.sh          # Linux x86_64, glibc (this machine's target)
#   bash scripts/release-binary.sh --musl   # Linux x86_64, statically linked against musl
#                                           # (needs `rustup target add x86_64-unknown-linux-musl` and a C
#                                           # compiler for musl for the C dependencies: mimalloc, zstd)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/echolens-target}"
target="x86_64-unknown-linux-gnu"
args=()
if [ "${1:-}" = "--musl" ]; then
  target="x86_64-unknown-linux-musl"
  args=(--target "$target")
  export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
fi
cargo build --release --locked -p echolens "${args[@]}"
built="$CARGO_TARGET_DIR/${args:+$target/}release/echolens"
version="$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)"
mkdir -p dist
out="dist/echolens-$version-$target"
cp "$built" "$out"
strip "$out"
(cd dist && sha256sum "$(basename "$out")" > "$(basename "$out").sha256")
echo "$out: $(du -h "$out" | cut -f1), $(file -b "$out" | cut -d, -f1-2)"
cat "$out.sha256"
