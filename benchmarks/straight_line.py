"""How long Numba takes to compile straight-line (scalar-level) kernels, by size.

Usage (from the repository root)::

    python benchmarks/straight_line.py [--sizes 4x8,8x16,8x32,16x32,16x40,16x64]

Each size ``n x h`` is an n-h-1 tanh network multiplied out element by element (explicit
matrices, so symbp takes the scalar path), trained for 10 minibatch steps from an empty
cache in a new process. The table gives the sweep's step count (what
``symbp.levels.STRAIGHT_LINE_LIMIT`` bounds), the statements after simplification, and
the seconds from declaring to the first fit result. Models above the limit are built
with the limit lifted. No assertions: this is where the limit comes from.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import sys, time
import numpy as np, sympy as sp
import symbp, symbp.levels
from symbp.derive.scalar import SCALAR
from symbp.derive.sweep import count_steps

symbp.levels.STRAIGHT_LINE_LIMIT = 10**9  # measure above the limit too
n, h = int(sys.argv[1]), int(sys.argv[2])
x, y = sp.MatrixSymbol("x", 1, n), sp.Symbol("y")
W1, b1, W2 = sp.MatrixSymbol("W1", n, h), sp.MatrixSymbol("b1", 1, h), sp.MatrixSymbol("W2", h, 1)
hidden = (x.as_explicit() * W1.as_explicit() + b1.as_explicit()).applyfunc(sp.tanh)
loss = ((hidden * W2.as_explicit())[0, 0] - y) ** 2
start = time.perf_counter()
model = symbp.Model(loss, params=[W1, b1, W2], inputs=[x], targets=[y], name=f"sl_{n}_{h}")
trainer = model.compile(symbp.optim.SGD(lr=0.01))
rng = np.random.default_rng(0)
data = {"x": rng.normal(size=(64, n)), "y": rng.normal(size=64)}
params = {"W1": rng.normal(size=(n, h)), "b1": np.zeros((1, h)), "W2": rng.normal(size=(h, 1))}
trainer.fit(params, data, steps=10, batch_size=8)
elapsed = time.perf_counter() - start
print(count_steps(model.scalar, model.variables, SCALAR), len(model.program.statements), elapsed)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="4x8,8x16,8x32,16x32,16x40,16x64")
    args = parser.parse_args()
    print("| network | sweep steps | statements | declare -> first fit (s) |")
    print("|---|---|---|---|")
    for size in args.sizes.split(","):
        n, h = size.split("x")
        with tempfile.TemporaryDirectory() as cache:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, n, h],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "SYMBP_CACHE_DIR": cache},
                cwd=ROOT,
            )
        steps, statements, seconds = out.stdout.split()
        print(f"| {n}-{h}-1 | {steps} | {statements} | {float(seconds):.1f} |", flush=True)


if __name__ == "__main__":
    main()
