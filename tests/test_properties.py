"""Property-based tests: the loaders, the run directory's readers and the metrics, fed random
arrays, bytes and files, return a valid result or raise a K49Error, never anything else.

Every test is derandomized (fixed examples, no example database) so that CI is reproducible.
"""

from __future__ import annotations

import csv
import io
import json
import math
import struct
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn import metrics as skm

from k49.data import k49format
from k49.data.k49format import check_images, check_labels, read_array, write_npz
from k49.data.load import load_dataset
from k49.errors import K49Error
from k49.evaluation import metrics as M
from k49.runs.records import HISTORY_FIELDS
from k49.runs.rundir import RunDir


def fast(n: int):
    """At most `n` examples, reproducible, with no time limit per example."""
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def outcome(fn, *args, **kwargs):
    """fn's result, or the K49Error it raised; any other exception fails the test."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-learn's UndefinedMetricWarning and the like
            return fn(*args, **kwargs)
    except K49Error as e:
        assert str(e) and "\n" not in str(e), f"not a one-line message: {e!r}"
        return e


# --- arrays --------------------------------------------------------------------------------

DTYPES = st.one_of(
    hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(), hnp.floating_dtypes(),
    hnp.boolean_dtypes(), hnp.complex_number_dtypes(), hnp.unicode_string_dtypes(max_len=3),
    hnp.byte_string_dtypes(max_len=3), hnp.datetime64_dtypes(),
)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
OBJECTS = st.lists(
    st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=3), st.booleans()),
    max_size=8,
).map(lambda xs: np.array(xs + [None], dtype=object)[:-1])
ARRAYS = st.one_of(hnp.arrays(DTYPES, SHAPES), OBJECTS)
#: What a caller may pass where an array is expected: arrays, and a few things that are not.
ANYTHING = st.one_of(
    ARRAYS,
    ARRAYS.map(lambda a: a.tolist()),
    st.sampled_from([None, "abc", {}, [[0.5, 0.5], [1.0]], [[1, 2], 3], 1.5, float("nan")]),
)


# --- metrics -------------------------------------------------------------------------------


def _set(a, index, value):
    a = np.array(a, copy=True)
    if isinstance(value, float) and a.dtype.kind in "biu":
        a = a.astype(np.float64)
    a[index] = value
    return a


#: Ways to spoil a valid (labels, probs) pair: each takes (y, p, rng) and returns a new pair.
CORRUPTIONS = {
    "nan": lambda y, p, r: (y, _set(p, (0, 0), float("nan"))),
    "inf": lambda y, p, r: (y, _set(p, (-1, -1), float("inf"))),
    "-inf": lambda y, p, r: (y, _set(p, (0, -1), -float("inf"))),
    "negative": lambda y, p, r: (y, _set(p, (0, 0), -0.25)),
    "scaled": lambda y, p, r: (y, p * r.uniform(0, 3)),
    "logits": lambda y, p, r: (y, r.normal(size=p.shape) * 3),
    "label too big": lambda y, p, r: (_set(y, 0, p.shape[-1] + r.integers(0, 3)), p),
    "label negative": lambda y, p, r: (_set(y, -1, -1), p),
    "one label less": lambda y, p, r: (y[:-1], p),
    "one label more": lambda y, p, r: (np.append(y, 0), p),
    "one row less": lambda y, p, r: (y, p[:-1]),
    "empty": lambda y, p, r: (y[:0], p[:0]),
    "no classes": lambda y, p, r: (y, p[:, :0]),
    "one class": lambda y, p, r: (np.zeros_like(y), np.ones((len(p), 1))),
    "probs 3-d": lambda y, p, r: (y, p[None]),
    "probs 1-d": lambda y, p, r: (y, p.ravel()),
    "probs 0-d": lambda y, p, r: (y, np.float64(0.5)),
    "labels 0-d": lambda y, p, r: (np.int64(0), p),
    "labels 2-d": lambda y, p, r: (y[:, None], p),
    "labels float": lambda y, p, r: (y.astype(np.float64), p),
    "labels bool": lambda y, p, r: (y.astype(bool), p),
    "labels str": lambda y, p, r: (y.astype(str), p),
    "labels object": lambda y, p, r: (y.astype(object), p),
    "labels uint64 max": lambda y, p, r: (_set(y.astype(np.uint64), 0, np.iinfo(np.uint64).max),
                                          p),
    "labels list": lambda y, p, r: (y.tolist(), p),
    "probs list": lambda y, p, r: (y, p.tolist()),
    "probs str": lambda y, p, r: (y, p.astype(str)),
    "probs letters": lambda y, p, r: (y, np.full(p.shape, "a")),
    "probs object": lambda y, p, r: (y, p.astype(object)),
    "probs with None": lambda y, p, r: (y, _set(p.astype(object), (0, 0), None)),
    "probs float16": lambda y, p, r: (y, p.astype(np.float16)),
    "probs float32": lambda y, p, r: (y, p.astype(np.float32)),
    "probs bool": lambda y, p, r: (y, p > 0.5),
    "probs complex": lambda y, p, r: (y, p + 1j),
    "probs one-hot int": lambda y, p, r: (y, np.eye(p.shape[1], dtype=np.int64)[p.argmax(1)]),
    "swapped": lambda y, p, r: (p, y),
    "probs None": lambda y, p, r: (y, None),
}


@st.composite
def metric_inputs(draw, max_corruptions: int = 2):
    """(labels, probs): a valid pair, spoilt in up to `max_corruptions` ways."""
    n = draw(st.integers(1, 12))
    c = draw(st.integers(1, 6))
    y = draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
    raw = draw(hnp.arrays(np.float64, (n, c), elements=st.floats(0, 1)))
    sums = raw.sum(axis=1, keepdims=True)
    p = np.where(sums > 0, raw / np.where(sums > 0, sums, 1), 1 / c)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    for name in draw(st.lists(st.sampled_from(sorted(CORRUPTIONS)), max_size=max_corruptions)):
        try:
            y, p = CORRUPTIONS[name](y, p, rng)
        except (IndexError, ValueError, TypeError, AttributeError, OverflowError):
            pass  # this corruption does not apply to what the previous one left
    return y, p


#: Odd values for the metrics' integer and string parameters.
ODD = [0, -1, 2.5, "3", None, True, np.int64(2), float("nan"), 10**20]
KS = st.one_of(st.integers(-2, 8), st.sampled_from(ODD))
AVERAGES = st.sampled_from(["macro", "weighted", "micro", None, 3, "MACRO"])


def in_unit(x) -> bool:
    return isinstance(x, float) and 0.0 <= x <= 1.0


def unit_or_nan(x) -> bool:
    return isinstance(x, float) and (math.isnan(x) or 0.0 <= x <= 1.0)


def unit_array(a, nan_ok: bool = False) -> bool:
    a = np.asarray(a, dtype=np.float64)
    ok = (a >= 0) & (a <= 1)
    return bool((ok | np.isnan(a)).all() if nan_ok else ok.all())


def valid_inputs(y, p) -> tuple[np.ndarray, np.ndarray]:
    """A metric returned: so y and p were a valid pair; as arrays (n,), (n, c)."""
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    assert y.ndim == 1 and p.ndim == 2 and len(y) == len(p) > 0
    assert np.issubdtype(y.dtype, np.integer) and 0 <= y.min() and y.max() < p.shape[1]
    assert np.isfinite(p).all() and np.allclose(p.sum(1), 1, atol=M.ROW_SUM_ATOL)
    return y, p


def check_result(name: str, result, y, p, kwargs) -> None:
    """Assert that `result` of metric `name` on (y, p) is a valid value of that metric."""
    y, p = valid_inputs(y, p)
    n, c = p.shape
    if name in ("accuracy", "balanced_accuracy", "top_k_accuracy", "f1"):
        assert in_unit(result), result
    elif name == "log_loss":
        assert isinstance(result, float) and math.isfinite(result) and result >= 0
    elif name == "per_class_scores":
        for key in ("precision", "recall", "f1"):
            assert result[key].shape == (c,) and unit_array(result[key]), result
        assert result["support"].sum() == n and (result["support"] >= 0).all()
    elif name == "roc_curves":
        assert result["auc"].shape == (c,) and unit_array(result["auc"], nan_ok=True)
        assert unit_or_nan(result["auc_micro"]) and unit_or_nan(result["auc_macro"])
        assert len(result["per_class"]) == c
    elif name == "confusion":
        counts, normalised = result["counts"], result["normalised"]
        assert counts.shape == (c, c) and counts.sum() == n and (counts >= 0).all()
        rows = normalised.sum(axis=1)
        assert np.allclose(rows[counts.sum(1) > 0], 1) and (rows[counts.sum(1) == 0] == 0).all()
    elif name == "calibration":
        assert in_unit(result["ece"]) and result["count"].sum() == n
        assert len(result["count"]) == kwargs["n_bins"]
        assert unit_array(result["accuracy"], nan_ok=True)
        assert unit_array(result["confidence"], nan_ok=True)
    elif name == "evaluate":
        json.dumps(result)
        assert result["n_samples"] == n and result["n_classes"] == c
        for key in ("accuracy", "balanced_accuracy", "top5_accuracy", "f1_macro",
                    "f1_weighted", "ece"):
            assert in_unit(result[key]), (key, result[key])
        for key in ("auc_micro", "auc_macro", "auc_inverse_frequency"):
            assert unit_or_nan(result[key]), (key, result[key])
        assert sum(map(sum, result["confusion"])) == n
        assert math.isfinite(result["log_loss"]) and result["log_loss"] >= 0
    else:
        raise AssertionError(f"no check for {name}")


PAIR_METRICS = ["accuracy", "balanced_accuracy", "top_k_accuracy", "log_loss",
                "per_class_scores", "f1", "roc_curves", "confusion", "calibration", "evaluate"]


def call_metric(name, y, p, k, average):
    """Metric `name` on (y, p), with `k` as its k or n_bins and `average` as its average."""
    kwargs = {"top_k_accuracy": {"k": k}, "f1": {"average": average},
              "calibration": {"n_bins": k}, "evaluate": {"n_bins": k}}.get(name, {})
    result = outcome(getattr(M, name), y, p, **kwargs)
    if not isinstance(result, K49Error):
        check_result(name, result, y, p, kwargs)


# The examples once raised something else than a K49Error (a ValueError or TypeError).
@pytest.mark.slow
@pytest.mark.parametrize("name", PAIR_METRICS)
@fast(60)
@given(pair=metric_inputs(), k=KS, average=AVERAGES)
@example(pair=(np.array([0]), np.array([["a"]])), k=1, average="macro")  # letters for probs
@example(pair=(np.array([0]), np.array([[1 + 1j]])), k=1, average="macro")  # complex probs
@example(pair=(np.array([0, 0]), np.array([[1.0], [1.0]])), k=1, average="macro")  # one class
@example(pair=(np.array([0, 0]), np.array([[0.5, 0.5], [1.0, 0.0]])), k=1,  # two classes,
         average="macro")  # one absent: scikit-learn's top-k took the binary case and failed
@example(pair=(np.array([0, 1]), np.full((2, 2), 0.5)), k="3", average="macro")
@example(pair=(np.array([0, 1]), np.full((2, 2), 0.5)), k=1.5, average="macro")
@example(pair=(np.array([0, 1]), np.full((2, 2), 0.5)), k=10**20, average="macro")
@example(pair=([[0, 1], [1]], np.full((2, 2), 0.5)), k=2, average="macro")  # ragged labels
def test_metrics_on_spoilt_inputs(name, pair, k, average):
    call_metric(name, *pair, k, average)


@pytest.mark.parametrize("name", PAIR_METRICS)
@fast(25)
@given(y=ANYTHING, p=ANYTHING, k=KS, average=AVERAGES)
def test_metrics_on_arbitrary_arrays(name, y, p, k, average):
    call_metric(name, y, p, k, average)


SAME_LENGTH = st.integers(0, 5).flatmap(lambda n: st.tuples(
    st.one_of(hnp.arrays(np.float64, n, elements=st.floats(0, 1) | st.just(float("nan"))),
              hnp.arrays(st.sampled_from([np.float64, np.float32, np.int64]), n)),
    hnp.arrays(st.sampled_from([np.int64, np.float64, np.uint8]), n),
))


@fast(150)
@given(pair=st.one_of(st.tuples(ANYTHING, ANYTHING), SAME_LENGTH))
@example(pair=(np.array([2.0]), np.array([1])))  # an AUC of 2 gave 2
@example(pair=(np.array([0.5, 0.7]), np.array([np.inf, np.inf])))  # 0 / 0
@example(pair=(np.array(["a"]), np.array([1])))
def test_inverse_frequency_auc(pair):
    aucs, counts = pair
    result = outcome(M.inverse_frequency_auc, aucs, counts)
    if not isinstance(result, K49Error):
        assert unit_or_nan(result), result


COUNTS = st.one_of(
    ANYTHING,
    st.integers(0, 5).flatmap(
        lambda c: hnp.arrays(st.sampled_from([np.int64, np.uint8, np.float64, np.int8]), (c, c))
    ),
)


@fast(120)
@given(counts=COUNTS, k=KS)
@example(counts=np.array([1, 2]), k=1)  # not 2-D
@example(counts=np.array([[0, 1], [2, 0]]), k=-1)  # gave all cells but the last
@example(counts=np.array([["a", "b"], ["c", "d"]]), k=1)
@example(counts=np.array([[0, 1], [2, 0]]), k="2")
def test_most_confused(counts, k):
    result = outcome(M.most_confused, counts, k=k)
    if isinstance(result, K49Error):
        return
    m = np.asarray(counts)
    assert isinstance(result, list) and len(result) <= k
    for i, j, count in result:
        assert all(type(v) is int for v in (i, j, count))
        assert i != j and count > 0 and count == m[i, j]
    assert [t[2] for t in result] == sorted((t[2] for t in result), reverse=True)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")  # scikit-learn's on a class missing
@fast(150)
@given(pair=metric_inputs(max_corruptions=0), k=st.integers(1, 6))
def test_metrics_on_valid_inputs_agree_with_sklearn(pair, k):
    y, p = pair
    n, c = p.shape
    predicted = p.argmax(1)
    accuracy = M.accuracy(y, p)
    assert accuracy == pytest.approx(skm.accuracy_score(y, predicted))
    balanced = M.balanced_accuracy(y, p)
    assert 0 <= balanced <= 1
    assert balanced == pytest.approx(skm.balanced_accuracy_score(y, predicted))
    if (p == p.max(axis=1, keepdims=True)).sum(axis=1).max() == 1:
        # Without ties: on ties, top-k takes the highest class index (as scikit-learn does),
        # argmax the lowest.
        assert M.top_k_accuracy(y, p, k=1) == pytest.approx(accuracy)
    k = min(k, c)
    top = [M.top_k_accuracy(y, p, k=i) for i in range(1, c + 1)]
    assert top == sorted(top) and top[-1] == pytest.approx(1.0) and 0 <= top[k - 1] <= 1
    cm = M.confusion(y, p)["counts"]
    assert cm.sum() == n and np.trace(cm) == round(accuracy * n)
    assert M.evaluate(y, p)["accuracy"] == accuracy


# --- loaders -------------------------------------------------------------------------------


def npz_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def npy_header(shape, dtype: str, body: bytes) -> bytes:
    """An npy file's header declaring `shape` and `dtype`, then `body` (of any length)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_2_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue() + body


