"""The output folder a training run owns while it writes (lesson 09's script, ``--out``).

:func:`lock_folder` makes an output folder one run's own while it writes: a second
run asking for the lock is refused with the first one's process id. The lock is the
kernel's (``flock``), so it disappears with the process that held it, even after
``kill -9``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import time
from pathlib import Path
from typing import IO

from ..files import NO_FOLLOW

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

__all__ = ["FolderInUseError", "lock_folder"]

LOCK_NAME = ".lock"


class FolderInUseError(RuntimeError):
    """Another process holds the folder's lock; the message names it."""


def lock_folder(folder: str | os.PathLike) -> IO[str]:
    """Hold ``folder``'s lock until the returned file is closed (or the process ends).

    Raises :class:`FolderInUseError` naming the process that holds it, and ``OSError``
    where ``.lock`` is a symlink or a file the course did not write (it is never overwritten).
    """
    path = Path(folder) / LOCK_NAME
    try:  # never through a symlink: the lock's text would overwrite the file it points to
        fd = os.open(path, os.O_RDWR | os.O_CREAT | NO_FOLLOW, 0o644)
    except OSError as exc:
        raise OSError(f"{path} is not a lock file this course wrote ({exc.strerror}): move it away") from None
    fh = open(fd, "r+")  # noqa: SIM115 - the open file is the lock; the caller closes it
    text = ""
    if stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or device would block the read
        with contextlib.suppress(OSError):  # Windows refuses to read a byte another run locked
            text = fh.read()
    if not stat.S_ISREG(os.fstat(fd).st_mode) or text and not text.startswith("process "):
        fh.close()
        raise OSError(f"{path} is not a lock file this course wrote: move it away")
    fh.seek(0)  # Windows locks bytes from the current position: every run locks the first
    try:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError:
        holder = "another process"
        with contextlib.suppress(OSError):  # Windows refuses to read a locked byte
            holder = fh.read().strip() or holder
        fh.close()
        raise FolderInUseError(f"{folder} is in use by another run ({holder})") from None
    fh.truncate()
    fh.write(f"process {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}")
    fh.flush()
    return fh
