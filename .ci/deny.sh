#!/usr/bin/env bash
# Dependency licences fail CI unless deny.toml allows them: cargo-deny, installed once into ~/.cargo/bin from
# crates.io at a fixed version (about two minutes to build) and reused after. Licences only: advisories need a
# database fetched from the network.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.20.2
if ! cargo deny --version 2>/dev/null | grep -q "$VERSION"; then
  cargo install cargo-deny --locked --version "$VERSION" --quiet
fi
cargo deny --log-level error check licenses
