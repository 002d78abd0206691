"""Real special functions for generated kernels: Γ, log Γ, ψ, ψ⁽ⁿ⁾ and B.

The functions here are plain Python on purpose. The emitter copies each one's source with
``inspect.getsource`` into a generated module, where it is compiled under
``@numba.njit(cache=True, error_model="numpy")``. Hence every function

* uses only ``math``, ``np`` scalar functions, float/int arithmetic and simple control flow
  (the generated module provides ``import math`` and ``import numpy as np``);
* keeps its coefficient tables inside its own body, because only function sources are
  copied (no module-level constants are available at run time);
* takes float64 scalars (an int order ``n``/``s`` where noted) and returns a float64;
* follows IEEE semantics instead of raising: ``inf``/``-inf``/``nan`` at poles and outside
  the domain. (Run uncompiled by CPython, a few of those special points raise instead,
  e.g. ``1.0 / 0.0``; only the compiled form promises IEEE results everywhere.)

Public functions
----------------
``_gamma(x)``, ``_loggamma(x)``, ``_digamma(x)``, ``_polygamma(n, x)``, ``_beta(a, b)``.
The remaining functions are helpers. ``DEPENDENCIES`` maps every function to the functions
of this file that it calls directly, and ``FUNCTIONS`` lists all of them in a valid
definition order (dependencies first), so the emitter can paste a closure in order.

Accuracy
--------
Relative error below 1e-13 -- in practice below 2e-15 (a few ulp) -- against mpmath on the
real domains, with one exception: near the zeros that lie on the negative axis (zeros of
log Γ in (-4, -3), (-6, -5), ...; of ψ in every (-k-1, -k); of ψ⁽ⁿ⁾ for even n) the result is
the difference of the two O(1) terms of a reflection formula, and the error is a few ulp of
those terms (absolute, not relative), just as for SciPy. Near the positive zeros (log Γ at
1 and 2, ψ at x0 = 1.4616...) full relative accuracy is kept by Taylor expansions about
them. Subnormal results carry the (absolute) precision of subnormal numbers.

Conventions at poles (documented per function)
----------------------------------------------
* ``_gamma``: C99 ``tgamma``: Γ(±0) = ±inf, Γ(-k) = nan, Γ(-inf) = nan, Γ(+inf) = inf,
  overflow -> inf.
* ``_loggamma``: log Γ(x) where Γ(x) > 0; nan where Γ(x) < 0 and at -inf; +inf at 0, at the
  negative integers and at +inf.
* ``_digamma``: ψ(+0) = -inf, ψ(-0) = +inf, ψ(-k) = nan, ψ(-inf) = nan, ψ(+inf) = inf
  (the same as SciPy).
* ``_polygamma``: nan at x = 0, -1, -2, ... and at -inf, nan for n < 0; ψ⁽ⁿ⁾(+inf) = ±0.
* ``_beta``: see its docstring (the sign of a zero argument is honoured, as in Γ).

Sources of the formulas
-----------------------
Abramowitz & Stegun (A&S), Handbook of Mathematical Functions, §6.1-6.4, and the NIST DLMF
(§5.5, 5.7, 5.11, 5.15, 25.11): the Taylor series of log Γ(1+z) (A&S 6.1.33, DLMF 5.7.3),
Stirling's series (A&S 6.1.40, DLMF 5.11.1), the asymptotic series of ψ and ψ⁽ⁿ⁾ (A&S 6.3.18,
6.4.11), the recurrences and reflection formulas (A&S 6.1.17, 6.3.5, 6.3.7, 6.4.6, 6.4.7),
ψ⁽ⁿ⁾(x) = (-1)ⁿ⁺¹ n! ζ(n+1, x) (DLMF 25.11.12) and the Euler-Maclaurin formula for the
Hurwitz zeta function (DLMF 2.10.1 / 25.11). Coefficients are Bernoulli numbers and values of
ζ(k) - 1 and ζ(k+1, x0) computed with mpmath at 60 digits. Exact products use Dekker's
two-product with Veltkamp splitting and Knuth's two-sum.
"""

import math

import numpy as np

__all__ = [
    "DEPENDENCIES",
    "FUNCTIONS",
    "_beta",
    "_digamma",
    "_gamma",
    "_loggamma",
    "_polygamma",
]


# --- trigonometric helpers with exact argument reduction -------------------------------


