#!/usr/bin/env bash
# The GPU check, on a CUDA machine whose Python already has torch (a lab card, a cloud
# instance, the device machine of k49's tool library):
#   scripts/gpu-check.sh [WHEELS] [bench_gpu.py options...]
# 1. k49's other dependencies from the wheels in WHEELS (default gpu-wheels/, made by
#    scripts/gpu-wheels.sh; skipped when the folder has none), with --no-deps, into a
#    folder of their own; k49 itself runs from this tree (src/ on PYTHONPATH);
# 2. torch's CUDA version and the device;
# 3. the tests marked `cuda` (tests/test_cuda.py);
# 4. benchmarks/bench_gpu.py: training speed and the seed study at full size, timed, into
#    ${GPU_JSON:-benchmarks/results/gpu.json}.
# Without a CUDA device the tests skip and the check stops with one line and exit code 2.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
WHEELS="${1:-gpu-wheels}"
[ $# -gt 0 ] && shift
SITE="${GPU_SITE:-${TMPDIR:-/tmp}/k49-gpu-site}"
if compgen -G "$WHEELS/*.whl" > /dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --target "$SITE" "$WHEELS"/*.whl || exit 1
    export PYTHONPATH="$PWD/src:$SITE${PYTHONPATH:+:$PYTHONPATH}"
else
    echo "no wheels in $WHEELS: using the packages this Python has"
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PYTHON" -c "import torch; print('torch', torch.__version__, '| CUDA', torch.version.cuda, '|',
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')"
"$PYTHON" -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py
tests=$?
[ $tests -eq 0 ] || [ $tests -eq 5 ] || echo "the CUDA tests failed (pytest exit $tests)"
"$PYTHON" benchmarks/bench_gpu.py --json "${GPU_JSON:-benchmarks/results/gpu.json}" "$@"
check=$?
[ $check -ne 0 ] && exit $check
exit $(( tests == 5 ? 0 : tests ))
