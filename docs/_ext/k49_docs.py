"""What k49's docs need beyond the stock extensions: a warning (an error under `-W`) for a
public name without a docstring."""

from __future__ import annotations

from sphinx.util import logging

logger = logging.getLogger(__name__)


def require_docstring(app, what, name, obj, options, lines) -> None:
    """A documented public function, class, method or module must say what it does."""
    public = not name.rsplit(".", 1)[-1].startswith("_")
    if public and what in {"function", "class", "method", "module", "exception"} \
            and not any(line.strip() for line in lines):
        logger.warning(f"{name} has no docstring: every public name of k49 says what it does",
                       type="k49", subtype="docstring")


def setup(app):
    app.connect("autodoc-process-docstring", require_docstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
