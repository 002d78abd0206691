"""What symbp's divergence check costs in the W1 fit kernels.

Usage (from the repository root)::

    python benchmarks/ablate_divergence.py [--rounds 60]

W1 is the seed-001 2-3-1 linear network ``((x*W1*W2)[0, 0] - y)**2`` (x a 1x2 input,
y a scalar target, mean reduction) trained 3000 steps on minibatches of 8 of its 32
samples, with the data and initial parameters of ``benchmarks/workloads.py``, for
each of W1-sgd (SGD lr 1e-3), W1-momentum (momentum 0.9) and W1-adam (Adam lr 1e-3),
in float64 and float32. For each, this generates symbp's module
(``model.module_source(optimizer, dtype)``) and a variant with the divergence check
removed by text substitution (it stops with an error if they no longer match):

* the test after every step's batch loss
  (``if not math.isfinite(_losses[_it]): _done = _it; break``);
* the loop over ``_theta`` after the last step that writes the first non-finite
  parameter to ``_info[1]`` (``_info[1] = -1.0`` stays: the drivers read it).

Both variants' ``_kernel`` (the driver: modes, batches, the optimizer's update and
these checks, around the model's inlined ``loss_and_grad``) are called in FIT mode
directly on the same inputs, validated once by the runtime (``RUNTIME.check_hyper``,
``pack_params``, ``check_data``, ``schedule``, ``initial_slots``; theta and the
optimizer state copied before each call, outside the timing),
interleaved over ``--rounds`` rounds (the order alternates between rounds). Prints the
machine, then a Markdown table: median, min and per-step time of each variant, and the
check's cost (median with it minus median without, in percent of the median without).
The variants are throwaway files in a temporary directory, with the runtime they
import (``symbp_runtime/``, written by ``symbp.emit.module.write_runtime``); asserts
nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORKLOADS = ("W1-sgd", "W1-momentum", "W1-adam")
DTYPES = ("float64", "float32")
STEPS, BATCH = 3000, 8

#: The divergence check of the generated kernel, and what replaces it.
CHECK_EDITS = [
    (
        "            if not math.isfinite(_losses[_it]):\n"
        "                _done = _it\n"
        "                break\n",
        "",
    ),
    (
        "        _info[1] = -1.0\n"
        "        for _j in range(_theta.shape[0]):\n"
        "            if not math.isfinite(_theta[_j]):\n"
        "                _info[1] = _j\n"
        "                break\n",
        "        _info[1] = -1.0\n",
    ),
]


def substitute(text: str, edits: list[tuple[str, str]], label: str) -> str:
    """``text`` with every ``old`` replaced by ``new``; stops if an ``old`` is missing."""
    for old, new in edits:
        if old not in text:
            raise SystemExit(
                f"{label}: the generated kernel no longer contains {old!r}; "
                "update the substitutions to the kernel symbp generates now"
            )
        text = text.replace(old, new)
    return text


def kernel_text(source: str) -> str:
    """The source of the ``_kernel`` function of a generated module (to the next line
    that is not indented)."""
    start = source.index("def _kernel(")
    end = re.compile(r"\n(?=\S)").search(source, start)
    return source[start : end.start() if end else len(source)]


def load(path: Path):
    """Import a generated module from ``path`` (the runtime must be next to it)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def machine() -> str:
    """CPU, usable cores and load (benchmarks/run.py's description when available)."""
    try:
        from benchmarks.machine import machine_info

        info = machine_info()
        return f"{info['cpu']}, {info['usable_cores']} usable cores, load {info['load_start']}"
    except (ImportError, AttributeError, KeyError):
        return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def declare():
    """The W1 model (the seed-001 network, as the symbp contestant declares it)."""
    import sympy as sp

    import symbp

    x, y = sp.MatrixSymbol("x", 1, 2), sp.Symbol("y")
    W1, W2 = sp.MatrixSymbol("W1", 2, 3), sp.MatrixSymbol("W2", 3, 1)
    return symbp.Model(
        ((x * W1 * W2)[0, 0] - y) ** 2,
        params=[W1, W2],
        inputs=[x],
        targets=[y],
        reduction="mean",
        name="w1_divergence",
    )


def optimizer(spec):
    """symbp's optimizer for a workload's (PyTorch-convention) optimizer settings."""
    from symbp import optim

    if spec.name == "sgd":
        return optim.SGD(lr=spec.lr)
    if spec.name == "momentum":
        return optim.SGD(lr=spec.lr, momentum=spec.momentum)
    if spec.name == "adam":
        return optim.Adam(lr=spec.lr, betas=(spec.beta1, spec.beta2), eps=spec.eps)
    raise ValueError(spec.name)


