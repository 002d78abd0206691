"""Contestant ``torch``: PyTorch eager mode with autograd and ``torch.optim``.

W6 (the RNN) runs ``torch.nn.RNN`` (tanh, ``batch_first``) and an ``nn.Linear`` head
whose weights are the workload's (transposed: torch stores ``(out, in)``); ``nn.RNN``
adds two biases, ``b_ih + b_hh``, so ``b_ih`` holds the workload's ``b`` and ``b_hh``
stays zero, frozen and out of the optimizer.

``torch.set_num_threads(1)`` (and ``set_num_interop_threads(1)``) is called, like
every other contestant runs single-threaded (see ``_common.limit_threads``).
Batches are pre-sliced tensor views created in ``build``; each run creates fresh
leaf tensors and a fresh optimizer.
"""

from __future__ import annotations

import sys

REQUIRES = ("torch",)
NOTES = "eager + autograd + torch.optim, torch.set_num_threads(1)"


def configure(args):
    import torch

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(args.threads)
    except RuntimeError:
        pass


def loss_fn(kind: str):
    import torch
    import torch.nn.functional as F

    if kind == "scalar":
        return lambda p, b: (p["w"] + 1.0) ** 2
    if kind == "linear_net":

        def f(p, b):
            x, y = b
            return torch.mean((x @ p["W1"] @ p["W2"] - y) ** 2)

        return f
    if kind == "linreg":

        def f(p, b):
            x, y = b
            return torch.mean((p["w"] * x + p["b"] - y) ** 2)

        return f
    if kind == "sigmoid_net":

        def f(p, b):
            x, t = b
            h = torch.sigmoid(x @ p["W1"].T + p["b1"])
            o = torch.sigmoid(h @ p["W2"].T + p["b2"])
            return torch.mean(torch.sum((o - t) ** 2, dim=1) / 2)

        return f
    if kind == "mlp":

        def f(p, b):
            x, labels = b
            z = torch.tanh(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
            return F.cross_entropy(z, labels)

        return f
    raise ValueError(kind)


def _make_opt(s, params):
    import torch

    if s.name == "sgd":
        return torch.optim.SGD(params, lr=s.lr)
    if s.name == "momentum":
        return torch.optim.SGD(params, lr=s.lr, momentum=s.momentum)
    if s.name == "adam":
        return torch.optim.Adam(params, lr=s.lr, betas=(s.beta1, s.beta2), eps=s.eps)
    raise ValueError(s.name)


def build_rnn(wl):
    """W6: ``nn.RNN`` + ``nn.Linear``, the workload's weights copied in at every run."""
    import torch

    dtype = getattr(torch, wl.dtype)
    D, H = wl.params["Wx"].shape
    rnn = torch.nn.RNN(D, H, nonlinearity="tanh", batch_first=True).to(dtype)
    head = torch.nn.Linear(H, 1).to(dtype)
    rnn.bias_hh_l0.requires_grad_(False)  # b_ih + b_hh = b: b_hh stays zero
    trained = [rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, head.weight, head.bias]
    init = {k: torch.from_numpy(v.copy()) for k, v in wl.params.items()}
    start = (init["Wx"].T, init["Wh"].T, init["b"], init["Wy"].T, init["by"])
    x, y = (torch.from_numpy(wl.data[n].copy()) for n in ("x", "y"))
    batches = [(x[lo:hi], y[lo:hi]) for lo, hi in wl.batches.tolist()]

    def run():
        with torch.no_grad():
            for param, value in zip(trained, start, strict=True):
                param.copy_(value)
            rnn.bias_hh_l0.zero_()
        opt = _make_opt(wl.optimizer, trained)
        for xb, yb in batches:
            opt.zero_grad()
            _, h_last = rnn(xb)  # (1, B, H): the last state
            loss = torch.mean((head(h_last[0]) - yb) ** 2)
            loss.backward()
            opt.step()
        return {
            k: v.detach().T.clone() if v.dim() == 2 else v.detach().clone()
            for k, v in zip(("Wx", "Wh", "b", "Wy", "by"), trained, strict=True)
        }

    return run


def build(wl):
    import torch

    if wl.kind == "rnn":
        return build_rnn(wl)
    f = loss_fn(wl.kind)
    if wl.data is None:
        batches = [None] * wl.steps
    else:
        names = {
            "linear_net": ("x", "y"),
            "linreg": ("x", "y"),
            "sigmoid_net": ("x", "t"),
            "mlp": ("x", "labels"),
        }[wl.kind]
        tensors = {n: torch.from_numpy(wl.data[n].copy()) for n in names}
        cache, batches = {}, []
        for lo, hi in wl.batches:
            key = (int(lo), int(hi))
            if key not in cache:
                cache[key] = tuple(tensors[n][key[0] : key[1]] for n in names)
            batches.append(cache[key])
    init = {k: torch.from_numpy(v.copy()) for k, v in wl.params.items()}

    def run():
        p = {k: v.clone().requires_grad_(True) for k, v in init.items()}
        opt = _make_opt(wl.optimizer, list(p.values()))
        for b in batches:
            opt.zero_grad()
            loss = f(p, b)
            loss.backward()
            opt.step()
        return {k: v.detach() for k, v in p.items()}

    return run


if __name__ == "__main__":
    from benchmarks.contestants._common import main

    sys.exit(main("torch", sys.modules[__name__], REQUIRES))
