#!/usr/bin/env bash
# Wheels of k49's dependencies that a GPU machine with only torch and the scientific stack
# lacks (the device machine of k49's tool library: Python 3.12, torch, numpy, scipy,
# scikit-learn, matplotlib, onnx, onnxruntime, safetensors, rich, typer, jinja2), for CPython
# 3.12 on x86-64, into OUT (default gpu-wheels/, ignored by git), for scripts/gpu-check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-gpu-wheels}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$OUT"
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --abi cp312 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 --platform any -d "$OUT" \
    pydantic pydantic-core annotated-types typing-inspection typing-extensions \
    pooch platformdirs packaging requests urllib3 idna certifi charset-normalizer \
    optuna sqlalchemy alembic mako markupsafe colorlog greenlet tqdm pyyaml \
    psycopg psycopg-binary matplotlib-fontja fonttools \
    fastapi starlette uvicorn h11 click typer shellingham rich python-multipart anyio sniffio pillow \
    onnxscript onnx-ir ml-dtypes \
    pytest pluggy iniconfig pygments httpx httpcore markdown-it-py mdurl
du -sh "$OUT"
