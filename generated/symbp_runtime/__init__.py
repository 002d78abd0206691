# symbp runtime: symbp writes this file next to generated modules; do not edit it.
"""The symbp runtime: what every generated module runs around its kernels.

Validation and packing of params and data (:mod:`.checks`), the training loop and its
divergence handling (:mod:`.fit`), evaluations over a data set on several threads
(:mod:`.evaluate`, :mod:`.threads`), residuals and Jacobians (:mod:`.lsq`), pieces for data-parallel drivers (:mod:`.blocks`)
and the writing and importing of generated modules (:mod:`.loader`).

Written once: a generated module holds its model (kernels, ``SPEC``, thin public
functions) and imports this package from the folder ``symbp_runtime/`` next to it,
which symbp writes there (``Model.generate``, the compile cache, each Dask worker's
cache). It needs only the standard library and NumPy (threadpoolctl when installed),
never SymPy or symbp: a generated module runs wherever NumPy and Numba do, as long as
the folder travels with it. :data:`API` is the version of the protocol between the
kernels a module defines and these drivers; a module checks it when it loads.
"""

from .blocks import apply_update, block_fit, block_sums, learning_rate
from .checks import (
    accepted_shapes,
    check_data,
    check_hyper,
    check_keys,
    check_state,
    fit_start,
    initial_slots,
    initial_state,
    make_state,
    pack_params,
    positive_int,
    schedule,
    storage,
    unpack_params,
)
from .evaluate import (
    evaluate,
    hessp_sums,
    predict_arrays,
    reduced_loss,
    run_grad,
    run_hessp,
    run_loss,
    run_predict,
)
from .fit import FitRun, epoch_order, fit_steps, orders, run_fit, run_kernel
from .lsq import jacobian_values, least_squares_functions, run_jacobian, run_residuals
from .spec import (
    FIT,
    GRAD,
    LOSS,
    UPDATE,
    DivergenceError,
    FitResult,
    InputError,
    Spec,
    divergence_message,
    param_at,
    param_label,
)
from .threads import blas_limit, blas_one_thread, require_blas, threads

#: The version of the protocol between a generated module's kernels and this runtime.
API = 1

__all__ = [
    "API",
    "FIT",
    "GRAD",
    "LOSS",
    "UPDATE",
    "DivergenceError",
    "FitResult",
    "FitRun",
    "InputError",
    "Spec",
    "accepted_shapes",
    "apply_update",
    "blas_limit",
    "blas_one_thread",
    "block_fit",
    "block_sums",
    "check_data",
    "check_hyper",
    "check_keys",
    "check_state",
    "divergence_message",
    "epoch_order",
    "evaluate",
    "fit_start",
    "fit_steps",
    "hessp_sums",
    "initial_slots",
    "initial_state",
    "jacobian_values",
    "learning_rate",
    "least_squares_functions",
    "make_state",
    "orders",
    "pack_params",
    "param_at",
    "param_label",
    "positive_int",
    "predict_arrays",
    "reduced_loss",
    "require_blas",
    "run_fit",
    "run_grad",
    "run_hessp",
    "run_jacobian",
    "run_kernel",
    "run_loss",
    "run_predict",
    "run_residuals",
    "schedule",
    "storage",
    "threads",
    "unpack_params",
]
