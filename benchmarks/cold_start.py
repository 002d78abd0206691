"""The user's first result: a new process, from ``import`` to a trained and evaluated model.

Usage (from the repository root; JAX optional, its rows are left out without it)::

    python benchmarks/cold_start.py [--reps 3] [--no-seeds]

Each case runs in a new Python process, timed from before its first import to its
last result (the interpreter's own start-up, ~20 ms, is not counted):

* **digits H** (H = 32, 512): the 64-H-10 tanh softmax MLP of ``examples/digits_mlp.py``
  on 1500 digits-sized samples: import, declare, ``compile``, a one-epoch ``fit``
  (batches of 32), then ``loss`` and ``grad`` over all samples;
* **seed_00N**: the whole seed example script, ``python examples/seed_00N.py``
  (derivation, regenerating its module, training, the printed trace);
* **jax digits H**: the same model in JAX (``jax.jit`` of a ``lax.scan`` over the
  epoch's steps, then a jitted loss and gradient), float64.

``cold``: empty symbp and Numba caches (``SYMBP_CACHE_DIR``, ``NUMBA_CACHE_DIR`` in a new
temporary directory; the seed examples' shipped modules in ``generated/`` get their
Numba cache there too); ``warm``: the same again in another new process, the caches
now filled (JAX: its persistent compilation cache is off by default, so its warm run
compiles again; ``--jax-cache`` turns it on). Median of ``--reps`` cold/warm pairs.
Prints a Markdown table; no assertions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYMBP_DIGITS = """
import time
start = time.perf_counter()
import numpy as np, sympy as sp
import symbp
from symbp import nn, optim
H = {hidden}
x, t = sp.MatrixSymbol("x", 1, 64), sp.MatrixSymbol("t", 1, 10)
W1, b1 = sp.MatrixSymbol("W1", 64, H), sp.MatrixSymbol("b1", 1, H)
W2, b2 = sp.MatrixSymbol("W2", H, 10), sp.MatrixSymbol("b2", 1, 10)
z = nn.dense(nn.dense(x, W1, b1, sp.tanh), W2, b2)
model = symbp.Model(nn.softmax_cross_entropy(z, t), params=[W1, b1, W2, b2], inputs=[x],
                    targets=[t], name=f"cold_digits_{{H}}")
trainer = model.compile(optim.SGD(lr=0.1))
rng = np.random.RandomState(0)
data = {{"x": rng.rand(1500, 64), "t": np.eye(10)[rng.randint(0, 10, 1500)]}}
params = {{"W1": rng.normal(size=(64, H)) * 0.1, "b1": np.zeros((1, H)),
          "W2": rng.normal(size=(H, 10)) * 0.1, "b2": np.zeros((1, 10))}}
fit = trainer.fit(params, data, epochs=1, batch_size=32)
trainer.loss(fit.params, data)
trainer.grad(fit.params, data)
print("SECONDS", time.perf_counter() - start)
"""

JAX_DIGITS = """
import time
start = time.perf_counter()
import numpy as np
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
H = {hidden}
rng = np.random.RandomState(0)
X = rng.rand(1500, 64); T = np.eye(10)[rng.randint(0, 10, 1500)]
params = (rng.normal(size=(64, H)) * 0.1, np.zeros(H), rng.normal(size=(H, 10)) * 0.1,
          np.zeros(10))
def loss(p, x, t):
    h = jnp.tanh(x @ p[0] + p[1])
    z = h @ p[2] + p[3]
    return jnp.mean(jax.nn.logsumexp(z, axis=1) - jnp.sum(t * z, axis=1))
grad = jax.grad(loss)
n = X.shape[0] // 32 * 32  # whole batches for the scan (the remainder is one more step)
xb, tb = X[:n].reshape(-1, 32, 64), T[:n].reshape(-1, 32, 10)
@jax.jit
def epoch(p, xb, tb):
    def step(p, batch):
        g = grad(p, *batch)
        return tuple(a - 0.1 * b for a, b in zip(p, g)), loss(p, *batch)
    return jax.lax.scan(step, p, (xb, tb))
p, losses = epoch(params, xb, tb)
p = tuple(a - 0.1 * b for a, b in zip(p, jax.jit(grad)(p, X[n:], T[n:])))
float(jax.jit(loss)(p, X, T))
[np.asarray(g) for g in jax.jit(grad)(p, X, T)]
print("SECONDS", time.perf_counter() - start)
"""

SEED = """
import time, runpy, sys, io, contextlib
start = time.perf_counter()
sys.argv = ["{script}"]
sys.path.insert(0, "{folder}")
with contextlib.redirect_stdout(io.StringIO()):
    runpy.run_path("{script}", run_name="__main__")
print("SECONDS", time.perf_counter() - start)
"""


def run_case(code: str, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT
    )
    if out.returncode != 0:
        raise SystemExit(f"case failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1].split()[1])


def cases(seeds: bool, with_jax: bool) -> dict[str, str]:
    found = {}
    for hidden in (32, 512):
        found[f"symbp digits 64-{hidden}-10"] = SYMBP_DIGITS.format(hidden=hidden)
        if with_jax:
            found[f"jax digits 64-{hidden}-10"] = JAX_DIGITS.format(hidden=hidden)
    if seeds:
        for script in sorted((ROOT / "examples").glob("seed_00*.py")):
            found[f"symbp {script.stem} (whole example)"] = SEED.format(
                script=script, folder=script.parent
            )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-seeds", action="store_true")
    parser.add_argument("--jax-cache", action="store_true")
    args = parser.parse_args()
    try:
        import jax  # noqa: F401

        with_jax = True
    except ImportError:
        with_jax = False
    from benchmarks.machine import THREAD_VARS, machine_info

    info = machine_info()
    names = ["numpy", "numba", "llvmlite", "sympy", "scipy"] + (
        ["jax", "jaxlib"] if with_jax else []
    )
    print(
        f"{info['cpu']} ({info['usable_cores']} usable cores), load {info['load_start']}; "
        f"python {sys.version.split()[0]}, "
        + ", ".join(f"{n} {metadata.version(n)}" for n in names)
    )
    print()
    print("| case | cold (s) | warm (s) |")
    print("|---|---|---|")
    # every library with its default threads, JAX's cache as --jax-cache says
    base = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    for var in ("XLA_FLAGS", "JAX_COMPILATION_CACHE_DIR"):
        base.pop(var, None)
    for label, code in cases(not args.no_seeds, with_jax).items():
        cold, warm = [], []
        for _ in range(args.reps):
            with tempfile.TemporaryDirectory(prefix="symbp-cold-") as tmp:
                env = dict(base, SYMBP_CACHE_DIR=f"{tmp}/symbp", NUMBA_CACHE_DIR=f"{tmp}/numba")
                if args.jax_cache:  # cache every program, however quickly it compiled
                    env["JAX_COMPILATION_CACHE_DIR"] = f"{tmp}/jax"
                    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
                    env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
                cold.append(run_case(code, env))
                warm.append(run_case(code, env))
        print(f"| {label} | {statistics.median(cold):.2f} | {statistics.median(warm):.2f} |")


if __name__ == "__main__":
    main()