#: Contents of one member of an npz file.
MEMBERS = st.one_of(
    ARRAYS.map(npy_bytes),
    st.binary(max_size=64),
    st.builds(npy_header,
              st.lists(st.one_of(st.integers(0, 4), st.integers(2**20, 2**62)), max_size=3),
              st.sampled_from(["|u1", "<i8", "<f4", "|O", "|V8", "<U2"]),
              st.binary(max_size=64)),
    st.builds(lambda a, cut: npy_bytes(a)[:cut], ARRAYS, st.integers(0, 200)),
)
MEMBER_NAMES = st.sampled_from(["arr_0.npy", "arr_0", "arr_1.npy", "labels.npy", "probs.npy",
                                "labels", "probs", "x.txt"])
NPZ_OF_MEMBERS = st.dictionaries(MEMBER_NAMES, MEMBERS, max_size=3).map(npz_bytes)


@st.composite
def damaged(draw, valid: bytes) -> bytes:
    """`valid` truncated, with bytes flipped, or with bytes inserted."""
    data = bytearray(valid)
    how = draw(st.sampled_from(["truncate", "flip", "insert"]))
    i = draw(st.integers(0, max(len(data) - 1, 0)))
    if how == "truncate":
        return bytes(data[:i])
    if how == "flip" and data:
        data[i] ^= draw(st.integers(1, 255))
        return bytes(data)
    return bytes(data[:i]) + draw(st.binary(min_size=1, max_size=8)) + bytes(data[i:])


