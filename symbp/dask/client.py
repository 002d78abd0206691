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

What travels: the trainer's generated module (its source text, which imports only
NumPy, Numba and the standard library) is one key of every task graph; each worker
process writes it into its own cache directory under its content hash, imports it
under a fixed name and compiles it once (Numba's on-disk cache keeps the machine code
for later processes). The task functions live in :mod:`symbp.dask.worker` and are
pickled *by value*, so workers need neither SymPy nor symbp installed. Each task
checks that the worker runs the client's Numba and that the module comes from the
client's symbp version (:class:`VersionMismatchError` otherwise).

Exactness: every reduction adds the blocks' partial sums in a fixed tree (groups of
:data:`FAN_IN` consecutive blocks, level by level), so results do not depend on
scheduling; ``loss``/``grad``/``minimize`` and ``fit(sync="step")`` equal their
in-memory counterparts to rounding. ``fit(sync=K)`` is local SGD, which does *not*
equal single-process training (see :func:`fit`). Tasks are pure: a lost worker's
tasks are recomputed by Dask and the results are unchanged; a ``fit`` that cannot
complete raises :class:`ClusterError` carrying the last completed :class:`~symbp.Fit`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import operator
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

try:
    import cloudpickle
    import dask
    import dask.array as da
    import distributed
    from dask.base import tokenize
except ImportError as _missing:  # pragma: no cover - exercised without dask installed
    raise ImportError(
        f"symbp.dask needs Dask and distributed ({_missing}); install them with "
        "pip install 'symbp[dask]' (or pip install 'dask[array]' distributed)"
    ) from _missing

import numba

import symbp.dask.worker as dask_worker

from ..errors import DataError, DivergenceError, OptionError, SymbpError
from ..train import minimize as _minimize
from ..train.fit import Fit
from ..train.minimize import check_tol, fresh_state, scipy_bounds
from ..train.trainer import Trainer
from ..version import __version__

# The worker functions travel by value: a worker never imports symbp (and SymPy).
cloudpickle.register_pickle_by_value(dask_worker)

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
]

#: Partial sums are added in groups of this many consecutive blocks, level by level.
FAN_IN = 8
#: scipy.optimize.minimize methods that use the gradient (and not the Hessian).
GRADIENT_METHODS = ("CG", "BFGS", "Newton-CG", "L-BFGS-B", "TNC", "SLSQP", "trust-constr")
#: The rest of trainer.minimize's methods need the Hessian, which is not distributed.
_HESSIAN_METHODS = _minimize.GRADIENT_METHODS - {m.lower() for m in GRADIENT_METHODS}


class ClusterError(SymbpError, RuntimeError):
    """Work on the cluster could not complete.

    Raised when there is no client, when a task failed on every worker that tried it
    (Dask's ``KilledWorker``), when results did not arrive within ``timeout``, or when
    the client or cluster shut down. ``fit`` holds the last completed
    :class:`~symbp.Fit` of a :func:`fit` or :func:`minimize` (resumable with
    ``state=fit.state``), else None.
    """

    def __init__(self, message: str, fit: Fit | None = None):
        super().__init__(message)
        self.fit = fit


class VersionMismatchError(ClusterError):
    """A worker runs another Numba than the client, or got a module from another symbp."""


class _Remote:
    """A :mod:`symbp.dask.worker` function that pickles by value wherever it goes.

    Dask pickles a task graph with the plain pickler first, which would send the
    function by reference (and make the worker import symbp, hence SymPy); this
    wrapper unpickles into the by-value copy that cloudpickle makes.
    """

    __slots__ = ("func", "payload")

    def __init__(self, func: Callable[..., Any]):
        self.func = func
        self.payload = cloudpickle.dumps(func)

    def __call__(self, *args: Any) -> Any:
        return self.func(*args)

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return cloudpickle.loads, (self.payload,)

    def __dask_tokenize__(self) -> tuple[str, str]:
        return "symbp.dask.worker", self.func.__name__

    def __repr__(self) -> str:
        return f"<symbp.dask.worker.{self.func.__name__} (by value)>"


_BLOCK_SUMS = _Remote(dask_worker.block_sums)
_PREPARE = _Remote(dask_worker.prepare)
_PREPARED_SUMS = _Remote(dask_worker.prepared_sums)
_COMBINE = _Remote(dask_worker.combine)
_PREDICT = _Remote(dask_worker.predict)
_LOCAL_FIT = _Remote(dask_worker.local_fit)

_SOURCES: dict[str, str] = {}
#: The Fit to attach to an error, built only when one happens.
Later = Callable[[], Fit] | None


def _client_versions() -> tuple[str, str]:
    """``(numba version, symbp version)`` that every worker must match."""
    return numba.__version__, __version__


