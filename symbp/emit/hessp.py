"""The Hessian-vector product kernel: ``_hessp``, the gradient of ``<v, g>`` summed over samples.

``_hessp(_theta, _dir, _out, _lo, _hi, _batch, *data)`` adds ``sum_s H_s v`` over the
samples ``_lo:_hi`` to ``_out``, where ``v`` is the direction ``_dir`` (laid out as
``_theta``). Its program is the second sweep of :mod:`symbp.derive.hessian`, and the code of a
batch is the level's own (:class:`symbp.emit.scalar.kernel.KernelWriter` or
:class:`symbp.emit.matrix.kernel.MatrixKernelWriter`): the same loops, products and helpers
as the gradient. It lives in a module of its own, generated and compiled the first time
a Hessian is asked for.
"""

from __future__ import annotations

from .lines import Lines
from .scalar.kernel import DECORATOR, KernelWriter, data_names


def hessp_kernel(writer: KernelWriter, out: Lines) -> None:
    """Write ``_hessp`` around the batch code of ``writer`` (a writer of the Hv program)."""
    args = ["_theta", "_dir", "_out", "_lo", "_hi", "_batch", *data_names(writer.program)]
    out(DECORATOR)
    out(f"def _hessp({', '.join(args)}):")
    with out.indent():
        out('"""Adds sum_s H_s v over the samples _lo:_hi to _out (v = _dir; symbp.emit.hessp)."""')
        out("_fit = False")
        out("_want = True")
        out("_shuffle = False")
        out("_row = 0")
        out("_orders = np.zeros((1, 1), dtype=np.int64)")
        out("_gb = np.empty_like(_theta)")
        writer.bind(out)
        out("for _it in range((_hi - _lo + _batch - 1) // _batch):")
        with out.indent():
            out("_blo = _lo + _it * _batch")
            out("_bhi = min(_blo + _batch, _hi)")
            writer.batch(out)
            out("for _j in range(_gb.shape[0]):")
            with out.indent():
                out("_out[_j] += _gb[_j]")
        out("return 0")
