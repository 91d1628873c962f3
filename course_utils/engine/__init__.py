"""Training and evaluation loops shared by every lesson, in three files read in this order.

* ``loops.py``: :func:`train_one_epoch` (the training step written out), :func:`evaluate`,
  :func:`predict`, and :class:`RunContext` (device, mixed precision, memory layout).
* ``training.py``: :func:`fit`, epoch after epoch with a checkpoint after each (through
  :mod:`course_utils.checkpoint`), and :class:`History`, the record it returns.
* ``checks.py``: :func:`eval_mode` and the checks that turn the usual mistakes into one message.
"""

from .checks import eval_mode
from .loops import RunContext, epoch_totals, evaluate, predict, train_one_epoch
from .training import History, fit

__all__ = [
    "History",
    "RunContext",
    "eval_mode",
    "train_one_epoch",
    "evaluate",
    "predict",
    "fit",
    "epoch_totals",
]
