"""Where a kernel's values live: the flat parameter vector and the data's storage layout.

Parameters travel as one flat array in declaration order (row-major), so an optimizer
update is one loop over its elements. A scalar input of a sample is stored as ``(n,)``,
a row or column vector of length ``k`` as ``(n, k)`` and an ``r x c`` matrix as
``(n, r, c)``. Every kernel of a module, at both levels, uses these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..declare.variables import Variable

#: The decorator of every kernel, at both levels: one arithmetic model, IEEE's (NumPy's
#: error model: ``1/0 -> inf``, ``log(-1) -> nan``), never a Python exception from
#: compiled code. Python's error model would also put a branch before every division.
#: ``nogil`` lets the runtime evaluate large data sets on several threads.
DECORATOR = '@numba.njit(cache=True, error_model="numpy", nogil=True)'

#: The decorator of a scalar-level model function: inlined into its one caller (Numba's
#: IR inlining). A call per step cost more than the step itself for a one-sample model
#: (seed 004's 10,000 steps: 1.2 ms called, 0.7 ms inlined, as before the split), and
#: the function is only ever called from its driver, so nothing is compiled twice.
INLINED = '@numba.njit(cache=True, error_model="numpy", nogil=True, inline="always")'


@dataclass(frozen=True)
class Layout:
    """Where each parameter lives in the flat parameter vector."""

    offsets: dict[str, int]
    size: int


def layout(variables: tuple[Variable, ...]) -> Layout:
    """Offsets of the params in declaration order."""
    offsets: dict[str, int] = {}
    size = 0
    for var in variables:
        if var.role == "params":
            offsets[var.name] = size
            size += var.size
    return Layout(offsets, size)


def flat_index(var: Variable, index: tuple[int, ...], offset: int) -> int:
    """The position of element ``index`` of ``var`` in a flat vector where it starts at ``offset``."""
    return offset + (index[0] * var.shape[1] + index[1] if index else 0)


def sample_index(shape: tuple[int, ...], index: tuple[int, ...]) -> str:
    """The index of one element of one sample in the data's storage layout (after the
    sample's own index): ``""`` for a scalar, ``", k"`` for a vector, ``", i, j"``."""
    if not index:
        return ""
    rows, cols = shape
    if rows == 1 or cols == 1:
        return f", {index[0] * cols + index[1]}"
    return f", {index[0]}, {index[1]}"


def data_variables(variables: tuple[Variable, ...]) -> list[Variable]:
    """The data variables, inputs then targets, in declaration order (the argument order)."""
    return [v for role in ("inputs", "targets") for v in variables if v.role == role]


def data_argument(var: Variable) -> str:
    """The name of a data array as an argument of a kernel: ``x`` -> ``_x_data``."""
    return f"_{var.name}_data"


def write_workspace(out: Any, fixed: int, per_sample: int, dtype: str, batch: str) -> None:
    """The lines allocating a kernel's workspace for batches of at most ``batch`` rows of
    ``_lo:_hi`` (``_cap`` of them): ``fixed + per_sample * _cap`` elements, or none."""
    out(f"_cap = {batch} if {batch} < _hi - _lo else _hi - _lo")
    if fixed or per_sample:
        out(f"_work = np.empty({fixed} + {per_sample} * _cap, dtype=np.{dtype})")
    else:
        out("_work = _theta[:0]")


def write_batch_end(out: Any, batch: str) -> None:
    """The line ending the batch that starts at ``_first`` (``batch`` rows, at most ``_hi``)."""
    out(f"_last = _first + {batch} if _first + {batch} < _hi else _hi")