def saved(array: np.ndarray, compression: int = zipfile.ZIP_STORED) -> bytes:
    """An npz file holding `array` as arr_0, its member stored or compressed."""
    return npz_bytes({"arr_0.npy": npy_bytes(array)}, compression)


def with_method(data: bytes, method: int) -> bytes:
    """The zip file `data` with its first member's compression method replaced."""
    b = bytearray(data)
    i, j = b.find(b"PK\x03\x04"), b.find(b"PK\x01\x02")
    b[i + 8:i + 10] = b[j + 10:j + 12] = struct.pack("<H", method)
    return bytes(b)


def flagged_encrypted(data: bytes) -> bytes:
    """The zip file `data` with its first member flagged as encrypted."""
    b = bytearray(data)
    b[b.find(b"PK\x01\x02") + 8] |= 1
    return bytes(b)


def raw_npy(header: bytes, body: bytes = b"") -> bytes:
    """An npy file (version 1.0) with `header` as it is."""
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


SMALL_VALID = hnp.arrays(st.sampled_from([np.uint8, np.int64, np.float32]), (3, 2))
COMPRESSIONS = st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                                zipfile.ZIP_LZMA])
FILE_BYTES = st.one_of(
    st.binary(max_size=300),
    st.just(b""),
    NPZ_OF_MEMBERS,
    st.builds(saved, SMALL_VALID, COMPRESSIONS).flatmap(damaged),
    st.builds(with_method, SMALL_VALID.map(saved), st.sampled_from([8, 12, 14, 99])),
)
VALID_NPZ = saved(np.arange(6, dtype=np.uint8).reshape(3, 2), zipfile.ZIP_DEFLATED)


