"""Write ``.ci/colab-pins.txt``: Colab's versions of everything the course and its tests import.

    python3.13 .ci/colab_pins.py FREEZE --commit SHA --date YYYY-MM-DD > .ci/colab-pins.txt

FREEZE is ``pip-freeze.gpu.txt`` of the public repository googlecolab/backend-info at commit SHA
(https://github.com/googlecolab/backend-info/blob/SHA/pip-freeze.gpu.txt). Run it with the
Python that Colab runs (its ``os-info.txt``; 3.13 since 2026-08-19), so that markers resolve as
they do there. pip resolves pyproject.toml's dependencies and its ``test`` extra with every
release Colab has pinned to Colab's version (``pip install --dry-run --report``, nothing is
installed); the file lists the result, saying which packages Colab does not have. torchinfo is
left out: Colab lacks it, and the bootstrap cell installs it with the course (make test-colab
checks that this install changes none of the pinned packages).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from oldest import requirements  # noqa: E402  (pyproject's dependencies and extras, as written)

REPO = Path(__file__).resolve().parents[1]
# torch's own CUDA libraries: Colab installs torch 2.11.0+cu128 from download.pytorch.org; PyPI's
# torch 2.11.0 depends on other builds of them, so they follow the torch pin instead of Colab's.
TORCH_STACK = re.compile(r"^(nvidia-|cuda-|triton$)")
BOOTSTRAP_ONLY = {"torchinfo", "course-utils"}


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def colab_versions(freeze: Path) -> dict[str, str]:
    """``{name: version}`` from a ``pip freeze`` file, local labels (``+cu128``) dropped;
    packages installed from a URL (``name @ git+...``) are skipped."""
    out = {}
    for line in freeze.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==([^+\s;]+)", line.strip())
        if match:
            out[canonical(match.group(1))] = match.group(2)
    return out


def resolve(colab: dict[str, str], wanted: list[str]) -> dict[str, str]:
    """``{name: version}`` pip installs for ``wanted`` with Colab's releases as constraints."""
    pins = [f"{n}=={v}" for n, v in colab.items() if not TORCH_STACK.match(n)]
    with tempfile.TemporaryDirectory() as tmp:
        constraints, report = Path(tmp, "colab.txt"), Path(tmp, "report.json")
        constraints.write_text("\n".join(pins) + "\n", encoding="utf-8")
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        # Only the public index: no machine's own pip configuration (local wheel folders, caps).
        env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
        subprocess.run([*cmd, "--report", str(report), "-c", str(constraints), *wanted], check=True, env=env)
        installs = json.loads(report.read_text(encoding="utf-8"))["install"]
    return {canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in installs}


def main() -> None:
    """Parse arguments, resolve, print the pins file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("freeze", type=Path, help="backend-info's pip-freeze.gpu.txt")
    parser.add_argument("--commit", required=True, help="the backend-info commit FREEZE comes from")
    parser.add_argument("--date", required=True, help="that commit's date, YYYY-MM-DD")
    args = parser.parse_args()
    colab = colab_versions(args.freeze)
    wanted = [
        r
        for r in requirements(REPO / "pyproject.toml", ["test"])
        if canonical(re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0]) not in BOOTSTRAP_ONLY
    ]
    resolved = resolve(colab, ["pip==" + colab["pip"], *wanted])
    python = ".".join(map(str, sys.version_info[:2]))
    print(f"""\
# Colab's runtime as googlecolab/backend-info published it at commit {args.commit}
# ({args.date}), file pip-freeze.gpu.txt, for Python {python}: every package the course and its tests
# import, with their dependencies. make test-colab builds .venv-colab from this file.
# Refresh from a newer commit (written by .ci/colab_pins.py; see its docstring):
#   python{python} .ci/colab_pins.py pip-freeze.gpu.txt --commit SHA --date YYYY-MM-DD > .ci/colab-pins.txt
# Marked lines are not Colab's: packages Colab lacks (the test tools, jedi), and torch's CUDA stack,
# which follow PyPI's torch {resolved.get("torch", "?")} (Colab's own build is
# {colab.get("torch", "?")}+cu128, from download.pytorch.org). torchinfo is absent on purpose:
# the bootstrap cell installs it.""")
    for name in sorted(resolved):
        note = ""
        if TORCH_STACK.match(name):
            note = "  # not Colab's: PyPI's torch needs this release"
        elif name not in colab:
            note = "  # not in Colab's list"
        elif colab[name] != resolved[name]:
            raise SystemExit(f"colab_pins: pip chose {name} {resolved[name]}, Colab has {colab[name]}")
        print(f"{name}=={resolved[name]}{note}")


if __name__ == "__main__":
    main()
