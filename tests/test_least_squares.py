"""Least squares: residuals recognized, fits against scipy.optimize.least_squares/curve_fit
and NIST's certified values, covariances against curve_fit and statsmodels."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sympy as sp
from nist_problems import BY_NAME, PROBLEMS, digits, model

import symbp
from symbp import nn

a, b, c, x, y, s, w = sp.symbols("a b c x y s w", real=True)
CURVE = a * sp.exp(-b * x) + c


def curve_data(seed=3, n=40):
    rng = np.random.default_rng(seed)
    xs = np.linspace(0, 4, n)
    sigma = 0.02 + 0.05 * rng.uniform(size=n)
    ys = 2.5 * np.exp(-1.3 * xs) + 0.5 + sigma * rng.normal(size=n)
    return xs, ys, sigma


def numpy_curve(v, a_, b_, c_):
    return a_ * np.exp(-b_ * v) + c_


def numpy_jac(v, a_, b_, c_):
    e = np.exp(-b_ * v)
    return np.stack([e, -a_ * v * e, np.ones_like(v)], axis=1)


TIGHT = {"ftol": 1e-15, "xtol": 1e-15, "gtol": 1e-15}


# -- recognizing residuals ---------------------------------------------------------------
def test_sums_of_squares_are_recognized_at_both_levels():
    xm, W, t = sp.MatrixSymbol("x", 1, 3), sp.MatrixSymbol("W", 3, 4), sp.MatrixSymbol("t", 1, 4)
    r = xm * W - t
    cases = {
        "scalar": ((CURVE - y) ** 2, 1),
        "weighted": (((CURVE - y) / s) ** 2, 1),
        "constant factor": (0.5 * (CURVE - y) ** 2 + 3 * (a - 1) ** 2, 2),
        "mse": (nn.mse(xm * W, t), 4),
        "r r^T": ((r * r.T)[0, 0], 4),
        "trace": (sp.Trace(r.T * r), 4),
        "element reads": (((xm * W)[0, 0] - t[0, 0]) ** 2 + ((xm * W)[0, 1] - t[0, 1]) ** 2, 2),
    }
    for label, (loss, count) in cases.items():
        free = loss.free_symbols
        params = [v for v in (a, b, c, W) if v in free or (v == W and loss.has(W))]
        inputs = [v for v in (x, s, xm) if v in free or (v == xm and loss.has(xm))]
        targets = [v for v in (y, t) if v in free or (v == t and loss.has(t))]
        m = symbp.Model(loss, params=params, inputs=inputs, targets=targets, name="rec")
        assert sum(res.size for res in m.residuals) == count, label
        # the loss is exactly the sum of the residuals' squares
        rng = np.random.default_rng(0)
        values = {v: rng.normal() for v in (a, b, c, x, y)} | {s: 0.7}
        if m.matrix or loss.has(xm):
            continue
        total = sum(float(e.subs(values)) ** 2 for res in m.residuals for e in res.entries())
        assert total == pytest.approx(float(loss.subs(values)), rel=1e-12), label


def test_a_loss_that_is_not_a_sum_of_squares_is_refused_naming_the_term():
    m = symbp.Model(w * (CURVE - y) ** 2 + (a - 1) ** 2, params=[a, b, c], inputs=[x, w],
                    targets=[y], name="weighted_outside")  # fmt: skip
    with pytest.raises(symbp.DeclarationError, match=r"its term w\*\(.*\)\*\*2 is not a square"):
        m.compile().least_squares(
            {"a": 1.0, "b": 1.0, "c": 0.0}, {"x": [1.0], "w": [1.0], "y": [1.0]}
        )
    logistic = symbp.Model(sp.log(1 + sp.exp(-y * a * x)), params=[a], inputs=[x], targets=[y])
    with pytest.raises(symbp.DeclarationError, match="not a sum of squares"):
        logistic.residuals  # noqa: B018


# -- fits -----------------------------------------------------------------------------
def test_covariance_equals_curve_fits_with_and_without_sigma():
    from scipy.optimize import curve_fit

    xs, ys, sigma = curve_data()
    start = {"a": 1.0, "b": 1.0, "c": 0.0}
    plain = symbp.Model((CURVE - y) ** 2, params=[a, b, c], inputs=[x], targets=[y],
                        reduction="sum", name="lsq_plain").compile()  # fmt: skip
    fit = plain.least_squares(start, {"x": xs, "y": ys}, **TIGHT)
    popt, pcov = curve_fit(numpy_curve, xs, ys, p0=[1, 1, 0], jac=numpy_jac, **TIGHT)
    np.testing.assert_allclose([fit.params[k] for k in "abc"], popt, rtol=1e-9)
    np.testing.assert_allclose(fit.covariance, pcov, rtol=1e-6)
    assert fit.flat_names == ("a", "b", "c")
    for k, name in enumerate("abc"):
        assert fit.stderr[name] == pytest.approx(np.sqrt(pcov[k, k]), rel=1e-6)

    weighted = symbp.Model(((CURVE - y) / s) ** 2, params=[a, b, c], inputs=[x, s], targets=[y],
                           reduction="mean", name="lsq_weighted").compile()  # fmt: skip
    data = {"x": xs, "s": sigma, "y": ys}
    for absolute in (False, True):
        fit = weighted.least_squares(start, data, absolute_sigma=absolute, **TIGHT)
        popt, pcov = curve_fit(numpy_curve, xs, ys, p0=[1, 1, 0], sigma=sigma, jac=numpy_jac,
                               absolute_sigma=absolute, **TIGHT)  # fmt: skip
        np.testing.assert_allclose([fit.params[k] for k in "abc"], popt, rtol=1e-9)
        np.testing.assert_allclose(fit.covariance, pcov, rtol=1e-6)
    # losses: the model's loss (here the mean) after each iteration, decreasing
    assert fit.losses[-1] == pytest.approx(weighted.loss(fit.params, data), rel=1e-9)
    assert np.all(np.diff(fit.losses) <= 1e-12)


def test_robust_losses_and_bounds_are_scipys():
    from scipy.optimize import least_squares

    xs, ys, _ = curve_data(seed=8)
    ys[::7] += 1.5  # outliers
    trainer = symbp.Model((CURVE - y) ** 2, params=[a, b, c], inputs=[x], targets=[y],
                          reduction="sum", name="lsq_robust").compile()  # fmt: skip

    def residuals(p):
        return numpy_curve(xs, *p) - ys

    def jacobian(p):
        return numpy_jac(xs, *p)

    for loss in ("soft_l1", "huber", "cauchy"):
        fit = trainer.least_squares({"a": 1.0, "b": 1.0, "c": 0.0}, {"x": xs, "y": ys},
                                    loss=loss, f_scale=0.1)  # fmt: skip
        ref = least_squares(residuals, [1, 1, 0], jac=jacobian, loss=loss, f_scale=0.1)
        np.testing.assert_allclose([fit.params[k] for k in "abc"], ref.x, rtol=1e-6)
    fit = trainer.least_squares({"a": 1.0, "b": 1.0, "c": 0.7}, {"x": xs, "y": ys},
                                bounds={"c": (0.6, None), "b": (0, 1.2)})  # fmt: skip
    ref = least_squares(
        residuals, [1, 1, 0.7], jac=jacobian, bounds=([-np.inf, 0, 0.6], [np.inf, 1.2, np.inf])
    )
    np.testing.assert_allclose([fit.params[k] for k in "abc"], ref.x, rtol=1e-6)
    assert fit.params["c"] >= 0.6 and fit.params["b"] <= 1.2
    # SciPy's own forms of the flat vector's bounds: a pair of lists, a Bounds
    from scipy.optimize import Bounds

    for flat in (
        ([-np.inf, 0, 0.6], [np.inf, 1.2, np.inf]),
        Bounds([-np.inf, 0, 0.6], [np.inf, 1.2, np.inf]),
    ):
        same = trainer.least_squares(
            {"a": 1.0, "b": 1.0, "c": 0.7}, {"x": xs, "y": ys}, bounds=flat
        )
        np.testing.assert_allclose([same.params[k] for k in "abc"], ref.x, rtol=1e-6)
    with pytest.raises(symbp.OptionError, match="outside the bounds: param c"):
        trainer.least_squares(
            {"a": 1.0, "b": 1.0, "c": 0.0}, {"x": xs, "y": ys}, bounds=(0.6, np.inf)
        )
    with pytest.raises(symbp.OptionError, match="bounds must be"):
        trainer.least_squares(
            {"a": 1.0, "b": 1.0, "c": 0.7}, {"x": xs, "y": ys}, bounds=([0, 0], [1, 1])
        )
    with pytest.raises(symbp.OptionError, match="outside the bounds: param c"):
        trainer.least_squares(
            {"a": 1.0, "b": 1.0, "c": 0.0}, {"x": xs, "y": ys}, bounds={"c": (0.6, None)}
        )
    with pytest.raises(symbp.OptionError, match="'lm' does not handle bounds"):
        trainer.least_squares({"a": 1.0, "b": 1.0, "c": 0.0}, {"x": xs, "y": ys},
                              method="lm", bounds={"c": (None, 1)})  # fmt: skip
    with pytest.raises(symbp.OptionError, match="method must be one of"):
        trainer.least_squares({"a": 1.0, "b": 1.0, "c": 0.0}, {"x": xs, "y": ys}, method="bfgs")


FAST_NIST = ("Misra1a", "MGH09", "BoxBOD", "Rat43")


def scipy_exact(problem, start, method, max_nfev):
    """SciPy's least_squares on a NIST problem with its exact Jacobian (sympy.diff,
    lambdify): the reference. Returns the fewest correct digits of its parameters."""
    from scipy.optimize import least_squares

    data = problem.data()
    cols = [col for col in problem.columns if col != "y"]
    inputs = [data[col] for col in cols]
    f = problem.function()
    symbols = [*map(sp.Symbol, cols), *(sp.Symbol(n, real=True) for n in problem.names)]
    grads = [
        sp.lambdify(symbols, sp.diff(problem.expression(), symbol))
        for symbol in symbols[len(cols) :]
    ]

    def jacobian(p):
        return np.stack([np.broadcast_to(g(*inputs, *p), inputs[0].shape) for g in grads], 1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = least_squares(lambda p: f(*inputs, *p) - data["y"], list(problem.start(start).values()),
                            jac=jacobian, method=method, **TIGHT, max_nfev=max_nfev)  # fmt: skip
    return digits(problem, dict(zip(problem.names, ref.x, strict=True)))


def symbp_fit(trainer, problem, start, method, max_nfev):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return trainer.least_squares(problem.start(start), problem.data(), method=method, **TIGHT,
                                     max_nfev=max_nfev)  # fmt: skip


@pytest.mark.parametrize("name", FAST_NIST)
def test_nist_problems_reach_the_certified_values(name):
    """Both starts, trf and lm: at least 4 correct digits in every parameter wherever
    SciPy's least_squares with the exact Jacobian gets them; the standard errors are
    NIST's certified ones."""
    problem = BY_NAME[name]
    trainer = model(problem).compile()
    for start in (1, 2):
        for method in ("trf", "lm"):
            fit = symbp_fit(trainer, problem, start, method, 2000)
            theirs = scipy_exact(problem, start, method, 2000)
            ours = digits(problem, fit.params)
            assert ours >= min(4.0, theirs), (name, start, method, ours, theirs)
            if ours >= 6:
                for n, sd in problem.stderr.items():
                    assert fit.stderr[n] == pytest.approx(sd, rel=1e-4), (name, n)