def _shipment(trainer: Trainer) -> tuple[str, str, str, str, str]:
    """What every task receives: the module's hash, model, source and the versions."""
    module = trainer.module
    source = _SOURCES.get(module.SOURCE_HASH)
    if source is None:
        source = _SOURCES[module.SOURCE_HASH] = Path(module.__file__).read_text(encoding="utf-8")
    numba_version, symbp_version = _client_versions()
    return module.SOURCE_HASH, module._SPEC.model, source, numba_version, symbp_version


def _ship_node(trainer: Trainer) -> Any:
    """The shipment as one key of the graph (fetched once by each worker that needs it)."""
    ship = _shipment(trainer)
    key = f"symbp-module-{ship[0][:16]}-{tokenize(ship[1:])[:8]}"
    return dask.delayed(tuple, pure=True)(ship, dask_key_name=key)


#: Per client, the shipment futures it holds (so each worker fetches a module once).
_HELD: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _held_ship(client: distributed.Client, trainer: Trainer) -> Any:
    """The shipment as a future the client keeps: later graphs find it in memory.

    If the worker holding it is lost, Dask recomputes it from its (literal) task.
    """
    node = _ship_node(trainer)
    held = _HELD.setdefault(client, {})
    future = held.get(node.key)
    if future is None or future.status in ("cancelled", "lost", "error"):
        future = held[node.key] = client.compute(node)
    return future


def _get_client(client: distributed.Client | None) -> distributed.Client:
    if client is not None:
        return client
    try:
        return distributed.default_client()
    except ValueError:
        raise ClusterError(
            "symbp.dask needs a distributed.Client: connect one first, e.g. "
            "Client(LocalCluster()) or Client('tcp://scheduler:8786'), or pass client="
        ) from None


def _check_timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise OptionError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    return float(timeout)


# -- data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Blocks:
    """Dask arrays split into their blocks of samples (the empty blocks left out)."""

    names: tuple[str, ...]
    blocks: tuple[tuple[Any, ...], ...]  # per non-empty block: one Delayed per array
    sizes: tuple[int, ...]  # samples of each non-empty block
    offsets: tuple[int, ...]  # index of each non-empty block's first sample
    chunks: tuple[int, ...]  # every block's samples, the empty ones too
    n: int


def _expected(module: Any, shape: tuple[int, ...]) -> str:
    return " or ".join(str(("n", *s)) for s in module._accepted_shapes(shape))


def _check_array(module: Any, name: str, value: Any, shape: tuple[int, ...]) -> da.Array:
    if not isinstance(value, da.Array):
        raise DataError(
            f"data {name!r} is a {type(value).__name__}; symbp.dask takes dask arrays chunked "
            f"along the samples, e.g. dask.array.from_array({name}, chunks=(10_000, -1))"
        )
    if value.dtype.kind not in "biuf":
        raise DataError(f"data {name!r} has dtype {value.dtype}; expected real numbers")
    if value.ndim == 0:
        raise DataError(f"data {name!r} is a scalar; expected a first axis of samples")
    if any(isinstance(c, float) and math.isnan(c) for axis in value.chunks for c in axis):
        raise DataError(
            f"data {name!r} has unknown chunk sizes; call {name}.compute_chunk_sizes() first"
        )
    if value.shape[1:] not in module._accepted_shapes(shape):
        raise DataError(
            f"data {name!r} has shape {value.shape}; expected {_expected(module, shape)}"
        )
    for axis in range(1, value.ndim):
        if len(value.chunks[axis]) > 1:
            raise DataError(
                f"data {name!r} is chunked along axis {axis} too (chunks {value.chunks}); "
                f"symbp.dask splits the samples (axis 0) only: use {name}.rechunk({{{axis}: -1}})"
            )
    return value


def _blocks(trainer: Trainer, data: Any, inputs_only: bool = False) -> _Blocks:
    """Validate dask-array data against the model and split it into blocks."""
    module = trainer.module
    spec = module._SPEC
    declared = spec.data[: spec.n_inputs] if inputs_only else spec.data
    what = "inputs" if inputs_only else "data"
    if not declared:
        raise DataError(
            f"model {spec.model!r} has no {'inputs' if inputs_only else 'inputs or targets'}: "
            "symbp.dask distributes samples; use the Trainer in memory"
        )
    if not isinstance(data, Mapping):
        raise DataError(
            f"{what} must be a dict mapping names to dask arrays, got {type(data).__name__}"
        )
    if inputs_only:
        targets = {name for name, _ in spec.data[spec.n_inputs :]}
        data = {k: v for k, v in data.items() if k not in targets}
    names = tuple(name for name, _ in declared)
    trainer._call(module._check_keys, dict(data), names, what)
    arrays = [_check_array(module, name, data[name], shape) for name, shape in declared]
    first, reference = names[0], arrays[0]
    for name, array in zip(names[1:], arrays[1:], strict=True):
        if array.shape[0] != reference.shape[0]:
            raise DataError(
                f"data {name!r} has {array.shape[0]} samples, but {first!r} has "
                f"{reference.shape[0]}"
            )
        if array.chunks[0] != reference.chunks[0]:
            raise DataError(
                f"data {name!r} has sample chunks {array.chunks[0]}, but {first!r} has "
                f"{reference.chunks[0]}: chunk every array alike along the samples, e.g. "
                f"{name}.rechunk({{0: {first}.chunks[0]}})"
            )
    chunks = tuple(int(c) for c in reference.chunks[0])
    n = sum(chunks)
    if n == 0:
        raise DataError("data has no samples (first axis of length 0)")
    delayed = [array.to_delayed().reshape(-1) for array in arrays]
    blocks, sizes, offsets = [], [], []
    start = 0
    for k, size in enumerate(chunks):
        if size:
            blocks.append(tuple(column[k] for column in delayed))
            sizes.append(size)
            offsets.append(start)
        start += size
    return _Blocks(names, tuple(blocks), tuple(sizes), tuple(offsets), chunks, n)


