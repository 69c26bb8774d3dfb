"""The registry of the report's figures: each declared once, where it is drawn, with its caption.

    @figure("accuracy", caption="Accuracy ... of each model.")
    def accuracy_figure(inputs: FigureInputs) -> Maker | None: ...

    @figure("training_curves_<label>", caption="... of {model} ...", model="each")
    def training_curves_figure(inputs: FigureInputs, label: str) -> Maker | None: ...

    @figure("roc_nightmare", caption="...", model="best")
    def roc_figure(inputs: FigureInputs, label: str) -> Maker | None: ...

`model="each"` draws the figure once per model of the study (its stem holds `<label>`, its
caption `{model}`); `model="best"` draws it for the best model only, and not at all without one.
A figure of a sweep (`source="sweep"`) is built from the sweep summary instead of the study, and
its caption may be a function of that summary (it names the sweep's objectives).
A builder returns `make() -> Figure` (see `k49.viz.save_figure`), or None when the study lacks
what it needs. Figures come in the report in the order they are registered: the order in which
`figures/__init__.py` imports their modules, then their order within a module.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from k49.errors import WriteFailed
from k49.io import helper_processes, process_context
from k49.report.collect import CollectedRuns, RunRecord
from k49.report.figures.inputs import FigureInputs
from k49.report.figures.style import Maker
from k49.viz import THEMES, save_figure

#: The placeholder of the model's label in the stem of a per-model figure.
LABEL = "<label>"
#: How the caption of a per-model figure names the model when no study is given.
ANY_MODEL = "one model"

ModelChoice = Literal["each", "best"] | None
#: What a figure is drawn from: the study's runs, or a sweep's summary.
Source = Literal["study", "sweep"]


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report: its file stem (a pattern with `<label>` for a per-model
    figure), its one-sentence caption, and the function that builds it."""

    stem: str
    caption: str | Callable[[Any], str]
    build: Callable[..., Maker | None]
    model: ModelChoice = None
    source: Source = "study"

    def caption_for(self, label: str = ANY_MODEL, summary: Any = None) -> str:
        """The caption, naming model `label` if the figure is per model; a sweep figure's
        caption is written from its `summary`."""
        if callable(self.caption):
            return self.caption(summary)
        return self.caption.format(model=label) if self.model == "each" else self.caption

    def label_of(self, stem: str) -> str | None:
        """The model label in `stem` if `stem` is one of this figure's files ("" for a figure
        not per model), else None."""
        if self.model != "each":
            return "" if stem == self.stem else None
        head, tail = self.stem.split(LABEL)
        ok = stem.startswith(head) and stem.endswith(tail) and len(stem) > len(head + tail)
        return stem[len(head):len(stem) - len(tail)] if ok else None


#: Every figure of the report, in the report's order.
FIGURES: list[ReportFigure] = []


def figure(stem: str, *, caption: str | Callable[[Any], str], model: ModelChoice = None,
           source: Source = "study"):
    """Register the decorated builder as the report figure `stem` (see the module docstring)."""
    if (model == "each") != (LABEL in stem):
        raise ValueError(f"figure {stem!r}: a per-model figure (model='each') and only one has "
                         f"{LABEL} in its stem")
    if any(f.stem == stem for f in FIGURES):
        raise ValueError(f"figure {stem!r} is registered twice")

    def register(build: Callable[..., Maker | None]) -> Callable[..., Maker | None]:
        FIGURES.append(ReportFigure(stem, caption, build, model, source))
        return build

    return register


def figure_captions(study: CollectedRuns | None = None) -> dict[str, str]:
    """One sentence per figure stem, in the report's order.

    Without a study a per-model stem is its pattern (`training_curves_<label>`); with one it is
    expanded to each of the study's models.
    """
    out = {}
    for f in figures_of("study"):
        if f.model == "each" and study is not None:
            for label in study.labels():
                out[f.stem.replace(LABEL, label)] = f.caption_for(label)
        else:
            out[f.stem] = f.caption_for()
    return out


def caption(stem: str) -> str:
    """The caption of any stem `report_figures` writes ('' if unknown)."""
    # Fixed stems first: training_curves_all is not the curves of a model called "all".
    for f in sorted(figures_of("study"), key=lambda f: f.model == "each"):
        label = f.label_of(stem)
        if label is not None:
            return f.caption_for(label)
    return ""


#: One figure to draw: its stem, the index of its ReportFigure in FIGURES and the model label
#: (None for a figure not per model). Plain values, so a task can go to another process.
Task = tuple[str, int, str | None]


