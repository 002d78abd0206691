"""Threads: symbp's evaluation in the default environment against pinned thread counts.

Usage (from the repository root)::

    python benchmarks/threads.py [--hidden 512] [--reps 30]

The 64-H-10 digits MLP (synthetic pixels, 1500 samples, the size of the digits training
set) in float64: one full-data ``loss``, one full-data ``grad`` and a 5-epoch ``fit``
(batches of 32), each timed as the median of ``--reps`` calls after a warm-up, in three
environments, each in its own process: the default (no thread variables set), BLAS
pinned (``OPENBLAS_NUM_THREADS=1``), and every library pinned to one thread (symbp too:
it takes its thread count from ``NUMBA_NUM_THREADS``). symbp keeps BLAS to one thread
while its kernels run (threadpoolctl; their matrix products are batch- or chunk-sized,
and large evaluations run on symbp's own threads), so the default should be as fast
as the pinned BLAS, for ``fit`` as for ``loss`` and ``grad``. Prints a Markdown table; no assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def environments() -> dict[str, dict[str, str]]:
    """The three settings. (benchmarks.contestants pins every thread pool when imported,
    so only the parent imports it: each child gets exactly the variables listed.)"""
    from benchmarks.machine import THREAD_VARS

    return {
        "default": {},
        "OPENBLAS_NUM_THREADS=1": {"OPENBLAS_NUM_THREADS": "1"},
        "all threads 1": dict.fromkeys(THREAD_VARS, "1"),
    }


def measure(hidden: int, reps: int) -> dict[str, float]:
    """One environment (this process): median seconds per loss, grad and fit."""
    import numpy as np
    import sympy as sp

    import symbp
    from symbp import nn, optim

    x, t = sp.MatrixSymbol("x", 1, 64), sp.MatrixSymbol("t", 1, 10)
    W1, b1 = sp.MatrixSymbol("W1", 64, hidden), sp.MatrixSymbol("b1", 1, hidden)
    W2, b2 = sp.MatrixSymbol("W2", hidden, 10), sp.MatrixSymbol("b2", 1, 10)
    z = nn.dense(nn.dense(x, W1, b1, sp.tanh), W2, b2)
    model = symbp.Model(
        nn.softmax_cross_entropy(z, t),
        params=[W1, b1, W2, b2],
        inputs=[x],
        targets=[t],
        name=f"threads_{hidden}",
    )
    trainer = model.compile(optim.SGD(lr=0.1))
    rng = np.random.RandomState(0)
    data = {"x": rng.rand(1500, 64), "t": np.eye(10)[rng.randint(0, 10, 1500)]}
    params = {
        "W1": rng.normal(size=(64, hidden)) * 0.1,
        "b1": np.zeros((1, hidden)),
        "W2": rng.normal(size=(hidden, 10)) * 0.1,
        "b2": np.zeros((1, 10)),
    }
    calls = {
        "loss": lambda: trainer.loss(params, data),
        "grad": lambda: trainer.grad(params, data),
        "fit": lambda: trainer.fit(params, data, epochs=5, batch_size=32),
    }
    result = {}
    for name, call in calls.items():
        call()  # compile / warm up
        times = []
        for _ in range(reps if name != "fit" else max(3, reps // 5)):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        result[name] = statistics.median(times)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.hidden, args.reps)))
        return
    from benchmarks.machine import THREAD_VARS, machine_info

    info = machine_info()  # the load before this script's own work
    rows = {}
    with tempfile.TemporaryDirectory(prefix="symbp-threads-") as cache:
        for label, extra in environments().items():
            env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
            env.pop("XLA_FLAGS", None)
            env.update(extra, SYMBP_CACHE_DIR=cache)
            command = [sys.executable, __file__, "--child", "--hidden", str(args.hidden)]
            command += ["--reps", str(args.reps)]
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            rows[label] = json.loads(out.stdout.strip().splitlines()[-1])
    vers = {name: metadata.version(name) for name in ("numpy", "numba", "scipy", "threadpoolctl")}
    print(
        f"64-{args.hidden}-10 MLP, 1500 samples, float64; {info['cpu']} "
        f"({info['usable_cores']} usable cores), load {info['load_start']}; "
        + ", ".join(f"{k} {v}" for k, v in vers.items())
        + "\n"
    )
    base = rows["OPENBLAS_NUM_THREADS=1"]
    print(
        "| environment | loss (ms) | grad (ms) | fit 5 epochs (ms) | grad / pinned BLAS "
        "| fit / pinned BLAS |"
    )
    print("|---|---|---|---|---|---|")
    for label, row in rows.items():
        ratio = row["grad"] / base["grad"]
        print(
            f"| {label} | {row['loss'] * 1e3:.2f} | {row['grad'] * 1e3:.2f} | "
            f"{row['fit'] * 1e3:.1f} | {ratio:.2f} | {row['fit'] / base['fit']:.2f} |"
        )


if __name__ == "__main__":
    main()
