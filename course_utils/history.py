"""The per-epoch record of a training run (``engine.fit`` returns one)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["History"]

_LIST_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


@dataclass
class History:
    """Per-epoch records of a :func:`fit` run; one list entry per epoch.

    Kept by hand in lesson 05, *One epoch by hand: the sources' loop, fixed*, and
    drawn in *Reading the curves*.
    ``epoch`` counts from 1. Losses are mean per-sample losses, accuracies
    fractions in [0, 1], ``lr`` the learning rate used during the epoch and
    ``seconds`` its wall time. ``val_*`` lists stay empty without a validation
    loader. Further series (e.g. ``val_top5``) live in ``extra`` and read as
    attributes too: ``history.val_top5``.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)

    def __getattr__(self, name: str) -> list[float]:
        if name.startswith("__") or "extra" not in self.__dict__:  # copy/pickle probe a bare instance
            raise AttributeError(name)
        extra = self.__dict__["extra"]
        if name in extra:
            return extra[name]
        raise AttributeError(f"History has no series {name!r}; it has {list(self.to_dict())}")

    def __len__(self) -> int:
        return len(self.epoch)

    def append(self, **values: float) -> None:
        """Add one value to each named series (unknown names go to ``extra``)."""
        for name, value in values.items():
            value = int(value) if name == "epoch" else float(value)
            if name in _LIST_FIELDS:
                getattr(self, name).append(value)
            else:
                self.extra.setdefault(name, []).append(value)

    def to_dict(self) -> dict[str, list[float]]:
        """Plain-Python copy: ``{series name: list of numbers}`` (extra series included)."""
        out = {name: list(getattr(self, name)) for name in _LIST_FIELDS}
        out.update({name: list(values) for name, values in self.extra.items()})
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Iterable[float]]) -> History:
        """Rebuild a History from :meth:`to_dict` output."""
        history = cls()
        history.load_state_dict(data)
        return history

    def state_dict(self) -> dict[str, list[float]]:
        """What a checkpoint stores: the same plain dict as :meth:`to_dict`."""
        return self.to_dict()

    def load_state_dict(self, state: Mapping[str, Iterable[float]]) -> None:
        """Replace every series by those of ``state`` (a :meth:`state_dict`)."""
        if not isinstance(state, Mapping):
            raise TypeError(f"a History state is a dict of lists, not {type(state).__name__}")
        known = {f.name for f in fields(self)} - {"extra"}
        for name in known:
            setattr(self, name, [int(v) if name == "epoch" else float(v) for v in state.get(name, ())])
        self.extra = {k: [float(v) for v in vals] for k, vals in state.items() if k not in known}

    def plot(self, *, title: str | None = None) -> Any:
        """Loss and accuracy curves as a matplotlib Figure (drawn by ``viz.plot_history``)."""
        from . import viz

        return viz.plot_history(self, title=title)
