"""Files that survive a crash (lesson 07, *7 · Resuming after a crash*).

:func:`write_atomically` is the one way the course replaces a file (checkpoints, results,
``history.json``): the bytes go to a new temporary file beside the target (created with
``O_EXCL``, never through a file or symlink already there), are flushed to the disk, and only
then renamed over the target. A crash at any moment leaves the old file or the new one, never half.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["write_atomically"]

NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)  # open() flags; 0 on Windows


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
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NO_FOLLOW | getattr(os, "O_BINARY", 0), 0o666
            ), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")
