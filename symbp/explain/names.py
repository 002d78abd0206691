"""Names of the quantities a derivation shows: ``W1`` -> ``W^{(1)}``, ``x[1, 0]`` -> ``x_2``.

A :class:`Name` is ``stem^{sup}_{sub}``; its adjoint puts a bar on the stem. Both
levels' explainers name quantities with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from ..declare.variables import Variable

#: The function printed for a recognised logistic sigmoid.
SIGMA = sp.Function("sigma")
_GREEK = frozenset(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho "
    "sigma tau upsilon phi chi psi omega".split()
)


@dataclass(frozen=True)
class Name:
    """A printed name: ``stem^{sup}_{sub}``; the adjoint puts a bar on the stem."""

    stem: str
    sup: str = ""
    sub: str = ""

    def tex(self, bar: bool = False) -> str:
        """The LaTeX of the name (or of its adjoint with ``bar=True``)."""
        out = rf"\bar{{{self.stem}}}" if bar else self.stem
        if self.sup:
            out += f"^{{{self.sup}}}"
        if self.sub:
            out += f"_{{{self.sub}}}"
        return out


def _stem(text: str) -> str:
    if len(text) == 1:
        return text
    if text.lower() in _GREEK:
        return "\\" + text
    return rf"\mathrm{{{text}}}"


def variable_name(var: Variable) -> Name:
    """``W1`` -> ``W^{(1)}`` style stem and layer number, ``w`` -> ``w``."""
    match = re.fullmatch(r"([A-Za-z]+?)_?(\d+)", var.name)
    if match is None:
        return Name(_stem(var.name))
    return Name(_stem(match.group(1)), "", match.group(2))


def declared_name(var: Variable) -> Name:
    """The name of a whole variable: ``W1`` (a matrix) -> ``W^{(1)}``, ``w`` -> ``w``."""
    base = variable_name(var)
    if var.shape and base.sub:
        return Name(base.stem, f"({base.sub})")
    return base


def element_name(var: Variable, index: tuple[int, ...]) -> Name:
    """The name of one element: ``W1[0, 1]`` -> ``W^{(1)}_{12}``, ``x[1, 0]`` -> ``x_2``."""
    base = variable_name(var)
    if not index:
        return base
    rows, cols = var.shape
    sep = "," if max(rows, cols) > 9 else ""
    if cols == 1:
        sub = str(index[0] + 1)
    elif rows == 1:
        sub = str(index[1] + 1)
    else:
        sub = f"{index[0] + 1}{sep}{index[1] + 1}"
    sup = f"({base.sub})" if base.sub else ""
    return Name(base.stem, sup, sub)
