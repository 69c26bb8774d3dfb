"""Every comparison of the report as a paired test, and all of them as one family.

The report compares pairs of models (best CNN against best NN; Adam against SGD; BatchNorm or
not; two hidden layers against one). Each pair, A against B, is tested on balanced accuracy:

- when either side has a single seed: on their lowest shared seed (else each one's
  representative run, provided both were tested on the same labels), the paired bootstrap of
  A − B over the test images (`stats.paired_difference`: both models scored on the same
  stratified resamples) gives the 95% interval, and McNemar's exact test on the images only one
  of them gets right gives the p-value;
- when both have several seeds: Welch's t-test on the seeds' balanced accuracies gives the
  interval and the p-value, and each shared seed gets its own paired bootstrap and McNemar test.

The p-values of all the report's comparisons are Holm-adjusted together, and a model is said to
beat another only when its adjusted p < ALPHA and the interval of the difference excludes 0.
`compare_all` returns everything needed to recompute each number with `k49.evaluation.stats`
from the runs' test_predictions.npz; `write_comparisons` saves it as comparisons.json.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from k49.errors import K49Error
from k49.evaluation.convergence import RULE
from k49.evaluation.stats import LEVEL, holm, paired_difference, welch
from k49.formats import finite_or_none
from k49.io import write_json
from k49.report import aggregate
from k49.report.collect import CollectedRuns, RunRecord

#: The metric every comparison is on, and the level under which a difference is a win.
METRIC = aggregate.RANKING_METRIC
ALPHA = 0.05
PAIRED = "paired bootstrap + McNemar exact"
WELCH = "Welch t-test"


@dataclass(frozen=True)
class Pair:
    """One comparison: `a` against `b` (the difference is a − b)."""

    kind: str  # "architecture", "optimizer", "batchnorm" or "depth"
    title: str
    a: str
    b: str


#: How a finding names its comparison when it is only true for the training budget.
NOUNS = {"architecture": "the CNN-against-NN comparison", "optimizer": "the optimizer comparison",
         "batchnorm": "the BatchNorm comparison", "depth": "the depth comparison"}


def _family(study: CollectedRuns, family: str) -> list[str]:
    return [lb for lb in study.labels() if study.by_label(lb)[0].family == family]


def pairs(study: CollectedRuns) -> list[Pair]:
    """The report's comparisons whose two models both have a good run, in the findings' order."""
    out = []
    nn, cnn = (aggregate.best(study, _family(study, fam)) for fam in ("mlp", "cnn"))
    if nn and cnn:
        out.append(Pair("architecture", "Best CNN against best NN", cnn, nn))
    for stem in ("NN_1", "NN_2", "CNN_1", "CNN_2"):
        out.append(Pair("optimizer", f"Optimizer ({stem})", f"{stem}_adam", f"{stem}_sgd"))
    for stem in ("NN_dense", "CNN_dense"):
        out.append(Pair("batchnorm", f"BatchNorm ({stem})", f"{stem}_batch_norm", stem))
    for kind in ("NN", "CNN"):
        for opt, name in (("sgd", "SGD"), ("adam", "Adam")):
            out.append(Pair("depth", f"Depth ({kind}, {name})", f"{kind}_2_{opt}",
                            f"{kind}_1_{opt}"))
    present = set(study.labels())
    return [p for p in out if p.a in present and p.b in present]


# ---------------------------------------------------------------------------------------------
# The tests


def _predictions(run: RunRecord) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        labels, probs = run.predictions
    except (K49Error, OSError, TypeError, ValueError, KeyError):
        return None
    return np.asarray(labels), np.asarray(probs)


def _paired(ra: RunRecord, rb: RunRecord) -> tuple[dict[str, Any] | None, str | None]:
    """The paired bootstrap and McNemar test of two runs, or None and why not."""
    pa, pb = _predictions(ra), _predictions(rb)
    if pa is None or pb is None:
        missing = " and ".join(f"{r.label} seed {r.seed}" for r, p in ((ra, pa), (rb, pb))
                               if p is None)
        return None, f"the test predictions of {missing} could not be read"
    if pa[0].shape != pb[0].shape or not np.array_equal(pa[0], pb[0]) \
            or pa[1].shape != pb[1].shape:
        return None, "they were tested on different test sets"
    try:
        return paired_difference(pa[0], pa[1], pb[1], metric=METRIC), None
    except K49Error as e:
        return None, str(e)


def _seed_values(study: CollectedRuns, label: str) -> tuple[list[Any], list[float]]:
    """The seeds of `label` with a finite METRIC, and those values."""
    pairs_ = [(r.seed, v) for r in sorted(study.by_label(label), key=lambda r: r.seed or 0)
              if (v := finite_or_none(r.metrics.get(METRIC))) is not None]
    return [s for s, _ in pairs_], [v for _, v in pairs_]


def _pick(study: CollectedRuns, a: str, b: str) -> tuple[RunRecord, RunRecord]:
    """The runs a single-seed comparison pairs: the lowest shared seed, else the
    representatives."""
    runs_a = {r.seed: r for r in study.by_label(a) if r.seed is not None}
    runs_b = {r.seed: r for r in study.by_label(b) if r.seed is not None}
    shared = sorted(set(runs_a) & set(runs_b))
    if shared:
        return runs_a[shared[0]], runs_b[shared[0]]
    return study.representative(a), study.representative(b)


def _shared_runs(study: CollectedRuns, a: str, b: str) -> list[tuple[RunRecord, RunRecord]]:
    runs_a = {r.seed: r for r in study.by_label(a) if r.seed is not None}
    runs_b = {r.seed: r for r in study.by_label(b) if r.seed is not None}
    return [(runs_a[s], runs_b[s]) for s in sorted(set(runs_a) & set(runs_b))]


def _bootstrap(d: dict[str, Any]) -> dict[str, Any]:
    return {"difference": d["difference"], "ci": d["ci"], "mcnemar": d["mcnemar"],
            "n_resamples": d["n_resamples"], "bootstrap_seed": d["seed"]}


def compare(study: CollectedRuns, pair: Pair) -> dict[str, Any]:
    """The numbers of one comparison, before the family's adjustment (see the module)."""
    a, b = pair.a, pair.b
    (seeds_a, va), (seeds_b, vb) = _seed_values(study, a), _seed_values(study, b)
    out: dict[str, Any] = {
        "kind": pair.kind, "title": pair.title, "a": a, "b": b, "metric": METRIC,
        "level": LEVEL, "seeds_a": seeds_a, "values_a": va, "seeds_b": seeds_b, "values_b": vb,
        "mean_a": aggregate.mean(va), "sd_a": aggregate.sd(va),
        "mean_b": aggregate.mean(vb), "sd_b": aggregate.sd(vb),
        "still_improving": {a: aggregate.still_improving(study, a),
                            b: aggregate.still_improving(study, b)},
    }
    if len(va) > 1 and len(vb) > 1:
        w = welch(va, vb, LEVEL)
        out.update(test=WELCH, difference=w["difference"], ci=w["ci"], p=w["p"])
        per_seed = []
        for ra, rb in _shared_runs(study, a, b):
            d, _ = _paired(ra, rb)
            if d is not None:
                per_seed.append({"seed": ra.seed, **_bootstrap(d)})
        out["per_seed"] = per_seed
        return out
    ra, rb = _pick(study, a, b)
    out.update(seed_a=ra.seed, seed_b=rb.seed)
    d, why = _paired(ra, rb)
    if d is None:
        out.update(test=None, difference=out["mean_a"] - out["mean_b"], ci=[math.nan] * 2,
                   p=math.nan, reason=why)
    else:
        out.update(test=PAIRED, **_bootstrap(d), p=d["mcnemar"]["p"])
    return out


