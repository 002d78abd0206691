"""The optimizer reference problems as symbp models, and compiled trainers for them.

Shared by ``test_optim_parity.py`` and ``test_resume.py``. A *key* is
``(case_id, problem, dtype)``: a case of ``reference/optim_cases.py`` (or of
``EXTRA_CASES`` below), one of the problems, and a precision. Every key is one
generated module, and the fit kernel is specialized on the optimizer, so every key
costs a Numba compile (~1 s for rosenbrock, ~3 s for net231 on a cold cache).
``warm(keys)`` therefore compiles the modules that are not in Numba's on-disk cache
yet in parallel worker processes before the tests run them; a worker that fails
only costs time (the test process compiles the module itself).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
from reference import optim_cases

import symbp
from symbp import optim, schedules

HERE = Path(__file__).resolve().parent
REFS = HERE / "reference" / "optim_refs.npz"
Key = tuple[str, str, str]

#: Options the committed reference does not cover (rosenbrock, float64): compared with
#: live torch, and each ``*_maximize`` case with its ``*_minimize`` twin on -rosenbrock.
EXTRA_CASES: list[dict[str, Any]] = [
    {"id": "extra_sgd_defaults", "optimizer": "SGD", "kwargs": {}, "schedule": None},
    {"id": "extra_rprop_defaults", "optimizer": "Rprop", "kwargs": {}, "schedule": None},
    {
        "id": "extra_adam_decoupled",
        "optimizer": "Adam",
        "kwargs": {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True},
        "schedule": None,
    },
]
MAXIMIZE: dict[str, tuple[str, dict[str, Any]]] = {
    "adagrad": ("Adagrad", {"lr": 0.01, "weight_decay": 0.1}),
    "rmsprop": ("RMSprop", {"lr": 1e-3, "momentum": 0.5, "centered": True}),
    "adam": ("Adam", {"lr": 1e-3, "weight_decay": 0.1, "amsgrad": True}),
    "adamw": ("AdamW", {"lr": 1e-3}),
    "rprop": ("Rprop", {"lr": 1e-3, "step_sizes": (1e-6, 5e-3)}),
}
for _name, (_opt, _kwargs) in MAXIMIZE.items():
    for _flag in (True, False):
        EXTRA_CASES.append(
            {
                "id": f"extra_{_name}_{'maximize' if _flag else 'minimize'}",
                "optimizer": _opt,
                "kwargs": {**_kwargs, "maximize": _flag},
                "schedule": None,
            }
        )

CASES: dict[str, dict[str, Any]] = {c["id"]: c for c in [*optim_cases.CASES, *EXTRA_CASES]}
REFERENCE_IDS: list[str] = list(optim_cases.CASE_IDS)
PROBLEMS: tuple[str, ...] = tuple(optim_cases.PROBLEMS)

#: One case per optimizer, with most of its options on (float32 and resume tests).
REPRESENTATIVES: dict[str, str] = {
    "SGD": "sgd_nesterov_warmup_exp",
    "Adagrad": "adagrad_all",
    "RMSprop": "rmsprop_all",
    "Adam": "adam_amsgrad_wd_betas",
    "AdamW": "adamw_amsgrad",
    "Rprop": "rprop_etas",
}


# -- problems -------------------------------------------------------------------------
@functools.cache
def model(problem: str) -> symbp.Model:
    """``rosenbrock``, ``net231`` (seed 001's network with tanh), or ``-rosenbrock``."""
    if problem in ("rosenbrock", "-rosenbrock"):
        u, v = sp.symbols("u v")
        loss = (1 - u) ** 2 + 100 * (v - u**2) ** 2
        name = "rosenbrock" if problem == "rosenbrock" else "neg_rosenbrock"
        return symbp.Model(loss if problem == "rosenbrock" else -loss, params=[u, v], name=name)
    if problem == "net231":
        x = sp.MatrixSymbol("x", 1, 2)
        W1, W2 = sp.MatrixSymbol("W1", 2, 3), sp.MatrixSymbol("W2", 3, 1)
        y = sp.Symbol("y")
        hidden = (x * W1).as_explicit().applyfunc(sp.tanh)
        loss = ((hidden * W2)[0, 0] - y) ** 2
        return symbp.Model(loss, params=[W1, W2], inputs=[x], targets=[y], name="net231")
    raise ValueError(problem)


def _spec(problem: str) -> dict[str, Any]:
    return optim_cases.PROBLEMS[problem.lstrip("-")]


def start(problem: str) -> dict[str, Any]:
    """The start params of a problem."""
    params = _spec(problem)["params"]
    return {name: np.array(p["init"], dtype=np.float64) for name, p in params.items()}


@functools.cache
def refs() -> dict[str, np.ndarray]:
    """The committed torch trajectories (every array of optim_refs.npz)."""
    with np.load(REFS) as archive:
        return {key: archive[key] for key in archive.files}


def meta() -> dict[str, Any]:
    """The npz's metadata (torch version, float32 drift per case)."""
    return json.loads(str(refs()["meta"]))


def data(problem: str) -> dict[str, np.ndarray] | None:
    """The problem's data (the reference's own copy for net231)."""
    if problem != "net231":
        return None
    return {"x": refs()["data/net231/X"], "y": refs()["data/net231/Y"]}


def batch_size(problem: str) -> int | None:
    return _spec(problem)["batch_size"]  # type: ignore[no-any-return]


def steps(problem: str) -> int:
    return _spec(problem)["steps"]  # type: ignore[no-any-return]


def flat(params: dict[str, Any]) -> np.ndarray:
    """Params flattened in declaration order, row-major (the npz's layout)."""
    return np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1) for v in params.values()])


