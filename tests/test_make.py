"""The Makefile's promises that need no GPU: USE_SYSTEM_TORCH, gpu-check's refusal, the oldest floors.

``python tests/test_make.py /tmp/torchenv`` builds the environment these tests use (a venv that
has torch and torchvision, taken from this one, and nothing else of the course's), for the
measured manual check in README: ``make test-unit USE_SYSTEM_TORCH=1 PYTHON=/tmp/torchenv/bin/python``.
"""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="needs make")


def _torch_closure() -> set[str]:
    """torch, torchvision and every distribution they need, as installed here."""
    found: set[str] = set()
    todo = ["torch", "torchvision"]
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in found:
            continue
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        found.add(name)
        # torch asks for cuda-toolkit[cublas, ...]: its extras' libraries are part of torch here
        todo += [
            re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0]
            for r in requires
            if "extra ==" not in r or name.startswith("cuda-toolkit")
        ]
    return found


def torch_only_env(dest: Path, *, with_pip: bool) -> Path:
    """A venv at ``dest`` with this environment's torch and torchvision (linked, not copied) and
    nothing else of the course's; returns its interpreter. Like a GPU image's own torch."""
    args = [sys.executable, "-m", "venv", str(dest)] + ([] if with_pip else ["--without-pip"])
    subprocess.run(args, check=True, capture_output=True)
    python = dest / "bin" / "python"
    target = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    here = Path(sysconfig.get_path("purelib"))
    # GPU images have packaging too; pip and setuptools stay the venv's own (one copy of each)
    for name in (_torch_closure() | {"packaging"}) - {"pip", "setuptools"}:
        dist = metadata.distribution(name)
        tops = {Path(str(f)).parts[0] for f in dist.files or []}
        for top in tops - {"..", "bin"}:
            if (here / top).exists() and not (target / top).exists():
                (target / top).symlink_to(here / top)
    return python


