"""Contestant ``pytensor_c``: a PyTensor function compiled with the C backend
(predefined mode ``"CVM"``: ``fast_run`` graph rewrites, each op compiled to C
and run by the C virtual machine), one training step per call.

Note: since PyTensor 3 the *default* mode is Numba, so C is selected explicitly.
Compiled C modules are cached in PyTensor's compiledir (``~/.pytensor``), so the
build time is that of a warm cache after the first ever run on a machine.
"""

from __future__ import annotations

import sys

from benchmarks.contestants._pytensor_common import build_with_mode

REQUIRES = ("pytensor",)
NOTES = "pytensor.function(mode='CVM'), one step per call, trust_input"


def build(wl):
    import pytensor

    if not pytensor.config.cxx:
        raise RuntimeError("PyTensor has no C++ compiler (config.cxx is empty): C mode unavailable")
    return build_with_mode(wl, "CVM")


if __name__ == "__main__":
    from benchmarks.contestants._common import main

    sys.exit(main("pytensor_c", sys.modules[__name__], REQUIRES))