# -- cases -> symbp optimizers --------------------------------------------------------
def schedule(spec: dict[str, Any]) -> schedules.Schedule:
    """optim_cases' schedule dict -> a symbp schedule."""
    kind = spec["kind"]
    if kind == "Warmup":
        return schedules.Warmup(schedule(spec["schedule"]), spec["warmup_steps"])
    options = {k: v for k, v in spec.items() if k != "kind"}
    return getattr(schedules, kind)(**options)  # type: ignore[no-any-return]


def optimizer(case_id: str) -> optim.Optimizer:
    """The symbp optimizer of a case (torch argument names map one to one)."""
    case = CASES[case_id]
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in case["kwargs"].items()}
    if case["schedule"] is not None:
        kwargs["lr"] = schedule(case["schedule"])
    return getattr(optim, case["optimizer"])(**kwargs)  # type: ignore[no-any-return]


# -- compiled trainers ----------------------------------------------------------------
@functools.cache
def trainer(key: Key) -> symbp.Trainer:
    """The trainer of a key (generated and imported; compiled at its first fit)."""
    case_id, problem, dtype = key
    return model(problem).compile(optimizer(case_id), dtype)


def fit(key: Key, params: dict[str, Any], n_steps: int, **kwargs: Any) -> symbp.Fit:
    """``trainer(key).fit`` with the problem's data and batch size."""
    problem = key[1]
    return trainer(key).fit(
        params, data(problem), steps=n_steps, batch_size=batch_size(problem), **kwargs
    )


def _compiled(key: Key) -> bool:
    """Whether Numba's on-disk cache already holds the key's fit kernel."""
    try:
        index = trainer(key).module._fit_kernel._cache._cache_file._index_path
    except AttributeError:  # a Numba without this (private) layout: just compile
        return False
    return Path(index).exists()


def compile_keys(keys_json: str) -> None:
    """Worker: compile the fit kernels of some keys with the argument types tests use."""
    for case_id, problem, dtype in json.loads(keys_json):
        fit((case_id, problem, dtype), start(problem), 1)


def warm(keys: list[Key], workers: int | None = None) -> None:
    """Compile every key's module that is not cached yet, in parallel processes."""
    todo = sorted({key for key in keys if not _compiled(key)})
    workers = min(workers or os.cpu_count() or 1, len(todo))
    if workers < 2:
        return  # nothing to gain: the tests compile what they need as they go
    code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import optim_problems as o; o.compile_keys(sys.argv[1])"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, json.dumps(todo[k::workers])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for k in range(workers)
    ]
    for proc in procs:
        proc.wait()


# -- trajectories and their comparison --------------------------------------------------
@functools.cache
def trajectory(key: Key) -> tuple[np.ndarray, np.ndarray]:
    """(losses (steps,), params (steps + 1, P)) as float64, the npz's layout.

    Runs the whole fit once (its losses) and once more step by step through
    ``state=`` (the params after every step), and checks the two agree bit for bit.
    """
    problem = key[1]
    n = steps(problem)
    whole = fit(key, start(problem), n)
    params, state = start(problem), None
    rows, losses = [flat(params).astype(key[2]).astype(np.float64)], []
    for _ in range(n):
        one = fit(key, params, 1, state=state)
        params, state = one.params, one.state
        rows.append(flat(params))
        losses.append(one.losses[0])
    stepped = np.array(losses, dtype=whole.losses.dtype)
    assert np.array_equal(stepped, whole.losses), f"{key}: stepwise losses differ from one fit"
    assert np.array_equal(rows[-1], flat(whole.params)), f"{key}: stepwise params differ"
    return whole.losses.astype(np.float64), np.stack(rows)


def max_rel_diff(a: np.ndarray, b: np.ndarray, floor: float = 1e-6) -> float:
    """max |a - b| / max(|b|, floor), elementwise (numpy_optim's float64 measure)."""
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


def max_row_dev(a: np.ndarray, b: np.ndarray) -> float:
    """max over rows of max|a - b| / max(max|b| in the row, 1e-3) (the npz's float32 measure)."""
    a, b = np.atleast_2d(a.T).T, np.atleast_2d(b.T).T
    scale = np.maximum(np.abs(b).max(axis=1, keepdims=True), 1e-3)
    return float(np.max(np.abs(a - b) / scale))