def is_valid_array(a) -> bool:
    return isinstance(a, np.ndarray) and not a.dtype.hasobject


# The examples once raised something else than a K49Error, or returned bytes.
@pytest.mark.slow
@fast(250)
@given(data=FILE_BYTES)
@example(data=npz_bytes({"arr_0.npy": b"abc"}))  # no npy header: np.load gave the bytes
@example(data=npz_bytes({"arr_0.npy": raw_npy(b"{'descr': \"\"\"<f8\n")}))  # TokenError
@example(data=npz_bytes({"arr_0.npy": raw_npy(  # MemoryError (512 GiB)
    b"{'descr': '<f8', 'fortran_order': False, 'shape': (68719476736,), }\n")}))
@example(data=VALID_NPZ[:60] + bytes([VALID_NPZ[60] ^ 0x55]) + VALID_NPZ[61:])  # zlib.error
@example(data=with_method(VALID_NPZ, 99))  # NotImplementedError
@example(data=with_method(VALID_NPZ, 12))  # bz2's OSError
@example(data=flagged_encrypted(VALID_NPZ))  # RuntimeError
def test_read_array_on_damaged_and_random_files(data):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d, "x.npz")
        path.write_bytes(data)
        result = outcome(read_array, path)
    assert isinstance(result, K49Error) or is_valid_array(result), type(result)


