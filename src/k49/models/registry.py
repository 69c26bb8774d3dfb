"""Models registered by name with a decorator, built by one factory (after timm).

A registered builder takes `num_classes` (and optional keyword arguments) and returns a torch
module that maps float images (B, 1, 28, 28) in [0, 1] to logits (B, num_classes), or, for the
kNN baseline, a scikit-learn estimator. Each entry carries its default optimizer, learning rate
and loss, so `k49 train NAME` needs nothing else.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from k49.errors import K49Error

FAMILIES = ("mlp", "cnn", "resnet", "knn")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str
    builder: Callable[..., Any]
    optimizer: str = "adam"
    lr: float = 1e-3
    loss: str = "cross_entropy"
    description: str = ""
    aliases: tuple[str, ...] = ()
    #: Suites this model belongs to ("original": the original study's 12; "paper").
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: Extra keyword arguments of the default optimizer (momentum, weight_decay, rho, eps), as
    #: a read-only mapping; `build_optimizer(e.optimizer, params, e.lr, **e.optimizer_kwargs)`.
    optimizer_kwargs: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), hash=False)
    #: Whether `forward(x, mix=...)` supports input and manifold mixup.
    mixup: bool = False
    #: Training settings (TrainConfig fields: epochs, batch_size, schedule, ema, ...) this
    #: model trains with unless the caller sets them: a registered training recipe.
    recipe: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    @property
    def is_torch(self) -> bool:
        return self.family != "knn"


_REGISTRY: dict[str, ModelEntry] = {}
_ALIASES: dict[str, str] = {}


def register_model(
    name: str | None = None,
    *,
    family: str,
    optimizer: str = "adam",
    lr: float = 1e-3,
    loss: str = "cross_entropy",
    description: str = "",
    aliases: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
    optimizer_kwargs: Mapping[str, Any] | None = None,
    mixup: bool = False,
    recipe: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register `builder` under `name` (default: the function's name)."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")

    def decorate(builder: Callable[..., Any]) -> Callable[..., Any]:
        key = name or builder.__name__
        for k in (key, *aliases):
            if k in _REGISTRY or k in _ALIASES:
                raise ValueError(f"model {k!r} is registered twice")
        doc = description or ((builder.__doc__ or "").strip().splitlines() or [""])[0]
        _REGISTRY[key] = ModelEntry(
            key, family, builder, optimizer, lr, loss, doc, tuple(aliases), tuple(tags),
            MappingProxyType(dict(optimizer_kwargs or {})), mixup,
            MappingProxyType(dict(recipe or {})),
        )
        for alias in aliases:
            _ALIASES[alias] = key
        return builder

    return decorate


def _ensure_loaded() -> None:
    # Importing the family modules runs their @register_model decorators.
    from k49.models import cnn, fast, knn, mlp, original, parametric, resnet  # noqa: F401


def _order(item: tuple[int, ModelEntry]) -> tuple[bool, int, int]:
    index, entry = item
    return ("original" not in entry.tags, FAMILIES.index(entry.family), index)


def list_models(family: str | None = None, tag: str | None = None) -> list[str]:
    """Registered names, optionally filtered by family or suite tag.

    The order does not depend on which model module was imported first: the seed study's
    models, then by family (mlp, cnn, resnet, knn), then in registration order.
    """
    _ensure_loaded()
    entries = sorted(enumerate(_REGISTRY.values()), key=_order)
    return [
        e.name for _, e in entries
        if (family is None or e.family == family) and (tag is None or tag in e.tags)
    ]


def get_entry(name: str) -> ModelEntry:
    """The entry for `name` or one of its aliases; a typo fails listing the close names."""
    _ensure_loaded()
    key = _ALIASES.get(name, name)
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(name, [*_REGISTRY, *_ALIASES], n=4, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise K49Error(f"unknown model {name!r}: {hint}run `k49 models` to list them")


def create_model(name: str, num_classes: int = 49, **kwargs: Any) -> Any:
    """Build model `name` for `num_classes` classes."""
    return get_entry(name).builder(num_classes=num_classes, **kwargs)
