"""Core measurements: derivation, generation, compilation, cached import, seed 001 fit.

Run from the repository root: ``python benchmarks/core.py``. Prints Markdown tables.
Each compile is measured in a fresh cache directory (cold), then re-imported in a new
process (Numba's on-disk cache, warm).
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import sympy as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "examples")]


def machine() -> str:
    """CPU, cores and versions (the CPU description comes from benchmarks/run.py)."""
    from benchmarks.machine import machine_info

    info = machine_info()
    return (
        f"{info['cpu']}, {info['usable_cores']} cores, load {info['load_start']}; "
        f"Python {platform.python_version()}, NumPy {np.__version__}, "
        f"Numba {numba.__version__}, SymPy {sp.__version__}"
    )


def nested_loss(layers: int) -> tuple[sp.Expr, tuple, sp.Symbol]:
    """f_0 = x, f_{i+1} = sin(p_i * f_i) + f_i, loss f^2: deep, every layer shared twice."""
    x = sp.Symbol("x", real=True)
    ps = sp.symbols(f"p0:{layers}", real=True)
    f = x
    for p in ps:
        f = sp.sin(p * f) + f
    return f**2, ps, x


def sweep_time(layers: int) -> tuple[float, int]:
    from symbp.declare.variables import declare_role
    from symbp.derive.scalar import derive
    from symbp.simplify.scalar import build_program

    loss, ps, x = nested_loss(layers)
    variables = declare_role(list(ps), "params") + declare_role([x], "inputs")
    start = time.perf_counter()
    program = build_program(derive(loss, variables))
    return time.perf_counter() - start, len(program.statements) + len(program.gradients)


def diff_time(layers: int) -> tuple[float, float, int]:
    loss, ps, _ = nested_loss(layers)
    start = time.perf_counter()
    grads = [sp.diff(loss, p) for p in ps]
    t_diff = time.perf_counter() - start
    start = time.perf_counter()
    sp.cse(grads, order="canonical")
    return t_diff, time.perf_counter() - start, sum(sp.count_ops(e) for e in grads)


def sweep_vs_diff(sweep_layers=(10, 14, 20, 40, 80), diff_layers=(6, 10, 14)) -> list[str]:
    """The sweep is linear in depth; sympy.diff swells ~2.5x per layer (40 is out of reach)."""
    rows = [
        "| layers of `sin(p_i f) + f` | symbp sweep + passes | assignments | `sympy.diff` (all p_i) | `sympy.cse` of those | ops after diff |",
        "|---|---|---|---|---|---|",
    ]
    for layers in sorted(set(sweep_layers) | set(diff_layers)):
        t_sweep, n_sweep = sweep_time(layers)
        if layers in diff_layers:
            t_diff, t_cse, ops = diff_time(layers)
            diff_cols = f"{t_diff:.2f} s | {t_cse:.2f} s | {ops}"
        else:
            diff_cols = "not attempted | | "
        rows.append(f"| {layers} | {t_sweep:.3f} s | {n_sweep} | {diff_cols} |")
    return rows


IMPORT_SNIPPET = """
import sys, time
start = time.perf_counter()
sys.path.insert(0, {root!r})
from generated import {name} as k
k.{call}
print(time.perf_counter() - start)
"""

CALLS = {
    "seed_000": "fit({'w': 5.0}, steps=1)",
    "seed_001_sgd": "loss({'W1': [[1,2,3],[4,5,6]], 'W2': [[1],[2],[3]]}, {'x': [[0.1, 0.2]], 'y': [1.0]})",
    "seed_002": "loss({'w': 1.0, 'b': 0.0}, {'x': [0.1], 'y': [0.2]})",
    "seed_003_decay": "fit({'w': 5.0}, steps=1)",
    "seed_004": "loss({'W1': [[1,2],[3,4]], 'b1': [[0],[0]], 'W2': [[1,2],[3,4]], 'b2': [[0],[0]]}, {'x': [[0.1, 0.2]], 't': [[0.0, 1.0]]})",
}


def _seconds_printed_by(code: str, env: dict[str, str]) -> float:
    """Run ``code`` in a new interpreter; it prints one number of seconds."""
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout)


def seed_models() -> list[str]:
    import importlib

    rows = [
        "| seed model | derive + passes | generate (text) | first compile (cold cache, incl. import) | cached import + first call (new process) |",
        "|---|---|---|---|---|",
    ]
    for script, name in [
        ("seed_000", "seed_000"),
        ("seed_001", "seed_001_sgd"),
        ("seed_002", "seed_002"),
        ("seed_003", "seed_003_decay"),
        ("seed_004", "seed_004"),
    ]:
        example = importlib.import_module(script)
        model, optimizer, dtype = example.MODULES[name]
        fresh = type(model)(
            model.loss, model.params, model.inputs, model.targets, model.reduction, model.name
        )
        start = time.perf_counter()
        fresh.program  # noqa: B018 - derive and simplify
        t_derive = time.perf_counter() - start
        start = time.perf_counter()
        fresh.module_source(optimizer, dtype)
        t_generate = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            code = IMPORT_SNIPPET.format(root=str(ROOT), name=name, call=CALLS[name])
            cold = _seconds_printed_by(code, env)
            warm = [_seconds_printed_by(code, env) for _ in range(3)]
        rows.append(
            f"| {name} | {t_derive * 1e3:.1f} ms | {t_generate * 1e3:.1f} ms | {cold:.2f} s | {statistics.median(warm):.2f} s |"
        )
    return rows


def seed_001_float64(repeats: int = 7) -> list[str]:
    import seed_001

    from symbp import optim

    data = seed_001.dataset()
    params = {"W1": seed_001.W1_0, "W2": seed_001.W2_0}
    trainer = seed_001.model.compile(optim.SGD(lr=0.001), "float64")
    trainer.fit(params, data, steps=10, batch_size=8)  # JIT warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit = trainer.fit(params, data, steps=3000, batch_size=8)
        times.append(time.perf_counter() - start)

    def numpy_loop():
        X, Y = data["x"], data["y"].reshape(-1, 1)
        W1, W2 = seed_001.W1_0.copy(), seed_001.W2_0.copy()
        for i in range(3000):
            s = (i * 8) % 32
            xb, yb = X[s : s + 8], Y[s : s + 8]
            a = xb @ W1
            delta = 2.0 * (a @ W2 - yb) / 8
            g2, g1 = a.T @ delta, xb.T @ (delta @ W2.T)
            W1 -= 0.001 * g1
            W2 -= 0.001 * g2
        return W1, W2

    numpy_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        W1, _ = numpy_loop()
        numpy_times.append(time.perf_counter() - start)
    assert np.allclose(W1, fit.params["W1"], rtol=1e-12, atol=1e-12)
    return [
        "| seed 001, 3000 SGD steps, batch 8, float64 | median | min |",
        "|---|---|---|",
        f"| symbp Trainer.fit (compiled loop, incl. validation) | {statistics.median(times) * 1e3:.2f} ms | {min(times) * 1e3:.2f} ms |",
        f"| plain NumPy loop, same algorithm | {statistics.median(numpy_times) * 1e3:.2f} ms | {min(numpy_times) * 1e3:.2f} ms |",
    ]


def main() -> None:
    os.environ.setdefault("SYMBP_CACHE_DIR", tempfile.mkdtemp(prefix="symbp-bench-"))
    print(f"# symbp core measurements ({time.strftime('%Y-%m-%d')})\n\n{machine()}\n")
    for table in (sweep_vs_diff(), seed_models(), seed_001_float64()):
        print("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
