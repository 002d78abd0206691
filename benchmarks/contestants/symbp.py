"""Contestant ``symbp``: the package under test, through its public API only.

``build`` declares the SymPy model and calls ``model.compile`` (derive +
generate + JIT); each run is one ``trainer.fit`` from the initial parameters.
All model declarations are in :func:`declare` so they can be adjusted in one
place as the package evolves.  If ``symbp`` cannot be imported or any call
fails, the contestant reports ``error`` with the first line of the exception
(the harness shows it as FAILED).
"""

from __future__ import annotations

import inspect
import os
import sys

import numpy as np

REQUIRES = ("sympy", "symbp", "numba")  # imports are not timed: numba is symbp's too
NOTES = "symbp.Model -> model.compile(optimizer, dtype) -> trainer.fit"


# How the digits MLP loss log(sum(exp(z))) - z.t is written.  "matrix" keeps it a
# 1x1 matrix expression (no [0, 0] indexing), which symbp derives at matrix level;
# "indexed" is the literal ``log((exp.(z) * 1)[0, 0]) - (z * t.T)[0, 0]``, which
# SymPy unrolls into scalar sums (64*H*10 terms) when the expression is built:
# about a minute of pure SymPy time for H=32, far more for H=512.
MLP_LOSS_FORM = os.environ.get("SYMBP_BENCH_MLP_LOSS", "matrix")


def declare(wl):
    """The SymPy model for a workload: ``(model, param_shapes, data_arrays)``.

    ``param_shapes`` maps each parameter name to the shape symbp expects
    (row vectors (1, n) for biases), ``data_arrays`` maps input/target names to
    the training arrays (first axis = samples) or is None.
    """
    import sympy as sp

    import symbp

    kind = wl.kind
    if kind == "scalar":
        w = sp.Symbol("w")
        model = symbp.Model((w + 1) ** 2, params=[w], name="w0")
        return model, {"w": ()}, None

    if kind == "linear_net":
        x = sp.MatrixSymbol("x", 1, 2)
        y = sp.Symbol("y")
        W1 = sp.MatrixSymbol("W1", 2, 3)
        W2 = sp.MatrixSymbol("W2", 3, 1)
        loss = ((x * W1 * W2)[0, 0] - y) ** 2
        model = symbp.Model(
            loss, params=[W1, W2], inputs=[x], targets=[y], reduction="mean", name="w1_linear"
        )
        data = {"x": wl.data["x"], "y": np.ascontiguousarray(wl.data["y"][:, 0])}
        return model, {"W1": (2, 3), "W2": (3, 1)}, data

    if kind == "linreg":
        w, b, x, y = sp.symbols("w b x y")
        model = symbp.Model(
            (w * x + b - y) ** 2,
            params=[w, b],
            inputs=[x],
            targets=[y],
            reduction="mean",
            name="w2_linreg",
        )
        return model, {"w": (), "b": ()}, {"x": wl.data["x"], "y": wl.data["y"]}

    if kind == "sigmoid_net":
        x = sp.MatrixSymbol("x", 1, 2)
        t = sp.MatrixSymbol("t", 1, 2)
        W1 = sp.MatrixSymbol("W1", 2, 2)
        b1 = sp.MatrixSymbol("b1", 1, 2)
        W2 = sp.MatrixSymbol("W2", 2, 2)
        b2 = sp.MatrixSymbol("b2", 1, 2)
        u = sp.Symbol("u")
        sig = sp.Lambda(u, 1 / (1 + sp.exp(-u)))
        h = (x * W1.T + b1).applyfunc(sig)
        o = (h * W2.T + b2).applyfunc(sig)
        e = o - t
        loss = (e * e.T)[0, 0] / 2
        model = symbp.Model(
            loss,
            params=[W1, b1, W2, b2],
            inputs=[x],
            targets=[t],
            reduction="mean",
            name="w3_sigmoid",
        )
        shapes = {"W1": (2, 2), "b1": (1, 2), "W2": (2, 2), "b2": (1, 2)}
        return model, shapes, {"x": wl.data["x"], "t": wl.data["t"]}

    if kind == "mlp":
        H = wl.hidden
        x = sp.MatrixSymbol("x", 1, 64)
        t = sp.MatrixSymbol("t", 1, 10)
        W1 = sp.MatrixSymbol("W1", 64, H)
        b1 = sp.MatrixSymbol("b1", 1, H)
        W2 = sp.MatrixSymbol("W2", H, 10)
        b2 = sp.MatrixSymbol("b2", 1, 10)
        h = (x * W1 + b1).applyfunc(sp.tanh)
        z = h * W2 + b2
        if MLP_LOSS_FORM == "indexed":  # unrolled to scalars by SymPy: slow to declare
            loss = sp.log((z.applyfunc(sp.exp) * sp.OneMatrix(10, 1))[0, 0]) - (z * t.T)[0, 0]
        else:  # a 1x1 matrix expression: symbp's matrix-level path, never unrolled
            loss = (z.applyfunc(sp.exp) * sp.OneMatrix(10, 1)).applyfunc(sp.log) - z * t.T
        model = symbp.Model(
            loss,
            params=[W1, b1, W2, b2],
            inputs=[x],
            targets=[t],
            reduction="mean",
            name=f"digits_mlp_{H}",
        )
        shapes = {"W1": (64, H), "b1": (1, H), "W2": (H, 10), "b2": (1, 10)}
        return model, shapes, {"x": wl.data["x"], "t": wl.data["t"]}

    if kind == "rnn":
        # h_0 = 0, h_t = tanh(x_t Wx + h_{t-1} Wh + b), y_hat = h_T Wy + by: one nn.scan
        from symbp import nn

        H = wl.hidden
        n, steps, width = wl.data["x"].shape
        x = sp.MatrixSymbol("x", steps, width)
        Wx, Wh = sp.MatrixSymbol("Wx", width, H), sp.MatrixSymbol("Wh", H, H)
        b, Wy = sp.MatrixSymbol("b", 1, H), sp.MatrixSymbol("Wy", H, 1)
        by, y = sp.MatrixSymbol("by", 1, 1), sp.Symbol("y")
        h = nn.scan(lambda h, x_t: nn.tanh(x_t * Wx + h * Wh + b), sp.ZeroMatrix(1, H), x)
        loss = ((h * Wy + by)[0, 0] - y) ** 2
        model = symbp.Model(
            loss,
            params=[Wx, Wh, b, Wy, by],
            inputs=[x],
            targets=[y],
            reduction="mean",
            name=f"w6_rnn_{H}",
        )
        shapes = {"Wx": (width, H), "Wh": (H, H), "b": (1, H), "Wy": (H, 1), "by": (1, 1)}
        return model, shapes, {"x": wl.data["x"], "y": wl.data["y"].reshape(n)}

    raise ValueError(kind)


