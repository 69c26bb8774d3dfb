"""ONNX export of a trained run, checked against torch with onnxruntime, with its model card.

The graph's input is K49's own form, so nothing needs normalising outside it: `images`, uint8
(batch, 28, 28), white ink on black. The graph converts to float, divides by 255 and adds the
channel axis exactly as `k49.models.inference.to_input` does, and returns `logits` and
`probabilities` (softmax), float32 (batch, C). The batch axis is dynamic.

The graph is made by torch's current exporter (`torch.onnx.export(dynamo=True)`, which needs
the onnxscript package) and, where that is unavailable (torch < 2.5, no onnxscript) or fails,
by the TorchScript exporter; either result must pass the same onnxruntime check.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from k49.data.datasets import REAL_SAMPLE, get_spec
from k49.data.k49format import check_images, read_array
from k49.deploy.model_card import model_card, render_model_card
from k49.errors import K49Error
from k49.evaluation.run import evaluate_run
from k49.io import atomic_path, read_user_file, write_text
from k49.models import get_entry
from k49.models.inference import predict_proba
from k49.runs.records import Provenance
from k49.runs.rundir import RunDir
from k49.training.trained import load_model

ONNX_FILE = "model.onnx"
#: The last line of every model card k49 writes: how an export knows the card is its own.
CARD_MARK = "<!-- written by k49 export"
#: Images run through torch and onnxruntime on export, and the largest difference allowed.
N_CHECK = 1000
TOLERANCE = 1e-4
INPUT = "images"
OUTPUTS = ("logits", "probabilities")
INPUT_CONTRACT = (
    "uint8 tensor (batch, 28, 28), one image per row in K49's form: 28x28 grayscale, white ink "
    "(255) on black (0), the character centred. Feed raw pixel values: the graph itself "
    "converts to float, divides by 255 and adds the channel axis. Bring any other image "
    "(black ink on white, another size, colour) into this form first with "
    "`k49.deploy.images.to_k49`, as `k49 predict` and `k49 serve` do.")
OUTPUTS_CONTRACT = (
    "`logits` and `probabilities` = softmax(logits), float32 (batch, C); column i is class i "
    "of the `classes` metadata.")


def card_path(onnx_path: str | os.PathLike) -> Path:
    """Where the model card of `onnx_path` goes: beside it, named after it (x.onnx -> x.md),
    so two exports into one folder keep their own cards."""
    onnx_path = Path(onnx_path)
    return onnx_path.with_name(f"{onnx_path.stem}.md")


def written_by_k49(path: Path) -> bool:
    """Whether `path` (an .onnx file or a model card) is one a k49 export wrote."""
    try:
        if path.suffix == ".onnx":
            return onnx.load(str(path), load_external_data=False).producer_name == "k49"
        text = read_user_file(path, limit=4 * 2**20).decode("utf-8", errors="replace")
        return CARD_MARK in text[-200:]
    except Exception:  # unreadable, not ONNX, not a regular file: not ours
        return False


def _check_overwrite(paths: list[Path], force: bool) -> None:
    for path in paths:
        if (path.exists() or path.is_symlink()) and not force and not written_by_k49(path):
            raise K49Error(f"{path} exists and was not written by k49 export: choose another "
                           "--out, or give --force to replace it")


def export_onnx(run_dir: str | os.PathLike | RunDir, out: str | os.PathLike | None = None, *,
                check_images: np.ndarray | None = None, force: bool = False) -> dict[str, Any]:
    """Export a torch run to ONNX at `out` (default RUN_DIR/model.onnx, always ending in
    .onnx) with its model card beside it (`card_path`: x.onnx -> x.md), both written
    atomically. A file at either path that k49 did not write is refused unless `force`.

    The graph is checked first: up to `N_CHECK` images (`check_images`, else the run's test
    split, else the K49 sample shipped with k49) go through torch and onnxruntime, and a
    largest absolute difference in probabilities over `TOLERANCE` is a K49Error with nothing
    written. A run without metrics.json but with test predictions is evaluated first.

    Returns {onnx, model_card, bytes, max_abs_diff, tolerance, n_checked, check_source,
    exporter, opset, input, outputs, seconds, metrics_computed}.
    """
    t0 = time.perf_counter()
    run = RunDir.existing(run_dir)
    provenance = run.read_provenance()
    config = provenance.config
    if not get_entry(config.model).is_torch:
        raise K49Error(
            f"{run.path} is a {config.model} run, a k-nearest-neighbour classifier (a "
            "scikit-learn estimator over the training set, not a network), so it cannot be "
            f"exported to ONNX: use `k49 predict {run.path} ...` or "
            f"`k49 serve {run.path}` instead")
    if not run.file(RunDir.WEIGHTS).exists():
        raise K49Error(f"{run.path} has no {RunDir.WEIGHTS}, so its training did not finish: "
                       "rerun the same `k49 train` command to complete it, then export")
    out = Path(out) if out is not None else run.file(ONNX_FILE)
    if out.is_dir():
        raise K49Error(f"--out {out} is a folder: give a file name such as {out / ONNX_FILE}")
    if out.suffix != ".onnx":
        raise K49Error(f"--out {out}: give a file name ending in .onnx, such as "
                       f"{out.with_name(out.name + '.onnx')}")
    card_file = card_path(out)
    _check_overwrite([out, card_file], force)
    model = load_model(run, "cpu").model
    metrics_computed = not run.has_metrics and run.has_predictions
    if metrics_computed:
        evaluate_run(run)
    images, source = _check_set(provenance, check_images)

    proto, exporter = to_onnx(model)
    facts = model_card(run)
    metadata = _metadata(facts, exporter)
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name, proto.producer_version = "k49", facts["versions"].get("k49", "")
    proto.doc_string = f"k49 {facts['label']}: {INPUT_CONTRACT}"
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()

    expected = predict_proba(model, images, device="cpu")
    # All at once, then one alone: the batch axis must take any size.
    diff = max(float(np.max(np.abs(onnx_proba(data, batch).astype(np.float64) - want)))
               for batch, want in ((images, expected), (images[:1], expected[:1])))
    if not np.isfinite(diff) or diff > TOLERANCE:
        raise K49Error(
            f"the ONNX graph of {run.path} disagrees with torch: largest absolute difference "
            f"in probabilities {diff:.3g} on {len(images)} images (limit {TOLERANCE:g}), so "
            "nothing was written; report it with your torch and onnx versions, or use "
            "`k49 predict`/`k49 serve`, which run the torch model")

    result = {
        "onnx": str(out), "model_card": str(card_file), "bytes": len(data),
        "max_abs_diff": diff, "tolerance": TOLERANCE, "n_checked": len(images),
        "check_source": source, "exporter": exporter, "opset": _opset(proto),
        "input": INPUT, "outputs": list(OUTPUTS), "metrics_computed": metrics_computed,
    }
    card = render_model_card(facts, {
        **result, "file_name": out.name, "input_contract": INPUT_CONTRACT,
        "outputs_contract": OUTPUTS_CONTRACT, "metadata_keys": list(metadata)})
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
        write_text(card_file, card)
    result["seconds"] = time.perf_counter() - t0
    return result


class _Graph(torch.nn.Module):
    """The exported function: uint8 (B, 28, 28) -> (logits, probabilities)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(images.unsqueeze(1).to(torch.float32) / 255.0).to(torch.float32)
        return logits, torch.softmax(logits, dim=1)


