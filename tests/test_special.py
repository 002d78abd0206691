"""Accuracy and convention tests for :mod:`symbp.emit.special`.

Each function is compiled the way the emitter uses it: its source text (``inspect.getsource``)
is pasted into a fresh namespace that provides only ``math`` and ``np`` and wrapped in
``numba.njit(error_model="numpy")``, in ``FUNCTIONS`` order. The compiled functions are swept
over their real domains with deterministic points and compared with ``scipy.special`` where
SciPy is accurate to better than 1e-13, and with mpmath at 160-bit precision where it is not
(the comment at each such place says why). The required relative error is 1e-13. Near the
zeros on the negative axis (log Γ in (-4, -3), (-6, -5), ...; ψ in every (-k-1, -k); ψ⁽ⁿ⁾ for
even n), where every method working in float64 returns a difference of O(1) terms, the test
uses the mixed bound ``|err| <= 1e-13 * max(|ref|, 0.01 * scale)``, ``scale`` being the sum of
the magnitudes of the terms of the reflection formula (about 9 ulp of the terms).
"""

import ast
import inspect
import math

import numpy as np
import pytest

sc = pytest.importorskip("scipy.special")
numba = pytest.importorskip("numba")
mpmath = pytest.importorskip("mpmath")  # ships with sympy

from symbp.emit import special  # noqa: E402

RTOL = 1e-13
TINY = 2.0**-1074  # smallest subnormal: results below 2**-1022 carry absolute precision only
mp = mpmath.mp
MP_PREC = 160
X0 = 1.4616321449683622  # positive zero of ψ (double nearest)

PUBLIC = ("_gamma", "_loggamma", "_digamma", "_polygamma", "_beta")
INT_PARAMS = {"n", "s"}  # integer orders (polygamma's n, the Hurwitz zeta's s)


def _signature(fn):
    params = inspect.signature(fn).parameters
    args = [numba.int64 if p in INT_PARAMS else numba.float64 for p in params]
    return tuple(args)


@pytest.fixture(scope="module")
def jit():
    """The functions of special.py pasted and compiled as in a generated module."""
    ns = {"math": math, "np": np}
    for name in special.FUNCTIONS:
        exec(inspect.getsource(getattr(special, name)), ns)
        ns[name] = numba.njit(error_model="numpy")(ns[name])
    for name in special.FUNCTIONS:
        ns[name].compile(_signature(getattr(special, name)))
    return ns


def _apply(fn, *cols):
    cols = [np.broadcast_to(np.asarray(c), np.broadcast(*cols).shape) for c in cols]
    return np.array(
        [fn(*args) for args in zip(*(c.tolist() for c in cols), strict=True)], dtype=float
    )


def _mp_map(fn, *cols):
    """Evaluate an mpmath expression at exact float inputs, rounded to float64."""
    with mp.workprec(MP_PREC):
        out = [
            fn(*(mp.mpf(v) for v in args))
            for args in zip(*(np.asarray(c).tolist() for c in cols), strict=True)
        ]
        return np.array([float(mpmath.re(v)) for v in out])


def _assert_close(got, ref, label, scale=None, rtol=RTOL):
    """Relative error <= rtol where ref is finite; identical inf/nan where it is not."""
    got = np.asarray(got, dtype=float)
    ref = np.asarray(ref, dtype=float)
    fin = np.isfinite(ref)
    nan_ok = np.isnan(got[~fin]) == np.isnan(ref[~fin])
    inf_ok = np.where(np.isinf(ref[~fin]), got[~fin] == ref[~fin], True)
    assert np.all(nan_ok & inf_ok), f"{label}: non-finite mismatch at {np.flatnonzero(~fin)}"
    g, r = got[fin], ref[fin]
    floor = np.zeros_like(r) if scale is None else 0.01 * np.asarray(scale, dtype=float)[fin]
    tol = rtol * np.maximum(np.abs(r), floor) + 2 * TINY
    err = np.abs(g - r)
    bad = ~(err <= tol)
    if np.any(bad):
        i = np.flatnonzero(bad)[0]
        pytest.fail(f"{label}: got {g[i]!r}, ref {r[i]!r}, err {err[i]:.3g} > tol {tol[i]:.3g}")
    normal = np.abs(r) >= 2.0**-1022
    rel = err[normal] / np.abs(r[normal])
    worst = float(rel.max()) if rel.size else 0.0
    used = float((err / tol).max()) if err.size else 0.0
    # shown with pytest -s: max relative error, and the largest fraction of the bound used
    print(f"[special] {label}: n={r.size} max_rel={worst:.2e} max_err/tol={used:.2f}")
    return worst