def make_optimizer(spec):
    from symbp import optim

    if spec.name == "sgd":
        return optim.SGD(lr=spec.lr)
    if spec.name == "momentum":
        return optim.SGD(lr=spec.lr, momentum=spec.momentum)
    if spec.name == "adam":
        return optim.Adam(lr=spec.lr)
    raise ValueError(spec.name)


_TRAINERS = []  # the built trainer, for cache_info()


def cache_info() -> dict:
    """Numba's on-disk cache hits and misses of the generated module's kernels so far
    (a warm build should only hit; a miss means the generated source changed)."""
    import numba

    hits = misses = 0
    for trainer in _TRAINERS:
        for obj in vars(trainer.module).values():
            if isinstance(obj, numba.core.dispatcher.Dispatcher):
                stats = obj.stats
                hits += sum(stats.cache_hits.values())
                misses += sum(stats.cache_misses.values())
    return {"numba_hits": hits, "numba_misses": misses}


def build(wl):
    model, shapes, data = declare(wl)
    trainer = model.compile(optimizer=make_optimizer(wl.optimizer), dtype=wl.dtype)
    _TRAINERS.append(trainer)

    def init_params():
        out = {}
        for k, shp in shapes.items():
            v = wl.params[k]
            out[k] = float(v) if shp == () else v.reshape(shp).copy()
        return out

    if data is None:
        kwargs = {"steps": wl.steps}
    else:
        data = {k: np.ascontiguousarray(v) for k, v in data.items()}
        kwargs = {"batch_size": wl.batch_size}
        try:
            fit_params = inspect.signature(trainer.fit).parameters
        except (TypeError, ValueError):
            fit_params = {}
        if "shuffle" in fit_params:
            kwargs["shuffle"] = False  # the shared schedule: consecutive batches in order
        if wl.kind == "mlp" and "epochs" in fit_params:
            kwargs["epochs"] = wl.epochs  # consecutive chunks, shorter last chunk
        else:
            kwargs["steps"] = wl.steps

    def run():
        fit = trainer.fit(init_params(), data, **kwargs)
        return {k: np.asarray(v) for k, v in dict(fit.params).items() if k in shapes}

    return run


if __name__ == "__main__":
    from benchmarks.contestants._common import main

    sys.exit(main("symbp", sys.modules[__name__], REQUIRES))
