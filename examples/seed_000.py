"""Seed 000: gradient descent on one parameter, loss (w + 1)^2, as in the TensorFlow course.

Needs only ``pip install -e .``. Run from the repository root:
``python examples/seed_000.py``.

w starts at 5, learning rate 0.2, 40 steps, float32. Each line prints w after the update
and the loss computed before it, exactly as the seed's eager-TensorFlow program does.
"""

from __future__ import annotations

import sympy as sp
from _shared import build_all

import symbp
from symbp import optim

w = sp.Symbol("w")
model = symbp.Model((w + 1) ** 2, params=[w], name="seed_000")
LR = 0.2
STEPS = 40
MODULES = {"seed_000": (model, optim.SGD(lr=LR), "float32")}


def trace(kernels, w0: float = 5.0, steps: int = STEPS) -> list[str]:
    """The seed's 40 printed lines: w after each update, loss before it."""
    lines = []
    params, state = {"w": w0}, None
    for epoch in range(steps):
        fit = kernels.fit(params, steps=1, state=state)
        params, state = fit.params, fit.state
        line = "After %s epoch,w is %f,loss is %f" % (epoch, params["w"], fit.losses[0])  # noqa: UP031
        lines.append(line)
    return lines


def main() -> None:
    kernels = build_all("seed_000.py", MODULES)["seed_000"]
    print(f"loss (w + 1)^2, gradient {model.gradients()['w']}, generated/seed_000.py")
    for line in trace(kernels):
        print(line)
    print("The seed suggests other learning rates too (float32, 40 steps from w = 5):")
    for lr in (0.001, 0.999):
        fit = model.compile(optim.SGD(lr=lr), "float32").fit({"w": 5.0}, steps=STEPS)
        print(f"  lr={lr}: w = {fit.params['w']:.6f}, last loss {fit.losses[-1]:.6f}")


if __name__ == "__main__":
    main()