@pytest.mark.slow
@fast(100)
@given(array=ARRAYS, writer=st.sampled_from(["savez", "savez_compressed", "write_npz"]))
def test_read_array_gives_back_what_was_written_or_refuses_pickles(array, writer):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d, "x.npz")
        if writer == "write_npz":
            if array.dtype.hasobject:
                return  # write_npz refuses to write pickles
            write_npz(path, array)
        else:
            getattr(np, writer)(path, array)
        result = outcome(read_array, path)
    if array.dtype.hasobject:
        assert isinstance(result, K49Error) and "pickle" in str(result)
    else:
        assert is_valid_array(result) and result.dtype == array.dtype
        np.testing.assert_array_equal(result, array)


IMAGES = st.one_of(
    ARRAYS,
    hnp.arrays(st.sampled_from([np.uint8, np.int8, np.float32]),
               st.tuples(st.integers(0, 3), st.sampled_from([27, 28]), st.sampled_from([28, 1]))),
)


@fast(100)
@given(images=IMAGES)
def test_check_images(images):
    result = outcome(check_images, images, Path("x.npz"))
    if not isinstance(result, K49Error):
        assert result.dtype == np.uint8 and result.ndim == 3 and result.shape[1:] == (28, 28)


LABELS = st.one_of(
    ARRAYS,
    hnp.arrays(st.one_of(hnp.integer_dtypes(), hnp.unsigned_integer_dtypes()), st.integers(0, 6)),
)