def _sinpi_dd(hi, lo):
    """sin(π(hi + lo)) with exact reduction of hi; lo is a tiny correction (|lo| <= ulp(hi))."""
    if not math.isfinite(hi):
        return math.nan
    if abs(hi) >= 4503599627370496.0:
        # |hi| >= 2**52: hi is an even or odd integer; sin(π(hi + lo)) = ±π lo
        n = hi
        r = lo
    else:
        # nearest integer n; hi - n is exact (Sterbenz), |hi - n| <= 1/2
        n = np.floor(hi + 0.5)
        r = (hi - n) + lo
    ar = abs(r)
    if ar <= 0.25:
        v = math.sin(math.pi * r)
    else:
        # sin(πr) = ±cos(π(1/2 - |r|)) with 1/2 - |r| exact: the argument of the libm call
        # stays below π/4, and sin(π/2) = 1 exactly
        v = math.copysign(math.cos(math.pi * (0.5 - ar)), r)
    # sin(π(n + r)) = (-1)^n sin(πr)
    half = 0.5 * n
    if half != np.floor(half):
        return -v
    return v


def _cotpi(x):
    """cot(πx) for finite non-integer x, with exact reduction (cot has period 1)."""
    r = x - np.floor(x + 0.5)  # exact, |r| <= 1/2
    ar = abs(r)
    if ar <= 0.25:
        return math.cos(math.pi * r) / math.sin(math.pi * r)
    # cot(π r) = tan(π(1/2 - r)); 1/2 - |r| is exact, so cot(π/2) = 0 exactly
    return math.copysign(math.tan(math.pi * (0.5 - ar)), r)


# --- log Γ -----------------------------------------------------------------------------


def _stirling_corr(x):
    """Stirling correction μ(x) = log Γ(x) - (x - 1/2) log x + x - log(2π)/2 for x >= 10."""
    # μ(x) ~ Σ_{k>=1} B_{2k} / (2k (2k-1) x^(2k-1)) (A&S 6.1.40); for x >= 10 the first
    # omitted term (k = 9) is below 2e-18, i.e. below 1e-17 relative to log Γ(x).
    y = 1.0 / (x * x)
    p = -3617.0 / 122400.0
    p = p * y + 1.0 / 156.0
    p = p * y - 691.0 / 360360.0
    p = p * y + 1.0 / 1188.0
    p = p * y - 1.0 / 1680.0
    p = p * y + 1.0 / 1260.0
    p = p * y - 1.0 / 360.0
    p = p * y + 1.0 / 12.0
    return p / x


def _lgamma_2pz(z):
    """log Γ(2 + z) for |z| <= 1/2 by its Taylor series (A&S 6.1.33 combined with log(1+z))."""
    # log Γ(2+z) = (1 - γ) z + Σ_{k>=2} (-1)^k (ζ(k) - 1) / k z^k  (converges for |z| < 2).
    # The coefficients behave like 2^-k / k, so for |z| <= 1/2 the terms shrink like 4^-k;
    # k <= 29 leaves a truncation error below 1e-19 (relative 1e-18 on [1.5, 2.5]).
    # Coefficients: (-1)^k (ζ(k) - 1) / k for k = 29 down to 2, computed with mpmath.
    c = (
        -6.4229645638381e-11,
        1.330476437424449e-10,
        -2.7595228851242334e-10,
        5.731367241678862e-10,
        -1.1921401405860912e-09,
        2.4836745438024785e-09,
        -5.183475041970047e-09,
        1.0838659214896955e-08,
        -2.2711094608943164e-08,
        4.7698101693639804e-08,
        -1.0043224823968099e-07,
        2.1207184805554665e-07,
        -4.492469198764566e-07,
        9.55141213040742e-07,
        -2.039215753801366e-06,
        4.374866789907488e-06,
        -9.439488275268397e-06,
        2.050721277567069e-05,
        -4.492623673813314e-05,
        9.945751278180853e-05,
        -0.00022315475845357939,
        0.0005096695247430425,
        -0.001192753911703261,
        0.0028905103307415234,
        -0.007385551028673986,
        0.020580808427784546,
        -0.0673523010531981,
        0.3224670334241132,
    )
    p = 0.0
    for ck in c:
        p = p * z + ck
    # 1 - γ (Euler's constant γ = 0.5772156649...)
    return z * (p * z + 0.42278433509846713)


