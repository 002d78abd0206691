"""Regenerate ``optim_refs.npz``: torch.optim trajectories for every case x problem x dtype.

    pip install torch==2.13.0 && python tests/reference/make_optim_refs.py

Keys in the npz (values stored in their own dtype):
    "{case_id}/{problem}/{dtype}/losses"  (steps,)        batch loss before each update
    "{case_id}/{problem}/{dtype}/params"  (steps + 1, P)  flattened params, start row first
    "data/net231/X", "data/net231/Y"      float64 data of the net231 problem
    "meta"                                JSON string: versions, problems, cases, key layout
See optim_cases.py for the exact conventions.
"""

from __future__ import annotations

import json
import os
import platform
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import optim_cases
from optim_cases import CASES, DTYPES, PROBLEMS, schedule_lr, schedule_lr0

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim_refs.npz")
TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def net231_data() -> tuple[np.ndarray, np.ndarray]:
    spec = PROBLEMS["net231"]["data"]["X"]
    x = np.random.RandomState(spec["seed"]).rand(*spec["shape"])
    y = (x[:, 0] + x[:, 1] < 1).astype(np.float64)
    return x, y


def make_params(problem: str, dtype: torch.dtype) -> list[torch.Tensor]:
    specs = PROBLEMS[problem]["params"].values()
    return [torch.tensor(s["init"], dtype=dtype, requires_grad=True) for s in specs]


def make_loss(problem: str, dtype: torch.dtype):
    """Return loss(params, t) -> scalar tensor, the batch loss used by update t."""
    if problem == "rosenbrock":

        def loss(params, t):
            u, v = params
            return (1 - u) ** 2 + 100 * (v - u**2) ** 2

        return loss
    if problem == "net231":
        x, y = net231_data()
        xt = torch.tensor(x, dtype=dtype)
        yt = torch.tensor(y, dtype=dtype)
        bs = PROBLEMS["net231"]["batch_size"]
        n = PROBLEMS["net231"]["data"]["n"]

        def loss(params, t):
            w1, w2 = params
            start = (t * bs) % n
            xb, yb = xt[start : start + bs], yt[start : start + bs]
            pred = (torch.tanh(xb @ w1) @ w2)[:, 0]  # (bs,), never broadcast against y
            return ((pred - yb) ** 2).mean()

        return loss
    raise ValueError(problem)


def flat(params: list[torch.Tensor]) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in params]).numpy().copy()


def run(case: dict, problem: str, dtype_name: str) -> tuple[np.ndarray, np.ndarray]:
    dtype = TORCH_DTYPES[dtype_name]
    params = make_params(problem, dtype)
    loss_fn = make_loss(problem, dtype)
    kwargs = dict(case["kwargs"])
    for key in ("betas", "etas", "step_sizes"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    opt = getattr(torch.optim, case["optimizer"])(params, **kwargs)
    sched = None
    if case["schedule"] is not None:
        s = case["schedule"]
        lr0 = schedule_lr0(s)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: schedule_lr(s, t) / lr0)

    steps = PROBLEMS[problem]["steps"]
    losses = np.empty(steps, dtype=dtype_name)
    rows = [flat(params)]
    for t in range(steps):
        opt.zero_grad()
        loss = loss_fn(params, t)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        losses[t] = loss.item()
        rows.append(flat(params))
    out = np.stack(rows).astype(dtype_name)
    if not (np.all(np.isfinite(out)) and np.all(np.isfinite(losses))):
        raise RuntimeError(f"non-finite trajectory: {case['id']}/{problem}/{dtype_name}")
    if np.max(np.abs(out)) > 1e3 or np.max(np.abs(losses)) > 1e6:
        raise RuntimeError(f"diverging trajectory: {case['id']}/{problem}/{dtype_name}")
    return losses, out


def main() -> None:
    torch.set_num_threads(1)
    arrays: dict[str, np.ndarray] = {}
    f32_dev: dict[str, float] = {}
    for case in CASES:
        for problem in PROBLEMS:
            for dtype_name in DTYPES:
                losses, params = run(case, problem, dtype_name)
                key = f"{case['id']}/{problem}/{dtype_name}"
                arrays[f"{key}/losses"] = losses
                arrays[f"{key}/params"] = params
            # how far float32 drifts from float64 (a hint for float32 test tolerances):
            # max over steps of max|p32 - p64| / max(max|p64| in that row, 1e-3)
            p64 = arrays[f"{case['id']}/{problem}/float64/params"]
            p32 = arrays[f"{case['id']}/{problem}/float32/params"].astype(np.float64)
            scale = np.maximum(np.abs(p64).max(axis=1, keepdims=True), 1e-3)
            f32_dev[f"{case['id']}/{problem}"] = float(np.max(np.abs(p32 - p64) / scale))
    x, y = net231_data()
    arrays["data/net231/X"] = x
    arrays["data/net231/Y"] = y
    meta = {
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "generator": "tests/reference/make_optim_refs.py",
        "key_layout": "{case_id}/{problem}/{dtype}/losses|params",
        "param_order": {p: list(PROBLEMS[p]["params"]) for p in PROBLEMS},
        "dtypes": list(DTYPES),
        "problems": PROBLEMS,
        "cases": CASES,
        "conventions": optim_cases.__doc__,
        "float32_vs_float64_param_dev": f32_dev,
    }
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(OUT, **arrays)
    print(
        f"wrote {OUT}: {len(CASES)} cases, {len(arrays)} arrays, "
        f"{os.path.getsize(OUT) / 1e6:.2f} MB, torch {torch.__version__}"
    )


if __name__ == "__main__":
    main()
