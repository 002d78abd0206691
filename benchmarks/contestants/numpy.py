"""Contestant ``numpy``: hand-written forward/backward in NumPy, Python training loop.

This is also the correctness reference: every other contestant's final loss is
compared with this one's.  Optimizers follow PyTorch's update rules.
"""

from __future__ import annotations

import sys

import numpy as np

REQUIRES = ("numpy",)
NOTES = "hand-written gradients, Python loop, in-place updates"


class Opt:
    """SGD / SGD-momentum / Adam with PyTorch's update rules, in place."""

    def __init__(self, spec, params: dict):
        self.s = spec
        self.t = 0
        if spec.name == "momentum":
            self.buf = {k: np.zeros_like(v) for k, v in params.items()}
        elif spec.name == "adam":
            self.m = {k: np.zeros_like(v) for k, v in params.items()}
            self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: dict, grads: dict) -> None:
        s = self.s
        if s.name == "sgd":
            for k, g in grads.items():
                params[k] -= s.lr * g
        elif s.name == "momentum":
            for k, g in grads.items():
                b = self.buf[k]
                b *= s.momentum
                b += g
                params[k] -= s.lr * b
        elif s.name == "adam":
            self.t += 1
            bc1 = 1.0 - s.beta1**self.t
            bc2 = 1.0 - s.beta2**self.t
            for k, g in grads.items():
                m, v = self.m[k], self.v[k]
                m *= s.beta1
                m += (1.0 - s.beta1) * g
                v *= s.beta2
                v += (1.0 - s.beta2) * g * g
                denom = np.sqrt(v) / np.sqrt(bc2) + s.eps
                params[k] -= (s.lr / bc1) * (m / denom)
        else:
            raise ValueError(s.name)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def grad_fn(kind: str):
    """``grads(p, batch) -> dict`` for a workload kind (hand-derived)."""
    if kind == "scalar":

        def grads(p, batch):
            return {"w": 2.0 * (p["w"] + 1.0)}
    elif kind == "linear_net":

        def grads(p, batch):
            x, y = batch
            a = x @ p["W1"]
            d = (a @ p["W2"] - y) * (2.0 / x.shape[0])
            return {"W1": x.T @ (d @ p["W2"].T), "W2": a.T @ d}
    elif kind == "linreg":

        def grads(p, batch):
            x, y = batch
            r = p["w"] * x + p["b"] - y
            n = x.shape[0]
            return {"w": (2.0 / n) * np.dot(r, x), "b": (2.0 / n) * np.sum(r)}
    elif kind == "sigmoid_net":

        def grads(p, batch):
            x, t = batch
            h = _sigmoid(x @ p["W1"].T + p["b1"])
            o = _sigmoid(h @ p["W2"].T + p["b2"])
            dz2 = (o - t) * o * (1.0 - o) * (1.0 / x.shape[0])
            dz1 = (dz2 @ p["W2"]) * h * (1.0 - h)
            return {"W1": dz1.T @ x, "b1": dz1.sum(0), "W2": dz2.T @ h, "b2": dz2.sum(0)}
    elif kind == "mlp":

        def grads(p, batch):
            x, t = batch
            h = np.tanh(x @ p["W1"] + p["b1"])
            z = h @ p["W2"] + p["b2"]
            z = z - z.max(axis=1, keepdims=True)
            e = np.exp(z)
            dz = (e / e.sum(axis=1, keepdims=True) - t) * (1.0 / x.shape[0])
            da = (dz @ p["W2"].T) * (1.0 - h * h)
            return {"W1": x.T @ da, "b1": da.sum(0), "W2": h.T @ dz, "b2": dz.sum(0)}
    elif kind == "rnn":

        def grads(p, batch):
            # backpropagation through time; xs is the batch time-major, (T, B, D)
            xs, y = batch
            steps, rows = xs.shape[0], xs.shape[1]
            hs = np.zeros((steps + 1, rows, p["Wh"].shape[0]), dtype=xs.dtype)
            for t in range(steps):
                hs[t + 1] = np.tanh(xs[t] @ p["Wx"] + hs[t] @ p["Wh"] + p["b"])
            d = (hs[steps] @ p["Wy"] + p["by"] - y) * (2.0 / rows)
            g = {"Wy": hs[steps].T @ d, "by": d.sum(0)}
            dh = d @ p["Wy"].T
            gx, gh, gb = np.zeros_like(p["Wx"]), np.zeros_like(p["Wh"]), np.zeros_like(p["b"])
            for t in range(steps - 1, -1, -1):
                da = dh * (1.0 - hs[t + 1] * hs[t + 1])
                gx += xs[t].T @ da
                gh += hs[t].T @ da
                gb += da.sum(0)
                dh = da @ p["Wh"].T
            return {"Wx": gx, "Wh": gh, "b": gb, **g}
    else:
        raise ValueError(kind)
    return grads


def build(wl):
    grads = grad_fn(wl.kind)
    names = {
        "scalar": None,
        "linear_net": ("x", "y"),
        "linreg": ("x", "y"),
        "sigmoid_net": ("x", "t"),
        "mlp": ("x", "t"),
        "rnn": ("x", "y"),
    }[wl.kind]
    batches = [None] * wl.steps if names is None else wl.batch_list(names)
    if wl.kind == "rnn":  # each batch's sequences time-major (T, B, D), made once
        batches = [(np.ascontiguousarray(x.transpose(1, 0, 2)), y) for x, y in batches]

    def run():
        p = wl.fresh_params()
        opt = Opt(wl.optimizer, p)
        for batch in batches:
            opt.step(p, grads(p, batch))
        return p

    return run


if __name__ == "__main__":
    from benchmarks.contestants._common import main

    sys.exit(main("numpy", sys.modules[__name__], REQUIRES))
