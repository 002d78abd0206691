"""Parameter uncertainties: covariances and standard errors of a fit.

Two conventions, both on the flat parameter vector (declaration order, row-major):

* least squares (:func:`least_squares_covariance`): ``s² (JᵀJ)⁻¹`` with
  ``s² = RSS / (m - p)`` (``m`` residuals, ``p`` parameters), or ``(JᵀJ)⁻¹`` when the
  residuals are already weighted by known standard deviations (``absolute_sigma``):
  ``scipy.optimize.curve_fit``'s ``pcov``, computed as it does, from the SVD of ``J``;
* likelihood (:func:`inverse_hessian`): the inverse of the exact Hessian of a summed
  negative log-likelihood (the observed information), whose diagonal's roots are the
  standard errors statsmodels reports (``bse``).

A singular ``J`` or a Hessian that is not positive definite never raises: a
:class:`UncertaintyWarning` names the parameters involved, whose entries become ``inf``
(variances) and ``nan`` (their covariances).
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np


class UncertaintyWarning(UserWarning):
    """The covariance of a fit is not determined for some parameters."""


class Covariance(NamedTuple):
    """A covariance matrix, the flat names it is indexed by, and the standard errors."""

    matrix: np.ndarray
    names: tuple[str, ...]
    stderr: dict[str, Any]


def flat_names(spec: Any, runtime: Any) -> tuple[str, ...]:
    """``("b1", "W[0, 0]", "W[0, 1]", ...)``: the flat parameter elements' labels."""
    return tuple(runtime.param_label(runtime.param_at(spec, k)) for k in range(spec.size))


def standard_errors(matrix: np.ndarray, spec: Any, runtime: Any) -> dict[str, Any]:
    """Each parameter's standard errors (the roots of the covariance's diagonal), in the
    parameter's shape (a float for a scalar)."""
    return runtime.unpack_params(spec, diagonal_roots(matrix))  # type: ignore[no-any-return]


def diagonal_roots(matrix: np.ndarray) -> np.ndarray:
    """The square roots of a covariance's diagonal (``nan`` for a negative variance)."""
    diagonal = np.diagonal(matrix)
    with np.errstate(invalid="ignore"):
        return np.where(diagonal >= 0, np.sqrt(np.abs(diagonal)), np.nan)


def _undetermined(
    matrix: np.ndarray, null: np.ndarray, names: tuple[str, ...], what: str, stacklevel: int
) -> np.ndarray:
    """``matrix`` with the entries of the parameters in the directions ``null`` (rows)
    made ``inf``/``nan``, and a warning naming them."""
    affected = np.any(np.abs(null) > 1e-8, axis=0) if null.size else np.zeros(0, bool)
    if not affected.any():
        return matrix
    result = matrix.copy()
    result[affected, :] = np.nan
    result[:, affected] = np.nan
    result[affected, affected] = np.inf
    listed = [n for n, a in zip(names, affected, strict=True) if a]
    shown = ", ".join(listed[:8]) + (f" and {len(listed) - 8} more" if len(listed) > 8 else "")
    warnings.warn(
        f"{what}: the covariance of {shown} is not determined (inf variances, nan "
        "covariances); the data do not fix them (collinear, unused or unidentifiable "
        "parameters)",
        UncertaintyWarning,
        stacklevel=stacklevel,
    )
    return result


def least_squares_covariance(
    jac: np.ndarray, rss: float, absolute_sigma: bool, names: tuple[str, ...]
) -> np.ndarray:
    """curve_fit's ``pcov`` from the Jacobian ``jac`` (m x p) of the residuals at the
    solution and their sum of squares ``rss`` (see the module docstring)."""
    m, p = jac.shape
    _, s, vt = np.linalg.svd(jac, full_matrices=False)
    threshold = np.finfo(float).eps * max(jac.shape) * (s[0] if s.size else 0.0)
    keep = s > threshold
    kept = vt[keep]
    matrix = (kept.T / s[keep] ** 2) @ kept
    # warned from the user's call: run_least_squares, Trainer.least_squares, the caller
    matrix = _undetermined(matrix, vt[~keep], names, "least squares", 5)
    if absolute_sigma:
        return matrix
    if m <= p:
        warnings.warn(
            f"least squares: {m} residuals for {p} parameters leave no degrees of freedom "
            "to estimate the residual variance; the covariance is inf (pass "
            "absolute_sigma=True when the residuals are weighted by known deviations)",
            UncertaintyWarning,
            stacklevel=4,
        )
        return np.full((p, p), np.inf)
    return matrix * (rss / (m - p))


def inverse_hessian(hessian: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """The inverse of a symmetric Hessian; directions of non-positive curvature are
    reported and their parameters' entries made inf/nan (see the module docstring)."""
    symmetric = (hessian + hessian.T) / 2
    values, vectors = np.linalg.eigh(symmetric)
    scale = np.abs(values).max() if values.size else 0.0
    keep = values > np.finfo(float).eps * max(len(values), 1) * scale
    kept = vectors[:, keep]
    matrix = (kept / values[keep]) @ kept.T
    return _undetermined(
        matrix, vectors[:, ~keep].T, names, "the Hessian is not positive definite", 4
    )
