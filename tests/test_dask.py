"""symbp.dask on a LocalCluster: in-memory equality, workers without SymPy, faults, errors.

The cluster (two worker processes on 127.0.0.1, one thread each) is started once for
the module. Its workers block ``import sympy`` and ``import symbp`` (a preload) and use
their own cache directory, so these tests also show that a worker needs neither SymPy
nor symbp nor the client's files. Hooks that slow down or kill a worker are installed
in the worker's copy of the runtime the generated module imports (``module.RUNTIME``)
with ``client.run``; they are nested functions, which cloudpickle sends by value.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import symbp  # noqa: E402
import symbp.dask as sd  # noqa: E402
import symbp.dask.ship as ship  # noqa: E402
from symbp import nn, optim, schedules  # noqa: E402
from symbp.runtime import loader  # noqa: E402

BLOCK_IMPORTS = """
import sys

class _BlockSymPy:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("sympy", "symbp"):
            raise ImportError(f"{name} is blocked on this worker (tests/test_dask.py)")
        return None

sys.meta_path.insert(0, _BlockSymPy())
"""


@pytest.fixture(scope="module")
def worker_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worker-cache")


@pytest.fixture(scope="module")
def client(worker_cache: Path):
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        preload=[BLOCK_IMPORTS],
        env={"SYMBP_CACHE_DIR": str(worker_cache)},
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


# -- models -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logistic() -> symbp.Model:
    x, w = sp.MatrixSymbol("x", 1, 4), sp.MatrixSymbol("w", 4, 1)
    b, y = sp.Symbol("b"), sp.Symbol("y")
    z = (x * w)[0, 0] + b
    return symbp.Model(
        nn.binary_cross_entropy_with_logits(z, y),
        params=[w, b],
        inputs=[x],
        targets=[y],
        name="dask_test_logistic",
        outputs={"p": nn.sigmoid(z), "z": z},
    )


def sgd(lr: float = 0.2) -> optim.SGD:
    # a decaying learning rate: the step counter of every update matters
    return optim.SGD(lr=schedules.ExponentialDecay(lr, 0.5, 30), momentum=0.9)


@pytest.fixture(scope="module")
def trainer(logistic: symbp.Model) -> symbp.Trainer:
    return logistic.compile(sgd())


@pytest.fixture(scope="module")
def mlp() -> symbp.Trainer:
    x, t = sp.MatrixSymbol("x", 1, 6), sp.MatrixSymbol("t", 1, 3)
    W1, b1 = sp.MatrixSymbol("W1", 6, 8), sp.MatrixSymbol("b1", 1, 8)
    W2, b2 = sp.MatrixSymbol("W2", 8, 3), sp.MatrixSymbol("b2", 1, 3)
    logits = nn.dense(nn.dense(x, W1, b1, sp.tanh), W2, b2)
    model = symbp.Model(
        nn.softmax_cross_entropy(logits, t),
        params=[W1, b1, W2, b2],
        inputs=[x],
        targets=[t],
        name="dask_test_mlp",
        level="matrix",
    )
    return model.compile(optim.SGD(lr=0.2))


# -- data ---------------------------------------------------------------------------

N = 203
#: uneven blocks, one of them empty
CHUNKS = (50, 37, 0, 66, 50)


def logistic_data(n: int = N, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    logits = X @ np.array([1.5, -2.0, 0.5, 1.0]) + 0.3
    Y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(float)  # noisy: a finite optimum
    return {"x": X, "y": Y}


def logistic_params() -> dict:
    return {"w": np.array([[0.1], [-0.2], [0.05], [0.0]]), "b": 0.1}


def mlp_data(n: int = 150) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 6))
    labels = np.argmax(X[:, :3] + 0.5 * rng.normal(size=(n, 3)), axis=1)
    return {"x": X, "t": np.eye(3)[labels]}


def mlp_params() -> dict:
    rng = np.random.RandomState(0)
    return {
        "W1": rng.normal(size=(6, 8)) * 0.3,
        "b1": np.zeros((1, 8)),
        "W2": rng.normal(size=(8, 3)) * 0.3,
        "b2": np.zeros((1, 3)),
    }


def chunked(data: dict[str, np.ndarray], chunks) -> dict:
    chunks = tuple(chunks)
    return {
        name: da.from_array(value, chunks=(chunks, *value.shape[1:]))
        for name, value in data.items()
    }


def assert_params_close(actual: dict, expected: dict, rtol: float) -> None:
    assert actual.keys() == expected.keys()
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=rtol, atol=rtol, err_msg=name)


def assert_fits_equal(actual: symbp.Fit, expected: symbp.Fit, rtol: float = 1e-10) -> None:
    assert_params_close(actual.params, expected.params, rtol)
    np.testing.assert_allclose(actual.losses, expected.losses, rtol=rtol, atol=rtol)
    assert actual.state["step"] == expected.state["step"]
    assert actual.state["seed"] == expected.state["seed"]
    assert actual.state["source_hash"] == expected.state["source_hash"]
    np.testing.assert_allclose(actual.state["slots"], expected.state["slots"], rtol=rtol, atol=rtol)


# -- worker hooks (nested functions: cloudpickle sends them by value) ----------------


def _quiet():
    def call(func, *args):
        func(*args)

    return call


def _hook():
    def install(module_name, after, action, delay):
        import os
        import signal
        import sys
        import time

        runtime = sys.modules[module_name].RUNTIME  # what the worker's tasks call
        original = getattr(runtime, "_test_original", None) or runtime.block_sums
        runtime._test_original = original
        calls = [0]

        def block_sums(*args, **kwargs):
            calls[0] += 1
            if calls[0] > after:
                if action == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                time.sleep(delay)
            return original(*args, **kwargs)

        runtime.block_sums = block_sums
        return os.getpid()

    return install


def _unhook():
    def remove(module_name):
        import sys

        module = sys.modules.get(module_name)
        runtime = getattr(module, "RUNTIME", None)
        original = getattr(runtime, "_test_original", None)
        if original is not None:
            runtime.block_sums = original
            del runtime._test_original

    return remove


def load_everywhere(client, trainer: symbp.Trainer, params: dict, data: dict) -> str:
    """Load the trainer's module on every worker and compile its kernel there (with a
    few samples of ``data``); return the module's import name on the workers."""
    theta = trainer.runtime.pack_params(trainer.spec, params)
    names = tuple(data)
    few = [np.asarray(data[name][:3]) for name in names]
    compute = ship.Remote(sd.worker.block_sums)
    client.run(_quiet(), compute, ship.shipment(trainer), theta, True, names, 0, *few)
    return loader.module_name(trainer.spec.model, trainer.module.SOURCE_HASH)


