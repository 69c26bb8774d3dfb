"""The report's findings, written from the numbers (never fixed prose).

Every comparison of two models is a test (see `k49.report.comparisons`): a finding says one
model beat another only when the Holm-adjusted p-value is below 0.05 and the 95% interval of the
difference excludes 0, and otherwise that there is no detectable difference. A comparison
resting on a run that was still improving when training stopped says it holds for that
training budget only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from k49.formats import format_p, format_percent, format_seconds, p_value, points, signed
from k49.report import aggregate
from k49.report.collect import CollectedRuns
from k49.report.comparisons import ALPHA, NOUNS, WELCH, compare_all, excludes_zero
from k49.report.time_table import time_to_accuracy_rows

METRIC = aggregate.RANKING_METRIC
def _level(study: CollectedRuns, label: str) -> str:
    """"87.0%" for one seed, "87.0 ± 0.3%" for several (mean ± sd)."""
    values = aggregate.metric_values(study, label, METRIC)
    mean, sd = aggregate.mean(values), aggregate.sd(values)
    return format_percent(mean, sd if len(values) > 1 else None, digits=1)


def _interval(study: CollectedRuns, label: str) -> str:
    lo, hi = aggregate.interval(study, label, METRIC)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "95% CI —"
    kind = "t 95% CI" if len(aggregate.metric_values(study, label, METRIC)) > 1 else "95% CI"
    return f"{kind} {100 * lo:.1f}–{100 * hi:.1f}"


def _show(study: CollectedRuns, label: str) -> str:
    n = len(aggregate.metric_values(study, label, METRIC))
    seeds = f" over {n} seeds" if n > 1 else ""
    return f"{label} {_level(study, label)} balanced accuracy{seeds} ({_interval(study, label)})"


def _names(labels: Sequence[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _budget(study: CollectedRuns, c: dict[str, Any]) -> str:
    """" X was still improving: ... holds for this budget only." (or "")."""
    names = []
    for label in (c["a"], c["b"]):
        seeds = c["still_improving"][label]
        if not seeds:
            continue
        n = len(study.by_label(label))
        if n > 1:
            which = ", ".join(str(s) for s in seeds)
            label += (f" (all {n} seeds)" if len(seeds) == n else
                      f" ({'seed' if len(seeds) == 1 else 'seeds'} {which} of {n})")
        names.append(label)
    if not names:
        return ""
    verb = "was" if len(names) == 1 else "were"
    return (f" {_names(names)} {verb} still improving when training stopped: "
            f"{NOUNS[c['kind']]} holds for this budget only.")


def _on_seed(study: CollectedRuns, c: dict[str, Any]) -> str:
    if "seed_a" not in c:
        return ""
    sa, sb = c["seed_a"], c["seed_b"]
    if max(len(study.by_label(c["a"])), len(study.by_label(c["b"]))) < 2 and sa == sb:
        return ""
    return f" on seed {sa}" if sa == sb else f" on seeds {sa} and {sb}"


def _per_seed(c: dict[str, Any], winner: str) -> str:
    """"; per seed, unadjusted McNemar p < 0.05 for X on 3 of 3" (or "")."""
    rows = c.get("per_seed") or []
    if not rows:
        return ""
    sign = 1 if winner == c["a"] else -1
    loser = c["b"] if winner == c["a"] else c["a"]
    hits = [r for r in rows if r["mcnemar"]["p"] < ALPHA]
    mine = sum(sign * (r["mcnemar"]["a_only"] - r["mcnemar"]["b_only"]) > 0 for r in hits)
    text = f"; per seed, unadjusted McNemar p < {ALPHA} for {winner} on {mine} of {len(rows)}"
    if len(hits) > mine:
        text += f" and for {loser} on {len(hits) - mine}"
    return text


def comparison_sentence(study: CollectedRuns, c: dict[str, Any]) -> str:
    """One comparison of `compare_all` in words (see the module)."""
    a, b = c["a"], c["b"]
    lo, hi = c["ci"]
    welch = c["test"] == WELCH
    test = (f"Welch t-test {format_p(c['p_adjusted'])}" if welch
            else f"McNemar {format_p(c['p_adjusted'])}") + ", Holm-adjusted"
    title = c["title"]
    if c["test"] is None:
        body = (f"{a} {_level(study, a)} against {b} {_level(study, b)}; no paired test was "
                f"possible ({c['reason']}), so neither is said to beat the other.")
    elif c["significant"]:
        winner, loser = (a, b) if c["winner"] == a else (b, a)
        sign = 1 if winner == a else -1
        d, lo_w, hi_w = points(sign * c["difference"], *sorted((sign * lo, sign * hi)))
        if welch:
            na, nb = len(c["values_a"]), len(c["values_b"])
            nw, nl = (na, nb) if winner == a else (nb, na)
            over = f" over {nw} seeds each" if nw == nl else f" over {nw} and {nl} seeds"
        else:
            over = _on_seed(study, c)
        body = (f"{winner} beat {loser} by {d} points of balanced accuracy{over}, "
                f"{_level(study, winner)} against {_level(study, loser)} "
                f"(95% CI {lo_w}–{hi_w}; {test}{_per_seed(c, winner)}).")
        if c["kind"] == "batchnorm":
            stem = b
            title = f"BatchNorm {'helped' if winner == a else 'hurt'} {stem}"
    else:
        d, lo_t, hi_t = points(c["difference"], lo, hi)
        over = "" if welch else _on_seed(study, c)
        top = a if c["difference"] >= 0 else b
        what = no_win(c)
        but = ", but" if what == NOT_SIGNIFICANT else ";"
        body = (f"{what} in balanced accuracy between {a} and {b}{over}, "
                f"{_level(study, a)} against {_level(study, b)} ({a} − {b}: {d} points, "
                f"95% CI {lo_t} to {hi_t}{but} {test}{_per_seed(c, top)}).")
    return f"{title}: {body}{_budget(study, c)}"


NOT_SIGNIFICANT, NOT_DETECTABLE = "no significant difference", "no detectable difference"


def no_win(c: dict[str, Any]) -> str:
    """How a comparison without a winner is named: an interval clear of 0 with a test that
    does not reject (after Holm) is "no significant difference", else "no detectable"."""
    return NOT_SIGNIFICANT if excludes_zero(c["ci"]) else NOT_DETECTABLE


#: The question each kind of comparison answers, for the report's table of answers.
QUESTIONS = {"architecture": "Does the best CNN beat the best NN?",
             "optimizer": "Adam or SGD?", "batchnorm": "Does BatchNorm help?",
             "depth": "Does a second layer help?"}


def answers(study: CollectedRuns, result: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """The comparisons as short answers, one row each, for the table the report opens with:
    the question, the two models (a − b), the answer (the winner; "no significant difference"
    when only the interval excludes 0; else "no detectable difference"), the difference in
    points with its 95% CI, the Holm-adjusted p, and which model was still improving when
    training stopped ("both", one name, or "no")."""
    result = result if result is not None else compare_all(study)
    rows = []
    for c in result["comparisons"]:
        lo, hi = c["ci"]
        d, lo_t, hi_t = points(c["difference"], lo, hi)
        if c["test"] is None:
            answer = "no paired test"
        elif c["significant"]:
            answer = f"{c['winner']} is better"
        else:
            answer = no_win(c)
        improving = [label for label in (c["a"], c["b"]) if c["still_improving"][label]]
        rows.append({"question": QUESTIONS[c["kind"]],
                     "compared": f"{c['a']} − {c['b']}", "answer": answer,
                     "difference": f"{d} ({lo_t} to {hi_t})",
                     "p_adjusted": p_value(c["p_adjusted"]),
                     "still_improving": "both" if len(improving) == 2 else
                     (improving[0] if improving else "no")})
    return rows


def holm_note(result: dict[str, Any]) -> str | None:
    m = result["family_size"]
    if not result["comparisons"]:
        return None
    return (f"p-values are Holm-adjusted over the {m} comparison{'s' if m != 1 else ''} of this "
            f"report; a model is said to beat another only when the adjusted p < {ALPHA} and the "
            "95% CI of the difference excludes 0.")


def comparison_findings(study: CollectedRuns, result: dict[str, Any] | None = None) -> list[str]:
    """Every comparison in words, then how their p-values were adjusted."""
    result = compare_all(study) if result is None else result
    lines = [comparison_sentence(study, c) for c in result["comparisons"]]
    note = holm_note(result)
    return lines + ([note] if note else [])


def best_for_cost(study: CollectedRuns, tolerance: float = 0.01) -> list[str]:
    """The best model, and the smallest one within `tolerance` of it: the seed's conclusion."""
    labels = study.labels()
    best = aggregate.best(study, labels)
    if best is None:
        return []
    mean = {lb: aggregate.metric_mean(study, lb) for lb in labels}
    top = mean[best]
    params = {lb: study.by_label(lb)[0].metrics.get("params") or 0 for lb in labels}
    close = [lb for lb in labels if mean[lb] >= top - tolerance and params[lb] > 0]
    out = [f"Best model: {_show(study, best)}, {params[best]:,} trainable parameters."]
    if close:
        small = min(close, key=lambda lb: params[lb])
        if small != best:
            out.append(
                f"Best for its size: {small} comes within {signed(100 * (top - mean[small]), 2)}"
                f" points of {best} with {params[small]:,} parameters "
                f"({params[best] / max(params[small], 1):.1f}x fewer): the smallest model that is "
                "as good wins.")
        else:
            out.append(f"No model within {signed(100 * tolerance, 2)} points of {best} is "
                       "smaller: it is also the best for its size.")
    return out