def to_onnx(model: torch.nn.Module) -> tuple[onnx.ModelProto, str]:
    """`model` (float (B, 1, 28, 28) in [0, 1] -> logits) as an ONNX graph over uint8 images
    with a dynamic batch axis, and which exporter made it."""
    graph = _Graph(model.cpu().eval()).eval()
    example = (torch.zeros(2, 28, 28, dtype=torch.uint8),)  # batch 2: 0 and 1 get specialised
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ONNX_FILE
        exporter = _export_dynamo(graph, example, path)
        if exporter is None:
            exporter = _export_torchscript(graph, example, path)
        proto = onnx.load(str(path))  # with any external data file beside it
    return proto, exporter


def _export_dynamo(graph: torch.nn.Module, example: tuple, path: Path) -> str | None:
    """Export with torch's current exporter; None if it is unavailable or fails."""
    try:
        available = "dynamo" in inspect.signature(torch.onnx.export).parameters \
            and importlib.util.find_spec("onnxscript") is not None
    except (ImportError, ValueError):
        available = False
    if not available:
        return None
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "torchvision is not installed" notes
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, example, str(path), input_names=[INPUT],
                              output_names=list(OUTPUTS), dynamo=True, verbose=False,
                              dynamic_shapes={INPUT: {0: torch.export.Dim("batch")}})
    except Exception:  # any failure: the TorchScript exporter is the fallback; both are checked
        return None
    finally:
        quiet.setLevel(level)
    return f"torch.onnx.export(dynamo=True), torch {torch.__version__}"


