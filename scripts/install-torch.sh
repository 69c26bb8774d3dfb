#!/usr/bin/env bash
# Install PyTorch into the given venv without ever pulling a CUDA build onto a CPU-only machine.
#  - torch already importable: keep it (GPU machines bring their own, 2.4 or newer).
#  - an NVIDIA GPU is present: the default build from the package index (CUDA).
#  - otherwise the CPU build: a local wheel when pip's find-links has one (as on our CI
#    machines), else PyTorch's CPU wheel index.
set -euo pipefail
py="$1"
version="${TORCH_VERSION:-2.13.0}"
if "$py" -c "import torch" 2>/dev/null; then
    echo "torch $("$py" -c 'import torch; print(torch.__version__)') already installed"
    exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    "$py" -m pip install -q "torch>=2.4"
    exit 0
fi
local_wheel=$(mktemp -d)
trap 'rm -rf "$local_wheel"' EXIT
if "$py" -m pip download -q --no-deps --no-index "torch==${version}" -d "$local_wheel" \
        2>/dev/null && ls "$local_wheel"/torch-*.whl >/dev/null 2>&1; then
    "$py" -m pip install -q "$local_wheel"/torch-*.whl
    echo "torch ${version} (CPU) installed from a local wheel"
else
    "$py" -m pip install -q "torch==${version}" \
        --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple
fi
