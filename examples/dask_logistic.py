"""Logistic regression on a Dask cluster with symbp.dask, checked against memory.

Needs the ``dask`` extra: ``pip install -e ".[dask]"``. Run from the repository
root: ``python examples/dask_logistic.py``.

Starts a LocalCluster of two worker processes on 127.0.0.1 (for a real cluster, connect
``Client("tcp://scheduler:8786")`` instead), puts 200,000 synthetic samples with 20
features on it as Dask arrays in blocks of 25,000, and trains a logistic regression
(L2 penalty 1e-3) three ways: full-batch L-BFGS (``symbp.dask.minimize``), exact
data-parallel minibatch SGD (``symbp.dask.fit``, ``sync="step"``) and local SGD
(``sync=5``). Each prints its accuracy next to the in-memory one: L-BFGS and
``sync="step"`` reach the in-memory result to rounding; local SGD, which averages the
blocks every 5 local steps, lands elsewhere (close, not equal).

The model is compiled with ``model.compile`` (into symbp's cache; nothing is written to
``generated/``). SymPy and symbp are imported inside functions: the LocalCluster's
worker processes re-import this script as their ``__main__``, and they need neither.
"""

from __future__ import annotations

import sys
import time

import numpy as np

SAMPLES, FEATURES, BLOCK = 200_000, 20, 25_000
PENALTY = 1e-3


def declare():
    """The per-sample loss: logistic loss of ``z = x w + b`` plus ``PENALTY/2 ||w||^2``."""
    import sympy as sp

    import symbp
    from symbp import nn

    x, w = sp.MatrixSymbol("x", 1, FEATURES), sp.MatrixSymbol("w", FEATURES, 1)
    b, y = sp.Symbol("b"), sp.Symbol("y")
    z = (x * w)[0, 0] + b
    loss = nn.binary_cross_entropy_with_logits(z, y) + PENALTY / 2 * (w.T * w)[0, 0]
    return symbp.Model(
        loss,
        params=[w, b],
        inputs=[x],
        targets=[y],
        name="dask_logistic",
        outputs={"p": nn.sigmoid(z)},
    )


def dataset(seed: int = 0) -> dict:
    """Gaussian features and labels drawn from a logistic model (not separable), as lazy
    Dask arrays: the workers generate their own blocks, as they would load a real data
    set (``dask.array.from_zarr``, ``read_parquet`` ...)."""
    import dask.array as da

    rng = da.random.default_rng(seed)
    x = rng.standard_normal((SAMPLES, FEATURES), chunks=(BLOCK, FEATURES))
    truth = np.random.default_rng(seed).normal(size=FEATURES)
    y = (rng.random(SAMPLES, chunks=BLOCK) < 1 / (1 + da.exp(-(x @ truth - 0.5)))).astype(float)
    return {"x": x, "y": y}


def accuracy(trainer, params: dict, data: dict) -> float:
    p = trainer.predict(params, data)["p"]
    return float(np.mean((p > 0.5) == (data["y"] > 0.5)))


def in_memory_lbfgs(trainer, params: dict, data: dict) -> dict:
    """scipy's L-BFGS on the in-memory loss and gradient (the reference)."""
    from scipy.optimize import minimize

    runtime, spec = trainer.runtime, trainer.spec

    def objective(theta):
        p = runtime.unpack_params(spec, theta)
        return trainer.loss(p, data), runtime.pack_params(spec, trainer.grad(p, data))

    start = runtime.pack_params(spec, params)
    result = minimize(objective, start, jac=True, method="L-BFGS-B", tol=1e-10)
    return runtime.unpack_params(spec, result.x)


def largest_difference(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) for k in a)


def main() -> None:
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as err:
        sys.exit(f'{err}: this example needs the dask extra, pip install -e ".[dask]"')

    import symbp.dask as sd
    from symbp import optim

    trainer = declare().compile(optim.SGD(lr=0.5, momentum=0.9))
    start = {"w": np.zeros((FEATURES, 1)), "b": 0.0}
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        x, y = client.persist(list(dataset().values()))  # the blocks stay on the workers
        cluster_data = {"x": x, "y": y}
        data = dict(zip(("x", "y"), dask.compute(x, y), strict=True))  # a copy in memory
        print(
            f"{SAMPLES:,} samples x {FEATURES} features in {len(x.chunks[0])} blocks on "
            f"{len(client.scheduler_info()['workers'])} workers"
        )
        print(
            f"loss at the start: {sd.loss(trainer, start, cluster_data):.6f} on the cluster, "
            f"{trainer.loss(start, data):.6f} in memory"
        )

        clock = time.perf_counter()
        fit = sd.minimize(trainer, start, cluster_data, method="L-BFGS-B", tol=1e-10)
        seconds = time.perf_counter() - clock
        reference = in_memory_lbfgs(trainer, start, data)
        print(
            f"L-BFGS ({fit.result.nit} iterations, {seconds:.1f} s): accuracy "
            f"{accuracy(trainer, fit.params, data):.2%}, in memory "
            f"{accuracy(trainer, reference, data):.2%}; largest parameter difference "
            f"{largest_difference(fit.params, reference):.1e}"
        )

        schedule = dict(epochs=2, batch_size=4096, shuffle=True, seed=0)
        clock = time.perf_counter()
        fit = sd.fit(trainer, start, cluster_data, **schedule)
        seconds = time.perf_counter() - clock
        memory = trainer.fit(start, data, **schedule)
        print(
            f'SGD, sync="step" ({len(fit.losses)} steps, {seconds:.1f} s): accuracy '
            f"{accuracy(trainer, fit.params, data):.2%}, in memory "
            f"{accuracy(trainer, memory.params, data):.2%}; largest parameter difference "
            f"{largest_difference(fit.params, memory.params):.1e}"
        )

        clock = time.perf_counter()
        local = sd.fit(trainer, start, cluster_data, sync=5, **schedule)
        seconds = time.perf_counter() - clock
        probabilities = sd.predict(trainer, local.params, cluster_data)["p"]  # lazy
        on_cluster = float(((probabilities > 0.5) == (y > 0.5)).mean().compute())
        print(
            f"local SGD, sync=5 ({len(local.losses)} local steps per block, {seconds:.1f} s): "
            f"accuracy {on_cluster:.2%} (computed on the cluster); not equal to the "
            f"in-memory SGD: largest parameter difference "
            f"{largest_difference(local.params, memory.params):.1e}"
        )
        imported = client.run(lambda: "sympy" in sys.modules or "symbp" in sys.modules)
        print(f"workers that imported SymPy or symbp: {sum(imported.values())} of {len(imported)}")


if __name__ == "__main__":
    main()
