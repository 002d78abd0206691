"""What travels to the workers: the task functions (by value) and a trainer's module.

The task functions of :mod:`symbp.dask.worker`, and the functions of
:mod:`symbp.runtime.loader` they call, are pickled *by value*: a worker never imports
symbp (hence SymPy). The *shipment* of a trainer is its generated module's source, the
runtime's files and the versions every worker must match; it is one key of each task
graph, kept in cluster memory so that each worker fetches it once.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudpickle
import dask
import distributed
import numba
from dask.base import tokenize

import symbp.dask.worker as dask_worker
import symbp.runtime.loader as loader

from ..train.cache import runtime_sources
from ..train.trainer import Trainer
from ..version import __version__

# Neither the worker's functions nor the loader's are importable on a worker.
cloudpickle.register_pickle_by_value(dask_worker)
cloudpickle.register_pickle_by_value(loader)


class Remote:
    """A :mod:`symbp.dask.worker` function that pickles by value wherever it goes.

    Dask pickles a task graph with the plain pickler first, which would send the
    function by reference (and make the worker import symbp, hence SymPy); this
    wrapper unpickles into the by-value copy cloudpickle makes. Called on the
    client (a local scheduler), it runs the function itself.
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


BLOCK_SUMS = Remote(dask_worker.block_sums)
PREPARE = Remote(dask_worker.prepare)
PREPARED_SUMS = Remote(dask_worker.prepared_sums)
COMBINE = Remote(dask_worker.combine)
PREDICT = Remote(dask_worker.predict)
LOCAL_FIT = Remote(dask_worker.local_fit)

#: The source text of each module shipped so far, by content hash.
_SOURCES: dict[str, str] = {}


def client_versions() -> tuple[str, str]:
    """``(numba version, symbp version)`` that every worker must match."""
    return numba.__version__, __version__


def shipment(trainer: Trainer) -> dask_worker.Shipment:
    """What every task receives: the module's hash, model and source, the versions and
    the runtime's files (:data:`symbp.dask.worker.Shipment`)."""
    module = trainer.module
    source_hash = module.SOURCE_HASH
    source = _SOURCES.get(source_hash)
    if source is None:
        source = _SOURCES[source_hash] = Path(module.__file__).read_text(encoding="utf-8")
    numba_version, symbp_version = client_versions()
    return (
        source_hash, trainer.spec.model, source, numba_version, symbp_version, runtime_sources(),
    )  # fmt: skip


def ship_node(trainer: Trainer) -> Any:
    """The shipment as one key of the graph (fetched once by each worker that needs it)."""
    ship = shipment(trainer)
    key = f"symbp-module-{ship[0][:16]}-{tokenize(ship[1:])[:8]}"
    return dask.delayed(tuple, pure=True)(ship, dask_key_name=key)


#: Per client, the shipment futures it holds (so each worker fetches a module once).
_HELD: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def held_ship(client: distributed.Client, trainer: Trainer) -> Any:
    """The shipment as a future the client keeps: later graphs find it in memory.

    If the worker holding it is lost, Dask recomputes it from its (literal) task.
    """
    node = ship_node(trainer)
    held = _HELD.setdefault(client, {})
    future = held.get(node.key)
    if future is None or future.status in ("cancelled", "lost", "error"):
        future = held[node.key] = client.compute(node)
    return future
