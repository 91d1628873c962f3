"""The notebook runner behind ``make course``: every cell of each notebook, in a fresh kernel.

``python -m course_utils.course.report run notebooks/*.ipynb`` calls :func:`execute_all` through
``report.run_notebooks``, which then writes the results table. Executed copies go to
``build/notebooks/`` (solutions to ``build/notebooks/solutions/``), each stamped with the
profile, device, date, run time and the first error.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import config


@contextmanager
def _ticking(bar: Any, every: float = 1.0) -> Iterator[None]:
    """Redraw ``bar`` every ``every`` seconds, so its clock runs during a long cell."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every):
            bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _first_line(source: str, width: int = 40) -> str:
    lines = [line for line in source.splitlines() if line.strip() and not line.startswith("#")]
    return lines[0][:width] if lines else ""


def execute_notebook(nb: Any, path: Path, *, timeout: int = -1) -> str | None:
    """Run every cell of ``nb`` in a fresh kernel, with a progress bar per cell.

    Returns None, or the error of the first cell that failed (later cells do not run).
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from tqdm.auto import tqdm

    client = NotebookClient(nb, timeout=timeout, resources={"metadata": {"path": str(path.parent)}})
    with (
        client.setup_kernel(),
        tqdm(total=len(nb.cells), desc=path.stem, unit="cell") as bar,
        _ticking(bar, every=1.0 if sys.stderr.isatty() else 30.0),  # a log gets a line per 30 s
    ):
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                bar.set_postfix_str(_first_line(cell.source), refresh=True)
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as err:
                return f"cell {index}: {getattr(err, 'ename', 'error')}: {getattr(err, 'evalue', '')}"
            bar.update()
    return None


def notebook_key(path: str | os.PathLike) -> str:
    """``"03"`` for ``notebooks/03_x.ipynb``, ``"03 solutions"`` for ``notebooks/solutions/03_x.ipynb``."""
    path = Path(path)
    return path.stem[:2] + (" solutions" if path.parent.name == "solutions" else "")


def executed_path(path: str | os.PathLike, build: Path) -> Path:
    """Where ``make course`` keeps the executed copy: ``build/notebooks/[solutions/]NAME``."""
    path = Path(path)
    sub = "solutions" if path.parent.name == "solutions" else ""
    return build / "notebooks" / sub / path.name


def run_stamp(seconds: float, error: str | None) -> dict[str, Any]:
    """What ``make course`` notes in an executed copy: profile, device, date, run time, error."""
    return {
        "profile": config.resolve_profile(),
        "device": str(config.pick_device()),
        "executed_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "seconds": round(seconds, 1),
        "failed": error,
    }


class NotebookError(ValueError):
    """A notebook given to ``report run`` cannot be read; nothing was run."""


def read_all(paths: Sequence[str | os.PathLike]) -> list[tuple[Path, Any]]:
    """Read every notebook before anything runs or any result is deleted; raise :class:`NotebookError`."""
    import nbformat

    notebooks = []
    for path in map(Path, paths):
        try:
            notebooks.append((path, nbformat.read(path, as_version=4)))
        except (OSError, ValueError) as err:
            raise NotebookError(
                f"{path}: not a readable notebook ({type(err).__name__}: {err}); nothing was run "
                "and no result deleted: check the path"
            ) from err
    return notebooks


def execute_all(
    notebooks: Sequence[tuple[Path, Any]], *, build: Path, timeout: int = -1
) -> tuple[dict[str, float], dict[str, str]]:
    """Execute each read notebook and write its stamped copy under ``build``; ({key: seconds}, {key: error}).

    A failing notebook does not stop the others.
    """
    import nbformat

    wall, failed = {}, {}
    for path, nb in notebooks:
        start, key = time.perf_counter(), notebook_key(path)
        error = execute_notebook(nb, path, timeout=timeout)
        wall[key] = time.perf_counter() - start
        if error:
            failed[key] = error
            print(f"[course] {path.name} failed at {error}", file=sys.stderr)
        nb.metadata["course_run"] = run_stamp(wall[key], error)
        out = executed_path(path, build)
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out)
    return wall, failed
