"""PyTensor pieces shared by ``pytensor_c`` and ``pytensor_numba``.

One compiled ``pytensor.function`` performs one training step: parameters and
optimizer state are shared variables updated through ``updates``; the batch is
passed as inputs (pre-sliced NumPy views).  Each whole run resets the shared
variables with ``set_value`` and then calls the function once per step.
``trust_input`` is set on the compiled function (inputs are exactly typed).
"""

from __future__ import annotations

import numpy as np

from benchmarks.contestants._common import Unsupported

DATA_NAMES = {
    "scalar": (),
    "linear_net": ("x", "y"),
    "linreg": ("x", "y"),
    "sigmoid_net": ("x", "t"),
    "mlp": ("x", "t"),
}


def _loss(kind, p, inputs):
    import pytensor.tensor as pt
    from pytensor.tensor.math import logsumexp

    if kind == "scalar":
        return (p["w"] + 1.0) ** 2
    if kind == "linear_net":
        x, y = inputs
        return pt.mean((pt.dot(pt.dot(x, p["W1"]), p["W2"]) - y) ** 2)
    if kind == "linreg":
        x, y = inputs
        return pt.mean((p["w"] * x + p["b"] - y) ** 2)
    if kind == "sigmoid_net":
        x, t = inputs
        h = pt.sigmoid(pt.dot(x, p["W1"].T) + p["b1"])
        o = pt.sigmoid(pt.dot(h, p["W2"].T) + p["b2"])
        return pt.mean(pt.sum((o - t) ** 2, axis=1) / 2)
    if kind == "mlp":
        x, t = inputs
        z = pt.dot(pt.tanh(pt.dot(x, p["W1"]) + p["b1"]), p["W2"]) + p["b2"]
        return pt.mean(logsumexp(z, axis=1).flatten() - pt.sum(z * t, axis=1))
    raise ValueError(kind)


def build_with_mode(wl, mode):
    if wl.kind not in DATA_NAMES:
        raise Unsupported(f"not implemented for {wl.family} ({wl.kind})")
    import pytensor
    import pytensor.tensor as pt

    dt = wl.dtype
    cast = lambda v: np.asarray(v, dtype=dt)  # noqa: E731
    p = {k: pytensor.shared(v.copy(), name=k) for k, v in wl.params.items()}
    names = DATA_NAMES[wl.kind]
    inputs = [pt.tensor(n, dtype=dt, shape=(None,) * wl.data[n].ndim) for n in names]
    loss = _loss(wl.kind, p, inputs)
    grads = pytensor.grad(loss, list(p.values()))
    s = wl.optimizer
    state = []  # (shared, initial value) pairs reset at the start of each run
    updates = []
    if s.name == "sgd":
        updates = [(v, v - cast(s.lr) * g) for v, g in zip(p.values(), grads, strict=True)]
    elif s.name == "momentum":
        for v, g in zip(p.values(), grads, strict=True):
            buf = pytensor.shared(np.zeros_like(v.get_value()))
            state.append((buf, np.zeros_like(v.get_value())))
            nb = cast(s.momentum) * buf + g
            updates += [(buf, nb), (v, v - cast(s.lr) * nb)]
    elif s.name == "adam":
        t = pytensor.shared(cast(0.0), name="t")
        state.append((t, cast(0.0)))
        t1 = t + cast(1.0)
        updates.append((t, t1))
        step = cast(s.lr) / (cast(1.0) - cast(s.beta1) ** t1)
        sbc2 = pt.sqrt(cast(1.0) - cast(s.beta2) ** t1)
        for v, g in zip(p.values(), grads, strict=True):
            z = np.zeros_like(v.get_value())
            m, vv = pytensor.shared(z.copy()), pytensor.shared(z.copy())
            state += [(m, z), (vv, z)]
            m1 = cast(s.beta1) * m + cast(1 - s.beta1) * g
            v1 = cast(s.beta2) * vv + cast(1 - s.beta2) * g * g
            updates += [
                (m, m1),
                (vv, v1),
                (v, v - step * (m1 / (pt.sqrt(v1) / sbc2 + cast(s.eps)))),
            ]
    else:
        raise ValueError(s.name)

    f = pytensor.function(inputs, [], updates=updates, mode=mode)
    f.trust_input = True

    if names:
        data = {n: np.ascontiguousarray(wl.data[n]).copy() for n in names}
        cache, batches = {}, []
        for lo, hi in wl.batches:
            key = (int(lo), int(hi))
            if key not in cache:
                cache[key] = tuple(data[n][key[0] : key[1]] for n in names)
            batches.append(cache[key])
    else:
        batches = [()] * wl.steps
    init = {k: v.copy() for k, v in wl.params.items()}

    def run():
        for k, v in p.items():
            v.set_value(init[k].copy(), borrow=True)
        for var, val in state:
            var.set_value(np.array(val, copy=True), borrow=True)
        for b in batches:
            f(*b)
        return {k: v.get_value() for k, v in p.items()}

    return run