def _lgamma_pos(x):
    """log Γ(x) for x > 0 (x may be +inf), accurate to a few ulp including near x = 1, 2."""
    if x >= 10.0:
        if x == math.inf:
            return math.inf
        # Stirling: (x - 1/2) log x - x + log(2π)/2 + μ(x), written to overflow only when
        # log Γ itself does (x > 2.55e305)
        lx = math.log(x)
        return x * (lx - 1.0) - 0.5 * lx + 0.9189385332046728 + _stirling_corr(x)
    if x < 0.5:
        # log Γ(x) = log Γ(2 + x) - log(1 + x) - log x; x itself is the exact offset
        return _lgamma_2pz(x) - math.log1p(x) - math.log(x)
    if x < 1.5:
        # log Γ(x) = log Γ(2 + z) - log(1 + z), z = x - 1 exact: relative accuracy at x = 1
        z = x - 1.0
        return _lgamma_2pz(z) - math.log1p(z)
    if x < 2.5:
        return _lgamma_2pz(x - 2.0)  # x - 2 exact: relative accuracy at x = 2
    # 2.5 <= x < 10: log Γ(x) = log Γ(x - m) + log((x-1)(x-2)...(x-m)), x - m in [1.5, 2.5);
    # each x - k is exact and all terms are positive, so nothing cancels
    prod = 1.0
    while x >= 2.5:
        x -= 1.0
        prod *= x
    return _lgamma_2pz(x - 2.0) + math.log(prod)


def _psi_approx(x):
    """Rough ψ(x) for x > 0 (absolute error < 0.01), for first-order rounding corrections."""
    if x < 1.0:
        y = x + 1.0
        return math.log(y) - 0.5 / y - 1.0 / (12.0 * y * y) - 1.0 / x
    return math.log(x) - 0.5 / x - 1.0 / (12.0 * x * x)


def _gamma(x):
    """Γ(x) with C99 tgamma semantics: ±0 -> ±inf, negative integers and -inf -> nan."""
    # Numba compiles math.gamma to the C library's tgamma, accurate to a few ulp over the
    # whole real line (including the reflection region and subnormal results), and already
    # IEEE at the special points; the explicit cases below make the convention independent
    # of the backend (CPython's math.gamma raises there instead).
    if x != x:
        return x
    if x == 0.0:
        return math.copysign(math.inf, x)  # pole: Γ(±0) = ±inf
    if x < 0.0 and x == np.floor(x):
        return math.nan  # negative integers (two-sided poles) and -inf
    if x > 171.62437695630272:
        return math.inf  # Γ(x) > DBL_MAX (includes +inf)
    return math.gamma(x)


def _loggamma(x):
    """log Γ(x) where Γ(x) > 0; nan where Γ(x) < 0 or x = -inf; +inf at poles and at +inf."""
    # x > 0 by _lgamma_pos. For x < 0 Γ(x) > 0 exactly on the intervals (-2k, -2k+1), i.e.
    # where floor(x) is even, and there the reflection formula (A&S 6.1.17)
    #   log Γ(x) = log π - log|sin(πx)| - log Γ(1 - x)
    # holds. Near its zeros on the negative axis (x = -3.1436..., -3.9553..., -5.0082..., ...)
    # the result is a difference of O(1) terms and the error is a few ulp of those terms
    # (absolute, ~1e-15), as for SciPy's gammaln.
    if x != x:
        return x
    if x > 0.0:
        return _lgamma_pos(x)
    if x == -math.inf:
        return math.nan
    fl = np.floor(x)
    if x == fl:
        return math.inf  # poles: 0, -1, -2, ...
    if fl - 2.0 * np.floor(0.5 * fl) != 0.0:
        return math.nan  # floor(x) odd: Γ(x) < 0
    # 1 - x = p + p_lo exactly (two-sum); log Γ(p + p_lo) ≈ log Γ(p) + ψ(p) p_lo
    p = 1.0 - x
    bb = p - 1.0
    p_lo = (1.0 - (p - bb)) + (-x - bb)
    lg1mx = _lgamma_pos(p) + _psi_approx(p) * p_lo
    # log π = 1.1447298858494002
    return 1.1447298858494002 - math.log(abs(_sinpi_dd(x, 0.0))) - lg1mx


# --- ψ and ψ⁽ⁿ⁾ ------------------------------------------------------------------------