def _torch_of(python: Path) -> str:
    """Version and location of torch and torchvision in ``python``'s environment (without importing torch)."""
    code = (
        "import importlib.metadata as m\n"
        "for n in ('torch', 'torchvision'):\n"
        "    d = m.distribution(n); print(n, d.version, d.locate_file(n).resolve())"
    )
    return subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def setup_without_torch(tmp_path: Path) -> tuple[subprocess.CompletedProcess, float]:
    """``make setup`` with USE_SYSTEM_TORCH=1 and an interpreter that has no torch: (result, seconds)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    python = tmp_path / "bare" / "bin" / "python"
    start = time.perf_counter()
    out = subprocess.run(
        [MAKE, "-C", str(REPO), "setup", "USE_SYSTEM_TORCH=1", f"PYTHON={python}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out, time.perf_counter() - start


def refusal_baseline(tmp_path: Path) -> float:
    """Seconds for the quickest refusal there is, measured now on this machine: ``make setup``
    with USE_SYSTEM_TORCH=1 and an interpreter that has no torch (make starts, Python starts,
    .ci/system_env.py stops at its first check). A refusal that waits for the network or
    installs anything takes many times longer; one that stops at once, a few times at most."""
    out, seconds = setup_without_torch(tmp_path)
    assert out.returncode != 0 and "torch and torchvision are not installed" in out.stderr
    return seconds


@pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="Python 3.10 reads pyproject.toml through tomli or pip: a pip-less 3.10 environment is "
    "told to install pip before anything is named (.ci/oldest.py)",
)
def test_system_torch_without_an_index_stops_at_once_naming_what_is_missing(tmp_path) -> None:
    python = torch_only_env(tmp_path / "env", with_pip=False)
    before = _torch_of(python)
    baseline = refusal_baseline(tmp_path)
    env = {**os.environ, "PIP_NO_INDEX": "1"}
    env.pop("PIP_FIND_LINKS", None)
    start = time.perf_counter()
    out = subprocess.run(
        [
            MAKE,
            "-C",
            str(REPO),
            "test-unit",
            "USE_SYSTEM_TORCH=1",
            f"PYTHON={python}",
            f"VENV={tmp_path / 'venv'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    seconds = time.perf_counter() - start
    assert out.returncode != 0
    message = [line for line in out.stderr.splitlines() if "no package index answers" in line]
    assert len(message) == 1, out.stderr
    for name in ("matplotlib", "tqdm", "ipywidgets", "torchinfo", "pytest", "nbval", "ruff", "course-utils"):
        assert name in message[0]
    assert "torch>=" not in message[0] and "torchvision" not in message[0]
    assert seconds < 10 * baseline, f"took {seconds:.1f} s, the quickest refusal {baseline:.1f} s"
    assert not (tmp_path / "venv").exists()  # no venv was made
    assert _torch_of(python) == before


def test_system_torch_refuses_an_environment_without_torch(tmp_path) -> None:
    out, _ = setup_without_torch(tmp_path)
    assert out.returncode != 0
    assert "torch and torchvision are not installed" in out.stderr
    assert "never installed or upgraded here" in out.stderr


@pytest.mark.skipif(
    shutil.which("nvidia-smi") is not None or Path("/dev/nvidia0").exists(),
    reason="this machine has a GPU driver",
)
def test_gpu_check_refuses_quickly_without_cuda(tmp_path) -> None:
    baseline = refusal_baseline(tmp_path)
    start = time.perf_counter()
    out = subprocess.run(
        [MAKE, "-C", str(REPO), "gpu-check", f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    seconds = time.perf_counter() - start
    assert out.returncode != 0
    assert "make gpu-check needs CUDA" in out.stderr
    assert seconds < 5 * baseline, f"took {seconds:.1f} s, the quickest refusal {baseline:.1f} s"
    assert not (tmp_path / "venv").exists()  # it stopped before installing anything


def test_gpu_report_sums_seconds_per_notebook(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / ".ci"))
    import gpu_check

    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite><testcase classname="notebooks.03_x.ipynb" name="Cell 0" time="1.5"/>'
        '<testcase classname="notebooks.03_x.ipynb" name="Cell 1" time="2.25"/>'
        '<testcase classname="tests.test_expected_results" name="test_floors" time="0.5"/>'
        "</testsuite></testsuites>"
    )
    assert gpu_check.notebook_seconds(junit) == {
        "notebooks.03_x.ipynb": 3.75,
        "tests.test_expected_results": 0.5,
    }
    assert gpu_check.notebook_seconds(tmp_path / "missing.xml") == {}


def test_oldest_constraints_pin_every_floor_of_pyproject(tmp_path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / ".ci" / "oldest.py"),
            str(REPO / "pyproject.toml"),
            "--extras",
            "lab,test",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^ ;\n]+)", out, flags=re.MULTILINE))
    assert pins["torch"] == "2.11" and pins["torchvision"] == "0.26"
    assert {"numpy", "pytest", "nbval", "jupyterlab"} <= set(pins)
    assert pins["ipywidgets"] == "8.0", "JupyterLab 4 needs ipywidgets 8: the lab extra's floor wins"


def test_a_name_required_twice_is_pinned_at_its_higher_floor() -> None:
    spec = importlib.util.spec_from_file_location("oldest", REPO / ".ci" / "oldest.py")
    oldest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(oldest)
    pins = oldest.floors(["ipywidgets>=7.7.1", "pillow>=10.1", "ipywidgets>=10.0", "Pillow>=9.5"])
    assert pins == ["ipywidgets==10.0", "pillow==10.1"]  # 10.0 > 7.7.1 as versions, not as strings
    assert oldest.floors(["jupyter_server>=2.0", "Jupyter-Server>=2.4"]) == ["Jupyter-Server==2.4"]


if __name__ == "__main__":
    print(torch_only_env(Path(sys.argv[1]), with_pip=True))


def test_environment_yml_makefile_and_ci_describe_the_same_environments() -> None:
    """environment.yml is `make setup`'s .venv (Python, extras, pins); CI runs the matrix README gives:
    the default Python for make test, 3.13 for test-colab, the oldest declared Python for test-oldest."""
    yaml = pytest.importorskip("yaml")  # PyYAML comes with jupyter-events (the lab extra)

    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    extras = re.search(r"^EXTRAS \?= (\S+)$", makefile, re.MULTILINE).group(1)
    constraints = re.search(r"^CONSTRAINTS \?= (\S+)$", makefile, re.MULTILINE).group(1)
    conda = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))["dependencies"]
    pip_lines = next(d["pip"] for d in conda if isinstance(d, dict))
    assert pip_lines == [f"-c {constraints}", f'-e ".[{extras}]"']
    jobs = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))["jobs"]

    def pythons(job: str) -> list[str]:
        setup = next(s for s in jobs[job]["steps"] if s.get("uses", "").startswith("actions/setup-python"))
        return str(setup["with"]["python-version"]).split()

    default = f"python={pythons('test')[-1]}"
    assert default in conda and "3.13" in pythons("test")
    assert any(s.get("run") == "bash .ci/run" for s in jobs["test"]["steps"])
    assert (
        (REPO / ".ci" / "run").read_text().rstrip().endswith("make test\nmake test-kernels\nmake test-colab")
    )
    floor = re.search(
        r'^requires-python = ">=(\d+\.\d+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE
    )
    assert pythons("oldest") == [floor.group(1)]
    assert any(s.get("run") == "make test-oldest" for s in jobs["oldest"]["steps"])