def _rng(seed):
    return np.random.default_rng(seed)


def _non_integer(x):
    return x[x != np.floor(x)]


# --- Γ --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(1e-3, 1.0), (1.0, 10.0), (10.0, 171.6), (-50.0, 0.0), (-170.5, -50.0)],
)
def test_gamma_sweep(jit, lo, hi):
    x = _non_integer(_rng(1).uniform(lo, hi, 2000))
    _assert_close(_apply(jit["_gamma"], x), sc.gamma(x), f"gamma [{lo}, {hi}]")


def test_gamma_hard_points(jit):
    x = np.concatenate(
        [
            [1e-300, 1e-30, 1e-10, 1e-3, 0.5, 1.0, 1.5, 2.0, 2.5, 3.5, 10.5, 20.5, 100.5],
            [170.5, 170.6, 171.6, 171.62, 171.624, 1e3, 1e8],
            [-0.5, -1.5, -2.5, -10.5, -49.5, -3 + 1e-9, -3 - 1e-9, -1 + 1e-15, -2 - 1e-12],
            [-1e-300, -1e-10, -170.5, -170.9, -100 + 1e-12],
        ]
    )
    # mpmath: SciPy flushes Γ(-170.9) = -1.4e-308 (subnormal) to zero
    _assert_close(_apply(jit["_gamma"], x), _mp_map(mpmath.gamma, x), "gamma hard points (mpmath)")


def test_gamma_subnormal_results(jit):
    # SciPy flushes the subnormal results of Γ below x = -171 to zero; use mpmath there.
    x = _non_integer(_rng(2).uniform(-184.0, -170.0, 300))
    _assert_close(_apply(jit["_gamma"], x), _mp_map(mpmath.gamma, x), "gamma subnormal (mpmath)")


def test_gamma_special_values(jit):
    g = jit["_gamma"]
    assert g(0.0) == math.inf and g(-0.0) == -math.inf
    for x in (-1.0, -2.0, -50.0, -1e20, -math.inf, math.nan):
        assert math.isnan(g(x))
    assert g(math.inf) == math.inf and g(171.7) == math.inf and g(5e-324) == math.inf
    assert g(-5e-324) == -math.inf
    assert g(-200.5) == 0.0 and math.copysign(1.0, g(-200.5)) == -1.0


# --- log Γ ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(1e-3, 0.5), (2.5, 10.0), (10.0, 1e3), (1e3, 1e8)],
)
def test_loggamma_sweep_scipy(jit, lo, hi):
    x = _rng(3).uniform(lo, hi, 2000)
    _assert_close(_apply(jit["_loggamma"], x), sc.gammaln(x), f"loggamma [{lo}, {hi}]")


def test_loggamma_log_spaced(jit):
    x = np.concatenate([10 ** _rng(4).uniform(-300, -3, 500), 10 ** _rng(5).uniform(8, 305, 500)])
    _assert_close(_apply(jit["_loggamma"], x), sc.gammaln(x), "loggamma tiny/huge")


def test_loggamma_near_one_and_two(jit):
    # SciPy's gammaln loses relative accuracy around its zeros 1 and 2 (errors up to ~1e-8
    # within 1e-6 of them, ~1e-12 on [0.5, 2.5]); compare with mpmath there.
    rng = _rng(6)
    eps = np.spacing(1.0)
    x = np.concatenate(
        [
            rng.uniform(0.5, 2.5, 400),
            1 + rng.uniform(-1e-6, 1e-6, 100),
            2 + rng.uniform(-1e-6, 1e-6, 100),
            1 + np.array([-3, -2, -1, 1, 2, 3, 1e3, -1e3]) * eps,
            2 + np.array([-3, -2, -1, 1, 2, 3, 1e3, -1e3]) * eps,
            [0.5, 1.5, 2.5, 1 - 1e-12, 2 + 1e-12],
        ]
    )
    ref = _mp_map(mpmath.loggamma, x)
    _assert_close(_apply(jit["_loggamma"], x), ref, "loggamma (0.5, 2.5) (mpmath)")


