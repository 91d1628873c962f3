"""Drive JupyterLab in headless Chromium: a throwaway server, Run All, widgets, screenshots.

Used by the browser tests (tests/browser/); kept free of pytest fixtures so each step
can be tested on its own. Nothing here touches the network: the server listens on
127.0.0.1 only and Chromium runs with its background services switched off.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # playwright is imported lazily: the tests skip cleanly without it
    from playwright.sync_api import Browser, Locator, Page, Playwright

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "build" / "screenshots"
# Debian's Chromium; COURSE_CHROMIUM points elsewhere (e.g. a runner without Debian's package).
CHROMIUM = Path(os.environ.get("COURSE_CHROMIUM") or "/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
)
SERVER_TIMEOUT_S = 60.0
# Error outputs as some JupyterLab versions mark them in the page. JupyterLab 4.6 renders
# errors with the stderr mime type, like warnings, so errors are found in the notebook
# model (outputs of type "error") and this selector is only a second check.
ERROR_SELECTOR = '.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]'
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# User settings for the throwaway server: render every cell (no virtual scrolling), so
# outputs far down a notebook exist in the page; never ask about or fetch Jupyter news.
_LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


class ServerStartError(AssertionError):
    """The Jupyter server did not answer /api/status in time (the message holds its log)."""


class NotebookRunError(AssertionError):
    """Run All ended with an error output (the message holds the cell and its traceback)."""


# --------------------------------------------------------------------------- server
@dataclass
class LabServer:
    """A running JupyterLab: where it listens, its token, its notebooks and its log."""

    process: subprocess.Popen[bytes]
    port: int
    token: str
    root_dir: Path
    log_path: Path

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self, notebook: str) -> str:
        """The URL that opens ``notebook`` alone (``reset``: no tabs restored from before)."""
        return f"{self.base_url}/lab/tree/{notebook}?reset&token={self.token}"

    def log(self) -> str:
        """Everything the server (and its kernels) wrote so far."""
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lab_command(root_dir: Path, *, port: int, token: str, state_dir: Path) -> list[str]:
    """The ``jupyter lab`` command line: local only, token auth, no update/news checks."""
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root_dir}",
        f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        f"--LabApp.user_settings_dir={state_dir / 'settings'}",
        f"--LabApp.workspaces_dir={state_dir / 'workspaces'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def lab_env(state_dir: Path) -> dict[str, str]:
    """The server's environment: smoke profile, inline plots, Jupyter state in ``state_dir``."""
    # As a learner has it: Agg would hide figures, COURSE_WIDGETS=0 the widgets and
    # COURSE_LIVE_PLOT=0 the live training curves that `make test` switches off for nbval.
    hidden = ("MPLBACKEND", "COURSE_WIDGETS", "COURSE_LIVE_PLOT")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    env.update(
        COURSE_PROFILE="smoke",
        COURSE_BUILD_DIR=str(state_dir / "build"),
        JUPYTER_CONFIG_DIR=str(state_dir / "config"),
        JUPYTER_DATA_DIR=str(state_dir / "data"),
        JUPYTER_RUNTIME_DIR=str(state_dir / "runtime"),
        IPYTHONDIR=str(state_dir / "ipython"),
        PYTHONUNBUFFERED="1",
    )
    return env  # COURSE_DATA_DIR passes through unchanged when it is set


def write_lab_settings(settings_dir: Path) -> None:
    """User settings for the throwaway server (see ``_LAB_SETTINGS``)."""
    for plugin, values in _LAB_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _log_tail(log_path: Path, *, chars: int = 6000) -> str:
    """The end of a log file (or a note that there is none)."""
    try:
        return log_path.read_text(errors="replace")[-chars:] or "(empty log)"
    except FileNotFoundError:
        return "(no log written)"


