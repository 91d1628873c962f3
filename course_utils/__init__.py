"""course_utils: the tested code behind the PyTorch image-classification course.

Modules: ``config`` (profiles, seeding, device), ``data`` (datasets, transforms,
loaders), ``models``, ``engine`` (training and evaluation), ``metrics``, ``viz``,
``checkpoint``, ``widgets`` and ``report``. Importing the package does no I/O.

With ``COURSE_STRICT_WARNINGS=1`` (set by ``make test``) deprecations raised by
the course's libraries become errors, in pytest and in notebook kernels alike,
so API drift fails CI before learners meet it.
"""

from __future__ import annotations

import os
import warnings

__version__ = "0.1.0"

# Warnings attributed to these modules are checked (a notebook's cells run in __main__).
STRICT_MODULES = r"(torch|torchvision|matplotlib|ipywidgets|course_utils|__main__)(\..*)?"
# pytest "action:message:category:module" lines. torchvision reports deprecations as UserWarning.
STRICT_WARNING_FILTERS = (
    f"error::DeprecationWarning:{STRICT_MODULES}",
    f"error::FutureWarning:{STRICT_MODULES}",
    f"error:.*deprecated:UserWarning:{STRICT_MODULES}",
)
# Allowed exceptions, each with its reason: (filter line, reason). COURSE_ALLOWED_WARNINGS adds
# filter lines, one per line, for one run (make test-colab allows, by name, warnings raised
# inside Colab's older releases; the course's own calls are never allowed that way).
ALLOWED_WARNINGS: tuple[tuple[str, str], ...] = tuple(
    (line.strip(), "COURSE_ALLOWED_WARNINGS")
    for line in os.environ.get("COURSE_ALLOWED_WARNINGS", "").splitlines()
    if line.strip()
)


def strict_warnings() -> None:
    """Turn the course libraries' deprecation warnings into errors (then apply the allowed list)."""
    for line in (*STRICT_WARNING_FILTERS, *(f for f, _ in ALLOWED_WARNINGS)):
        action, message, category, module = line.split(":", 3)
        warnings.filterwarnings(action, message, getattr(__import__("builtins"), category), module)


if os.environ.get("COURSE_STRICT_WARNINGS", "") not in ("", "0"):
    strict_warnings()
