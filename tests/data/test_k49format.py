"""The one writer (and reader) of K49's file format."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from k49.data import k49format
from k49.data.datasets import K49_CHARS, KMNIST_CHARS
from k49.errors import K49Error

NAMES = ["k49-train-imgs.npz", "k49-train-labels.npz", "k49-test-imgs.npz",
         "k49-test-labels.npz", "k49_classmap.csv"]


def arrays(n_train=20, n_test=7, n_classes=49):
    rng = np.random.default_rng(1)
    return {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % n_classes).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % n_classes).astype(np.uint8),
    }


def test_writes_the_five_files_as_k49_does(tmp_path):
    data = arrays()
    paths = k49format.write_k49_files(tmp_path / "set", data, K49_CHARS)
    assert sorted(p.name for p in (tmp_path / "set").iterdir()) == sorted(NAMES)
    assert [paths[role].name for role in k49format.ROLES] == NAMES
    for role in k49format.ARRAY_ROLES:
        np.testing.assert_array_equal(k49format.read_array(paths[role]), data[role])
        # the member np.savez_compressed writes: arr_0.npy, deflated, the same .npy bytes
        reference = tmp_path / f"{role}.npz"
        np.savez_compressed(reference, data[role])
        with zipfile.ZipFile(paths[role]) as ours, zipfile.ZipFile(reference) as theirs:
            assert ours.namelist() == theirs.namelist() == ["arr_0.npy"]
            assert ours.infolist()[0].compress_type == zipfile.ZIP_DEFLATED
            assert ours.read("arr_0.npy") == theirs.read("arr_0.npy")
    assert k49format.read_classmap(paths["classmap"]) == list(K49_CHARS)
    lines = paths["classmap"].read_text("utf-8").splitlines()
    assert lines[:2] == ["index,codepoint,char", "0,U+3042,あ"]


def test_same_arrays_same_bytes(tmp_path):
    a = k49format.write_k49_files(tmp_path / "a", arrays(), K49_CHARS)
    b = k49format.write_k49_files(tmp_path / "b", arrays(), K49_CHARS)
    for role in a:
        assert a[role].read_bytes() == b[role].read_bytes()


def test_prefix_and_extra_files(tmp_path):
    seen = []

    def extra():
        seen.append(sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")))
        return "{}\n"

    paths = k49format.write_k49_files(tmp_path, arrays(n_classes=10), KMNIST_CHARS,
                                      prefix="kmnist", extra={"meta.json": extra})
    assert paths["train_images"].name == "kmnist-train-imgs.npz"
    assert (tmp_path / "meta.json").read_text() == "{}\n"
    assert seen == [[]]  # called before any file appears under its final name


def test_failure_leaves_no_file(tmp_path, monkeypatch):
    calls = []

    def flaky(path, array):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        path.write_bytes(array.tobytes())

    monkeypatch.setattr(k49format, "write_npz", flaky)
    with pytest.raises(K49Error) as err:
        k49format.write_k49_files(tmp_path, arrays(), K49_CHARS, extra={"x.json": lambda: ""})
    assert "No space left" in str(err.value) and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_missing_array_is_refused(tmp_path):
    data = arrays()
    del data["test_labels"]
    with pytest.raises(K49Error, match="test_labels"):
        k49format.write_k49_files(tmp_path, data, K49_CHARS)


def test_class_names_longer_than_a_character_have_no_codepoint(tmp_path):
    k49format.write_classmap(tmp_path / "c.csv", ["0", "1", "10"])
    lines = (tmp_path / "c.csv").read_text("utf-8").splitlines()[1:]
    assert lines == ["0,U+0030,0", "1,U+0031,1", "2,,10"]
    assert k49format.read_classmap(tmp_path / "c.csv") == ["0", "1", "10"]


@pytest.mark.parametrize(
    "text",
    ["", "a,b\n1,2\n", "index,codepoint,char\n0,U+3042,あ\n2,U+3044,い\n",
     "index,codepoint,char\nx,U+3042,あ\n"],
    ids=["empty", "wrong-columns", "gap", "not-a-number"],
)
def test_bad_classmap_is_one_line_error(tmp_path, text):
    path = tmp_path / "k49_classmap.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(K49Error) as err:
        k49format.read_classmap(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert "index,codepoint,char" in str(err.value)
