#!/usr/bin/env bash
# Rebuilds every model from its training script with Debian's Python (see models/README.md):
#   apt-get install -y --no-install-recommends python3-sklearn python3-pandas python3-onnx python3-xgboost python3-torch
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=/usr/bin/python3
"$PYTHON" -m unittest discover -s ondevice_export -t . -q
for script in */train.py; do
  echo "== $script"
  "$PYTHON" "$script"
done