def tasks(inputs: FigureInputs) -> list[Task]:
    """Every figure the study asks for, in the report's order."""
    out: list[Task] = []
    for i, f in enumerate(FIGURES):
        if f.source != "study":
            continue
        if f.model is None:
            out.append((f.stem, i, None))
        elif f.model == "each":
            out += [(f.stem.replace(LABEL, lb), i, lb) for lb in inputs.study.labels()]
        elif inputs.best is not None:
            out.append((f.stem, i, inputs.best))
    return out


def builder(inputs: FigureInputs, task: Task) -> Callable[[], Maker | None]:
    """What draws `task`'s figure from `inputs`."""
    _, index, label = task
    f = FIGURES[index]
    return (lambda: f.build(inputs)) if label is None else (lambda: f.build(inputs, label))


def report_figures(
    study: CollectedRuns,
    out_dir: str | os.PathLike,
    *,
    train_counts: np.ndarray | None = None,
    test_images: np.ndarray | None = None,
    themes: Sequence[str] = THEMES,
    jobs: int | None = None,
) -> dict[str, list[Path]]:
    """Write every figure the study's runs allow; return {stem: its SVG and PNG paths}.

    `train_counts` and `test_images` are as in `FigureInputs`. A figure that cannot be drawn
    from this study is skipped; one that fails is skipped with a warning, so one bad run never
    stops the report. The figures are drawn by `jobs` processes at once (default:
    `k49.io.helper_processes`; matplotlib draws on one core), with the same files as one.
    """
    inputs = FigureInputs(study, train_counts, test_images)
    todo = tasks(inputs)
    jobs = min(helper_processes() if jobs is None else jobs, len(todo))
    if jobs <= 1:
        return draw(((t[0], builder(inputs, t)) for t in todo), out_dir, themes)
    return _draw_in_processes(inputs, todo, Path(out_dir), tuple(themes), jobs)


#: In a drawing process: the inputs every task reads (set once, when the process starts).
_inputs: FigureInputs | None = None


def _set_inputs(inputs: FigureInputs) -> None:
    global _inputs
    _inputs = inputs


def _draw_task(task: Task, out_dir: Path, themes: tuple[str, ...]
               ) -> tuple[list[Path] | None, list[str]]:
    """In a drawing process: `task`'s files (None if not drawn) and the warnings raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = draw([(task[0], builder(_inputs, task))], out_dir, themes)
    return written.get(task[0]), [str(w.message) for w in caught]


def _draw_in_processes(inputs: FigureInputs, todo: list[Task], out_dir: Path,
                       themes: tuple[str, ...], jobs: int) -> dict[str, list[Path]]:
    # Each process gets the study once, without the predictions it may have read already:
    # the figures that need them (the ROC curves, the confused pairs) read them again.
    light = copy.copy(inputs)
    light.study = copy.copy(inputs.study)
    light.study.runs = [_without_predictions(r) for r in inputs.study.runs]
    with ProcessPoolExecutor(jobs, mp_context=process_context(), initializer=_set_inputs,
                             initargs=(light,)) as pool:
        futures = [pool.submit(_draw_task, t, out_dir, themes) for t in todo]
        written = {}
        for task, future in zip(todo, futures, strict=True):
            paths, messages = future.result()  # a WriteFailed of a process is raised here
            for message in messages:
                warnings.warn(message, stacklevel=3)
            if paths is not None:
                written[task[0]] = paths
    return written


def _without_predictions(run: RunRecord) -> RunRecord:
    run = copy.copy(run)
    run.__dict__.pop("predictions", None)  # functools.cached_property's cache
    return run


def figures_of(source: Source) -> list[ReportFigure]:
    """The registered figures drawn from `source`, in the report's order."""
    return [f for f in FIGURES if f.source == source]


def draw(plan: Iterable[tuple[str, Callable[[], Maker | None]]], out_dir: str | os.PathLike,
         themes: Sequence[str] = THEMES) -> dict[str, list[Path]]:
    """Save each (stem, build) of `plan` that builds a figure, in every theme; return {stem:
    its SVG and PNG paths}. One that fails is skipped with a warning: one bad run (or trial)
    never stops the report. A failed write (`WriteFailed`: disk full, read-only) stops it."""
    out_dir = Path(out_dir)
    written: dict[str, list[Path]] = {}
    for stem, build in plan:
        try:
            make = build()
            if make is not None:
                written[stem] = save_figure(make, out_dir, stem, themes)
        except WriteFailed:  # the folder takes no more files: no later figure would be written
            raise
        except Exception as e:  # noqa: BLE001  (one figure must not stop the report)
            warnings.warn(f"figure {stem} skipped: {type(e).__name__}: {e}", stacklevel=2)
    return written