# -- reductions ---------------------------------------------------------------------


def _tree(items: Sequence[Any], join: Callable[[list[Any]], Any]) -> Any:
    """Reduce ``items`` in groups of FAN_IN consecutive items, level by level.

    The grouping depends only on the number of items, so the additions happen in the
    same order whichever worker computes them, and whenever.
    """
    top = _tree_until(items, join)
    return join(top) if len(top) > 1 else top[0]


def _tree_until(items: Sequence[Any], join: Callable[[list[Any]], Any]) -> list[Any]:
    """The levels of :func:`_tree` until at most FAN_IN items are left (the workers do
    these; the client adds the last group: the same additions as the whole tree)."""
    level = list(items)
    while len(level) > FAN_IN:
        level = [
            join(level[i : i + FAN_IN]) if len(level[i : i + FAN_IN]) > 1 else level[i]
            for i in range(0, len(level), FAN_IN)
        ]
    return level


def _combine_here(partials: Sequence[dask_worker.Partial]) -> dask_worker.Partial:
    """The tree of :func:`_tree` evaluated on the client (the workers' combine)."""
    return _tree(partials, lambda group: dask_worker.combine(*group))  # type: ignore[no-any-return]


def _sums(
    client: distributed.Client,
    partials: Sequence[Any],
    what: str,
    timeout: float | None,
    fit: Later = None,
) -> dask_worker.Partial:
    """Add delayed partial sums in the fixed tree: the lower levels on the workers, the
    last group of at most FAN_IN on the client (one round trip for up to FAN_IN blocks)."""
    top = _tree_until(partials, lambda group: dask.delayed(_COMBINE, pure=False)(*group))
    return _combine_here(_gather(client, client.compute(top), what, timeout, fit))


def _translate(err: BaseException, what: str, timeout: float | None, later: Later) -> Exception:
    """symbp's error for an exception raised while waiting for the cluster."""
    fit = None if later is None else later()
    args = getattr(err, "args", ())
    if len(args) >= 3 and args[0] == dask_worker.TAG:
        kind, message = args[1], args[2]
        if kind == "data":
            return DataError(message)
        if kind == "version":
            return VersionMismatchError(message, fit)
        if kind == "divergence":
            info = args[3] if len(args) > 3 and isinstance(args[3], dict) else {}
            return DivergenceError(
                f"{what}: {message}. The result up to the last average is kept (.fit)",
                fit,
                info.get("step"),
                info.get("loss"),
                info.get("lr"),
                info.get("param"),
            )
        return ClusterError(f"{what}: {message}", fit)
    kept = " (the last completed fit is kept: .fit)" if fit is not None else ""
    if isinstance(err, TimeoutError):
        return ClusterError(
            f"{what}: no result within timeout={timeout} s (does the cluster have workers?)" + kept,
            fit,
        )
    if isinstance(err, (asyncio.CancelledError, concurrent.futures.CancelledError)):
        return ClusterError(
            f"{what} was cancelled: the client or the cluster shut down" + kept, fit
        )
    if type(err).__name__ == "KilledWorker":
        return ClusterError(
            f"{what}: a task failed on every worker that tried it ({err}); each attempt "
            "ended the worker's process (out of memory? a crash in compiled code?)" + kept,
            fit,
        )
    return ClusterError(f"{what} failed on the cluster: {type(err).__name__}: {err}" + kept, fit)


def _gather(
    client: distributed.Client,
    futures: Any,
    what: str,
    timeout: float | None = None,
    fit: Later = None,
) -> Any:
    """The results of ``futures``; any failure becomes a symbp error (see _translate),
    carrying ``fit()`` when given."""
    try:
        distributed.wait(futures, timeout=timeout)
        return client.gather(futures)
    except Exception as err:
        try:
            client.cancel(futures)
        except Exception:  # the client may be gone already
            pass
        raise _translate(err, what, timeout, fit) from err


def _wait(
    client: distributed.Client,
    futures: list[Any],
    what: str,
    timeout: float | None = None,
    fit: Later = None,
) -> None:
    """Wait until ``futures`` are done, without moving their results; a failed one
    raises (see :func:`_gather`)."""
    try:
        distributed.wait(futures, timeout=timeout)
        for future in futures:
            if future.status != "finished":
                future.result()  # raises the task's error
    except Exception as err:
        raise _translate(err, what, timeout, fit) from err


