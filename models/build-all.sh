#!/usr/bin/env bash
# Rebuilds every model from its training script with Debian's Python and compares the result with the
# committed builds (models/README.md, "Rebuilding"):
#   apt-get install -y --no-install-recommends python3-sklearn python3-pandas python3-onnx python3-xgboost python3-torch
#   npm run models               build into models/.rebuild/builds/, print the comparison, write
#                                models/.rebuild/report.json and report.txt; the committed builds are not touched
#   npm run models -- --write    the same, then replace every committed build folder with the rebuilt one
#   npm run models -- --no-tests skip the exporter's unit tests first (they pack and verify in Node)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=/usr/bin/python3
WRITE=0
TESTS=1
for arg in "$@"; do
  case "$arg" in
    --write) WRITE=1 ;;
    --no-tests) TESTS=0 ;;
    *) echo "build-all.sh: unknown option $arg (--write replaces the committed builds; --no-tests skips the exporter's tests)" >&2; exit 2 ;;
  esac
done

# Reproducible arithmetic, set before Python starts (BLAS and OpenMP read these once, at load):
# one thread everywhere (a BLAS call split over threads sums in another order), and on x86-64 with AVX2
# the same SIMD kernels on every such CPU: OpenBLAS's Haswell kernels, numpy's loops without AVX-512,
# PyTorch's AVX2 kernels and oneDNN capped at AVX2. Each build's model card records them
# (training.environment).
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0
if grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo; then
  export OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
  AVX512=$("$PYTHON" -c "from numpy.core._multiarray_umath import __cpu_features__ as f; print(' '.join(k for k, v in f.items() if v and k.startswith('AVX512')))")
  if [ -n "$AVX512" ]; then export NPY_DISABLE_CPU_FEATURES="$AVX512"; fi
fi

if [ "$TESTS" = 1 ]; then
  "$PYTHON" -m unittest discover -s ondevice_export -t . -q
fi

REBUILD=.rebuild
rm -rf "$REBUILD/builds"
mkdir -p "$REBUILD/builds"
for script in */train.py; do
  model=$(dirname "$script")
  echo "== $script"
  "$PYTHON" "$script" --out "$REBUILD/builds/$model/build"
done

echo "== compare with the committed builds"
"$PYTHON" ../scripts/compare-builds.py "$REBUILD/builds" . --report "$REBUILD/report.json" | tee "$REBUILD/report.txt"

if [ "$WRITE" = 1 ]; then
  for script in */train.py; do
    model=$(dirname "$script")
    rm -rf "$model/build"
    cp -R "$REBUILD/builds/$model/build" "$model/build"
    echo "wrote $model/build"
  done
else
  echo "committed builds unchanged; npm run models -- --write replaces them with these"
fi
