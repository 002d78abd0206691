"""Least squares: symbp against SciPy with NumPy (sympy.lambdify) and JAX Jacobians.

Three studies on NIST's StRD nonlinear regression problems (``tests/nist_problems.py``)
and one large synthetic curve, one run on this machine:

1. **accuracy**: every problem from both starting points, ``trainer.least_squares``
   (``trf``, ``lm``) and SciPy's ``least_squares`` with the exact Jacobian (sympy.diff +
   lambdify), and ``trainer.minimize`` on the summed squares (``trust-exact``,
   ``L-BFGS-B``, ``Newton-CG``): how many of the 54 runs reach 4 correct digits in
   every parameter (NIST's log relative error);
2. **one residual + Jacobian evaluation** (the median of many, warm): symbp's compiled
   kernel (one pass), NumPy from ``sympy.lambdify`` (residual and Jacobian functions) and
   JAX ``jit`` of the residual and of ``jacfwd`` (float64);
3. **one whole fit** (Start 2, warm): symbp's ``least_squares`` (``trf`` and ``lm``),
   SciPy's ``least_squares`` with the lambdified Jacobian (``trf``, ``lm``) and with the
   JAX one (``trf``), and ``curve_fit`` (``leastsq``'s MINPACK ``lm``) with the
   lambdified Jacobian.

Run from the repository root: ``python benchmarks/least_squares.py`` (``--quick``: the
accuracy study on the first problems only). Writes ``benchmarks/least_squares.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import sympy as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from nist_problems import BY_NAME, PROBLEMS, Problem, digits, model  # noqa: E402

import symbp  # noqa: E402

TIGHT = {"ftol": 1e-15, "xtol": 1e-15, "gtol": 1e-15}
TIMED = ("Misra1a", "Thurber", "Bennett5", "Hahn1")


def quiet(func, *args, **kwargs):
    """``func(*args, **kwargs)`` without warnings; None when it raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return func(*args, **kwargs)
        except Exception:
            return None


class Lambdified:
    """A problem's residuals and exact Jacobian as NumPy functions (sympy.diff + lambdify)."""

    def __init__(self, problem: Problem, data: dict[str, np.ndarray]):
        cols = [c for c in problem.columns if c != "y"]
        self.inputs = [data[c] for c in cols]
        self.y = data["y"]
        expr = problem.expression()
        symbols = [*map(sp.Symbol, cols), *(sp.Symbol(n, real=True) for n in problem.names)]
        params = symbols[len(cols) :]
        self.f = sp.lambdify(symbols, expr, "numpy")
        self.grads = [sp.lambdify(symbols, sp.diff(expr, p), "numpy") for p in params]

    def residuals(self, p):
        return self.f(*self.inputs, *p) - self.y

    def jacobian(self, p):
        shape = self.y.shape
        return np.stack([np.broadcast_to(g(*self.inputs, *p), shape) for g in self.grads], 1)


class Jax:
    """A problem's residuals and ``jit(jacfwd)`` Jacobian in JAX (float64)."""

    def __init__(self, problem: Problem, data: dict[str, np.ndarray]):
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        cols = [c for c in problem.columns if c != "y"]
        symbols = [*map(sp.Symbol, cols), *(sp.Symbol(n, real=True) for n in problem.names)]
        f = sp.lambdify(symbols, problem.expression(), jnp)
        inputs = [jnp.asarray(data[c]) for c in cols]
        y = jnp.asarray(data["y"])

        def residuals(p):
            return f(*inputs, *p) - y

        self.r = jax.jit(residuals)
        self.j = jax.jit(jax.jacfwd(residuals))

    def residuals(self, p):
        return np.asarray(self.r(p))

    def jacobian(self, p):
        return np.asarray(self.j(p))


