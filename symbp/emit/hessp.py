"""The Hessian-vector product kernel: ``_hessp``, the gradient of ``<v, g>`` summed over samples.

``_hessp(_theta, _dir, _out, _lo, _hi, _batch, *data)`` adds ``sum_s H_s v`` over the
samples ``_lo:_hi`` to ``_out``, where ``v`` is the direction ``_dir`` (laid out as
``_theta``). Its program is the second sweep of :mod:`symbp.derive.hessian`, written by
the level's own model writer (the same loops, products and helpers as the gradient) as
the function ``hessian_product``, which reads ``_dir`` besides ``_theta``. It lives in a
module of its own, generated and compiled the first time a Hessian is asked for.
"""

from __future__ import annotations

from typing import Any

from .layout import DECORATOR
from .lines import Lines


def write_hessp(writer: Any, out: Lines) -> None:
    """Write ``writer``'s model function (of the Hv program) and ``_hessp`` around it."""
    writer.write(out)
    out.blank(2)
    args = ["_theta", "_dir", "_out", "_lo", "_hi", "_batch", *writer.data]
    fixed, per_sample = writer.workspace()
    out(DECORATOR)
    out(f"def _hessp({', '.join(args)}):")
    with out.indent():
        out('"""Adds sum_s H_s v over the samples _lo:_hi to _out (v = _dir; symbp.emit.hessp)."""')
        out("_gb = np.empty_like(_theta)")
        out("_cap = _batch if _batch < _hi - _lo else _hi - _lo")
        if fixed or per_sample:
            out(f"_work = np.empty({fixed} + {per_sample} * _cap, dtype=np.{writer.dtype})")
        else:
            out("_work = _theta[:0]")
        out("for _it in range((_hi - _lo + _batch - 1) // _batch):")
        with out.indent():
            out("_first = _lo + _it * _batch")
            out("_last = _first + _batch if _first + _batch < _hi else _hi")
            call = ["_theta", "_dir", "_gb", "_work", "True", "_first", "_last", *writer.data]
            out(f"{writer.function}({', '.join(call)})")
            out("for _j in range(_gb.shape[0]):")
            with out.indent():
                out("_out[_j] += _gb[_j]")
        out("return 0")
