"""The course as a learner installs it: the wheel of a clean export, installed NON-editably.

Every notebook's first cell runs ``%pip install "course-utils @ git+..."``, which builds a wheel
from the repository's tracked files; ``make`` installs the checkout editable (``-e``), which
would hide a module left out of the wheel. So this test

1. exports the tracked files (``git ls-files``, as they are in the working tree) to a temporary
   folder, builds the sdist there and the wheel from the unpacked sdist (what ``python -m build``
   does), through setuptools' own build hooks: no network, no build isolation;
2. makes a fresh virtual environment outside the checkout and installs the wheel into it with
   ``pip install --no-deps`` (not editable);
3. imports every module of ``course_utils`` that git tracks from there, checking that each one
   comes from that environment, runs ``python -m course_utils.train --help``, and executes
   lessons 00 and 03 (smoke profile) in a kernel of that environment.

The fresh environment borrows its *dependencies* (torch and the rest, about 6 GB when installed
anew) from the interpreter running the tests: ``python -m venv --without-pip`` from the same base
Python, plus a ``.pth`` file naming this interpreter's site-packages folders. A ``.pth`` line that
names a folder only puts it on ``sys.path``; the ``.pth`` files *inside* it, among them the
editable finder that ``pip install -e`` puts in ``.venv``, are not run. The test proves it: before
the wheel is installed, ``import course_utils`` fails in the fresh environment, and after it every
module's ``__file__`` lies in the fresh environment's own site-packages.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
LESSONS = ("00_setup.ipynb", "03_tutorial_cnn_cifar10.ipynb")

pytestmark = pytest.mark.installed_wheel


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd``; on failure, fail the test with its output."""
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout}\n{done.stderr}"
    return done


def tracked() -> list[str]:
    """The repository's tracked files that exist in the working tree."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the wheel test exports git's tracked files")
    names = _run(["git", "-C", str(REPO), "ls-files", "-z"]).stdout.split("\0")
    return [n for n in names if n and (REPO / n).is_file()]


def course_modules(files: list[str]) -> list[str]:
    """``course_utils.data.formats`` and the like, for every tracked module of the package
    (a ``__main__`` runs its program when imported: ``--help`` tries that one)."""
    out = []
    for name in files:
        if name.startswith("course_utils/") and name.endswith(".py") and not name.endswith("/__main__.py"):
            module = name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            out.append(module)
    return sorted(out)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that points Python at the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    return {**env, "PYTHONNOUSERSITE": "1", **extra}


def backend_env(folder: Path) -> dict[str, str]:
    """The environment for setuptools' build hooks: this interpreter's setuptools when it meets
    pyproject.toml's ``[build-system] requires`` (no network), else that requirement installed
    into ``folder`` by pip and put first on PYTHONPATH (Python 3.10's venvs bring setuptools 65)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    (line,) = re.search(r"^requires = \[(.*)\]", text, re.MULTILINE).group(1).split(",")[:1]
    requirement = Requirement(line.strip().strip('"'))
    try:
        if requirement.specifier.contains(metadata.version("setuptools")):
            return clean_env()
    except metadata.PackageNotFoundError:
        pass
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(folder), str(requirement)])
    return clean_env(PYTHONPATH=str(folder))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel built from a clean export of the tracked files."""
    files = tracked()
    root = tmp_path_factory.mktemp("wheel")
    export, dist = root / "export", root / "dist"
    for name in files:
        (export / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, export / name)
    env = backend_env(root / "backend")
    hooks = "import sys; from setuptools import build_meta as b; print(getattr(b, sys.argv[1])(sys.argv[2]))"
    sdist = (
        dist
        / _run([sys.executable, "-c", hooks, "build_sdist", str(dist)], cwd=export, env=env).stdout.split()[
            -1
        ]
    )
    with tarfile.open(sdist) as archive:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # 3.10.12+; older 3.10s lack it
        archive.extractall(root / "unpacked", **safe)
    (unpacked,) = (root / "unpacked").iterdir()
    wheel = (
        dist
        / _run([sys.executable, "-c", hooks, "build_wheel", str(dist)], cwd=unpacked, env=env).stdout.split()[
            -1
        ]
    )
    return {"sdist": sdist, "wheel": wheel, "root": root}


@pytest.fixture(scope="module")
def installed(built: dict[str, Path]) -> Path:
    """A fresh environment's python with the wheel installed (non-editable)."""
    env_dir = built["root"] / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)])
    python = env_dir / "bin" / "python"
    purelib = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    )
    (purelib / "borrowed-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    before = subprocess.run(
        [str(python), "-c", "import course_utils; print(course_utils.__file__)"],
        capture_output=True,
        text=True,
        cwd=built["root"],
        env=clean_env(),
    )
    assert before.returncode != 0 and "No module named 'course_utils'" in before.stderr, (
        f"course_utils is importable in the fresh environment before the wheel is installed: {before.stdout}"
    )
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(built["wheel"]),
        ],
        env=clean_env(),
    )
    return python


