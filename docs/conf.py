"""Sphinx configuration of the course's web site.

``make site`` runs docs/make_site.py, which stages the executed notebooks and the generated
pages in build/site-src/ and builds them with this configuration into build/site/.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_site  # noqa: E402  (docs/ is not a package)

project = "PyTorch image classification, end to end"
author = "the course's authors"
copyright = "the course's authors, MIT license"
extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# The notebooks were executed by `make course`; the site shows those outputs and never runs
# a cell itself (no kernel, no data, no network while building).
nb_execution_mode = "off"
nb_merge_streams = True
# make_site.py already replaced widget views by their still pictures; never load the widget
# JavaScript (require.js and the embed manager come from CDNs).
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
myst_heading_anchors = 3

html_theme = "sphinx_book_theme"
html_title = project
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_last_updated_fmt = None
html_show_sphinx = False
# An empty mode makes the theme log "Got invalid theme mode" as a console error; readers can
# still switch to dark with the theme's button.
html_context = {"default_mode": "light"}
# A page without an icon makes the browser fetch /favicon.ico (a 404 and a console error).
html_favicon = "_static/favicon.svg"
html_theme_options = {
    "repository_url": make_site.repo_url(),
    "repository_branch": make_site.REPO_BRANCH,
    "path_to_docs": "",  # staged pages mirror the repository: notebooks/NN_*.ipynb
    "use_repository_button": True,
    "use_download_button": True,
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "navigation_with_keys": False,
    "launch_buttons": {"colab_url": "https://colab.research.google.com"},
}
