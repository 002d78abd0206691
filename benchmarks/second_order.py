"""SciPy's objective and the Hessian-vector product: symbp against JAX, in one run.

Usage (from the repository root; JAX optional, its column is left out without it)::

    python benchmarks/second_order.py [--reps 200]

For each model, float64, over all of its data:

* ``value+grad``: one evaluation of the function ``Trainer.minimize`` hands SciPy (the
  reduced loss and its gradient on the flat parameter vector, ``symbp.train.minimize.Objective``)
  against ``jax.jit(jax.value_and_grad(loss))`` of the same loss on the same flat vector;
* ``hessp``: one exact Hessian-vector product (symbp's compiled second sweep) against
  ``jax.jit`` of ``jax.jvp(jax.grad(loss), (x,), (v,))`` (forward-over-reverse);

each the median of ``--reps`` calls after a warm-up (the outputs moved to NumPy for
JAX, as SciPy needs them). The compile columns are the time to each library's first
result (symbp: from the declared model, generating the module into a fresh cache,
importing and Numba-compiling it, and for ``hessp`` the lazily generated Hessian module;
JAX: tracing and XLA). Both libraries run with their default threads. Prints a Markdown
table; no timing assertions (it stops if symbp's and JAX's values disagree beyond 1e-8).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# a fresh symbp cache, whatever the caller's: the compile columns are cold builds
os.environ["SYMBP_CACHE_DIR"] = tempfile.mkdtemp(prefix="symbp-second-order-")

import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402

import symbp  # noqa: E402
from symbp import nn, optim  # noqa: E402
from symbp.train.minimize import Objective  # noqa: E402


def curve() -> tuple[Any, dict, dict, Callable]:
    """``a*exp(-b*x) + c`` least squares on 10,000 points (scalar level)."""
    a, b, c, x, y = sp.symbols("a b c x y")
    model = symbp.Model(
        (a * sp.exp(-b * x) + c - y) ** 2, params=[a, b, c], inputs=[x], targets=[y],
        name="bench_curve",
    )  # fmt: skip
    rng = np.random.default_rng(0)
    xs = rng.uniform(0, 4, 10_000)
    data = {"x": xs, "y": 2.5 * np.exp(-1.3 * xs) + 0.5 + 0.05 * rng.normal(size=xs.size)}
    params = {"a": 1.0, "b": 1.0, "c": 0.0}

    def loss(theta, jnp):
        pa, pb, pc = theta[0], theta[1], theta[2]
        return jnp.mean((pa * jnp.exp(-pb * data["x"]) + pc - data["y"]) ** 2)

    return model, params, data, loss


def rosenbrock() -> tuple[Any, dict, dict, Callable]:
    """The 10-D Rosenbrock function (no data, scalar level)."""
    q = sp.symbols("q0:10")
    f = sum(100 * (q[i + 1] - q[i] ** 2) ** 2 + (1 - q[i]) ** 2 for i in range(9))
    model = symbp.Model(f, params=list(q), name="bench_rosen10")
    params = {f"q{i}": -1.0 for i in range(10)}

    def loss(theta, jnp):
        return jnp.sum(100 * (theta[1:] - theta[:-1] ** 2) ** 2 + (1 - theta[:-1]) ** 2)

    return model, params, {}, loss


def mlp(hidden: int) -> Callable[[], tuple[Any, dict, dict, Callable]]:
    """The 64-H-10 tanh softmax MLP on 1500 samples (digits-sized, matrix level)."""

    def build() -> tuple[Any, dict, dict, Callable]:
        x, t = sp.MatrixSymbol("x", 1, 64), sp.MatrixSymbol("t", 1, 10)
        W1, b1 = sp.MatrixSymbol("W1", 64, hidden), sp.MatrixSymbol("b1", 1, hidden)
        W2, b2 = sp.MatrixSymbol("W2", hidden, 10), sp.MatrixSymbol("b2", 1, 10)
        z = nn.dense(nn.dense(x, W1, b1, sp.tanh), W2, b2)
        model = symbp.Model(
            nn.softmax_cross_entropy(z, t), params=[W1, b1, W2, b2], inputs=[x],
            targets=[t], name=f"bench_mlp_{hidden}",
        )  # fmt: skip
        rng = np.random.RandomState(0)
        data = {"x": rng.rand(1500, 64), "t": np.eye(10)[rng.randint(0, 10, 1500)]}
        params = {
            "W1": rng.normal(size=(64, hidden)) * 0.1, "b1": np.zeros((1, hidden)),
            "W2": rng.normal(size=(hidden, 10)) * 0.1, "b2": np.zeros((1, 10)),
        }  # fmt: skip
        sizes = [64 * hidden, hidden, hidden * 10, 10]
        cuts = np.cumsum(sizes)[:-1]

        def loss(theta, jnp):
            w1, c1, w2, c2 = jnp.split(theta, cuts)
            h = jnp.tanh(data["x"] @ w1.reshape(64, hidden) + c1)
            z = h @ w2.reshape(hidden, 10) + c2
            zmax = jnp.max(z, axis=1, keepdims=True)
            lse = jnp.log(jnp.sum(jnp.exp(z - zmax), axis=1)) + zmax[:, 0]
            return jnp.mean(lse - jnp.sum(data["t"] * z, axis=1))

        return model, params, data, loss

    return build


MODELS: dict[str, Callable[[], tuple[Any, dict, dict, Callable]]] = {
    "curve a*exp(-b*x)+c, n=10000 (3 params)": curve,
    "Rosenbrock-10 (10 params)": rosenbrock,
    "MLP 64-32-10, n=1500 (2410 params)": mlp(32),
    "MLP 64-512-10, n=1500 (38410 params)": mlp(512),
}


def median_time(call: Callable[[], Any], reps: int) -> float:
    """Median seconds of ``reps`` calls after one warm-up call."""
    call()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def first_call(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure_symbp(build: Callable, reps: int) -> tuple[dict, np.ndarray, np.ndarray, Any, Callable]:
    """symbp's row, the point and direction, the objective, and the JAX form of the loss."""
    model, params, data, loss = build()
    start = time.perf_counter()
    trainer = model.compile(optim.SGD(lr=0.1), dtype="float64")
    objective = Objective(trainer, params, data)
    x = objective.theta0.astype(np.float64)
    v = np.random.default_rng(1).normal(size=x.size)
    objective.value_and_grad(x)
    compile_grad = time.perf_counter() - start
    compile_hessp = first_call(lambda: objective.hessp(x, v))
    row = {
        "compile value+grad": compile_grad,
        "compile hessp": compile_hessp,
        "value+grad": median_time(lambda: objective.value_and_grad(x), reps),
        "hessp": median_time(lambda: objective.hessp(x, v), reps),
    }
    return row, x, v, objective, loss