def _reduce(
    trainer: Trainer,
    params: Mapping[str, Any],
    data: Any,
    grad: bool,
    client: distributed.Client | None,
    timeout: float | None,
) -> tuple[float, np.ndarray | None, int]:
    """Loss sum (and gradient sum) over all samples: one task per block, a fixed tree."""
    module = trainer.module
    theta = trainer._call(module.pack_params, module._SPEC, params)
    blocks = _blocks(trainer, data)
    timeout = _check_timeout(timeout)
    client = _get_client(client)
    ship = _held_ship(client, trainer)
    partials = [  # theta goes inline into each task: a node of its own would cost a hop
        dask.delayed(_BLOCK_SUMS, pure=False)(ship, theta, grad, blocks.names, offset, *block)
        for block, offset in zip(blocks.blocks, blocks.offsets, strict=True)
    ]
    return _sums(client, partials, "the gradient" if grad else "the loss", timeout)


def _mean(trainer: Trainer, value: Any, n: int) -> Any:
    return value / n if trainer.module._SPEC.reduction == "mean" else value


def loss(
    trainer: Trainer,
    params: Mapping[str, Any],
    data: Mapping[str, da.Array],
    *,
    client: distributed.Client | None = None,
    timeout: float | None = None,
) -> float:
    """The loss reduced over all samples of dask-array data, computed on the cluster.

    Parameters
    ----------
    trainer
        A compiled model (``model.compile(...)``).
    params
        Name -> value, as for :meth:`symbp.Trainer.loss`.
    data
        Name -> dask array of every input and target, chunked along the sample axis
        only, with the same chunks for every array.
    client
        The ``distributed.Client`` to use (default: the current one).
    timeout
        Seconds to wait for the result; None waits as long as it takes.

    Returns
    -------
    float
        Equal to ``trainer.loss(params, data)`` on the same samples in memory, to
        rounding: one task per block sums its samples in the compiled kernel and the
        sums are added in a fixed tree order.

    Raises
    ------
    symbp.DataError
        Misaligned chunks, chunks along a feature axis, wrong shapes, non-finite values
        (with the index in the whole array).
    ClusterError
        No client, or the cluster could not compute it.
    """
    total, _, count = _reduce(trainer, params, data, False, client, timeout)
    return float(_mean(trainer, total, count))


