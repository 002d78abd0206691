"""Where symbp's time goes on each benchmark workload.

Usage (from the repository root)::

    python benchmarks/profile_symbp.py [--workloads W0,W3,W5-512] [--dtypes float64,float32]

For every workload and dtype, with the same model, data and schedule as the
``symbp`` contestant of ``benchmarks/run.py`` and one thread:

* ``fit``: one whole ``Trainer.fit`` (median of repeated runs), what run.py times;
* ``kernel``: the generated module's compiled ``_kernel`` (``trainer.spec.kernel``)
  alone, in its FIT mode, called on inputs validated once (every step, the batch
  loss, the schedule, the update, the divergence check);
* ``driver``: the Python side of one call (validating and packing params, data
  and state, unpacking the result), measured as a one-step ``Trainer.fit`` minus
  a one-step kernel call: it does not grow with the number of steps;
* ``per step``: ``kernel / steps``;
* for the MLPs, ``GEMM floor``: the same steps' five matrix products (forward
  ``x W1`` and ``h W2``, backward ``dz W2^T``, ``h^T dz``, ``x^T dh``) alone, done by
  ``np.dot`` into preallocated arrays inside one Numba loop (single-threaded BLAS):
  whatever a framework does, it does at least these; ``kernel - GEMM`` is then
  everything else (tanh and its derivative, softmax, the update, batch gathering).

This calls the kernel without the driver through the trainer's ``spec`` and the
runtime's validation steps (``trainer.runtime``: ``check_hyper``, ``pack_params``,
``check_data``, ``schedule``, ``initial_slots``), passing the kernel protocol's
arguments itself (``symbp.emit.driver``); the fits are unshuffled, so one call runs
every step. A measuring tool, not an API. Prints a Markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# isort: off
# benchmarks.contestants pins BLAS/XLA/Numba to one thread: it must come before NumPy
from benchmarks.contestants import symbp as contestant  # noqa: E402
from benchmarks.contestants._common import Unsupported  # noqa: E402
from benchmarks import run, workloads  # noqa: E402
# isort: on


def _median_time(func, min_time: float = 0.5, max_runs: int = 2000) -> float:
    func()
    times: list[float] = []
    while len(times) < 5 or (sum(times) < min_time and len(times) < max_runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _initial_params(wl, shapes):
    """The workload's initial parameters in the shapes the symbp model declares."""
    return {
        k: float(wl.params[k]) if s == () else wl.params[k].reshape(s) for k, s in shapes.items()
    }


def _fit_call(wl, trainer, shapes, data, one_step: bool = False):
    """The zero-argument whole-training call the symbp contestant times (or one step)."""
    params = _initial_params(wl, shapes)
    if data is None:
        steps = 1 if one_step else wl.steps
        return lambda: trainer.fit(params, steps=steps), {"steps": steps}
    if one_step:
        kwargs = {"steps": 1, "batch_size": wl.batch_size}
    elif wl.kind == "mlp":
        kwargs = {"epochs": wl.epochs, "batch_size": wl.batch_size}
    else:
        kwargs = {"steps": wl.steps, "batch_size": wl.batch_size}
    return lambda: trainer.fit(params, data, **kwargs), kwargs


def _kernel_call(trainer, shapes, wl, data, kwargs):
    """The compiled training loop alone (``_kernel`` in FIT mode), on inputs validated once."""
    import numpy as np

    spec, runtime = trainer.spec, trainer.runtime
    constants, inits = runtime.check_hyper(spec, trainer.hyper)
    theta0 = runtime.pack_params(spec, _initial_params(wl, shapes))
    n, arrays = runtime.check_data(spec, data)
    steps, batch, _ = runtime.schedule(
        n, kwargs.get("batch_size"), kwargs.get("steps"), kwargs.get("epochs")
    )
    slots0 = runtime.initial_slots(spec, inits)
    losses = np.empty(steps, dtype=spec.dtype)
    info = np.zeros(2)
    kernel, fit = spec.kernel, runtime.FIT

    def call():
        theta, slots = theta0.copy(), slots0.copy()
        # mode, theta, slots, grad (unused by FIT), t0, steps, batch, lo, hi, ...
        kernel(
            fit, theta, slots, theta, 0, steps, batch, 0, n, losses, info, constants, *arrays,
        )  # fmt: skip

    return call, steps


