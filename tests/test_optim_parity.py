"""Every optimizer and schedule, step for step against torch.optim.

Each reference case of ``reference/optim_cases.py`` runs on both problems through a
compiled symbp trainer and is compared with the committed torch trajectories
(``reference/optim_refs.npz``), and with torch itself when it is installed.
By default the committed comparison runs every case in float64 and one case per
optimizer in float32, and the live one runs one case per optimizer (plus options the
npz does not cover); ``-m slow`` runs the rest (each key is a Numba compile, see
optim_problems.py). Without torch, the live tests skip and the npz still checks parity.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from optim_problems import (
    CASES,
    MAXIMIZE,
    PROBLEMS,
    REFERENCE_IDS,
    REPRESENTATIVES,
    max_rel_diff,
    max_row_dev,
    meta,
    refs,
    trajectory,
    warm,
)

HAVE_TORCH = importlib.util.find_spec("torch") is not None

#: float64: symbp and torch differ only in the order of roundings, which the
#: (mildly chaotic) trajectories amplify to ~1e-11 at most in 300 steps.
RTOL64 = 1e-10
#: float32: round-off drives the comparison. The reference holds torch's float32 and
#: float64 runs of every case; how far they drift apart (max_row_dev, for params and
#: for losses) is the float32 round-off of that case, and a different but equally
#: valid order of float32 roundings drifts from torch's float32 run by about as much
#: (1.5x at most over every case when measured). FLOOR32 is ~8 float32 epsilons.
FACTOR32 = 4.0
FLOOR32 = 1e-6


def _key_param(case_id: str, problem: str, dtype: str, *, torch: bool = False) -> object:
    # Live torch re-runs what the committed npz holds (made with the same torch), so
    # only the representative cases run by default; -m slow runs everything.
    representative = case_id in REPRESENTATIVES.values() or case_id.startswith("extra_")
    slow = (dtype == "float32" or torch) and not representative
    return pytest.param(
        (case_id, problem, dtype),
        id=f"{case_id}-{problem}-{dtype}",
        marks=[pytest.mark.slow] if slow else [],
    )


KEYS = [
    _key_param(case_id, problem, dtype)
    for dtype in ("float64", "float32")
    for case_id in REFERENCE_IDS
    for problem in PROBLEMS
]
TORCH_KEYS = [
    _key_param(case_id, problem, dtype, torch=True)
    for dtype in ("float64", "float32")
    for case_id in REFERENCE_IDS
    for problem in PROBLEMS
] + [
    _key_param(case_id, "rosenbrock", "float64", torch=True)
    for case_id in CASES
    if case_id.startswith("extra_") and not case_id.endswith("_minimize")
]
MAXIMIZE_KEYS = [pytest.param(name, id=name) for name in MAXIMIZE]


@pytest.fixture(scope="module", autouse=True)
def _compile_in_parallel(request: pytest.FixtureRequest) -> None:
    """Compile every module the selected tests of this file need, cores in parallel."""
    keys = []
    for item in request.session.items:
        params = getattr(item, "callspec", None)
        if params is None or item.module is not request.module:
            continue
        if "key" in params.params:
            keys.append(params.params["key"])
        if "torch_key" in params.params and HAVE_TORCH:
            keys.append(params.params["torch_key"])
        if "maximize" in params.params:
            name = params.params["maximize"]
            keys.append((f"extra_{name}_maximize", "rosenbrock", "float64"))
            keys.append((f"extra_{name}_minimize", "-rosenbrock", "float64"))
    warm(keys)


def _reference(key: tuple[str, str, str]) -> tuple[np.ndarray, np.ndarray]:
    prefix = "/".join(key)
    data = refs()
    return data[f"{prefix}/losses"].astype(np.float64), data[f"{prefix}/params"].astype(np.float64)


def _check(key, losses, rows, ref_losses, ref_rows, what):
    case_id, problem, dtype = key
    assert rows.shape == ref_rows.shape and losses.shape == ref_losses.shape
    if dtype == "float64":
        assert max_rel_diff(rows, ref_rows) <= RTOL64, f"params vs {what}"
        assert max_rel_diff(losses, ref_losses) <= RTOL64, f"losses vs {what}"
    else:
        data = refs()
        drift = meta()["float32_vs_float64_param_dev"][f"{case_id}/{problem}"]
        tol = max(FACTOR32 * drift, FLOOR32)
        assert max_row_dev(rows, ref_rows) <= tol, f"params vs {what}"
        prefix = f"{case_id}/{problem}"
        drift = max_row_dev(data[f"{prefix}/float32/losses"], data[f"{prefix}/float64/losses"])
        tol = max(FACTOR32 * drift, FLOOR32)
        assert max_row_dev(losses, ref_losses) <= tol, f"losses vs {what}"


@pytest.mark.parametrize("key", KEYS)
def test_matches_committed_torch_trajectory(key):
    losses, rows = trajectory(key)
    ref_losses, ref_rows = _reference(key)
    assert np.array_equal(rows[0], ref_rows[0])  # same start
    _check(key, losses, rows, ref_losses, ref_rows, "optim_refs.npz")


@pytest.mark.parametrize("torch_key", TORCH_KEYS)
def test_matches_live_torch(torch_key):
    pytest.importorskip("torch")
    from reference import make_optim_refs

    case_id, problem, dtype = torch_key
    ref_losses, ref_rows = make_optim_refs.run(CASES[case_id], problem, dtype)
    losses, rows = trajectory(torch_key)
    _check(
        torch_key,
        losses,
        rows,
        ref_losses.astype(np.float64),
        ref_rows.astype(np.float64),
        "torch " + make_optim_refs.torch.__version__,
    )


@pytest.mark.parametrize("maximize", MAXIMIZE_KEYS)
def test_maximize_equals_minimizing_the_negated_loss(maximize):
    # torch negates the gradient first, so maximize=True on L is minimize on -L.
    up_losses, up_rows = trajectory((f"extra_{maximize}_maximize", "rosenbrock", "float64"))
    down_losses, down_rows = trajectory((f"extra_{maximize}_minimize", "-rosenbrock", "float64"))
    assert max_rel_diff(up_rows, down_rows) <= RTOL64
    assert max_rel_diff(up_losses, -down_losses) <= RTOL64
    assert np.max(np.abs(up_rows[-1] - up_rows[0])) > 1e-3  # it did move
