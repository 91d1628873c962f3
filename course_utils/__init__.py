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

# The course's own machinery lives in course/; lessons call check.exercise and tables.show.
from .course import check, tables

__all__ = ["check", "strict_warnings", "tables"]
__version__ = "0.1.0"

# Warnings attributed to these modules are checked (a notebook's cells run in __main__).
STRICT_MODULES = r"(torch|torchvision|matplotlib|ipywidgets|course_utils|__main__)(\..*)?"
# pytest "action:message:category:module" lines. torchvision reports deprecations as UserWarning.
STRICT_WARNING_FILTERS = (
    f"error::DeprecationWarning:{STRICT_MODULES}",
    f"error::FutureWarning:{STRICT_MODULES}",
    f"error:.*deprecated:UserWarning:{STRICT_MODULES}",
)
# Allowed exceptions, each with its reason: (filter line, reason).
ALLOWED_WARNINGS: tuple[tuple[str, str], ...] = ()


def strict_warnings() -> None:
    """Turn the course libraries' deprecation warnings into errors (then apply the allowed list)."""
    for line in (*STRICT_WARNING_FILTERS, *(f for f, _ in ALLOWED_WARNINGS)):
        action, message, category, module = line.split(":", 3)
        warnings.filterwarnings(action, message, getattr(__import__("builtins"), category), module)


if os.environ.get("COURSE_STRICT_WARNINGS", "") not in ("", "0"):
    strict_warnings()