def _digamma_asym(x):
    """ψ(x) for x >= 10 by the asymptotic series ln x - 1/(2x) - Σ B_2k / (2k x^2k)."""
    # A&S 6.3.18; with terms up to B_16 the first omitted term at x = 10 is 3e-18.
    y = 1.0 / (x * x)
    p = -3617.0 / 8160.0
    p = p * y + 1.0 / 12.0
    p = p * y - 691.0 / 32760.0
    p = p * y + 1.0 / 132.0
    p = p * y - 1.0 / 240.0
    p = p * y + 1.0 / 252.0
    p = p * y - 1.0 / 120.0
    p = p * y + 1.0 / 12.0
    return math.log(x) - 0.5 / x - p * y


def _psi_2pz(z):
    """ψ(2 + z) for |z| <= 1/2 by its Taylor series (A&S 6.3.14 combined with 1/(1+z))."""
    # ψ(2+z) = (1 - γ) + Σ_{k>=1} (-1)^(k+1) (ζ(k+1) - 1) z^k  (converges for |z| < 2);
    # the coefficients behave like 2^-(k+1), so for |z| <= 1/2 the terms shrink like 4^-k
    # and k <= 30 leaves < 1e-19. Coefficients for k = 30 down to 1, computed with mpmath.
    c = (
        -4.656629065033784e-10,
        9.313274324196682e-10,
        -1.862659723513049e-09,
        3.725334024788457e-09,
        -7.45071178983543e-09,
        1.4901554828365043e-08,
        -2.980350351465228e-08,
        5.960818905125948e-08,
        -1.1921992596531106e-07,
        2.38450502727733e-07,
        -4.769329867878064e-07,
        9.539620338727962e-07,
        -1.908212716553939e-06,
        3.81729326499984e-06,
        -7.637197637899763e-06,
        1.528225940865187e-05,
        -3.058823630702049e-05,
        6.124813505870483e-05,
        -0.00012271334757848915,
        0.0002460865533080483,
        -0.0004941886041194645,
        0.0009945751278180853,
        -0.0020083928260822143,
        0.00407735619794434,
        -0.008349277381922827,
        0.01734306198444914,
        -0.03692775514336993,
        0.08232323371113819,
        -0.2020569031595943,
        0.6449340668482264,
    )
    p = 0.0
    for ck in c:
        p = p * z + ck
    return p * z + 0.42278433509846713


def _psi_root(h):
    """ψ(x0 + h) for |h| <= 1/4 about the positive zero x0 = 1.4616321449683622... of ψ."""
    # Taylor series ψ(x0 + h) = Σ_{k>=1} c_k h^k, c_k = ψ^(k)(x0)/k! = (-1)^(k+1) ζ(k+1, x0)
    # (DLMF 25.11.12), radius of convergence x0: for |h| <= 1/4 the terms shrink by 0.17 per
    # order and k <= 24 leaves < 1e-17 relative. Being a multiple of h, the sum keeps full
    # relative accuracy as x -> x0, provided h is formed exactly (see _digamma_pos).
    # Coefficients for k = 24 down to 1, computed with mpmath.
    c = (
        -7.569179582195066e-05,
        0.0001106337276874741,
        -0.00016170622091974803,
        0.00023635601564027053,
        -0.0003454680251063077,
        0.000504953265834602,
        -0.0007380709389960052,
        0.0010788252019162967,
        -0.0015769367714301972,
        0.002305126326734928,
        -0.003369801655439328,
        0.004926781395729853,
        -0.007204534386356869,
        0.010538791616612175,
        -0.01542476590494896,
        0.022597648232218104,
        -0.03316112647484736,
        0.04880428816414311,
        -0.07219956125645471,
        0.10782405069126237,
        -0.16394270544240652,
        0.258499760955651,
        -0.4427631689835921,
        0.9676722454476212,
    )
    p = 0.0
    for ck in c:
        p = p * h + ck
    return p * h


def _digamma_pos(x):
    """ψ(x) for x > 0 (x may be +inf), with full relative accuracy at the root x0 = 1.4616..."""
    if x >= 10.0:
        return _digamma_asym(x)
    # Bring x into [x0 - 1/4, 5/2) with the recurrence ψ(x+1) = ψ(x) + 1/x (A&S 6.3.5):
    # downwards from [5/2, 10), where every term is positive (x - 1 is exact), or upwards
    # by one or two steps from (0, x0 - 1/4), where -1/x dominates ψ(x).
    acc = 0.0
    if x >= 2.5:
        while x >= 2.5:
            x -= 1.0
            acc += 1.0 / x
    elif x < 1.2116321449683622:
        while x < 1.5:
            acc -= 1.0 / x
            x += 1.0
    h = x - 1.4616321449683622  # exact (Sterbenz) for x in [0.74, 2.9]
    if abs(h) <= 0.25:
        # x0 = 1.4616321449683622 + 9.549995429965697e-17 (mpmath): h - x0_lo is the exact
        # offset to double-double accuracy, so ψ keeps full relative accuracy near x0
        return acc + _psi_root(h - 9.549995429965697e-17)
    return acc + _psi_2pz(x - 2.0)  # x - 2 exact, x in (1.71, 2.5)