def median_time(func, budget=0.5, least=5):
    """Median seconds of ``func()`` over repeats filling about ``budget`` seconds."""
    func()
    times = []
    start = time.perf_counter()
    while len(times) < least or time.perf_counter() - start < budget:
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
        if len(times) > 100_000:
            break
    return statistics.median(times)


def accuracy(problems):
    """4-digit counts over both starts: symbp's and SciPy's least_squares, and minimize."""
    from scipy.optimize import least_squares

    counts = {k: 0 for k in ("symbp trf", "symbp lm", "scipy trf", "scipy lm",
                             "minimize trust-exact", "minimize L-BFGS-B", "minimize Newton-CG")}  # fmt: skip
    misses = []
    for problem in problems:
        trainer = model(problem).compile()
        data = problem.data()
        exact = Lambdified(problem, data)
        for start in (1, 2):
            x0 = problem.start(start)
            for method in ("trf", "lm"):
                fit = quiet(trainer.least_squares, x0, data, method=method, **TIGHT, max_nfev=10000)
                ok = fit is not None and digits(problem, fit.params) >= 4
                counts[f"symbp {method}"] += ok
                ref = quiet(least_squares, exact.residuals, list(x0.values()), jac=exact.jacobian,
                            method=method, **TIGHT, max_nfev=10000)  # fmt: skip
                theirs = (
                    ref is not None
                    and digits(problem, dict(zip(problem.names, ref.x, strict=True))) >= 4
                )
                counts[f"scipy {method}"] += theirs
                if theirs and not ok:
                    misses.append(f"{problem.name} start {start} {method}")
            for method in ("trust-exact", "L-BFGS-B", "Newton-CG"):
                fit = quiet(trainer.minimize, x0, data, method=method)
                counts[f"minimize {method}"] += fit is not None and digits(problem, fit.params) >= 4
    return counts, misses


def large_problem(n=100_000):
    """A synthetic problem: 3 parameters, ``n`` points of a decaying exponential."""
    rng = np.random.default_rng(0)
    xs = np.linspace(0, 5, n)
    ys = 2.5 * np.exp(-1.3 * xs) + 0.5 + 0.01 * rng.normal(size=n)
    table = "\n".join(f"{float(a)!r} {float(b)!r}" for a, b in zip(ys, xs, strict=True))
    return Problem("Exp100k", "synthetic", "b1*exp(-b2*x) + b3", ("y", "x"),
                   (("b1", 1.0, 2.0, 2.5, 0.0), ("b2", 1.0, 1.0, 1.3, 0.0),
                    ("b3", 0.0, 0.4, 0.5, 0.0)), 0.0, table)  # fmt: skip


def time_problem(problem, have_jax):
    """``(evaluation row, fit row)`` of one problem: each contestant's median seconds."""
    from scipy.optimize import curve_fit, least_squares

    data = problem.data()
    trainer = model(problem).compile()
    x0 = problem.start(2)
    p0 = np.array(list(x0.values()))
    module = trainer.jacobian_module(None)
    runtime, spec = module.RUNTIME, module.SPEC
    theta = runtime.pack_params(spec, x0)
    n, arrays = runtime.check_data(spec, data)
    exact = Lambdified(problem, data)
    contestants = {
        "symbp": lambda: runtime.jacobian_values(spec, theta, n, arrays),
        "NumPy (lambdify)": lambda: (exact.residuals(p0), exact.jacobian(p0)),
    }
    fits = {
        "symbp trf": lambda: trainer.least_squares(x0, data, **TIGHT),
        "SciPy trf + NumPy J": lambda: least_squares(
            exact.residuals, p0, jac=exact.jacobian, **TIGHT),
        "symbp lm": lambda: trainer.least_squares(x0, data, method="lm", **TIGHT),
        "SciPy lm + NumPy J": lambda: least_squares(
            exact.residuals, p0, jac=exact.jacobian, method="lm", **TIGHT),
        "curve_fit (lm) + NumPy J": lambda: curve_fit(
            lambda _x, *p: exact.f(*exact.inputs, *p), None, exact.y, p0=p0,
            jac=lambda _x, *p: exact.jacobian(p), **TIGHT),
    }  # fmt: skip
    if have_jax:
        jx = Jax(problem, data)
        contestants["JAX jit(jacfwd)"] = lambda: (jx.residuals(p0), jx.jacobian(p0))
        fits["SciPy trf + JAX J"] = lambda: least_squares(
            jx.residuals, p0, jac=jx.jacobian, **TIGHT
        )
    evaluation = (problem.name, n, {k: median_time(f) for k, f in contestants.items()})
    whole = {k: median_time(lambda f=f: quiet(f), budget=1.0, least=3) for k, f in fits.items()}
    return evaluation, (problem.name, n, whole)


