"""The generalisation measure: does a model trained on the synthetic set read renderings of the
same characters that it never saw? (k49.data.synthetic.transfer, leave-fonts-out.)

For each generator asked for (this tree, with optional Difficulty overrides, or an older
revision from git, run from a temporary worktree), generate the set at --scale with the
held-out fonts left out, train --model under the measure's protocol, and score it on the
set's own test split and on the two measure sets (the held-out fonts drawn by Pillow, "other
path", the headline; and by k49's pipeline with every mechanism off, "plain"), with each
class's diversity in the training split beside it. Every score is on synthetic data, not K49.

    python benchmarks/bench_transfer.py                             # this tree's generator
    python benchmarks/bench_transfer.py --rev 21e37d0 --rev HEAD    # version 1 against HEAD
    python benchmarks/bench_transfer.py --set variant_share=0       # a mechanism changed
    python benchmarks/bench_transfer.py --without "house style"     # a mechanism off

Results: --results FILE (default: print only). Sets and runs are cached under --root by what
makes them (an interrupted benchmark resumes).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout

from k49.data.load import load_dataset  # noqa: E402
from k49.data.synthetic import cache_key, generate  # noqa: E402
from k49.data.synthetic.difficulty import DIFFICULTY, MECHANISMS, Difficulty  # noqa: E402
from k49.data.synthetic.transfer import (  # noqa: E402
    HELD_OUT_FAMILIES,
    PER_CLASS,
    class_diversity,
    measure_sets,
)
from k49.deploy.predict import Predictor  # noqa: E402
from k49.evaluation.metrics import balanced_accuracy  # noqa: E402
from k49.evaluation.run import evaluate_run  # noqa: E402
from k49.runs.config import TrainConfig  # noqa: E402
from k49.training.trainer import train  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: The measure's protocol: a seed CNN, briefly trained on a small set (about 2 minutes on a
#: 2-core CPU), so that generator versions and mechanisms can be compared side by side.
PROTOCOL = {"model": "CNN_dense_batch_norm", "epochs": 2, "limit_train": 12000,
            "scale": 0.06, "seed": 0}

#: Run inside an older revision's worktree: its generate(), with the held-out system fonts
#: filtered out of what its font finder sees (the same leave-fonts-out as this tree's).
_OLD_GENERATE = """
import sys
from matplotlib.ft2font import FT2Font
from k49.data.synthetic import fonts
from k49.data.synthetic.pipeline import generate
families, data_dir = tuple(sys.argv[1].split("|")), sys.argv[2]
scale, seed = float(sys.argv[3]), int(sys.argv[4])
found = fonts.system_font_paths
def family(p):
    try:
        return FT2Font(str(p)).family_name
    except Exception:
        return ""
fonts.system_font_paths = lambda: [p for p in found() if not family(p).startswith(families)]
import k49
assert k49.__file__.startswith(sys.argv[5]), k49.__file__
generate(data_dir, scale=scale, seed=seed, progress=False)
"""


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def make_set(root: Path, rev: str | None, difficulty: Difficulty, scale: float, seed: int):
    """The held-out-fonts set of this tree (rev None) or of git revision `rev`, generated once."""
    if rev is None:
        key = _key("tree", cache_key(), dataclasses.asdict(difficulty), scale, seed)
        data_dir = root / f"set-{key}"
        if not (data_dir / "synthetic" / "synthetic.json").exists():
            generate(data_dir, scale=scale, seed=seed, progress=False, difficulty=difficulty,
                     exclude_families=HELD_OUT_FAMILIES)
        return data_dir, load_dataset("synthetic", data_dir, offline=True, progress=False)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", rev], capture_output=True,
                            text=True, check=True).stdout.strip()
    data_dir = root / f"set-{_key('rev', commit, scale, seed)}"
    if not (data_dir / "synthetic" / "synthetic.json").exists():
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp) / "tree"
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree),
                            commit], check=True, capture_output=True)
            try:
                subprocess.run([sys.executable, "-c", _OLD_GENERATE, "|".join(HELD_OUT_FAMILIES),
                                str(data_dir), str(scale), str(seed), str(tree)],
                               env={**os.environ, "PYTHONPATH": str(tree / "src")},
                               check=True)
            finally:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                                str(tree)], check=False, capture_output=True)
    # An older generator's set is read as a folder of K49-format files, as it is.
    return data_dir, load_dataset(f"folder:{data_dir / 'synthetic'}", progress=False)


def measure(label: str, data_dir: Path, ds, root: Path, sets: dict, protocol: dict) -> dict:
    """Train the protocol's model on `ds` and score it on its own test split and on `sets`."""
    run_dir = root / "runs" / data_dir.name / protocol["model"]
    config = TrainConfig(model=protocol["model"], dataset=ds.name, data_dir=str(data_dir),
                         epochs=protocol["epochs"], limit_train=protocol["limit_train"],
                         seed=protocol["seed"])
    result = train(config, run_dir, dataset=ds, quiet=True)
    own = evaluate_run(run_dir)["balanced_accuracy"]
    predictor = Predictor.from_run(run_dir)
    scores = {name: balanced_accuracy(y, predictor.proba(x)) for name, (x, y) in sets.items()}
    return {"label": label, "own_test_balanced_accuracy": own,
            "transfer_balanced_accuracy": scores,
            "diversity": class_diversity(ds.train_images, ds.train_labels),
            "train_seconds": result.timings["train_seconds"], "set": str(data_dir),
            "run_dir": str(run_dir)}


