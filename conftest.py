"""Repository-wide pytest settings, for the unit tests and the nbval notebook runs alike."""
from __future__ import annotations

import os

import course_utils


def pytest_configure(config) -> None:
    """Deprecations from the course's libraries fail tests; notebook kernels inherit the same rule."""
    os.environ.setdefault("COURSE_STRICT_WARNINGS", "1")
    for line in (*course_utils.STRICT_WARNING_FILTERS, *(f for f, _ in course_utils.ALLOWED_WARNINGS)):
        config.addinivalue_line("filterwarnings", line)
