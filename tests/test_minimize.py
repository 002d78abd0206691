"""Trainer.minimize: SciPy's optimizers on the compiled loss, gradient and Hessian."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbp

a, b, c, x, y = sp.symbols("a b c x y", real=True)
CURVE = symbp.Model((a * sp.exp(-b * x) + c - y) ** 2, params=[a, b, c], inputs=[x], targets=[y],
                    name="curve")  # fmt: skip


@pytest.fixture(scope="module")
def curve_data():
    rng = np.random.default_rng(5)
    xs = np.linspace(0, 4, 60)
    return {"x": xs, "y": 2.5 * np.exp(-1.3 * xs) + 0.5 + 0.05 * rng.normal(size=60)}


def test_minimize_reaches_curve_fits_optimum(curve_data):
    optimize = pytest.importorskip("scipy.optimize")
    popt, _ = optimize.curve_fit(
        lambda v, a_, b_, c_: a_ * np.exp(-b_ * v) + c_, curve_data["x"], curve_data["y"],
        p0=[1.0, 1.0, 0.0], xtol=1e-14, ftol=1e-14,
    )  # fmt: skip
    fit = CURVE.compile().minimize(
        {"a": 1.0, "b": 1.0, "c": 0.0}, curve_data, options={"gtol": 1e-12, "ftol": 1e-16}
    )
    assert fit.result.success
    np.testing.assert_allclose([fit.params[k] for k in "abc"], popt, rtol=1e-6)
    assert len(fit.losses) == fit.result.nit and np.all(np.diff(fit.losses) <= 1e-15)
    assert fit.losses[-1] == pytest.approx(fit.result.fun)


METHODS = ["BFGS", "CG", "L-BFGS-B", "TNC", "SLSQP", "trust-constr", "Newton-CG", "trust-ncg",
           "trust-krylov", "trust-exact", "Nelder-Mead"]  # fmt: skip


@pytest.mark.parametrize("method", METHODS)
def test_every_method_reaches_the_optimum(curve_data, method):
    trainer = CURVE.compile()
    reference = trainer.minimize(
        {"a": 1.0, "b": 1.0, "c": 0.0}, curve_data, options={"gtol": 1e-12}
    )
    fit = trainer.minimize({"a": 1.0, "b": 1.0, "c": 0.0}, curve_data, method=method)
    for name in "abc":
        assert fit.params[name] == pytest.approx(reference.params[name], rel=2e-3, abs=2e-3)
    assert fit.result.fun == pytest.approx(reference.result.fun, rel=1e-4)


def test_the_objective_is_the_compiled_loss_and_gradient(curve_data):
    from symbp.train.minimize import Objective

    trainer = CURVE.compile()
    objective = Objective(trainer, {"a": 1.0, "b": 2.0, "c": 0.1}, curve_data)
    value, grad = objective.value_and_grad(np.array([1.5, 0.7, 0.2]))
    params = {"a": 1.5, "b": 0.7, "c": 0.2}
    assert value == trainer.loss(params, curve_data)
    np.testing.assert_array_equal(grad, [trainer.grad(params, curve_data)[k] for k in "abc"])


def test_bounds_by_name_and_errors(curve_data):
    trainer = CURVE.compile()
    fit = trainer.minimize({"a": 1.0, "b": 1.0, "c": 0.0}, curve_data, bounds={"c": (None, 0.3)})
    assert fit.params["c"] == pytest.approx(0.3) and fit.result.success
    with pytest.raises(symbp.OptionError, match="unknown minimize method"):
        trainer.minimize({"a": 1.0, "b": 1.0, "c": 0.0}, curve_data, method="gradient-descent")
    with pytest.raises(symbp.OptionError, match="unknown params"):
        trainer.minimize({"a": 1.0, "b": 1.0, "c": 0.0}, curve_data, bounds={"d": (0, 1)})
    with pytest.raises(symbp.DataError, match="'y'"):
        trainer.minimize({"a": 1.0, "b": 1.0, "c": 0.0}, {"x": curve_data["x"]})
    start = {"a": 1.0, "b": 1.0, "c": 0.0}
    for bad, message in [
        ({"a": ([0, 1, 2], None)}, r"bounds\['a'\]: \[0, 1, 2\] is not a number"),
        ({"a": ("low", None)}, r"bounds\['a'\]: 'low' is not a number"),
        ({"a": (0, 1, 2)}, r"bounds\['a'\] must be a pair"),
        ({"a": (float("nan"), None)}, "NaN"),
    ]:
        with pytest.raises(symbp.OptionError, match=message):
            trainer.minimize(start, curve_data, bounds=bad)
    for tol in ("x", -1.0, float("nan")):
        with pytest.raises(symbp.OptionError, match="tol must be a positive number"):
            trainer.minimize(start, curve_data, tol=tol)


def rosenbrock(n: int) -> symbp.Model:
    xs = sp.symbols(f"x0:{n}", real=True)
    loss = sum(100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(n - 1))
    return symbp.Model(loss, params=list(xs), name=f"rosenbrock{n}")


def test_newton_cg_with_the_symbolic_hessp_on_rosenbrock():
    trainer = rosenbrock(10).compile()
    start = {f"x{i}": -1.0 for i in range(10)}
    # the same accuracy asked of both: the gradient's norm below 1e-10
    newton = trainer.minimize(start, method="Newton-CG", options={"xtol": 1e-12})
    krylov = trainer.minimize(start, method="trust-krylov", options={"gtol": 1e-10})
    lbfgs = trainer.minimize(start, method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 0})
    for fit in (newton, krylov, lbfgs):
        assert fit.result.success
        np.testing.assert_allclose(list(fit.params.values()), 1.0, atol=1e-7)
    assert newton.result.nit < lbfgs.result.nit and krylov.result.nit < lbfgs.result.nit
    assert max(abs(v - 1) for v in newton.params.values()) < 1e-12
