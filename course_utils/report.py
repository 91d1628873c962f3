"""Headline results of each lesson, and the runner behind ``make course``.

A lesson ends with ``report.record("03", test_acc=0.54, seconds=81.2)``. That
writes ``build/results/03.json`` with the profile, device, data source and
library versions. ``python -m course_utils.report run notebooks/*.ipynb``
executes notebooks headlessly, stores executed copies in ``build/notebooks/``
and writes the table ``build/results.md``.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence


def build_dir() -> Path:
    """``$COURSE_BUILD_DIR``, else ``build/`` of the source checkout, else ``./build``."""
    env = os.environ.get("COURSE_BUILD_DIR")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "notebooks").is_dir():
        return checkout / "build"
    return Path.cwd() / "build"


def _versions() -> dict[str, str]:
    import numpy
    import torch
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": numpy.__version__}


def _plain(value: Any) -> Any:
    """Numbers from tensors and numpy scalars as plain Python values."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()
    return value


def record(notebook_id: str, *, cfg: Any = None, data_source: str | None = None,
           **figures: float) -> Path:
    """Write a lesson's headline figures to ``build/results/<notebook_id>.json``.

    ``cfg`` (a RunConfig) supplies profile, device and data sources; figures are
    numbers such as ``test_acc=0.54`` (fractions) or ``seconds=81.2``.
    """
    from . import config

    profile = getattr(cfg, "profile", None) or config.resolve_profile()
    device = str(getattr(cfg, "device", None) or config.pick_device())
    sources = dict(getattr(cfg, "data_sources", {}) or {})
    source = data_source or ", ".join(f"{k}: {v}" for k, v in sources.items()) or "n/a"
    entry = {"notebook": notebook_id, "profile": profile, "device": device,
             "data_source": source, "data_kind": source_kind(source),
             "figures": {k: _plain(v) for k, v in figures.items()},
             "versions": _versions(), "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    out = build_dir() / "results" / f"{notebook_id}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(entry, indent=2) + "\n")
    print(f"[course] recorded {notebook_id}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in entry["figures"].items()))
    return out


def source_kind(source: str) -> str:
    """``synthetic``, ``subset`` or ``real`` from a data-source description."""
    if "synthetic" in source:
        return "synthetic"
    if "subset" in source:
        return "subset"
    return "real"


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def load_results(directory: Path | None = None) -> list[dict[str, Any]]:
    """Every recorded result, sorted by notebook id."""
    directory = directory or build_dir() / "results"
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


def results_table(results: Sequence[dict[str, Any]], wall: dict[str, float] | None = None,
                  failed: dict[str, str] | None = None) -> str:
    """A Markdown table: notebook, profile, device, data source, headline figures, seconds."""
    lines = ["| notebook | profile | device | data source | headline figures | seconds |",
             "| --- | --- | --- | --- | --- | --- |"]
    by_id, failed = {r["notebook"]: r for r in results}, failed or {}
    for nb_id in sorted(set(by_id) | set(wall or {})):
        r = by_id.get(nb_id, {"profile": "-", "device": "-", "data_source": "-",
                              "figures": {"note": "no figures recorded"}})
        figs = ", ".join(f"{k} {_fmt(v)}" for k, v in r["figures"].items() if k != "seconds")
        if nb_id in failed:
            figs = f"FAILED: {failed[nb_id]}"
        secs = (wall or {}).get(nb_id, r["figures"].get("seconds", float("nan")))
        lines.append(f"| {nb_id} | {r['profile']} | {r['device']} | {r['data_source']} "
                     f"| {figs} | {secs:.0f} |")
    return "\n".join(lines) + "\n"


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
    return (lines[0][:width] if lines else "")


def execute_notebook(nb: Any, path: Path, *, timeout: int = -1) -> str | None:
    """Run every cell of ``nb`` in a fresh kernel, with a progress bar per cell.

    Returns None, or the error of the first cell that failed (later cells do not run).
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from tqdm.auto import tqdm

    client = NotebookClient(nb, timeout=timeout, resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel(), tqdm(total=len(nb.cells), desc=path.stem, unit="cell") as bar:
        with _ticking(bar, every=1.0 if sys.stderr.isatty() else 30.0):  # a log gets a line per 30 s
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    bar.set_postfix_str(_first_line(cell.source), refresh=True)
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as err:
                    return f"cell {index}: {getattr(err, 'ename', 'error')}: {getattr(err, 'evalue', '')}"
                bar.update()
    return None


def run_notebooks(paths: Sequence[str | os.PathLike], *, timeout: int = -1) -> tuple[Path, dict[str, str]]:
    """Execute notebooks headlessly; write executed copies and ``results.md``.

    A failing notebook does not stop the others; returns the table's path and the failures.
    """
    import nbformat

    out_dir, wall, failed = build_dir() / "notebooks", {}, {}
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in map(Path, paths):  # no stale figures from an earlier run
        (build_dir() / "results" / f"{path.stem[:2]}.json").unlink(missing_ok=True)
    for path in map(Path, paths):
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        error = execute_notebook(nb, path, timeout=timeout)
        wall[path.stem[:2]] = time.perf_counter() - start
        if error:
            failed[path.stem[:2]] = error
            print(f"[course] {path.name} failed at {error}", file=sys.stderr)
        nbformat.write(nb, out_dir / path.name)
    table = build_dir() / "results.md"
    table.write_text("# Course results\n\n" + results_table(load_results(), wall, failed))
    print(table.read_text())
    return table, failed


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``run NOTEBOOK...`` or ``table``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["run"] and len(args) > 1:
        _, failed = run_notebooks(args[1:])
        return 1 if failed else 0
    if args[:1] == ["table"]:
        print(results_table(load_results()))
        return 0
    print("usage: python -m course_utils.report run NOTEBOOK... | table", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
