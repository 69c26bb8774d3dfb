"""Sphinx configuration of k49's documentation site: MyST Markdown pages, the furo theme, the
CLI reference generated from the typer app (sphinxcontrib-typer) and the API reference from the
docstrings (autodoc). `make docs` builds it with warnings as errors."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

from k49 import __version__  # noqa: E402

project = "k49"
author = "the k49 developers"
copyright = "the k49 developers (MIT); Kuzushiji-49: CODH, CC BY-SA 4.0"
release = version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinxcontrib.typer",
    "k49_docs",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "_ext", "sample-report/README.md"]
myst_enable_extensions = ["colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3

# Every cross-reference must resolve (a broken one fails the build); names from libraries
# k49 builds on are not documented here, so they are not checked.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|numpy|np|optuna|pydantic|pathlib|os|collections|typing|rich|fastapi|"
               r"starlette|datetime|concurrent|multiprocessing|click|typer|PIL|onnx|sklearn)"
               r"(\..*)?"),
    # pydantic's Field(...) metadata, as autodoc spells it inside Annotated[...]
    (r"py:class", r"(annotation=|required=|metadata=|default=|Ge|Gt|Le|Lt|ge=|gt=|le=|lt=).*"),
    (r"py:.*", r"(Path|NDArray|ArrayLike|Any|Callable|Iterable|Iterator|Sequence|Mapping|"
               r"Literal|Self|BaseModel|Tensor|Module|Console|Figure|FrozenTrial|Study|"
               r"ConfigDict|FieldInfo|PathLike|StrPath|T)"),
]
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": False}

html_theme = "furo"
html_title = f"k49 {version}"
html_static_path: list[str] = []
# k49's CLI is typer 0.29+, whose vendored click sphinx-click does not recognise; the typer
# directive renders each command's own --help.
suppress_warnings = ["myst.header"]
