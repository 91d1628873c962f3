"""Stored notebook state and the shape every lesson shares.

nbval passes a checked cell with no stored output silently, so these tests make sure every
checked cell really has something to compare. They also hold every notebook (lessons and
notebooks/solutions/) to the course's rules: no cell stops *Run All*, short code cells, a
header line written by ``tests/nbtools.py header`` from ``notebooks/course.toml``, and for
lessons 01 onwards a summary, exercises and a solutions notebook. Each check has a test that it
catches a bad notebook.
"""

from __future__ import annotations

import io
import json
import re
import sys
import tokenize
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nbtools  # noqa: E402  (tests/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb"))
NOTEBOOKS = LESSONS + SOLUTIONS
PRACTICE = [p for p in LESSONS if p.name[:2] >= "01"]  # lessons with exercises: all but 00
CHECK = "# NBVAL_CHECK_OUTPUT"
RAISES = "# NBVAL_RAISES_EXCEPTION"
MAX_LINES = 16  # logical lines per code cell ("about 15"): see logical_lines

# Lessons that other engineers are rewriting in parallel (issue 15) and did not yet meet a rule
# in this clone. Strict: a notebook that meets the rule fails here until its entry is removed.
# The lead runs `tests/nbtools.py header` over every notebook after merging, then empties "header".
PENDING: dict[str, set[str]] = {"practice": set(), "lines": set(), "raises": set(), "header": set()}


def _name(path: Path) -> str:
    return f"solutions/{path.name}" if path.parent.name == "solutions" else path.name


def _pending(rule: str, paths: list[Path]) -> list:
    return [
        pytest.param(
            p,
            id=_name(p),
            marks=pytest.mark.xfail(
                strict=True,
                reason=f"{rule}: being rewritten in parallel; remove it from PENDING once it passes",
            ),
        )
        if p.parent.name != "solutions" and p.name[:2] in PENDING[rule]
        else pytest.param(p, id=_name(p))
        for p in paths
    ]


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
            problems.append(
                f"cell {i}: {RAISES}; catch the error and print it instead, so Run All never stops"
            )
    return problems


def run_all_stoppers(path: Path) -> list[str]:
    """Cells tagged raises-exception: JupyterLab and Colab stop *Run All* at them."""
    cells = json.loads(path.read_text())["cells"]
    return [
        f"cell {i}: tagged raises-exception; catch the error and print PyTorch's message instead"
        for i, c in enumerate(cells)
        if "raises-exception" in c.get("metadata", {}).get("tags", [])
    ]