def test_wheel_and_sdist_hold_every_module_and_the_license(built: dict[str, Path]) -> None:
    files = tracked()
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = set(wheel.namelist())
    in_wheel = {n.removesuffix(".py").removesuffix("/__init__") for n in names if n.endswith(".py")}
    assert {m.replace(".", "/") for m in course_modules(files)} - in_wheel == set()
    assert "course_utils/data/formats.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), sorted(names)
    with tarfile.open(built["sdist"]) as sdist:
        members = {m.split("/", 1)[1] for m in sdist.getnames() if "/" in m}
    package = {n for n in files if n.startswith("course_utils/")}
    assert ({"LICENSE", "pyproject.toml"} | package) - members == set()


def test_every_module_imports_from_the_installed_wheel(installed: Path, built: dict[str, Path]) -> None:
    modules = course_modules(tracked())
    code = (
        "import importlib, json, sys\n"
        "print(json.dumps({m: importlib.import_module(m).__file__ for m in sys.argv[1:]}))"
    )
    where = json.loads(
        _run([str(installed), "-c", code, *modules], cwd=built["root"], env=clean_env()).stdout
    )
    purelib = _run([str(installed), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout
    outside = {m: f for m, f in where.items() if not Path(f).is_relative_to(purelib.strip())}
    assert len(where) == len(modules) and outside == {}, outside
    assert Path(where["course_utils"]).parent == Path(purelib.strip()) / "course_utils"


def test_the_training_script_runs_from_the_wheel(installed: Path, built: dict[str, Path]) -> None:
    done = _run([str(installed), "-m", "course_utils.train", "--help"], cwd=built["root"], env=clean_env())
    assert done.stdout.startswith("usage:") and "--epochs" in done.stdout


@pytest.mark.parametrize("name", LESSONS)
def test_a_lesson_runs_against_the_installed_wheel(
    installed: Path, built: dict[str, Path], name: str
) -> None:
    """The lesson, plus one cell that prints where its kernel imported course_utils from."""
    folder = built["root"] / "lessons"
    folder.mkdir(exist_ok=True)
    nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import course_utils\nprint(course_utils.__file__)"))
    nbformat.write(nb, folder / name)
    data = os.environ.get("COURSE_DATA_DIR") or str(REPO.parent / "shared" / "data")
    env = clean_env(
        COURSE_PROFILE="smoke",
        COURSE_LIVE_PLOT="0",
        MPLBACKEND="Agg",
        COURSE_STRICT_WARNINGS="1",
        COURSE_BUILD_DIR=str(built["root"] / "build"),
        COURSE_DATA_DIR=data,
    )
    run = (
        "import sys, nbformat, nbclient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "nbclient.NotebookClient(nb, timeout=600, kernel_name='python3').execute()\n"
        "print(nb.cells[-1].outputs[0]['text'].strip())"
    )
    done = _run([str(installed), "-c", run, name], cwd=folder, env=env)
    purelib = _run([str(installed), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout
    assert Path(done.stdout.strip().splitlines()[-1]).parent == Path(purelib.strip()) / "course_utils"
