"""``make test-colab``, first step: every notebook's bootstrap cell in the emulated Colab.

    .venv-colab/bin/python .ci/colab.py notebooks/*.ipynb notebooks/solutions/*.ipynb

Run with the interpreter of the environment built from ``.ci/colab-pins.txt``. For each
distinct first code cell (every notebook's is ``tools/nbtools.py``'s ``bootstrap()``, so
usually one) it

1. puts the environment back to Colab's packages as pinned: uninstalls what the pins file does
   not list (course-utils and torchinfo, from an earlier run), reinstalls what differs;
2. runs the cell in IPython, as Colab's kernel does (``%pip`` included), with
   ``COURSE_REPO_URL=file://<this checkout>``: pip installs ``git+file://...``, the checkout's
   committed HEAD, exactly as a learner's cell installs from GitHub;
3. compares ``pip freeze --all`` before and after, and fails when pip changed or removed any
   package that was installed before, or when the cell's own line does not say
   "no preinstalled package changed".

The course stays installed afterwards, so the notebooks that nbval then runs use that copy.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PINS = REPO / ".ci" / "colab-pins.txt"
RUN_CELL = (
    "import sys\n"
    "from IPython.core.interactiveshell import InteractiveShell\n"
    "InteractiveShell.instance().run_cell(open(sys.argv[1]).read()).raise_error()\n"
)


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def freeze() -> dict[str, str]:
    """``{name: requirement line}`` of everything installed in this interpreter's environment."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--all"], check=True, capture_output=True, text=True
    ).stdout
    lines = [line.strip() for line in out.splitlines() if line.strip() and not line.startswith("#")]
    return {canonical(re.split(r"\s*(==|@)\s*", line, maxsplit=1)[0]): line for line in lines}


def pinned() -> dict[str, str]:
    """``{name: name==version}`` as ``.ci/colab-pins.txt`` lists them."""
    lines = PINS.read_text(encoding="utf-8").splitlines()
    pins = [line.split("#")[0].strip() for line in lines if "==" in line and not line.startswith("#")]
    return {canonical(pin.split("==")[0]): pin for pin in pins}


def restore() -> None:
    """Colab's packages as pinned: uninstall what is not pinned, reinstall what differs."""
    pins, now = pinned(), freeze()
    extra = sorted(set(now) - set(pins))
    if extra:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", *extra], check=True)
    differ = [pin for name, pin in pins.items() if canonical(now.get(name, "")) != canonical(pin)]
    if differ:
        print(f"colab: putting back Colab's {', '.join(differ)}")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *differ], check=True)


def first_cell(path: Path) -> str:
    """The source of the notebook's first code cell."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "".join(next(c for c in cells if c["cell_type"] == "code")["source"])


def run_bootstrap(source: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """Run one bootstrap cell from a clean Colab state; its output and the freezes around it."""
    restore()
    before = freeze()
    with tempfile.TemporaryDirectory() as tmp:
        cell = Path(tmp, "bootstrap.py")
        cell.write_text(source, encoding="utf-8")
        env = {**os.environ, "COURSE_REPO_URL": f"file://{REPO}"}
        done = subprocess.run(
            [sys.executable, "-c", RUN_CELL, str(cell)], capture_output=True, text=True, cwd=tmp, env=env
        )
    if done.returncode:
        raise SystemExit(f"colab: the bootstrap cell failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout, before, freeze()


def main(paths: list[Path]) -> int:
    """Run each distinct bootstrap cell once; 1 when any of them changed a package."""
    if not paths:
        raise SystemExit("usage: .ci/colab.py NOTEBOOK...")
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "course_utils", "pyproject.toml"],
        capture_output=True,
        text=True,
    ).stdout
    if dirty.strip():
        print(
            "colab: note: pip installs the committed HEAD; uncommitted changes to course_utils/ are not in it"
        )
    groups: dict[str, list[str]] = {}
    for path in paths:
        groups.setdefault(first_cell(path), []).append(path.name)
    failed = 0
    for source, names in groups.items():
        output, before, after = run_bootstrap(source)
        changed = [f"{before[n]} -> {after.get(n, 'removed')}" for n in before if after.get(n) != before[n]]
        added = [after[n] for n in after if n not in before]
        said = [line for line in output.splitlines() if "course-utils" in line or "course_utils" in line]
        print(f"colab: bootstrap cell of {len(names)} notebook(s) ({', '.join(names)})")
        print(f"colab:   the cell said: {said[-1] if said else '(nothing)'}")
        print(f"colab:   pip added: {', '.join(added) or 'nothing'}")
        print(f"colab:   pip changed: {', '.join(changed) or 'nothing'}")
        if changed or not said or "no preinstalled package changed" not in said[-1]:
            failed = 1
            print(
                "colab: FAILED: the install must leave every preinstalled package as it is", file=sys.stderr
            )
    return failed


if __name__ == "__main__":
    sys.exit(main([Path(p) for p in sys.argv[1:]]))
