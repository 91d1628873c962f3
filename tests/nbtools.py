"""Maintainer tools for the lesson notebooks (not a test module).

* ``python tests/nbtools.py store notebooks/03_*.ipynb`` executes notebooks in the
  smoke profile and keeps outputs only on ``# NBVAL_CHECK_OUTPUT`` cells (with
  their execution counts); every other output is stripped.
* ``python tests/nbtools.py strip notebooks/*.ipynb`` strips all unchecked outputs.
* ``new_notebook(cells)`` builds a notebook whose first code cell is the Colab
  bootstrap every lesson starts with.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

import nbformat

CHECK = "# NBVAL_CHECK_OUTPUT"
BOOTSTRAP = '''\
# Colab or a fresh kernel: install the course package when it is missing.
import os
COURSE_REPO = os.environ.get("COURSE_REPO_URL", "https://github.com/pytorch-course/image-classification-course")
try:
    import course_utils
except ModuleNotFoundError:
    %pip install -q "course-utils @ git+{COURSE_REPO}"
    import course_utils'''


def new_notebook(cells: Sequence[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook from ``("md" | "code", source)`` pairs, after the Colab bootstrap cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    made = [nbformat.v4.new_code_cell(BOOTSTRAP)]
    for kind, source in cells:
        maker = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        made.append(maker(source.strip("\n")))
    nb.cells = made
    for cell in nb.cells:  # stable ids keep diffs small
        cell.pop("id", None)
    nb.nbformat_minor = 4
    return nb


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop outputs and execution counts of every cell that nbval does not check."""
    for cell in nb.cells:
        if cell.cell_type == "code" and CHECK not in cell.source:
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    return nb


def store(path: Path) -> None:
    """Execute ``path`` in the smoke profile and keep only the checked cells' outputs."""
    from nbclient import NotebookClient

    os.environ.setdefault("COURSE_PROFILE", "smoke")
    os.environ.setdefault("MPLBACKEND", "Agg")
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    if shared.is_dir():
        os.environ.setdefault("COURSE_DATA_DIR", str(shared))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(strip(nb), path)


def main(argv: Sequence[str]) -> int:
    """``store|strip NOTEBOOK...``"""
    if len(argv) < 2 or argv[0] not in ("store", "strip"):
        print(__doc__, file=sys.stderr)
        return 2
    for name in argv[1:]:
        path = Path(name)
        if argv[0] == "store":
            store(path)
        else:
            nbformat.write(strip(nbformat.read(path, as_version=4)), path)
        print(f"{argv[0]}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