def timings(problems):
    """Per evaluation and per fit, each contestant, as table rows."""
    try:
        import jax  # noqa: F401

        have_jax = True
    except ImportError:
        have_jax = False
    rows = [time_problem(problem, have_jax) for problem in problems]
    return [r[0] for r in rows], [r[1] for r in rows]


def fmt(seconds):
    """A duration in the unit that suits it."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def table(rows, title):
    """Markdown: one row per problem, one column per contestant."""
    names = list(rows[0][2])
    out = [f"| {title} | n | " + " | ".join(names) + " |",
           "| --- | ---: | " + " | ".join("---:" for _ in names) + " |"]  # fmt: skip
    for problem, n, times in rows:
        out.append(f"| {problem} | {n} | " + " | ".join(fmt(times[k]) for k in names) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="accuracy on 4 problems only")
    args = parser.parse_args()
    import numba
    import scipy

    try:
        import jax

        jax_version = jax.__version__
    except ImportError:
        jax_version = "not installed"
    machine = (
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, NumPy {np.__version__}, "
        f"SciPy {scipy.__version__}, SymPy {sp.__version__}, Numba {numba.__version__}, "
        f"JAX {jax_version}, symbp {symbp.__version__}"
    )
    problems = PROBLEMS[:4] if args.quick else PROBLEMS
    counts, misses = accuracy(problems)
    runs = 2 * len(problems)
    lines = [
        "# Least squares: symbp against SciPy with NumPy and JAX Jacobians",
        "",
        f"One run of `python benchmarks/least_squares.py` on {machine}.",
        "",
        f"## Accuracy: runs reaching 4 correct digits in every parameter ({runs} runs: "
        f"{len(problems)} NIST StRD problems, two starts each)",
        "",
        "| solver | runs |",
        "| --- | ---: |",
        *(f"| {k} | {v} of {runs} |" for k, v in counts.items()),
        "",
        "SciPy's `least_squares` gets the exact Jacobian (sympy.diff, lambdify); every solver "
        "has tolerances 1e-15 and at most 10,000 evaluations; `minimize` runs on the summed "
        "squared residual with SciPy's defaults."
        + (f" Runs SciPy solves and symbp does not: {', '.join(misses)}." if misses else ""),
        "",
    ]
    print("\n".join(lines), flush=True)
    timed = [BY_NAME[name] for name in TIMED] + [large_problem()]
    eval_rows, fit_rows = timings(timed)
    lines += [
        "## One evaluation of the residuals and their Jacobian (median, warm)",
        "",
        table(eval_rows, "problem"),
        "",
        "## One whole fit from Start 2 (median, warm)",
        "",
        table(fit_rows, "problem"),
        "",
        "Exp100k: `b1 exp(-b2 x) + b3` on 100,000 synthetic points.",
        "",
    ]
    text = "\n".join(lines)
    print(
        "\n".join(
            lines[
                lines.index(
                    "## One evaluation of the residuals and their Jacobian (median, warm)"
                ) :
            ]
        )
    )
    if not args.quick:
        (ROOT / "benchmarks" / "least_squares.md").write_text(text)


if __name__ == "__main__":
    main()