@pytest.mark.slow
def test_every_nist_problem_reaches_what_scipy_with_the_exact_jacobian_reaches():
    counts = {"trf": [0, 0], "lm": [0, 0]}
    for problem in PROBLEMS:
        trainer = model(problem).compile()
        for start in (1, 2):
            for method in counts:
                fit = symbp_fit(trainer, problem, start, method, 10000)
                counts[method][0] += digits(problem, fit.params) >= 4
                counts[method][1] += scipy_exact(problem, start, method, 10000) >= 4
    for method, (ours, theirs) in counts.items():
        assert ours >= theirs, (method, ours, theirs)


# -- SciPy's failures -------------------------------------------------------------------
def test_scipy_failing_inside_minimize_is_an_optimization_error_with_the_fit():
    b1, b2 = sp.symbols("b1 b2", real=True)
    trainer = symbp.Model((b1 * (1 - sp.exp(-b2 * x)) - y) ** 2, params=[b1, b2], inputs=[x],
                          targets=[y], reduction="sum", name="boxbod_issue").compile()  # fmt: skip
    data = {"x": [1, 2, 3, 5, 7, 10.0], "y": [109, 149, 149, 191, 213, 224.0]}
    start = {"b1": 1.0, "b2": 1.0}
    with pytest.raises(
        symbp.OptimizationError, match=r"minimize\(method='trust-exact'\) failed"
    ) as err:
        trainer.minimize(start, data, method="trust-exact")
    assert err.value.method == "trust-exact" and isinstance(err.value, RuntimeError)
    fit = err.value.fit
    assert fit.losses.size and trainer.loss(fit.params, data) < trainer.loss(start, data)
    assert len(str(err.value)) < 400
    # least squares from the same start reaches the certified BoxBOD values
    fit = trainer.least_squares(start, data, **TIGHT)
    assert digits(BY_NAME["BoxBOD"], fit.params) >= 4