def _digamma(x):
    """ψ(x) for real x; ψ(+0) = -inf, ψ(-0) = +inf, nan at negative integers and -inf."""
    # x < 0: reflection ψ(x) = ψ(1 - x) - π cot(πx) (A&S 6.3.7), cot with exact reduction.
    # ψ has one zero in each (-k-1, -k); near those zeros the error is a few ulp of the two
    # terms (absolute, ~1e-15 * (1 + log|x|)) rather than relative, as with SciPy.
    if x != x:
        return x
    if x == 0.0:
        return math.copysign(math.inf, -x)
    if x < 0.0:
        if x == np.floor(x):
            return math.nan  # negative integers and -inf
        # 1 - x = p + p_lo exactly (two-sum); ψ(p + p_lo) ≈ ψ(p) + ψ'(p) p_lo with
        # ψ'(p) ≈ (1 + 1/(2p) + 1/(6p²)) / p (A&S 6.4.12, within 2% for p > 1), which matters
        # for x in (-1, 0), where 1 - x often rounds and ψ(1 - x) may be near its zero
        p = 1.0 - x
        bb = p - 1.0
        p_lo = (1.0 - (p - bb)) + (-x - bb)
        ip = 1.0 / p
        d1 = p_lo * ip * (1.0 + ip * (0.5 + ip / 6.0))
        return (_digamma_pos(p) + d1) - math.pi * _cotpi(x)
    return _digamma_pos(x)


def _hurwitz_zeta(s, a):
    """Hurwitz zeta ζ(s, a) = Σ_{k>=0} (a + k)^-s for integer s >= 2 and a > 0 (a may be +inf)."""
    # Euler-Maclaurin (DLMF 2.10.1 applied to 25.11.1): with w = a + m,
    #   ζ(s, a) = Σ_{k<m} (a+k)^-s + w^(1-s)/(s-1) + w^-s/2
    #             + Σ_{j=1}^{12} B_2j/(2j)! (s)_(2j-1) w^(-s-2j+1) + R,
    # (s)_r the rising factorial. Choosing w >= s + 7 makes |R| < 1e-17 ζ for every s
    # (checked with mpmath for s = 2 ... 51).
    sf = float(s)
    m = 0
    if a < sf + 7.0:
        m = math.ceil(sf + 7.0 - a)  # an int, in CPython and in Numba
    w = a + m
    direct = 0.0
    for k in range(m - 1, -1, -1):  # smallest terms first
        direct += math.pow(a + k, -sf)
    # B_2j / (2j)! for j = 1 ... 12
    b = (
        1.0 / 12.0,
        -1.0 / 720.0,
        1.0 / 30240.0,
        -1.0 / 1209600.0,
        1.0 / 47900160.0,
        -691.0 / 1307674368000.0,
        1.0 / 74724249600.0,
        -3.3896802963225827e-13,
        8.586062056277845e-15,
        -2.174868698558062e-16,
        5.5090028283602295e-18,
        -1.3954464685812522e-19,
    )
    iw2 = 1.0 / (w * w)
    fac = sf / w  # (s)_(2j-1) / w^(2j-1) for j = 1
    tail = 0.0
    j = 0
    for bj in b:
        tail += bj * fac
        fac *= (sf + 2.0 * j + 1.0) * (sf + 2.0 * j + 2.0) * iw2
        j += 1
    # factor w^(1-s) out so that nothing underflows before the result does
    return direct + math.pow(w, 1.0 - sf) * (1.0 / (sf - 1.0) + (0.5 + tail) / w)