def imbalance_findings(study: CollectedRuns, train_counts=None) -> list[str]:
    """Do rare classes suffer? Recall of the rarest classes against the rest, best model."""
    labels = study.labels()
    by_bal = aggregate.best(study, labels)
    if by_bal is None:
        return []
    best = study.representative(by_bal)
    per_class = best.metrics.get("per_class") or {}
    if "recall" not in per_class:
        return []
    recall = np.asarray(per_class["recall"], dtype=float)
    counts = np.asarray(train_counts if train_counts is not None
                        else per_class["support"], dtype=float)
    order = np.argsort(counts)
    rare, rest = order[:5], order[5:]
    chars = study.spec.chars
    rare_recall, rest_recall = aggregate.mean(recall[rare]), aggregate.mean(recall[rest])
    verdict = "hurts" if rest_recall - rare_recall > 0.02 else "does not clearly hurt"
    lines = [f"Imbalance {verdict} the rare classes: the 5 rarest "
             f"({' '.join(chars[i] for i in rare)}) have a mean recall of "
             f"{100 * (rare_recall):.2f}% with {best.label}, against {100 * (rest_recall):.2f}%"
             " for the others."]
    by_acc, by_auc = (aggregate.best(study, labels, key)
                      for key in ("accuracy", "auc_inverse_frequency"))
    if by_acc != by_bal or by_acc != by_auc:
        lines.append(f"The metrics disagree on which model has the highest mean: accuracy picks "
                     f"{by_acc}, balanced accuracy {by_bal}, inverse-frequency AUC {by_auc}.")
    else:
        lines.append(f"Accuracy, balanced accuracy and inverse-frequency AUC agree on the model "
                     f"with the highest mean ({by_bal}).")
    return lines