def _loggamma_reflection_scale(x):
    return (
        math.log(math.pi)
        + np.abs(np.log(np.abs(np.sin(np.pi * (x - np.round(x))))))
        + np.abs(sc.gammaln(1 - x))
    )


def test_loggamma_negative(jit):
    # Γ > 0 on (-2k, -2k+1). mpmath reference (log|Γ| = Re loggamma); SciPy has the same
    # absolute-error behaviour near the zeros of log Γ at -3.1436, -3.9553, ...
    rng = _rng(7)
    k = rng.integers(1, 25, 1500)
    x = np.concatenate(
        [
            -2.0 * k + rng.uniform(0, 1, k.size),
            -1.5 + rng.uniform(-0.5, 0.5, 300),
            -(10 ** rng.uniform(2, 6, 200)),
            [-1.5, -2 + 1e-15, -1 - 1e-15, -3.5, -4 + 1e-9, -49.5, -3.14358088834998],
        ]
    )
    # zeros of log Γ in (-4, -3), (-6, -5), (-8, -7) and their neighbourhoods
    for root in (-3.955294284858598, -3.14358088834998, -5.998607480080875, -5.0082181683225935):
        x = np.concatenate([x, root + np.linspace(-1e-6, 1e-6, 21)])
    x = _non_integer(x)
    x = x[np.floor(x) % 2 == 0]
    ref = _mp_map(mpmath.loggamma, x)
    got = _apply(jit["_loggamma"], x)
    _assert_close(
        got, ref, "loggamma negative (mpmath, mixed)", scale=_loggamma_reflection_scale(x)
    )
    far = np.abs(ref) > 1e-2 * _loggamma_reflection_scale(x)
    _assert_close(got[far], ref[far], "loggamma negative away from zeros (mpmath)")


def test_loggamma_special_values(jit):
    lg = jit["_loggamma"]
    for x in (0.0, -0.0, -1.0, -2.0, -3.0, -1e20, math.inf):
        assert lg(x) == math.inf
    for x in (-0.5, -2.5, -1e-300, -5e-324, -2.7, -4.2, -math.inf, math.nan):
        assert math.isnan(lg(x))
    assert lg(1.0) == 0.0 and lg(2.0) == 0.0
    assert lg(5e-324) == pytest.approx(744.4400719213812, rel=1e-15)
    # where Γ < 0, SciPy's gammaln is log|Γ| and gammasgn is -1: we return nan there
    x = _non_integer(_rng(8).uniform(-30.0, 0.0, 500))
    got = _apply(lg, x)
    assert np.all(np.isnan(got) == (sc.gammasgn(x) < 0))


# --- ψ --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(1e-3, 1.0), (1.0, 1.2), (1.2, 1.75), (1.75, 2.5), (2.5, 10.0), (10.0, 1e3), (1e3, 1e10)],
)
def test_digamma_sweep(jit, lo, hi):
    x = _rng(9).uniform(lo, hi, 2000)
    _assert_close(_apply(jit["_digamma"], x), sc.digamma(x), f"digamma [{lo}, {hi}]")


def test_digamma_near_root(jit):
    # Full relative accuracy at the positive zero x0 (mpmath reference, where |ψ| ~ 1e-16).
    steps = np.array([1, 2, 3, 5, 10, 100, 1e4, 1e6, 1e8, 1e10, 1e12, 1e14])
    ulp = np.spacing(X0)
    x = np.concatenate(
        [
            [X0],
            X0 + steps * ulp,
            X0 - steps * ulp,
            X0 + _rng(10).uniform(-1e-8, 1e-8, 200),
            X0 + _rng(11).uniform(-0.3, 0.3, 300),
            [X0 - 0.25, X0 + 0.25, 1.2116321449683622, 1.7116321449683622],
        ]
    )
    _assert_close(
        _apply(jit["_digamma"], x), _mp_map(mpmath.digamma, x), "digamma near x0 (mpmath)"
    )