def _polygamma(n, x):
    """ψ⁽ⁿ⁾(x) for integer n >= 0 and real x; nan at x = 0, -1, -2, ..., at -inf and for n < 0."""
    # n >= 1: ψ⁽ⁿ⁾(x) = (-1)^(n+1) n! ζ(n+1, x) (DLMF 25.11.12), which sums the recurrence
    # ψ⁽ⁿ⁾(x) = ψ⁽ⁿ⁾(x+1) - (-1)ⁿ n! / x^(n+1) (A&S 6.4.6) and the asymptotic series
    # (A&S 6.4.11) in one Euler-Maclaurin evaluation. For x < 0 the series is split at the
    # poles: with f = x - floor(x) and g = 1 - f (both exact),
    #   Σ_k (x+k)^-s = ζ(s, f) + (-1)^s [ζ(s, g) - ζ(s, 1 - x)],  s = n + 1,
    # which is the reflection formula (A&S 6.4.7) with π dⁿ/dxⁿ cot(πx) in its partial-
    # fraction form (-1)ⁿ n! Σ_k (x - k)^-s; it needs no buffer for the derivative
    # polynomials of cot and is valid for any n. For odd n all terms are positive; for even
    # n the bracket cancels near the zeros of ψ⁽ⁿ⁾ on the negative axis, where the error is
    # absolute rather than relative. Useful for n up to ~100 (n! overflows past 170).
    if n == 0:
        return _digamma(x)
    if n < 0 or x != x:
        return math.nan
    if x <= 0.0 and x == np.floor(x):
        return math.nan  # poles 0, -1, -2, ... (either sign of zero) and -inf
    fact = 1.0
    for k in range(2, n + 1):
        fact *= k
    sign = 1.0 if n % 2 == 1 else -1.0  # (-1)^(n+1)
    s = n + 1
    if x > 0.0:
        return sign * fact * _hurwitz_zeta(s, x)
    fl = np.floor(x)
    f = x - fl  # exact
    g = -(x + (-fl - 1.0))  # = 1 - f, exact because |x + integer| < |x|
    z = _hurwitz_zeta(s, g) - _hurwitz_zeta(s, 1.0 - x)
    if s % 2 == 1:
        z = -z
    return sign * fact * (_hurwitz_zeta(s, f) + z)


# --- B(a, b) ---------------------------------------------------------------------------


def _pow_ratio(p, c, c_lo):
    """(p / (c + c_lo))^p for 0 < p <= c <= 1e290 with ~1 ulp error, also when the power is huge."""
    # q = fl(p/c) is exact input to pow (accurate to < 1 ulp for any exponent); the rounding
    # of q and the low part c_lo of c enter as (1 + δ)^p = exp(p δ), δ = r/p - c_lo/c, where
    # r = p - q c is exact: q c = prod + err by Dekker's two-product (Veltkamp splitting;
    # no overflow for c <= 1e290) and p - prod is exact by Sterbenz' lemma.
    q = p / c
    t = 134217729.0 * q  # 2^27 + 1
    qh = t - (t - q)
    ql = q - qh
    t = 134217729.0 * c
    ch = t - (t - c)
    cl = c - ch
    prod = q * c
    err = ((qh * ch - prod) + qh * cl + ql * ch) + ql * cl
    r = (p - prod) - err
    delta = r / p - c_lo / c
    return math.pow(q, p) * math.exp(p * delta)


def _gamma_ratio(x, d, f):
    """f Γ(x) / Γ(x + d) for x >= 10 and x + d >= 10, |d| <= ~170, via Stirling's series."""
    # log Γ(x) - log Γ(c) = (x - 1/2) log(x/c) - d log c + d + μ(x) - μ(c), c = x + d,
    # with log(x/c) = log1p(-d/c): for c >> |d| the exponent below stays O(d^2/c) and its
    # rounding errors O(|d| ulp); c^-d is pow at the rounded c times the first-order
    # correction for c_lo, split in two halves around the factor f (e.g. Γ(a), which may be
    # tiny) so that nothing overflows unless the product does.
    c = x + d
    bb = c - x
    c_lo = (x - (c - bb)) + (d - bb)  # two-sum: x + d = c + c_lo exactly
    e = (x - 0.5) * math.log1p(-d / c) + d + _stirling_corr(x) - _stirling_corr(c) - d * c_lo / c
    h = math.pow(c, -0.5 * d)
    return f * h * math.exp(e) * h


