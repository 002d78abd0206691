"""Trainer and Fit: the Python face of a compiled, generated module."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, NoReturn, TypeVar

import numpy as np

from ..errors import DataError, DivergenceError, OptionError
from ..optim.base import Optimizer
from .fit import Fit
from .minimize import run_minimize
from .progress import fit_in_chunks

R = TypeVar("R")

#: ``Trainer.hessian`` refuses models with more parameter elements than this.
HESSIAN_LIMIT = 4000


class Trainer:
    """Loss, gradient and training for a model compiled with one optimizer and dtype.

    Every call goes through the generated module's own functions, so a ``Trainer``
    and ``from generated import <model>`` give identical results.
    """

    def __init__(
        self,
        model: Any,
        module: ModuleType,
        optimizer: Optimizer | None,
        dtype: str,
        hessian: Callable[[], ModuleType],
    ):
        self.model = model
        self.module = module
        self._load_hessian = hessian
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
        return run_minimize(self, params, data, method, tol, options, bounds)

    # -- second derivatives ---------------------------------------------------------
    @functools.cached_property
    def _hessian_module(self) -> ModuleType:
        """The module of the Hessian-vector product, generated and imported when first used."""
        return self._load_hessian()

    def hessp(
        self,
        params: Mapping[str, Any],
        v: Mapping[str, Any],
        data: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The Hessian of the reduced loss at ``params`` times ``v`` (laid out as ``params``).

        Exact: a compiled second sweep of the derived program (symbp.derive.hessian), at the
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