def test_digamma_hard_points(jit):
    # mpmath: SciPy's asymptotic branch for x >= 10 rounds exactly like ours, so it is not an
    # independent reference there
    x = np.concatenate(
        [
            [1e-300, 1e-100, 1e-10, 0.5, 1.0, 1.5, 2.0, 2.5, 10.0, 1e3, 1e8, 1e300, 1.7e308],
            [np.nextafter(2.5, 0), np.nextafter(10.0, 0), np.nextafter(1.5, 0)],
            10 ** _rng(10).uniform(1, 10, 200),
        ]
    )
    _assert_close(_apply(jit["_digamma"], x), _mp_map(mpmath.digamma, x), "digamma hard (mpmath)")


def _digamma_reflection_scale(x):
    return np.abs(sc.digamma(1 - x)) + np.pi * np.abs(1 / np.tan(np.pi * (x - np.round(x))))


def test_digamma_negative(jit):
    # mpmath reference: SciPy's digamma is off by up to ~5000 ulp of the reflection terms for
    # some negative x. ψ has a zero in each (-k-1, -k); the mixed bound applies there.
    rng = _rng(12)
    roots = [
        -0.5040830082644554,
        -1.5734984731623904,
        -2.6107208684441447,
        -3.635293366436901,
        -10.708740838254144,
        -29.763032029127462,
        -99.80953650218777,
    ]
    x = np.concatenate(
        [
            -rng.uniform(0.0, 50.0, 1500),
            -(10 ** rng.uniform(0, 6, 300)),
            [-0.5, -1.5, -50.5, -1e-300, -1e-10, -3 + 1e-9, -3 - 1e-9, -1 + 1e-15],
            *[r + np.linspace(-1e-3, 1e-3, 41) for r in roots],
            *[r + np.array([-1e-9, 0.0, 1e-9]) for r in roots],
        ]
    )
    x = _non_integer(x)
    ref = _mp_map(mpmath.digamma, x)
    got = _apply(jit["_digamma"], x)
    scale = _digamma_reflection_scale(x)
    _assert_close(got, ref, "digamma negative (mpmath, mixed)", scale=scale)
    far = np.abs(ref) > 1e-2 * scale
    _assert_close(got[far], ref[far], "digamma negative away from zeros (mpmath)")


def test_digamma_special_values(jit):
    d = jit["_digamma"]
    assert d(0.0) == -math.inf and d(-0.0) == math.inf  # as SciPy
    assert d(math.inf) == math.inf and d(5e-324) == -math.inf
    for x in (-1.0, -2.0, -1e20, -math.inf, math.nan):
        assert math.isnan(d(x))
    x = np.array([0.0, -0.0, -1.0, -7.0, math.inf, -math.inf])
    got = _apply(d, x)
    assert np.array_equal(got, sc.digamma(x), equal_nan=True)


# --- ψ⁽ⁿ⁾ ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 10])
def test_polygamma_positive(jit, n):
    rng = _rng(13 + n)
    x = np.concatenate(
        [
            rng.uniform(1e-3, 1.0, 500),
            rng.uniform(1.0, 10.0, 500),
            rng.uniform(10.0, 100.0, 300),
            10 ** rng.uniform(2, 8, 300),
            10 ** rng.uniform(-30, -3, 100),
            [1e-10, 0.5, 1.0, 1.5, 2.0, n + 6.5, n + 7.0, n + 7.5, 1e8],
        ]
    )
    got = _apply(lambda v: jit["_polygamma"](n, v), x)
    with np.errstate(over="ignore"):  # SciPy's n! ζ(n+1, x) overflows for tiny x, as it should
        ref = sc.polygamma(n, x)
    _assert_close(got, ref, f"polygamma n={n} x>0")


def _mp_polygamma(n, x):
    # mpmath's psi(n, x) can take seconds for large negative x; there (x < -1000, all test
    # points far from the poles) use the reflection ψ⁽ⁿ⁾(x) = (-1)ⁿ ψ⁽ⁿ⁾(1 - x) - π dⁿ/dxⁿ cot(πx)
    # with mpmath's numerical differentiation at 160 bits
    def f(t):
        if t > -1000:
            return mpmath.psi(n, t)
        cot_n = mpmath.diff(lambda s: mpmath.cot(mpmath.pi * s), t, n)
        return (-1) ** n * mpmath.psi(n, 1 - t) - mpmath.pi * cot_n

    return _mp_map(f, x)