def _answers(url: str) -> bool:
    """Whether ``url`` answers 200 right now (no proxies: the server is local)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_for_status(
    process: subprocess.Popen[bytes], status_url: str, *, log_path: Path, timeout: float = SERVER_TIMEOUT_S
) -> None:
    """Poll ``status_url`` until it answers; raise ServerStartError with the log otherwise."""
    shown = status_url.split("?")[0]  # never print the token
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(
                f"Jupyter server exited with code {process.returncode} before "
                f"{shown} answered. Server log:\n{_log_tail(log_path)}"
            )
        if _answers(status_url):
            return
        time.sleep(0.25)
    raise ServerStartError(
        f"Jupyter server did not answer {shown} within {timeout:.0f} s. Server log:\n{_log_tail(log_path)}"
    )


def start_process(
    cmd: Sequence[str],
    *,
    status_url: str,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = SERVER_TIMEOUT_S,
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` (output to ``log_path``) and wait until ``status_url`` answers.

    On failure the process is stopped and ServerStartError carries the log.
    """
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(cmd),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env else None,
            start_new_session=True,
        )
    try:
        wait_for_status(process, status_url, log_path=log_path, timeout=timeout)
    except BaseException:
        stop_process(process)
        raise
    return process


def stop_process(process: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """SIGTERM the process (a Jupyter server shuts its kernels down), then SIGKILL its group."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=grace)
    # anything left in the group start_new_session gave it
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def copy_notebooks(source: Path, root_dir: Path) -> Path:
    """A throwaway copy of the course's notebooks folder (no checkpoints)."""
    shutil.copytree(source, root_dir, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return root_dir


def start_lab(
    workdir: Path, *, notebooks: Path | None = None, timeout: float = SERVER_TIMEOUT_S
) -> LabServer:
    """JupyterLab on a free port with a random token, serving a copy of ``notebooks``."""
    root_dir = copy_notebooks(notebooks or REPO / "notebooks", workdir / "notebooks")
    state_dir = workdir / "state"
    write_lab_settings(state_dir / "settings")
    port, token = free_port(), secrets.token_hex(16)
    log_path = workdir / "server.log"
    process = start_process(
        lab_command(root_dir, port=port, token=token, state_dir=state_dir),
        status_url=f"http://127.0.0.1:{port}/api/status?token={token}",
        log_path=log_path,
        env=lab_env(state_dir),
        timeout=timeout,
    )
    return LabServer(process=process, port=port, token=token, root_dir=root_dir, log_path=log_path)


def shutdown_kernels(server: LabServer) -> None:
    """Shut down every kernel the server runs (frees the CPU between tests)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    auth = {"Authorization": f"token {server.token}"}
    with opener.open(urllib.request.Request(f"{server.base_url}/api/kernels", headers=auth)) as r:
        kernels = json.load(r)
    for kernel in kernels:
        request = urllib.request.Request(
            f"{server.base_url}/api/kernels/{kernel['id']}", headers=auth, method="DELETE"
        )
        opener.open(request).close()


# --------------------------------------------------------------------------- browser
def launch_browser(playwright: Playwright, *, executable: Path = CHROMIUM) -> Browser:
    """Headless Debian Chromium; Playwright gives every launch a fresh user-data-dir."""
    return playwright.chromium.launch(
        executable_path=str(executable), headless=True, args=list(CHROMIUM_FLAGS)
    )


def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot of the page as ``build/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


_NOTEBOOK_READY_JS = """(name) => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  if (!w || !w.context || w.context.path !== name || !w.sessionContext) return false;
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle' && w.content.widgets.length > 0;
}"""


# Errors the kernel reports outside cell outputs (e.g. in a widget callback) only reach
# JupyterLab's log console; collect every IOPub error message of the notebook's kernel.
_WATCH_KERNEL_JS = """() => {
  window.__courseKernelErrors = [];
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  kernel.iopubMessage.connect((_, msg) => {
    if (msg.header.msg_type !== 'error') return;
    const c = msg.content;
    window.__courseKernelErrors.push({index: 'outside any cell (e.g. a widget callback)',
      source: '', ename: c.ename, evalue: c.evalue, traceback: (c.traceback || []).join('\\n')});
  });
}"""


def open_notebook(page: Page, server: LabServer, name: str, *, timeout_s: float = 90) -> None:
    """Load JupyterLab on ``name``, wait until its kernel is idle and watch it for errors."""
    page.goto(server.lab_url(name))
    try:
        page.wait_for_function(_NOTEBOOK_READY_JS, arg=name, timeout=timeout_s * 1000, polling=250)
    except Exception as exc:  # playwright's TimeoutError: say what we waited for
        screenshot(page, f"failed_open_{Path(name).stem}")
        raise AssertionError(
            f"{name} did not open with an idle kernel within {timeout_s:.0f} s "
            f"({exc}). Server log:\n{_log_tail(server.log_path)}"
        ) from None
    page.evaluate(_WATCH_KERNEL_JS)


_RUN_ALL_JS = """() => {
  window.__courseRunAll = null;
  window.jupyterapp.commands.execute('notebook:run-all-cells').then(
    (ok) => { window.__courseRunAll = {ok: ok !== false}; },
    (err) => { window.__courseRunAll = {ok: false, error: String(err)}; });
}"""

_IDLE_JS = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle';
}"""

_ERRORS_JS = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.widgets;
  const errors = [];
  cells.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    for (const out of cell.model.outputs.toJSON()) {
      if (out.output_type === 'error') errors.push({index, source: cell.model.sharedModel.source,
        ename: out.ename, evalue: out.evalue, traceback: (out.traceback || []).join('\\n')});
    }
  });
  return errors;
}"""


def notebook_errors(page: Page) -> list[dict[str, Any]]:
    """Error outputs of the open notebook's cells, then kernel errors outside any cell.

    Each is a dict with index, source, ename, evalue and traceback.
    """
    errors: list[dict[str, Any]] = page.evaluate(_ERRORS_JS)
    seen = {(e["ename"], e["evalue"]) for e in errors}
    elsewhere = page.evaluate("() => window.__courseKernelErrors || []")
    return errors + [e for e in elsewhere if (e["ename"], e["evalue"]) not in seen]


def format_errors(name: str, errors: Sequence[Mapping[str, Any]]) -> str:
    """A readable failure message: which cell failed, its source and its traceback."""
    parts = [f"{name}: the kernel raised {len(errors)} error(s)"]
    for err in errors:
        where = f"cell {err['index']}" if isinstance(err["index"], int) else err["index"]
        parts.append(
            f"--- {where}: {err['ename']}: {err['evalue']}\n"
            f"source:\n{err['source']}\ntraceback:\n{_ANSI.sub('', err['traceback'])}"
        )
    return "\n".join(parts)


def assert_no_errors(page: Page, name: str) -> None:
    """Fail with the cells' error text when the notebook shows any error output."""
    errors = notebook_errors(page)
    rendered = page.locator(ERROR_SELECTOR).count()
    if errors or rendered:
        if not errors:  # rendered but not in the model: report the page's text
            texts = page.locator(ERROR_SELECTOR).all_inner_texts()
            errors = [
                {"index": "?", "source": "?", "ename": "error", "evalue": "", "traceback": "\n".join(texts)}
            ]
        raise NotebookRunError(format_errors(name, errors))


