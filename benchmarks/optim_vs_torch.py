"""symbp's optimizers against torch.optim: largest differences, and seed 001's Adam fit time.

Usage (from the repository root)::

    python benchmarks/optim_vs_torch.py [--reps N] [--no-parity] [--no-float32]

1. **Differences.** Every case of ``tests/reference/optim_cases.py`` on both problems,
   run through compiled symbp trainers, compared step for step with torch (live when
   torch is installed, else the committed ``optim_refs.npz``). float64: the largest
   relative difference over all params and losses of all steps (``|a - b| / max(|b|,
   1e-6)``). float32: the largest row deviation (``max|a - b| / max(max|b| in the row,
   1e-3)``), next to how far torch's own float32 run drifts from its float64 run.
2. **Time.** Seed 001's network (linear 2-3-1, 32 samples, minibatches of 8) trained
   3000 steps with Adam(lr=0.001) in float64: symbp's compiled fit versus a plain
   ``torch.optim.Adam`` loop (single thread, data already tensors). Steady state:
   compilation and a warm-up run excluded, median and min of ``--reps`` whole runs.

Prints two tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "examples"), str(ROOT)]

import optim_problems as op  # noqa: E402

HAVE_TORCH = importlib.util.find_spec("torch") is not None


def torch_trajectory(key: op.Key) -> tuple[np.ndarray, np.ndarray]:
    """torch's (losses, params rows) for a key: live if installed, else the npz."""
    case_id, problem, dtype = key
    if HAVE_TORCH:
        from reference import make_optim_refs

        losses, rows = make_optim_refs.run(op.CASES[case_id], problem, dtype)
        return losses.astype(np.float64), rows.astype(np.float64)
    data = op.refs()
    prefix = "/".join(key)
    return data[f"{prefix}/losses"].astype(np.float64), data[f"{prefix}/params"].astype(np.float64)


def differences(dtypes: tuple[str, ...]) -> None:
    keys = [(c, p, d) for d in dtypes for c in op.REFERENCE_IDS for p in op.PROBLEMS]
    op.warm(keys)
    worst: dict[tuple[str, str], tuple[float, float, str]] = defaultdict(lambda: (-1.0, 0.0, ""))
    for key in keys:
        case_id, problem, dtype = key
        losses, rows = op.trajectory(key)
        ref_losses, ref_rows = torch_trajectory(key)
        if dtype == "float64":
            diff = max(op.max_rel_diff(rows, ref_rows), op.max_rel_diff(losses, ref_losses))
            drift = 0.0
        else:
            diff = op.max_row_dev(rows, ref_rows)
            drift = op.meta()["float32_vs_float64_param_dev"][f"{case_id}/{problem}"]
        name = op.CASES[case_id]["optimizer"]
        if diff > worst[(name, dtype)][0]:
            worst[(name, dtype)] = (diff, drift, f"{case_id}/{problem}")
    source = "torch " + __import__("torch").__version__ if HAVE_TORCH else "optim_refs.npz"
    print(f"\nLargest difference to {source}, per optimizer, over every case, problem and step")
    print(f"| optimizer | {' | '.join(dtypes)} | worst case (float64) |")
    print("|---" * (len(dtypes) + 2) + "|")
    for name in ("SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Rprop"):
        cells = []
        for dtype in dtypes:
            diff, drift, _ = worst[(name, dtype)]
            cells.append(
                f"{diff:.1e} rel"
                if dtype == "float64"
                else f"{diff:.1e} (torch f32 drift {drift:.1e})"
            )
        print(f"| {name} | {' | '.join(cells)} | {worst[(name, dtypes[0])][2]} |")


def _seed_001():
    from seed_001 import BATCH, STEPS, W1_0, W2_0, dataset, model

    return model, dataset(), {"W1": W1_0, "W2": W2_0}, BATCH, STEPS


def time_symbp(reps: int) -> tuple[list[float], float]:
    from symbp import optim

    model, data, params, batch, steps = _seed_001()
    trainer = model.compile(optim.Adam(lr=0.001), dtype="float64")
    trainer.fit(params, data, steps=steps, batch_size=batch)  # compile + warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fit = trainer.fit(params, data, steps=steps, batch_size=batch)
        times.append(time.perf_counter() - start)
    return times, trainer.loss(fit.params, data)


def time_torch(reps: int) -> tuple[list[float], float]:
    import torch

    torch.set_num_threads(1)
    _, data, params, batch, steps = _seed_001()
    x = torch.tensor(data["x"], dtype=torch.float64)
    y = torch.tensor(data["y"], dtype=torch.float64)
    n = x.shape[0]
    batches = [(x[s : s + batch], y[s : s + batch]) for s in range(0, n, batch)]

    def run() -> float:
        w1 = torch.tensor(params["W1"], dtype=torch.float64, requires_grad=True)
        w2 = torch.tensor(params["W2"], dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([w1, w2], lr=0.001)
        for t in range(steps):
            xb, yb = batches[t % len(batches)]
            opt.zero_grad()
            loss = torch.mean(((xb @ w1 @ w2)[:, 0] - yb) ** 2)
            loss.backward()
            opt.step()
        with torch.no_grad():
            return float(torch.mean(((x @ w1 @ w2)[:, 0] - y) ** 2))

    run()  # warm-up
    times, final = [], 0.0
    for _ in range(reps):
        start = time.perf_counter()
        final = run()
        times.append(time.perf_counter() - start)
    return times, final


def timing(reps: int) -> None:
    rows = [("symbp (compiled fit kernel)", time_symbp(reps))]
    if HAVE_TORCH:
        import torch

        rows.append((f"torch {torch.__version__} eager + torch.optim.Adam", time_torch(reps)))
    base = statistics.median(rows[0][1][0])
    print(f"\nSeed 001, Adam(lr=0.001), 3000 steps of batch 8, float64, {reps} runs each")
    print("| implementation | median | min | per step | vs symbp | final full-data loss |")
    print("|---|---|---|---|---|---|")
    for label, (times, final) in rows:
        med = statistics.median(times)
        print(
            f"| {label} | {med * 1e3:.2f} ms | {min(times) * 1e3:.2f} ms | "
            f"{med / 3000 * 1e6:.2f} us | {med / base:.1f}x | {final:.12f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--no-parity", action="store_true", help="only the timing table")
    parser.add_argument("--no-float32", action="store_true", help="differences in float64 only")
    args = parser.parse_args()
    if not args.no_parity:
        differences(("float64",) if args.no_float32 else ("float64", "float32"))
    timing(args.reps)


if __name__ == "__main__":
    main()
