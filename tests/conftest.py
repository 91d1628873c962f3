"""Shared fixtures: real data beside the checkout when present, and a clean environment."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real data folder beside the checkout (../shared/data); skips when absent."""
    if not (SHARED_DATA / "cifar10_subset.npz").is_file():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No network, an empty data root and no COURSE_DATA_DIR: only the stand-in is left."""
    from course_utils import data

    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("COURSE_DATA_ROOT", str(tmp_path / "root"))
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    data.network_available.cache_clear()
    yield tmp_path
    data.network_available.cache_clear()


SESSION_START = time.time()


@pytest.fixture
def session_start() -> float:
    """When this pytest session began (results written since then are this session's)."""
    return SESSION_START


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "after_notebooks: run after the nbval notebook items")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """Move the checks of recorded results behind the notebooks that record them."""
    items.sort(key=lambda item: item.get_closest_marker("after_notebooks") is not None)


# ---- site (issue 17): a small course site, built once per session --------------------------
SITE_SEARCH_WORD = "quokkasaurus"  # appears only in the first test lesson


def _site_notebook(*cells: tuple[str, str]) -> "object":
    import nbformat

    make = {"md": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    nb = nbformat.v4.new_notebook(cells=[make[kind](source) for kind, source in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _site_notebooks(root: Path) -> list[Path]:
    """Two lessons and a solution that show what real lessons show: figures, a widget with its
    still picture, a progress bar, a machine path in a printout, and a recorded result."""
    import nbformat

    plot = ("%matplotlib inline\nimport matplotlib.pyplot as plt\n"
            "fig, ax = plt.subplots(figsize=(3, 2))\nax.plot([0, 1, 2], [{}, 1, 0])")
    lesson1 = _site_notebook(
        ("code", "import os\nfrom course_utils import report"),
        ("md", f"# 01 · Alpha lesson\n\nThe {SITE_SEARCH_WORD} learns to classify images.\n\n"
               "## A curve\n\nSee [the next lesson](02_beta.ipynb)."),
        ("code", plot.format(2)),
        ("code", "print('working in', os.getcwd())\n" + plot.format(3)),
        ("code", "subset = os.path.join(os.environ['COURSE_DATA_DIR'], 'cifar10_subset.npz')\n"
                 "report.record('01', data_source=f'cifar10: subset ({subset})', test_acc=0.4321,"
                 " seconds=1.5)"))
    lesson2 = _site_notebook(
        ("md", "# 02 · Beta lesson\n\nThe augmentation explorer, on eight random images."),
        ("code", "import numpy as np\nfrom PIL import Image\nimport ipywidgets as W\n"
                 "from course_utils import widgets\nrng = np.random.default_rng(0)\n"
                 "images = [(Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)), i % 2)"
                 " for i in range(8)]\nW.IntProgress(value=3, max=10)"),
        ("code", "explorer = widgets.AugmentationExplorer(images, n=4, seed=0)\nexplorer"))
    solution = _site_notebook(("md", "# 01 · Solutions\n\nOne exercise, solved."),
                              ("code", plot.format(5)))
    (root / "solutions").mkdir(parents=True)
    paths = [root / "01_alpha.ipynb", root / "02_beta.ipynb", root / "solutions" / "01_alpha.ipynb"]
    for nb, path in zip((lesson1, lesson2, solution), paths):
        nbformat.write(nb, path)
    return paths


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Notebooks executed by ``report.run_notebooks`` (as ``make course`` does), then the site
    built from them by ``docs/make_site.py`` (as ``make site`` does), in a temporary build/."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("site")
    build, data_dir = root / "build", root / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "COURSE_WIDGETS")}
    env.update(COURSE_BUILD_DIR=str(build), COURSE_PROFILE="smoke", COURSE_OFFLINE="1",
               COURSE_DATA_DIR=str(data_dir), COURSE_LIVE_PLOT="0")
    paths = _site_notebooks(root / "notebooks")
    run = subprocess.run([sys.executable, "-m", "course_utils.report", "run", *map(str, paths)],
                         env=env, cwd=root, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    start = time.perf_counter()
    made = subprocess.run([sys.executable, str(REPO / "docs" / "make_site.py")], env=env, cwd=root,
                          capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - start
    assert made.returncode == 0, made.stdout + made.stderr
    return {"root": root, "build": build, "site": build / "site", "seconds": seconds,
            "log": made.stdout + made.stderr, "word": SITE_SEARCH_WORD}
# (end of site)
