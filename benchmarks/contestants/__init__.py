"""One module per contestant; each is run in its own subprocess by ``benchmarks/run.py``:

    python -m benchmarks.contestants.<name> --workload W4 --dtype float64 --reps 5

and prints one JSON line (see ``_common.py``).
"""

CONTESTANTS = (
    "numpy",
    "torch",
    "jax_step",
    "jax_scan",
    "pytensor_c",
    "pytensor_numba",
    "numba_hand",
    "symbp",
)
