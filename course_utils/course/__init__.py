"""The course's own machinery, kept apart from the code a lesson asks you to read.

Lessons call three things from here, through ``from course_utils import check, report, tables``:
``check.exercise("03.2", value)``, ``tables.show(rows, headers)`` and
``report.record("03", ...)``. The rest serves the maintainers:

* :mod:`.check`: the registry of exercise checks (``register``, ``exercise``, ``known``);
* ``exercises_01_05.py``, ``exercises_06_09.py``, ``exercises_10.py``, ``exercises_11_12.py``:
  the judges, one section per lesson;
* :mod:`.tables`: ``show`` and the per-lesson table rows;
* :mod:`.report`: ``record``, each lesson's headline figures in ``build/results/``, and
  ``python -m course_utils.course.report run`` (``make course``);
* :mod:`.runner`: the notebook runner behind it;
* :mod:`.results`: the results page (``build/results.md``, the site's page): each lesson's
  headline figures in words and units, beside the posts' figures.

Adding a lesson's exercise checks: write ``exercises_NN.py`` here, beginning with
``from .check import Verdict, as_fraction, as_whole_number, register``, decorate each
judge with ``@register("NN.k", "the question in a few words")`` (it takes the learner's
value and returns ``(ok, why)``), then add the module to the import line below. The
registry (:mod:`.check`) imports none of its clients; this package imports them all.
"""

from __future__ import annotations

from . import check, exercises_01_05, exercises_06_09, exercises_10, exercises_11_12, tables  # noqa: F401  importing a judge module registers it
