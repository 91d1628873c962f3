"""The learner's view: notebooks run in real JupyterLab in headless Chromium, widgets included.

Screenshots of every step land in build/screenshots/. ``make test-browser`` runs only these.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import labdriver
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.timeout(300)  # never hang: each test has its own ceiling

AUGMENT_NB = "06_data_augmentation.ipynb"
CNN_NB = "03_tutorial_cnn_cifar10.ipynb"

DEMO_SOURCES = [
    """\
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(3, 2))
ax.bar(["cat", "dog"], [0.4, 0.6])
plt.close(fig)
fig""",
    """\
import io
import ipywidgets as widgets
import numpy as np
from PIL import Image

state = {"seed": 0}
image = widgets.Image(format="png")
flip = widgets.Checkbox(value=True, description="flip")
level = widgets.IntSlider(value=5, min=0, max=10, description="level")
again = widgets.Button(description="Resample")

def draw(*_):
    rng = np.random.default_rng([state["seed"], int(flip.value), level.value])
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(buf, format="PNG")
    image.value = buf.getvalue()

def resample(_):
    state["seed"] += 1
    draw()

flip.observe(draw, "value")
level.observe(draw, "value")
again.on_click(resample)
draw()
widgets.VBox([image, flip, level, again])""",
]


def require_notebook(server: labdriver.LabServer, name: str) -> None:
    """Skip when a lesson notebook is not written yet."""
    if not (server.root_dir / name).is_file():
        pytest.skip(f"notebooks/{name} does not exist yet")


def exercise_widget(page: Page, *, checkbox: str, slider: str, button: str, shot: str) -> None:
    """Untick, tick ``checkbox``; nudge ``slider``; press ``button``: each must redraw the image."""
    scope = labdriver.widget_output(page, button)
    scope.scroll_into_view_if_needed()
    image = scope.locator("img.widget-image").first
    digest = labdriver.image_digest(image)
    steps = [
        ("untick", lambda: labdriver.toggle_checkbox(scope, checkbox) is False),
        ("tick", lambda: labdriver.toggle_checkbox(scope, checkbox) is True),
        ("slider", lambda: bool(labdriver.nudge_slider(scope, slider))),
        ("resample", lambda: labdriver.click_button(scope, button) is None),
    ]
    for step, act in steps:
        assert act(), f"{step}: the widget did not take the input"
        digest = labdriver.wait_for_new_image(image, digest)
        labdriver.assert_no_errors(page, shot)
        labdriver.screenshot(page, f"{shot}_{step}")


# ----------------------------------------------------------------------------- infrastructure
def test_server_start_times_out_with_log(tmp_path: Path) -> None:
    """A server that never serves fails quickly with its log in the message, never hangs."""
    port = labdriver.free_port()
    cmd = [sys.executable, "-c", "import time; print('pretending to start', flush=True); time.sleep(600)"]
    started = time.monotonic()
    with pytest.raises(labdriver.ServerStartError) as failure:
        labdriver.start_process(
            cmd, status_url=f"http://127.0.0.1:{port}/api/status", log_path=tmp_path / "server.log", timeout=3
        )
    assert time.monotonic() - started < 15
    assert "within 3 s" in str(failure.value)
    assert "pretending to start" in str(failure.value)


def test_server_that_exits_reports_its_log(tmp_path: Path) -> None:
    """A server that dies at start fails at once with its exit code and output."""
    cmd = [sys.executable, "-c", "import sys; print('no such option'); sys.exit(3)"]
    with pytest.raises(labdriver.ServerStartError, match="(?s)code 3.*no such option"):
        labdriver.start_process(
            cmd,
            status_url=f"http://127.0.0.1:{labdriver.free_port()}/",
            log_path=tmp_path / "server.log",
            timeout=30,
        )


def test_demo_notebook_figure_and_widget(page: Page, lab_server: labdriver.LabServer) -> None:
    """A figure and an Image/Checkbox/Slider/Button widget work end to end in the browser."""
    labdriver.write_notebook(lab_server.root_dir / "browser_demo.ipynb", DEMO_SOURCES)
    labdriver.open_notebook(page, lab_server, "browser_demo.ipynb")
    labdriver.run_all(page, "browser_demo.ipynb", timeout_s=60)
    labdriver.screenshot(page, "demo_run_all")
    assert labdriver.png_images(page, "plt.subplots"), "the figure did not render as a PNG image"
    exercise_widget(page, checkbox="flip", slider="level", button="Resample", shot="demo_widget")


BROKEN_SOURCES = [
    """\
import ipywidgets as widgets

def fail(_):
    raise RuntimeError("callback deliberate")

button = widgets.Button(description="Break")
button.on_click(fail)
button""",
    'raise ValueError("deliberate")',
    "never_reached = True",
]


def test_run_all_error_fails_with_cell_text(page: Page, lab_server: labdriver.LabServer) -> None:
    """A notebook that raises during Run All (or in a widget callback) fails with the error text."""
    name = "browser_broken.ipynb"
    labdriver.write_notebook(lab_server.root_dir / name, BROKEN_SOURCES)
    labdriver.open_notebook(page, lab_server, name)
    with pytest.raises(labdriver.NotebookRunError) as failure:
        labdriver.run_all(page, name, timeout_s=60)
    labdriver.screenshot(page, "broken_run_all")
    message = str(failure.value)
    assert "cell 1: ValueError: deliberate" in message
    assert 'raise ValueError("deliberate")' in message and "never_reached" not in message
    page.get_by_role("button", name="Break", exact=True).click()
    with pytest.raises(labdriver.NotebookRunError, match="RuntimeError: callback deliberate"):
        page.wait_for_function(
            "() => window.__courseKernelErrors.some((e) => e.evalue === 'callback deliberate')",
            timeout=15_000,
        )
        labdriver.assert_no_errors(page, name)


# ----------------------------------------------------------------------------- the lessons
def test_augmentation_explorer(page: Page, lab_server: labdriver.LabServer) -> None:
    """06: Run All passes; every control of the augmentation explorer redraws its images."""
    require_notebook(lab_server, AUGMENT_NB)
    labdriver.open_notebook(page, lab_server, AUGMENT_NB)
    labdriver.run_all(page, AUGMENT_NB, timeout_s=180)
    labdriver.screenshot(page, "06_run_all")
    labdriver.screenshot_cell(page, "AugmentationExplorer(", "06_explorer")
    exercise_widget(page, checkbox="RandomRotation", slider="degrees", button="Resample", shot="06_explorer")


def test_cnn_notebook_figures(page: Page, lab_server: labdriver.LabServer) -> None:
    """03: Run All passes; the image grids and the per-class bar chart render as PNG images."""
    require_notebook(lab_server, CNN_NB)
    labdriver.open_notebook(page, lab_server, CNN_NB)
    labdriver.run_all(page, CNN_NB, timeout_s=180)
    labdriver.screenshot(page, "03_run_all")
    assert labdriver.assert_cells_show_png(page, "show_batch(") >= 1
    assert labdriver.assert_cells_show_png(page, "plot_per_class_accuracy(") == 1
    labdriver.screenshot_cell(page, "show_batch(", "03_image_grid")
    labdriver.screenshot_cell(page, "plot_per_class_accuracy(", "03_per_class_accuracy")
