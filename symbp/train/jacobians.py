"""``Trainer.jacobian``: per-sample Jacobians of outputs and residuals, dense or sparse."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .calls import call


def structural_positions(pattern: np.ndarray, n: int) -> tuple[np.ndarray, Any]:
    """Where the rows of ``n`` samples may be nonzero (each sample's rows follow
    ``pattern``): the boolean mask and its ``np.nonzero`` indices."""
    where = np.tile(pattern, (n, 1))
    return where, np.nonzero(where)


def sparse_jacobian(flat: np.ndarray, positions: tuple[np.ndarray, Any]) -> Any:
    """The 2-D Jacobian ``flat`` as a ``scipy.sparse`` CSR matrix holding the entries at
    ``positions`` (:func:`structural_positions`)."""
    from scipy import sparse

    where, indices = positions
    return sparse.csr_matrix((flat[where], indices), shape=flat.shape)


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
        positions = structural_positions(trainer.jacobian_pattern(output), jac.shape[0])
        return sparse_jacobian(jac.reshape(-1, spec.size), positions)
    if not by_param:
        return jac
    result = {}
    for name, shape, offset in spec.params:
        size = int(np.prod(shape)) if shape else 1
        block = jac[..., offset : offset + size]
        result[name] = block.reshape((*jac.shape[:-1], *shape))
    return result
