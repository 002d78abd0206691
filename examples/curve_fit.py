"""Least-squares curve fitting: symbp's least_squares and standard errors next to curve_fit's.

Needs only ``pip install -e .`` (its figure needs the ``plot`` extra,
``pip install -e ".[plot]"``). Run from the repository root: ``python examples/curve_fit.py``.

``y = a exp(-b x) + c`` on 60 noisy points: ``trainer.least_squares`` runs
``scipy.optimize.least_squares`` on the compiled residuals and their exact Jacobian and
reports the standard errors (``fit.stderr``), next to ``scipy.optimize.curve_fit``
(Levenberg-Marquardt, finite-difference Jacobian) on the same data; ``trainer.minimize``
(L-BFGS-B, and Newton-CG with the exact Hessian-vector product) on the mean squared
residual reaches the same parameters. The plot ``examples/output/curve_fit.png`` shows
the data and the fitted curves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sympy as sp

import symbp

a, b, c, x, y = sp.symbols("a b c x y", real=True)
curve = a * sp.exp(-b * x) + c
model = symbp.Model(
    (curve - y) ** 2, params=[a, b, c], inputs=[x], targets=[y], outputs={"curve": curve},
    name="curve_fit",
)  # fmt: skip
TRUTH = {"a": 2.5, "b": 1.3, "c": 0.5}
START = {"a": 1.0, "b": 1.0, "c": 0.0}


def dataset(seed: int = 5) -> dict[str, np.ndarray]:
    """60 points of the true curve with Gaussian noise of 0.05."""
    rng = np.random.default_rng(seed)
    xs = np.linspace(0, 4, 60)
    return {
        "x": xs,
        "y": TRUTH["a"] * np.exp(-TRUTH["b"] * xs) + TRUTH["c"] + 0.05 * rng.normal(size=60),
    }


def main() -> None:
    from scipy.optimize import curve_fit

    data = dataset()
    trainer = model.compile()
    lsq = trainer.least_squares(START, data)
    popt, pcov = curve_fit(
        lambda v, a_, b_, c_: a_ * np.exp(-b_ * v) + c_,
        data["x"],
        data["y"],
        p0=list(START.values()),
    )
    print("                        a                     b                     c")
    print(f"{'least_squares':<14}" + "".join(
        f"{lsq.params[k]:9.6f} ± {lsq.stderr[k]:8.6f}  " for k in "abc"))  # fmt: skip
    print(f"{'curve_fit':<14}" + "".join(
        f"{v:9.6f} ± {e:8.6f}  " for v, e in zip(popt, np.sqrt(np.diag(pcov)), strict=True)))  # fmt: skip
    print(f"least_squares: {lsq.result.nfev} residual evaluations, {lsq.result.njev} Jacobians")
    worst = max(
        abs(lsq.stderr[k] / e - 1) for k, e in zip("abc", np.sqrt(np.diag(pcov)), strict=True)
    )
    print(f"largest relative difference of the standard errors to curve_fit's: {worst:.1e}")
    lbfgs = trainer.minimize(START, data, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-16})
    newton = trainer.minimize(START, data, method="Newton-CG", options={"xtol": 1e-12})
    print("\nminimize on the mean squared residual:")
    print("                a          b          c      iterations")
    for label, fit in (("L-BFGS-B", lbfgs), ("Newton-CG", newton)):
        values = "".join(f"{fit.params[k]:11.6f}" for k in "abc")
        print(f"{label:<12}{values}{fit.result.nit:>10}")
    print(f"largest relative difference to least_squares: "
          f"{max(abs(lbfgs.params[k] / lsq.params[k] - 1) for k in 'abc'):.1e}")  # fmt: skip
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the optional plot extra
        return
    grid = {"x": np.linspace(0, 4, 200)}
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(data["x"], data["y"], "o", ms=3, color="0.4", label="data")
    ax.plot(
        grid["x"],
        trainer.predict(lsq.params, grid)["curve"],
        lw=2,
        label="symbp least_squares",
    )
    ax.plot(grid["x"], popt[0] * np.exp(-popt[1] * grid["x"]) + popt[2], "--", lw=1.5,
            label="scipy.optimize.curve_fit")  # fmt: skip
    ax.set(xlabel="x", ylabel="y", title=r"$y = a\,e^{-bx} + c$")
    ax.legend()
    out = Path(__file__).resolve().parent / "output" / "curve_fit.png"
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=100, bbox_inches="tight")
    print(f"plot: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")


if __name__ == "__main__":
    main()
