"""Tests for course_utils.report: recorded results, the results table and the notebook runner."""
from __future__ import annotations

import json
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
    path = report.record("05", cfg=cfg, data_source="cifar10: subset (x.npz)",
                         val_acc=torch.tensor(0.625), seconds=12.5)
    assert path == build / "results" / "05.json"
    entry = json.loads(path.read_text())
    assert entry["figures"] == {"val_acc": 0.625, "seconds": 12.5}  # the tensor became a float
    assert (entry["notebook"], entry["profile"], entry["device"]) == ("05", "smoke", str(cfg.device))
    assert (entry["data_source"], entry["data_kind"]) == ("cifar10: subset (x.npz)", "subset")
    assert entry["versions"]["torch"] == torch.__version__
    assert capsys.readouterr().out == "[course] recorded 05: val_acc=0.6250, seconds=12.5000\n"


@pytest.mark.parametrize("source, kind", [("cifar10: torchvision (/data)", "real"),
                                          ("cifar10: subset (/d/cifar10_subset.npz)", "subset"),
                                          ("mnist: synthetic (offline stand-in)", "synthetic")])
def test_source_kind(source: str, kind: str) -> None:
    assert report.source_kind(source) == kind


def test_results_table_has_one_row_per_notebook_and_marks_failures() -> None:
    results = [{"notebook": "03", "profile": "quick", "device": "cpu", "data_source": "subset",
                "figures": {"test_acc": 0.3021, "seconds": 6.0}}]
    table = report.results_table(results, {"03": 8.4, "04": 2.0}, {"04": "cell 3: ValueError: bad"})
    assert table.splitlines()[2:] == [
        "| 03 | quick | cpu | subset | test_acc 0.3021 | 8 |",
        "| 04 | - | - | - | FAILED: cell 3: ValueError: bad | 2 |"]


def notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_run_notebooks_goes_on_after_a_failure_and_writes_the_table(build: Path, tmp_path: Path) -> None:
    good, bad = tmp_path / "10_good.ipynb", tmp_path / "11_bad.ipynb"
    nbformat.write(notebook("from course_utils import report",
                            "report.record('10', data_source='synthetic', acc=0.5)"), good)
    nbformat.write(notebook("x = 1", "raise ValueError('broken on purpose')", "x = 2"), bad)
    table, failed = report.run_notebooks([bad, good])
    assert failed == {"11": "cell 1: ValueError: broken on purpose"}
    text = table.read_text()
    assert "| 10 | " in text and "acc 0.5000" in text
    assert "| 11 | - | - | - | FAILED: cell 1: ValueError: broken on purpose |" in text
    executed = nbformat.read(build / "notebooks" / "11_bad.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["ename"] == "ValueError"
    assert executed.cells[2].outputs == []  # nothing ran after the failure
    assert report.main(["run", str(bad)]) == 1
    assert report.main(["nonsense"]) == 2
