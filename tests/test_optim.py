"""Optimizers and schedules as objects: arguments, defaults, errors, update rules.

Nothing here compiles a kernel; the trajectories are in test_optim_parity.py.
"""

from __future__ import annotations

import dataclasses
import inspect
import math

import pytest
import sympy as sp
from optim_problems import CASES, optimizer, schedule
from reference import optim_cases

import symbp
from symbp import optim, schedules
from symbp.optim.base import LR, G, P
from symbp.schedules import T

OPTIMIZERS = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Rprop"]
#: torch.optim arguments that choose an implementation, not an update rule.
TORCH_ONLY = {"params", "foreach", "capturable", "differentiable", "fused"}


def _defaults(cls: type) -> dict[str, object]:
    return {f.name: f.default for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_defaults_are_torchs(name):
    ours = _defaults(getattr(optim, name))
    documented = optim_cases.DEFAULTS[name]  # written out from torch 2.x by the reference
    for option, value in documented.items():
        expected = tuple(value) if isinstance(value, list) else value
        assert ours[option] == expected, option


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_arguments_match_installed_torch(name):
    torch = pytest.importorskip("torch")
    signature = inspect.signature(getattr(torch.optim, name).__init__)
    theirs = {
        k: p.default for k, p in signature.parameters.items() if k not in TORCH_ONLY | {"self"}
    }
    ours = _defaults(getattr(optim, name))
    assert set(theirs) == set(ours)
    for option, default in theirs.items():
        assert ours[option] == default, option


def test_every_optimizer_is_exported():
    for name in OPTIMIZERS:
        assert name in optim.__all__
        assert issubclass(getattr(optim, name), optim.Optimizer)
    assert symbp.load_fit.__module__ == "symbp.train.fit"


BAD_OPTIONS = [
    (optim.SGD, {"lr": -0.1}, "lr must be a finite number >= 0"),
    (optim.Adam, {"lr": math.nan}, "lr must be a finite number >= 0"),
    (optim.Adagrad, {"lr": math.inf}, "lr must be a finite number >= 0"),
    (optim.RMSprop, {"lr": "0.1"}, "lr must be a number >= 0 or a schedule"),
    (optim.Adam, {"betas": (1.0, 0.999)}, "betas[0] must be in [0, 1)"),
    (optim.AdamW, {"betas": (0.9, -0.1)}, "betas[1] must be a finite number >= 0"),
    (optim.Adam, {"betas": (0.9,)}, "betas must be a pair of numbers"),
    (optim.Adam, {"eps": 0.0}, "eps must be a finite number > 0"),
    (optim.AdamW, {"eps": -1e-8}, "eps must be a finite number > 0"),
    (optim.Adagrad, {"eps": 0}, "eps must be a finite number > 0"),
    (optim.RMSprop, {"eps": math.nan}, "eps must be a finite number > 0"),
    (optim.Adam, {"weight_decay": -0.01}, "weight_decay must be a finite number >= 0"),
    (optim.Adam, {"amsgrad": 1}, "amsgrad must be True or False"),
    (optim.AdamW, {"maximize": "no"}, "maximize must be True or False"),
    (optim.Adagrad, {"lr_decay": -1.0}, "lr_decay must be a finite number >= 0"),
    (optim.Adagrad, {"initial_accumulator_value": -0.1}, "initial_accumulator_value must be"),
    (optim.RMSprop, {"alpha": 1.5}, "alpha must be in [0, 1]"),
    (optim.RMSprop, {"momentum": 1.0}, "momentum must be in [0, 1)"),
    (optim.RMSprop, {"centered": None}, "centered must be True or False"),
    (optim.SGD, {"momentum": -0.5}, "momentum must be a finite number >= 0"),
    (optim.SGD, {"nesterov": True}, "nesterov=True requires momentum > 0"),
    (optim.Rprop, {"etas": (1.0, 1.2)}, "0 < etas[0] < 1 < etas[1]"),
    (optim.Rprop, {"etas": (0.5, 1.0)}, "0 < etas[0] < 1 < etas[1]"),
    (optim.Rprop, {"etas": (0.0, 1.2)}, "0 < etas[0] < 1 < etas[1]"),
    (optim.Rprop, {"etas": 1.2}, "etas must be a pair of numbers"),
    (optim.Rprop, {"step_sizes": (0.1, 0.01)}, "0 <= step_sizes[0] <= step_sizes[1]"),
    (optim.Rprop, {"step_sizes": (-1e-6, 50)}, "step_sizes[0] must be a finite number >= 0"),
    (optim.Rprop, {"step_sizes": (1e-6, math.inf)}, "step_sizes[1] must be a finite number"),
    (schedules.ExponentialDecay, {"lr": 0.1, "decay_rate": 0, "decay_steps": 5}, "decay_rate"),
    (schedules.StepDecay, {"lr": 0.1, "step_size": 0}, "step_size must be a positive integer"),
    (schedules.CosineDecay, {"lr": 0.1, "decay_steps": 10, "alpha": 2.0}, "alpha must be in"),
    (schedules.Warmup, {"schedule": 0.1, "warmup_steps": 5}, "schedule must be a schedule"),
]


@pytest.mark.parametrize("cls, kwargs, message", BAD_OPTIONS)
def test_bad_options_name_the_option_and_the_range(cls, kwargs, message):
    with pytest.raises(symbp.OptionError) as err:
        cls(**kwargs)
    assert message in str(err.value)
    assert str(err.value).startswith(f"{cls.__name__}: ")


def test_options_are_normalized_and_hashable():
    adam = optim.Adam(betas=[0.8, 0.99])
    assert adam.betas == (0.8, 0.99)
    assert hash(adam) == hash(optim.Adam(betas=(0.8, 0.99)))
    assert optim.Rprop(step_sizes=(0, 1)).step_sizes == (0.0, 1.0)
    assert optim.Adam().describe() == "Adam(lr=0.001)"
    assert optim.AdamW(lr=0.01).describe() == "AdamW(lr=0.01)"
    assert optim.Rprop(etas=(0.3, 1.5)).describe() == "Rprop(lr=0.01, etas=(0.3, 1.5))"
    with pytest.raises(dataclasses.FrozenInstanceError):
        adam.lr = 0.1  # type: ignore[misc]


@pytest.mark.parametrize("case_id", list(CASES))
def test_update_rule_is_well_formed(case_id):
    """State, per-step scalars and ordered updates; no other symbol can appear."""
    opt = optimizer(case_id)
    rule = opt.rule()
    state = [sym for sym, _ in rule.state]
    assert len(set(state)) == len(state)
    assert all(isinstance(value, float) and math.isfinite(value) for _, value in rule.state)
    known = {P, G, LR, T, *state}  # T: the step counter (e.g. SGD's first step)
    for sym, expr in rule.scalars:
        assert expr.free_symbols <= known - {P, G, *state}
        known.add(sym)
    for target, expr in rule.updates:
        assert expr.free_symbols <= known, (target, expr)
        known.add(target)
    assert any(target == P for target, _ in rule.updates)


def test_rprop_step_sizes_start_at_the_lr_of_step_0():
    warm = schedules.Warmup(schedules.ExponentialDecay(0.1, 0.5, 10), 4)
    rule = optim.Rprop(lr=warm).rule()
    assert dict((s.name, v) for s, v in rule.state) == {"prev": 0.0, "delta": 0.1 / 4}
    assert not any(LR in expr.free_symbols for _, expr in rule.updates)  # later lrs ignored


def test_adamw_is_adam_with_decoupled_decay():
    assert (
        optim.AdamW(weight_decay=0.1).rule()
        == optim.Adam(weight_decay=0.1, decoupled_weight_decay=True).rule()
    )
    assert optim.AdamW(weight_decay=0.0).rule() == optim.Adam().rule()


SCHEDULES = sorted(
    {repr(c["schedule"]): c["schedule"] for c in optim_cases.CASES if c["schedule"]}.values(),
    key=repr,
)


@pytest.mark.parametrize("spec", SCHEDULES, ids=lambda s: s["kind"])
def test_schedule_values_match_the_reference_definition(spec):
    ours = schedule(spec)
    for t in [*range(0, 320, 7), 59, 60, 61, 99, 100, 149, 150, 199, 200, 1000]:
        assert ours(t) == pytest.approx(optim_cases.schedule_lr(spec, t), rel=1e-14, abs=0)
    assert ours.initial == ours(0)


def test_schedules_are_symbolic_in_the_step_counter():
    cosine = schedules.CosineDecay(0.1, decay_steps=100, alpha=0.1)
    assert cosine.expr().free_symbols == {T}
    assert cosine(100) == pytest.approx(0.01) and cosine(500) == pytest.approx(0.01)
    step = schedules.StepDecay(1.0, step_size=3)
    assert [step(t) for t in range(7)] == pytest.approx([1, 1, 1, 0.1, 0.1, 0.1, 0.01])
    assert schedules.Warmup(step, 2)(0) == pytest.approx(0.5)
    staircase = schedules.ExponentialDecay(1.0, 0.5, 4, staircase=True)
    assert [staircase(t) for t in (0, 3, 4, 7, 8)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert isinstance(staircase.expr(), sp.Expr)


def test_every_optimizer_accepts_a_schedule():
    decay = schedules.ExponentialDecay(0.01, 0.5, 100)
    for name in OPTIMIZERS:
        opt = getattr(optim, name)(lr=decay)
        assert opt.schedule is decay
        assert opt.rule().updates
