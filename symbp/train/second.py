"""Second derivatives over a data set: dense Hessians from Hessian-vector products."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from ..errors import OptionError

#: ``Trainer.hessian`` (and the Hessian methods of ``minimize``) refuse models with more
#: parameter elements than this.
HESSIAN_LIMIT = 4000


def check_hessian_size(size: int) -> None:
    """Refuse a dense Hessian of more than :data:`HESSIAN_LIMIT` parameter elements."""
    if size > HESSIAN_LIMIT:
        raise OptionError(
            f"the Hessian of {size} parameter elements would hold {size * size:,} numbers "
            f"(the limit is {HESSIAN_LIMIT} elements); use trainer.hessp(params, v, data)"
        )


def dense_hessian(
    hessian: ModuleType, theta: np.ndarray, n: int, arrays: Any, *, reduce: bool = True
) -> np.ndarray:
    """The dense Hessian of the reduced loss (``reduce=False``: of the loss summed over
    the samples) at the packed params ``theta`` over validated ``arrays`` of ``n``
    samples, one product of ``hessian`` (a Hessian module) per column (its size checked
    by the caller, before the module was generated)."""
    runtime, spec = hessian.RUNTIME, hessian.SPEC
    size = theta.shape[0]
    result = np.empty((size, size))
    unit = np.zeros(size, dtype=spec.dtype)
    for k in range(size):
        unit[k] = 1.0
        result[:, k] = runtime.hessp_sums(spec, theta, unit, n, arrays)
        unit[k] = 0.0
    if reduce and spec.reduction == "mean":
        result /= n
    return result
