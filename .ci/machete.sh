#!/usr/bin/env bash
# Unused dependencies fail CI (each costs cold-build minutes): cargo-machete, installed once into ~/.cargo/bin
# from crates.io at a fixed version (about a minute to build) and reused after.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.9.2
if ! cargo machete --version 2>/dev/null | grep -q "$VERSION"; then
  cargo install cargo-machete --locked --version "$VERSION" --quiet
fi
cargo machete
