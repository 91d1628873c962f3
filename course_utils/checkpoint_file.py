"""The file side of checkpoints: atomic writes, payload checksums and safe reads.

:func:`atomic_save` writes to a temporary file in the same folder, fsyncs it
and moves it over the old checkpoint with :func:`os.replace`, so a crash or a
kill mid-write leaves the previous checkpoint intact; temporary files that a
killed save left behind are removed by the next save. :func:`read` loads with
``torch.load(weights_only=True)`` and turns every failure into a
:class:`CheckpointError` that names the file and says what is wrong.
:func:`digest` is the checksum stored in a checkpoint and verified on loading
(torch does not check the CRCs of its zip archive, so flipped bytes would
otherwise load silently).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import pickle
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = ["CheckpointError", "atomic_save", "digest", "read"]

STALE_AFTER_S = 3600  # a temp file this old is left over from a killed save, whoever wrote it


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded or saved; the message names the file and the reason."""


# ---------------------------------------------------------------- checksum


def _feed(h: Any, value: Any) -> None:
    """Add ``value`` (tensors and plain values, nested) to the hash, types and order included."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        t = t.to_dense() if t.layout != torch.strided else t
        h.update(f"T{t.dtype}{tuple(t.shape)}|".encode())
        h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy())
    elif isinstance(value, Mapping):
        h.update(b"{")
        for key, item in value.items():
            _feed(h, key)
            _feed(h, item)
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        h.update(b"(" if isinstance(value, tuple) else b"[")
        for item in value:
            _feed(h, item)
        h.update(b")")
    else:
        h.update(f"{type(value).__name__}:{value!r};".encode())


def digest(payload: Mapping[str, Any], *, skip: str = "checksum") -> str:
    """SHA-256 of every key and value of ``payload`` except ``skip``: ``"sha256:<hex>"``."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in payload.items() if k != skip})
    return "sha256:" + h.hexdigest()


# ---------------------------------------------------------------- writing


def _process_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no safe probe here: rely on the file's age
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, another user's
        return True
    return True


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete temporary files of ``path`` left by saves that were killed; returns them.

    A temp file is ``.NAME.PID.XXXX.tmp``: stale when process PID is gone, or
    when it is older than an hour (names without a PID, from older versions).
    """
    removed = []
    prefix, now = f".{path.name}.", time.time()
    for entry in os.scandir(path.parent):
        if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
            continue
        pid = entry.name[len(prefix) :].split(".", 1)[0]
        with contextlib.suppress(OSError):
            dead = pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid))
            if dead or now - entry.stat().st_mtime > STALE_AFTER_S:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); best effort elsewhere."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_error(exc: BaseException, path: Path, needed: int) -> BaseException:
    """A CheckpointError for a full disk (``exc`` itself for other failures)."""
    full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, RuntimeError) and re.search(r"fail\w* writ|write fail", str(exc)):
        with contextlib.suppress(OSError):
            full = shutil.disk_usage(path.parent).free < needed + 2**20
    if not full:
        return exc
    return CheckpointError(
        f"no space left on the device while saving {path} (about {needed / 2**20:.0f} MB "
        f"needed): free some space or save to another folder; the previous checkpoint "
        f"there, if any, is unchanged"
    )


def atomic_save(payload: dict, path: Path) -> None:
    """``torch.save`` to a temp file beside ``path``, fsync, then ``os.replace``.

    On any exception (KeyboardInterrupt included) the temp file is removed and
    whatever was at ``path`` before is left untouched; a full disk is a
    :class:`CheckpointError` that says so.
    """
    remove_stale_temps(path)
    tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by `with tmp`; the name outlives it
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", delete=False
    )
    try:
        with tmp as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        mask = os.umask(0o022)  # read the umask (set and put back): temp files are created 0600
        os.umask(mask)
        os.chmod(tmp.name, 0o666 & ~mask)
        os.replace(tmp.name, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp.name)
        error = _write_error(exc, path, _nbytes(payload))
        if error is exc:
            raise
        raise error from exc
    _fsync_dir(path.parent)


def _nbytes(value: Any) -> int:
    """Bytes of tensor data in ``value`` (nested)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, Mapping):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    return 0


# ---------------------------------------------------------------- reading


def _forbidden_globals(path: Path, exc: BaseException) -> list[str]:
    """The globals a ``weights_only`` load refused (empty when ``exc`` is another failure)."""
    finder = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)
    if finder is not None:
        with contextlib.suppress(Exception):
            return list(finder(path))
    # older torch: its message names one ("Unsupported global: GLOBAL x.y was not an allowed
    # global"; torch 2.14: "unsupported GLOBAL x.y whose module x is blocked")
    match = re.search(r"[Uu]nsupported (?:global|class|GLOBAL):?\s*(?:GLOBAL\s+)?([\w.<>]+)", str(exc))
    return [match.group(1)] if match else []


def read(path: Path, map_location: Any) -> Any:
    """``torch.load(path, weights_only=True)`` with every failure as a CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        culprits = _forbidden_globals(path, exc)
        if culprits:
            raise CheckpointError(
                f"refused to load {path}: it holds code or objects that are not allowed in a "
                f"checkpoint ({', '.join(culprits)}). A checkpoint needs only tensors and plain "
                "Python values, and unpickling anything else can run arbitrary code on your "
                "machine, so the course does not load it. Ask whoever made it for a checkpoint "
                "saved with save_checkpoint (state_dicts only)."
            ) from exc
        raise CheckpointError(
            f"{path} is not a valid checkpoint (truncated or corrupt): {type(exc).__name__}: {exc}"
        ) from exc
    except (PermissionError, IsADirectoryError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    except Exception as exc:  # torch raises RuntimeError, EOFError, KeyError, ... on bad bytes
        raise CheckpointError(
            f"{path} is not a valid checkpoint (truncated or corrupt): {type(exc).__name__}: {exc}"
        ) from exc
