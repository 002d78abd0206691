"""symbp on a Dask cluster: data-parallel loss, gradient, prediction and training.

The convention is ``xgboost.dask``'s: you own the :class:`distributed.Client` (of a
``LocalCluster`` or of a real cluster); the functions here take a compiled
:class:`~symbp.Trainer` and Dask arrays chunked along the sample axis, and use the
default client unless ``client=`` names one::

    import dask.array as da, symbp.dask as sd
    sd.loss(trainer, params, data); sd.grad(trainer, params, data)
    sd.predict(trainer, params, inputs)                 # lazy dask arrays
    sd.minimize(trainer, params, data, method="L-BFGS-B")
    sd.fit(trainer, params, data, epochs=2, batch_size=1024)            # = trainer.fit
    sd.fit(trainer, params, data, epochs=2, batch_size=1024, sync=50)   # local SGD

What travels (:mod:`.ship`): the trainer's generated module (its source text, which
imports only NumPy, Numba and the standard library) and the files of the runtime it
imports (:mod:`symbp.runtime`) are one key of every task graph; each worker process
writes them into its own cache directory, imports the module under the fixed name of
its content hash and compiles it once (Numba's on-disk cache keeps the machine code for
later processes). The task functions live in :mod:`symbp.dask.worker` and are pickled
*by value*, with the functions of :mod:`symbp.runtime.loader` they use, so workers need
neither SymPy nor symbp installed. Each task checks that the worker runs the client's
Numba and that the module comes from the client's symbp version
(:class:`VersionMismatchError` otherwise).

Exactness: every reduction adds the blocks' partial sums in a fixed tree (groups of
:data:`FAN_IN` consecutive blocks, level by level: :mod:`.reduce`), so results do not
depend on scheduling; ``loss``/``grad``/``minimize`` and ``fit(sync="step")`` equal
their in-memory counterparts to rounding. ``fit(sync=K)`` is local SGD, which does
*not* equal single-process training (see :func:`fit`). Tasks are pure: a lost worker's
tasks are recomputed by Dask and the results are unchanged; a ``fit`` that cannot
complete raises :class:`ClusterError` carrying the last completed :class:`~symbp.Fit`.

The modules: :mod:`.worker` (the tasks), :mod:`.ship` (what travels), :mod:`.cluster`
(client, waiting, errors), :mod:`.blocks` (dask arrays checked and split into blocks),
:mod:`.reduce` (tree sums, data kept on the workers), :mod:`.evaluate` (``loss``,
``grad``, ``loss_and_grad``, ``predict``), :mod:`.optimize` (``minimize``) and
:mod:`.training` (``fit``).
"""

from __future__ import annotations

try:
    import cloudpickle  # noqa: F401
    import dask
    import dask.array  # noqa: F401
    import distributed  # noqa: F401
except ImportError as _missing:  # pragma: no cover - exercised without dask installed
    raise ImportError(
        f"symbp.dask needs Dask and distributed ({_missing}); install them with "
        "pip install 'symbp[dask]' (or pip install 'dask[array]' distributed)"
    ) from _missing

from . import worker
from .cluster import ClusterError, VersionMismatchError
from .evaluate import grad, loss, loss_and_grad, predict
from .optimize import minimize
from .reduce import FAN_IN
from .training import fit

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
