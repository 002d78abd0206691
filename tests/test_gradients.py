"""Reverse-sweep gradients against sympy.diff and central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp.derive.scalar_rules import VJP_RULES
from symbp.emit.printer import supported_functions
from symbp.testing import central_difference, program_gradient, sympy_gradient

u, v = sp.symbols("u v", real=True)
x = sp.Symbol("x", real=True)

#: name -> (loss in u (and the input x), interval of u where it is smooth and defined)
CATALOGUE = {
    "exp": (sp.exp(u * x), (-1.0, 1.0)),
    "log": (sp.log(u + x), (0.5, 2.0)),
    "sqrt": (sp.sqrt(u + x), (0.5, 2.0)),
    "pow": ((u + x) ** 3 - 1 / (u + x), (0.5, 2.0)),
    "pow_symbolic_exponent": ((u + 2) ** x + x**u, (0.5, 2.0)),
    "sin": (sp.sin(u * x), (-2.0, 2.0)),
    "cos": (sp.cos(u * x), (-2.0, 2.0)),
    "tan": (sp.tan(u * x), (-0.5, 0.5)),
    "cot": (sp.cot(u + x), (0.5, 1.0)),
    "sec": (sp.sec(u * x), (-0.5, 0.5)),
    "csc": (sp.csc(u + x), (0.5, 1.0)),
    "asin": (sp.asin(u * x / 3), (-1.0, 1.0)),
    "acos": (sp.acos(u * x / 3), (-1.0, 1.0)),
    "atan": (sp.atan(u * x), (-2.0, 2.0)),
    "acot": (sp.acot(u + x), (0.5, 2.0)),
    "asec": (sp.asec(u + x + 1), (0.5, 2.0)),
    "acsc": (sp.acsc(u + x + 1), (0.5, 2.0)),
    "atan2": (sp.atan2(u, x + 1), (-2.0, 2.0)),
    "sinh": (sp.sinh(u * x), (-1.0, 1.0)),
    "cosh": (sp.cosh(u * x), (-1.0, 1.0)),
    "tanh": (sp.tanh(u * x), (-1.0, 1.0)),
    "coth": (sp.coth(u + x), (0.5, 2.0)),
    "sech": (sp.sech(u * x), (-1.0, 1.0)),
    "csch": (sp.csch(u + x), (0.5, 2.0)),
    "asinh": (sp.asinh(u * x), (-2.0, 2.0)),
    "acosh": (sp.acosh(u + x + 1), (0.5, 2.0)),
    "atanh": (sp.atanh(u * x / 3), (-1.0, 1.0)),
    "acoth": (sp.acoth(u + x + 1), (0.5, 2.0)),
    "asech": (sp.asech((u + x) / 4), (0.5, 1.0)),
    "acsch": (sp.acsch(u + x), (0.5, 2.0)),
    "erf": (sp.erf(u * x), (-1.0, 1.0)),
    "erfc": (sp.erfc(u * x), (-1.0, 1.0)),
    # special functions (symbp.emit.special), including the reflection for negative x
    "gamma": (sp.gamma(u + x) + sp.gamma(u - 3 - x / 4), (0.6, 1.8)),
    "loggamma": (sp.loggamma(u * u + x) * u, (0.5, 3.0)),
    "polygamma": (sp.polygamma(1, u + x) + sp.polygamma(2, u - 2.5) * x, (0.6, 1.6)),
    "beta": (sp.beta(u + x, 2 * x + 0.5) + sp.beta(u - 1.7, x + 0.3), (0.3, 0.6)),
    "abs": (sp.Abs(u - x) * u, (-2.0, 2.0)),
    "max_relu": (sp.Max(0, u - x) ** 2 + sp.Max(0, x - u), (-2.0, 2.0)),
    "min": (sp.Min(u, x, 2 * u) * u, (-2.0, 2.0)),
    "heaviside": (sp.Heaviside(u - x) * u**2, (-2.0, 2.0)),
    "sign": (sp.sign(u - x) * u, (-2.0, 2.0)),
    "floor_ceiling": (sp.floor(u * 3) * u + sp.ceiling(u * 3) * u, (-2.0, 2.0)),
    "piecewise": (sp.Piecewise((u**2, u > x), (sp.sin(u), u < x - 1), (3 * u, True)), (-2.0, 2.0)),
}


def kinks(name: str, uval: float, xval: float) -> bool:
    """Points too close to a kink for finite differences (derivative jumps there)."""
    near = lambda a: abs(a) < 1e-3  # noqa: E731
    if name in ("abs", "max_relu", "heaviside", "sign", "piecewise"):
        return near(uval - xval) or near(uval - xval + 1)
    if name == "min":
        return near(uval - xval) or near(uval) or near(2 * uval - xval)
    if name == "floor_ceiling":
        return near(uval * 3 - round(uval * 3))
    return False


def sample_points(name: str, count: int = 3) -> list[tuple[float, float]]:
    rng = np.random.default_rng(abs(hash(name)) % 2**32 if False else sum(map(ord, name)))
    lo, hi = CATALOGUE[name][1]
    points = []
    while len(points) < count:
        uval, xval = rng.uniform(lo, hi), rng.uniform(0.2, 0.9)
        if not kinks(name, uval, xval):
            points.append((float(uval), float(xval)))
    return points


def catalogue_model(name: str) -> symbp.Model:
    return symbp.Model(CATALOGUE[name][0], params=[u], inputs=[x], name=f"cat_{name}")


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_sweep_matches_sympy_diff(name):
    model = catalogue_model(name)
    for uval, xval in sample_points(name):
        ours = program_gradient(model, {"u": uval}, {"x": xval})["u"]
        ref = sympy_gradient(model, {"u": uval}, {"x": xval})["u"]
        assert ours == pytest.approx(ref, rel=1e-12, abs=1e-12), (name, uval, xval)


def test_catalogue_covers_every_rule_and_printable_function():
    used = set()
    for loss, _ in CATALOGUE.values():
        used |= {type(node) for node in sp.preorder_traversal(loss)}
    for cls in supported_functions():
        assert any(issubclass(t, cls) for t in used), f"{cls.__name__} is not in the catalogue"
    for cls in VJP_RULES:
        if cls is sp.Function:
            continue
        assert any(issubclass(t, cls) for t in used), f"rule for {cls.__name__} is untested"


@pytest.fixture(scope="module")
def catalogue_trainer():
    """All catalogue functions in one model (one compile): each term has its own param."""
    names = sorted(CATALOGUE)
    params = sp.symbols(f"p0:{len(names)}", real=True)
    loss = sum(CATALOGUE[n][0].xreplace({u: p}) for n, p in zip(names, params, strict=True))
    model = symbp.Model(loss, params=list(params), inputs=[x], name="catalogue")
    return names, params, model, model.compile(dtype="float64")


def test_compiled_kernel_matches_finite_differences_and_sympy(catalogue_trainer):
    names, params, model, trainer = catalogue_trainer
    points = {n: sample_points(n, 1)[0] for n in names}
    # One sample per call: x must be the same for all terms, so use a shared x and
    # choose each u by the catalogue domain, dodging kinks for that x.
    xval = 0.55
    values = {}
    for n, p in zip(names, params, strict=True):
        lo, hi = CATALOGUE[n][1]
        rng = np.random.default_rng(sum(map(ord, n)))
        while True:
            uval = float(rng.uniform(lo, hi))
            if not kinks(n, uval, xval):
                break
        values[p.name] = uval
    data = {"x": np.array([xval])}
    grad = trainer.grad(values, data)
    fd = central_difference(lambda prm: trainer.loss(prm, data), values)
    ref = sympy_gradient(model, values, {"x": xval})
    assert points  # every catalogue entry sampled
    for p in params:
        assert grad[p.name] == pytest.approx(ref[p.name], rel=1e-10, abs=1e-10), p
        assert grad[p.name] == pytest.approx(fd[p.name], rel=1e-5, abs=1e-6), p


def test_relu_subgradient_at_zero_is_zero():
    z = sp.Symbol("z", real=True)
    model = symbp.Model(sp.Max(0, z), params=[z], name="relu")
    assert program_gradient(model, {"z": 0.0}, {})["z"] == 0.0
    assert program_gradient(model, {"z": 1.0}, {})["z"] == 1.0
    model = symbp.Model(sp.Max(z, 0) + sp.Abs(z), params=[z], name="relu_abs")
    assert program_gradient(model, {"z": 0.0}, {})["z"] == 0.0


def test_matrix_parameters_match_finite_differences_and_sympy():
    X = sp.MatrixSymbol("X", 1, 3)
    W = sp.MatrixSymbol("W", 3, 2)
    V = sp.MatrixSymbol("V", 2, 1)
    y = sp.Symbol("y", real=True)
    hidden = (X * W).as_explicit().applyfunc(sp.tanh)
    loss = ((hidden * V.as_explicit())[0, 0] - y) ** 2 + sp.log(1 + sp.exp(W[0, 1]))
    model = symbp.Model(loss, params=[W, V], inputs=[X], targets=[y], name="mlp_small")
    rng = np.random.default_rng(3)
    params = {"W": rng.normal(size=(3, 2)), "V": rng.normal(size=(2, 1))}
    data = {"X": rng.normal(size=(5, 3)), "y": rng.normal(size=5)}
    trainer = model.compile(dtype="float64")
    grad = trainer.grad(params, data)
    fd = central_difference(lambda prm: trainer.loss(prm, data), params)
    mean = {k: np.zeros_like(v) for k, v in params.items()}
    for s in range(5):
        ref = sympy_gradient(model, params, {"X": data["X"][s], "y": data["y"][s]})
        for k in mean:
            mean[k] += ref[k] / 5
    for k in params:
        np.testing.assert_allclose(grad[k], mean[k], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(grad[k], fd[k], rtol=1e-6, atol=1e-8)


def test_explicit_matrix_params_and_indexing():
    a = sp.Matrix(sp.symbols("a0:3", real=True))
    b = sp.Symbol("b", real=True)
    M = sp.MatrixSymbol("M", 2, 2)
    loss = (a.T * sp.Matrix([1, 2, 3]))[0, 0] ** 2 + M[0, 1] * b + (M.as_explicit() ** 2)[1, 1]
    model = symbp.Model(loss, params=[a, M, b], name="explicit")
    assert [v.name for v in model.variables] == ["a", "M", "b"]
    params = {
        "a": np.array([[0.1], [0.2], [0.3]]),
        "M": np.array([[1.0, 2.0], [3.0, 4.0]]),
        "b": 0.5,
    }
    ours = program_gradient(model, params, {})
    ref = sympy_gradient(model, params, {})
    for k in params:
        np.testing.assert_allclose(ours[k], ref[k], rtol=1e-12)
    grads = model.gradients()
    assert grads["b"] == M[0, 1]
    assert grads["M"].shape == (2, 2)


def test_closed_form_gradients_are_simplified():
    w1, w2 = sp.symbols("w1 w2", real=True)
    model = symbp.Model(sp.log(1 + sp.exp(w1 * w2)), params=[w1, w2], name="softplus")
    g = model.gradients()
    assert sp.simplify(g["w1"] - sp.diff(model.scalar, w1)) == 0
    assert sp.count_ops(g["w1"]) <= sp.count_ops(sp.diff(model.scalar, w1))


def test_shared_subexpressions_are_computed_once():
    w = sp.Symbol("w", real=True)
    shared = sp.sin(sp.exp(w) * w)
    model = symbp.Model(shared**2 + shared + sp.log(shared + 2), params=[w], name="shared")
    for func in (sp.exp, sp.sin):
        steps = [s for s in model.derivation.forward if isinstance(s.node, func)]
        assert len(steps) == 1, func
    # The sin node collects one adjoint term from each of its three parents.
    (sin_bar,) = [s for s in model.derivation.adjoint if isinstance(s.node, sp.sin)]
    assert len(sin_bar.terms) == 3


def test_deep_shared_model_is_handled_as_a_graph():
    """40 layers f <- sin(p f) + f: the tree has ~2^40 nodes, the graph ~200."""
    ps = sp.symbols("p0:40", real=True)
    f = x
    for p in ps:
        f = sp.sin(p * f) + f
    model = symbp.Model(f**2, params=list(ps), inputs=[x], name="deep")
    assert len(model.program.statements) < 400
    assert "_fit_kernel" not in model.module_source().text  # no optimizer: no fit kernel
    small = {p.name: 0.01 * (i + 1) for i, p in enumerate(ps[:3])}
    shallow = sp.Integer(0) + x
    for p in ps[:3]:
        shallow = sp.sin(p * shallow) + shallow
    ref_model = symbp.Model(shallow**2, params=list(ps[:3]), inputs=[x], name="shallow")
    ours = program_gradient(ref_model, small, {"x": 0.7})
    ref = sympy_gradient(ref_model, small, {"x": 0.7})
    for name in small:
        assert ours[name] == pytest.approx(ref[name], rel=1e-12)