def prepare(model, name: str, dtype: str, folder: Path, index: int) -> dict:
    """The two variants' kernel calls for one workload and dtype."""
    from benchmarks import workloads

    wl = workloads.get(name, dtype)
    source = model.module_source(optimizer(wl.optimizer), dtype).text
    label = f"{name} {dtype}"
    edited = substitute(source, CHECK_EDITS, label)
    if "isfinite" in kernel_text(edited):
        raise SystemExit(f"{label}: the kernel still tests finiteness after the substitutions")
    from symbp.emit.module import write_runtime

    write_runtime(folder)  # the symbp_runtime/ the modules import
    modules = {}
    for k, (variant, text) in enumerate((("with check", source), ("without check", edited))):
        path = folder / f"w1_divergence_{index}_{k}.py"
        path.write_text(text)
        modules[variant] = load(path)
    # the inputs, validated once by the runtime of the module as generated, shared by
    # both variants
    module = modules["with check"]
    spec, runtime = module.SPEC, module.RUNTIME
    constants, inits = runtime.check_hyper(spec, None)
    theta0 = runtime.pack_params(spec, {"W1": wl.params["W1"], "W2": wl.params["W2"]})
    data = {"x": wl.data["x"], "y": np.ascontiguousarray(wl.data["y"][:, 0])}
    n, arrays = runtime.check_data(spec, data)
    steps, batch, _ = runtime.schedule(n, BATCH, STEPS, None)
    slots0 = runtime.initial_slots(spec, inits)
    losses = np.empty(steps, dtype=spec.dtype)
    info = np.zeros(2)
    calls = {}
    for variant, mod in modules.items():

        def call(kernel=mod.SPEC.kernel, fit=runtime.FIT):
            theta, slots = theta0.copy(), slots0.copy()
            start = time.perf_counter()
            # mode, theta, slots, grad (unused by FIT), t0, steps, batch, lo, hi, ...
            done = kernel(
                fit, theta, slots, theta, 0, steps, batch, 0, n, losses, info, constants,
                *arrays,
            )  # fmt: skip
            elapsed = time.perf_counter() - start
            return elapsed, done, theta

        calls[variant] = call
    results = [call()[1:] for call in calls.values()]  # compile, and compare the results
    (done_a, theta_a), (done_b, theta_b) = results
    same = done_a == done_b == steps and np.array_equal(theta_a, theta_b)
    return {"calls": calls, "same": same, "steps": steps}


def main(argv: list[str] | None = None) -> int:
    import numba

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=60)
    args = ap.parse_args(argv)

    model = declare()
    cases = {}
    with tempfile.TemporaryDirectory(prefix="symbp-ablate-divergence-") as tmp:
        for name in WORKLOADS:
            for dtype in DTYPES:
                cases[(name, dtype)] = prepare(model, name, dtype, Path(tmp), len(cases))
        times = {(key, v): [] for key, case in cases.items() for v in case["calls"]}
        for r in range(args.rounds):
            for key, case in cases.items():
                variants = list(case["calls"].items())
                for variant, call in variants if r % 2 == 0 else variants[::-1]:
                    times[(key, variant)].append(call()[0])
    print(f"Machine: {machine()}; numpy {np.__version__}, numba {numba.__version__}")
    print(f"{args.rounds} interleaved rounds of {STEPS} steps, batches of {BATCH}, one thread\n")
    print("| workload | dtype | variant | median | min | per step | check's cost |")
    print("|---|---|---|---|---|---|---|")
    for (name, dtype), case in cases.items():
        base = statistics.median(times[((name, dtype), "without check")])
        for variant in case["calls"]:
            values = times[((name, dtype), variant)]
            median = statistics.median(values)
            cost = f"{(median - base) / base * 100:+.1f}%" if variant == "with check" else "–"
            print(
                f"| {name} | {dtype} | {variant} | {median * 1e6:.0f} µs | "
                f"{min(values) * 1e6:.0f} µs | {median / case['steps'] * 1e9:.0f} ns | {cost} |"
            )
    differ = [f"{n} {d}" for (n, d), case in cases.items() if not case["same"]]
    print(
        "\nBoth variants give bit-identical parameters."
        if not differ
        else f"\nThe variants' results differ for: {', '.join(differ)}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
