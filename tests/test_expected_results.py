"""Recorded headline figures must stay above their floors (tests/expected_results.toml).

The notebooks record their figures while nbval runs them; ``test_recorded_figures_meet_floors``
runs after them (see ``pytest_collection_modifyitems`` in tests/conftest.py) and checks every
result written during this pytest session.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from course_utils import report

FLOORS_FILE = Path(__file__).with_name("expected_results.toml")
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def load_floors(path: Path = FLOORS_FILE) -> dict[str, Any]:
    """``{notebook: {profile: {data kind: {figure: floor}}}}``."""
    with path.open("rb") as fh:
        return tomllib.load(fh)


def floor_violations(results: list[dict[str, Any]], floors: dict[str, Any]) -> list[str]:
    """One message per recorded figure below its floor (or missing although it has one).

    Anything that is not a finite number counts as below its floor: ``nan < floor`` is False.
    """
    problems = []
    for r in results:
        table = floors.get(r["notebook"], {}).get(r["profile"], {}).get(r["data_kind"], {})
        for figure, floor in table.items():
            value = r["figures"].get(figure)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < floor:
                problems.append(
                    f"notebook {r['notebook']} ({r['profile']}, {r['data_kind']} data): "
                    f"{figure} = {value} is below its floor {floor}"
                )
    return problems


def test_floor_check_catches_a_low_figure() -> None:
    results = [{"notebook": "03", "profile": "smoke", "data_kind": "subset", "figures": {"test_acc": 0.09}}]
    floors = {"03": {"smoke": {"subset": {"test_acc": 0.2}}}}
    assert floor_violations(results, floors) == [
        "notebook 03 (smoke, subset data): test_acc = 0.09 is below its floor 0.2"
    ]
    results[0]["figures"]["test_acc"] = 0.25
    assert floor_violations(results, floors) == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), None, "0.5"])
def test_floor_check_treats_anything_non_finite_as_below_its_floor(value) -> None:
    results = [{"notebook": "03", "profile": "smoke", "data_kind": "subset", "figures": {"test_acc": value}}]
    floors = {"03": {"smoke": {"subset": {"test_acc": 0.2}}}}
    assert floor_violations(results, floors) == [
        f"notebook 03 (smoke, subset data): test_acc = {value} is below its floor 0.2"
    ]


def test_floor_check_reads_nan_from_a_results_file(tmp_path: Path) -> None:
    """A NaN written by an older course (Python's json writes and reads NaN) still fails."""
    path = tmp_path / "03.json"
    path.write_text(
        '{"notebook": "03", "profile": "smoke", "data_kind": "subset", "figures": {"test_acc": NaN}}'
    )
    assert floor_violations([json.loads(path.read_text())], {"03": {"smoke": {"subset": {"test_acc": 0.2}}}})


def test_every_floor_names_a_notebook_profile_and_data_kind() -> None:
    floors = load_floors()
    notebooks = {p.name[:2] for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    for nb, profiles in floors.items():
        assert nb in notebooks, f"floors for a notebook that does not exist: {nb}"
        for profile, kinds in profiles.items():
            assert profile in ("smoke", "quick", "full")
            assert set(kinds) <= {"subset", "real", "synthetic"}
            for figures in kinds.values():
                assert all(0 < v <= 1 for v in figures.values()), figures


@pytest.mark.after_notebooks
def test_recorded_figures_meet_floors(session_start: float) -> None:
    folder = report.build_dir() / "results"
    fresh = {p.stem for p in folder.glob("*.json") if p.stat().st_mtime >= session_start}
    if not fresh:
        pytest.skip("no notebook recorded results in this pytest session (run pytest tests notebooks)")
    results, unreadable = report.read_results(folder)  # a broken file is named, not a JSON traceback
    assert {path: why for path, why in unreadable.items() if Path(path).stem in fresh} == {}
    assert floor_violations([r for r in results if r["notebook"] in fresh], load_floors()) == []


def test_floors_catch_a_run_that_does_not_learn(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lesson 05 with a learning rate of 0, run as nbval would: its figures fall below the floors."""
    import nbclient
    import nbformat

    source = NOTEBOOKS / "05_lenet_variants_cifar10.ipynb"
    nb = nbformat.read(source, as_version=4)
    setup_cells = [c for c in nb.cells if "config.setup(epochs=12" in c.source]
    assert len(setup_cells) == 1 and "lr=1e-3" in setup_cells[0].source
    setup_cells[0].source = setup_cells[0].source.replace("lr=1e-3", "lr=0.0")
    for variable, value in {
        "COURSE_PROFILE": "smoke",
        "COURSE_DATA_DIR": str(shared_data),
        "COURSE_BUILD_DIR": str(tmp_path / "build"),
        "COURSE_LIVE_PLOT": "0",
        "MPLBACKEND": "Agg",
        "COURSE_OFFLINE": "1",
    }.items():
        monkeypatch.setenv(variable, value)
    nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()

    result = json.loads((tmp_path / "build" / "results" / "05.json").read_text())
    assert (result["profile"], result["data_kind"]) == ("smoke", "subset")
    floors = load_floors()["05"]["smoke"]["subset"]
    assert all(result["figures"][name] < 0.15 for name in floors), result["figures"]
    problems = floor_violations([result], load_floors())
    assert len(problems) == len(floors) == 2
    assert all(
        p.startswith("notebook 05 (smoke, subset data): v") and "is below its floor" in p for p in problems
    ), problems
