"""The loader checks every assumption about the files and refuses bad ones with a K49Error."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from k49.data.datasets import DATASETS
from k49.data.k49format import read_array
from k49.data.load import load_dataset
from k49.errors import K49Error

SPEC = DATASETS["synthetic"]
FILES = {role: f.name for role, f in SPEC.files.items()}


def valid_arrays(n_train=10, n_test=5):
    rng = np.random.default_rng(0)
    return {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) * 7 % 49).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) * 5 % 49).astype(np.uint8),
    }


@pytest.fixture
def data_dir(tmp_path):
    """A data dir holding a small, valid synthetic set in K49's layout: tmp/synthetic/<5 files>."""
    d = tmp_path / "synthetic"
    d.mkdir()
    for role, array in valid_arrays().items():
        np.savez(d / FILES[role], array)
    lines = ["index,codepoint,char"] + [
        f"{i},{cp},{ch}" for i, (cp, ch) in enumerate(zip(SPEC.codepoints, SPEC.chars, strict=True))
    ]
    (d / FILES["classmap"]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def replace(data_dir, role, array):
    np.savez(data_dir / "synthetic" / FILES[role], array)


def load_error(data_dir) -> str:
    with pytest.raises(K49Error) as err:
        load_dataset("synthetic", data_dir, progress=False)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_valid_set_loads(data_dir):
    ds = load_dataset("synthetic", data_dir, progress=False)
    expected = valid_arrays()
    assert ds.train_images.dtype == np.uint8 and ds.test_images.dtype == np.uint8
    assert ds.train_labels.dtype == np.int64 and ds.test_labels.dtype == np.int64
    assert ds.train_images.shape == (10, 28, 28) and ds.test_images.shape == (5, 28, 28)
    for role, array in expected.items():
        np.testing.assert_array_equal(getattr(ds, role), array)
    assert ds.synthetic and ds.n_classes == 49
    assert set(ds.checksums) == set(FILES.values())
    for name, md5 in ds.checksums.items():
        data = (data_dir / "synthetic" / name).read_bytes()
        assert md5 == hashlib.md5(data).hexdigest()
    images, labels = ds.split("test")
    assert images is ds.test_images and labels is ds.test_labels
    with pytest.raises(K49Error, match="unknown split"):
        ds.split("valid")


def test_labels_stored_as_int64_load_too(data_dir):
    replace(data_dir, "train_labels", np.zeros(10, dtype=np.int64))
    assert load_dataset("synthetic", data_dir).train_labels.dtype == np.int64


@pytest.mark.parametrize(
    "content", [b"this is not a zip archive at all" * 4, b""], ids=["garbage", "empty"]
)
def test_corrupt_npz(data_dir, content):
    (data_dir / "synthetic" / FILES["train_images"]).write_bytes(content)
    message = load_error(data_dir)
    assert FILES["train_images"] in message
    assert "pickle" not in message  # garbage is not reported as a pickle
    assert "fetch again" in message


def test_truncated_npz(data_dir):
    path = data_dir / "synthetic" / FILES["test_images"]
    path.write_bytes(path.read_bytes()[:300])
    assert FILES["test_images"] in load_error(data_dir)


def test_npy_renamed_to_npz(data_dir):
    path = data_dir / "synthetic" / FILES["test_labels"]
    with open(path, "wb") as f:
        np.save(f, valid_arrays()["test_labels"])
    assert "not an npz" in load_error(data_dir)


def test_pickled_npz_is_refused(data_dir):
    objects = np.empty(10, dtype=object)
    objects[:] = [{"label": i} for i in range(10)]
    replace(data_dir, "train_labels", objects)
    message = load_error(data_dir)
    assert "pickled" in message and FILES["train_labels"] in message


def test_npz_without_arr_0(data_dir):
    np.savez(data_dir / "synthetic" / FILES["train_images"], images=valid_arrays()["train_images"])
    assert "arr_0" in load_error(data_dir)


@pytest.mark.parametrize(
    "role, array, needle",
    [
        ("train_images", np.zeros((10, 28, 28), np.float32), "uint8"),
        ("test_images", np.zeros((5, 28, 28), np.int64), "uint8"),
        ("train_labels", np.zeros(10, np.float64), "integer"),
        ("test_labels", np.array(["a"] * 5), "integer"),
    ],
    ids=["float-images", "int64-images", "float-labels", "str-labels"],
)
def test_wrong_dtype(data_dir, role, array, needle):
    replace(data_dir, role, array)
    message = load_error(data_dir)
    assert needle in message and FILES[role] in message


@pytest.mark.parametrize(
    "role, shape",
    [
        ("train_images", (10, 28, 27)),
        ("train_images", (10, 784)),
        ("test_images", (5, 1, 28, 28)),
        ("train_labels", (10, 1)),
        ("test_labels", ()),
    ],
)
def test_wrong_shape(data_dir, role, shape):
    replace(data_dir, role, np.zeros(shape, np.uint8))
    message = load_error(data_dir)
    assert FILES[role] in message and ("shape" in message or "1-D" in message)


@pytest.mark.parametrize("bad", [49, 255, -1])
def test_out_of_range_labels(data_dir, bad):
    labels = np.zeros(5, np.int64)
    labels[2] = bad
    replace(data_dir, "test_labels", labels)
    message = load_error(data_dir)
    assert "0..48" in message and FILES["test_labels"] in message


def test_mismatched_counts(data_dir):
    replace(data_dir, "train_labels", np.zeros(9, np.uint8))
    message = load_error(data_dir)
    assert "10 images but 9 labels" in message


def test_empty_split(data_dir):
    replace(data_dir, "test_images", np.zeros((0, 28, 28), np.uint8))
    replace(data_dir, "test_labels", np.zeros(0, np.uint8))
    assert "empty" in load_error(data_dir)


def test_missing_file_offline(tmp_path, k49_files):
    table = k49_files(tmp_path / "k49")
    (tmp_path / "k49" / table["test_labels"].name).unlink()
    with pytest.raises(K49Error) as err:
        load_dataset("k49", tmp_path, offline=True)
    message = str(err.value)
    assert table["test_labels"].name in message
    assert table["train_images"].name not in message
    assert "k49 data fetch" in message


def test_read_array_missing_file(tmp_path):
    with pytest.raises(K49Error, match="missing"):
        read_array(tmp_path / "nothing.npz")


def test_unknown_dataset(tmp_path):
    with pytest.raises(K49Error, match="synthetic"):
        load_dataset("synthetc", tmp_path)
