"""Files a user names are read only when they are regular files, and never past a cap: a FIFO
does not hang k49, /dev/zero does not fill memory, and an npz whose header declares a huge
array is refused before anything is allocated. Each command runs in a process of its own, so
a regression fails on the timeout instead of hanging the suite."""

from __future__ import annotations

import io
import os
import shutil
import zipfile

import numpy as np
import pytest

from cli_runner import assert_one_line_error, k49, k49_process
from k49.data.k49format import MAX_ARRAY_BYTES
from k49.deploy.images import MAX_BYTES

pytestmark = pytest.mark.slow


def fifo(path):
    os.mkfifo(path)
    return path


def test_predict_refuses_a_fifo_and_dev_zero(done_run, tmp_path):
    for target in (fifo(tmp_path / "drawing.png"), "/dev/zero"):
        result = k49_process("predict", done_run, target, timeout=60)
        assert_one_line_error(result, str(target), "not a regular file")


def test_predict_caps_the_bytes_it_reads(done_run, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + bytes(MAX_BYTES))
    assert_one_line_error(k49("predict", done_run, big), "big.png", "larger than")


@pytest.mark.parametrize("command", [["run", "--suite"], ["sweep"]])
def test_suite_and_space_files_must_be_regular_files(command, tmp_path):
    what = "suite file" if command[0] == "run" else "search space"
    for target in (fifo(tmp_path / "plan.toml"), "/dev/zero"):
        if command[0] == "run" and target == "/dev/zero":
            continue  # a suite is named by a path ending in .toml
        result = k49_process(*command, target, "--out", tmp_path / "out", timeout=60)
        assert_one_line_error(result, f"{what} {target}", "not a regular file")
        assert not (tmp_path / "out").exists()


def _folder_with(synth_dir, tmp_path, name, make):
    folder = tmp_path / "mine"
    folder.mkdir()
    for f in (synth_dir / "synthetic").glob("k49-*.npz"):
        if f.name != name:
            shutil.copyfile(f, folder / f.name)
    make(folder / name)
    return folder


def test_a_folder_dataset_with_a_fifo_is_refused(synth_dir, tmp_path):
    folder = _folder_with(synth_dir, tmp_path, "k49-train-imgs.npz", fifo)
    result = k49_process("train", "NN_1_adam", "--dataset", f"folder:{folder}", "--out",
                         tmp_path / "R", timeout=60)
    assert_one_line_error(result, "k49-train-imgs.npz", "not a regular file")
    assert not (tmp_path / "R").exists()


def test_an_npz_declaring_a_huge_array_is_refused_before_loading(synth_dir, tmp_path):
    def bomb(path):
        header = io.BytesIO()
        shape = (MAX_ARRAY_BYTES // 784 + 1, 28, 28)
        np.lib.format.write_array_header_1_0(
            header, {"descr": "|u1", "fortran_order": False, "shape": shape})
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("arr_0.npy", header.getvalue() + bytes(784))

    folder = _folder_with(synth_dir, tmp_path, "k49-train-imgs.npz", bomb)
    result = k49("data", "info", "--dataset", f"folder:{folder}")
    assert_one_line_error(result, "k49-train-imgs.npz", "GB", "not a K49-format file")
