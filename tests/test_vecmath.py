"""The vectorizable tanh of the batched kernels against libm and exact values."""

from __future__ import annotations

import mpmath
import numba
import numpy as np

from symbp.emit.matrix.vecmath import TANH_SOURCE, TANHF_SOURCE


def compiled_tanh():
    namespace = {"numba": numba, "np": np}
    exec(TANH_SOURCE.replace("cache=True, ", ""), namespace)
    tanh = namespace["_tanh"]

    @numba.njit(error_model="numpy")
    def apply(xs, out):
        for i in range(xs.shape[0]):
            out[i] = tanh(xs[i])

    def run(xs: np.ndarray) -> np.ndarray:
        out = np.empty_like(xs)
        apply(xs, out)
        return out

    return run


def test_tanh_is_within_two_ulp_of_libm_everywhere():
    tanh = compiled_tanh()
    rng = np.random.default_rng(5)
    xs = np.concatenate(
        [
            np.linspace(-25, 25, 100_001),
            rng.normal(size=20_000) * 3,
            np.logspace(-300, 1.4, 2_000),
            -np.logspace(-300, 1.4, 2_000),
            [0.625, -0.625, np.nextafter(0.625, 0), 19.999, 20.0, 1e300, -1e300],
        ]
    )
    ours, libm = tanh(xs), np.tanh(xs)
    ulp = np.abs(ours - libm) / np.spacing(np.abs(libm))
    assert ulp.max() <= 2.0
    np.testing.assert_array_equal(tanh(np.array([np.inf, -np.inf, 0.0])), [1.0, -1.0, 0.0])
    assert np.isnan(tanh(np.array([np.nan]))[0])
    # Against 40-digit values on a sample: at most 1 ulp, like libm itself.
    mpmath.mp.dps = 40
    sample = xs[::211]
    exact = np.array([float(mpmath.tanh(mpmath.mpf(float(v)))) for v in sample])
    assert (np.abs(tanh(sample) - exact) / np.spacing(np.abs(exact))).max() <= 1.0


def test_float32_tanh_is_within_one_ulp_of_the_rounded_value():
    namespace = {"numba": numba, "np": np}
    exec(TANHF_SOURCE.replace("cache=True, ", ""), namespace)
    tanhf = namespace["_tanhf"]

    @numba.njit(error_model="numpy")
    def apply(xs, out):
        for i in range(xs.shape[0]):
            out[i] = tanhf(xs[i])

    rng = np.random.default_rng(6)
    xs = np.concatenate(
        [
            np.linspace(-12, 12, 100_001),
            rng.normal(size=20_000) * 3,
            np.logspace(-40, 1.1, 2_000),
            -np.logspace(-40, 1.1, 2_000),
            [0.625, -0.625, 9.0, 1e30, -1e30],
        ]
    ).astype(np.float32)
    ours = np.empty_like(xs)
    apply(xs, ours)
    rounded = np.tanh(xs.astype(np.float64)).astype(np.float32)
    ulp = np.abs(ours.astype(np.float64) - rounded) / np.spacing(np.abs(rounded))
    assert ours.dtype == np.float32 and ulp.max() <= 1.0
