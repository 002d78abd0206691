"""The measuring protocol shared by every contestant.

A contestant module defines ``build(wl) -> run`` where ``wl`` is a
:class:`benchmarks.workloads.Workload` and ``run()`` performs ONE WHOLE training
run from the initial parameters (fresh optimizer state included) and returns the
final parameters as a dict name -> array-like.  Everything ``build`` does
(framework model construction, compilation, data conversion) is timed as
``build_s``; tracing/JIT that only happens on the first call of ``run`` is
included in ``first_run_s`` (cold).  The protocol:

1. ``import_s``   importing the framework (the module's ``REQUIRES``)
2. ``build_s``    ``run = build(wl)``
3. ``first_run_s`` the first, cold ``run()`` (includes any tracing/JIT)
4. ``warmup`` further untimed runs
5. ``reps`` timed whole runs -> median/min/max (steady state); with ``--budget S``
   timing stops early (never before 1 timed run) when the next run would take
   the timed runs past S seconds; with ``--min-time S`` short runs are repeated
   (up to ``MAX_REPS`` times) until the timed runs add up to S seconds, so a
   40 µs training run gets a median of hundreds of runs, not of five

and ``cold_s = build_s + first_run_s`` is the time to the first result,
compilation included (a contestant may also define ``cache_info() -> dict``,
reported as ``cache``: what its on-disk cache gave the build).
``benchmarks/run.py`` runs it twice per contestant: with
empty on-disk caches (the "cold build" column) and, with ``--build-only``, in a
new process that reuses the caches the first one filled (the "warm build"
column).  ``--build-only`` stops after step 3 (no warm-up, no timed runs) and
still evaluates the result, so a cache that returns a wrong kernel is caught.

The final full-data loss and test accuracy are computed by the shared NumPy
``workloads.evaluate`` (float64) from the parameters of the last run.

Exactly one JSON line is printed on stdout (last line), with ``status`` one of
``ok``, ``unsupported``, ``not_installed``, ``error``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
import traceback

MAX_REPS = 1000


class Unsupported(Exception):
    """Raised by ``build`` for a workload/dtype the contestant does not implement."""


def _first_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _emit(record: dict) -> None:
    sys.stdout.flush()
    print(json.dumps(record), flush=True)


def main(contestant: str, impl, requires: tuple, argv=None) -> int:
    """Run the protocol for the contestant module ``impl`` (which defines ``build``)."""
    ap = argparse.ArgumentParser(prog=f"python -m benchmarks.contestants.{contestant}")
    ap.add_argument("--workload", required=True)
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument("--reps", type=int, default=5, help="timed whole training runs")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs after the cold one")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--budget",
        type=float,
        default=0.0,
        help="seconds for the timed runs: stop early (after >= 1 run) when the "
        "next run would exceed it; 0 = no limit",
    )
    ap.add_argument(
        "--min-time",
        type=float,
        default=0.0,
        help=f"keep timing runs (up to {MAX_REPS}) until they add up to this many seconds",
    )
    ap.add_argument(
        "--build-only",
        action="store_true",
        help="stop after the build and the first run (no warm-up, no timed runs); "
        "the record has build_s, first_run_s, cold_s, final_loss and no times",
    )
    args = ap.parse_args(argv)
    # thread pools were pinned by benchmarks/contestants/__init__.py (reads --threads)

    record = {
        "contestant": contestant,
        "workload": args.workload,
        "dtype": args.dtype,
        "threads": args.threads,
        "status": "error",
    }
    try:
        t0 = time.perf_counter()
        versions = {}
        for req in requires:
            try:
                mod = importlib.import_module(req)
            except ImportError as exc:
                if req == "symbp":  # the package under test: a failure, not a skip
                    raise
                record.update(status="not_installed", error=_first_line(exc))
                _emit(record)
                return 0
            versions[req] = getattr(mod, "__version__", "?")
        record["import_s"] = time.perf_counter() - t0
        record["versions"] = versions

        from benchmarks import workloads

        wl = workloads.get(args.workload, args.dtype)
        if hasattr(impl, "configure"):
            impl.configure(args)

        t0 = time.perf_counter()
        run = impl.build(wl)
        record["build_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        params = run()
        record["first_run_s"] = time.perf_counter() - t0
        record["cold_s"] = record["build_s"] + record["first_run_s"]
        if hasattr(impl, "cache_info"):  # e.g. Numba's cache hits and misses of the build
            record["cache"] = impl.cache_info()
        if args.build_only:
            loss, acc = workloads.evaluate(wl, {k: _to_numpy(v) for k, v in params.items()})
            record.update(status="ok", build_only=True, final_loss=loss, accuracy=acc)
            _emit(record)
            return 0

        for _ in range(args.warmup):
            run()
        reps = max(args.reps, 1)
        times = []
        while len(times) < reps or (sum(times) < args.min_time and len(times) < MAX_REPS):
            t0 = time.perf_counter()
            params = run()
            times.append(time.perf_counter() - t0)
            if args.budget and args.budget > 0 and sum(times) + times[-1] > args.budget:
                break  # the next run would exceed the time budget (>= 1 run always)
        record["reps"] = len(times)

        loss, acc = workloads.evaluate(wl, {k: _to_numpy(v) for k, v in params.items()})
        record.update(
            status="ok",
            times=times,
            median_s=statistics.median(times),
            min_s=min(times),
            max_s=max(times),
            final_loss=loss,
            accuracy=acc,
            steps=wl.steps,
        )
        if hasattr(impl, "NOTES"):
            record["notes"] = impl.NOTES
    except Unsupported as exc:
        record.update(status="unsupported", error=str(exc) or "unsupported")
    except BaseException as exc:  # everything is reported, nothing crashes
        if isinstance(exc, KeyboardInterrupt):
            raise
        record.update(status="error", error=_first_line(exc))
        traceback.print_exc(file=sys.stderr)
    _emit(record)
    return 0


def _to_numpy(v):
    import numpy as np

    if hasattr(v, "detach"):  # torch
        v = v.detach().cpu().numpy()
    return np.array(v)  # jax arrays, pytensor values, lists...
