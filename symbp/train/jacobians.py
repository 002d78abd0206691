"""``Trainer.jacobian``: per-sample Jacobians of outputs and residuals, dense or sparse."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .calls import call


def output_jacobian(
    trainer: Any,
    params: Mapping[str, Any],
    inputs: Mapping[str, Any] | None,
    output: str | None,
    sparse: bool,
    by_param: bool,
) -> Any:
    """See :meth:`symbp.Trainer.jacobian`."""
    module = trainer.jacobian_module(output)
    runtime, spec = module.RUNTIME, module.SPEC
    jac = call(runtime, runtime.run_jacobian, spec, params, inputs, output is not None)
    if output is not None:  # the output's declared shape, not the storage one
        jac = jac.reshape((jac.shape[0], *spec.jacobian_shape, spec.size))
    if sparse:
        from scipy import sparse as scipy_sparse

        pattern = trainer.jacobian_pattern(output)
        flat = jac.reshape(-1, spec.size)
        rows = np.tile(pattern, (jac.shape[0], 1))
        return scipy_sparse.csr_matrix((flat[rows], np.nonzero(rows)), shape=flat.shape)
    if not by_param:
        return jac
    result = {}
    for name, shape, offset in spec.params:
        size = int(np.prod(shape)) if shape else 1
        block = jac[..., offset : offset + size]
        result[name] = block.reshape((*jac.shape[:-1], *shape))
    return result
