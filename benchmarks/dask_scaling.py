"""symbp.dask on one machine: in memory vs 1 and 2 Dask workers vs dask-ml.

Usage (from the repository root)::

    python benchmarks/dask_scaling.py [--rows 2000000] [--digits-reps 835] [--mlp-iters 50]
    python benchmarks/dask_scaling.py --quick     # a small run, to check that it works

Two workloads in float64:

* logistic regression, ``--rows`` synthetic rows x 64 features plus a column of ones
  (the intercept), L2 penalty ``1/2 ||w||^2`` on every coefficient (the intercept too)
  on the *summed* loss: exactly dask-glm's objective for
  ``dask_ml.linear_model.LogisticRegression(solver="lbfgs", C=1, fit_intercept=False,
  solver_kwargs={"normalize": False})`` on the same Dask arrays (dask-ml's own
  intercept column would be penalized the same way). L-BFGS everywhere stops on the
  same test: ``pgtol = 1e-4`` (dask-ml's ``tol``), scipy's default ``factr = 1e7``
  (``ftol = 2.2e-9``), at most 100 iterations.
* the 64-32-10 tanh MLP of ``examples/digits_mlp.py`` on scikit-learn's digits tiled
  ``--digits-reps`` times (1.5M rows), mean softmax cross-entropy, ``--mlp-iters``
  L-BFGS iterations (non-convex: the same budget, not an optimum).

For each: one full-data loss and gradient (median of 3 after a warm-up) and the whole
L-BFGS run, for symbp in memory (the objective ``trainer.minimize`` hands SciPy: loss
and gradient in one pass, on this machine's threads; ``trainer.minimize`` itself), ``symbp.dask`` on a LocalCluster of 1 and 2 single-threaded
workers (``loss_and_grad``: one pass; ``minimize``), and for the logistic regression
dask-ml. The data are generated on the workers (``dask.array.random``, fixed seed) and
persisted there; the in-memory runs use a copy gathered to the client.

Prints a Markdown table (machine, versions, throughput in rows/s), writes
``benchmarks/dask_scaling.png``, and estimates a 16-machine cluster from the measured
per-task overhead and per-row cost. No assertions. Keep the output in
``benchmarks/dask_scaling.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "examples")]

#: rows per block (the last may be shorter)
CHUNK = 125_000
#: dask-glm's L2 constant: lambda = 1 / C with C = 1
LAMBDA = 1.0
#: the L-BFGS stopping test of dask-glm's lbfgs with dask-ml's defaults
LBFGS = {"gtol": 1e-4, "ftol": 1e7 * np.finfo(float).eps, "maxiter": 100}


def machine() -> dict[str, str]:
    """CPU model, usable cores, load average and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    names = ("numpy", "numba", "scipy", "dask", "distributed", "dask-ml", "dask-glm", "symbp")
    versions = {name: metadata.version(name) for name in names}
    versions["python"] = platform.python_version()
    return {"cpu": cpu, "cores": str(cores), "load": load, **versions}


def median_time(func: Any, reps: int = 3) -> float:
    func()  # warm-up: compiles, loads, caches
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# -- models -------------------------------------------------------------------------


def logistic_trainer(rows: int) -> Any:
    """Per-sample ``softplus(x w) - y x w + lambda/(2 rows) ||w||^2``, summed: dask-glm's."""
    import sympy as sp

    import symbp
    from symbp import nn

    x, w, y = sp.MatrixSymbol("x", 1, 65), sp.MatrixSymbol("w", 65, 1), sp.Symbol("y")
    z = (x * w)[0, 0]
    penalty = sp.Rational(1, 2) * sp.Float(LAMBDA) / rows * (w.T * w)[0, 0]
    model = symbp.Model(
        nn.binary_cross_entropy_with_logits(z, y) + penalty,
        params=[w],
        inputs=[x],
        targets=[y],
        reduction="sum",
        name=f"bench_dask_logistic_{rows}",
    )
    return model.compile(None)


def mlp_trainer() -> Any:
    import digits_mlp

    return digits_mlp.declare(32).compile(None)


# -- data (generated on the workers) ----------------------------------------------


