"""The data defects as a new user meets them on the command line: the missing-font warning of
`k49 data synth`, and a folder of one's own in `k49 data info`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cli_runner import k49
from k49.data import k49format
from k49.data.datasets import K49_CHARS
from k49.data.synthetic import INSTALL_COMMAND, SYSTEM_FONTS_ENV


@pytest.mark.slow
def test_data_synth_warns_on_one_line_without_the_fonts(tmp_path):
    result = k49("data", "synth", "--data-dir", str(tmp_path), "--scale", "0.002",
                 env={SYSTEM_FONTS_ENV: "0"})
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and INSTALL_COMMAND in warnings[0]
    report = json.loads((tmp_path / "synthetic" / "synthetic.json").read_text("utf-8"))
    assert report["font_warning"] == warnings[0]


def test_data_info_reads_a_folder(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "train_labels": np.arange(30) % 49,
        "test_images": rng.integers(0, 256, (9, 28, 28), dtype=np.uint8),
        "test_labels": np.arange(9) % 49,
    }
    k49format.write_k49_files(tmp_path / "mine", arrays, K49_CHARS)
    result = k49("data", "info", "--dataset", f"folder:{tmp_path / 'mine'}", "--json",
                 "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["dataset"] == f"folder:{tmp_path / 'mine'}" and info["train_size"] == 30
    assert len(info["checksums"]) == 5


def test_unknown_dataset_is_one_line_error(tmp_path):
    result = k49("data", "info", "--dataset", "nonsense", "--data-dir", str(tmp_path))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1
    assert "folder:PATH" in lines[0] and "synthetic" in lines[0]