def _polygamma_reflection_scale(n, x):
    f = x - np.floor(x)
    s = n + 1
    return math.factorial(n) * (sc.zeta(s, f) + sc.zeta(s, 1 - f) + sc.zeta(s, 1 - x))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 10])
def test_polygamma_negative(jit, n):
    # mpmath reference. Odd n: ψ⁽ⁿ⁾ > 0 for all x, full relative accuracy. Even n: ψ⁽ⁿ⁾ has
    # zeros near the negative half-integers, where the mixed bound applies.
    rng = _rng(23 + n)
    x = np.concatenate(
        [
            -rng.uniform(0.0, 50.0, 250),
            -(10 ** rng.uniform(0, 6, 60)),
            -np.arange(1, 30) + 0.5 + rng.uniform(-1e-3, 1e-3, 29),
            [-0.5, -1.5, -3 + 1e-9, -3 - 1e-9, -1e-100, -1 + 1e-12, -49.5],
        ]
    )
    x = _non_integer(x)
    ref = _mp_polygamma(n, x)
    got = _apply(lambda v: jit["_polygamma"](n, v), x)
    scale = None if n % 2 else _polygamma_reflection_scale(n, x)
    _assert_close(got, ref, f"polygamma n={n} x<0 (mpmath{'' if n % 2 else ', mixed'})", scale)
    if n % 2 == 0:
        far = np.abs(ref) > 1e-2 * scale
        _assert_close(got[far], ref[far], f"polygamma n={n} x<0 away from zeros (mpmath)")


def test_polygamma_special_values(jit):
    pg = jit["_polygamma"]
    for n in (1, 2, 5):
        for x in (0.0, -0.0, -1.0, -2.0, -1e20, -math.inf, math.nan):
            assert math.isnan(pg(n, x))
        assert pg(n, math.inf) == 0.0
        assert pg(n, 5e-324) == (math.inf if n % 2 else -math.inf)
    assert math.isnan(pg(-1, 2.0))
    for x in (0.3, 1.0, 7.5, -2.5, 0.0, -1.0):
        assert pg(0, x) == jit["_digamma"](x) or math.isnan(pg(0, x))
    assert pg(1, 1.0) == pytest.approx(math.pi**2 / 6, rel=1e-15)


# --- B --------------------------------------------------------------------------------


def _mp_beta(a, b):
    # rgamma keeps B = 0 where a + b is a non-positive integer; a + b is formed exactly
    # (at 160 bits, 1e300 - 0.5 would round to 1e300)
    def f(p, q):
        return mpmath.gamma(p) * mpmath.gamma(q) * mpmath.rgamma(mpmath.fadd(p, q, exact=True))

    return _mp_map(f, a, b)


def test_beta_small_positive_scipy(jit):
    rng = _rng(40)
    a, b = rng.uniform(0.0, 10.0, 2000), rng.uniform(0.0, 10.0, 2000)
    _assert_close(_apply(jit["_beta"], a, b), sc.beta(a, b), "beta (0, 10)^2")


