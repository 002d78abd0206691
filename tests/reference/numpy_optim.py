"""Plain-NumPy float64 oracle for the torch.optim update rules (PyTorch 2.x semantics).

Written from the algorithm boxes in PyTorch's optimizer documentation; it is the second oracle
next to ``optim_refs.npz``. Run it to check the two against each other:

    python tests/reference/numpy_optim.py      # needs only numpy and optim_refs.npz

Every update function has the signature

    update(params, grads, state, t, lr_t, **options) -> new_params

* ``params``, ``grads``: lists of float64 arrays (one per parameter, any shape);
* ``state``: a dict owned by the caller, empty before the first update and updated in place;
* ``t``: the update counter, 0 for the first update (torch's ``step`` is ``t + 1``);
* ``lr_t``: the learning rate of this update (a schedule's value, or the constant ``lr``);
* ``options``: the case's torch-style kwargs without ``lr``.

Notation below: ``g`` gradient, ``p`` parameter, all operations elementwise.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    from . import optim_cases
except ImportError:  # run as a script
    import optim_cases  # type: ignore[no-redef]

Arrays = list[np.ndarray]
State = dict[str, Any]


def _zeros(params: Sequence[np.ndarray]) -> Arrays:
    return [np.zeros_like(p) for p in params]


def sgd(
    params: Arrays,
    grads: Arrays,
    state: State,
    t: int,
    lr_t: float,
    *,
    momentum: float = 0.0,
    dampening: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> Arrays:
    """g = -g if maximize (BEFORE weight decay, so decay still shrinks p); g += wd * p;
    with momentum: b = g at t = 0 (no dampening on the first step), else
    b = momentum * b + (1 - dampening) * g; g = g + momentum * b if nesterov else b;
    p -= lr * g."""
    bufs = state.setdefault("momentum_buffer", [None] * len(params))
    out = []
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        g = -g if maximize else g
        if weight_decay != 0:
            g = g + weight_decay * p
        if momentum != 0:
            bufs[i] = g.copy() if t == 0 else momentum * bufs[i] + (1 - dampening) * g
            g = g + momentum * bufs[i] if nesterov else bufs[i]
        out.append(p - lr_t * g)
    return out


def adagrad(
    params: Arrays,
    grads: Arrays,
    state: State,
    t: int,
    lr_t: float,
    *,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
) -> Arrays:
    """g += wd * p; clr = lr / (1 + t * lr_decay)  (hyperbolic decay; t = step - 1);
    s += g**2 (s starts at initial_accumulator_value); p -= clr * g / (sqrt(s) + eps)."""
    if "sum" not in state:
        state["sum"] = [np.full_like(p, initial_accumulator_value) for p in params]
    clr = lr_t / (1 + t * lr_decay)
    out = []
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        if weight_decay != 0:
            g = g + weight_decay * p
        state["sum"][i] = state["sum"][i] + g * g
        out.append(p - clr * g / (np.sqrt(state["sum"][i]) + eps))
    return out


def rmsprop(
    params: Arrays,
    grads: Arrays,
    state: State,
    t: int,
    lr_t: float,
    *,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
) -> Arrays:
    """g += wd * p; v = alpha * v + (1 - alpha) * g**2 (v starts at 0, no bias correction);
    centered: a = alpha * a + (1 - alpha) * g, d = sqrt(v - a**2) + eps; else d = sqrt(v) + eps;
    momentum > 0: b = momentum * b + g / d (b starts at 0), p -= lr * b; else p -= lr * g / d."""
    if "square_avg" not in state:
        state["square_avg"] = _zeros(params)
        state["grad_avg"] = _zeros(params)
        state["momentum_buffer"] = _zeros(params)
    out = []
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        if weight_decay != 0:
            g = g + weight_decay * p
        v = state["square_avg"][i] = alpha * state["square_avg"][i] + (1 - alpha) * g * g
        if centered:
            a = state["grad_avg"][i] = alpha * state["grad_avg"][i] + (1 - alpha) * g
            d = np.sqrt(v - a * a) + eps
        else:
            d = np.sqrt(v) + eps
        if momentum > 0:
            b = state["momentum_buffer"][i] = momentum * state["momentum_buffer"][i] + g / d
            out.append(p - lr_t * b)
        else:
            out.append(p - lr_t * g / d)
    return out


def _adam_core(
    params: Arrays,
    grads: Arrays,
    state: State,
    t: int,
    lr_t: float,
    betas: Sequence[float],
    eps: float,
    amsgrad: bool,
) -> Arrays:
    """m = b1 * m + (1 - b1) * g; v = b2 * v + (1 - b2) * g**2 (both start at 0);
    step = t + 1; vhat = max(vmax, v) if amsgrad else v  (the max of the RAW v);
    p -= lr / (1 - b1**step) * m / (sqrt(vhat) / sqrt(1 - b2**step) + eps)."""
    b1, b2 = betas
    if "exp_avg" not in state:
        state["exp_avg"] = _zeros(params)
        state["exp_avg_sq"] = _zeros(params)
        state["max_exp_avg_sq"] = _zeros(params)
    step = t + 1
    bc1 = 1 - b1**step
    bc2_sqrt = (1 - b2**step) ** 0.5
    out = []
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        m = state["exp_avg"][i] = b1 * state["exp_avg"][i] + (1 - b1) * g
        v = state["exp_avg_sq"][i] = b2 * state["exp_avg_sq"][i] + (1 - b2) * g * g
        if amsgrad:
            v = state["max_exp_avg_sq"][i] = np.maximum(state["max_exp_avg_sq"][i], v)
        out.append(p - (lr_t / bc1) * m / (np.sqrt(v) / bc2_sqrt + eps))
    return out


def adam(
    params: Arrays,
    grads: Arrays,
    state: State,
    t: int,
    lr_t: float,
    *,
    betas: Sequence[float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
) -> Arrays:
    """Adam with L2 weight decay folded into the gradient: g += wd * p, then ``_adam_core``."""
    if weight_decay != 0:
        grads = [g + weight_decay * p for p, g in zip(params, grads, strict=True)]
    return _adam_core(params, grads, state, t, lr_t, betas, eps, amsgrad)


def adamw(
    params: Arrays,
    grads: Arrays,
    state: State,
    t: int,
    lr_t: float,
    *,
    betas: Sequence[float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
) -> Arrays:
    """Decoupled decay: p *= 1 - lr * wd FIRST (scaled by the current lr, the gradient is the
    one taken at the undecayed p), then the plain ``_adam_core`` step (no wd in the moments)."""
    decayed = [p * (1 - lr_t * weight_decay) for p in params]
    return _adam_core(decayed, grads, state, t, lr_t, betas, eps, amsgrad)


def rprop(
    params: Arrays,
    grads: Arrays,
    state: State,
    t: int,
    lr_t: float,
    *,
    etas: Sequence[float] = (0.5, 1.2),
    step_sizes: Sequence[float] = (1e-6, 50.0),
) -> Arrays:
    """Per element, with prev = 0 and step = lr (the lr at t = 0 only; later lr changes are
    ignored) before the first update:
      s = sign(g * prev); f = eta_plus if s > 0, eta_minus if s < 0, 1 if s == 0;
      step = clip(step * f, step_min, step_max)  (so the first step is clip(lr) * sign(g));
      g = 0 where s < 0 (no move on a sign change, and the next update sees prev = 0);
      p -= sign(g) * step; prev = g."""
    eta_minus, eta_plus = etas
    step_min, step_max = step_sizes
    if "prev" not in state:
        state["prev"] = _zeros(params)
        state["step_size"] = [np.full_like(p, lr_t) for p in params]
    out = []
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        s = np.sign(g * state["prev"][i])
        factor = np.where(s > 0, eta_plus, np.where(s < 0, eta_minus, 1.0))
        step = state["step_size"][i] = np.clip(state["step_size"][i] * factor, step_min, step_max)
        g = np.where(s < 0, 0.0, g)
        state["prev"][i] = g
        out.append(p - np.sign(g) * step)
    return out


UPDATES = {
    "SGD": sgd,
    "Adagrad": adagrad,
    "RMSprop": rmsprop,
    "Adam": adam,
    "AdamW": adamw,
    "Rprop": rprop,
}

# ---------------------------------------------------------------------------------------------
# The two problems (hand-written float64 gradients) and a runner mirroring make_optim_refs.py
# ---------------------------------------------------------------------------------------------


def net231_data() -> tuple[np.ndarray, np.ndarray]:
    spec = optim_cases.PROBLEMS["net231"]["data"]["X"]
    x = np.random.RandomState(spec["seed"]).rand(*spec["shape"])
    return x, (x[:, 0] + x[:, 1] < 1).astype(np.float64)


def loss_and_grads(
    problem: str, params: Arrays, t: int, data: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[float, Arrays]:
    """Batch loss used by update t and its gradient w.r.t. each param."""
    if problem == "rosenbrock":
        u, v = params
        r = v - u * u
        loss = (1 - u) ** 2 + 100 * r * r
        return float(loss), [-2 * (1 - u) - 400 * u * r, 200 * r]
    if problem == "net231":
        w1, w2 = params
        x, y = data if data is not None else net231_data()
        bs = optim_cases.PROBLEMS["net231"]["batch_size"]
        start = (t * bs) % len(x)
        xb, yb = x[start : start + bs], y[start : start + bs]
        h = np.tanh(xb @ w1)  # (bs, 3)
        err = (h @ w2)[:, 0] - yb  # (bs,)
        dpred = (2.0 / bs) * err[:, None]  # d mean(err**2) / d pred, (bs, 1)
        dz = (dpred @ w2.T) * (1 - h * h)  # (bs, 3)
        return float(np.mean(err * err)), [xb.T @ dz, h.T @ dpred]
    raise ValueError(problem)


def run_case(case: dict[str, Any], problem: str) -> tuple[np.ndarray, np.ndarray]:
    """(losses (steps,), params (steps + 1, P)) in float64, same layout as optim_refs.npz."""
    spec = optim_cases.PROBLEMS[problem]
    params = [np.array(s["init"], dtype=np.float64) for s in spec["params"].values()]
    data = net231_data() if problem == "net231" else None
    options = {k: v for k, v in case["kwargs"].items() if k != "lr"}
    update = UPDATES[case["optimizer"]]
    state: State = {}
    losses = []
    rows = [np.concatenate([p.ravel() for p in params])]
    for t in range(spec["steps"]):
        lr_t = (
            case["kwargs"]["lr"]
            if case["schedule"] is None
            else optim_cases.schedule_lr(case["schedule"], t)
        )
        loss, grads = loss_and_grads(problem, params, t, data)
        params = update(params, grads, state, t, lr_t, **options)
        losses.append(loss)
        rows.append(np.concatenate([p.ravel() for p in params]))
    return np.array(losses), np.stack(rows)


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|b|, 1e-6), elementwise (the floor only guards exact zeros)."""
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-6)))


def main(path: str | None = None, rtol: float = 1e-10) -> int:
    import os

    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim_refs.npz")
    refs = np.load(path)
    worst: dict[str, tuple[float, str]] = {}
    failures = []
    for case in optim_cases.CASES:
        for problem in optim_cases.PROBLEMS:
            key = f"{case['id']}/{problem}/float64"
            losses, params = run_case(case, problem)
            d = max(
                max_rel_diff(params, refs[f"{key}/params"]),
                max_rel_diff(losses, refs[f"{key}/losses"]),
            )
            if d > worst.get(case["optimizer"], (-1.0, ""))[0]:
                worst[case["optimizer"]] = (d, key)
            if d > rtol:
                failures.append((key, d))
    for opt, (d, key) in worst.items():
        print(f"{opt:8s} max rel diff {d:.3e}  ({key})")
    for key, d in failures:
        print(f"FAIL {key}: {d:.3e} > {rtol:g}")
    print(
        f"{len(optim_cases.CASES) * len(optim_cases.PROBLEMS) - len(failures)} passed, "
        f"{len(failures)} failed"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