def logistic_data(rows: int) -> dict[str, Any]:
    import dask.array as da

    rng = da.random.default_rng(12)
    features = rng.standard_normal((rows, 64), chunks=(CHUNK, 64))
    x = da.concatenate([features, da.ones((rows, 1), chunks=(CHUNK, 1))], axis=1)
    x = x.rechunk({1: -1})
    beta = np.random.default_rng(3).normal(size=65) * 0.3
    logits = x @ beta
    y = (rng.random(rows, chunks=CHUNK) < 1 / (1 + da.exp(-logits))).astype(float)
    return {"x": x, "y": y}


def digits_data(reps: int) -> dict[str, Any]:
    import dask.array as da
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels, onehot = digits.data / 16.0, np.eye(10)[digits.target]
    rows = reps * len(pixels)
    index = da.arange(rows, chunks=CHUNK)
    x = index.map_blocks(
        lambda i: pixels[i % len(pixels)], new_axis=1, chunks=(index.chunks[0], 64)
    )
    t = index.map_blocks(
        lambda i: onehot[i % len(onehot)], new_axis=1, chunks=(index.chunks[0], 10)
    )
    return {"x": x, "t": t}


# -- engines ------------------------------------------------------------------------


def in_memory(trainer: Any, params: dict, data: dict, options: dict) -> dict[str, Any]:
    """symbp's Trainer on NumPy arrays: the objective trainer.minimize hands SciPy (loss
    and gradient in one pass over data validated once), and L-BFGS through it."""
    from symbp.train.minimize import Objective

    objective = Objective(trainer, params, data)
    evaluation = median_time(lambda: objective.value_and_grad(objective.theta0))
    start = time.perf_counter()
    fit = trainer.minimize(params, data, method="L-BFGS-B", options=options)
    x = trainer.runtime.pack_params(trainer.spec, fit.params)
    return {"eval": evaluation, "fit": time.perf_counter() - start, "x": x, "nit": fit.result.nit}


def on_dask(trainer: Any, params: dict, data: dict, options: dict) -> dict[str, Any]:
    import symbp.dask as sd

    evaluation = median_time(lambda: sd.loss_and_grad(trainer, params, data))
    start = time.perf_counter()
    fit = sd.minimize(trainer, params, data, method="L-BFGS-B", options=options)
    x = trainer.runtime.pack_params(trainer.spec, fit.params)
    return {"eval": evaluation, "fit": time.perf_counter() - start, "x": x, "nit": fit.result.nit}


def dask_ml(data: dict) -> dict[str, Any]:
    """dask-ml's LogisticRegression(solver="lbfgs") and the loss+gradient its solver
    evaluates (dask-glm's Logistic family with the L2 regularizer)."""
    import dask
    from dask_glm.families import Logistic
    from dask_glm.regularizers import Regularizer
    from dask_ml.linear_model import LogisticRegression

    x, y = data["x"], data["y"]
    l2 = Regularizer.get("l2")
    loss = l2.add_reg_f(Logistic.pointwise_loss, LAMBDA)
    gradient = l2.add_reg_grad(Logistic.pointwise_gradient, LAMBDA)
    beta = np.zeros(x.shape[1])

    def evaluate() -> Any:
        with dask.config.set(fuse_ave_width=0):  # as dask-glm's lbfgs does
            return dask.compute(loss(beta, x, y), gradient(beta, x, y))

    evaluation = median_time(evaluate)
    model = LogisticRegression(
        solver="lbfgs",
        C=1 / LAMBDA,
        fit_intercept=False,  # the column of ones is in x
        tol=LBFGS["gtol"],
        max_iter=LBFGS["maxiter"],
        solver_kwargs={"normalize": False},
    )
    start = time.perf_counter()
    model.fit(x, y)
    return {"eval": evaluation, "fit": time.perf_counter() - start, "x": np.asarray(model.coef_)}


