#!/usr/bin/env bash
# Debian's chromium for the test that opens the report in a real browser (skipped, with a message, without it).
set -uo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  SUDO="sudo -n"
fi
if ! $SUDO apt-get install -y --no-install-recommends chromium >/tmp/echolens-chromium-apt.log 2>&1; then
  $SUDO apt-get update >>/tmp/echolens-chromium-apt.log 2>&1
  $SUDO apt-get install -y --no-install-recommends chromium >>/tmp/echolens-chromium-apt.log 2>&1 \
    || echo "chromium could not be installed (see /tmp/echolens-chromium-apt.log): the browser test will be skipped" >&2
fi