def _gemm_floor(wl) -> float:
    """Seconds for an MLP workload's matrix products alone."""
    import numba
    import numpy as np

    dt = np.dtype(wl.dtype)
    hidden, batch = wl.hidden, wl.batch_size
    x = np.ascontiguousarray(wl.data["x"][:batch], dtype=dt)
    w1 = np.ascontiguousarray(wl.params["W1"], dtype=dt)
    w2 = np.ascontiguousarray(wl.params["W2"], dtype=dt)
    h, z = np.zeros((batch, hidden), dt), np.zeros((batch, 10), dt)
    dh, gw1, gw2 = np.zeros_like(h), np.zeros_like(w1), np.zeros_like(w2)

    @numba.njit(cache=False)
    def gemms(steps, x, w1, w2, h, z, dh, gw1, gw2):
        for _ in range(steps):
            np.dot(x, w1, h)
            np.dot(h, w2, z)
            np.dot(z, w2.T, dh)
            np.dot(h.T, z, gw2)
            np.dot(x.T, dh, gw1)

    return _median_time(lambda: gemms(wl.steps, x, w1, w2, h, z, dh, gw1, gw2))


def profile(name: str, dtype: str) -> dict:
    wl = workloads.get(name, dtype)
    model, shapes, data = contestant.declare(wl)
    trainer = model.compile(optimizer=contestant.make_optimizer(wl.optimizer), dtype=wl.dtype)
    import numpy as np

    if data is not None:
        data = {k: np.ascontiguousarray(v) for k, v in data.items()}
    fit, kwargs = _fit_call(wl, trainer, shapes, data)
    kernel, steps = _kernel_call(trainer, shapes, wl, data, kwargs)
    fit1, kwargs1 = _fit_call(wl, trainer, shapes, data, one_step=True)
    kernel1, _ = _kernel_call(trainer, shapes, wl, data, kwargs1)
    row = {"workload": name, "dtype": dtype, "steps": steps}
    row["fit"] = _median_time(fit)
    row["kernel"] = _median_time(kernel)
    row["driver"] = max(_median_time(fit1) - _median_time(kernel1), 0.0)
    if wl.kind == "mlp":
        row["gemm"] = _gemm_floor(wl)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default=None, help="comma list (default: all)")
    ap.add_argument("--dtypes", default="float64,float32")
    args = ap.parse_args(argv)
    names = workloads.expand(args.workloads)
    info = run.machine_info()
    vers = run.versions()
    print(
        f"{info['date']}, {info['cpu']}, {info['logical_cores']} cores, one thread; "
        + ", ".join(f"{k} {vers[k]}" for k in ("python", "numpy", "numba") if k in vers)
    )
    print()
    fmt = run.fmt_time
    head = ["workload", "dtype", "steps", "fit", "kernel", "driver", "per step", "GEMM floor"]
    head.append("kernel - GEMM")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name in names:
        for dtype in args.dtypes.split(","):
            try:
                r = profile(name, dtype)
            except Unsupported as exc:  # a workload symbp's contestant does not declare yet
                print(f"| {name} | {dtype} | {exc} |" + " |" * (len(head) - 3), flush=True)
                continue
            gemm = r.get("gemm")
            print(
                f"| {name} | {dtype} | {r['steps']} | {fmt(r['fit'])} | {fmt(r['kernel'])} | "
                f"{fmt(r['driver'])} | {fmt(r['kernel'] / r['steps'])} | "
                f"{fmt(gemm) if gemm else '–'} | {fmt(r['kernel'] - gemm) if gemm else '–'} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