@pytest.mark.slow
@fast(200)
@given(labels=LABELS, n_classes=st.one_of(st.none(), st.integers(-1, 60)))
@example(labels=np.array([2**63], dtype=np.uint64), n_classes=None)  # became -2**63
def test_check_labels(labels, n_classes):
    result = outcome(check_labels, labels, n_classes, Path("x.npz"))
    if isinstance(result, K49Error):
        return
    assert result.dtype == np.int64 and result.shape == labels.shape and result.ndim == 1
    assert (result >= 0).all() and (n_classes is None or (result < n_classes).all())
    np.testing.assert_array_equal(result.astype(object), labels.astype(object))


@st.composite
def folder_file(draw, role: str, n: int) -> bytes | None:
    """The bytes of one of a folder's four npz files (None: missing)."""
    kind = draw(st.sampled_from(["valid", "valid", "valid", "array", "bytes", "damaged",
                                 "missing"]))
    if kind == "missing":
        return None
    if kind == "bytes":
        return draw(st.binary(max_size=100))
    if role.endswith("images"):
        array = draw(hnp.arrays(np.uint8, (n, 28, 28)))
    else:
        # Labels stay below 64: datasets.folder_spec names max(label) + 1 classes, so one huge
        # label would make it build a huge tuple of class names (not a K49Error: see the report).
        array = draw(hnp.arrays(st.sampled_from([np.uint8, np.int8, np.int64, np.uint64]), n,
                                elements=st.integers(0, 63)))
        if draw(st.booleans()) and n:
            array[0] = draw(st.integers(0, 60))
    if kind == "array":
        array = draw(ARRAYS)
        if array.dtype.kind in "iu":
            array = array % 64
    data = saved(array)
    return draw(damaged(data)) if kind == "damaged" else data


@st.composite
def folders(draw) -> dict[str, bytes | None]:
    n_train, n_test = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    names = k49format.file_names("k49")
    files = {names[role]: draw(folder_file(role, n_train if role.startswith("train") else n_test))
             for role in k49format.ARRAY_ROLES}
    files[names["classmap"]] = draw(st.one_of(
        st.none(), st.binary(max_size=40),
        st.integers(1, 60).map(lambda c: b"index,codepoint,char\n"
                               + b"".join(f"{i},,c{i}\n".encode() for i in range(c))),
    ))
    return files


@pytest.mark.slow
@fast(100)
@given(files=folders())
def test_load_dataset_on_a_folder_of_random_files(files):
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d, "set")
        folder.mkdir()
        for name, data in files.items():
            if data is not None:
                (folder / name).write_bytes(data)
        ds = outcome(load_dataset, f"folder:{folder}", Path(d, "unused"), offline=True,
                     progress=False)
    if isinstance(ds, K49Error):
        return
    for split in ("train", "test"):
        images, labels = ds.split(split)
        assert images.dtype == np.uint8 and images.ndim == 3 and images.shape[1:] == (28, 28)
        assert labels.dtype == np.int64 and labels.shape == (len(images),) and len(images) > 0
        assert labels.min() >= 0 and labels.max() < ds.n_classes


