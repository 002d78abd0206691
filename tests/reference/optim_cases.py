"""Optimizer reference cases: the problems and optimizer settings behind ``optim_refs.npz``.

Pure data (plus one small pure-Python schedule function); importable without torch or numpy.

Every case is run on every problem in float64 and float32 by ``make_optim_refs.py`` with
``torch.optim`` and checked in float64 against the plain-NumPy oracle ``numpy_optim.py``.

Conventions shared by all three files:

* The step counter ``t`` starts at 0 for the first update; a problem runs ``steps`` updates.
* Per step: gradient of the batch loss at the current params, then one optimizer update.
* ``losses[t]`` is the batch loss BEFORE update ``t`` (``steps`` values);
  ``params[0]`` is the start and ``params[t + 1]`` the flattened params after update ``t``
  (``steps + 1`` rows), flattened in declaration order, each param row-major.
* ``kwargs`` use torch.optim argument names and are written out in full (torch defaults
  filled in), so no default has to be guessed.
* With a ``schedule``, update ``t`` uses ``schedule_lr(schedule, t)``; ``kwargs["lr"]`` equals
  the schedule's ``lr``. In torch this is ``LambdaLR`` with factor ``schedule_lr(s, t) / lr0``
  and ``scheduler.step()`` after every ``optimizer.step()``.
"""

from __future__ import annotations

import math
from typing import Any

# ---------------------------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------------------------

#: Each problem: ordered params with start values (nested lists, shapes given explicitly),
#: the loss as a SymPy-parsable / NumPy-readable description, the data recipe and batching.
PROBLEMS: dict[str, dict[str, Any]] = {
    "rosenbrock": {
        "params": {
            "u": {"shape": [], "init": -1.2},
            "v": {"shape": [], "init": 1.0},
        },
        "loss": "(1 - u)**2 + 100*(v - u**2)**2",
        "data": None,  # every step uses the same loss
        "batch_size": None,
        "steps": 300,
    },
    "net231": {
        # Seed tutorial 001: 2-3-1 network, tanh hidden layer, no biases.
        "params": {
            "W1": {
                "shape": [2, 3],
                "init": [
                    [-0.8113182, 1.4845988, 0.06532937],
                    [-2.4427042, 0.0992484, 0.5912243],
                ],
            },
            "W2": {
                "shape": [3, 1],
                "init": [[-0.8113182], [1.4845988], [0.06532937]],
            },
        },
        # per-sample loss for one row x (shape (2,)) and target y (scalar):
        "sample_loss": "(tanh(x @ W1) @ W2 - y)**2",
        # batch loss = MEAN of the per-sample losses over the minibatch rows
        "loss": "mean over batch rows of (tanh(x @ W1) @ W2 - y)**2",
        "data": {
            # X = numpy.random.RandomState(23455).rand(32, 2)   (float64, then cast to dtype)
            # Y[i] = float(X[i, 0] + X[i, 1] < 1)                (decided in float64, shape (32,))
            "X": {
                "generator": "numpy.random.RandomState(seed).rand",
                "seed": 23455,
                "shape": [32, 2],
            },
            "Y": "float(X[i, 0] + X[i, 1] < 1), computed from the float64 X",
            "n": 32,
        },
        # minibatches taken cyclically: step t uses rows [(t*8) % 32, (t*8) % 32 + 8)
        "batch_size": 8,
        "steps": 300,
    },
}

DTYPES: tuple[str, ...] = ("float64", "float32")

# ---------------------------------------------------------------------------------------------
# Learning-rate schedules
# ---------------------------------------------------------------------------------------------


