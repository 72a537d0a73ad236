"""The paper's experiment grid: systems x folds x runs, `python -m training.evaluate`.

Runs `training.finetune` for every system, fold and run (each resumable; finished ones are
read back if they were trained with the same settings; `--finished-only` trains nothing and
tabulates what is finished), then writes to `--out`: `results.md` (CCC per dimension as
mean +- std over folds x runs, and per fold), `results.csv` (one row per system, fold, run and
dimension), `results.json`, `runs.png` (every run's test CCC) and `scatter_<system>.png` (test predictions
of each fold's first finished run). A run that fails is reported and the grid goes on without it; the
command then exits with an error listing the failed runs.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_cpc.audio import AudioError
from keras_cpc.datasets.protocol import fold_count, read_corpus
from keras_cpc.metrics.ccc import DIMENSIONS, ccc
from keras_cpc.plots import plot_runs, plot_scatter
from keras_cpc.runs import setting_differences
from training import error_line, finetune, non_negative_int, positive, run_cli
from training.config import FinetuneConfig, SettingError

# What ends one run, not the grid (a TensorFlow error too: out of memory, a pipeline with no usable file).
RUN_ERRORS = (AudioError, FileNotFoundError, ValueError, tf.errors.OpError)


class GridError(ValueError):
    """Runs of the grid that failed, or none finished; the message lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    finetune.add_arguments(parser)
    parser.add_argument("--systems", nargs="+", choices=finetune.SYSTEMS, default=list(finetune.SYSTEMS))
    parser.add_argument("--fold-list", type=non_negative_int, nargs="+", help="folds to run (default: all)")
    parser.add_argument("--runs", type=positive(int), default=5, help="runs per system and fold")
    parser.add_argument("--out", required=True)
    parser.add_argument("--finished-only", action="store_true",
                        help="train nothing: tabulate the runs already finished in --out")
    return parser


def run_grid(args: argparse.Namespace) -> tuple[list[dict], list[str]]:
    """Results of every system, fold and run, training those not finished yet, and the
    failed runs (each as its folder and error)."""
    if args.teacher:
        raise SettingError("--teacher: a teacher has heard every fold but the one it was trained on; distil each fold "
                           "with its own teacher (python -m training.finetune --fold N --teacher ...)")
    if "precpc" in args.systems and not args.finished_only:
        finetune.check_cpc(args.cpc)
    if args.corpus == "msp-podcast":
        folds = [0]
    elif args.fold_list:
        folds = args.fold_list
    else:  # all of them: IEMOCAP has one per session found
        folds = range(fold_count(args.corpus, read_corpus(args.corpus, args.data), args.folds))
    grid = FinetuneConfig.from_args(args, system=args.systems[0])  # each run replaces its system, fold, run, out
    results, failures = [], []
    for system in args.systems:
        for fold in folds:
            for run in range(args.runs):
                out = Path(args.out) / system / f"fold{fold}" / f"run{run}"
                job = dataclasses.replace(grid, system=system, fold=fold, run=run, out=str(out))
                try:
                    scores = finished_run(job) or (None if args.finished_only else finetune.finetune(job))
                except RUN_ERRORS as error:
                    failures.append(f"{out}: {error_line(error)}")
                    print(f"failed, left out: {failures[-1]}")
                    continue
                if scores is None:
                    print(f"not finished, left out: {out}")
                    continue
                scores = {k: v for k, v in scores.items() if k != "settings"}
                results.append({"system": system, "fold": fold, "run": run, "out": str(out), **scores})
    return results, failures


def finished_run(job: FinetuneConfig) -> dict | None:
    """The record of a finished run (None if unfinished); one trained with other settings is an error."""
    done = Path(job.out) / "results.json"
    if not done.exists():
        return None
    record = finetune.read_record(done)
    recorded = record.get("settings")  # absent from records written before settings were kept
    if recorded is not None and not job.cpc:  # tabulating without --cpc: a precpc run's model is not checked
        recorded = {k: v for k, v in recorded.items() if k != "cpc_sha256"}
    if recorded is not None and (differences := setting_differences(recorded, job.settings())):
        raise ValueError(f"{done} was trained with other settings: {differences}; use another --out")
    return record


