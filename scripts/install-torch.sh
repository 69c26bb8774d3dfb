#!/usr/bin/env bash
# Install PyTorch into the given venv without ever pulling a CUDA build onto a CPU-only machine.
#  - torch already importable: keep it (GPU machines bring their own).
#  - an NVIDIA GPU is present: the default PyPI build (CUDA).
#  - otherwise: the CPU build, from a local wheel when the machine has one, else PyTorch's CPU index.
set -euo pipefail
py="$1"
version="${TORCH_VERSION:-2.13.0}"
if "$py" -c "import torch" 2>/dev/null; then
    echo "torch $("$py" -c 'import torch; print(torch.__version__)') already installed"
    exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    "$py" -m pip install -q "torch>=2.4"
elif "$py" -m pip install -q --no-index "torch==${version}" 2>/dev/null; then
    echo "torch ${version} (CPU) installed from a local wheel"
else
    "$py" -m pip install -q "torch==${version}" --index-url https://download.pytorch.org/whl/cpu
fi
