"""Build the course's web site from the notebooks that ``make course`` executed.

``python docs/make_site.py`` (``make site``) reads ``build/notebooks/`` (lessons, and their
solutions in ``build/notebooks/solutions/``) and ``build/results/*.json``, stages one page per
notebook plus a landing page and a results page in ``build/site-src/``, and builds them with
Sphinx, myst-nb and sphinx-book-theme (docs/conf.py) into ``build/site/``. No cell runs again,
and nothing is fetched from the network.

Staging changes each notebook's copy only in what the site needs: a box at the top with the
run that produced it (profile, device, data source, date) and links to Colab and the notebook
file; widgets replaced by their still picture and a sentence saying the controls need a
kernel; machine paths (the checkout, the data folder, the virtual environment, home and
temporary folders) replaced by short names.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO))  # course_utils from this checkout, installed or not

from course_utils import report  # noqa: E402
from course_utils.course import results as results_view  # noqa: E402

# The repository that Colab opens and the notebook links point to: $COURSE_REPO_URL, the same
# setting the notebooks' first cell installs the course from, or this default.
DEFAULT_REPO_URL = "https://github.com/pytorch-course/image-classification-course"
REPO_BRANCH = "main"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
WIDGET_NOTE = (
    "*The picture above is this widget with its default settings. Its controls need a running "
    "Python kernel: open the notebook in JupyterLab (`make lab`) or in Colab (link at the top "
    "of this page) to use them.*"
)
# Absolute paths under these roots name a machine; the site keeps only their last part.
_MACHINE_PATH = re.compile(
    r"(?<![\w.~<>$-])(?:/(?:home|Users|work|tmp|root|opt|usr|var|mnt|srv|private|scratch|data)"
    r"|[A-Za-z]:\\\\?(?:Users|Windows|Program Files))(?:[/\\]+[^\s'\"()<>\[\]:,;|`*]+)+"
)


class SiteError(RuntimeError):
    """The site cannot be built from what is there (the message says what to do)."""


def repo_url() -> str:
    """The course repository's URL: ``$COURSE_REPO_URL`` or the default, without a trailing slash."""
    return (os.environ.get("COURSE_REPO_URL") or DEFAULT_REPO_URL).rstrip("/")