# --- the run directory's readers ----------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=8,
)
VALID_CONFIG = {"config": {"model": "NN_1_adam", "epochs": 2}, "config_hash": "abc"}
JSON_BYTES = st.one_of(
    st.binary(max_size=120),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    JSON_VALUES.map(lambda v: json.dumps({"config": v}).encode()),
    JSON_VALUES.map(lambda v: json.dumps({"config": {"model": v}}).encode()),
    damaged(json.dumps(VALID_CONFIG).encode()),
    st.sampled_from([b"[" * 100_000, b'{"a":' * 100_000, b"1" * 5000, b"-" + b"9" * 10_000,
                     b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", b"NaN", b'"\\ud800"']),
)


def history_csv(rows: list[dict[str, float]]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


VALID_HISTORY = history_csv([{k: i + 0.5 for k in HISTORY_FIELDS} for i in range(2)])
HISTORY_BYTES = st.one_of(
    st.binary(max_size=200),
    damaged(VALID_HISTORY),
    st.lists(st.lists(st.text(max_size=4), max_size=11).map(",".join), max_size=4)
    .map(lambda rows: ("\n".join([",".join(HISTORY_FIELDS), *rows]) + "\n").encode()),
    st.sampled_from([b"", b"\x00", b'"unterminated\n' * 3, b"a" * 200_000]),
)
PREDICTION_ARRAYS = st.one_of(
    ARRAYS,
    hnp.arrays(st.sampled_from([np.float32, np.int64]),
               st.tuples(st.integers(0, 3), st.integers(1, 3))),
    hnp.arrays(st.sampled_from([np.float32, np.int64]), st.integers(0, 3)),
)


def predictions_npz(labels, probs) -> bytes:
    """A predictions file as RunDir.write_predictions writes it, compressed."""
    buf = io.BytesIO()
    np.savez_compressed(buf, labels=labels, probs=probs)
    return buf.getvalue()


VALID_PREDICTIONS = predictions_npz(np.arange(3), np.full((3, 4), 0.25, np.float32))
PREDICTION_BYTES = st.one_of(
    st.binary(max_size=200),
    NPZ_OF_MEMBERS,
    st.builds(predictions_npz, PREDICTION_ARRAYS, PREDICTION_ARRAYS),
    damaged(VALID_PREDICTIONS),
)


def valid_predictions(result) -> bool:
    labels, probs = result
    return (isinstance(labels, np.ndarray) and isinstance(probs, np.ndarray)
            and labels.ndim == 1 and probs.ndim == 2 and len(labels) == len(probs)
            and np.issubdtype(labels.dtype, np.integer)
            and np.issubdtype(probs.dtype, np.floating))


READERS = {
    # reader: (file, contents, is the result valid)
    "read_config": (RunDir.CONFIG, JSON_BYTES,
                    lambda r: isinstance(r, dict) and isinstance(r["config"], dict)
                    and "model" in r["config"]),
    "read_timings": (RunDir.TIMINGS, JSON_BYTES, lambda r: isinstance(r, dict)),
    "read_metrics": (RunDir.METRICS, JSON_BYTES, lambda r: isinstance(r, dict)),
    "read_failure": (RunDir.FAILED, JSON_BYTES, lambda r: isinstance(r, str)),
    "read_history": (RunDir.HISTORY, HISTORY_BYTES,
                     lambda r: isinstance(r, list) and all(
                         list(row) == list(HISTORY_FIELDS)
                         and all(isinstance(v, float) for v in row.values()) for row in r)),
    "read_predictions": (RunDir.PREDICTIONS, PREDICTION_BYTES, valid_predictions),
}


#: (reader, the bytes of its file, or None for a folder in the file's place)
READER_CASES = st.sampled_from(sorted(READERS)).flatmap(
    lambda reader: st.tuples(st.just(reader), st.one_of(READERS[reader][1], st.none())))


# The examples once raised something else than a K49Error, or returned other arrays.
@pytest.mark.slow
@fast(500)
@given(case=READER_CASES)
@example(case=("read_config", b"[" * 100_000))  # RecursionError
@example(case=("read_metrics", b"1" * 5000))  # ValueError: an int of over 4300 digits
@example(case=("read_predictions", npz_bytes({"labels.npy": b"1", "probs.npy": b"2"})))  # bytes
@example(case=("read_predictions", predictions_npz(np.zeros((0, 1), np.float32), np.int8(0))))
@example(case=("read_predictions", predictions_npz(np.arange(3), np.ones((2, 2)))))
@example(case=("read_predictions",
               VALID_PREDICTIONS[:80] + bytes([VALID_PREDICTIONS[80] ^ 0x55])
               + VALID_PREDICTIONS[81:]))  # zlib.error
def test_run_dir_readers_on_random_and_damaged_files(case):
    reader, content = case
    name, _, is_valid = READERS[reader]
    with tempfile.TemporaryDirectory() as d:
        run = RunDir(Path(d, "run")).create()
        if content is None:
            run.file(name).mkdir()  # a folder where the file should be
        else:
            run.file(name).write_bytes(content)
        result = outcome(getattr(run, reader))
    assert isinstance(result, K49Error) or is_valid(result), result