def _export_torchscript(graph: torch.nn.Module, example: tuple, path: Path) -> str:
    axes = {name: {0: "batch"} for name in (INPUT, *OUTPUTS)}
    kwargs = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters \
        else {}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, example, str(path), input_names=[INPUT],
                          output_names=list(OUTPUTS), dynamic_axes=axes, opset_version=17,
                          **kwargs)
    return f"torch.onnx.export(dynamo=False) (TorchScript), torch {torch.__version__}"


def onnx_proba(model: bytes | str | os.PathLike, images: np.ndarray) -> np.ndarray:
    """Probabilities (N, C) float32 of an exported graph (bytes or a path) on uint8 images
    (N, 28, 28), run by onnxruntime on the CPU."""
    source = model if isinstance(model, bytes) else str(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return session.run([OUTPUTS[1]], {INPUT: np.ascontiguousarray(images, dtype=np.uint8)})[0]


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The `metadata_props` of an ONNX file, as a dict."""
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def _check_set(provenance: Provenance, images: np.ndarray | None) -> tuple[np.ndarray, str]:
    """Up to N_CHECK images to compare torch and onnxruntime on, and where they came from."""
    if images is not None:
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            raise K49Error(f"check images must be uint8 (N, 28, 28), got {images.dtype} "
                           f"{images.shape}: bring them to K49's form with to_k49")
        if not len(images):
            raise K49Error("no check images given: give at least one, or none to use the "
                           "run's test split")
        return images[:N_CHECK], "the images given"
    config = provenance.config
    try:
        path = get_spec(config.dataset).path("test_images", config.data_dir)
        test = check_images(read_array(path), path)
        return test[:N_CHECK], f"the {config.dataset} test split"
    except (K49Error, KeyError, TypeError):  # data deleted or moved: K49's own sample
        with np.load(REAL_SAMPLE, allow_pickle=False) as npz:
            return npz["arr_0"][:N_CHECK], "the K49 test sample shipped with k49"


def _metadata(facts: dict[str, Any], exporter: str) -> dict[str, str]:
    metrics = facts["metrics"]
    if metrics is not None:
        metrics = {**metrics, "intervals": facts["intervals"]}
    return {
        "classes": json.dumps(facts["classes"], ensure_ascii=False),
        "preprocessing": INPUT_CONTRACT,
        "input": f"{INPUT}: uint8 (batch, 28, 28)",
        "outputs": OUTPUTS_CONTRACT,
        "dataset": facts["dataset"]["name"],
        "dataset_title": facts["dataset"]["title"],
        "synthetic": json.dumps(facts["synthetic"]),
        "config_hash": str(facts["config_hash"]),
        "model": facts["model"],
        "label": facts["label"],
        "metrics": json.dumps(metrics, ensure_ascii=False),
        "k49_version": str(facts["versions"].get("k49", "")),
        "exporter": exporter,
    }


def _opset(proto: onnx.ModelProto) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