def test_non_finite_residuals_at_the_start_are_an_optimization_error():
    trainer = symbp.Model((a * sp.log(x - b) - y) ** 2, params=[a, b], inputs=[x], targets=[y],
                          name="lsq_log").compile()  # fmt: skip
    with pytest.raises(
        symbp.OptimizationError, match=r"least_squares\(method='trf'\) failed"
    ) as err:
        trainer.least_squares({"a": 1.0, "b": 5.0}, {"x": [1.0, 2.0], "y": [0.0, 1.0]})
    assert err.value.fit is None


# -- uncertainties ------------------------------------------------------------------------
def test_an_unidentifiable_parameter_warns_and_is_inf():
    trainer = symbp.Model((a * b * x - y) ** 2, params=[a, b], inputs=[x], targets=[y],
                          reduction="sum", name="lsq_product").compile()  # fmt: skip
    xs = np.linspace(0, 1, 10)
    with pytest.warns(UserWarning, match="covariance of a, b is not determined"):
        fit = trainer.least_squares({"a": 1.0, "b": 1.0}, {"x": xs, "y": 2 * xs})
    assert np.isinf(fit.stderr["a"]) and np.isinf(fit.stderr["b"])
    assert np.isnan(fit.covariance[0, 1])


def test_fits_with_covariances_save_and_load(tmp_path):
    xs, ys, _ = curve_data()
    trainer = symbp.Model((CURVE - y) ** 2, params=[a, b, c], inputs=[x], targets=[y],
                          name="lsq_save").compile()  # fmt: skip
    fit = trainer.least_squares({"a": 1.0, "b": 1.0, "c": 0.0}, {"x": xs, "y": ys})
    loaded = symbp.load_fit(fit.save(tmp_path / "fit.npz"))
    np.testing.assert_array_equal(loaded.covariance, fit.covariance)
    assert loaded.flat_names == fit.flat_names and loaded.stderr == fit.stderr


