"""Repository-wide pytest settings, for the unit tests and the nbval notebook runs alike."""

from __future__ import annotations

import os

import course_utils


def pytest_configure(config) -> None:
    """Deprecations from the course's libraries fail tests; notebook kernels inherit the same rule."""
    os.environ.setdefault("COURSE_STRICT_WARNINGS", "1")
    # pytest resets the warning filters for every test, so the lines go in as its own ini lines.
    for line in course_utils.warning_filters():
        config.addinivalue_line("filterwarnings", line)
