"""A folder of one's own in K49's format as a dataset: `folder:PATH` or a plain path."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from k49.data import k49format
from k49.data.datasets import DATASETS, K49_CHARS, get_spec, normalize_name
from k49.data.fetch import fetch, verify
from k49.data.info import dataset_info
from k49.data.load import load_dataset
from k49.errors import K49Error


def arrays(n_classes=49, n_train=60, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % n_classes).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % n_classes).astype(np.int64),
    }


@pytest.fixture
def folder(tmp_path) -> Path:
    """A folder holding the four npz files and no class map."""
    d = tmp_path / "my set"
    k49format.write_k49_files(d, arrays(), K49_CHARS)
    (d / "k49_classmap.csv").unlink()
    return d


def error(name: str, data_dir=None) -> str:
    with pytest.raises(K49Error) as err:
        load_dataset(name, data_dir, progress=False)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_folder_loads_by_name_or_path(folder, tmp_path, monkeypatch):
    expected = arrays()
    name = f"folder:{folder}"
    ds = load_dataset(name, tmp_path / "unused", offline=True, progress=False)
    assert ds.name == name and ds.directory == folder
    for role, array in expected.items():
        np.testing.assert_array_equal(getattr(ds, role), array)
    assert ds.chars == K49_CHARS and not ds.synthetic and ds.synthetic_info is None
    assert ds.checksums == {
        p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()
    }
    assert len(ds.checksums) == 4
    assert "user folder" in ds.spec.label() and str(folder) in ds.spec.label()
    assert not (tmp_path / "unused").exists()  # nothing fetched or generated
    # a plain path, relative or not, names the same dataset
    monkeypatch.chdir(folder.parent)
    for alias in (str(folder), "my set", "folder:my set", "./my set"):
        assert normalize_name(alias) == name
        assert get_spec(alias).name == name
    assert normalize_name("k49") == "k49"


def test_class_map_names_the_classes(folder):
    k49format.write_classmap(folder / "k49_classmap.csv", [f"c{i}" for i in range(49)])
    ds = load_dataset(f"folder:{folder}", progress=False)
    assert ds.chars[:2] == ("c0", "c1") and ds.n_classes == 49
    assert "k49_classmap.csv" in ds.checksums and len(ds.checksums) == 5


def test_classes_beyond_49_are_named_by_index(tmp_path):
    k49format.write_k49_files(tmp_path, arrays(n_classes=60, n_train=120), K49_CHARS[:1])
    (tmp_path / "k49_classmap.csv").unlink()
    spec = get_spec(f"folder:{tmp_path}")
    assert spec.n_classes == 60 and spec.chars[59] == "59"
    assert spec.train_size == 120 and spec.test_size == 20 and sum(spec.test_counts) == 20
    ds = load_dataset(spec.name, progress=False)
    assert ds.train_labels.max() == 59


def test_fewer_classes_keep_k49_characters(tmp_path):
    k49format.write_k49_files(tmp_path, arrays(n_classes=10), K49_CHARS)
    (tmp_path / "k49_classmap.csv").unlink()
    assert get_spec(str(tmp_path)).chars == K49_CHARS


def test_labels_outside_the_class_map_are_refused(folder):
    k49format.write_classmap(folder / "k49_classmap.csv", ["a", "b", "c"])
    message = error(f"folder:{folder}")
    assert "0..2" in message and "k49-train-labels.npz" in message


def test_missing_file_is_one_line_error(folder):
    (folder / "k49-test-labels.npz").unlink()
    message = error(f"folder:{folder}")
    assert "k49-test-labels.npz" in message and str(folder) in message
    assert "k49-train-imgs.npz" in message  # says what a dataset folder holds


def test_bad_images_are_refused_by_the_loader(folder):
    np.savez_compressed(folder / "k49-train-imgs.npz", np.zeros((60, 28, 28), np.float32))
    message = error(str(folder))
    assert "uint8" in message and "k49-train-imgs.npz" in message


def test_split_sizes_must_match(folder):
    np.savez_compressed(folder / "k49-test-imgs.npz", np.zeros((3, 28, 28), np.uint8))
    assert "20 labels" in error(str(folder))


def test_nonexistent_folder_is_one_line_error(tmp_path):
    message = error(f"folder:{tmp_path / 'nowhere'}")
    assert "does not exist" in message and "nowhere" in message


def test_unknown_name_lists_the_valid_names_and_the_folder_form(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = error("kuzushiji")
    assert all(name in message for name in DATASETS) and "folder:PATH" in message


def test_a_folder_is_never_downloaded_and_its_files_are_present(folder, tmp_path):
    with pytest.raises(K49Error, match="never downloaded"):
        fetch(f"folder:{folder}", tmp_path, ["http://127.0.0.1:9/"], progress=False)
    assert set(verify(f"folder:{folder}", tmp_path).values()) == {"present"}


def test_data_info_describes_the_folder(folder, tmp_path):
    info = dataset_info(str(folder), tmp_path)
    assert info["dataset"] == f"folder:{folder}" and info["dir"] == str(folder)
    assert "user folder" in info["title"] and info["synthetic"] is False
    assert info["train_size"] == 60 and info["test_size"] == 20
    assert set(info["files"].values()) == {"present"} and len(info["checksums"]) == 4
    assert info["synthetic_info"] is None
