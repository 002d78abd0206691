"""What symbp's W2 fit kernel spends beyond the hand-written Numba loop.

Usage (from the repository root)::

    python benchmarks/ablate_w2.py [--rounds 40]

W2 is the seed-002 regression ``(w*x + b - y)**2`` on the 50 points of
``benchmarks/workloads.py``'s W2 (full batch, mean, 3000 SGD steps lr 0.01), where
``numba_hand`` has been faster than symbp in float64. This generates symbp's module for
the model (``model.module_source``), then removes by text substitution, one at a time
and together, what the hand kernel does not do:

* ``loss``: the batch loss of every step (symbp returns it as ``fit.losses``): the
  ``_loss += L`` of each sample in the model function ``loss_and_grad`` (inlined into
  ``_kernel``) and the per-step ``_losses[_it] = _total / _count`` of the driver;
* ``check``: the divergence check, the per-step test of that loss and the final loop
  that finds the first non-finite parameter (``benchmarks/ablate_divergence.py``
  measures it alone, on W1 with three optimizers).

Two earlier ablations no longer apply and were dropped: ``index`` (reading samples
through the epoch's order, ``_s = _idx[_r]``): the kernel reads consecutive rows only
(a shuffled fit runs per epoch on the permuted data); and ``memory`` (accumulating
the gradient in ``_grad[j]``): the gradient sums are kept in local scalars
(``grad_w``, ``grad_b``), as in the hand kernel. It stops with an error if a
substitution no longer matches the generated module.

Each variant's ``_kernel`` (``SPEC.kernel``) is called in FIT mode directly on the
same inputs, validated once by the module's runtime (theta copied before each call,
outside the timing), interleaved over rounds; prints median, min and per-step time
per variant. The variants are throwaway files in a temporary directory, with the
runtime they import (``symbp_runtime/``); asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ablate_divergence import CHECK_EDITS, load, substitute  # noqa: E402

STEPS = 3000


def _edits() -> dict[str, list[tuple[str, str]]]:
    loss = [
        ("        _loss += L\n", ""),  # in loss_and_grad's sample loop
        ("            _losses[_it] = _total / _count\n", "            _losses[_it] = 0.0\n"),
    ]
    return {
        "as generated": [],
        "no loss": loss,
        "no check": CHECK_EDITS,
        "neither": loss + CHECK_EDITS,
    }


def _fit_call(module, params: dict, data: dict):
    """The module's kernel in FIT mode on inputs validated once: returns its seconds."""
    spec, runtime = module.SPEC, module.RUNTIME
    constants, inits = runtime.check_hyper(spec, None)
    theta0 = runtime.pack_params(spec, params)
    n, arrays = runtime.check_data(spec, data)
    slots = runtime.initial_slots(spec, inits)  # SGD: no state
    losses, info = np.empty(STEPS, dtype=spec.dtype), np.zeros(2)
    kernel, fit = spec.kernel, runtime.FIT

    def call() -> float:
        theta = theta0.copy()
        start = time.perf_counter()
        # mode, theta, slots, grad (unused by FIT), t0, steps, batch (full), lo, hi, ...
        kernel(
            fit, theta, slots, theta, 0, STEPS, n, 0, n, losses, info, constants, *arrays,
        )  # fmt: skip
        return time.perf_counter() - start

    return call


def main(argv: list[str] | None = None) -> int:
    import sympy as sp

    import symbp
    from benchmarks import workloads
    from symbp import optim
    from symbp.emit.module import write_runtime

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args(argv)

    wl = workloads.get("W2", "float64")
    params = {k: float(v) for k, v in wl.params.items()}
    w, b, x, y = sp.symbols("w b x y")
    model = symbp.Model(
        (w * x + b - y) ** 2, params=[w, b], inputs=[x], targets=[y], reduction="mean", name="w2"
    )
    source = model.module_source(optim.SGD(lr=wl.optimizer.lr), "float64").text
    calls = {}
    with tempfile.TemporaryDirectory() as tmp:
        write_runtime(tmp)  # the symbp_runtime/ the variants import
        for k, (name, edits) in enumerate(_edits().items()):
            path = Path(tmp) / f"w2_variant_{k}.py"
            path.write_text(substitute(source, edits, name))
            call = _fit_call(load(path), params, wl.data)
            call()  # compile
            calls[name] = call
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.rounds):
            for name, call in calls.items():
                times[name].append(call())
    print(f"| W2 fit kernel, float64, {STEPS} steps | median | min | per step |")
    print("|---|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"| {name} | {median * 1e6:.0f} µs | {min(values) * 1e6:.0f} µs | "
            f"{median / STEPS * 1e9:.0f} ns |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
