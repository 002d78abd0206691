"""What symbp's W2 fit kernel spends beyond the hand-written Numba loop.

Usage (from the repository root)::

    python benchmarks/ablate_w2.py [--rounds 40]

W2 is the seed-002 regression (50 samples, full batch, 3000 SGD steps), where
``numba_hand`` is faster than symbp in float64. This generates symbp's module for
the benchmark's model, then removes by text substitution, one at a time and all
together, the three things the hand kernel does not do:

* ``loss``: the batch loss of every step (symbp returns it as ``fit.losses``);
* ``index``: reading samples through the epoch's order (``_s = _idx[_r]``), which
  is what makes ``shuffle=True`` possible;
* ``memory``: accumulating the gradient in ``_grad[j]`` instead of local scalars.

Each variant's ``_fit_kernel`` is called directly on the same validated inputs,
interleaved over rounds; prints median and min per variant. The variants are
throwaway files in a temporary directory; asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _edits() -> dict[str, list[tuple[str, str]]]:
    loss = [
        ("            _total += _v2**2\n", ""),
        ("_losses[_k] = _total / _count", "_losses[_k] = 0.0"),
    ]
    index = [("            _s = _idx[_r]\n", "            _s = _r\n")]
    memory = [
        ("            _grad[0] += x[_s]*_v2_bar\n", "            _gw += x[_s]*_v2_bar\n"),
        ("            _grad[1] += _v2_bar\n", "            _gb += _v2_bar\n"),
        (
            "        for _r in range(_lo, _hi):\n",
            "        _gw = 0.0\n        _gb = 0.0\n        for _r in range(_lo, _hi):\n",
        ),
        (
            "        _count = np.float64(_hi - _lo)\n",
            "        _grad[0] = _gw\n        _grad[1] = _gb\n        _count = np.float64(_hi - _lo)\n",
        ),
    ]
    return {
        "as generated": [],
        "no loss": loss,
        "no index": index,
        "no memory": memory,
        "none of the three": loss + index + memory,
    }


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    import sympy as sp

    import symbp
    from symbp import optim

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args(argv)

    w, b, x, y = sp.symbols("w b x y")
    model = symbp.Model(
        (w * x + b - y) ** 2, params=[w, b], inputs=[x], targets=[y], reduction="mean", name="w2"
    )
    source = model.module_source(optim.SGD(lr=0.01), "float64").text
    rng = np.random.RandomState(0)
    xs = rng.rand(50)
    ys = 2 * xs + 1 + 0.1 * rng.randn(50)
    calls = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, edits) in enumerate(_edits().items()):
            text = source
            for old, new in edits:
                if old not in text:
                    raise SystemExit(f"{name}: the generated kernel no longer contains {old!r}")
                text = text.replace(old, new)
            path = Path(tmp) / f"w2_variant_{k}.py"
            path.write_text(text)
            module = _load(path)
            spec = module._SPEC
            theta = module.pack_params(spec, {"w": 0.0, "b": 0.0})
            _, arrays = module.check_data(spec, {"x": xs, "y": ys})
            orders = np.arange(50, dtype=np.int64).reshape(1, 50)
            slots, losses = np.empty((0, 2)), np.empty(3000)

            def call(
                spec=spec, theta=theta, arrays=arrays, orders=orders, slots=slots, losses=losses
            ):
                spec.fit_kernel(
                    theta.copy(), slots, orders, 0, False, 0, 3000, 50, 50, losses, *arrays
                )

            call()  # compile
            calls[name] = call
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.rounds):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
    print("| W2 fit kernel, float64, 3000 steps | median | min | per step |")
    print("|---|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"| {name} | {median * 1e6:.0f} µs | {min(values) * 1e6:.0f} µs | "
            f"{median / 3000 * 1e9:.0f} ns |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
