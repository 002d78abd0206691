"""The issue-5 budgets: digits MLPs at matrix level, build and training time vs peers.

Usage (from the repository root)::

    python benchmarks/matrix_budget.py [--reps 7] [--dtypes float64,float32]
                                       [--workloads W4,W5-512] [--peers jax_scan,torch]

For every workload and dtype, in one run and each in its own subprocess:

* ``symbp`` (the model written at matrix level with ``symbp.nn``): a **cold** build
  in a fresh cache directory (derive + generate + Numba compile + the first run),
  then a **cached** build in a new process reusing that cache; both report the time
  from declaring the model to the first result, and the steady-state training time
  (median of ``--reps`` whole training runs);
* the peers, through their benchmark contestants (``python -m
  benchmarks.contestants.<peer>``), with the same protocol.

Every process pins BLAS, XLA, Numba and PyTorch to one thread. The shared
``benchmarks.workloads`` define data, initial parameters, batches and evaluation;
test accuracy and final loss come from its float64 NumPy evaluation. Prints a
Markdown table with the machine and library versions; no timing assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks.run and benchmarks.workloads, run as a script
from benchmarks.machine import THREAD_VARS  # noqa: E402


def declare(wl):
    """The digits model at matrix level: ``(model, optimizer, param shapes, data)``."""
    import sympy as sp

    import symbp
    from symbp import nn, optim

    hidden = wl.hidden
    x, t = sp.MatrixSymbol("x", 1, 64), sp.MatrixSymbol("t", 1, 10)
    W1, b1 = sp.MatrixSymbol("W1", 64, hidden), sp.MatrixSymbol("b1", 1, hidden)
    W2, b2 = sp.MatrixSymbol("W2", hidden, 10), sp.MatrixSymbol("b2", 1, 10)
    z = nn.dense(nn.dense(x, W1, b1, sp.tanh), W2, b2)
    model = symbp.Model(
        nn.softmax_cross_entropy(z, t),
        params=[W1, b1, W2, b2],
        inputs=[x],
        targets=[t],
        name=f"bench_digits_{hidden}",
    )
    shapes = {"W1": (64, hidden), "b1": (1, hidden), "W2": (hidden, 10), "b2": (1, 10)}
    return model, optim.SGD(lr=wl.optimizer.lr), shapes, {"x": wl.data["x"], "t": wl.data["t"]}


def child(workload: str, dtype: str, reps: int) -> None:
    """One symbp measurement (run in a subprocess); prints one JSON line."""
    import numpy as np

    from benchmarks import workloads

    wl = workloads.get(workload, dtype)
    t0 = time.perf_counter()
    import symbp  # noqa: F401  (the import is timed on its own)

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model, optimizer, shapes, data = declare(wl)
    trainer = model.compile(optimizer, dtype)
    build_s = time.perf_counter() - t0
    params = {k: np.asarray(wl.params[k]).reshape(s) for k, s in shapes.items()}

    def run():
        return trainer.fit(params, data, epochs=wl.epochs, batch_size=wl.batch_size)

    t0 = time.perf_counter()
    fit = run()
    first_run_s = time.perf_counter() - t0
    run()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fit = run()
        times.append(time.perf_counter() - t0)
    final = {
        k: np.asarray(v, dtype=np.float64).reshape(wl.params[k].shape)
        for k, v in fit.params.items()
    }
    loss, acc = workloads.evaluate(wl, final)
    record = {
        "contestant": "symbp",
        "status": "ok",
        "import_s": import_s,
        "build_s": build_s,
        "first_run_s": first_run_s,
        "cold_s": build_s + first_run_s,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "final_loss": loss,
        "accuracy": acc,
    }
    print(json.dumps(record), flush=True)


def environment(cache: str | None = None) -> dict:
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = "1"
    env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if cache is not None:
        env["SYMBP_CACHE_DIR"] = cache
    return env


def last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"status": "error", "error": text.strip().splitlines()[-1] if text.strip() else "?"}


def measure_symbp(workload: str, dtype: str, reps: int, cache: str) -> tuple[dict, dict]:
    cmd = [sys.executable, __file__, "--child", workload, dtype, str(reps)]
    cold = subprocess.run(cmd, capture_output=True, text=True, env=environment(cache), cwd=ROOT)
    cached = subprocess.run(cmd, capture_output=True, text=True, env=environment(cache), cwd=ROOT)
    return last_json(cold.stdout + cold.stderr), last_json(cached.stdout + cached.stderr)


def measure_peer(peer: str, workload: str, dtype: str, reps: int) -> dict:
    cmd = [
        sys.executable, "-m", f"benchmarks.contestants.{peer}",
        "--workload", workload, "--dtype", dtype, "--reps", str(reps),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, env=environment(), cwd=ROOT)
    return last_json(result.stdout)


def versions() -> str:
    import importlib.metadata as md

    names = ("numpy", "numba", "sympy", "jax", "jaxlib", "torch")
    found = []
    for name in names:
        try:
            found.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def machine() -> str:
    """CPU, cores, Python and load (the CPU description comes from benchmarks/run.py)."""
    from benchmarks.machine import machine_info

    info = machine_info()
    return (
        f"{info['cpu']}, {info['usable_cores']} cores, Python {platform.python_version()}, "
        f"load {info['load_start']}"
    )


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1e3:.0f} ms" if value < 1 else f"{value:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--workloads", default="W4,W5-512")
    parser.add_argument("--peers", default="jax_scan,torch")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        workload, dtype, reps = args.child
        child(workload, dtype, int(reps))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="symbp-budget-") as tmp:
        for workload in args.workloads.split(","):
            for dtype in args.dtypes.split(","):
                cache = str(Path(tmp) / f"{workload}-{dtype}")
                cold, cached = measure_symbp(workload, dtype, args.reps, cache)
                rows.append((workload, dtype, "symbp (cold cache)", cold))
                rows.append((workload, dtype, "symbp (cached)", cached))
                for peer in args.peers.split(","):
                    rows.append(
                        (workload, dtype, peer, measure_peer(peer, workload, dtype, args.reps))
                    )
                print(f"done {workload} {dtype}", file=sys.stderr, flush=True)
    print(f"Machine: {machine()}\nVersions: {versions()}\n")
    print(
        "| workload | dtype | contestant | build (to first result) | training (median) | min | test acc | final loss |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for workload, dtype, name, r in rows:
        if r.get("status") != "ok":
            print(
                f"| {workload} | {dtype} | {name} | {r.get('status')}: {r.get('error', '')} | | | | |"
            )
            continue
        acc = r.get("accuracy")
        print(
            f"| {workload} | {dtype} | {name} | {ms(r.get('cold_s'))} | {ms(r.get('median_s'))} | "
            f"{ms(r.get('min_s'))} | {'-' if acc is None else f'{acc:.2%}'} | {r.get('final_loss', 0):.6f} |"
        )


if __name__ == "__main__":
    main()
