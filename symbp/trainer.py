"""Trainer and Fit: the Python face of a compiled, generated module."""

from __future__ import annotations

import functools
import json
import os
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TypeVar

import numpy as np

from .errors import DataError, DivergenceError, OptionError
from .files import atomic_savez

if TYPE_CHECKING:
    from .model import Model
    from .optim.base import Optimizer

R = TypeVar("R")

#: ``Trainer.hessian`` refuses models with more parameter elements than this.
HESSIAN_LIMIT = 4000

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
    ``OptimizeResult``.
    (An immutable named tuple: a fit call of a tiny model costs a few microseconds.)
    """

    params: dict[str, Any]
    losses: np.ndarray
    state: dict[str, Any]
    val_losses: np.ndarray | None = None
    best_step: int | None = None
    result: Any = None
    last_params: dict[str, Any] | None = None

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
        arrays = {f"params/{name}": np.asarray(value) for name, value in self.params.items()}
        for name, value in (self.last_params or {}).items():
            arrays[f"last/{name}"] = np.asarray(value)
        if self.val_losses is not None:
            arrays["val_losses"] = np.asarray(self.val_losses)
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
    return Fit(params, losses, state, val_losses, best_step, None, last_params)


class Trainer:
    """Loss, gradient and training for a model compiled with one optimizer and dtype.

    Every call goes through the generated module's own functions, so a ``Trainer``
    and ``from generated import <model>`` give identical results.
    """

    def __init__(self, model: Model, module: ModuleType, optimizer: Optimizer | None, dtype: str):
        self.model = model
        self.module = module
        self.optimizer = optimizer
        self.dtype = dtype
        #: the optimizer's numbers, passed to the shared kernel at every fit
        self.hyper: tuple[tuple[float, ...], tuple[float, ...], str] | None = None
        if optimizer is not None:
            self.hyper = optimizer.template().numbers

    def __repr__(self) -> str:
        opt = self.optimizer.describe() if self.optimizer is not None else "None"
        return f"Trainer(model={self.model.name!r}, optimizer={opt}, dtype={self.dtype!r})"

    def _call(self, func: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Call a generated module's function; its errors become symbp's.

        ``InputError`` becomes :class:`~symbp.DataError`, ``DivergenceError``
        :class:`symbp.DivergenceError` carrying the partial :class:`Fit`.
        """
        try:
            return func(*args, **kwargs)
        except (self.module.InputError, self.module.DivergenceError) as err:
            self._raise(err)

    @staticmethod
    def _call_in(module: ModuleType, func: Callable[..., R], *args: Any) -> R:
        """Call a function of another generated module (the Hessian's); its
        ``InputError`` becomes :class:`~symbp.DataError`."""
        try:
            return func(*args)
        except module.InputError as err:
            raise DataError(str(err)) from None

    def _raise(self, err: Exception) -> NoReturn:
        """Raise the symbp error for a generated module's ``InputError`` / ``DivergenceError``."""
        if isinstance(err, self.module.DivergenceError):
            result = err.fit  # type: ignore[attr-defined]
            fit = Fit(result.params, result.losses, result.state)
            raise DivergenceError(
                str(err),
                fit,
                err.step,
                err.loss,
                err.lr,
                err.param,  # type: ignore[attr-defined]
            ) from None
        raise DataError(str(err)) from None

    def loss(self, params: Mapping[str, Any], data: Mapping[str, Any] | None = None) -> float:
        """The loss reduced over all samples of ``data``."""
        return self._call(self.module.loss, params, data)

    def grad(
        self, params: Mapping[str, Any], data: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The gradient of the reduced loss: name -> array (float for scalars)."""
        return self._call(self.module.grad, params, data)

    # -- SciPy's optimizers -----------------------------------------------------------
    def minimize(
        self,
        params: Mapping[str, Any],
        data: Mapping[str, Any] | None = None,
        *,
        method: str = "L-BFGS-B",
        tol: float | None = None,
        options: Mapping[str, Any] | None = None,
        bounds: Any = None,
    ) -> Fit:
        """Minimize the reduced loss over all of ``data`` with ``scipy.optimize.minimize``.

        SciPy gets the flat parameter vector and a compiled loss-and-gradient of it (one
        pass over the data per evaluation; the data are validated once); the Hessian
        methods (``Newton-CG``, ``trust-ncg``, ``trust-krylov``, ``trust-constr``) also
        get the exact Hessian-vector product (:meth:`hessp`), ``dogleg`` and
        ``trust-exact`` the dense Hessian. ``bounds``: SciPy's form for the flat vector,
        or a dict ``name -> (low, high)`` (numbers or arrays of the param's shape;
        ``None`` for no bound). Returns a :class:`Fit` with ``losses`` = the loss after
        each iteration and ``result`` = SciPy's ``OptimizeResult``.
        """
        from .minimize import run_minimize

        return run_minimize(self, params, data, method, tol, options, bounds)

    # -- second derivatives ---------------------------------------------------------
    @functools.cached_property
    def _hessian_module(self) -> ModuleType:
        """The module of the Hessian-vector product, generated and imported when first used."""
        from .cache import load_cached
        from .emit.generate import render_hessp_module

        return load_cached(f"{self.model.name}_hessp", render_hessp_module(self.model, self.dtype))

    def hessp(
        self,
        params: Mapping[str, Any],
        v: Mapping[str, Any],
        data: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The Hessian of the reduced loss at ``params`` times ``v`` (laid out as ``params``).

        Exact: a compiled second sweep of the derived program (symbp.hessian), at the
        model's level (a matrix-level model's product never unrolls). The kernel is
        generated and compiled the first time it is asked for.
        """
        module = self._hessian_module
        return self._call_in(module, module.run_hessp, module._SPEC, params, v, data)

    def hessian(
        self, params: Mapping[str, Any], data: Mapping[str, Any] | None = None
    ) -> np.ndarray:
        """The dense Hessian of the reduced loss over the flat parameter vector.

        Rows and columns follow the parameter elements in declaration order, row-major
        (as ``trainer.module.pack_params`` lays them out). One Hessian-vector product per
        column; refused above :data:`HESSIAN_LIMIT` parameter elements (before anything
        is generated).
        """
        spec = self.module._SPEC
        theta = self._call(self.module.pack_params, spec, params)
        self._check_hessian_size(theta.shape[0])
        module = self._hessian_module
        n, arrays = self._call_in(module, module.check_data, module._SPEC, data)
        return self._dense_hessian(theta, n, arrays)

    @staticmethod
    def _check_hessian_size(size: int) -> None:
        if size > HESSIAN_LIMIT:
            raise OptionError(
                f"the Hessian of {size} parameter elements would hold {size * size:,} numbers "
                f"(the limit is {HESSIAN_LIMIT} elements); use trainer.hessp(params, v, data)"
            )

    def _dense_hessian(self, theta: np.ndarray, n: int, arrays: Any) -> np.ndarray:
        """The dense Hessian at the packed params ``theta`` over validated arrays (its
        size checked by the caller, before the Hessian module is generated)."""
        module = self._hessian_module
        spec = module._SPEC
        size = theta.shape[0]
        result = np.empty((size, size))
        unit = np.zeros(size, dtype=spec.dtype)
        for k in range(size):
            unit[k] = 1.0
            result[:, k] = module.hessp_sums(spec, theta, unit, n, arrays)
            unit[k] = 0.0
        if spec.reduction == "mean":
            result /= n
        return result

    def predict(
        self, params: Mapping[str, Any], inputs: Mapping[str, Any] | None = None
    ) -> dict[str, np.ndarray]:
        """The model's outputs for every sample of ``inputs``: name -> array, samples first.

        ``inputs`` maps the input names to arrays (targets, if present, are ignored). A
        scalar output comes back as ``(n,)``, a vector of length ``k`` as ``(n, k)``, an
        ``r x c`` matrix as ``(n, r, c)``. Computed by a compiled kernel (compiled on the
        first call), batched, on several threads for large inputs.
        """
        return self._call(self.module.predict, params, inputs)

    def fit(
        self,
        params: Mapping[str, Any],
        data: Mapping[str, Any] | None = None,
        *,
        steps: int | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        shuffle: bool = False,
        seed: int | None = None,
        progress: bool = False,
        state: Mapping[str, Any] | None = None,
        validation: Mapping[str, Any] | None = None,
        patience: int | None = None,
    ) -> Fit:
        """Train from ``params`` for ``steps`` (or ``epochs``) in compiled code.

        ``validation`` (a data dict): its loss is computed after every epoch
        (``fit.val_losses``); ``patience=k`` stops after ``k`` epochs without a lower
        validation loss and keeps the best params (``fit.best_step`` says when).
        ``progress=True`` shows a progress bar. Neither validation nor the bar changes
        the training: the losses, state and (without ``patience``) params are those of
        the same fit without them.
        """
        if self.optimizer is None:
            raise DataError(
                "this trainer was compiled without an optimizer; pass optimizer= to compile()"
            )
        if not (progress or validation is not None or patience is not None):
            module = self.module
            try:  # the module's run_fit directly: this is the hot path of a small fit
                return module.run_fit(  # type: ignore[no-any-return]
                    module._SPEC,
                    params,
                    data,
                    steps,
                    epochs,
                    batch_size,
                    shuffle,
                    seed,
                    state,
                    self.hyper,
                    Fit,
                )
            except (module.InputError, module.DivergenceError) as err:
                self._raise(err)
        from .progress import fit_in_chunks

        return fit_in_chunks(
            self,
            params,
            data,
            steps=steps,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            state=state,
            progress=progress,
            validation=validation,
            patience=patience,
        )
