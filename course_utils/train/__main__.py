"""``python -m course_utils.train``, alone or under ``torchrun``: the script lesson 09 runs."""

import sys

from . import main

sys.exit(main())