def run_all(page: Page, name: str, *, timeout_s: float = 180) -> None:
    """Run All through JupyterLab's own command; fail on error outputs or a timeout."""
    page.evaluate(_RUN_ALL_JS)
    try:
        page.wait_for_function("() => window.__courseRunAll !== null", timeout=timeout_s * 1000, polling=250)
        page.wait_for_function(_IDLE_JS, timeout=30_000, polling=250)
    except Exception as exc:
        screenshot(page, f"failed_run_{Path(name).stem}")
        raise AssertionError(f"{name}: Run All did not finish within {timeout_s:.0f} s ({exc})") from None
    assert_no_errors(page, name)
    result = page.evaluate("() => window.__courseRunAll")
    assert result.get("ok"), f"{name}: Run All reported failure: {result}"


# --------------------------------------------------------------------------- outputs
_IMAGES_JS = """(needle) => {
  const cells = window.jupyterapp.shell.currentWidget.content.widgets;
  const found = [];
  cells.forEach((cell, index) => {
    if (cell.model.type !== 'code' || !cell.model.sharedModel.source.includes(needle)) return;
    const images = Array.from(cell.node.querySelectorAll('.jp-OutputArea-output img'), (img) => (
      {png: img.src.startsWith('data:image/png;base64,'), width: img.naturalWidth,
       height: img.naturalHeight}));
    found.push({index, images});
  });
  return found;
}"""


def output_images(page: Page, source_contains: str = "") -> list[dict[str, Any]]:
    """Per code cell whose source contains ``source_contains``: its index and output images."""
    return page.evaluate(_IMAGES_JS, source_contains)