def task_overhead(client: Any, trainer: Any, params: dict) -> tuple[float, float]:
    """``(round trip, seconds per extra block)`` of symbp.dask.loss_and_grad on tiny
    persisted data (the cost of one more block: its task and its share of the tree)."""
    import dask.array as da
    import distributed

    import symbp.dask as sd

    rows = np.random.default_rng(0).normal(size=(64 * 16, 65))
    labels = (rows[:, 0] > 0).astype(float)

    def timed(blocks: int) -> float:
        size = 16 * blocks
        x, y = client.persist(
            [da.from_array(rows[:size], chunks=(16, -1)), da.from_array(labels[:size], chunks=16)]
        )
        distributed.wait([x, y])
        data = {"x": x, "y": y}
        return median_time(lambda: sd.loss_and_grad(trainer, params, data), reps=7)

    small, large = timed(2), timed(64)
    return small, max(0.0, (large - small) / 62)


# -- the run ------------------------------------------------------------------------


def run(args: argparse.Namespace) -> tuple[list[dict], dict[str, Any]]:
    import dask
    import distributed

    warnings.filterwarnings("ignore", category=FutureWarning)
    logistic = logistic_trainer(args.rows)
    mlp = mlp_trainer()
    import digits_mlp

    start_params = {
        "logistic": {"w": np.zeros((65, 1))},
        "mlp": digits_mlp.initial_params(32),
    }
    mlp_options = {"maxiter": args.mlp_iters}
    results: list[dict] = []
    memory: dict[str, dict] = {}
    overhead: dict[str, float] = {}
    for workers in (1, 2):
        with (
            distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            for name, trainer, make, options in (
                ("logistic", logistic, lambda: logistic_data(args.rows), LBFGS),
                ("mlp", mlp, lambda: digits_data(args.digits_reps), mlp_options),
            ):
                data = make()
                keys = list(data)
                persisted = client.persist([data[k] for k in keys])
                distributed.wait(persisted)
                data = dict(zip(keys, persisted, strict=True))
                rows = int(data[keys[0]].shape[0])
                params = start_params[name]
                if name not in memory:  # the same data (same seed) gathered to the client
                    local = dict(zip(keys, dask.compute(*persisted), strict=True))
                    memory[name] = in_memory(trainer, params, local, options)
                    del local
                    results.append({"workload": name, "engine": "symbp in memory (minimize's objective: 1 pass)",
                                    "workers": 0, "rows": rows, **memory[name]})  # fmt: skip
                print(f"{name}: {workers} worker(s) ...", file=sys.stderr, flush=True)
                measured = on_dask(trainer, params, data, options)
                results.append({"workload": name, "engine": "symbp.dask (loss_and_grad: 1 pass)",
                                "workers": workers, "rows": rows, **measured})  # fmt: skip
                if name == "logistic":
                    measured = dask_ml(data)
                    results.append({"workload": name, "engine": "dask-ml (dask-glm's loss + gradient)",
                                    "workers": workers, "rows": rows, **measured})  # fmt: skip
                del data, persisted
            if workers == 2:
                overhead["latency"], overhead["per_task"] = task_overhead(
                    client, logistic, start_params["logistic"]
                )
    return results, overhead


def objective_at(trainer: Any, x: np.ndarray, data: dict) -> float:
    return float(trainer.loss(trainer.runtime.unpack_params(trainer.spec, x), data))


def table(results: list[dict], info: dict[str, str], args: argparse.Namespace) -> str:
    reference = {r["workload"]: r["x"] for r in results if r["workers"] == 0}
    lines = [
        f"Machine: {info['cpu']}, {info['cores']} cores, load average {info['load']} at the "
        f"start, {machine()['load']} at the end (1, 5, 15 min)",
        f"Versions: Python {info['python']}, NumPy {info['numpy']}, Numba {info['numba']}, "
        f"SciPy {info['scipy']}, Dask {info['dask']}, distributed {info['distributed']}, "
        f"dask-ml {info['dask-ml']} (dask-glm {info['dask-glm']}), symbp {info['symbp']}",
        f"Blocks of {CHUNK:,} rows; workers are single-threaded processes of a LocalCluster "
        "on 127.0.0.1; in memory uses every core of this machine.",
        "",
        "| workload | engine | workers | one loss+grad (s) | throughput (rows/s) | "
        "L-BFGS (s) | iterations | max abs diff of the solution vs in memory |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    names = {"logistic": f"logistic {args.rows:,} x 65", "mlp": "digits MLP 64-32-10"}
    for r in results:
        diff = float(np.max(np.abs(r["x"] - reference[r["workload"]])))
        workers = "—" if r["workers"] == 0 else str(r["workers"])
        nit = str(r["nit"]) if "nit" in r else "—"
        lines.append(
            f"| {names[r['workload']]} ({r['rows']:,} rows) | {r['engine']} | {workers} | "
            f"{r['eval']:.3f} | {r['rows'] / r['eval']:,.0f} | {r['fit']:.1f} | {nit} | "
            f"{diff:.1e} |"
        )
    return "\n".join(lines)


def estimate(results: list[dict], overhead: dict[str, float], machines: int = 16) -> str:
    """A 16-machine cluster like this one (one worker per core), from this run's numbers:
    T = round trip + per-task overhead x blocks + per-row cost x rows / workers."""
    cores = int(machine()["cores"])
    workers = machines * cores
    lines = [
        "",
        f"Estimate for {machines} machines like this one ({workers} single-threaded workers), "
        f"one loss+grad: T = {overhead['latency'] * 1e3:.1f} ms round trip + "
        f"{overhead['per_task'] * 1e3:.2f} ms per block x blocks (measured on 2 workers: the "
        "block's task, its share of the tree and the client's graph building; counted as "
        "if serial, an upper bound) + "
        "per-row cost x rows / workers (network latency and bandwidth of a real cluster "
        "not included; the gradient sent per block is small).",
        "",
        "| workload | per-row cost (µs, one worker) | rows | blocks | estimated time (s) | "
        "estimated throughput (rows/s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in ("logistic", "mlp"):
        one = next(r for r in results if r["workload"] == name
                   and r["engine"].startswith("symbp.dask") and r["workers"] == 1)  # fmt: skip
        blocks = -(-one["rows"] // CHUNK)
        per_row = max(1e-12, (one["eval"] - overhead["latency"] - overhead["per_task"] * blocks))
        per_row /= one["rows"]
        for rows in (one["rows"], one["rows"] * machines):
            count = -(-rows // CHUNK)
            seconds = overhead["latency"] + overhead["per_task"] * count + per_row * rows / workers
            lines.append(
                f"| {name} | {per_row * 1e6:.3f} | {rows:,} | {count} | {seconds:.3f} | "
                f"{rows / seconds:,.0f} |"
            )
    return "\n".join(lines)


def chart(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    titles = {
        "logistic": "logistic regression ({:,} rows)",
        "mlp": "digits MLP 64-32-10 ({:,} rows)",
    }
    for ax, name in zip(axes, ("logistic", "mlp"), strict=True):
        rows = [r for r in results if r["workload"] == name]
        for engine, marker in (("symbp.dask", "o"), ("dask-ml", "s")):
            points = sorted(
                (r["workers"], r["rows"] / r["eval"])
                for r in rows
                if r["engine"].startswith(engine)
            )
            if points:
                ax.plot(*zip(*points, strict=True), marker=marker, label=engine)
        for r in rows:
            if r["workers"] == 0:
                ax.axhline(r["rows"] / r["eval"], linestyle="--", color="gray",
                           label="symbp in memory (all cores)")  # fmt: skip
        ax.set_title(titles[name].format(rows[0]["rows"]) if rows else name)
        ax.set_xlabel("workers (single-threaded processes)")
        ax.set_ylabel("rows / s, one loss + gradient")
        ax.set_xticks([1, 2])
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--digits-reps", type=int, default=835)
    parser.add_argument("--mlp-iters", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    parser.add_argument("--chart", default=str(ROOT / "benchmarks" / "dask_scaling.png"))
    args = parser.parse_args()
    if args.quick:
        args.rows, args.digits_reps, args.mlp_iters = 300_000, 60, 5
    info = machine()
    results, overhead = run(args)
    print(table(results, info, args))
    print(estimate(results, overhead))
    chart(results, Path(args.chart))
    print(f"\nChart: {os.path.relpath(args.chart, ROOT)}")


if __name__ == "__main__":
    main()