def _beta_pos(a, b):
    """B(a, b) for finite a, b > 0, without spurious overflow or underflow."""
    if a < b:
        a, b = b, a  # a >= b
    c = a + b
    c_lo = b - (c - a)  # fast two-sum (a >= b): a + b = c + c_lo exactly
    if b >= 10.0:
        # both large: Stirling for all three Γ gives
        #   B = sqrt(2π (1/a + 1/b)) (a/c)^a (b/c)^b exp(μ(a) + μ(b) - μ(c)),
        # with the two powers accurate to ~1 ulp even when they are e^-700 (_pow_ratio),
        # where going through exp(log B) would lose |log B| ulp.
        if c > 1e290:
            return 0.0  # a > c/2 > 5e289, so B <= B(a, 10) ~ Γ(10) a^-10 underflows
        fa = _pow_ratio(a, c, c_lo)
        fb = _pow_ratio(b, c, c_lo)
        pref = math.sqrt(6.283185307179586 * (1.0 / a + 1.0 / b))
        return (
            pref * (fa * fb) * math.exp(_stirling_corr(a) + _stirling_corr(b) - _stirling_corr(c))
        )
    if a >= 10.0:
        # a large, b < 10: B = Γ(b) Γ(a) / Γ(a + b)
        return _gamma_ratio(a, b, _gamma(b))
    # a, b < 10: the three Γ are finite (except Γ(b) for subnormal b, where B overflows
    # too); Γ(c + c_lo) = Γ(c) (1 + ψ(c) c_lo) corrects the rounding of a + b
    return _gamma(a) / _gamma(c) * _gamma(b) * (1.0 - _psi_approx(c) * c_lo)


def _beta_pos_dd(p, p_lo, q, q_lo):
    """B(p + p_lo, q + q_lo) for p, q > 0 where p_lo, q_lo are rounding errors of p and q."""
    # first order: ∂ log B / ∂p = ψ(p) - ψ(p + q); matters when p or q is large (the rounding
    # of 1 - a for a < -1 moves B by ~ p ulp log(1 + q/p))
    v = _beta_pos(p, q)
    if p_lo == 0.0 and q_lo == 0.0:
        return v
    dpq = _psi_approx(p + q)
    return v * math.exp(p_lo * (_psi_approx(p) - dpq) + q_lo * (_psi_approx(q) - dpq))