def measure_jax(loss: Callable, x: np.ndarray, v: np.ndarray, reps: int) -> dict[str, float]:
    import jax
    import jax.numpy as jnp

    f = lambda theta: loss(theta, jnp)  # noqa: E731
    vg = jax.jit(jax.value_and_grad(f))
    hvp = jax.jit(lambda theta, d: jax.jvp(jax.grad(f), (theta,), (d,))[1])
    xj, vj = jnp.asarray(x), jnp.asarray(v)

    def call_vg():
        value, grad = vg(xj)
        return float(value), np.asarray(grad)

    def call_hvp():
        return np.asarray(hvp(xj, vj))

    return {
        "compile value+grad": first_call(call_vg),
        "compile hessp": first_call(call_hvp),
        "value+grad": median_time(call_vg, reps),
        "hessp": median_time(call_hvp, reps),
        "check": (call_vg(), call_hvp()),  # type: ignore[dict-item]
    }


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
    except ImportError:
        jax = None
    from benchmarks.machine import machine_info

    info = machine_info()
    names = ["numpy", "numba", "scipy", "sympy"] + (["jax", "jaxlib"] if jax else [])
    print(
        f"float64; {info['cpu']} ({info['usable_cores']} usable cores), load "
        f"{info['load_start']}; " + ", ".join(f"{n} {metadata.version(n)}" for n in names)
    )
    print()
    print("| model | library | value+grad | hessp | compile value+grad | compile hessp |")
    print("|---|---|---|---|---|---|")
    for label, build in MODELS.items():
        row, x, v, objective, loss = measure_symbp(build, args.reps)
        rows = {"symbp": row}
        if jax is not None:
            rows["jax"] = measure_jax(loss, x, v, args.reps)
            (value, grad), hv = rows["jax"].pop("check")  # type: ignore[misc]
            mine_value, mine_grad = objective.value_and_grad(x)
            scale = max(np.abs(grad).max(), 1e-300)
            agree = max(
                abs(value - mine_value) / max(abs(value), 1e-300),
                np.abs(grad - mine_grad).max() / scale,
                np.abs(hv - objective.hessp(x, v)).max() / max(np.abs(hv).max(), 1e-300),
            )
            assert agree < 1e-8, f"{label}: symbp and JAX disagree ({agree:.1e})"
        for library, r in rows.items():
            ratio = ""
            if library == "jax":
                s = rows["symbp"]
                ratio = f" ({r['value+grad'] / s['value+grad']:.1f}x symbp)"
                hratio = f" ({r['hessp'] / s['hessp']:.1f}x symbp)"
            else:
                hratio = ""
            print(
                f"| {label} | {library} | {fmt(r['value+grad'])}{ratio} | "
                f"{fmt(r['hessp'])}{hratio} | {fmt(r['compile value+grad'])} | "
                f"{fmt(r['compile hessp'])} |"
            )


if __name__ == "__main__":
    main()
