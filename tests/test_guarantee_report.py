"""What `mertrain report` prints and writes for honest and optimistic runs (mertrain/report.py,
mertrain/results.py): every output of a run that chose epochs on its test subjects says so,
including the side-by-side comparison of several runs, and the numbers printed are the pooled
and per-subject scores of the recorded predictions.

Issue 16: `mertrain report A B` dropping "(optimistic)" from the comparison table passed every
test. The run directories here are written through mertrain's own run-directory code
(init_run_dir, save_fold, write_outputs) from fold records made up here, so no training runs.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from mertrain.config import RunConfig
from mertrain.folds import FoldOutcome
from mertrain.protocols import Fold, Splits
from mertrain.recipe import Recipe
from mertrain.rundir import init_run_dir, load_run, save_fold
from mertrain.runrecord import RunRecord

SUBJECTS = ["casme2/sub01", "casme2/sub02", "casme2/sub03", "casme2/sub04"]
CLIPS = {s: [f"{s}/EP{j:02d}" for j in range(5)] for s in SUBJECTS}
TRUTH = [0, 1, 2, 0, 2]
LABELS = {
    "last": "last",
    "inner-val": "inner-val",
    "oracle": "oracle (optimistic)",
    "oracle-per-subject": "oracle-per-subject (optimistic)",
}
EPOCHS = 3


def _splits() -> Splits:
    folds = [
        Fold(s, CLIPS[s], sorted(c for t in SUBJECTS if t != s for c in CLIPS[t])) for s in SUBJECTS
    ]
    return Splits("loso", "3class", ["negative", "positive", "surprise"], folds)


def make_run(out: Path, select: str, seed: int) -> Path:
    """A finished run directory with made-up predictions (every epoch's kept for the
    optimistic selects, as the trainer keeps them)."""
    config = RunConfig.from_options(
        stores=["s.h5"], model="stcnn-3dcnn", select=select, out=str(out)
    )
    store = {"path": "s.h5", "fingerprint": "a" * 64, "n_clips": 20}
    record = RunRecord(config, "stcnn-3dcnn", {}, Recipe(), [store])
    splits = _splits()
    init_run_dir(out, record, splits)
    rng = np.random.default_rng(seed)
    for i, fold in enumerate(splits.folds):
        epochs = rng.dirichlet(np.ones(3), (EPOCHS, len(fold.test)))
        optimistic = select.startswith("oracle")
        save_fold(
            out,
            FoldOutcome(
                index=i,
                name=fold.name,
                seed=i,
                clip_ids=list(fold.test),
                datasets=["casme2"] * len(fold.test),
                subjects=[fold.name] * len(fold.test),
                y_true=TRUTH,
                proba=epochs[1] if optimistic else epochs[-1],
                history={"loss": [1.0, 0.7, 0.5]},
                seconds=1.0,
                best_epoch=2 if select in ("oracle", "inner-val") else None,
                epoch_proba=epochs if optimistic else None,
            ),
        )
    from mertrain.results import write_outputs

    write_outputs(out, load_run(out))
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("runs")
    return {select: make_run(base / select, select, seed) for seed, select in enumerate(LABELS)}


def _report(cli_runner, *args):
    from mertrain.cli import cli

    result = cli_runner.invoke(cli, ["report", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_comparison_table_labels_every_optimistic_run(runs, cli_runner):
    """Issue 16: the comparison dropping "(optimistic)" went unnoticed."""
    output = _report(cli_runner, *runs.values())
    table = output[output.index("\nrun ") + 1 :].splitlines()
    header, rows = table[0], table[2 : 2 + len(runs)]
    assert re.split(r"\s{2,}", header)[:5] == ["run", "model", "protocol", "task", "select"]
    for (select, path), row in zip(runs.items(), rows):
        assert row.startswith(str(path)[-28:])
        assert f" {LABELS[select]} " in row, row  # the whole label, in its own column
        assert ("(optimistic)" in row) == select.startswith("oracle")
    assert len(table) > 2 + len(runs)  # then the paired differences


def test_each_table_header_and_the_as_published_rows_say_optimistic(runs, cli_runner):
    for select, path in runs.items():
        output = _report(cli_runner, path)
        assert output.splitlines()[1].endswith(f"select {LABELS[select]}")
        published = {
            line.split("  UF1")[0].strip(): line
            for line in output.splitlines()
            if line.startswith("  ") and " UF1 " in line
        }
        per_subject = published["per-subject mean, reference metric"]
        assert per_subject.endswith("OPTIMISTIC") == select.startswith("oracle")
        honest = "last epoch, pooled (honest: the same training)"
        for label, line in published.items():
            if label.startswith("best TEST"):
                assert line.endswith("OPTIMISTIC")  # chosen on the test subjects, always
            if label == honest:
                assert not line.endswith("OPTIMISTIC")
        assert (honest in published) == select.startswith("oracle")


def test_results_and_predictions_files_carry_the_label(runs):
    for select, path in runs.items():
        results = json.loads((path / "results.json").read_text())
        assert results["select"] == LABELS[select]
        assert results["published"]["per_subject_mean"]["optimistic"] == select.startswith("oracle")
        with (path / "predictions.csv").open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == len(SUBJECTS) * len(TRUTH)
        if select.startswith("oracle"):
            assert {r["select"] for r in rows} == {LABELS[select]}
        else:
            assert "select" not in rows[0]  # honest runs add no column


def test_json_report_of_several_runs_keeps_the_labels(runs, cli_runner):
    payload = json.loads(_report(cli_runner, *runs.values(), "--json"))
    assert {k: v["select"] for k, v in payload["runs"].items()} == {
        str(p): LABELS[s] for s, p in runs.items()
    }
    assert [(d["a"], d["b"]) for d in payload["paired_differences"]] == [
        (str(runs["last"]), str(p)) for s, p in runs.items() if s != "last"
    ]


def _sk(y_true, y_pred):
    return (
        f1_score(y_true, y_pred, average="macro"),
        balanced_accuracy_score(y_true, y_pred),
        accuracy_score(y_true, y_pred),
    )


def test_printed_scores_are_the_recorded_predictions_scores(runs, cli_runner):
    """Pooled (all folds at once) and per-subject UF1/UAR/ACC, recomputed here with
    scikit-learn from the fold records, are the numbers the table prints."""
    path = runs["oracle"]
    folds = [json.loads(p.read_text()) for p in sorted((path / "folds").glob("*.json"))]
    y_true = [t for f in folds for t in f["y_true"]]
    y_pred = [int(np.argmax(p)) for f in folds for p in f["proba"]]
    output = _report(cli_runner, path)
    lines = {line.split()[0]: line.split() for line in output.splitlines() if line.strip()}
    assert [float(v) for v in lines["pooled"][2:5]] == pytest.approx(_sk(y_true, y_pred), abs=5e-4)
    assert int(lines["pooled"][1]) == len(y_true)
    for f in folds:
        pred = [int(np.argmax(p)) for p in f["proba"]]
        row = lines[f["name"]]
        assert [float(v) for v in row[2:5]] == pytest.approx(_sk(f["y_true"], pred), abs=5e-4)
    results = json.loads((path / "results.json").read_text())
    assert (results["uf1"], results["uar"], results["acc"]) == pytest.approx(_sk(y_true, y_pred))
    comparison = _report(cli_runner, runs["last"], path).splitlines()
    row = next(line for line in comparison if line.startswith(str(path)[-28:]) and "stcnn" in line)
    assert f"{results['uf1']:6.3f}" in row and f"{results['uar']:6.3f}" in row
