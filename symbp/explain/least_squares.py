"""The LaTeX of a least-squares model: its residuals, their Jacobian, the Gauss-Newton step.

Printed from the program the Jacobian kernel is compiled from (:mod:`symbp.derive.jacobian`,
simplified by :mod:`symbp.simplify`), its statements substituted back into each entry in
the declared symbols (``Level.jacobian_closed_form``): nothing is re-derived here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sympy as sp

from .latex import DerivationPrinter, Row, Section

#: At most this many residuals, and Jacobian entries, are printed.
MAX_RESIDUALS = 8
MAX_ENTRIES = 24


def residual_tex(k: int, count: int) -> str:
    """``r`` for a single residual per sample, else ``r_{k}`` (from 1)."""
    return "r" if count == 1 else f"r_{{{k + 1}}}"


def least_squares_sections(
    values: Sequence[sp.Basic],
    rows: Sequence[Sequence[tuple[str, sp.Basic]]],
    names: Mapping[sp.Basic, str],
    loss: str = "L",
) -> list[Section]:
    """Sections for residuals ``values`` (closed forms) and their Jacobian ``rows`` (per
    residual: ``(parameter element's LaTeX, derivative)``, zeros left out); ``names``
    maps declared symbols and elements to their LaTeX."""
    printer = DerivationPrinter(names)
    count = len(values)
    shown = [Row(residual_tex(k, count), printer.doprint(v)) for k, v in enumerate(values)]
    if count > MAX_RESIDUALS:
        shown = [*shown[:MAX_RESIDUALS], Row("", rf"\dots \text{{ ({count} residuals)}}", None, "")]
    note = (
        f"The per-sample loss ${loss}$ is the sum of the squared residuals (a constant factor "
        r"$c$ folded in as $\sqrt{c}$): least squares (\texttt{trainer.least\_squares}) fits them with "
        "their exact Jacobian."
    )
    sections = [Section("Residuals", tuple(shown), note)]
    entries: list[Row] = []
    for k, row in enumerate(rows):
        r = residual_tex(k, count)
        for element, expr in row:
            if len(entries) < MAX_ENTRIES:
                lhs = rf"\frac{{\partial {r}}}{{\partial {element}}}"
                entries.append(Row(lhs, printer.doprint(expr)))
    total = sum(len(row) for row in rows)
    if total > MAX_ENTRIES:
        entries.append(Row("", rf"\dots \text{{ ({total} nonzero entries)}}", None, ""))
    note = (
        "Each residual's derivative by each parameter element, in closed form (one reverse "
        "sweep per residual, sharing the forward pass); the entries not shown are 0."
    )
    sections.append(Section("Jacobian of the residuals", tuple(entries), note))
    step = (
        Row("J", r"\left[\partial r_i / \partial \theta_j\right] "
                 r"\text{ (every residual of every sample, by every parameter element)}"),
        Row(r"\delta", r"-\left(J^{\top} J\right)^{-1} J^{\top} r"),
        Row(r"\theta", r"\theta + \delta", None, r"\leftarrow"),
        Row(r"\operatorname{Cov}(\hat{\theta})",
            r"s^{2} \left(J^{\top} J\right)^{-1}, \quad s^{2} = \frac{\sum_i r_i^{2}}{m - p}"),
    )  # fmt: skip
    note = (
        r"The Gauss-Newton step ($J^{\top} J$ approximates the Hessian of $\frac{1}{2}\sum r^2$); "
        r"Levenberg-Marquardt and SciPy's trust regions solve "
        r"$(J^{\top} J + \lambda D)\,\delta = -J^{\top} r$ instead. At the solution, the "
        r"covariance of the $p$ parameters from $m$ residuals (\texttt{Fit.covariance})."
    )
    sections.append(Section("Gauss-Newton step", step, note))
    return sections