def logical_lines(source: str) -> int:
    """Statements' lines of a cell: a call the formatter wraps over several lines counts once;
    comments, blank lines, the NBVAL marker and IPython magics (``%pip``) do not count."""
    code = "\n".join(ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!")))
    tokens = tokenize.generate_tokens(io.StringIO(code + "\n").readline)
    return sum(1 for tok in tokens if tok.type == tokenize.NEWLINE)


def long_cells(path: Path, limit: int = MAX_LINES) -> list[str]:
    """Code cells with more than ``limit`` logical lines (see ``logical_lines``)."""
    problems = []
    for i, cell in code_cells(path):
        count = logical_lines("".join(cell["source"]))
        if count > limit:
            problems.append(f"cell {i}: {count} lines (at most {limit}: one idea per cell)")
    return problems


def practice_problems(path: Path) -> list[str]:
    """A lesson needs '## Summary', '## Exercises' and notebooks/solutions/NN_*_solutions.ipynb."""
    headings = {
        line.strip()
        for c in json.loads(path.read_text())["cells"]
        if c["cell_type"] == "markdown"
        for line in "".join(c["source"]).splitlines()
        if line.startswith("## ")
    }
    problems = [f"no '{h}' section" for h in ("## Summary", "## Exercises") if h not in headings]
    if not list((path.parent / "solutions").glob(f"{path.name[:2]}_*_solutions.ipynb")):
        problems.append(f"no notebooks/solutions/{path.name[:2]}_*_solutions.ipynb")
    return problems


def write_notebook(path: Path, cells: list[tuple[str, str]], **cell_fields) -> Path:
    nb = {
        "cells": [
            {
                "cell_type": kind,
                "source": src.splitlines(keepends=True),
                "metadata": {},
                **({"outputs": [], "execution_count": None} if kind == "code" else {}),
                **cell_fields,
            }
            for kind, src in cells
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 4,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))
    return path


# ---- every notebook --------------------------------------------------------


def test_notebooks_exist() -> None:
    assert [p.name[:2] for p in LESSONS][:1] == ["00"], LESSONS
    assert SOLUTIONS, "notebooks/solutions/ holds the exercise solutions"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_checked_cells_have_stored_output(path: Path) -> None:
    assert checked_cell_problems(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_first_code_cell_bootstraps_colab(path: Path) -> None:
    first = "".join(code_cells(path)[0][1]["source"])
    assert "import course_utils" in first and "pip install" in first


@pytest.mark.parametrize("path", _pending("raises", NOTEBOOKS))
def test_no_cell_stops_run_all(path: Path) -> None:
    assert run_all_stoppers(path) == []


@pytest.mark.parametrize("path", _pending("header", NOTEBOOKS))
def test_header_line_is_generated_from_course_toml(path: Path) -> None:
    assert nbtools.header_problems(path, nbtools.settings()) == [], (
        "run: .venv/bin/python tests/nbtools.py header notebooks/*.ipynb notebooks/solutions/*.ipynb"
    )


def test_readme_run_times_come_from_course_toml() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert nbtools.readme_with_times(text, nbtools.settings()) == text, "run: tests/nbtools.py header ..."


@pytest.mark.parametrize("path", _pending("lines", NOTEBOOKS))
def test_code_cells_are_short(path: Path) -> None:
    assert long_cells(path) == []


@pytest.mark.parametrize("path", _pending("practice", PRACTICE))
def test_lesson_has_summary_exercises_and_solutions(path: Path) -> None:
    assert practice_problems(path) == []


def test_solutions_belong_to_lessons() -> None:
    lessons = {p.name[:2] for p in PRACTICE}
    assert all(p.name[:2] in lessons and p.name.endswith("_solutions.ipynb") for p in SOLUTIONS), SOLUTIONS


# ---- each check catches a bad notebook -------------------------------------


def test_hygiene_check_catches_empty_checked_cell(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "bad.ipynb", [("code", CHECK + "\nprint(1)")])
    assert checked_cell_problems(path) == [
        "cell 0: # NBVAL_CHECK_OUTPUT but no stored output",
        "cell 0: # NBVAL_CHECK_OUTPUT but no execution count",
    ]


def test_hygiene_check_rejects_the_raises_comment(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "bad.ipynb", [("code", RAISES + "\n1 / 0")])
    assert checked_cell_problems(path) == [
        "cell 0: # NBVAL_RAISES_EXCEPTION; catch the error and print it instead, so Run All never stops"
    ]


def test_hygiene_check_catches_raises_exception_tag(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "bad.ipynb", [("code", "1 / 0")], metadata={"tags": ["raises-exception"]}
    )
    assert run_all_stoppers(path) == [
        "cell 0: tagged raises-exception; catch the error and print PyTorch's message instead"
    ]


def test_hygiene_check_catches_long_cell(tmp_path: Path) -> None:
    body = "\n".join(f"x{i} = {i}" for i in range(MAX_LINES))
    path = write_notebook(
        tmp_path / "bad.ipynb",
        [
            ("code", CHECK + "\n" + body + "\n\n"),  # at the limit: fine
            ("code", body + "\ny = 0"),
        ],
    )
    assert long_cells(path) == [f"cell 1: {MAX_LINES + 1} lines (at most {MAX_LINES}: one idea per cell)"]


def test_hygiene_check_catches_missing_practice(tmp_path: Path) -> None:
    good = write_notebook(
        tmp_path / "05_x.ipynb", [("markdown", "# 05\n\n## Summary\n- a"), ("markdown", "## Exercises")]
    )
    bad = write_notebook(tmp_path / "06_y.ipynb", [("markdown", "# 06\n\n### Summary\n\n## Exercises 1")])
    write_notebook(tmp_path / "solutions" / "05_x_solutions.ipynb", [("markdown", "# 05 solutions")])
    assert practice_problems(good) == []
    assert practice_problems(bad) == [
        "no '## Summary' section",
        "no '## Exercises' section",
        "no notebooks/solutions/06_*_solutions.ipynb",
    ]


def test_header_check_catches_stale_header_and_url(tmp_path: Path) -> None:
    config = {
        "repository": "https://github.com/someone/fork",
        "branch": "main",
        "run_times": {"lessons": {"03": {"smoke": 10, "quick": 11}}, "solutions": {}},
    }
    bootstrap = nbtools.bootstrap("https://github.com/someone/fork")
    path = write_notebook(tmp_path / "03_x.ipynb", [("code", bootstrap), ("markdown", "# 03 · X\n\nText.")])
    problems = nbtools.header_problems(path, config)
    assert len(problems) == 1 and problems[0].startswith("03_x.ipynb: header line under the title is not"), (
        problems
    )
    nbtools.write_header(path, config)
    assert nbtools.header_problems(path, config) == []
    title = json.loads(path.read_text())["cells"][1]["source"]
    assert "".join(title).split("\n")[:3] == ["# 03 · X", "", nbtools.header_line(path, config)]
    assert "colab.research.google.com/github/someone/fork/blob/main/notebooks/03_x.ipynb" in title[2]
    assert re.search(r"smoke 10 s · quick 11 s · full \(GPU\) not yet measured", title[2])
    config["run_times"]["lessons"]["03"]["smoke"] = 12  # a new measurement makes the header stale
    assert len(nbtools.header_problems(path, config)) == 1
    config["run_times"]["lessons"]["03"]["smoke"] = 10
    config["repository"] = "https://github.com/other/course"  # a new URL makes both stale
    assert len(nbtools.header_problems(path, config)) == 2


def test_header_tool_writes_readme_times() -> None:
    config = {"run_times": {"lessons": {"03": {"smoke": 9, "quick": 12, "full": 30}}}}
    row = "| `03_tutorial_cnn_cifar10` | the blitz | PyTorch's blitz | 10 s | 11 s | not yet measured |"
    other = "| `09_ddp` | DDP | — | 5 s | 6 s | 7 s |"
    assert nbtools.readme_with_times(row + "\n" + other, config) == (
        "| `03_tutorial_cnn_cifar10` | the blitz | PyTorch's blitz | 9 s | 12 s | 30 s |\n"
        "| `09_ddp` | DDP | — | not yet measured | not yet measured | not yet measured |"
    )
