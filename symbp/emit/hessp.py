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

from .layout import DECORATOR, write_batch_end, write_workspace
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
        write_workspace(out, fixed, per_sample, writer.dtype, "_batch")
        out("for _it in range((_hi - _lo + _batch - 1) // _batch):")
        with out.indent():
            out("_first = _lo + _it * _batch")
            write_batch_end(out, "_batch")
            call = ["_theta", "_dir", "_gb", "_work", "True", "_first", "_last", *writer.data]
            out(f"{writer.function}({', '.join(call)})")
            out("for _j in range(_gb.shape[0]):")
            with out.indent():
                out("_out[_j] += _gb[_j]")
        out("return 0")
