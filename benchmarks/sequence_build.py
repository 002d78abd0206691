"""How long an RNN takes to build, written as a Python loop and with ``nn.scan``, by length.

Usage (from the repository root)::

    python benchmarks/sequence_build.py [--steps 10,50,200] [--hidden 8] [--timeout 300]

Each row is one Elman RNN (``h_t = tanh(x_t Wx + h_{t-1} Wh + b)`` over the rows of a
``T x 3`` per-sample input, loss on the last state), declared either as a Python loop
over ``X[t, :]`` (the expression holds every step; symbp keeps it at matrix level) or
with ``symbp.nn.scan`` (one node; the kernels loop over ``t``), in a new process with
empty symbp and Numba caches. Columns: seconds SymPy takes to build the expression
(the user's own loop), seconds from ``Model()`` to the first gradient (derive, generate,
compile), and the lines of the generated model function. No assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import numpy as np, sympy as sp
import symbp
from symbp import nn

form, T, H, D = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), 3
X = sp.MatrixSymbol("X", T, D)
Wx, Wh, b = sp.MatrixSymbol("Wx", D, H), sp.MatrixSymbol("Wh", H, H), sp.MatrixSymbol("b", 1, H)
v, y = sp.MatrixSymbol("v", H, 1), sp.Symbol("y")
start = time.perf_counter()
if form == "loop":
    h = sp.ZeroMatrix(1, H)
    for t in range(T):
        h = (X[t, :] * Wx + h * Wh + b).applyfunc(sp.tanh)
else:
    h = nn.scan(lambda h, x: nn.tanh(x * Wx + h * Wh + b), sp.ZeroMatrix(1, H), X)
loss = ((h * v)[0, 0] - y) ** 2
built = time.perf_counter()
model = symbp.Model(loss, params=[Wx, Wh, b, v], inputs=[X], targets=[y], name=f"{form}{T}")
trainer = model.compile()
rng = np.random.default_rng(0)
params = {p.name: 0.3 * rng.standard_normal(p.shape) for p in model.declaration.params}
trainer.grad(params, {"X": rng.standard_normal((32, T, D)), "y": rng.standard_normal(32)})
done = time.perf_counter()
text = model.module_source().text
body = text[text.index("def loss_and_grad"):text.index("def _kernel")]
print(json.dumps({"sympy": built - start, "build": done - built, "lines": len(body.splitlines())}))
"""


def measure(form: str, steps: int, hidden: int, timeout: float) -> dict | str:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "SYMBP_CACHE_DIR": cache, "NUMBA_CACHE_DIR": cache}
        env["PYTHONPATH"] = str(ROOT)
        try:
            done = subprocess.run(
                [sys.executable, "-c", CHILD, form, str(steps), str(hidden)],
                capture_output=True, text=True, timeout=timeout, env=env, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return f"no answer within {timeout:.0f} s"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return last[:90]
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="10,50,200")
    parser.add_argument("--hidden", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    print(f"Elman RNN, H = {args.hidden}, D = 3; cold caches, one process per row\n")
    print("| T | written as | SymPy builds the loss | Model() to first gradient | model function |")
    print("|---|---|---|---|---|")
    for steps in (int(s) for s in args.steps.split(",")):
        for form in ("loop", "scan"):
            result = measure(form, steps, args.hidden, args.timeout)
            name = "Python loop" if form == "loop" else "nn.scan"
            if isinstance(result, str):
                print(f"| {steps} | {name} | {result} | – | – |")
                continue
            print(
                f"| {steps} | {name} | {result['sympy']:.2f} s | {result['build']:.1f} s | "
                f"{result['lines']} lines |"
            )


if __name__ == "__main__":
    main()
