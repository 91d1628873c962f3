"""course_utils: the tested code behind the PyTorch image-classification course.

Each lesson first writes an idea in plain PyTorch, then calls the module here that
does the same, and checks that the two agree. The modules, in the order the
lessons meet them:

* ``config``: ``setup``, the run's settings scaled to a profile, seeding, the device (00);
* ``data``: datasets, transforms, loaders, ``DeviceLoader`` and ``BatchAugment`` (01, 02, 06, 08);
* ``viz``: images, confusion matrices, training curves (02, 03, 05, and after);
* ``models``: the networks, ``count_parameters``, ``same_architecture``, ``layer_shapes`` (03, 04, 05);
* ``engine``: ``train_one_epoch``, ``evaluate``, ``predict``, ``fit`` and its ``History``,
  ``eval_mode`` and the first-batch checks (03, 04, 05, 07); a package of three files:
  ``loops``, ``fit``, ``checks``;
* ``metrics``: accuracy, top-k, per-class accuracy, confusion matrix (03, 07);
* ``widgets``: the augmentation explorer (06);
* ``checkpoint``: ``save_checkpoint`` / ``load_checkpoint`` (07): atomic write, checksum, a safe
  read and what a load checks;
* ``files``: ``write_atomically``, the one way the course replaces a file (07);
* ``distributed``: process groups, samplers and DDP for ``train`` (09);
* ``train``: ``python -m course_utils.train``, the training script (a package: the script in
  ``__init__``, its command line in ``args``, the output folder's lock in ``outdir``) (09);
* ``transfer``: the course's own pre-trained backbone (cached, SHA-256 checked), freezing it (11);
* ``interpret``: feature maps by hooks, saliency and Grad-CAM by hand (12);
* ``course``: the course's own machinery: ``check.exercise`` (exercise checks and their
  judges), ``tables.show`` (per-lesson tables), ``report.record`` (each lesson's headline
  figures), the results page and the notebook runner of ``make course``.

``from course_utils import check, report, tables`` gives the three calls the lessons use from
``course``. Importing the package does no I/O.

With ``COURSE_STRICT_WARNINGS=1`` (set by ``make test``) deprecations raised by
the course's libraries become errors, in pytest and in notebook kernels alike,
so API drift fails CI before learners meet it.
"""

from __future__ import annotations

import os
import warnings

# The course's own machinery lives in course/; lessons call check.exercise and tables.show.
from .course import check, report, tables

__all__ = ["check", "report", "strict_warnings", "tables", "warning_filters"]
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


def warning_filters() -> tuple[str, ...]:
    """The strict filter lines, then the allowed exceptions: pytest's ini lines and strict_warnings' input."""
    return (*STRICT_WARNING_FILTERS, *(line for line, _ in ALLOWED_WARNINGS))


def strict_warnings() -> None:
    """Turn the course libraries' deprecation warnings into errors (then apply the allowed list)."""
    for line in warning_filters():
        action, message, category, module = line.split(":", 3)
        warnings.filterwarnings(action, message, getattr(__import__("builtins"), category), module)


if os.environ.get("COURSE_STRICT_WARNINGS", "") not in ("", "0"):
    strict_warnings()
