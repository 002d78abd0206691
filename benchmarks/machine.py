"""The machine a benchmark ran on, the contestants' names and the variables that size
thread pools.

Importing this module has no side effects, unlike ``benchmarks.contestants``, which
pins every thread pool of the importing process to one thread (what a contestant's
process needs): the harness, the focused studies and the tests import this instead.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform

#: One module each in benchmarks/contestants/, run in its own process by run.py.
CONTESTANTS = (
    "numpy",
    "torch",
    "jax_step",
    "jax_scan",
    "pytensor_c",
    "pytensor_numba",
    "numba_hand",
    "symbp",
)

#: Environment variables that size the thread pools of BLAS, OpenMP, Numba & co.
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = "?"
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "load_start": load,
        "platform": platform.platform(),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
