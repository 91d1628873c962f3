"""Stored notebook state: nbval passes a checked cell with no stored output silently,
so these tests make sure every checked cell really has something to compare."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK = "# NBVAL_CHECK_OUTPUT"
RAISES = "# NBVAL_RAISES_EXCEPTION"


def code_cells(path: Path) -> list[tuple[int, dict]]:
    cells = json.loads(path.read_text())["cells"]
    return [(i, c) for i, c in enumerate(cells) if c["cell_type"] == "code"]


def checked_cell_problems(path: Path) -> list[str]:
    """Checked cells lacking stored output or execution count; unchecked cells with outputs."""
    problems = []
    for i, cell in code_cells(path):
        src = "".join(cell["source"])
        if CHECK in src:
            if not cell.get("outputs"):
                problems.append(f"cell {i}: {CHECK} but no stored output")
            if cell.get("execution_count") is None:
                problems.append(f"cell {i}: {CHECK} but no execution count")
        elif cell.get("outputs") or cell.get("execution_count") is not None:
            problems.append(f"cell {i}: unchecked cell with stored output (strip it)")
        if RAISES in src:
            problems.append(f"cell {i}: {RAISES} comment; tag the cell raises-exception instead "
                            "(nbval and JupyterLab's Run All both honour the tag)")
    return problems


def test_notebooks_exist() -> None:
    assert [p.name[:2] for p in NOTEBOOKS][:1] == ["00"], NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checked_cells_have_stored_output(path: Path) -> None:
    assert checked_cell_problems(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_bootstraps_colab(path: Path) -> None:
    first = "".join(code_cells(path)[0][1]["source"])
    assert "import course_utils" in first and "pip install" in first


def test_hygiene_check_catches_empty_checked_cell(tmp_path: Path) -> None:
    nb = {"cells": [{"cell_type": "code", "source": [CHECK + "\n", "print(1)"],
                     "outputs": [], "execution_count": None, "metadata": {}}]}
    path = tmp_path / "bad.ipynb"
    path.write_text(json.dumps(nb))
    assert checked_cell_problems(path) == ["cell 0: # NBVAL_CHECK_OUTPUT but no stored output",
                                           "cell 0: # NBVAL_CHECK_OUTPUT but no execution count"]


def test_hygiene_check_wants_the_raises_exception_tag(tmp_path: Path) -> None:
    nb = {"cells": [{"cell_type": "code", "source": [RAISES + "\n", "1 / 0"],
                     "outputs": [], "execution_count": None, "metadata": {}}]}
    path = tmp_path / "bad.ipynb"
    path.write_text(json.dumps(nb))
    assert checked_cell_problems(path) == [
        "cell 0: # NBVAL_RAISES_EXCEPTION comment; tag the cell raises-exception instead "
        "(nbval and JupyterLab's Run All both honour the tag)"]
