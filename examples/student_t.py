"""Robust regression with a Student-t likelihood: location, scale and degrees of freedom learnt.

Needs only ``pip install -e .``. Run from the repository root:
``python examples/student_t.py``.

``y = a + b x + s e`` with ``e`` drawn from a Student-t distribution with ``nu``
degrees of freedom. The per-sample loss is the negative log-likelihood

    -log p(y) = log G(nu/2) - log G((nu+1)/2) + log(pi nu)/2 + log s
                + (nu+1)/2 log(1 + r^2/nu),   r = (y - a - b x) / s,

with ``G`` the gamma function (``sp.loggamma``): its gradient in ``nu`` needs the
digamma function, which symbp compiles into the kernel (no SciPy at run time). The
scale and the degrees of freedom are learnt on the log scale (``s = exp(log_s)``,
``nu = exp(log_nu)``) so they stay positive. Least squares on the same data is pulled
about by the heavy tails; the Student-t fit is not. The loss is checked against
``scipy.stats.t.logpdf``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from _shared import build_all

import symbp
from symbp import optim

a, b, log_s, log_nu = sp.symbols("a b log_s log_nu", real=True)
x, y = sp.symbols("x y", real=True)
nu, s = sp.exp(log_nu), sp.exp(log_s)
r = (y - a - b * x) / s
nll = (
    sp.loggamma(nu / 2)
    - sp.loggamma((nu + 1) / 2)
    + sp.log(sp.pi * nu) / 2
    + log_s
    + (nu + 1) / 2 * sp.log(1 + r**2 / nu)
)
model = symbp.Model(nll, params=[a, b, log_s, log_nu], inputs=[x], targets=[y], name="student_t")
MODULES = {"student_t": (model, optim.Adam(lr=0.05), "float64")}
TRUTH = {"a": 1.5, "b": -0.7, "s": 0.5, "nu": 3.0}


def dataset(n: int = 400, seed: int = 0) -> dict[str, np.ndarray]:
    """Points on the line ``a + b x`` with Student-t noise (TRUTH's parameters)."""
    rng = np.random.default_rng(seed)
    xs = rng.uniform(-3, 3, n)
    noise = TRUTH["s"] * rng.standard_t(TRUTH["nu"], n)
    return {"x": xs, "y": TRUTH["a"] + TRUTH["b"] * xs + noise}


def scipy_nll(params: dict, data: dict) -> float:
    """The same mean negative log-likelihood from scipy.stats (the oracle)."""
    from scipy import stats

    loc = params["a"] + params["b"] * data["x"]
    dist = stats.t(np.exp(params["log_nu"]), loc=loc, scale=np.exp(params["log_s"]))
    return float(-dist.logpdf(data["y"]).mean())


def main() -> None:
    kernels = build_all("student_t.py", MODULES)["student_t"]
    data = dataset()
    start = {"a": 0.0, "b": 0.0, "log_s": 0.0, "log_nu": np.log(10.0)}
    fit = kernels.fit(start, data, steps=3000)
    p = fit.params
    print(
        f"Student-t fit:  a = {p['a']:.3f}, b = {p['b']:.3f}, s = {np.exp(p['log_s']):.3f}, "
        f"nu = {np.exp(p['log_nu']):.2f}   (truth: a = {TRUTH['a']}, b = {TRUTH['b']}, "
        f"s = {TRUTH['s']}, nu = {TRUTH['nu']})"
    )
    slope, intercept = np.polyfit(data["x"], data["y"], 1)
    print(f"least squares:  a = {intercept:.3f}, b = {slope:.3f}")
    print(
        f"mean negative log-likelihood: symbp {kernels.loss(p, data):.12f}, "
        f"scipy.stats.t {scipy_nll(p, data):.12f}"
    )


if __name__ == "__main__":
    main()