def grad(
    trainer: Trainer,
    params: Mapping[str, Any],
    data: Mapping[str, da.Array],
    *,
    client: distributed.Client | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """The gradient of the reduced loss over dask-array data, computed on the cluster.

    Parameters
    ----------
    trainer, params, data, client, timeout
        As for :func:`loss`.

    Returns
    -------
    dict
        Name -> array of the param's shape (a float for a scalar param), equal to
        ``trainer.grad(params, data)`` in memory to rounding.

    Raises
    ------
    symbp.DataError, ClusterError
        As for :func:`loss`.
    """
    module = trainer.module
    spec = module._SPEC
    _, total, count = _reduce(trainer, params, data, True, client, timeout)
    out = np.asarray(total, dtype=spec.dtype)
    if spec.reduction == "mean":
        out = out / spec.dtype(count)
    return module.unpack_params(spec, out)  # type: ignore[no-any-return]


def loss_and_grad(
    trainer: Trainer,
    params: Mapping[str, Any],
    data: Mapping[str, da.Array],
    *,
    client: distributed.Client | None = None,
    timeout: float | None = None,
) -> tuple[float, dict[str, Any]]:
    """:func:`loss` and :func:`grad` from one pass over the data (what an optimizer
    needs at each evaluation).

    Parameters
    ----------
    trainer, params, data, client, timeout
        As for :func:`loss`.

    Returns
    -------
    tuple
        ``(loss, gradient)``: a float and a dict name -> array, as :func:`loss` and
        :func:`grad` return them.

    Raises
    ------
    symbp.DataError, ClusterError
        As for :func:`loss`.
    """
    module = trainer.module
    spec = module._SPEC
    total, gsum, count = _reduce(trainer, params, data, True, client, timeout)
    out = np.asarray(gsum, dtype=spec.dtype)
    if spec.reduction == "mean":
        out = out / spec.dtype(count)
    return float(_mean(trainer, total, count)), module.unpack_params(spec, out)


def predict(
    trainer: Trainer, params: Mapping[str, Any], inputs: Mapping[str, da.Array]
) -> dict[str, da.Array]:
    """The model's outputs for dask-array inputs, as lazy dask arrays (samples first).

    One task per block runs the compiled predict kernel (``run_predict``) on that
    block. Nothing runs until you compute the arrays, with the current client or any
    Dask scheduler.

    Parameters
    ----------
    trainer
        A model compiled with ``outputs=`` declared.
    params
        Name -> value, as for :meth:`symbp.Trainer.predict`.
    inputs
        Name -> dask array of every input, chunked along the sample axis only, with
        the same chunks for every array; targets, if given, are ignored.

    Returns
    -------
    dict
        Output name -> dask array with the inputs' sample chunks: shape ``(n,)`` for a
        scalar output, ``(n, k)`` for a vector, ``(n, r, c)`` for a matrix; equal to
        ``trainer.predict`` in memory.

    Raises
    ------
    symbp.DataError
        No outputs declared; inputs as for :func:`loss`.
    """
    module = trainer.module
    spec = module._SPEC
    if spec.predict is None:
        raise DataError(
            f"model {spec.model!r} declares no outputs; pass outputs={{name: expression}} "
            "to symbp.Model to predict"
        )
    theta = trainer._call(module.pack_params, spec, params)
    clean = module.unpack_params(spec, theta)
    blocks = _blocks(trainer, inputs, inputs_only=True)
    ship = _ship_node(trainer)
    tasks = iter(
        dask.delayed(_PREDICT, pure=True)(ship, clean, blocks.names, offset, *block)
        for block, offset in zip(blocks.blocks, blocks.offsets, strict=True)
    )
    per_block = [next(tasks) if size else None for size in blocks.chunks]
    outputs = {}
    for name, shape in spec.outputs:
        storage = tuple(module._storage(shape))
        pieces = [
            da.from_delayed(
                dask.delayed(operator.getitem, pure=True)(task, name),
                shape=(size, *storage),
                dtype=spec.dtype,
            )
            if task is not None
            else da.empty((0, *storage), dtype=spec.dtype)
            for task, size in zip(per_block, blocks.chunks, strict=True)
        ]
        output = da.concatenate(pieces, axis=0)  # (this leaves out empty pieces)
        if output.chunks[0] != blocks.chunks:
            output = output.rechunk({0: blocks.chunks})  # the inputs' chunks, empty ones too
        outputs[name] = output
    return outputs


# -- the prepared data of minimize and fit -----------------------------------------


class _Prepared:
    """The data validated once on the workers and kept there for many evaluations.

    Each block becomes a future holding its arrays in the kernel's layout; if its
    worker is lost, Dask recomputes it from the original graph.
    """

    def __init__(
        self,
        client: distributed.Client,
        trainer: Trainer,
        blocks: _Blocks,
        timeout: float | None,
        fit: Later = None,
    ):
        self.client = client
        self.blocks = blocks
        self.timeout = timeout
        self.ship = _held_ship(client, trainer)
        tasks = [
            dask.delayed(_PREPARE, pure=False)(self.ship, blocks.names, offset, *block)
            for block, offset in zip(blocks.blocks, blocks.offsets, strict=True)
        ]
        self.arrays = client.compute(tasks)
        try:
            _wait(client, [self.ship, *self.arrays], "preparing the data", timeout, fit)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for future in self.arrays:
            future.release()

    def __enter__(self) -> _Prepared:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sums(self, theta: np.ndarray, what: str, fit: Later = None) -> dask_worker.Partial:
        """Loss and gradient sums over every sample at ``theta``."""
        partials = [
            dask.delayed(_PREPARED_SUMS, pure=False)(self.ship, theta, None, arrays)
            for arrays in self.arrays
        ]
        return _sums(self.client, partials, what, self.timeout, fit)

    def rows_sums(
        self, theta: np.ndarray, rows: Sequence[tuple[int, Any]], what: str, fit: Later
    ) -> dask_worker.Partial:
        """Loss and gradient sums over the given rows of the given blocks (in block
        order: ``[(block, rows within it), ...]``), added in the fixed tree order."""
        futures = [
            self.client.submit(_PREPARED_SUMS, self.ship, theta, local, self.arrays[k], pure=False)
            for k, local in rows
        ]
        partials = _gather(self.client, futures, what, self.timeout, fit)
        return _combine_here(partials)


# -- minimize ----------------------------------------------------------------------


def _method(method: Any) -> str:
    if not isinstance(method, str):
        raise OptionError(
            f"method must be the name of a scipy.optimize.minimize method, got {method!r}"
        )
    for known in GRADIENT_METHODS:
        if method.lower() == known.lower():
            return known
    if method.lower() in _HESSIAN_METHODS:
        raise OptionError(
            f"method {method!r} needs the Hessian, which symbp.dask does not distribute; use "
            f"one of {list(GRADIENT_METHODS)}, or trainer.minimize in memory"
        )
    raise OptionError(
        f"method {method!r} is not a gradient-based method of scipy.optimize.minimize; "
        f"symbp.dask.minimize takes one of {list(GRADIENT_METHODS)}"
    )


def minimize(
    trainer: Trainer,
    params: Mapping[str, Any],
    data: Mapping[str, da.Array],
    method: str = "L-BFGS-B",
    tol: float | None = None,
    options: Mapping[str, Any] | None = None,
    bounds: Any = None,
    *,
    client: distributed.Client | None = None,
    timeout: float | None = None,
) -> Fit:
    """Full-batch ``scipy.optimize.minimize`` with the loss and gradient map-reduced on
    the cluster (dask-glm's approach).

    SciPy runs on the client; each evaluation sends the params to the workers, every
    block computes its loss and gradient sums in the compiled kernel, and the sums come
    back added in a fixed tree order. The data are validated once and kept on the
    workers for the whole optimization.

    Parameters
    ----------
    trainer, params, data
        As for :func:`loss`.
    method
        A gradient-based method of ``scipy.optimize.minimize``
        (:data:`GRADIENT_METHODS`).
    tol, options
        Passed to ``scipy.optimize.minimize``.
    bounds
        A dict name -> ``(low, high)`` (each None, a number, or an array of the param's
        shape), or what SciPy accepts for the packed params in declaration order.
    client, timeout
        The client (default: the current one) and the seconds to wait for one
        evaluation (None: no limit).

    Returns
    -------
    symbp.Fit
        ``params`` at the optimum, ``losses`` the loss after each iteration (the last
        is ``result.fun``), ``state`` a fresh optimizer state (step 0) for a
        ``fit`` that continues from there, and ``result`` SciPy's ``OptimizeResult``.

    Raises
    ------
    symbp.OptionError
        A method that does not use the gradient or needs the Hessian; malformed bounds.
    ClusterError
        The cluster could not evaluate; ``.fit`` holds the last iterate.
    """
    from scipy.optimize import OptimizeResult
    from scipy.optimize import minimize as scipy_minimize

    module = trainer.module
    spec = module._SPEC
    method = _method(method)
    check_tol(tol)
    theta0 = trainer._call(module.pack_params, spec, params).astype(np.float64)
    bounds = scipy_bounds(spec, bounds)
    blocks = _blocks(trainer, data)
    timeout = _check_timeout(timeout)
    client = _get_client(client)
    state = fresh_state(trainer)
    losses: list[float] = []
    last = [theta0]
    cache: dict[bytes, tuple[float, np.ndarray]] = {}

    def partial_fit() -> Fit:
        return Fit(module.unpack_params(spec, last[0]), np.array(losses), state)

    with _Prepared(client, trainer, blocks, timeout, partial_fit) as prepared:

        def evaluate(x: np.ndarray) -> tuple[float, np.ndarray]:
            key = np.asarray(x, dtype=np.float64).tobytes()
            if key not in cache:
                theta = np.asarray(x, dtype=spec.dtype)
                total, gsum, count = prepared.sums(theta, "an evaluation", partial_fit)
                value = float(_mean(trainer, total, count))
                gradient = np.asarray(_mean(trainer, gsum, count), dtype=np.float64)
                if len(cache) >= 8:
                    cache.pop(next(iter(cache)))
                cache[key] = (value, gradient)
            value, gradient = cache[key]
            return value, gradient.copy()

        def callback(*args: Any) -> None:
            x = args[0].x if isinstance(args[0], OptimizeResult) else args[0]
            last[0] = np.array(x, dtype=np.float64)
            losses.append(evaluate(last[0])[0])

        result = scipy_minimize(
            evaluate,
            theta0,
            jac=True,
            method=method,
            tol=tol,
            options=None if options is None else dict(options),
            bounds=bounds,
            callback=callback,
        )
    theta = np.asarray(result.x, dtype=spec.dtype)
    return Fit(module.unpack_params(spec, theta), np.array(losses), state, result=result)


# -- fit ------------------------------------------------------------------------------


@dataclass
class _Run:
    """Where a fit stands: packed params and optimizer state after ``done`` steps."""

    trainer: Trainer
    theta: np.ndarray
    slots: np.ndarray
    t0: int
    seed: int | None
    losses: np.ndarray
    done: int = 0

    def fit(self) -> Fit:
        """The Fit of the steps completed so far (its state resumes exactly)."""
        module = self.trainer.module
        spec = module._SPEC
        state = module._state(spec, self.t0 + self.done, self.slots.copy(), self.seed)
        return Fit(module.unpack_params(spec, self.theta), self.losses[: self.done].copy(), state)


def _check_sync(sync: Any) -> str | int:
    if sync == "step" and isinstance(sync, str):
        return "step"
    if isinstance(sync, bool) or not isinstance(sync, (int, np.integer)) or sync < 1:
        raise OptionError(
            f"sync must be 'step' (exact data-parallel steps) or a positive number of local "
            f"steps between averages (local SGD), got {sync!r}"
        )
    return int(sync)


def fit(
    trainer: Trainer,
    params: Mapping[str, Any],
    data: Mapping[str, da.Array],
    *,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    shuffle: bool = False,
    seed: int | None = None,
    sync: str | int = "step",
    state: Mapping[str, Any] | None = None,
    client: distributed.Client | None = None,
    timeout: float | None = None,
) -> Fit:
    """Train on dask-array data with the trainer's optimizer, on the cluster.

    ``sync="step"`` (default) is exact data-parallel training: each step's batch is
    the one :meth:`symbp.Trainer.fit` would take from the *global* sample order (the
    consecutive chunks of ``batch_size`` samples, permuted per epoch from ``seed``
    with ``shuffle=True``); the blocks holding its rows compute their loss and
    gradient sums (one task per block involved), the client adds them in a fixed
    order and applies the optimizer's update. The result equals ``trainer.fit`` on the
    same data in memory, to rounding: params, per-step losses and state, which resumes
    with either ``trainer.fit(..., state=)`` or this function. Every step is a round
    trip to the cluster (a few milliseconds), so use large batches.

    ``sync=K`` is local SGD: every block runs ``K`` compiled optimizer steps on its own
    samples (batches of ``batch_size`` from that block alone, shuffled with a seed of
    its own), from the current params and optimizer state; then params and optimizer
    state are averaged, weighted by block size; repeat. It communicates once per ``K``
    steps instead of every step, and it is *not* equal to single-process training: the
    blocks' gradients are taken at diverging params and their optimizer states are
    averaged, so the trajectory and the optimum reached differ (and depend on the
    chunking). ``steps`` counts the local steps of each block; ``epochs=E`` means
    ``E * ceil(m / batch_size)`` of them, ``m`` the largest block's size (``E`` without
    ``batch_size``). ``losses`` holds, per local step, the blocks' batch losses
    averaged by block size.

    Parameters
    ----------
    trainer, params, data
        As for :func:`loss`; the trainer needs an optimizer.
    steps, epochs, batch_size, shuffle, seed, state
        As for :meth:`symbp.Trainer.fit`.
    sync
        ``"step"`` or the number of local steps between averages.
    client
        The ``distributed.Client`` (default: the current one).
    timeout
        Seconds to wait for one step (or one round of local steps); None waits as long
        as it takes, e.g. while the cluster has no workers.

    Returns
    -------
    symbp.Fit

    Raises
    ------
    symbp.DataError
        Invalid params, data, state or options (before any training).
    symbp.DivergenceError
        A non-finite batch loss or parameter; ``.fit`` holds the steps before it.
    ClusterError
        The cluster could not complete a step (a task failed on every worker that
        tried it, no result within ``timeout``, the cluster shut down); ``.fit``
        holds the last completed steps, resumable with ``state=err.fit.state``.
    """
    if trainer.optimizer is None:
        raise DataError(
            "this trainer was compiled without an optimizer; pass optimizer= to compile()"
        )
    module = trainer.module
    spec = module._SPEC
    sync = _check_sync(sync)
    timeout = _check_timeout(timeout)
    _, inits = trainer._call(module._check_hyper, spec, trainer.hyper)
    theta = trainer._call(module.pack_params, spec, params)
    blocks = _blocks(trainer, data)
    t0, slots, seed = trainer._call(
        module._fit_start, spec, theta.shape[0], shuffle, seed, None if state is None
        else dict(state), inits,
    )  # fmt: skip
    slots = slots.copy()  # averaged and replaced in place: never the module's shared empty one
    seed = None if seed is None else int(seed)
    if sync == "step":
        total, batch, per_epoch = trainer._call(
            module._schedule, blocks.n, batch_size, steps, epochs
        )
    else:
        largest = max(blocks.sizes)
        batch = None
        if batch_size is not None:
            batch = trainer._call(module._positive_int, "batch_size", batch_size)
        per_epoch = 1 if batch is None else -(-largest // batch)
        total, _, _ = trainer._call(module._schedule, per_epoch, 1, steps, epochs)
    client = _get_client(client)
    run = _Run(trainer, theta, slots, t0, seed, np.empty(total, dtype=spec.dtype))
    with _Prepared(client, trainer, blocks, timeout, run.fit) as prepared:
        if sync == "step":
            _steps(run, prepared, total, batch, per_epoch, shuffle)
        else:
            _local(run, prepared, total, int(sync), batch, shuffle)
    return run.fit()


def _batch_rows(
    blocks: _Blocks, lo: int, hi: int, order: np.ndarray | None
) -> list[tuple[int, Any]]:
    """The rows ``lo:hi`` of the global order, split by block: ``[(block, rows), ...]``.

    Without shuffling the rows are a range (sent as ``(first, stop)``, or None for a
    whole block); with it, each block gets its rows' local indices in batch order.
    """
    ends = np.cumsum(blocks.sizes)
    out: list[tuple[int, Any]] = []
    if order is None:
        first = int(np.searchsorted(ends, lo, side="right"))
        last = int(np.searchsorted(ends, hi - 1, side="right"))
        for k in range(first, last + 1):
            start = max(lo, blocks.offsets[k]) - blocks.offsets[k]
            stop = min(hi, blocks.offsets[k] + blocks.sizes[k]) - blocks.offsets[k]
            out.append((k, None if (start, stop) == (0, blocks.sizes[k]) else (start, stop)))
        return out
    rows = order[lo:hi]
    owner = np.searchsorted(ends, rows, side="right")
    for k in np.unique(owner):
        local = rows[owner == k] - blocks.offsets[k]
        out.append((int(k), np.ascontiguousarray(local, dtype=np.int64)))
    return out


def _steps(
    run: _Run, prepared: _Prepared, total: int, batch: int, per_epoch: int, shuffle: bool
) -> None:
    """sync="step": the exact data-parallel loop."""
    trainer = run.trainer
    module = trainer.module
    spec = module._SPEC
    blocks = prepared.blocks
    n = blocks.n
    order, order_epoch = None, None
    for i in range(total):
        step = run.t0 + i
        lo = (step % per_epoch) * batch
        hi = min(lo + batch, n)
        if shuffle and step // per_epoch != order_epoch:
            order_epoch = step // per_epoch
            order = module._orders(n, per_epoch, step, 1, True, run.seed)[0][0]
        rows = _batch_rows(blocks, lo, hi, order if shuffle else None)
        loss_sum, grad_sum, count = prepared.rows_sums(
            run.theta, rows, f"step {step} of the fit", run.fit
        )
        batch_loss = spec.dtype(loss_sum)
        if spec.reduction == "mean":
            batch_loss = batch_loss / spec.dtype(count)
        run.losses[i] = batch_loss
        if not math.isfinite(run.losses[i]):
            _diverged(run, step, float(run.losses[i]), None)
        keep = run.theta.copy(), run.slots.copy()
        module.apply_update(spec, run.theta, run.slots, grad_sum, count, step, trainer.hyper)
        if not np.isfinite(run.theta).all():
            flat = int(np.flatnonzero(~np.isfinite(run.theta))[0])
            run.theta, run.slots = keep
            _diverged(run, step, float(run.losses[i]), module.param_at(spec, flat))
        run.done = i + 1


def _diverged(run: _Run, step: int, batch_loss: float, param: Any) -> None:
    """Raise symbp.DivergenceError for a sync="step" fit that went non-finite at ``step``."""
    trainer = run.trainer
    spec = trainer.module._SPEC
    lr = trainer.module.learning_rate(spec, step, trainer.hyper)
    raise DivergenceError(
        trainer.module.divergence_message(spec, step, batch_loss, lr, param),
        run.fit(),
        step,
        batch_loss,
        lr,
        param,
    )


def _block_seed(seed: int | None, block: int) -> int | None:
    """Each block's own shuffling seed in local SGD, derived from the fit's seed."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed, block]).generate_state(1, np.uint64)[0] >> 1)


def _local(
    run: _Run, prepared: _Prepared, total: int, sync: int, batch: int | None, shuffle: bool
) -> None:
    """sync=K: local SGD, averaging params and optimizer state every K steps."""
    trainer = run.trainer
    spec = trainer.module._SPEC
    client = prepared.client
    sizes = prepared.blocks.sizes
    n = prepared.blocks.n
    seeds = [_block_seed(run.seed, k) for k in range(len(sizes))]
    while run.done < total:
        count = min(sync, total - run.done)
        step = run.t0 + run.done
        futures = [
            client.submit(
                _LOCAL_FIT,
                prepared.ship,
                run.theta,
                run.slots,
                step,
                count,
                batch,
                shuffle,
                seeds[k],
                trainer.hyper,
                arrays,
                pure=False,
            )
            for k, arrays in enumerate(prepared.arrays)
        ]
        what = f"local steps {step} to {step + count - 1} of the fit"
        results = _gather(client, futures, what, prepared.timeout, run.fit)
        theta = np.zeros_like(run.theta)
        slots = np.zeros_like(run.slots)
        losses = np.zeros(count, dtype=spec.dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            for size, (block_theta, block_slots, block_losses) in zip(sizes, results, strict=True):
                weight = spec.dtype(size / n)  # at most 1: huge params do not overflow here
                theta += weight * block_theta
                slots += weight * block_slots
                losses += weight * block_losses
        if not (np.isfinite(theta).all() and np.isfinite(slots).all()):
            _average_diverged(run, step + count, theta)
        run.theta, run.slots = theta, slots
        run.losses[run.done : run.done + count] = losses
        run.done += count


def _average_diverged(run: _Run, step: int, theta: np.ndarray) -> None:
    """Raise symbp.DivergenceError for an average of finite blocks that is not finite."""
    spec = run.trainer.module._SPEC
    bad = np.flatnonzero(~np.isfinite(theta))
    param = run.trainer.module.param_at(spec, int(bad[0])) if bad.size else None
    where = "the optimizer state"
    if param is not None:
        where = f"parameter {run.trainer.module.param_label(param)}"
    raise DivergenceError(
        f"local SGD of model {spec.model!r} diverged at step {step}: averaging the blocks made "
        f"{where} non-finite. The result up to the last average is kept (.fit); a smaller "
        "learning rate may help",
        run.fit(),
        step,
        None,
        None,
        param,
    )
