"""Contestant ``pytensor_numba``: a PyTensor function compiled with the Numba
backend (mode ``"NUMBA"``), one training step per call."""

from __future__ import annotations

import sys

from benchmarks.contestants._pytensor_common import build_with_mode

REQUIRES = ("pytensor", "numba")
NOTES = "pytensor.function(mode='NUMBA'), one step per call, trust_input"


def build(wl):
    return build_with_mode(wl, "NUMBA")


if __name__ == "__main__":
    from benchmarks.contestants._common import main

    sys.exit(main("pytensor_numba", sys.modules[__name__], REQUIRES))
