"""Writing files safely: atomically, with the mode a plain write would give.

Generated modules (:func:`symbp.emit.module.write_if_changed`) and saved fits
(:meth:`symbp.Fit.save`) are written to a temporary file in the target's directory and
renamed over the target, so the target never holds a partial file. The temporary file
is created with mode ``0666`` (the process umask applies, as for ``open(path, "w")``),
or with the mode of the file it replaces. Any file-system failure becomes the caller's
error class with the path in the message.
"""

from __future__ import annotations

import io
import os
import secrets
import stat
from pathlib import Path
from typing import Any


def _describe(err: OSError) -> str:
    return err.strerror or type(err).__name__


def read_existing(path: Path, error: type[Exception]) -> bytes | None:
    """The bytes of ``path``, or None when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise error(f"{path} is a directory; expected a file path") from None
    except NotADirectoryError:
        raise error(f"cannot write {path}: a parent of it is a file, not a directory") from None
    except OSError as err:
        raise error(f"cannot read {path}: {_describe(err)}") from None


def atomic_savez(
    path: str | os.PathLike[str], arrays: dict[str, Any], error: type[Exception]
) -> Path:
    """``numpy.savez`` of ``arrays`` to exactly ``path``, written atomically."""
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return atomic_write(path, buffer.getvalue(), error)


def atomic_write(path: str | os.PathLike[str], data: bytes, error: type[Exception]) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise error(f"cannot write {target}: a parent of it is a file, not a directory") from None
    except OSError as err:
        raise error(f"cannot create the folder of {target}: {_describe(err)}") from None
    try:
        mode = stat.S_IMODE(target.stat().st_mode)  # keep the mode of the file replaced
    except FileNotFoundError:
        mode = None
    except OSError as err:
        raise error(f"cannot write {target}: {_describe(err)}") from None
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    except OSError as err:
        raise error(f"cannot write {target}: {_describe(err)}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise error(f"cannot write {target}: {_describe(err)}") from None
        raise
    return target