def colab_url(notebook: str) -> str | None:
    """``notebook`` (``notebooks/03_x.ipynb``) opened in Colab from GitHub; None off GitHub."""
    match = re.match(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?$", repo_url())
    if not match:
        return None
    return f"https://colab.research.google.com/github/{match[1]}/blob/{REPO_BRANCH}/{notebook}"


# ---------------------------------------------------------------------- machine paths
def machine_prefixes() -> list[tuple[str, str]]:
    """Known folders of this machine and the short name each becomes on the site (any
    other absolute path, under /tmp or a home folder say, keeps only its last part)."""
    pairs = [
        (os.environ.get("COURSE_DATA_DIR", ""), "$COURSE_DATA_DIR"),
        (str(report.build_dir()), "build"),
        (str(REPO), "<course>"),
        (sys.prefix, "<venv>"),
    ]
    pairs = [(str(Path(p).resolve()) if p else "", name) for p, name in pairs] + pairs
    return sorted({(p, n) for p, n in pairs if len(p) > 1}, key=lambda pair: -len(pair[0]))


def scrub(text: str, prefixes: Sequence[tuple[str, str]] | None = None) -> str:
    """``text`` with this machine's paths replaced: ``/home/x/data/a.npz`` -> ``$COURSE_DATA_DIR/a.npz``."""
    for prefix, name in prefixes if prefixes is not None else machine_prefixes():
        text = text.replace(prefix, name)
    return _MACHINE_PATH.sub(lambda m: "…/" + re.split(r"[/\\]", m.group(0))[-1], text)


def scrub_outputs(cell: dict[str, Any], prefixes: Sequence[tuple[str, str]]) -> None:
    """Scrub machine paths from every text a code cell's outputs show."""
    for out in cell.get("outputs", []):
        if "text" in out:
            out["text"] = scrub(_joined(out["text"]), prefixes)
        if "traceback" in out:
            out["traceback"] = [scrub(line, prefixes) for line in out["traceback"]]
            out["evalue"] = scrub(out.get("evalue", ""), prefixes)
        for mime, value in out.get("data", {}).items():
            if mime.startswith("text/") or mime == "image/svg+xml":
                out["data"][mime] = scrub(_joined(value), prefixes)


def _markdown_cell(source: str, cell_id: str) -> dict[str, Any]:
    """A Markdown cell the site adds (with an id, as nbformat 4.5 wants)."""
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": source}


def _joined(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


# ---------------------------------------------------------------------- notebooks
def count_figures(nb: dict[str, Any]) -> int:
    """How many images a notebook's outputs hold (one per output, as a page shows them)."""
    return sum(
        any(t in out.get("data", {}) for t in IMAGE_TYPES)
        for cell in nb["cells"]
        for out in cell.get("outputs", [])
    )


def title_of(nb: dict[str, Any], fallback: str) -> str:
    """The notebook's first Markdown heading, or ``fallback``."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            match = re.search(r"^#\s+(.+)$", _joined(cell["source"]), re.M)
            if match:
                return match[1].strip()
    return fallback


def still_widgets(nb: dict[str, Any]) -> int:
    """Replace widget views by their still picture (+ a note) or drop them; returns pictures kept."""
    nb.get("metadata", {}).pop("widgets", None)
    cells, kept = [], 0
    for cell in nb["cells"]:
        cells.append(cell)
        if cell["cell_type"] != "code":
            continue
        outputs, pictures = [], 0
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW not in data:
                outputs.append(out)
            elif any(t in data for t in IMAGE_TYPES):  # e.g. the augmentation explorer
                data.pop(WIDGET_VIEW)
                outputs.append(out)
                pictures += 1
            # else: a progress bar or control without a picture: nothing to show without a kernel
        cell["outputs"] = outputs
        if pictures:
            cells.append(_markdown_cell(WIDGET_NOTE, f"course-widget-note-{len(cells)}"))
            kept += pictures
    nb["cells"] = cells
    return kept


def run_box(run: dict[str, Any], rel: str, page_dir: str) -> str:
    """The box at the top of a notebook page: the run behind it, and where to open the notebook."""
    colab = colab_url(rel)
    links = ([f"[Open in Colab]({colab})"] if colab else []) + [
        f"[the notebook file]({repo_url()}/blob/{REPO_BRANCH}/{rel})",
        f"[all results]({page_dir}results.md)",
    ]
    return (
        "```{admonition} The run behind this page\n:class: note course-run\n"
        f"{run_sentence(run)}\n\n" + " · ".join(links) + "\n```\n"
    )


def run_sentence(run: dict[str, Any]) -> str:
    """ "Executed by make course on DATE in the PROFILE profile on DEVICE; data: SOURCE."."""
    parts = [
        f"Executed by `make course` on {run.get('date') or 'an unrecorded date'}",
        f"in the **{run.get('profile', 'unrecorded')}** profile",
        f"on **{run.get('device', 'an unrecorded device')}**",
    ]
    sentence = " ".join(parts) + f"; data: {run.get('data') or 'not recorded by this notebook'}."
    if run.get("failed"):
        sentence += f" **This notebook stopped with an error:** {run['failed']}."
    return sentence


def run_of(nb: dict[str, Any], result: dict[str, Any] | None) -> dict[str, Any]:
    """Profile, device, data and date of a notebook's run: its recorded result, else what
    ``make course`` stamped into the executed copy."""
    stamp = dict(nb.get("metadata", {}).get("course_run", {}))
    run = {
        "profile": stamp.get("profile"),
        "device": stamp.get("device"),
        "date": str(stamp.get("executed_at", ""))[:10],
        "failed": stamp.get("failed"),
    }
    if result:
        run.update(
            profile=result["profile"],
            device=result["device"],
            data=results_view.short_source(result["data_source"]),
            date=str(result.get("recorded_at", ""))[:10],
        )
    return {k: v for k, v in run.items() if v}


def stage_notebook(
    src: Path, rel: str, results: dict[str, dict[str, Any]], out: Path, prefixes: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """Write the page's copy of one executed notebook to ``out``; returns facts for the index."""
    nb = json.loads(src.read_text())
    figures = count_figures(nb)
    still_widgets(nb)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            scrub_outputs(cell, prefixes)
    lesson = "/solutions/" not in rel  # a solutions notebook records no results of its own
    run = run_of(nb, results.get(src.stem[:2]) if lesson else None)
    box = _markdown_cell(run_box(run, rel, "../" * rel.count("/")), "course-run-box")
    heading = next(
        (
            i
            for i, c in enumerate(nb["cells"])
            if c["cell_type"] == "markdown" and re.search(r"^#\s", _joined(c["source"]), re.M)
        ),
        -1,
    )
    # The page opens with the title, then the run box; cells above the title (the Colab
    # install cell) follow them.
    title = nb["cells"].pop(heading) if heading >= 0 else _markdown_cell(f"# {src.stem}", "course-title")
    nb["cells"][:0] = [title, box]
    _write_if_changed(out, json.dumps(nb, indent=1, ensure_ascii=False))
    return {"rel": rel, "title": title_of(nb, src.stem), "figures": figures, "run": run}


# ---------------------------------------------------------------------- pages
def readme_section(readme: str, heading: str) -> str:
    """The body of README's ``## heading`` section (up to the next ``## ``)."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    if not match:
        raise SiteError(
            f"README.md has no '## {heading}' section; the landing page takes the lesson table from it"
        )
    return match[1].strip()


def link_lessons(table: str, pages: dict[str, str]) -> str:
    """README's lesson table with each lesson name (`` `03_x` ``) linked to its page."""
    for stem, rel in pages.items():
        table = table.replace(f"| `{stem}` |", f"| [`{stem}`]({rel}) |")
    return table


def site_banner(runs: Iterable[dict[str, Any]]) -> str:
    """One sentence for the landing and results pages: which runs the site shows."""
    runs = list(runs)
    values = {
        key: sorted({part for r in runs if r.get(key) for part in r[key].split(", ")})
        for key in ("profile", "device", "data", "date")
    }
    if not runs:
        return "No notebook of this site recorded a run."
    return (
        "```{admonition} The runs behind this site\n:class: note course-run\n"
        f"Outputs and figures come from `make course` runs on {', '.join(values['date']) or '?'}"
        f" in the **{', '.join(values['profile']) or '?'}** profile on "
        f"**{', '.join(values['device']) or '?'}**; data: "
        f"{'; '.join(values['data']) or 'not recorded'}. Figures measured on the CIFAR-10 "
        "subset or the offline stand-in are not the posts' figures: the "
        "[results](results.md) page puts each beside the post's.\n```\n"
    )


def sources_section(readme: str, pages: dict[str, str]) -> str:
    """README's *Sources* section (the five posts and the lessons that retell each), with each
    lesson number in the table's last column linked to its page."""
    by_number = {stem[:2]: rel for stem, rel in pages.items()}

    def link(row: re.Match[str]) -> str:
        head, last = row[1], row[2]
        last = re.sub(
            r"\b(\d\d)\b", lambda m: f"[{m[1]}]({by_number[m[1]]})" if m[1] in by_number else m[1], last
        )
        return f"{head}|{last}|"

    body = readme_section(readme, "Sources")
    return re.sub(r"^(\|(?!\s*---).*)\|([^|\n]*)\|[ \t]*$", link, body, flags=re.M)


def landing_page(readme: str, pages: dict[str, str], banner: str, solutions: list[dict]) -> str:
    """index.md: what the course teaches, how to run it, the lessons and their run times, the posts."""
    intro = readme.split("\n## ", 1)[0]
    intro = re.sub(r"^# .*\n", "", intro).strip()
    notebooks = wide_tables(link_lessons(readme_section(readme, "The notebooks"), pages))
    notebooks = re.sub(r"^\| notebook \|", "| lesson |", notebooks, flags=re.M)
    sols = "".join(f"- [{s['title']}]({s['rel']})\n" for s in solutions)
    return (
        f"# PyTorch image classification, end to end\n\n{banner}\n{intro}\n\n"
        "## How to run it\n\n"
        "- On your machine: the two commands above, then `make lab` opens the lessons in "
        "JupyterLab.\n- In Colab: every lesson page links to *Open in Colab*; the first cell "
        "installs the course package.\n- Or read them here: each page shows the outputs of "
        "the run named at its top.\n\n"
        f"## The lessons\n\n{notebooks}\n\n"
        + (f"## Solutions to the exercises\n\n{sols}\n" if sols else "")
        + "## Results\n\nThe [results page](results.md) shows each lesson's headline figures "
        "beside the post's.\n\n"
        + f"## Sources\n\n{wide_tables(sources_section(readme, pages))}\n\n"
        + toctree("Lessons", [p for p in pages.values()])
        + toctree("Solutions", [s["rel"] for s in solutions])
        + toctree("Results", ["results.md"])
    )


def toctree(caption: str, entries: Sequence[str]) -> str:
    """A hidden toctree: the sidebar's navigation and the previous/next links."""
    if not entries:
        return ""
    lines = "\n".join(e.removesuffix(".ipynb").removesuffix(".md") for e in entries)
    return f"```{{toctree}}\n:hidden:\n:caption: {caption}\n\n{lines}\n```\n\n"


def results_page(results_dir: Path, banner: str, prefixes: Sequence[tuple[str, str]]) -> str:
    """results.md: ``build/results.md`` as ``make course`` wrote it (run times and failures
    included), else the table made from ``build/results/*.json``."""
    written = results_dir.parent / "results.md"
    if written.is_file():
        text = written.read_text()
    else:
        results, unreadable = report.read_results(results_dir)
        text = results_view.results_markdown(results, unreadable=unreadable)
    title, _, body = scrub(text, prefixes).partition("\n")
    return f"{title}\n\n{banner}\n{wide_tables(body)}"


def wide_tables(markdown: str) -> str:
    """Wrap each Markdown table in the theme's full-width container (docs/_static/course.css
    sets such tables in smaller type across the whole width instead of scrolling)."""
    return re.sub(
        r"((?:^\|.*\n?)+)",
        lambda m: f"```{{container}} full-width\n{m[1].rstrip()}\n```\n",
        markdown,
        flags=re.M,
    )


# ---------------------------------------------------------------------- build
def _write_if_changed(path: Path, text: str) -> None:
    """Write only when different, so Sphinx rebuilds only the pages that changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def executed_notebooks(notebooks: Path) -> list[tuple[Path, str]]:
    """``(executed copy, path in the repository)`` for every lesson and solutions notebook."""
    found = [(p, f"notebooks/{p.name}") for p in sorted(notebooks.glob("[0-9][0-9]_*.ipynb"))]
    found += [
        (p, f"notebooks/solutions/{p.name}") for p in sorted(notebooks.glob("solutions/[0-9][0-9]_*.ipynb"))
    ]
    if not found:
        raise SiteError(
            f"no executed notebooks in {notebooks}: run `make course` first "
            "(it executes every lesson and keeps the executed copies there)"
        )
    return found


def stage(notebooks: Path, results_dir: Path, src: Path) -> dict[str, Any]:
    """Write every page's source into ``src``; returns the staged pages' facts."""
    prefixes = machine_prefixes()
    # load_results names on stderr each file in results/ that is not a result, and goes on
    results = {r["notebook"]: r for r in report.load_results(results_dir)} if results_dir.is_dir() else {}
    staged = [
        stage_notebook(path, rel, results, src / rel, prefixes) for path, rel in executed_notebooks(notebooks)
    ]
    wanted = {src / s["rel"] for s in staged} | {src / "index.md", src / "results.md"}
    for old in [*src.rglob("*.ipynb"), *src.rglob("*.md")]:
        if old not in wanted:  # a notebook that no longer exists
            old.unlink()
    lessons = {Path(s["rel"]).stem: s["rel"] for s in staged if "/solutions/" not in s["rel"]}
    solutions = [s for s in staged if "/solutions/" in s["rel"]]
    banner = site_banner(s["run"] for s in staged)
    readme = (REPO / "README.md").read_text()
    _write_if_changed(src / "index.md", landing_page(readme, lessons, banner, solutions))
    _write_if_changed(src / "results.md", results_page(results_dir, banner, prefixes))
    return {"pages": staged}


def build(
    notebooks: Path, results_dir: Path, out: Path, *, work: Path | None = None, quiet: bool = True
) -> dict[str, Any]:
    """Stage the pages and run Sphinx; returns the pages, their figures and the seconds taken."""
    from sphinx.cmd.build import build_main

    start = time.perf_counter()
    work = work or out.parent / "site-src"
    facts = stage(notebooks, results_dir, work)
    args = [
        "-b",
        "html",
        "-c",
        str(DOCS),
        "-d",
        str(work / ".doctrees"),
        "-n",
        *(["-q"] if quiet else []),
        str(work),
        str(out),
    ]
    if build_main(args) != 0:
        raise SiteError(f"Sphinx could not build the site (sources in {work}); see its messages above")
    (out / ".nojekyll").touch()  # GitHub Pages: serve _static/ and _images/ as they are
    facts["seconds"] = time.perf_counter() - start
    return facts


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python docs/make_site.py [--notebooks DIR] [--results DIR] [--out DIR]``."""
    default = report.build_dir()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=Path, default=default / "notebooks")
    parser.add_argument("--results", type=Path, default=default / "results")
    parser.add_argument("--out", type=Path, default=default / "site")
    args = parser.parse_args(argv)
    try:
        facts = build(args.notebooks, args.results, args.out)
    except SiteError as err:
        print(f"make site: {err}", file=sys.stderr)
        return 1
    pages = facts["pages"]
    print(
        f"[course] site: {len(pages) + 2} pages ({len(pages)} notebooks), "
        f"{sum(p['figures'] for p in pages)} figures, built in {facts['seconds']:.1f} s: "
        f"open {args.out / 'index.html'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
