"""symbp on a Dask cluster: data-parallel loss, gradient, prediction and training.

See :mod:`symbp.dask.client` for the functions and their guarantees; the tasks that run
on the workers are :mod:`symbp.dask.worker` (NumPy and Numba only).
"""

from __future__ import annotations

from . import worker
from .client import (
    FAN_IN,
    ClusterError,
    VersionMismatchError,
    fit,
    grad,
    loss,
    loss_and_grad,
    minimize,
    predict,
)

__all__ = [
    "FAN_IN",
    "ClusterError",
    "VersionMismatchError",
    "fit",
    "grad",
    "loss",
    "loss_and_grad",
    "minimize",
    "predict",
    "worker",
]
