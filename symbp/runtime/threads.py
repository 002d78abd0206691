# symbp runtime: symbp writes this file next to generated modules; do not edit it.
"""Threads and BLAS: large evaluations on several threads, BLAS held to one meanwhile.

An evaluation (loss, gradient, prediction, Hessian-vector product over a data set) is cut
into a fixed partition of the samples (:func:`partition`), so its sums do not depend on
the thread count; :func:`run_parts` runs the parts on threads only where a measurement
says threads pay. While any kernel that calls BLAS runs, BLAS is kept to one thread
(:class:`BlasLimit`): its own threads only cost on a batch-sized product.

What is process-wide (the thread pool, the BLAS limit) lives in one registry shared by
every copy of the runtime a process loaded, and is forgotten by a forked child.
"""

import collections
import importlib.machinery
import importlib.util
import os
import sys
import threading
import time
import types

#: An evaluation is cut into at most this many parts (fixed for a given sample
#: count, so the sum is the same whatever the number of threads)...
MAX_PARTS = 8
#: ... of at least this many samples, and runs on several threads when there are two...
THREADED_MIN = 1024
#: ... and at least this many seconds of serial work (below it, waking threads costs
#: more than they save: a 10,000-sample scalar model's 80 µs gradient took 160 µs on two).
THREADED_WORK = 3e-4

_REGISTRY = "_symbp_runtime_process"


def shared():
    """The process-wide registry (a dict), the same for every loaded copy of the runtime."""
    holder = sys.modules.get(_REGISTRY)
    if holder is None:
        holder = sys.modules.setdefault(_REGISTRY, types.ModuleType(_REGISTRY))
    if not hasattr(holder, "pool"):
        holder.pool = {}
        if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's threads
            os.register_at_fork(after_in_child=holder.pool.clear)
    return holder.pool


def _load_blas():
    """Make SciPy's BLAS importable for Numba's np.dot, without importing scipy.linalg.

    Numba resolves BLAS through ``scipy.linalg.cython_blas``; importing it runs all of
    ``scipy.linalg`` (~0.15 s). The extension module alone loads in ~0.02 s; any
    surprise falls back to the plain import.
    """
    name = "scipy.linalg.cython_blas"
    if name in sys.modules:
        return True
    try:
        spec = importlib.util.find_spec("scipy")
        if spec is None or not spec.submodule_search_locations:
            return False
        folder = os.path.join(next(iter(spec.submodule_search_locations)), "linalg")
        for entry in sorted(os.listdir(folder)):
            if entry.startswith("cython_blas.") and entry.endswith((".so", ".pyd")):
                loader = importlib.machinery.ExtensionFileLoader(name, os.path.join(folder, entry))
                found = importlib.util.spec_from_file_location(name, loader.path, loader=loader)
                module = importlib.util.module_from_spec(found)
                loader.exec_module(module)
                sys.modules[name] = module
                return True
    except Exception:
        sys.modules.pop(name, None)
    return importlib.util.find_spec("scipy") is not None


def require_blas(spec):
    """Say that SciPy is missing before Numba fails to compile an np.dot in a traceback."""
    if not spec.blas:
        return
    pool = shared()
    if "scipy" not in pool:
        pool["scipy"] = _load_blas()
    if not pool["scipy"]:
        raise ImportError(
            f"model {spec.model!r} multiplies matrices with np.dot, which Numba runs through "
            "SciPy's BLAS; install SciPy (pip install scipy) to use this module"
        )


def threads():
    """Threads for a large evaluation: Numba's thread count (``NUMBA_NUM_THREADS``, by
    default the CPUs), at most the CPUs this process may use."""
    pool = shared()
    if "threads" not in pool:
        try:
            count = len(os.sched_getaffinity(0))
        except AttributeError:
            count = os.cpu_count() or 1
        import numba  # the modules that call this imported it already

        count = min(count, numba.config.NUMBA_NUM_THREADS)
        pool["threads"] = max(1, min(count, MAX_PARTS))
    return pool["threads"]


