"""Write docs/seeds/seed_00*.md: each seed's story, code and rendered derivation.

Run from the repository root: ``python docs/make_seed_pages.py`` (``--check`` only
compares, for the test that keeps the pages current).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "examples")]

from symbp import optim  # noqa: E402

SEEDS = {
    "seed_000": (
        "Gradient descent on one parameter",
        "The loss $(w + 1)^2$ from $w = 5$ at learning rate 0.2, in float32, reproducing the "
        "TensorFlow course's 40 printed lines character for character. The derivation below "
        "is the sweep the generated kernel runs, with the numbers of the first step.",
        lambda ex: (optim.SGD(lr=0.2), {"w": 5.0}),
    ),
    "seed_001": (
        "A 2-3-1 network trained by backpropagation",
        "$\\hat{y} = x W_1 W_2$ (no bias, no activation), squared error, minibatches of 8 "
        "taken cyclically, 3000 float32 steps at learning rate 0.001. The network is "
        "unrolled to its elements, so the derivation is printed element by element: the "
        "linear units $a_j = \\sum_i x_i W^{(1)}_{ij}$, the residual $r$, and the adjoints.",
        lambda ex: (optim.SGD(lr=0.001), None),
    ),
    "seed_002": (
        "Linear regression",
        "$y = 3x + 0.8$ on 50 points, parameters $w, b$, 3000 full-batch steps of gradient "
        "descent at 0.01. The example also draws the data with the fitted line "
        "(`examples/output/seed_002.png`) and the computational graph with its adjoints "
        "(`examples/output/seed_002_graph.png`). The numbers below are for the first sample "
        "at $w = 0.5$, $b = 0.2$.",
        lambda ex: (optim.SGD(lr=0.01), {"w": 0.5, "b": 0.2, "x": 0.7, "y": 2.9}),
    ),
    "seed_003": (
        "The learning rate, and exponential decay",
        "Seed 000's problem with the course's decaying learning rate "
        "$\\eta_t = 0.1 \\cdot 0.99^{t}$; the example compares 0.001, 0.2, 0.999 and the "
        "decay as loss-versus-step curves (`examples/output/seed_003_learning_rates.png`).",
        lambda ex: (optim.SGD(lr=ex.DECAY), {"w": 5.0}),
    ),
    "seed_004": (
        "The 2-2-2 sigmoid network, one step by hand",
        "$h = \\sigma(W_1 x + b_1)$, $\\hat{y} = \\sigma(W_2 h + b_2)$, "
        "$L = \\sum_k (\\hat{y}_k - t_k)^2 / 2$, one sample, one SGD step at 0.5. Every number "
        "of the seed's worked example appears below: the outputs 0.75136507 and 0.77292847, "
        "$L = 0.29837111$, every gradient and every updated weight. "
        "`symbp latex examples/seed_004.py --pdf ...` gives the same as a PDF.",
        lambda ex: (optim.SGD(lr=0.5), {**ex.PARAMS, **ex.DATA}),
    ),
}


def load(name: str):
    """Import examples/<name>.py without running main()."""
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def page(name: str) -> str:
    """The Markdown of one seed page."""
    title, text, setup = SEEDS[name]
    example = load(name)
    optimizer, values = setup(example)
    latex = example.model.latex(optimizer=optimizer, values=values)
    source = (ROOT / "examples" / f"{name}.py").read_text()
    declaration = source[source.index("\n\n", source.index('"""', 3)) :]
    skip = ("from __future__", "from _shared")
    declaration = "\n".join(x for x in declaration.splitlines() if not x.startswith(skip))
    return (
        f"# {name}: {title}\n\n{text}\n\n"
        f"Run it: `python examples/{name}.py` (or `symbp demo {name}`).\n\n"
        "## The example's code\n\n"
        f"```text\n{declaration.strip()}\n```\n\n"
        f"## The derivation\n\nPrinted by `model.latex(optimizer={optimizer.describe()}"
        f"{', values=...' if values else ''})`:\n\n"
        f"$$\n{latex}\n$$\n"
    )


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for name in SEEDS:
        path = ROOT / "docs" / "seeds" / f"{name}.md"
        text = page(name)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(str(path.relative_to(ROOT)))
        if not check:
            path.write_text(text)
    if check and stale:
        print("stale: " + ", ".join(stale) + "; run python docs/make_seed_pages.py")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
