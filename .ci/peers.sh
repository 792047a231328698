#!/usr/bin/env bash
# The Python peers the cross-check tests compare against, and the STIX checkers, in a venv outside the clone (reused between runs).
# Prints the venv's python on stdout.
set -euo pipefail
VENV="${ECHOLENS_PEERS_VENV:-$HOME/.cache/echolens-peers}"
# stix2-validator (OASIS) and stix2 check the STIX export; moto's server stands in for S3 (a store read from
# an object-store URL).
if ! "$VENV/bin/python" -c "import numpy, coordination_network_toolkit, stix2, stix2validator, moto.server, boto3" >/dev/null 2>&1; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check numpy coordination-network-toolkit==1.5.2 \
    stix2-validator==3.3.2 stix2==3.0.2 "moto[server]==5.2.6" >&2
fi
echo "$VENV/bin/python"