# SciPy's beta goes through exp(lgamma sums) beyond a + b > 171 and loses up to 1e-7 there
# (and ~1e-11 with negative arguments), so these domains use mpmath.
BETA_DOMAINS = {
    "tiny a": (lambda r, m: 10 ** r.uniform(-300, 0, m), lambda r, m: r.uniform(0, 10, m)),
    "(0, 200)^2": (lambda r, m: r.uniform(0, 200, m), lambda r, m: r.uniform(0, 200, m)),
    "(10, 600)^2": (lambda r, m: r.uniform(10, 600, m), lambda r, m: r.uniform(10, 600, m)),
    "large/small": (lambda r, m: 10 ** r.uniform(1, 8, m), lambda r, m: r.uniform(0, 10, m)),
    "large/mid": (lambda r, m: 10 ** r.uniform(1, 8, m), lambda r, m: r.uniform(10, 40, m)),
    "huge/tiny": (
        lambda r, m: 10 ** r.uniform(8, 300, m),
        lambda r, m: 10 ** r.uniform(-300, -8, m),
    ),
    "neg a in (-10, 0)": (lambda r, m: -r.uniform(0, 10, m), lambda r, m: r.uniform(0, 10, m)),
    "neg a, b < 100": (lambda r, m: -r.uniform(0, 50, m), lambda r, m: r.uniform(0, 100, m)),
    "neg a, large b": (lambda r, m: -r.uniform(0, 10, m), lambda r, m: 10 ** r.uniform(1, 6, m)),
    # B up to and past overflow (B = Γ(a) b^-a roughly)
    "neg a, huge b": (lambda r, m: -r.uniform(0, 30, m), lambda r, m: 10 ** r.uniform(10, 30, m)),
    "a in (-100,-10), b mid": (
        lambda r, m: -r.uniform(10, 100, m),
        lambda r, m: r.uniform(50, 300, m),
    ),
    "both neg": (lambda r, m: -r.uniform(0, 50, m), lambda r, m: -r.uniform(0, 50, m)),
    "both neg large": (lambda r, m: -r.uniform(50, 300, m), lambda r, m: -r.uniform(50, 300, m)),
}


@pytest.mark.parametrize("domain", list(BETA_DOMAINS))
def test_beta_sweep_mpmath(jit, domain):
    rng = _rng(41 + list(BETA_DOMAINS).index(domain))
    fa, fb = BETA_DOMAINS[domain]
    a, b = fa(rng, 300), fb(rng, 300)
    ok = ~((a <= 0) & (a == np.floor(a))) & ~((b <= 0) & (b == np.floor(b)))  # no poles
    a, b = a[ok], b[ok]
    ref = _mp_beta(a, b)
    got = _apply(jit["_beta"], a, b)
    # exclude results that underflow (B < 2**-1022) from the relative sweep
    keep = np.abs(ref) >= 2.0**-1022
    _assert_close(got[keep], ref[keep], f"beta {domain} (mpmath)")
    assert np.all(got[~keep] == 0.0) or np.all(np.abs(got[~keep]) < 2.0**-1000)
    # symmetry is exact
    assert np.array_equal(_apply(jit["_beta"], b, a), got, equal_nan=True)


def test_beta_hard_points(jit):
    pairs = [
        (200.0, 200.0),  # Γ overflows, B = 1e-121
        (500.0, 500.0),  # B = 1e-302, exp(log B) would lose ~700 ulp
        (300.5, 300.5),
        (1e3, 10.0),
        (1e-300, 1.0),
        (1e-300, 1e-300),
        (1e-300, 300.0),
        (0.5, 0.5),
        (1.0, 1.0),
        (170.0, 1.5),
        (171.0, 0.25),
        (1e8, 1e-8),
        (1e15, 2.5),
        (-0.5, 0.5 + 1e-12),  # a + b just above 0
        (-0.5, 0.5 - 1e-12),  # a + b just below 0: B near its zero
        (-2.5, 1.5 + 1e-10),  # a + b = -1 + 1e-10
        (-0.25, -0.75 - 1e-12),
        (-3 + 1e-9, 2.5),
        (-3 - 1e-9, -0.5),
        (-49.5, 20.25),
        (-0.5, 1e300),
        (-10.5, 1e28),  # B = 2.6e287: large b, B(1 - a, a + b) would underflow
        (-12.5, 1e25),  # B = 5.8e303
        (-150.5, 1e17),
        (-9.5, 1e5),
        (-20.5, 30.25),
        (-1e-10, 1e-10 + 1e-20),
        (-150.3, 151.1),
        (-0.5, -0.5),  # a + b = -1: B = 0
        (-1.25, -0.75),  # a + b = -2: B = 0
        (-0.3, 0.3),  # a + b = 0: B = 0
    ]
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    ref = _mp_beta(a, b)
    got = _apply(jit["_beta"], a, b)
    zero = ref == 0.0
    assert np.all(got[zero] == 0.0)
    _assert_close(got[~zero], ref[~zero], "beta hard points (mpmath)")


