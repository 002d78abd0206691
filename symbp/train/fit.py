"""Fit, the result of a training run, and its file format (:meth:`Fit.save`, :func:`load_fit`)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import DataError
from ..files import atomic_savez
from .covariance import diagonal_roots

#: The ``format`` entry of the header of a file written by :meth:`Fit.save`.
FIT_FORMAT = "symbp-fit/1"


class Fit(NamedTuple):
    """The result of :meth:`Trainer.fit` (and :meth:`Trainer.minimize`).

    ``params`` holds the trained values in the declared shapes, ``losses`` the batch
    loss before each update, and ``state`` the optimizer state and step counter that
    ``Trainer.fit(..., state=fit.state)`` continues from. With ``validation=``,
    ``val_losses`` holds the validation loss after each epoch and ``best_step`` the step
    count after the best one; with ``patience=`` the params are that epoch's and
    ``last_params`` those where training stopped (``trainer.fit(fit.last_params, data,
    state=fit.state)`` continues exactly). After ``minimize``, ``result`` is SciPy's
    ``OptimizeResult``. After ``least_squares``, ``covariance`` is the parameters'
    covariance (curve_fit's convention; rows and columns the flat parameter elements in
    declaration order, named by ``flat_names``: ``"W1[0, 2]"``) and ``stderr`` maps
    each parameter to its standard error (a float, or an array of its shape).
    (An immutable named tuple: a fit call of a tiny model costs a few microseconds.)
    """

    params: dict[str, Any]
    losses: np.ndarray
    state: dict[str, Any]
    val_losses: np.ndarray | None = None
    best_step: int | None = None
    result: Any = None
    last_params: dict[str, Any] | None = None
    covariance: np.ndarray | None = None
    stderr: dict[str, Any] | None = None
    flat_names: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        extra = "" if self.val_losses is None else f", best_step={self.best_step}"
        return f"Fit(params={self.params!r}, losses={self.losses!r}{extra})"

    @property
    def steps(self) -> int:
        """The step counter after this fit (counting earlier fits it resumed)."""
        return int(self.state["step"])

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write params, optimizer state and losses to ``path`` as an ``.npz``, atomically.

        The file is written to a temporary file next to ``path`` and renamed over it,
        so ``path`` never holds a partial file; it gets the mode a plain write would
        give, and a file-system failure raises :class:`~symbp.DataError` naming the
        path. :func:`load_fit` reads it back (validation losses, best step and last
        params too); ``Trainer.fit(..., state=load_fit(path).state)`` continues the
        training.
        """
        seed = self.state.get("seed")
        header = {
            "format": FIT_FORMAT,
            "params": list(self.params),
            "step": int(self.state["step"]),
            "seed": None if seed is None else int(seed),
            "source_hash": str(self.state.get("source_hash")),
            "best_step": self.best_step,
        }
        if self.covariance is not None:
            header["flat_names"] = list(self.flat_names or ())
        arrays = {f"params/{name}": np.asarray(value) for name, value in self.params.items()}
        for name, value in (self.last_params or {}).items():
            arrays[f"last/{name}"] = np.asarray(value)
        if self.val_losses is not None:
            arrays["val_losses"] = np.asarray(self.val_losses)
        if self.covariance is not None:
            arrays["covariance"] = np.asarray(self.covariance)
        arrays["losses"] = np.asarray(self.losses)
        arrays["state/slots"] = np.asarray(self.state["slots"])
        arrays["header"] = np.array(json.dumps(header))
        return atomic_savez(path, arrays, DataError)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _real(name: str, array: np.ndarray, ndim: int | None, where: str) -> np.ndarray:
    if array.dtype.kind not in "biuf" or (ndim is not None and array.ndim != ndim):
        shape = f"{ndim}-D " if ndim is not None else ""
        raise DataError(
            f"{where}: {name!r} must be a {shape}array of real numbers, "
            f"got dtype {array.dtype} and shape {array.shape}"
        )
    return array


