"""course_utils: the tested code behind the PyTorch image-classification course.

Modules: ``config`` (profiles, seeding, device), ``data`` (datasets, transforms,
loaders), ``models``, ``engine`` (training and evaluation), ``metrics``, ``viz``,
``checkpoint``, ``widgets`` and ``report``. Importing the package does no I/O.
"""

__version__ = "0.1.0"
