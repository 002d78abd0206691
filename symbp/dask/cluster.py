"""Talking to the cluster: the client, timeouts, waiting for results, and the errors.

Every failure seen while waiting for the cluster becomes a symbp error
(:func:`translate`): the workers' tagged errors (:mod:`symbp.dask.worker`) become
:class:`~symbp.DataError`, :class:`~symbp.DivergenceError` or
:class:`VersionMismatchError`, anything else :class:`ClusterError`, carrying the last
completed :class:`~symbp.Fit` when the caller has one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any

import distributed

from ..errors import DataError, DivergenceError, OptionError, SymbpError
from ..train.fit import Fit
from .worker import TAG

#: The Fit to attach to an error, built only when one happens.
Later = Callable[[], Fit] | None


class ClusterError(SymbpError, RuntimeError):
    """Work on the cluster could not complete.

    Raised when there is no client, when a task failed on every worker that tried it
    (Dask's ``KilledWorker``), when results did not arrive within ``timeout``, or when
    the client or cluster shut down. ``fit`` holds the last completed
    :class:`~symbp.Fit` of a :func:`~symbp.dask.fit` or :func:`~symbp.dask.minimize`
    (resumable with ``state=fit.state``), else None.
    """

    def __init__(self, message: str, fit: Fit | None = None):
        super().__init__(message)
        self.fit = fit


class VersionMismatchError(ClusterError):
    """A worker runs another Numba than the client, or got a module from another symbp."""


def get_client(client: distributed.Client | None) -> distributed.Client:
    """``client``, else the current one; :class:`ClusterError` when there is none."""
    if client is not None:
        return client
    try:
        return distributed.default_client()
    except ValueError:
        raise ClusterError(
            "symbp.dask needs a distributed.Client: connect one first, e.g. "
            "Client(LocalCluster()) or Client('tcp://scheduler:8786'), or pass client="
        ) from None


def check_timeout(timeout: float | None) -> float | None:
    """``timeout`` as seconds (a positive number) or None."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise OptionError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    return float(timeout)


def translate(err: BaseException, what: str, timeout: float | None, later: Later) -> Exception:
    """symbp's error for an exception raised while waiting for the cluster."""
    fit = None if later is None else later()
    args = getattr(err, "args", ())
    if len(args) >= 3 and args[0] == TAG:
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


def gather(
    client: distributed.Client,
    futures: Any,
    what: str,
    timeout: float | None = None,
    fit: Later = None,
) -> Any:
    """The results of ``futures``; any failure becomes a symbp error (see
    :func:`translate`), carrying ``fit()`` when given."""
    try:
        distributed.wait(futures, timeout=timeout)
        return client.gather(futures)
    except Exception as err:
        try:
            client.cancel(futures)
        except Exception:  # the client may be gone already
            pass
        raise translate(err, what, timeout, fit) from err


def wait(
    client: distributed.Client,
    futures: list[Any],
    what: str,
    timeout: float | None = None,
    fit: Later = None,
) -> None:
    """Wait until ``futures`` are done, without moving their results; a failed one
    raises (see :func:`gather`)."""
    try:
        distributed.wait(futures, timeout=timeout)
        for future in futures:
            if future.status != "finished":
                future.result()  # raises the task's error
    except Exception as err:
        raise translate(err, what, timeout, fit) from err
