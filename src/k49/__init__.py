"""k49: train, compare and explain neural networks on Kuzushiji-49."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("k49")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

from k49.data.datasets import DATASETS, get_spec
from k49.data.load import Dataset, load_dataset
from k49.errors import K49Error

__all__ = ["DATASETS", "Dataset", "K49Error", "__version__", "get_spec", "load_dataset"]