def wait_for_two(client) -> None:
    client.wait_for_workers(2, timeout=60)
    deadline = time.monotonic() + 60
    while len(client.run(os.getpid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)


# -- what ships to the workers --------------------------------------------------------


def test_workers_need_neither_sympy_nor_symbp(client, trainer, worker_cache):
    data = logistic_data()
    params = logistic_params()
    assert sd.loss(trainer, params, chunked(data, CHUNKS)) == pytest.approx(
        trainer.loss(params, data), rel=1e-12
    )
    name = load_everywhere(client, trainer, params, data)
    assert name == trainer.module.__name__  # the name symbp's own compile cache uses
    files = client.run(lambda name=name: sys.modules[name].__file__)
    expected = worker_cache / f"{name}.py"
    assert set(files.values()) == {str(expected)}
    assert expected.read_text() == Path(trainer.module.__file__).read_text()
    # the runtime the module imports travelled with it, into the worker's cache folder
    runtime_files = client.run(lambda name=name: sys.modules[name].RUNTIME.__file__)
    installed = worker_cache / loader.RUNTIME_FOLDER
    assert set(runtime_files.values()) == {str(installed / "__init__.py")}
    for file_name, text in loader.runtime_sources().items():
        assert (installed / file_name).read_text() == text
    imported = client.run(
        lambda: sorted({"sympy", "symbp"} & {m.split(".")[0] for m in sys.modules})
    )
    assert all(found == [] for found in imported.values()), imported


def test_version_mismatch_is_an_error_not_an_answer(client, trainer, monkeypatch):
    import numba

    data = chunked(logistic_data(), CHUNKS)
    params = logistic_params()
    monkeypatch.setattr(ship, "client_versions", lambda: ("0.0.1", symbp.__version__))
    with pytest.raises(sd.VersionMismatchError, match=r"numba .* the client numba 0\.0\.1"):
        sd.loss(trainer, params, data)
    monkeypatch.setattr(ship, "client_versions", lambda: (numba.__version__, "9.9.9"))
    with pytest.raises(
        sd.VersionMismatchError, match=r"generated by symbp .* expects symbp 9\.9\.9"
    ):
        sd.grad(trainer, params, data)
    with pytest.raises(sd.VersionMismatchError) as caught:
        sd.fit(trainer, params, data, steps=3)
    assert caught.value.fit is not None and caught.value.fit.steps == 0
    monkeypatch.undo()
    assert sd.loss(trainer, params, data) == pytest.approx(trainer.loss(params, logistic_data()))


def test_a_worker_refuses_a_runtime_other_than_the_one_it_imported(
    client, trainer, logistic, monkeypatch
):
    data = logistic_data()
    params = logistic_params()
    load_everywhere(client, trainer, params, data)  # every worker imports the runtime
    other = logistic.compile(optim.Adam(lr=0.01))  # a module no worker has loaded yet
    edited = tuple((name, text + "# edited\n") for name, text in loader.runtime_sources().items())
    monkeypatch.setattr(ship, "runtime_sources", lambda: edited)
    with pytest.raises(sd.VersionMismatchError, match="another symbp runtime"):
        sd.loss(other, params, chunked(data, CHUNKS))
    monkeypatch.undo()
    assert sd.loss(other, params, chunked(data, CHUNKS)) == pytest.approx(
        other.loss(params, data), rel=1e-12
    )


# -- loss, grad, predict -------------------------------------------------------------


@pytest.mark.parametrize("chunks", [CHUNKS, (10,) * 20 + (3,)], ids=["uneven", "21-blocks"])
def test_loss_and_grad_equal_in_memory(client, trainer, chunks):
    data = logistic_data()
    params = logistic_params()
    dask_data = chunked(data, chunks)
    assert sd.loss(trainer, params, dask_data) == pytest.approx(
        trainer.loss(params, data), rel=1e-12
    )
    assert_params_close(sd.grad(trainer, params, dask_data), trainer.grad(params, data), 1e-12)
    value, gradient = sd.loss_and_grad(trainer, params, dask_data)
    assert value == pytest.approx(trainer.loss(params, data), rel=1e-12)
    assert_params_close(gradient, trainer.grad(params, data), 1e-12)


def test_matrix_level_loss_and_grad(client, mlp):
    data = mlp_data()
    params = mlp_params()
    dask_data = chunked(data, (40, 45, 65))
    assert sd.loss(mlp, params, dask_data) == pytest.approx(mlp.loss(params, data), rel=1e-12)
    assert_params_close(sd.grad(mlp, params, dask_data), mlp.grad(params, data), 1e-12)


def test_results_do_not_depend_on_scheduling(client, trainer):
    data = chunked(logistic_data(), (10,) * 20 + (3,))
    params = logistic_params()
    first = sd.grad(trainer, params, data)
    for _ in range(2):
        again = sd.grad(trainer, params, data)
        for name in first:
            assert np.array_equal(again[name], first[name])


def test_predict_is_lazy_and_equals_trainer_predict(client, trainer):
    data = logistic_data()
    params = logistic_params()
    out = sd.predict(trainer, params, chunked(data, CHUNKS))  # the targets are ignored
    expected = trainer.predict(params, data)
    assert set(out) == {"p", "z"}
    for name, array in out.items():
        assert isinstance(array, da.Array)
        assert array.chunks[0] == CHUNKS
        np.testing.assert_allclose(array.compute(), expected[name], rtol=1e-12)


def test_predict_computes_on_any_dask_scheduler(trainer):
    data = logistic_data()
    params = logistic_params()
    out = sd.predict(trainer, params, chunked({"x": data["x"]}, CHUNKS))
    threads = out["z"].compute(scheduler="threads")
    np.testing.assert_allclose(threads, trainer.predict(params, data)["z"], rtol=1e-12)


# -- minimize -----------------------------------------------------------------------


def test_minimize_reaches_scipy_in_memory_optimum(client, trainer):
    from scipy.optimize import minimize

    data = logistic_data()
    params = logistic_params()
    spec = trainer.spec
    pack = lambda p: trainer.runtime.pack_params(spec, p)  # noqa: E731
    unpack = lambda x: trainer.runtime.unpack_params(spec, x)  # noqa: E731

    def objective(x):
        return trainer.loss(unpack(x), data), pack(trainer.grad(unpack(x), data))

    reference = minimize(objective, pack(params), jac=True, method="L-BFGS-B", tol=1e-12)
    fit = sd.minimize(trainer, params, chunked(data, CHUNKS), method="L-BFGS-B", tol=1e-12)
    assert fit.result.success
    np.testing.assert_allclose(pack(fit.params), reference.x, rtol=1e-8, atol=1e-8)
    assert len(fit.losses) == fit.result.nit and fit.losses[-1] == pytest.approx(fit.result.fun)
    assert np.all(np.diff(fit.losses) <= 1e-15)
    assert fit.state["step"] == 0  # a fresh optimizer state: fit() can continue from here
    trainer.fit(fit.params, data, steps=1, state=fit.state)
    memory = trainer.minimize(params, data, method="L-BFGS-B", tol=1e-12)  # the in-memory twin
    np.testing.assert_allclose(pack(fit.params), pack(memory.params), rtol=1e-8, atol=1e-8)
    assert fit.result.nit == memory.result.nit and len(fit.losses) == len(memory.losses)
    np.testing.assert_array_equal(fit.state["slots"], memory.state["slots"])


def test_minimize_options(client, trainer):
    data = chunked(logistic_data(), CHUNKS)
    params = logistic_params()
    fit = sd.minimize(trainer, params, data, bounds={"b": (None, 0.0), "w": (-0.5, 0.5)})
    assert fit.params["b"] <= 0.0 and np.all(np.abs(fit.params["w"]) <= 0.5)
    bfgs = sd.minimize(trainer, params, data, method="bfgs", options={"maxiter": 3})
    assert bfgs.result.nit <= 3
    with pytest.raises(symbp.OptionError, match="not a gradient-based method"):
        sd.minimize(trainer, params, data, method="Nelder-Mead")
    with pytest.raises(symbp.OptionError, match="needs the Hessian"):
        sd.minimize(trainer, params, data, method="trust-ncg")
    with pytest.raises(symbp.OptionError, match=r"unknown params \['v'\]"):
        sd.minimize(trainer, params, data, bounds={"v": (0, 1)})


# -- fit(sync="step"): exact data-parallel training ----------------------------------


@pytest.mark.parametrize(
    "batch_size, shuffle",
    [(24, False), (24, True), (None, False)],
    ids=["batches-across-blocks", "shuffled", "full-batch"],
)
def test_fit_step_equals_in_memory(client, trainer, batch_size, shuffle):
    data = logistic_data()
    params = logistic_params()
    epochs = 3 if batch_size else 20
    kwargs = dict(
        epochs=epochs, batch_size=batch_size, shuffle=shuffle, seed=7 if shuffle else None
    )
    fit = sd.fit(trainer, params, chunked(data, CHUNKS), **kwargs)
    expected = trainer.fit(params, data, **kwargs)
    assert_fits_equal(fit, expected)
    # the state resumes either way, exactly
    more = dict(epochs=1, batch_size=batch_size, shuffle=shuffle)
    resumed = trainer.fit(fit.params, data, state=fit.state, **more)
    again = sd.fit(trainer, fit.params, chunked(data, CHUNKS), state=fit.state, **more)
    assert_fits_equal(again, resumed)
    straight = trainer.fit(params, data, **{**kwargs, "epochs": epochs + 1})
    assert_params_close(resumed.params, straight.params, 1e-10)


def test_matrix_level_fit_step_equals_in_memory(client, mlp):
    data = mlp_data()
    params = mlp_params()
    kwargs = dict(epochs=2, batch_size=32, shuffle=True, seed=3)
    fit = sd.fit(mlp, params, chunked(data, (40, 45, 65)), **kwargs)
    assert_fits_equal(fit, mlp.fit(params, data, **kwargs))


def test_fit_divergence_keeps_the_steps_before_it(client, logistic):
    wild = logistic.compile(sgd(lr=3e307))  # the same module, other numbers
    data = logistic_data()
    params = logistic_params()
    with pytest.raises(symbp.DivergenceError) as memory:
        wild.fit(params, data, steps=40, batch_size=50)
    with pytest.raises(symbp.DivergenceError, match="diverged at step") as cluster:
        sd.fit(wild, params, chunked(data, CHUNKS), steps=40, batch_size=50)
    assert cluster.value.step == memory.value.step
    assert cluster.value.param == memory.value.param
    assert cluster.value.lr == pytest.approx(memory.value.lr)
    assert_fits_equal(cluster.value.fit, memory.value.fit)
    with pytest.raises(symbp.DivergenceError, match="diverged at step") as local:
        sd.fit(wild, params, chunked(data, CHUNKS), steps=40, batch_size=10, sync=2)
    assert local.value.fit.steps % 2 == 0 and np.isfinite(local.value.fit.params["w"]).all()


# -- fit(sync=K): local SGD ----------------------------------------------------------


def test_local_sgd_converges_on_a_separable_problem(client, trainer):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(600, 4))
    margin = X @ np.array([1.0, -1.0, 2.0, 0.5])
    keep = np.abs(margin) > 0.3
    data = {"x": X[keep], "y": (margin[keep] > 0).astype(float)}
    n = len(data["y"])
    chunks = (n // 4, n // 4, n // 4, n - 3 * (n // 4))
    params = {"w": np.zeros((4, 1)), "b": 0.0}
    kwargs = dict(epochs=8, batch_size=16, shuffle=True, seed=1, sync=10)
    fit = sd.fit(trainer, params, chunked(data, chunks), **kwargs)
    predicted = trainer.predict(fit.params, data)["p"] > 0.5
    assert np.mean(predicted == (data["y"] > 0.5)) >= 0.99
    assert fit.losses[-10:].mean() < 0.2 * fit.losses[:10].mean()
    assert fit.state["step"] == len(fit.losses) == 8 * -(-max(chunks) // 16)
    again = sd.fit(trainer, params, chunked(data, chunks), **kwargs)
    assert_fits_equal(again, fit, rtol=0)  # deterministic


def test_local_sgd_of_one_full_batch_step_is_gradient_descent(client, trainer):
    """Averaging K=1 full-block steps of SGD with momentum, weighted by block size, is
    one full-batch step: the weights are right."""
    data = logistic_data()
    params = logistic_params()
    fit = sd.fit(trainer, params, chunked(data, CHUNKS), steps=12, sync=1)
    expected = trainer.fit(params, data, steps=12)
    assert_params_close(fit.params, expected.params, 1e-12)
    np.testing.assert_allclose(fit.state["slots"], expected.state["slots"], rtol=1e-12, atol=1e-12)


# -- faults ---------------------------------------------------------------------------


def test_grad_is_unchanged_when_a_worker_is_killed(client, trainer):
    data = logistic_data(n=400)
    params = logistic_params()

    def sleepy(block):
        import time

        time.sleep(0.05)
        return block

    dask_data = chunked(data, (10,) * 40)
    slow = {**dask_data, "x": dask_data["x"].map_blocks(sleepy, dtype=float)}
    victim = sorted(client.run(os.getpid).values())[0]
    killed = []

    def kill():
        os.kill(victim, signal.SIGKILL)
        killed.append(time.monotonic())

    timer = threading.Timer(0.4, kill)
    timer.start()
    try:
        result = sd.grad(trainer, params, slow)
    finally:
        timer.join()
    finished = time.monotonic()
    assert killed and killed[0] < finished
    assert_params_close(result, trainer.grad(params, data), 1e-12)
    wait_for_two(client)
    assert victim not in client.run(os.getpid).values()


def test_fit_is_unchanged_when_a_worker_dies_mid_step(client, trainer):
    data = logistic_data()
    params = logistic_params()
    name = load_everywhere(client, trainer, params, data)
    # a worker kills its own process inside its 12th kernel call: mid-step, for sure (both
    # are hooked: Dask may well have put every block on one of them)
    before = set(client.run(_hook(), name, 11, "kill", 0.0).values())
    kwargs = dict(epochs=4, batch_size=24, shuffle=True, seed=11)
    try:
        fit = sd.fit(trainer, params, chunked(data, CHUNKS), **kwargs)
    finally:
        wait_for_two(client)
        client.run(_unhook(), name)
    assert_fits_equal(fit, trainer.fit(params, data, **kwargs))
    assert before - set(client.run(os.getpid).values())  # a worker did die


def test_fit_that_cannot_complete_keeps_what_it_trained(client, trainer):
    data = logistic_data()
    params = logistic_params()
    name = load_everywhere(client, trainer, params, data)
    scheduler = client.cluster.scheduler
    allowed = scheduler.allowed_failures
    scheduler.allowed_failures = 0  # one lost worker fails the task
    kwargs = dict(batch_size=24, shuffle=True, seed=5)
    client.run(_hook(), name, 15, "kill", 0.0)  # every worker dies in its 16th call
    try:
        with pytest.raises(sd.ClusterError, match="failed on every worker") as caught:
            sd.fit(trainer, params, chunked(data, CHUNKS), epochs=4, **kwargs)
    finally:
        scheduler.allowed_failures = allowed
        wait_for_two(client)
        client.run(_unhook(), name)
    partial = caught.value.fit
    total = 4 * -(-N // 24)
    assert 0 < partial.steps < total
    rest = trainer.fit(
        partial.params, data, steps=total - partial.steps, state=partial.state, **kwargs
    )
    straight = trainer.fit(params, data, epochs=4, **kwargs)
    assert_params_close(rest.params, straight.params, 1e-10)
    np.testing.assert_allclose(
        np.concatenate([partial.losses, rest.losses]), straight.losses, rtol=1e-10, atol=1e-10
    )


# -- errors ---------------------------------------------------------------------------


def test_misaligned_chunks_are_refused(client, trainer):
    data = logistic_data()
    dask_data = {
        "x": da.from_array(data["x"], chunks=(50, 4)),
        "y": da.from_array(data["y"], chunks=100),
    }
    with pytest.raises(symbp.DataError, match=r"'y' has sample chunks \(100, 100, 3\), but 'x'"):
        sd.loss(trainer, logistic_params(), dask_data)


def test_chunks_along_features_are_refused(client, trainer):
    data = logistic_data()
    dask_data = {
        "x": da.from_array(data["x"], chunks=(50, 2)),
        "y": da.from_array(data["y"], chunks=50),
    }
    with pytest.raises(symbp.DataError, match=r"'x' is chunked along axis 1 too"):
        sd.grad(trainer, logistic_params(), dask_data)


def test_data_errors_name_the_array(client, trainer):
    data = logistic_data()
    params = logistic_params()
    with pytest.raises(symbp.DataError, match=r"'x' is a ndarray; symbp\.dask takes dask arrays"):
        sd.loss(trainer, params, data)
    with pytest.raises(symbp.DataError, match=r"missing \['y'\]"):
        sd.loss(trainer, params, {"x": chunked(data, CHUNKS)["x"]})
    bad = dict(data, x=data["x"].copy())
    bad["x"][120, 2] = np.nan
    with pytest.raises(symbp.DataError, match=r"'x' has a non-finite value at index \(120, 2\)"):
        sd.loss(trainer, params, chunked(bad, CHUNKS))
    with pytest.raises(symbp.DataError, match=r"'x' has a non-finite value at index \(120, 2\)"):
        sd.fit(trainer, params, chunked(bad, CHUNKS), steps=2)
    with pytest.raises(symbp.DataError, match="has shape"):
        sd.loss(trainer, params, chunked({"x": data["x"][:, :3], "y": data["y"]}, CHUNKS))


def test_option_errors(client, trainer, logistic):
    data = chunked(logistic_data(), CHUNKS)
    params = logistic_params()
    for sync in (0, "epoch", True):
        with pytest.raises(symbp.OptionError, match="sync must be 'step'"):
            sd.fit(trainer, params, data, steps=1, sync=sync)
    with pytest.raises(symbp.OptionError, match="timeout"):
        sd.fit(trainer, params, data, steps=1, timeout=0)
    with pytest.raises(symbp.DataError, match="give exactly one of steps= or epochs="):
        sd.fit(trainer, params, data)
    with pytest.raises(symbp.DataError, match="without an optimizer"):
        sd.fit(logistic.compile(None), params, data, steps=1)


def test_no_client_is_a_clear_error(trainer, monkeypatch):
    def none():
        raise ValueError("No clients found")

    monkeypatch.setattr(distributed, "default_client", none)
    with pytest.raises(sd.ClusterError, match=r"needs a distributed\.Client"):
        sd.loss(trainer, logistic_params(), chunked(logistic_data(), CHUNKS))


# -- last: its sleeping task keeps a worker busy for a few seconds ----------------


def test_fit_timeout_keeps_what_it_trained(client, trainer):
    data = logistic_data()
    params = logistic_params()
    name = load_everywhere(client, trainer, params, data)
    client.run(_hook(), name, 6, "sleep", 3.0)  # from the 7th call on, 3 s per call
    try:
        with pytest.raises(sd.ClusterError, match=r"no result within timeout=1\.0") as caught:
            sd.fit(trainer, params, chunked(data, CHUNKS), steps=20, batch_size=40, timeout=1.0)
    finally:
        client.run(_unhook(), name)
    assert caught.value.fit.steps >= 1
    expected = trainer.fit(params, logistic_data(), steps=caught.value.fit.steps, batch_size=40)
    assert_fits_equal(caught.value.fit, expected)