class BlasLimit:
    """Keeps BLAS to one thread while any of our kernels runs, process-wide.

    The kernels' matrix products are small (a batch, or a cache-sized chunk of
    samples): BLAS's own threads only cost there (measured: a 64-512-10 fit, batches
    of 32, 15x slower with two OpenBLAS threads than with one), and our evaluations
    run on threads of their own. The first kernel to enter sets one thread (through
    threadpoolctl's library controllers, a few microseconds), the last to leave
    restores what it found: overlapping calls on several Python threads never leave
    BLAS pinned.
    """

    def __init__(self, controller):
        self.libs = controller.select(user_api="blas").lib_controllers
        self.lock = threading.Lock()
        self.users = 0
        self.saved = []

    def __enter__(self):
        with self.lock:
            if self.users == 0:
                self.saved = []
                for lib in self.libs:
                    count = lib.get_num_threads()
                    if count is not None and count != 1:
                        lib.set_num_threads(1)
                        self.saved.append((lib, count))
            self.users += 1
        return self

    def __exit__(self, *exc):
        with self.lock:
            self.users -= 1
            if self.users == 0:
                for lib, count in self.saved:
                    lib.set_num_threads(count)
                self.saved = []
        return False


class NoLimit:
    """A context that does nothing (kernels without BLAS, or without threadpoolctl)."""

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


NO_LIMIT = NoLimit()


def blas_limit(spec):
    """The context a kernel of ``spec`` runs in: the process's :class:`BlasLimit` for a
    kernel that calls BLAS (when threadpoolctl is installed), else a no-op."""
    if not spec.blas:
        return NO_LIMIT
    return blas_one_thread()


def blas_one_thread():
    """The process's :class:`BlasLimit` (a no-op without threadpoolctl): BLAS on one
    thread inside it. Built once: threadpoolctl takes ~1 ms to find the libraries."""
    pool = shared()
    if "blas" not in pool:
        try:
            from threadpoolctl import ThreadpoolController

            pool["blas"] = BlasLimit(ThreadpoolController())
        except Exception:
            pool["blas"] = NO_LIMIT
    return pool["blas"]


def partition(n):
    """The fixed split of ``n`` samples into parts for an evaluation: part bounds."""
    parts = min(MAX_PARTS, (n + THREADED_MIN - 1) // THREADED_MIN)
    return [n * k // parts for k in range(parts + 1)]


def in_order(rows):
    """The sum of the parts' rows, added in part order (the fixed order of the sums)."""
    total = rows[0].copy()
    for k in range(1, rows.shape[0]):
        total += rows[k]
    return total


def run_parts(spec, parts, part, key):
    """``part(k)`` for k < parts: on several threads (BLAS kept to one) when there are
    several parts and CPUs and the work is worth it, else in order. The parts write
    disjoint results, so the sums do not depend on which thread ran what.

    Whether threads pay is measured, not guessed: the first two evaluations of a
    ``key`` (what is evaluated, and the sample count's power of two: a bounded number
    of decisions however many sizes are evaluated) run part 0 alone and time it
    (the first one may include Numba's compile); below :data:`THREADED_WORK` seconds
    of estimated serial work, waking threads costs more than it saves and the parts
    run in order from then on.
    """
    count = min(parts, threads())
    limit = blas_limit(spec)
    with limit:
        if count < 2 or (spec.blas and limit is NO_LIMIT):
            for k in range(parts):
                part(k)
            return
        decided = spec.cache.get(key)
        first = 0
        if decided is None or decided == "measured once":
            start = time.perf_counter()
            part(0)
            threaded = (time.perf_counter() - start) * parts >= THREADED_WORK
            spec.cache[key] = threaded if decided == "measured once" else "measured once"
            decided, first = threaded, 1
        if not decided:
            for k in range(first, parts):
                part(k)
            return
        todo = collections.deque(range(first, parts))

        def work():
            while True:
                try:
                    k = todo.popleft()  # atomic: each part runs exactly once
                except IndexError:
                    return
                part(k)

        pool = shared()
        if "executor" not in pool:
            from concurrent.futures import ThreadPoolExecutor

            pool["executor"] = ThreadPoolExecutor(threads(), thread_name_prefix="symbp")
        helpers = [pool["executor"].submit(work) for _ in range(count - 1)]
        work()  # this thread takes parts too
        for helper in helpers:
            helper.result()
