"""Trainer: the Python face of a compiled, generated module."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import DataError
from ..optim.base import Optimizer
from .calls import call, reraise
from .covariance import Covariance, flat_names, inverse_hessian, standard_errors
from .fit import Fit
from .jacobians import output_jacobian
from .least_squares import run_least_squares
from .minimize import run_minimize
from .progress import fit_in_chunks
from .second import check_hessian_size, dense_hessian


class Trainer:
    """Loss, gradient and training for a model compiled with one optimizer and dtype.

    Every call goes through the generated module's own functions (``module``, its
    ``spec`` and the ``runtime`` it imports), so a ``Trainer`` and ``from generated
    import <model>`` give identical results.
    """

    def __init__(
        self,
        model: Any,
        module: ModuleType,
        optimizer: Optimizer | None,
        dtype: str,
        hessian: Callable[[], ModuleType],
        jacobian: Callable[[str | None], ModuleType] | None = None,
    ):
        self.model = model
        #: the generated module, its Spec and the runtime it imports
        self.module = module
        self.spec = module.SPEC
        self.runtime = module.RUNTIME
        self._load_hessian = hessian
        self._load_jacobian = jacobian
        #: the Jacobian modules compiled so far: None (the residuals') or an output's name
        self.jacobian_modules: dict[str | None, ModuleType] = {}
        self.jacobian_patterns: dict[str | None, np.ndarray] = {}
        self._errors = (self.runtime.InputError, self.runtime.DivergenceError)
        self.optimizer = optimizer
        self.dtype = dtype
        #: the optimizer's numbers, passed to the shared kernel at every fit
        self.hyper: tuple[tuple[float, ...], tuple[float, ...], str] | None = None
        if optimizer is not None:
            self.hyper = optimizer.template().numbers

    def __repr__(self) -> str:
        opt = self.optimizer.describe() if self.optimizer is not None else "None"
        return f"Trainer(model={self.model.name!r}, optimizer={opt}, dtype={self.dtype!r})"

    def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``func(*args, **kwargs)`` (a function of the module or its runtime) with the
        runtime's errors raised as symbp's (:mod:`symbp.train.calls`)."""
        return call(self.runtime, func, *args, **kwargs)

    def loss(self, params: Mapping[str, Any], data: Mapping[str, Any] | None = None) -> float:
        """The loss reduced over all samples of ``data``."""
        return self.call(self.module.loss, params, data)  # type: ignore[no-any-return]

    def grad(
        self, params: Mapping[str, Any], data: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The gradient of the reduced loss: name -> array (float for scalars)."""
        return self.call(self.module.grad, params, data)  # type: ignore[no-any-return]

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

    # -- least squares ----------------------------------------------------------------
    def jacobian_module(self, output: str | None) -> ModuleType:
        """The module of the Jacobian kernel of the residuals (``output`` None) or of an
        output, generated and compiled when first asked for."""
        module = self.jacobian_modules.get(output)
        if module is None:
            if self._load_jacobian is None:
                raise DataError("this trainer was built without Jacobian kernels")
            module = self.jacobian_modules[output] = self._load_jacobian(output)
        return module

    def jacobian_pattern(self, output: str | None) -> np.ndarray:
        """Where a row of the Jacobian of the residuals (``output`` None) or of an output
        may be nonzero: ``(entries per sample, parameter elements)`` booleans."""
        found = self.jacobian_patterns.get(output)
        if found is None:
            found = self.jacobian_patterns[output] = self.model.pipeline.jacobian_structure(output)
        return found

    def residuals(
        self, params: Mapping[str, Any], data: Mapping[str, Any] | None = None
    ) -> np.ndarray:
        """Each sample's residuals of a sum-of-squares loss (the loss is the sum, or mean,
        of their squares): ``(n,)`` for one residual per sample, else ``(n, k)``."""
        runtime = self.jacobian_module(None).RUNTIME
        return call(runtime, runtime.run_residuals, self.jacobian_module(None).SPEC, params, data)  # type: ignore[no-any-return]

    def jacobian(
        self,
        params: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        *,
        output: str | None = None,
        sparse: bool = False,
        by_param: bool = False,
    ) -> Any:
        """The exact Jacobian, per sample, of an output (or, without ``output``, of the
        residuals of a sum-of-squares loss, whose ``inputs`` must hold the targets too).

        Returns ``(n, *output shape, size)`` with ``size`` the flat parameter elements
        (declaration order, row-major; a residual vector has the shape ``(k,)``, a single
        residual ``()``); ``by_param=True``: a dict name -> ``(n, *output shape, *param
        shape)``; ``sparse=True``: a ``scipy.sparse`` CSR matrix ``(n * entries, size)``
        storing only the entries the expression graph cannot prove zero. Compiled at the
        model's level (a matrix-level model's Jacobian is never unrolled), when first
        asked for.
        """
        return output_jacobian(self, params, inputs, output, sparse, by_param)

    def least_squares(
        self,
        params: Mapping[str, Any],
        data: Mapping[str, Any] | None = None,
        *,
        method: str = "trf",
        bounds: Any = None,
        loss: Any = "linear",
        f_scale: float = 1.0,
        x_scale: Any = None,
        ftol: float | None = 1e-8,
        xtol: float | None = 1e-8,
        gtol: float | None = 1e-8,
        max_nfev: int | None = None,
        absolute_sigma: bool = False,
    ) -> Fit:
        """Fit a sum-of-squares loss with ``scipy.optimize.least_squares`` and the exact
        Jacobian of its residuals (computed with them, in one compiled pass).

        ``method``: ``"trf"``, ``"dogbox"`` or ``"lm"``; ``loss``, ``f_scale``,
        ``x_scale`` (None: SciPy's default, 1 for ``trf``/``dogbox`` and ``"jac"`` for
        ``lm``), the tolerances and ``max_nfev`` are SciPy's; ``bounds`` as in
        :meth:`minimize` (a dict ``name -> (low, high)``). Returns a :class:`Fit` with
        ``result`` (SciPy's ``OptimizeResult``), ``losses`` (the model's loss after each
        iteration), ``covariance`` and ``stderr`` in ``curve_fit``'s convention
        (``s² (JᵀJ)⁻¹``, ``s² = RSS / (m - p)``; ``(JᵀJ)⁻¹`` with ``absolute_sigma=True``,
        for residuals weighted by known standard deviations). A loss that is not a sum of
        squares is refused naming its first term that is not a square; SciPy's failures
        raise :class:`~symbp.OptimizationError` with the best fit reached.
        """
        options = {"method": method, "bounds": bounds, "loss": loss, "f_scale": f_scale,
                   "x_scale": x_scale, "ftol": ftol, "xtol": xtol, "gtol": gtol,
                   "max_nfev": max_nfev, "absolute_sigma": absolute_sigma}  # fmt: skip
        return run_least_squares(self, params, data, options)

    def covariance(
        self, params: Mapping[str, Any], data: Mapping[str, Any] | None = None
    ) -> Covariance:
        """The covariance of maximum-likelihood estimates: the inverse of the exact Hessian
        of the loss summed over ``data``, the loss being a per-sample negative
        log-likelihood (statsmodels' ``cov_params()`` for its GLMs, and ``bse`` its
        standard errors). Returns ``Covariance(matrix, names, stderr)``: rows and columns
        the flat parameter elements, ``names`` their labels (``"W[0, 2]"``), ``stderr``
        per parameter. A Hessian that is not positive definite gives a warning and
        ``inf``/``nan`` for the parameters it cannot determine.
        """
        theta = self.call(self.runtime.pack_params, self.spec, params)
        check_hessian_size(theta.shape[0])
        n, arrays = self.call(self.runtime.check_data, self.spec, data)
        hessian = dense_hessian(self.hessian_module, theta, n, arrays, reduce=False)
        names = flat_names(self.spec, self.runtime)
        matrix = inverse_hessian(hessian, names)
        return Covariance(matrix, names, standard_errors(matrix, self.spec, self.runtime))

    # -- second derivatives ---------------------------------------------------------
    @functools.cached_property
    def hessian_module(self) -> ModuleType:
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
        module = self.hessian_module
        runtime = module.RUNTIME
        return call(runtime, runtime.run_hessp, module.SPEC, params, v, data)  # type: ignore[no-any-return]

    def hessian(
        self, params: Mapping[str, Any], data: Mapping[str, Any] | None = None
    ) -> np.ndarray:
        """The dense Hessian of the reduced loss over the flat parameter vector.

        Rows and columns follow the parameter elements in declaration order, row-major
        (as ``trainer.runtime.pack_params`` lays them out). One Hessian-vector product
        per column; refused above :data:`symbp.train.second.HESSIAN_LIMIT` parameter
        elements (before anything is generated).
        """
        theta = self.call(self.runtime.pack_params, self.spec, params)
        check_hessian_size(theta.shape[0])
        n, arrays = self.call(self.runtime.check_data, self.spec, data)
        return dense_hessian(self.hessian_module, theta, n, arrays)

    def predict(
        self, params: Mapping[str, Any], inputs: Mapping[str, Any] | None = None
    ) -> dict[str, np.ndarray]:
        """The model's outputs for every sample of ``inputs``: name -> array, samples first.

        ``inputs`` maps the input names to arrays (targets, if present, are ignored). A
        scalar output comes back as ``(n,)``, a vector of length ``k`` as ``(n, k)``, an
        ``r x c`` matrix as ``(n, r, c)``. Computed by a compiled kernel (compiled on the
        first call), batched, on several threads for large inputs.
        """
        return self.call(self.module.predict, params, inputs)  # type: ignore[no-any-return]

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
            try:  # the runtime's run_fit directly: this is the hot path of a small fit
                return self.runtime.run_fit(  # type: ignore[no-any-return]
                    self.spec, params, data, steps, epochs, batch_size, shuffle, seed, state,
                    self.hyper, Fit,
                )  # fmt: skip
            except self._errors as err:
                reraise(self.runtime, err)
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