def schedule_lr(schedule: dict[str, Any], t: int) -> float:
    """Learning rate used by update ``t`` (t = 0 for the first update), in Python float64.

    * ExponentialDecay: lr * decay_rate ** (t / decay_steps)   (t // decay_steps if staircase)
    * StepDecay:        lr * gamma ** (t // step_size)
    * CosineDecay:      lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(t, D) / D)) + alpha)
    * Warmup:           inner(t) * min(1, (t + 1) / warmup_steps)
    """
    kind = schedule["kind"]
    if kind == "ExponentialDecay":
        k = schedule["decay_steps"]
        p = t // k if schedule["staircase"] else t / k
        return schedule["lr"] * schedule["decay_rate"] ** p
    if kind == "StepDecay":
        return schedule["lr"] * schedule["gamma"] ** (t // schedule["step_size"])
    if kind == "CosineDecay":
        d = schedule["decay_steps"]
        a = schedule["alpha"]
        return schedule["lr"] * ((1 - a) * 0.5 * (1 + math.cos(math.pi * min(t, d) / d)) + a)
    if kind == "Warmup":
        return schedule_lr(schedule["schedule"], t) * min(1.0, (t + 1) / schedule["warmup_steps"])
    raise ValueError(f"unknown schedule kind {kind!r}")


def schedule_lr0(schedule: dict[str, Any]) -> float:
    """The base lr of a schedule (the innermost ``lr``); equals the case's ``kwargs['lr']``."""
    return schedule_lr0(schedule["schedule"]) if schedule["kind"] == "Warmup" else schedule["lr"]


# ---------------------------------------------------------------------------------------------
# Optimizer cases
# ---------------------------------------------------------------------------------------------

#: torch.optim 2.x defaults for the options covered here ("lr" is always given per case).
DEFAULTS: dict[str, dict[str, Any]] = {
    "SGD": {
        "momentum": 0.0,
        "dampening": 0.0,
        "nesterov": False,
        "weight_decay": 0.0,
        "maximize": False,
    },
    "Adagrad": {
        "lr_decay": 0.0,
        "weight_decay": 0.0,
        "initial_accumulator_value": 0.0,
        "eps": 1e-10,
    },
    "RMSprop": {
        "alpha": 0.99,
        "eps": 1e-8,
        "weight_decay": 0.0,
        "momentum": 0.0,
        "centered": False,
    },
    "Adam": {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False},
    "AdamW": {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 1e-2, "amsgrad": False},
    "Rprop": {"etas": [0.5, 1.2], "step_sizes": [1e-6, 50.0]},
}


def _case(
    id: str, optimizer: str, lr: float, schedule: dict[str, Any] | None = None, **options: Any
) -> dict[str, Any]:
    unknown = set(options) - set(DEFAULTS[optimizer])
    if unknown:
        raise ValueError(f"{id}: unknown {optimizer} options {sorted(unknown)}")
    if schedule is not None and schedule_lr0(schedule) != lr:
        raise ValueError(f"{id}: kwargs lr must equal the schedule's lr")
    kwargs = {"lr": lr, **DEFAULTS[optimizer], **options}
    return {"id": id, "optimizer": optimizer, "kwargs": kwargs, "schedule": schedule}


def _exp(lr: float, rate: float, steps: int, staircase: bool) -> dict[str, Any]:
    return {
        "kind": "ExponentialDecay",
        "lr": lr,
        "decay_rate": rate,
        "decay_steps": steps,
        "staircase": staircase,
    }


def _step(lr: float, step_size: int, gamma: float) -> dict[str, Any]:
    return {"kind": "StepDecay", "lr": lr, "step_size": step_size, "gamma": gamma}


def _cos(lr: float, decay_steps: int, alpha: float) -> dict[str, Any]:
    return {"kind": "CosineDecay", "lr": lr, "decay_steps": decay_steps, "alpha": alpha}


def _warm(steps: int, inner: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Warmup", "warmup_steps": steps, "schedule": inner}


CASES: list[dict[str, Any]] = [
    # --- SGD ------------------------------------------------------------------------------
    _case("sgd_plain", "SGD", 4e-4),
    _case("sgd_momentum", "SGD", 1e-4, momentum=0.9),
    _case("sgd_momentum_dampening", "SGD", 2e-4, momentum=0.9, dampening=0.5),
    _case("sgd_nesterov", "SGD", 1e-4, momentum=0.9, nesterov=True),
    _case("sgd_weight_decay", "SGD", 4e-4, weight_decay=0.1),
    _case("sgd_momentum_dampening_wd", "SGD", 2e-4, momentum=0.8, dampening=0.3, weight_decay=0.05),
    _case("sgd_maximize", "SGD", 1e-6, maximize=True),
    _case(
        "sgd_maximize_momentum_wd",
        "SGD",
        2e-7,
        momentum=0.9,
        dampening=0.1,
        weight_decay=0.5,
        maximize=True,
    ),
    _case("sgd_maximize_nesterov", "SGD", 1e-6, momentum=0.5, nesterov=True, maximize=True),
    # --- Adagrad --------------------------------------------------------------------------
    _case("adagrad_plain", "Adagrad", 0.1),
    _case("adagrad_lr_decay", "Adagrad", 0.1, lr_decay=0.01),
    _case("adagrad_init_acc_eps", "Adagrad", 0.1, initial_accumulator_value=0.5, eps=1e-6),
    _case(
        "adagrad_all",
        "Adagrad",
        0.1,
        lr_decay=0.001,
        weight_decay=0.01,
        initial_accumulator_value=0.1,
        eps=1e-8,
    ),
    # --- RMSprop --------------------------------------------------------------------------
    _case("rmsprop_plain", "RMSprop", 1e-3),
    _case("rmsprop_alpha_eps", "RMSprop", 1e-3, alpha=0.9, eps=1e-4),
    _case("rmsprop_weight_decay", "RMSprop", 1e-3, weight_decay=0.1),
    _case("rmsprop_momentum", "RMSprop", 2e-4, momentum=0.9),
    _case("rmsprop_centered", "RMSprop", 1e-3, centered=True),
    _case("rmsprop_centered_momentum", "RMSprop", 2e-4, momentum=0.8, centered=True),
    _case(
        "rmsprop_all",
        "RMSprop",
        5e-4,
        alpha=0.95,
        eps=1e-6,
        weight_decay=0.01,
        momentum=0.5,
        centered=True,
    ),
    # --- Adam -----------------------------------------------------------------------------
    _case("adam_default", "Adam", 1e-2),
    _case("adam_betas_eps", "Adam", 1e-2, betas=[0.8, 0.95], eps=1e-6),
    _case("adam_weight_decay", "Adam", 1e-2, weight_decay=0.1),
    _case("adam_amsgrad", "Adam", 1e-2, amsgrad=True),
    _case(
        "adam_amsgrad_wd_betas",
        "Adam",
        5e-3,
        betas=[0.5, 0.9],
        eps=1e-7,
        weight_decay=0.05,
        amsgrad=True,
    ),
    # --- AdamW ----------------------------------------------------------------------------
    _case("adamw_default", "AdamW", 1e-2),
    _case("adamw_weight_decay", "AdamW", 1e-2, weight_decay=0.5),
    _case(
        "adamw_amsgrad", "AdamW", 1e-2, betas=[0.85, 0.99], eps=1e-6, weight_decay=0.1, amsgrad=True
    ),
    _case("adamw_no_decay", "AdamW", 1e-2, weight_decay=0.0),
    # --- Rprop ----------------------------------------------------------------------------
    # torch's default step_sizes (1e-6, 50) let mini-batch Rprop drive a net231 tanh unit into
    # saturation (|W1| ~ 500, gradient exactly 0, frozen), so every case caps the max step.
    _case("rprop_lr", "Rprop", 1e-2, step_sizes=[1e-6, 0.02]),
    _case("rprop_etas", "Rprop", 1e-2, etas=[0.3, 1.5], step_sizes=[1e-6, 0.02]),
    _case("rprop_step_sizes", "Rprop", 0.1, step_sizes=[1e-3, 0.03]),  # lr above the max
    # --- schedules (SGD and Adam) ---------------------------------------------------------
    _case("sgd_exp_decay", "SGD", 4e-4, schedule=_exp(4e-4, 0.5, 100, False)),
    _case("sgd_exp_decay_staircase", "SGD", 4e-4, schedule=_exp(4e-4, 0.5, 60, True)),
    _case("sgd_momentum_step_decay", "SGD", 1e-4, momentum=0.9, schedule=_step(1e-4, 50, 0.5)),
    _case("sgd_cosine", "SGD", 4e-4, schedule=_cos(4e-4, 200, 0.1)),  # t > D at the end
    _case(
        "sgd_nesterov_warmup_exp",
        "SGD",
        1e-4,
        momentum=0.9,
        nesterov=True,
        schedule=_warm(25, _exp(1e-4, 0.3, 150, False)),
    ),
    _case("adam_exp_decay", "Adam", 2e-2, schedule=_exp(2e-2, 0.1, 300, False)),
    _case("adam_cosine", "Adam", 2e-2, schedule=_cos(2e-2, 300, 0.0)),
    _case("adam_warmup_cosine", "Adam", 2e-2, schedule=_warm(30, _cos(2e-2, 250, 0.05))),
    _case(
        "adam_warmup_step", "Adam", 1e-2, amsgrad=True, schedule=_warm(10, _step(1e-2, 100, 0.5))
    ),
]

CASE_IDS: list[str] = [c["id"] for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS), "case ids must be unique"