def load_fit(path: str | os.PathLike[str]) -> Fit:
    """Read a :class:`Fit` written by :meth:`Fit.save` (params, state and losses).

    Raises :class:`~symbp.DataError` when the file is missing, is not such a file,
    or is inconsistent.
    """
    where = f"fit file {os.fspath(path)!r}"
    not_ours = f"{where} is not an .npz written by Fit.save"
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(f"{not_ours} (it holds a single array)")
        with archive:
            arrays = {key: archive[key] for key in archive.files}
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{where} does not exist") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{not_ours}: {err}") from None
    if "header" not in arrays:
        raise DataError(f"{not_ours} (no 'header' entry)")
    try:
        header = json.loads(str(arrays.pop("header")))
    except ValueError as err:
        raise DataError(f"{where} has an unreadable header: {err}") from None
    if not isinstance(header, dict) or header.get("format") != FIT_FORMAT:
        found = header.get("format") if isinstance(header, dict) else header
        raise DataError(f"{where} has format {found!r}; expected {FIT_FORMAT!r}")
    names = header.get("params")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DataError(f"{where}: header 'params' must be a non-empty list of names")
    last = {k.removeprefix("last/"): arrays.pop(k) for k in list(arrays) if k.startswith("last/")}
    val_losses = arrays.pop("val_losses", None)
    covariance = arrays.pop("covariance", None)
    stored = sorted(key.removeprefix("params/") for key in arrays if key.startswith("params/"))
    missing = [key for key in ("losses", "state/slots") if key not in arrays]
    if stored != sorted(names) or missing:
        raise DataError(
            f"{where}: expected arrays for params {names} and {['losses', 'state/slots']}, "
            f"found {sorted(arrays)}"
        )
    step, seed = header.get("step"), header.get("seed")
    if not _is_count(step):
        raise DataError(f"{where}: step must be a non-negative integer, got {step!r}")
    if seed is not None and not _is_count(seed):
        raise DataError(f"{where}: seed must be a non-negative integer or null, got {seed!r}")
    if not isinstance(header.get("source_hash"), str):
        raise DataError(f"{where}: source_hash must be a string")
    params: dict[str, Any] = {}
    for name in names:
        value = _real(name, arrays[f"params/{name}"], None, where)
        params[name] = float(value) if value.ndim == 0 else value
    losses = _real("losses", arrays["losses"], 1, where)
    slots = _real("state/slots", arrays["state/slots"], 2, where)
    size = sum(int(np.size(value)) for value in params.values())
    if slots.shape[1] != size:
        raise DataError(
            f"{where}: state/slots has shape {slots.shape}; expected (k, {size}) "
            f"for params of {size} elements"
        )
    state = {"step": step, "slots": slots, "seed": seed, "source_hash": header["source_hash"]}
    best_step = header.get("best_step")
    if best_step is not None and not _is_count(best_step):
        raise DataError(f"{where}: best_step must be a non-negative integer or null")
    last_params = None
    if last:
        if sorted(last) != sorted(names):
            raise DataError(f"{where}: last params {sorted(last)} do not match params {names}")
        last_params = {}
        for name in names:
            value = _real(name, last[name], None, where)
            last_params[name] = float(value) if value.ndim == 0 else value
    if val_losses is not None:
        val_losses = _real("val_losses", val_losses, 1, where)
    uncertainty = _uncertainty(covariance, header.get("flat_names"), params, where)
    return Fit(params, losses, state, val_losses, best_step, None, last_params, *uncertainty)


def _uncertainty(
    covariance: np.ndarray | None, names: Any, params: dict[str, Any], where: str
) -> tuple[Any, Any, Any]:
    """``(covariance, stderr, flat_names)`` of a saved fit (Nones when it has none)."""
    if covariance is None:
        return None, None, None
    size = sum(int(np.size(value)) for value in params.values())
    covariance = _real("covariance", covariance, 2, where)
    if covariance.shape != (size, size) or not isinstance(names, list) or len(names) != size:
        raise DataError(f"{where}: the covariance does not match the {size} parameter elements")
    roots = diagonal_roots(covariance)
    stderr: dict[str, Any] = {}
    offset = 0
    for name, value in params.items():
        count = int(np.size(value))
        block = roots[offset : offset + count]
        stderr[name] = float(block[0]) if np.ndim(value) == 0 else block.reshape(np.shape(value))
        offset += count
    return covariance, stderr, tuple(str(n) for n in names)