def test_covariance_of_glms_is_statsmodels():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(4)
    X = np.column_stack([np.ones(200), rng.normal(size=(200, 2))])
    beta = sp.MatrixSymbol("beta", 3, 1)
    xr = sp.MatrixSymbol("x", 1, 3)
    t = sp.Symbol("t", real=True)
    z = (xr * beta)[0, 0]
    counts = rng.poisson(np.exp(X @ [0.3, 0.5, -0.4]))
    labels = (rng.uniform(size=200) < 1 / (1 + np.exp(-(X @ [-0.2, 1.0, 0.5])))).astype(float)
    cases = [
        ("poisson", sp.exp(z) - t * z, counts, sm.families.Poisson()),
        ("logit", sp.log(1 + sp.exp(z)) - t * z, labels, sm.families.Binomial()),
    ]
    for name, nll, target, family in cases:
        trainer = symbp.Model(nll, params=[beta], inputs=[xr], targets=[t], level="scalar",
                              name=f"glm_{name}").compile()  # fmt: skip
        reference = sm.GLM(target, X, family=family).fit(tol=1e-12)
        params = {"beta": np.asarray(reference.params).reshape(3, 1)}
        cov = trainer.covariance(params, {"x": X, "t": target})
        np.testing.assert_allclose(cov.matrix, reference.cov_params(), rtol=1e-6)
        np.testing.assert_allclose(cov.stderr["beta"].ravel(), reference.bse, rtol=1e-6)
        assert cov.names == ("beta[0, 0]", "beta[1, 0]", "beta[2, 0]")


def test_an_indefinite_hessian_warns_instead_of_raising():
    trainer = symbp.Model(
        (a**2 - 1) ** 2 + (b - 2) ** 2, params=[a, b], name="lsq_saddle"
    ).compile()
    with pytest.warns(UserWarning, match="covariance of a is not determined"):
        cov = trainer.covariance({"a": 0.0, "b": 2.0})
    assert np.isinf(cov.matrix[0, 0]) and cov.matrix[1, 1] == pytest.approx(0.5)


def test_latex_shows_residuals_jacobian_and_the_gauss_newton_step():
    b1, b2 = sp.symbols("b1 b2", real=True)
    model = symbp.Model((b1 * (1 - sp.exp(-b2 * x)) - y) ** 2, params=[b1, b2], inputs=[x],
                        targets=[y], name="latex_lsq")  # fmt: skip
    text = model.latex()
    assert r"r &= b_{1} - b_{1} e^{- b_{2} x} - y" in text
    assert r"\frac{\partial r}{\partial b_{1}} &= 1 - e^{- b_{2} x}" in text
    assert r"\frac{\partial r}{\partial b_{2}} &= b_{1} x e^{- b_{2} x}" in text
    assert r"\delta &= -\left(J^{\top} J\right)^{-1} J^{\top} r" in text
    assert "Residuals" not in model.latex(least_squares=False)
    xm, W, t = sp.MatrixSymbol("x", 1, 3), sp.MatrixSymbol("W", 3, 2), sp.MatrixSymbol("t", 1, 2)
    matrix = symbp.Model(nn.mse(xm * W, t), params=[W], inputs=[xm], targets=[t], level="matrix")
    assert (
        r"\frac{\partial r_{2}}{\partial W} &= x^{T} \left(\frac{\sqrt{2}}{2} E_{12}\right)"
        in matrix.latex()
    )
    logistic = symbp.Model(sp.log(1 + sp.exp(-y * b1 * x)), params=[b1], inputs=[x], targets=[y])
    assert "Residuals" not in logistic.latex()
    with pytest.raises(symbp.DeclarationError, match="not a sum of squares"):
        logistic.latex(least_squares=True)
