"""Files that survive a crash, and an output folder that belongs to one run (Lessons 07 and 09).

:func:`write_atomically` is the one way the course replaces a file (checkpoints,
results, ``history.json``): the bytes go to a new temporary file beside the
target, created exclusively under a unique name (``O_CREAT | O_EXCL``: it never
opens a file or symlink that is already there; the usual permissions, as any new
file gets under the user's umask), are flushed to the disk, and
only then renamed over the target with :func:`os.replace`. A crash or a kill at
any moment leaves either the old file or the new one, never half of either.

:func:`lock_folder` makes an output folder one run's own while it writes:
a second run asking for the lock is refused with the first one's process id.
The lock is the kernel's (``flock``), so it disappears with the process that
held it, even after ``kill -9``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import stat
import time
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

__all__ = ["FolderInUseError", "write_atomically", "lock_folder"]

LOCK_NAME = ".lock"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)  # 0 on Windows


class FolderInUseError(RuntimeError):
    """Another process holds the folder's lock; the message names it."""


def write_atomically(path: str | os.PathLike, data: bytes | str) -> Path:
    """Replace ``path`` by ``data`` (text is UTF-8) through a temporary file and a rename.

    On any failure (a full disk, Ctrl-C) the temporary file is removed and
    whatever was at ``path`` is left as it was. Parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_file(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # "[Errno 28] No space left on device: 'runs/x/checkpoint.pt'"
        raise
    if os.name == "posix":  # make the rename itself durable
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    return path


def _new_file(path: Path) -> tuple[int, Path]:
    """A new, empty file beside ``path`` under a unique name: (descriptor, its path)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:  # 0o666 less the umask: the permissions any new file of the user gets
            return os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_BINARY", 0), 0o666
            ), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def lock_folder(folder: str | os.PathLike) -> IO[str]:
    """Hold ``folder``'s lock until the returned file is closed (or the process ends).

    Raises :class:`FolderInUseError` naming the process that holds it, and ``OSError``
    where ``.lock`` is a symlink or a file the course did not write (it is never overwritten).
    """
    path = Path(folder) / LOCK_NAME
    try:  # never through a symlink: the lock's text would overwrite the file it points to
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
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