def png_images(page: Page, source_contains: str = "") -> list[dict[str, Any]]:
    """The decoded PNG output images (``naturalWidth > 0``) of all matching cells."""
    return [
        image
        for cell in output_images(page, source_contains)
        for image in cell["images"]
        if image["png"] and image["width"] > 0
    ]


def assert_cells_show_png(page: Page, source_contains: str) -> int:
    """Every code cell containing ``source_contains`` (one at least) shows a decoded PNG.

    Returns the number of such cells.
    """
    cells = output_images(page, source_contains)
    assert cells, f"no code cell contains {source_contains!r}"
    for cell in cells:
        good = [i for i in cell["images"] if i["png"] and i["width"] > 0 and i["height"] > 0]
        assert good, (
            f"cell {cell['index']} ({source_contains!r}) shows no decoded PNG image; "
            f"its images: {cell['images']}"
        )
    return len(cells)


def cell_locator(page: Page, source_contains: str) -> Locator:
    """The first notebook cell whose source contains ``source_contains``."""
    index = page.evaluate(
        """(needle) => window.jupyterapp.shell.currentWidget.content.widgets
        .findIndex((cell) => cell.model.sharedModel.source.includes(needle))""",
        source_contains,
    )
    assert index >= 0, f"no cell contains {source_contains!r}"
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def screenshot_cell(page: Page, source_contains: str, name: str) -> Path:
    """Scroll the cell containing ``source_contains`` into view, then save a screenshot."""
    cell = cell_locator(page, source_contains)
    cell.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    cell.screenshot(path=str(path))
    return path


# null while the image has no source yet, or its blob: URL was just revoked by a redraw.
_DIGEST_JS = """async (img) => {
  try {
    if (!img.src) return null;
    const data = await (await fetch(img.src)).arrayBuffer();
    const hash = await crypto.subtle.digest('SHA-256', data);
    return Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, '0')).join('');
  } catch (err) {
    return null;
  }
}"""


def image_digest(image: Locator, *, timeout_s: float = 30) -> str:
    """SHA-256 of the bytes an ``<img>`` shows (blob: or data: URL), once it shows any."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        digest = image.evaluate(_DIGEST_JS)
        if digest:
            return digest
        time.sleep(0.1)
    raise AssertionError(f"the widget's image showed no data within {timeout_s:.0f} s")


def wait_for_new_image(image: Locator, before: str, *, timeout_s: float = 60) -> str:
    """Wait until the image's bytes differ from ``before``; return the new digest."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        after = image_digest(image, timeout_s=max(1.0, deadline - time.monotonic()))
        if after != before:
            return after
        time.sleep(0.25)
    raise AssertionError(f"the widget's image did not change within {timeout_s:.0f} s")


# --------------------------------------------------------------------------- widgets
def widget_output(page: Page, button: str) -> Locator:
    """The output area that shows an ipywidgets ``Image`` and a button labelled ``button``."""
    return (
        page.locator(".jp-OutputArea-output")
        .filter(has=page.locator("img.widget-image"))
        .filter(has=page.get_by_role("button", name=button))
        .first
    )


def toggle_checkbox(scope: Locator, label: str) -> bool:
    """Click the ipywidgets Checkbox described as ``label``; return its new state."""
    box = scope.get_by_role("checkbox", name=label, exact=True)
    box.click()
    return box.is_checked()


def nudge_slider(scope: Locator, label: str, *, key: str = "ArrowRight") -> str:
    """Move the slider described as ``label`` one step with the keyboard; return its readout."""
    exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
    slider = (
        scope.locator(".widget-slider").filter(has=scope.page.locator(".widget-label", has_text=exact)).first
    )
    readout = slider.locator(".widget-readout")
    before = readout.inner_text()
    slider.locator(".noUi-handle").first.press(key)
    slider.page.wait_for_timeout(100)
    after = readout.inner_text()
    assert after != before, f"slider {label!r} did not move (readout stayed {before!r})"
    return after


def click_button(scope: Locator, label: str) -> None:
    """Click the ipywidgets Button labelled ``label`` (an icon may precede the label)."""
    scope.get_by_role("button", name=label).click()


# --------------------------------------------------------------------------- notebooks
def write_notebook(path: Path, sources: Sequence[str]) -> Path:
    """Write a Python 3 notebook with one code cell per source string."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, path)
    return path
