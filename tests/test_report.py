"""Tests for course_utils.report: recorded results, the results table and the notebook runner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
import torch

from course_utils import config, report


@pytest.fixture
def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    return tmp_path / "build"


def test_record_writes_profile_device_source_and_versions(build: Path, capsys) -> None:
    cfg = config.setup(profile="smoke", epochs=3, verbose=False)
    path = report.record(
        "05", cfg=cfg, data_source="cifar10: subset (x.npz)", val_acc=torch.tensor(0.625), seconds=12.5
    )
    assert path == build / "results" / "05.json"
    entry = json.loads(path.read_text())
    assert entry["figures"] == {"val_acc": 0.625, "seconds": 12.5}  # the tensor became a float
    assert (entry["notebook"], entry["profile"], entry["device"]) == ("05", "smoke", str(cfg.device))
    assert (entry["data_source"], entry["data_kind"]) == ("cifar10: subset (x.npz)", "subset")
    assert entry["versions"]["torch"] == torch.__version__
    assert capsys.readouterr().out == "[course] recorded 05: val_acc=0.6250, seconds=12.5000\n"


@pytest.mark.parametrize(
    "source, kind",
    [
        ("cifar10: torchvision (/data)", "real"),
        ("cifar10: subset (/d/cifar10_subset.npz)", "subset"),
        ("mnist: synthetic (offline stand-in)", "synthetic"),
    ],
)
def test_source_kind(source: str, kind: str) -> None:
    assert report.source_kind(source) == kind


def test_results_table_puts_the_source_figure_beside_ours_and_marks_failures() -> None:
    results = [
        {
            "notebook": "03",
            "profile": "quick",
            "device": "cpu",
            "recorded_at": "2026-11-30T10:00:00",
            "data_source": "cifar10: subset (/home/me/data/cifar10_subset.npz)",
            "figures": {"test_acc": 0.3021, "seconds": 6.0, "images_per_s": 1234.5, "count": 5085},
        }
    ]
    wall, failed = {"03": 8.4, "04": 2.0}, {"04": "cell 3: ValueError: bad"}
    where = "quick · cpu · cifar10: subset"
    assert report.figures_table(results, failed).splitlines()[2:] == [
        f"| 03 | test_acc | 30.21 % | 53 % (the blitz, post 000: after epoch 2, full CIFAR-10 test set)"
        f" | {where} |",
        f"| 03 | seconds | 6.0 s | — | {where} |",
        f"| 03 | images_per_s | 1,234.5 per s | — | {where} |",
        f"| 03 | count | 5,085 | — | {where} |",
        "| 04 | FAILED | cell 3: ValueError: bad | | |",
    ]
    assert report.runs_table(results, wall, failed).splitlines()[2:] == [
        "| 03 | quick | cpu | cifar10: subset (cifar10_subset.npz) | 2026-11-30 10:00 | 8 s | ok |",
        "| 04 | - | - | - | - | 2 s | FAILED: cell 3: ValueError: bad |",
    ]
    table = report.results_table(results, wall, failed)
    assert table.index("## Figures") < table.index(report.RESULTS_NOTE) < table.index("## Runs")


@pytest.mark.parametrize(
    "source, short",
    [
        ("cifar10: subset (/home/me/shared/data/cifar10_subset.npz)", "cifar10: subset (cifar10_subset.npz)"),
        ("mnist: torchvision (C:\\Users\\me\\data)", "mnist: torchvision (data)"),
        (
            "cifar10: torchvision (download to /root/.cache/course_utils/data), "
            "mnist: synthetic (offline stand-in)",
            "cifar10: torchvision (data), mnist: synthetic (offline stand-in)",
        ),
    ],
)
def test_short_source_names_no_machine_path(source: str, short: str) -> None:
    assert report.short_source(source) == short


def test_every_source_figure_names_a_recorded_figure_and_its_epoch() -> None:
    """The source column covers the figures the issue lists, each with the epoch it belongs to."""
    texts = sorted(f.text for f in report.SOURCE_FIGURES.values())
    assert texts == sorted(
        ["53 %", "97.66 %", "97.25 %", "70 s", "18 s", "69.42 %", "70.69 %", "70.69 %", "70.75 %"]
    )
    assert all("epoch" in f.where for f in report.SOURCE_FIGURES.values())


@pytest.mark.parametrize("bad_id", ["../../etc", "/tmp/evil", "..", ".", "", "a/b", "a\\b", " 03"])
def test_record_refuses_an_id_that_is_not_one_plain_name(build: Path, bad_id: str) -> None:
    with pytest.raises(ValueError, match="must be a plain name such as '03'"):
        report.record(bad_id, data_source="synthetic", acc=0.5)
    assert not build.exists() or not any(build.parent.rglob("*.json"))  # nothing written anywhere


def test_record_refuses_a_non_string_id(build: Path) -> None:
    with pytest.raises(ValueError, match="plain name"):
        report.record(3, data_source="synthetic", acc=0.5)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), torch.tensor(float("nan"))])
def test_record_refuses_non_finite_figures_and_keeps_the_old_result(build: Path, value) -> None:
    good = report.record("05", data_source="synthetic", val_acc=0.5)
    before = good.read_text()
    with pytest.raises(ValueError, match=r"figure val_acc is (nan|inf|-inf), not a finite number"):
        report.record("05", data_source="synthetic", val_acc=value, seconds=1.0)
    assert good.read_text() == before
    assert sorted(p.name for p in good.parent.iterdir()) == ["05.json"]  # no temp file left


def test_record_refuses_a_figure_that_is_not_a_number(build: Path) -> None:
    with pytest.raises(TypeError, match="figure note='fast' is not a number"):
        report.record("05", data_source="synthetic", note="fast")


def test_record_writes_standard_json_atomically(build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while writing leaves the previous file whole and no temporary file behind."""
    good = report.record("05", data_source="synthetic", val_acc=0.5)
    before = good.read_text()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        report.record("05", data_source="synthetic", val_acc=0.6)
    assert good.read_text() == before
    assert sorted(p.name for p in good.parent.iterdir()) == ["05.json"]
    json.loads(before)  # standard JSON (allow_nan=False guards it too)


def notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_run_notebooks_goes_on_after_a_failure_and_writes_the_table(build: Path, tmp_path: Path) -> None:
    good, bad = tmp_path / "10_good.ipynb", tmp_path / "11_bad.ipynb"
    nbformat.write(
        notebook("from course_utils import report", "report.record('10', data_source='synthetic', acc=0.5)"),
        good,
    )
    nbformat.write(notebook("x = 1", "raise ValueError('broken on purpose')", "x = 2"), bad)
    table, failed = report.run_notebooks([bad, good])
    assert failed == {"11": "cell 1: ValueError: broken on purpose"}
    text = table.read_text()
    assert text.startswith("# Course results\n\n## Figures\n\n" + report.RESULTS_NOTE)
    assert "| 10 | acc | 50.00 % | — | smoke · cpu · synthetic |" in text
    assert "| 11 | FAILED | cell 1: ValueError: broken on purpose | | |" in text
    assert (
        "| 11 | - | - | - | - | " in text and " s | FAILED: cell 1: ValueError: broken on purpose |" in text
    )
    executed = nbformat.read(build / "notebooks" / "11_bad.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["ename"] == "ValueError"
    assert executed.cells[2].outputs == []  # nothing ran after the failure
    assert report.main(["run", str(bad)]) == 1
    assert report.main(["nonsense"]) == 2


def test_run_notebooks_keeps_solutions_apart_and_stamps_the_run(build: Path, tmp_path: Path) -> None:
    """Solutions land in build/notebooks/solutions/ and never replace the lesson's copy or figures."""
    (tmp_path / "solutions").mkdir()
    lesson, solution = tmp_path / "12_x.ipynb", tmp_path / "solutions" / "12_x.ipynb"
    nbformat.write(
        notebook("from course_utils import report", "report.record('12', data_source='synthetic', acc=0.5)"),
        lesson,
    )
    nbformat.write(notebook("print('solution')"), solution)
    table, failed = report.run_notebooks([lesson, solution])
    assert failed == {}
    assert report.notebook_key(solution) == "12 solutions"
    executed = nbformat.read(build / "notebooks" / "12_x.ipynb", as_version=4)
    assert "report.record" in executed.cells[1].source
    sol = nbformat.read(build / "notebooks" / "solutions" / "12_x.ipynb", as_version=4)
    assert sol.cells[0].outputs[0]["text"] == "solution\n"
    stamp = sol.metadata["course_run"]
    assert (stamp["profile"], stamp["device"], stamp["failed"]) == ("smoke", "cpu", None)
    assert stamp["seconds"] > 0 and stamp["executed_at"][:2] == "20"
    assert json.loads((build / "results" / "12.json").read_text())["figures"] == {"acc": 0.5}
    assert re.search(
        r"\| 12 solutions \| - \| - \| - \| - \| \d+ s \| ran; records no figures \|", table.read_text()
    )
