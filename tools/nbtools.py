"""Maintainer tools for the lesson notebooks (not a test module).

* ``python tools/nbtools.py store notebooks/03_*.ipynb`` executes notebooks in the
  smoke profile and keeps outputs only on ``# NBVAL_CHECK_OUTPUT`` cells (with
  their execution counts); every other output is stripped.
* ``python tools/nbtools.py strip notebooks/*.ipynb`` strips all unchecked outputs.
* ``python tools/nbtools.py header notebooks/*.ipynb notebooks/solutions/*.ipynb`` writes
  each notebook's header line (run time per profile and an "Open in Colab" badge, directly
  under the title) and its bootstrap (first code) cell, ``bootstrap()``, and the run-time columns of
  README's table, all from ``notebooks/course.toml`` (the one home of both settings).
* ``new_notebook(cells)`` builds a notebook whose first code cell is the Colab
  bootstrap every lesson starts with.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

CHECK = "# NBVAL_CHECK_OUTPUT"
ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / "notebooks" / "course.toml"
PROFILES = {"smoke": "smoke", "quick": "quick", "full": "full (GPU)"}
BADGE = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"


def settings(path: Path = SETTINGS) -> dict[str, Any]:
    """``notebooks/course.toml``: the repository URL, its branch and the measured run times."""
    return tomllib.loads(path.read_text(encoding="utf-8"))


def bootstrap(repository: str) -> str:
    """The first code cell of every notebook: install ``course_utils`` from ``repository`` when
    missing, then say in one line which version was installed from where, and whether pip changed
    a package that was there before (then the runtime must be restarted). Written as ruff formats
    it, for any ``repository`` (the trailing comma keeps the call on three lines)."""
    return f'''\
# Colab or a fresh kernel: install the course package when it is missing, and say what changed.
import json
import os
from importlib import invalidate_caches, metadata

COURSE_REPO = os.environ.get(
    "COURSE_REPO_URL",
    "{repository}",
)
try:
    import course_utils

    print(f"course_utils {{course_utils.__version__}} is installed: {{os.path.dirname(course_utils.__file__)}}")
except ModuleNotFoundError:
    before = {{str(d.metadata["Name"]).lower(): d.version for d in metadata.distributions()}}
    %pip install -q "course-utils @ git+{{COURSE_REPO}}"
    invalidate_caches()
    import course_utils

    after = {{str(d.metadata["Name"]).lower(): d.version for d in metadata.distributions()}}
    changed = [f"{{n}} {{v}} -> {{after.get(n, 'none')}}" for n, v in sorted(before.items()) if after.get(n) != v]
    commit = (
        json.loads(metadata.distribution("course-utils").read_text("direct_url.json") or "{{}}")
        .get("vcs_info", {{}})
        .get("commit_id", "?")[:12]
    )
    print(
        f"Installed course-utils {{course_utils.__version__}} (commit {{commit}}) from {{COURSE_REPO}}: "
        + (
            f"pip changed {{', '.join(changed)}}; restart the runtime (Runtime > Restart session)."
            if changed
            else "no preinstalled package changed."
        )
    )'''  # noqa: E501 (the cell's own lines are at most 110 characters)


def notebook_key(path: Path) -> tuple[str, str]:
    """``("lessons", "03")`` for notebooks/03_*.ipynb.

    ``("solutions", "03")`` for notebooks/solutions/03_*.
    """
    kind = "solutions" if Path(path).parent.name == "solutions" else "lessons"
    number = Path(path).name[:2]
    if not number.isdigit():
        raise ValueError(f"{path}: notebook names start with their two-digit lesson number (03_topic.ipynb)")
    return kind, number


def _seconds(value: Any) -> str:
    return f"{value:,} s" if isinstance(value, int) else "not yet measured"


def header_line(path: Path, config: dict[str, Any]) -> str:
    """The badge and run-time line written under the notebook's title."""
    kind, number = notebook_key(path)
    times = config.get("run_times", {}).get(kind, {}).get(number, {})
    repo = config["repository"].rstrip("/").removesuffix(".git")
    owner_repo = repo.split("github.com/", 1)[-1]
    where = "notebooks/solutions" if kind == "solutions" else "notebooks"
    colab = f"https://colab.research.google.com/github/{owner_repo}/blob/{config['branch']}/{where}/{Path(path).name}"
    runs = " · ".join(f"{label} {_seconds(times.get(p))}" for p, label in PROFILES.items())
    if not any(isinstance(times.get(p), int) for p in PROFILES):
        runs = "not yet measured"
    readme = f"{repo}/blob/{config['branch']}/README.md#the-notebooks"
    return f"{BADGE}({colab}) Run time: {runs} ([how measured]({readme}))"