def _beta(a, b):
    """B(a, b) = Γ(a)Γ(b)/Γ(a+b) for real a, b; conventions at the poles as in the docstring."""
    # Conventions (a, b symmetric):
    # * nan if a or b is nan or -inf, or both are poles of Γ (0, -1, -2, ...);
    # * B(±0, b) = ±inf (sign of the zero, as Γ(±0)) for b not a pole;
    # * B(-m, b) for integer m >= 1: the finite limit (-1)^b B(m + 1 - b, b) when b is an
    #   integer with 1 <= b <= m (then Γ(a+b) has a pole too, as in SciPy); otherwise a
    #   two-sided pole -> nan (SciPy returns inf there);
    # * B(+inf, b) = 0 for b > 0, = sign(Γ(b)) inf for negative non-integer b;
    # * B = 0 where a + b is a non-positive integer and a, b are not poles.
    # Positive arguments go to _beta_pos. A negative non-integer argument is removed with
    # Γ(x) Γ(1 - x) = π / sin(πx) (A&S 6.1.17), which leaves B of positive arguments:
    #   a < 0 < b, a + b > 0:  B = π / (sin(πa) b B(1 - a, a + b))
    #   a < 0 < b, a + b <= 0: B = sin(π(a+b)) / sin(πa) B(b, 1 - a - b)
    #   a, b < 0:              B = π sin(π(a+b)) / (sin(πa) sin(πb) (1 - a - b) B(1-a, 1-b))
    # with a + b, 1 - a, ... carried as exact two-sums so that zeros of sin(π(a+b)) and the
    # rounding of large shifted arguments are handled to first order. For a < 0 < b with
    # large b (or a result above ~1e291, where B(1 - a, a + b) would be subnormal),
    # B = Γ(a) Γ(b)/Γ(a+b) is used directly instead (see below).
    if a != a or b != b:
        return math.nan
    if a > b:
        a, b = b, a  # a <= b
    if a == -math.inf:
        return math.nan
    a_pole = a <= 0.0 and a == np.floor(a)
    b_pole = b <= 0.0 and b == np.floor(b)
    if a_pole or b_pole:
        if a_pole and b_pole:
            return math.nan
        if a_pole:
            pole = a
            other = b
        else:
            pole = b
            other = a
        if pole == 0.0:
            if other == math.inf:
                return math.nan  # Γ(±0) Γ(∞)/Γ(∞)
            return math.copysign(math.inf, pole)
        if other >= 1.0 and other == np.floor(other) and other <= -pole:
            v = _beta_pos(1.0 - pole - other, other)
            if 0.5 * other != np.floor(0.5 * other):
                return -v
            return v
        return math.nan
    if b == math.inf:
        if a > 0.0:
            return 0.0
        return math.copysign(math.inf, _sinpi_dd(a, 0.0))  # sign of Γ(a) for a < 0
    if a > 0.0:
        return _beta_pos(a, b)
    # a < 0 is not an integer; exact two-sum s + s_lo = a + b
    s = a + b
    bb = s - a
    s_lo = (a - (s - bb)) + (b - bb)
    if b > 0.0:
        if b >= 1e17 and a > -170.0:
            # Γ(b)/Γ(b + a) = b^-a (1 - a(a-1)/(2b) + O(a^4/b^2)) (DLMF 5.11.13), the O term
            # < 1e-24 here; the power is split so that it overflows only when B does
            h = math.pow(b, -0.5 * a)
            return _gamma(a) * h * h * (1.0 - a * (a - 1.0) / (2.0 * b))
        if a > -10.0 and b >= 20.0:
            # B = Γ(a) Γ(b)/Γ(b + a) directly: the exponent in _gamma_ratio is O(|a|)
            return _gamma_ratio(b, a, _gamma(a))
        if s > 0.0:
            p = 1.0 - a
            bb = p - 1.0
            p_lo = (1.0 - (p - bb)) + (-a - bb)  # two-sum: 1 - a = p + p_lo exactly
            v = _beta_pos_dd(p, p_lo, s, s_lo)
            if v < 1e-290 and a > -170.0 and s >= 10.0:
                # then B > 1e291 (B b B(1 - a, a + b) >= π) and b >> |a|: the direct form
                # avoids the subnormal denominator
                return _gamma_ratio(b, a, _gamma(a))
            return math.pi / (_sinpi_dd(a, 0.0) * b * v)
        sn = _sinpi_dd(s, s_lo)
        if sn == 0.0:
            return 0.0
        q = 1.0 - s
        bb = q - 1.0
        q_lo = ((1.0 - (q - bb)) + (-s - bb)) - s_lo  # (1 - s - s_lo) - q
        return sn / _sinpi_dd(a, 0.0) * _beta_pos_dd(b, 0.0, q, q_lo)
    # a <= b < 0, neither an integer
    sn = _sinpi_dd(s, s_lo)
    if sn == 0.0:
        return 0.0
    p = 1.0 - a
    bb = p - 1.0
    p_lo = (1.0 - (p - bb)) + (-a - bb)
    q = 1.0 - b
    bb = q - 1.0
    q_lo = (1.0 - (q - bb)) + (-b - bb)
    t = 1.0 - s
    bb = t - 1.0
    t_lo = ((1.0 - (t - bb)) + (-s - bb)) - s_lo
    den = _sinpi_dd(a, 0.0) * _sinpi_dd(b, 0.0) * (t + t_lo) * _beta_pos_dd(p, p_lo, q, q_lo)
    return math.pi * sn / den


DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "_sinpi_dd": (),
    "_cotpi": (),
    "_stirling_corr": (),
    "_lgamma_2pz": (),
    "_lgamma_pos": ("_lgamma_2pz", "_stirling_corr"),
    "_gamma": (),
    "_psi_approx": (),
    "_loggamma": ("_lgamma_pos", "_psi_approx", "_sinpi_dd"),
    "_digamma_asym": (),
    "_psi_2pz": (),
    "_psi_root": (),
    "_digamma_pos": ("_digamma_asym", "_psi_2pz", "_psi_root"),
    "_digamma": ("_digamma_pos", "_cotpi"),
    "_hurwitz_zeta": (),
    "_polygamma": ("_digamma", "_hurwitz_zeta"),
    "_pow_ratio": (),
    "_gamma_ratio": ("_stirling_corr",),
    "_beta_pos": ("_gamma", "_gamma_ratio", "_pow_ratio", "_psi_approx", "_stirling_corr"),
    "_beta_pos_dd": ("_beta_pos", "_psi_approx"),
    "_beta": ("_beta_pos", "_beta_pos_dd", "_gamma", "_gamma_ratio", "_sinpi_dd"),
}

FUNCTIONS: tuple[str, ...] = tuple(DEPENDENCIES)