def time_findings(study: CollectedRuns) -> list[str]:
    """The fastest model to 95% of the best final validation balanced accuracy, against the
    training time of the model that set it (none without a history)."""
    rows = time_to_accuracy_rows(study)
    if not rows:
        return []
    best = next(r for r in rows if r["model"] == r["target_model"])
    target, name = f"{100 * best['target']:.1f}%", best["model"]
    what = f"95% of {name}'s final validation balanced accuracy ({target})"
    tail = " (validation split; evaluation time excluded)." + _subset_caveat(study)
    reached = [r for r in rows if r["seconds_to_95"] is not None]
    if not reached:
        return [f"Time to accuracy: no model reached {what} on every seed{tail}"]
    fast = min(reached, key=lambda r: r["seconds_to_95"])  # a tie: the study's first
    # format_seconds, like the time table: "1 min 04 s" in both
    to_95, to_end = format_seconds(fast["seconds_to_95"]), format_seconds(best["train_seconds"])
    if fast is best:
        return [f"Time to accuracy: {name}, whose final validation balanced accuracy ({target}) "
                f"is the target, was also the fastest to reach 95% of it, in {to_95} of its "
                f"{to_end} of training{tail}"]
    return [f"Time to accuracy: {fast['model']} reached {what} in {to_95} of training, "
            f"against {to_end} for {name} to finish{tail}"]


def _subset_caveat(study: CollectedRuns) -> str:
    """" All runs trained on a subset: ..." when they did (the demo), else ""."""
    limits = {r.config.get("config", {}).get("limit_train") for r in study.ok_runs}
    if None in limits or not limits:
        return ""
    size = f"{max(limits):,}-image" if len(limits) == 1 else "reduced"
    return (f" The runs trained on a {size} subset of the training set, so each epoch is a few "
            "optimizer steps: a recipe made for the full set (such as resnet_fast) has far "
            "fewer steps here than it was tuned for, and the order can change on the full set.")


def missing_findings(study: CollectedRuns) -> list[str]:
    bad = [r for r in study.runs if not r.ok]
    return [f"{len(bad)} run(s) missing or failed and left out: "
            + ", ".join(f"{r.label} seed {r.seed} ({r.status})" for r in bad) + "."] if bad else []


def findings(study: CollectedRuns, train_counts=None,
             comparisons: dict[str, Any] | None = None) -> list[str]:
    """Every finding the numbers support, most important first. `comparisons` is
    `compare_all(study)` when the caller has it already."""
    return [line for line in (
        *best_for_cost(study), *comparison_findings(study, comparisons),
        *imbalance_findings(study, train_counts), *time_findings(study),
        *missing_findings(study),
    ) if line]