def parse_overrides(items: list[str], without: list[str] = ()) -> Difficulty:
    """The default Difficulty with `FIELD=JSON` changes and `without` mechanisms turned off."""
    fields = {f.name for f in dataclasses.fields(Difficulty)}
    change = {}
    for item in items:
        name, _, text = item.partition("=")
        if name not in fields:
            raise SystemExit(f"--set {item}: no Difficulty field {name!r}; fields: "
                             f"{', '.join(sorted(fields))}")
        value = json.loads(text)
        change[name] = tuple(value) if isinstance(value, list) else value
    difficulty = dataclasses.replace(DIFFICULTY, **change)
    for name in without:
        if name not in MECHANISMS:
            raise SystemExit(f"--without {name!r}: use one of {', '.join(MECHANISMS)}")
        difficulty = difficulty.without(name)
    return difficulty


_SETS: dict[int, dict] = {}


def transfer_row(root: Path, difficulty: Difficulty, label: str, rev: str | None = None,
                 protocol: dict = PROTOCOL) -> dict:
    """The measure of one generator (this tree's with `difficulty`, or git revision `rev`'s)."""
    if PER_CLASS not in _SETS:  # the same images for every generator: made once
        _SETS[PER_CLASS] = measure_sets(PER_CLASS)
    data_dir, ds = make_set(root, rev, difficulty, protocol["scale"], protocol["seed"])
    return measure(label, data_dir, ds, root, _SETS[PER_CLASS], protocol)


def row_text(r: dict) -> str:
    t = r["transfer_balanced_accuracy"]
    d = r["diversity"]
    return (f"{r['label']:<34} own {100 * r['own_test_balanced_accuracy']:6.2f}%  other path "
            f"{100 * t['other path']:6.2f}%  plain {100 * t['plain']:6.2f}%  spread "
            f"{d['spread_median']:.2f}  nearest {d['nearest_median']:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", action="append", default=[],
                        help="a git revision whose generator to measure (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=JSON",
                        help="this tree's generator with a Difficulty field changed")
    parser.add_argument("--without", action="append", default=[], metavar="MECHANISM",
                        help="this tree's generator with a mechanism off (repeatable)")
    parser.add_argument("--scale", type=float, default=PROTOCOL["scale"])
    parser.add_argument("--root", type=Path,
                        default=Path(tempfile.gettempdir()) / "k49-transfer")
    parser.add_argument("--results", type=Path, help="write the rows to this JSON file")
    args = parser.parse_args(argv)
    protocol = {**PROTOCOL, "scale": args.scale}
    start = time.perf_counter()
    rows = []
    targets = [(rev, DIFFICULTY, f"revision {rev}") for rev in args.rev]
    if args.set or args.without or not args.rev:
        label = ", ".join([*args.set, *(f"without {w}" for w in args.without)]) or "this tree"
        targets.append((None, parse_overrides(args.set, args.without), label))
    for rev, difficulty, label in targets:
        rows.append(transfer_row(args.root, difficulty, label, rev, protocol))
        print(row_text(rows[-1]), flush=True)
    result = {"synthetic": True, "note": "every score is on synthetic data, not K49",
              "protocol": protocol, "held_out_families": list(HELD_OUT_FAMILIES),
              "per_class": PER_CLASS, "rows": rows,
              "seconds": round(time.perf_counter() - start, 1)}
    if args.results:
        part = args.results.with_suffix(".json.part")
        part.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
        part.replace(args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