def test_beta_special_values(jit):
    be = jit["_beta"]
    inf, nan = math.inf, math.nan
    # finite limits where Γ(a) and Γ(a + b) both have poles (as SciPy)
    for a, b in [(-3.0, 1.0), (-3.0, 2.0), (-3.0, 3.0), (-5.0, 2.0), (-10.0, 4.0)]:
        assert be(a, b) == pytest.approx(sc.beta(a, b), rel=1e-14)
        assert be(b, a) == be(a, b)
    assert be(-3.0, 2.0) == pytest.approx(1 / 6, rel=1e-15)
    # sign of a zero argument, as Γ(±0) (SciPy returns +inf for both)
    assert be(0.0, 2.0) == inf and be(-0.0, 2.0) == -inf and be(2.5, -0.0) == -inf
    # two-sided poles -> nan (SciPy returns inf); both arguments poles -> nan
    for a, b in [(-1.0, 2.0), (-3.0, 4.0), (-2.0, 0.5), (-1.0, -1.0), (0.0, 0.0), (-1.0, 0.0)]:
        assert math.isnan(be(a, b)) and math.isnan(be(b, a))
    # infinities and nan
    assert be(inf, 2.0) == 0.0 and be(inf, inf) == 0.0 and be(2.0, inf) == 0.0
    assert be(inf, -1.5) == inf and be(inf, -2.5) == -inf  # sign of Γ(b)
    for a, b in [(inf, 0.0), (-inf, 2.0), (nan, 1.0), (1.0, nan), (-inf, -inf), (inf, -2.0)]:
        assert math.isnan(be(a, b))
    # overflow and underflow follow the true value
    assert be(1e-310, 1.0) == inf
    assert be(1e300, 1e300) == 0.0
    assert be(-20.5, 1e30) == -inf  # Γ(-20.5) (1e30)^20.5 overflows
    assert be(-200.5, 1e30) == -inf and be(-200.5, 1e10) == -inf and be(-201.5, 1e10) == inf


# --- structure: pure Python, compilation, dependencies ------------------------------------


def test_pure_python_agrees_with_compiled(jit):
    cases = [
        ("_gamma", [(0.3,), (4.5,), (-2.5,), (150.2,)]),
        ("_loggamma", [(0.3,), (1.0 + 1e-9,), (45.5,), (-3.5,), (1e10,)]),
        ("_digamma", [(0.3,), (1.46,), (7.5,), (-2.5,), (1e5,)]),
        ("_polygamma", [(0, 0.7), (1, 0.3), (3, 12.5), (2, -2.25), (5, -7.1)]),
        ("_beta", [(0.5, 0.7), (200.0, 200.0), (-2.5, 1.25), (-0.5, -1.75), (1e3, 2.5)]),
    ]
    for name, args_list in cases:
        for args in args_list:
            py = getattr(special, name)(*args)
            nb = jit[name](*args)
            assert isinstance(py, float) and isinstance(nb, float)
            assert py == pytest.approx(nb, rel=1e-14), (name, args)


def test_functions_compile_to_float64(jit):
    for name in special.FUNCTIONS:
        sigs = jit[name].nopython_signatures
        assert sigs, name
        assert all(sig.return_type == numba.float64 for sig in sigs), (name, sigs)


def _called_names(fn):
    tree = ast.parse(inspect.getsource(fn))
    return {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


def test_dependencies_closed_and_ordered():
    names = set(special.FUNCTIONS)
    assert len(names) == len(special.FUNCTIONS)
    assert set(special.DEPENDENCIES) == names
    assert set(PUBLIC) <= names
    defined = {
        n
        for n, obj in vars(special).items()
        if inspect.isfunction(obj) and obj.__module__ == special.__name__
    }
    assert defined == names  # every function of the file is listed
    seen = set()
    for name in special.FUNCTIONS:
        fn = getattr(special, name)
        assert name.startswith("_")
        doc = inspect.getdoc(fn)
        assert doc and "\n" not in doc, f"{name}: needs a one-line docstring"
        called = _called_names(fn) & names
        assert called == set(special.DEPENDENCIES[name]), name
        assert set(special.DEPENDENCIES[name]) <= seen, f"{name} listed before its dependencies"
        # only math, np and functions of this file may be referenced: only sources are pasted
        globals_used = set(inspect.getclosurevars(fn).globals)
        assert globals_used <= {"math", "np"} | names, (name, globals_used)
        seen.add(name)