def _title_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return cell
    raise ValueError("the notebook has no title: a Markdown cell starting with '# ' is needed")


def with_header(nb: nbformat.NotebookNode, path: Path, config: dict[str, Any]) -> nbformat.NotebookNode:
    """``nb`` with its header line (under the title) and bootstrap cell written from ``config``."""
    cell = _title_cell(nb)
    lines = cell.source.split("\n")
    rest = lines[1:]
    while rest and (not rest[0].strip() or rest[0].startswith(BADGE)):
        rest = rest[1:]
    cell.source = "\n".join([lines[0], "", header_line(path, config)] + ([""] + rest if rest else []))
    next(c for c in nb.cells if c.cell_type == "code").source = bootstrap(config["repository"])
    return nb


def header_problems(path: Path, config: dict[str, Any]) -> list[str]:
    """How the notebook's header line and bootstrap cell differ from what ``header`` would write."""
    nb = nbformat.read(path, as_version=4)
    try:
        title, first = _title_cell(nb).source, next(c for c in nb.cells if c.cell_type == "code").source
    except (ValueError, StopIteration) as err:
        return [f"{path.name}: {err}"]
    wanted = with_header(nbformat.from_dict(nb), path, config)
    problems = []
    if _title_cell(wanted).source != title:
        problems.append(f"{path.name}: header line under the title is not {header_line(path, config)!r}")
    if first != bootstrap(config["repository"]):
        problems.append(
            f"{path.name}: the first code cell is not nbtools.bootstrap({config['repository']!r})"
        )
    return problems


def readme_with_times(text: str, config: dict[str, Any]) -> str:
    """README's table of notebooks with its last three columns (smoke, quick, full) from ``config``."""
    times = config.get("run_times", {}).get("lessons", {})
    out = []
    for line in text.split("\n"):
        match = re.match(r"\| `(\d\d)_\w+` \|", line)
        if match:
            cells = line.strip().strip("|").split(" | ")
            cells[-3:] = [_seconds(times.get(match.group(1), {}).get(p)) for p in PROFILES]
            line = "| " + " | ".join(c.strip() for c in cells) + " |"
        out.append(line)
    return "\n".join(out)


def write_header(path: Path, config: dict[str, Any]) -> None:
    """Rewrite ``path``'s header line and bootstrap cell in place."""
    nb = nbformat.read(path, as_version=4)
    nbformat.write(with_header(nb, path, config), path)


def new_notebook(cells: Sequence[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook from ``("md" | "code", source)`` pairs, after the Colab bootstrap cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    made = [nbformat.v4.new_code_cell(bootstrap(settings()["repository"]))]
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
    nb.metadata.pop("widgets", None)  # widget state belongs to the site's executed copies
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
    NotebookClient(
        nb, timeout=900, store_widget_state=False, resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    nbformat.write(strip(nb), path)


def main(argv: Sequence[str]) -> int:
    """``store|strip|header NOTEBOOK...``"""
    if len(argv) < 2 or argv[0] not in ("store", "strip", "header"):
        print(__doc__, file=sys.stderr)
        return 2
    config = settings()
    for name in argv[1:]:
        path = Path(name)
        if argv[0] == "store":
            store(path)
        elif argv[0] == "header":
            write_header(path, config)
        else:
            nbformat.write(strip(nbformat.read(path, as_version=4)), path)
        print(f"{argv[0]}: {path}")
    if argv[0] == "header":
        readme = ROOT / "README.md"
        readme.write_text(readme_with_times(readme.read_text(encoding="utf-8"), config), encoding="utf-8")
        print(f"header: run times in {readme.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