def excludes_zero(ci: Sequence[float]) -> bool:
    lo, hi = ci
    return bool(math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0))


def compare_all(study: CollectedRuns) -> dict[str, Any]:
    """Every comparison of the report, its p-value Holm-adjusted over the family, and whether
    it is a win (adjusted p < ALPHA and the interval excludes 0): {"comparisons": [...], ...}."""
    results = [compare(study, p) for p in pairs(study)]
    adjusted = holm([r["p"] for r in results])
    for r, q in zip(results, adjusted, strict=True):
        r["p_adjusted"] = q
        r["significant"] = bool(math.isfinite(q) and q < ALPHA and excludes_zero(r["ci"]))
        r["winner"] = (r["a"] if r["ci"][0] > 0 else r["b"]) if r["significant"] else None
    return {"metric": METRIC, "level": LEVEL, "alpha": ALPHA, "adjustment": "holm",
            "family_size": sum(math.isfinite(q) for q in adjusted),
            "rule": (f"A beats B when the Holm-adjusted p < {ALPHA} and the {LEVEL:.0%} "
                     "interval of A − B excludes 0"),
            "convergence_rule": RULE, "comparisons": results}


def _clean(x: Any) -> Any:
    """JSON without NaN: non-finite floats become null; numpy scalars become Python's."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_comparisons(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write `compare_all`'s result as JSON (atomically; NaN as null)."""
    return write_json(path, _clean(result))


# ---------------------------------------------------------------------------------------------
# The notes


def statistics_note(study: CollectedRuns, result: dict[str, Any]) -> str:
    """How the report's intervals and tests were made, read from the runs' metrics.json."""
    made = {(i.get("n_resamples"), i.get("seed"), i.get("level")) for r in study.ok_runs
            if isinstance(i := r.metrics.get("intervals"), dict)}
    without = sum(not isinstance(r.metrics.get("intervals"), dict) for r in study.ok_runs)
    if made:
        resamples = ", ".join(f"{n:,}" if isinstance(n, int) else str(n)
                              for n in sorted({m[0] for m in made}, key=str))
        seeds = ", ".join(sorted({str(m[1]) for m in made}))
        levels = ", ".join(sorted({f"{m[2]:.0%}" if isinstance(m[2], float) else str(m[2])
                                   for m in made}))
        text = (f"each run's intervals are {levels} percentile intervals of a stratified "
                f"bootstrap of its test images ({resamples} resamples drawn within each class, "
                f"bootstrap seed {seeds})")
    else:
        text = "no run has bootstrap intervals"
    if without:
        text += (f"; {without} run(s) evaluated by an older k49 have none (`k49 report "
                 "--recompute` adds them)")
    m = result["family_size"]
    return (f"{text}; a model's mean over several seeds has Student's t {LEVEL:.0%} interval. "
            f"Two models are compared on {METRIC.replace('_', ' ')}: with one seed, by a paired "
            "bootstrap of the difference on the same resamples and McNemar's exact test on the "
            "images only one of them gets right; with several seeds on both sides, by Welch's "
            f"t-test across seeds. p-values are Holm-adjusted over the {m} comparison"
            f"{'s' if m != 1 else ''} of this report; {result['rule']}.")
