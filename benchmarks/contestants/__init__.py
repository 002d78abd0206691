"""One module per contestant; each is run in its own subprocess by ``benchmarks/run.py``:

    python -m benchmarks.contestants.<name> --workload W4 --dtype float64 --reps 5

and prints one JSON line (see ``_common.py``).
"""

from benchmarks.machine import THREAD_VARS


def _pin_threads_early() -> None:
    """Single-thread BLAS/OpenMP/XLA before any contestant imports NumPy & co.
    (``--threads N`` on the command line overrides the default of 1)."""
    import os
    import sys

    n = "1"
    argv = sys.argv
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            n = argv[i + 1]
        elif a.startswith("--threads="):
            n = a.split("=", 1)[1]
    for var in THREAD_VARS:
        os.environ.setdefault(var, n)
    if n == "1":
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = (
                flags + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            ).strip()


_pin_threads_early()
