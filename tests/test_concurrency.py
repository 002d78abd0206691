"""Trainers used from several threads, and from a forked child process."""

from __future__ import annotations

import multiprocessing
import sys
import threading

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp import nn, optim


@pytest.fixture(scope="module")
def wide():
    """A matrix-level model (BLAS) and data large enough to evaluate on several threads."""
    x, y = sp.MatrixSymbol("x", 1, 16), sp.MatrixSymbol("y", 1, 4)
    W1, b1 = sp.MatrixSymbol("W1", 16, 32), sp.MatrixSymbol("b1", 1, 32)
    W2 = sp.MatrixSymbol("W2", 32, 4)
    z = nn.dense(x, W1, b1, sp.tanh) * W2
    model = symbp.Model(
        nn.mse(z, y), params=[W1, b1, W2], inputs=[x], targets=[y], name="concurrent_wide"
    )
    trainer = model.compile(optim.SGD(lr=0.01))
    rng = np.random.default_rng(0)
    params = {
        "W1": rng.normal(size=(16, 32)) * 0.3,
        "b1": np.zeros((1, 32)),
        "W2": rng.normal(size=(32, 4)) * 0.3,
    }
    data = {"x": rng.normal(size=(4096, 16)), "y": rng.normal(size=(4096, 4))}
    assert trainer.spec.blas
    return trainer, params, data


def threads_of(trainer):
    """The threads module of the runtime the trainer's module imports."""
    return sys.modules[f"{trainer.runtime.__name__}.threads"]


def set_threading(monkeypatch, trainer, threaded: bool) -> None:
    """Make the trainer's evaluations choose threads (or not) whatever they cost."""
    monkeypatch.setattr(threads_of(trainer), "THREADED_WORK", 0.0 if threaded else float("inf"))
    for spec in specs_of(trainer):
        for key in [key for key in spec.cache if isinstance(key, tuple)]:
            monkeypatch.delitem(spec.cache, key)


def specs_of(trainer) -> list:
    """The Spec of the trainer's module, and of its Hessian module once it exists."""
    found = [trainer.spec]
    if "hessian_module" in vars(trainer):
        found.append(trainer.hessian_module.SPEC)
    return found


def run_threads(target, count: int = 4) -> list[BaseException]:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def go():
        barrier.wait()
        try:
            target()
        except BaseException as err:  # collected, re-raised by the test
            errors.append(err)

    threads = [threading.Thread(target=go) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_modules_first_used_from_several_threads_are_complete():
    w, b, x, t = sp.symbols("w b x t")
    model = symbp.Model(
        sp.log(1 + sp.exp(-t * (w * x + b))) + w**2, params=[w, b], inputs=[x], targets=[t],
        name="concurrent_first_use",
    )  # fmt: skip
    trainer = model.compile()
    modules = []
    errors = run_threads(lambda: modules.append(trainer.hessian_module.SPEC))
    assert not errors, errors
    assert len(modules) == 4


def test_concurrent_evaluations_give_blas_its_threads_back(wide):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    trainer, params, data = wide
    expected = trainer.grad(params, data)

    def blas_threads():
        return [
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        ]

    before = blas_threads()
    results = []

    def work():
        for _ in range(5):
            results.append(trainer.grad(params, data))
        trainer.fit(params, data, steps=3, batch_size=64)

    assert not run_threads(work, 3)
    assert blas_threads() == before
    trainer.fit(params, data, steps=3, batch_size=64)
    assert blas_threads() == before
    for result in results:
        for name, value in expected.items():
            np.testing.assert_array_equal(result[name], value)


def _child(trainer, params, data, queue):
    queue.put(trainer.loss(params, data))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_a_forked_child_evaluates_on_its_own_threads(wide, monkeypatch):
    trainer, params, data = wide
    set_threading(monkeypatch, trainer, True)
    expected = trainer.loss(params, data)  # the parent's thread pool now exists
    assert "executor" in threads_of(trainer).shared()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(trainer, params, data, queue))
    child.start()
    child.join(60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive, "the forked child hung in the parent's thread pool"
    assert queue.get(timeout=5) == expected


def test_threads_are_used_only_where_they_pay_and_change_no_result(monkeypatch):
    """Whether an evaluation runs on threads is measured per (what, sample count); the
    parts and the order of their sums are fixed, so the results are bit-identical."""
    a, b, c, x, y = sp.symbols("a b c x y")
    model = symbp.Model(
        (a * sp.exp(-b * x) + c - y) ** 2, params=[a, b, c], inputs=[x], targets=[y],
        outputs={"f": a * sp.exp(-b * x) + c}, name="concurrent_curve",
    )  # fmt: skip
    trainer = model.compile()
    if trainer.runtime.threads() < 2:
        pytest.skip("one CPU: evaluations never run on threads")
    trainer.hessian_module  # noqa: B018 (generated now, so set_threading reaches it)
    rng = np.random.default_rng(3)
    xs = rng.uniform(0, 4, 10_000)
    data = {"x": xs, "y": 2.5 * np.exp(-1.3 * xs) + 0.5 + 0.05 * rng.normal(size=xs.size)}
    params, v = {"a": 2.0, "b": 1.0, "c": 0.3}, {"a": 0.3, "b": -1.0, "c": 2.0}
    results = {}
    for threaded in (False, True):
        set_threading(monkeypatch, trainer, threaded)
        for _ in range(3):  # two measuring evaluations, then the decision
            got = (
                trainer.loss(params, data),
                trainer.grad(params, data),
                trainer.hessp(params, v, data),
                trainer.predict(params, data)["f"],
            )
        decisions = {
            (spec.model, key): value
            for spec in specs_of(trainer)
            for key, value in spec.cache.items()
            if isinstance(key, tuple)
        }
        assert len(decisions) == 4 and set(decisions.values()) == {threaded}, decisions
        results[threaded] = got
    serial, threaded = results[False], results[True]
    assert serial[0] == threaded[0]
    for name in params:
        assert serial[1][name] == threaded[1][name] and serial[2][name] == threaded[2][name]
    np.testing.assert_array_equal(serial[3], threaded[3])