def summary(results: list[dict], key: str) -> dict:
    """Mean and std of each dimension's CCC (and of the seconds) per value of `key`."""
    table = {}
    for value in dict.fromkeys(r[key] for r in results):
        rows = [r for r in results if r[key] == value]
        table[value] = {name: (float(np.mean([r[name] for r in rows])), float(np.std([r[name] for r in rows])))
                        for name in [*(f"ccc_{d}" for d in DIMENSIONS), "seconds"]}
        table[value]["count"] = len(rows)
    return table


def markdown(title: str, table: dict, label: str) -> str:
    """A Markdown table of `summary`'s rows: mean ± std (NumPy's, over the n runs), the mean alone for one run."""
    lines = [f"### {title}", "", f"| {label} | " + " | ".join(DIMENSIONS) + " | n | minutes per run |",
             "|---|" + "---:|" * (len(DIMENSIONS) + 2)]
    for name, row in table.items():
        cells = [f"{row[f'ccc_{d}'][0]:.3f}" + (f" ± {row[f'ccc_{d}'][1]:.3f}" if row["count"] > 1 else "")
                 for d in DIMENSIONS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {row['count']} | {row['seconds'][0] / 60:.1f} |")
    return "\n".join(lines) + "\n"


def write_reports(results: list[dict], out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    overall = summary(results, "system")
    text = ["# Test CCC, mean ± std over folds x runs\n", markdown("All folds", overall, "system")]
    for system in overall:
        text.append(markdown(f"{system} per fold (over runs)",
                             summary([r for r in results if r["system"] == system], "fold"), "fold"))
    (out / "results.md").write_text("\n".join(text))
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["system", "fold", "run", "dimension", "ccc", "seconds"])
        for r in results:
            for d in DIMENSIONS:
                writer.writerow([r["system"], r["fold"], r["run"], d, f"{r[f'ccc_{d}']:.5f}", f"{r['seconds']:.1f}"])
    report = {"summary": overall, "runs": results}
    (out / "results.json").write_text(json.dumps(report, indent=2))
    plot_runs(results, DIMENSIONS, out / "runs.png", "test CCC of every run (line: mean over them)")
    for system in overall:
        first_runs = {}  # the lowest finished run of each fold
        for r in sorted((r for r in results if r["system"] == system), key=lambda r: r["run"]):
            first_runs.setdefault(r["fold"], r)
        files = [Path(r["out"]) / "predictions.csv" for r in first_runs.values()]
        truth, predicted = pooled_predictions(files)
        plot_scatter(truth, predicted, DIMENSIONS, ccc(truth, predicted), out / f"scatter_{system}.png",
                     f"{system}: test predictions of every fold (its first finished run), CCC of them pooled")
    return report


def pooled_predictions(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """True and predicted values of several `predictions.csv` files, stacked."""
    rows = []
    for file in files:
        with open(file, newline="") as handle:
            rows += list(csv.DictReader(handle))
    truth = np.array([[float(row[d]) for d in DIMENSIONS] for row in rows])
    predicted = np.array([[float(row[f"predicted_{d}"]) for d in DIMENSIONS] for row in rows])
    return truth, predicted


def evaluate(args: argparse.Namespace) -> None:
    results, failures = run_grid(args)
    if results:
        write_reports(results, Path(args.out))
        print((Path(args.out) / "results.md").read_text())
    if failures:
        raise GridError(f"{len(failures)} run(s) failed:\n" + "\n".join(failures))
    if not results:
        raise GridError(f"no finished run of these systems and folds in {args.out}")


def main(argv: list[str] | None = None) -> None:
    run_cli(evaluate, build_parser(), argv)


if __name__ == "__main__":
    main()
