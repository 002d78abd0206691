"""Contestant ``numba_hand``: hand-written, fused Numba kernels that run the WHOLE
training loop (forward, hand-derived backward and optimizer update) in one
``@njit`` call: the practical speed limit for this hardware.

All parameters live in one flat buffer ``theta`` (the kernels work on reshaped
views of it) and the gradient in one flat buffer, so one optimizer loop
(PyTorch rules: SGD / momentum / Adam) serves every model.  The small models use
explicit loops; the MLPs use ``np.dot`` (BLAS) with preallocated outputs and
plain ``np.tanh`` / ``np.exp`` element loops.  Those are libm calls that LLVM
does not vectorize (``fastmath=True`` was measured: no gain), and on the MLPs the
tanh loop is about a third of the run time, so a kernel with a vectorizable tanh
(as symbp generates) can beat this one there.  The RNN (W6) runs the products that
must follow the recurrence (``h_t Wh`` forward, ``da Wh^T`` backward) one time step at
a time with ``np.dot``, and the others as one product over all time steps (``x Wx``
before, ``sum_t h_t^T da_t`` and ``x^T da`` after); its libm ``np.tanh`` loop is most
of its time.
JIT compilation happens on the first call (no on-disk cache), so it is counted
in the cold first run.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks.contestants._common import Unsupported

REQUIRES = ("numba",)
NOTES = "fused @njit kernel for the whole loop, flat parameter buffer, np.dot for MLPs and RNN"

_OPT_CODES = {"sgd": 0, "momentum": 1, "adam": 2}
_kernels = {}


def _define():
    import numba as nb

    njit = nb.njit(cache=False, fastmath=False, error_model="numpy")

    @njit
    def opt_update(theta, g, s1, s2, t, code, lr, mom, b1, b2, eps):
        n = theta.shape[0]
        if code == 0:
            for i in range(n):
                theta[i] -= lr * g[i]
        elif code == 1:
            for i in range(n):
                s1[i] = mom * s1[i] + g[i]
                theta[i] -= lr * s1[i]
        else:
            bc1 = 1.0 - b1**t
            sbc2 = np.sqrt(1.0 - b2**t)
            step = lr / bc1
            for i in range(n):
                s1[i] = b1 * s1[i] + (1.0 - b1) * g[i]
                s2[i] = b2 * s2[i] + (1.0 - b2) * g[i] * g[i]
                theta[i] -= step * (s1[i] / (np.sqrt(s2[i]) / sbc2 + eps))

    @njit
    def train_scalar(theta, steps, code, lr, mom, b1, b2, eps):
        g = np.zeros_like(theta)
        s1 = np.zeros_like(theta)
        s2 = np.zeros_like(theta)
        for k in range(steps):
            g[0] = 2.0 * (theta[0] + 1.0)
            opt_update(theta, g, s1, s2, k + 1, code, lr, mom, b1, b2, eps)

    @njit
    def train_linear_net(theta, X, Y, starts, stops, code, lr, mom, b1, b2, eps):
        # theta = [W1 (2x3) | W2 (3x1)]
        nin, nh = X.shape[1], 3
        g = np.zeros_like(theta)
        s1 = np.zeros_like(theta)
        s2 = np.zeros_like(theta)
        W1 = theta[: nin * nh].reshape((nin, nh))
        W2 = theta[nin * nh :]
        gW1 = g[: nin * nh].reshape((nin, nh))
        gW2 = g[nin * nh :]
        a = np.empty(nh, dtype=theta.dtype)
        for k in range(starts.shape[0]):
            lo, hi = starts[k], stops[k]
            scale = 2.0 / (hi - lo)
            g[:] = 0.0
            for r in range(lo, hi):
                yhat = 0.0
                for j in range(nh):
                    acc = 0.0
                    for i in range(nin):
                        acc += X[r, i] * W1[i, j]
                    a[j] = acc
                    yhat += acc * W2[j]
                d = (yhat - Y[r, 0]) * scale
                for j in range(nh):
                    gW2[j] += a[j] * d
                    dj = d * W2[j]
                    for i in range(nin):
                        gW1[i, j] += X[r, i] * dj
            opt_update(theta, g, s1, s2, k + 1, code, lr, mom, b1, b2, eps)

    @njit
    def train_linreg(theta, x, y, starts, stops, code, lr, mom, b1, b2, eps):
        # theta = [w, b]
        g = np.zeros_like(theta)
        s1 = np.zeros_like(theta)
        s2 = np.zeros_like(theta)
        for k in range(starts.shape[0]):
            lo, hi = starts[k], stops[k]
            w, b = theta[0], theta[1]
            gw = 0.0
            gb = 0.0
            for r in range(lo, hi):
                e = w * x[r] + b - y[r]
                gw += e * x[r]
                gb += e
            scale = 2.0 / (hi - lo)
            g[0] = gw * scale
            g[1] = gb * scale
            opt_update(theta, g, s1, s2, k + 1, code, lr, mom, b1, b2, eps)

    @njit
    def train_sigmoid_net(theta, X, T, starts, stops, code, lr, mom, b1, b2, eps):
        # theta = [W1 (2x2) | b1 (2) | W2 (2x2) | b2 (2)]; rows = output units
        g = np.zeros_like(theta)
        s1 = np.zeros_like(theta)
        s2 = np.zeros_like(theta)
        W1 = theta[0:4].reshape((2, 2))
        c1 = theta[4:6]
        W2 = theta[6:10].reshape((2, 2))
        c2 = theta[10:12]
        gW1 = g[0:4].reshape((2, 2))
        gc1 = g[4:6]
        gW2 = g[6:10].reshape((2, 2))
        gc2 = g[10:12]
        h = np.empty(2, dtype=theta.dtype)
        d2 = np.empty(2, dtype=theta.dtype)
        for k in range(starts.shape[0]):
            lo, hi = starts[k], stops[k]
            inv = 1.0 / (hi - lo)
            g[:] = 0.0
            for r in range(lo, hi):
                for j in range(2):
                    h[j] = 1.0 / (1.0 + np.exp(-(W1[j, 0] * X[r, 0] + W1[j, 1] * X[r, 1] + c1[j])))
                for j in range(2):
                    o = 1.0 / (1.0 + np.exp(-(W2[j, 0] * h[0] + W2[j, 1] * h[1] + c2[j])))
                    d2[j] = (o - T[r, j]) * o * (1.0 - o) * inv
                    gW2[j, 0] += d2[j] * h[0]
                    gW2[j, 1] += d2[j] * h[1]
                    gc2[j] += d2[j]
                for j in range(2):
                    d1 = (d2[0] * W2[0, j] + d2[1] * W2[1, j]) * h[j] * (1.0 - h[j])
                    gW1[j, 0] += d1 * X[r, 0]
                    gW1[j, 1] += d1 * X[r, 1]
                    gc1[j] += d1
            opt_update(theta, g, s1, s2, k + 1, code, lr, mom, b1, b2, eps)

    @njit
    def train_mlp(theta, X, T, starts, stops, nh, code, lr, mom, b1, b2, eps):
        # theta = [W1 (nin x nh) | b1 (nh) | W2 (nh x nout) | b2 (nout)]
        nin, nout = X.shape[1], T.shape[1]
        o1 = nin * nh
        o2 = o1 + nh
        o3 = o2 + nh * nout
        g = np.zeros_like(theta)
        s1 = np.zeros_like(theta)
        s2 = np.zeros_like(theta)
        W1 = theta[:o1].reshape((nin, nh))
        c1 = theta[o1:o2]
        W2 = theta[o2:o3].reshape((nh, nout))
        c2 = theta[o3:]
        gW1 = g[:o1].reshape((nin, nh))
        gc1 = g[o1:o2]
        gW2 = g[o2:o3].reshape((nh, nout))
        gc2 = g[o3:]
        bmax = 0
        for k in range(starts.shape[0]):
            bmax = max(bmax, stops[k] - starts[k])
        H = np.empty((bmax, nh), dtype=theta.dtype)
        Z = np.empty((bmax, nout), dtype=theta.dtype)
        D = np.empty((bmax, nh), dtype=theta.dtype)
        for k in range(starts.shape[0]):
            lo, hi = starts[k], stops[k]
            nb_ = hi - lo
            inv = 1.0 / nb_
            xb = X[lo:hi]
            h = H[:nb_]
            z = Z[:nb_]
            d = D[:nb_]
            np.dot(xb, W1, h)
            for r in range(nb_):
                for j in range(nh):
                    h[r, j] = np.tanh(h[r, j] + c1[j])
            np.dot(h, W2, z)
            for r in range(nb_):  # z <- (softmax(z) - t) / B
                m = -np.inf
                for j in range(nout):
                    z[r, j] += c2[j]
                    m = max(m, z[r, j])
                s = 0.0
                for j in range(nout):
                    z[r, j] = np.exp(z[r, j] - m)
                    s += z[r, j]
                for j in range(nout):
                    z[r, j] = (z[r, j] / s - T[lo + r, j]) * inv
            np.dot(h.T, z, gW2)
            for j in range(nout):
                acc = 0.0
                for r in range(nb_):
                    acc += z[r, j]
                gc2[j] = acc
            np.dot(z, W2.T, d)
            for j in range(nh):
                gc1[j] = 0.0
            for r in range(nb_):
                for j in range(nh):
                    d[r, j] *= 1.0 - h[r, j] * h[r, j]
                    gc1[j] += d[r, j]
            np.dot(xb.T, d, gW1)
            opt_update(theta, g, s1, s2, k + 1, code, lr, mom, b1, b2, eps)

    @njit
    def train_rnn(theta, Xc, Yc, order, T, nh, code, lr, mom, b1, b2, eps):
        # theta = [Wx (D x H) | Wh (H x H) | b (H) | Wy (H) | by (1)]
        # Xc[q]: batch q's sequences time-major, (T * B, D), row t * B + r = x_t of row r
        TB, D, H = Xc.shape[1], Xc.shape[2], nh
        B = TB // T
        o1 = D * H
        o2 = o1 + H * H
        o3 = o2 + H
        o4 = o3 + H
        g = np.zeros_like(theta)
        s1 = np.zeros_like(theta)
        s2 = np.zeros_like(theta)
        Wx = theta[:o1].reshape((D, H))
        Wh = theta[o1:o2].reshape((H, H))
        c = theta[o2:o3]
        Wy = theta[o3:o4]
        gWx = g[:o1].reshape((D, H))
        gWh = g[o1:o2].reshape((H, H))
        gc = g[o2:o3]
        gWy = g[o3:o4]
        XW = np.empty((TB, H), dtype=theta.dtype)
        HS = np.zeros(((T + 1) * B, H), dtype=theta.dtype)  # h_t in rows t * B ..; h_0 = 0
        DA = np.empty((TB, H), dtype=theta.dtype)  # adjoint of h_{t+1}'s pre-activation
        DH = np.empty((B, H), dtype=theta.dtype)
        Z = np.empty((B, H), dtype=theta.dtype)
        scale = 2.0 / B
        for k in range(order.shape[0]):
            X = Xc[order[k]]
            Y = Yc[order[k]]
            np.dot(X, Wx, XW)  # every x_t Wx at once
            for t in range(T):  # h_{t+1} = tanh(x_t Wx + h_t Wh + b)
                np.dot(HS[t * B : (t + 1) * B], Wh, Z)
                for r in range(B):
                    for j in range(H):
                        HS[(t + 1) * B + r, j] = np.tanh(Z[r, j] + XW[t * B + r, j] + c[j])
            g[o4] = 0.0
            for j in range(H):
                gWy[j] = 0.0
            for r in range(B):  # y_hat = h_T Wy + by, the mean squared error's adjoint d
                yhat = theta[o4]
                for j in range(H):
                    yhat += HS[T * B + r, j] * Wy[j]
                d = (yhat - Y[r]) * scale
                g[o4] += d
                for j in range(H):
                    gWy[j] += HS[T * B + r, j] * d
                    DH[r, j] = d * Wy[j]
            for t in range(T - 1, -1, -1):  # backward through time
                for r in range(B):
                    for j in range(H):
                        h = HS[(t + 1) * B + r, j]
                        DA[t * B + r, j] = DH[r, j] * (1.0 - h * h)
                if t > 0:
                    np.dot(DA[t * B : (t + 1) * B], Wh.T, DH)
            np.dot(HS[: T * B].T, DA, gWh)  # sum over t of h_t^T da_{t+1}, one product
            np.dot(X.T, DA, gWx)
            for j in range(H):
                gc[j] = 0.0
            for i in range(TB):
                for j in range(H):
                    gc[j] += DA[i, j]
            opt_update(theta, g, s1, s2, k + 1, code, lr, mom, b1, b2, eps)

    _kernels.update(
        scalar=train_scalar,
        linear_net=train_linear_net,
        linreg=train_linreg,
        sigmoid_net=train_sigmoid_net,
        mlp=train_mlp,
        rnn=train_rnn,
    )


def _rnn_batches(wl, dt) -> tuple:
    """The RNN's batches laid out for its kernel: ``(Xc, Yc, order)``.

    ``Xc[q]`` holds the sequences of the q-th distinct batch time-major as (T * B, D),
    ``Yc[q]`` their targets, and step k trains on batch ``order[k]``."""
    sizes = wl.batches[:, 1] - wl.batches[:, 0]
    if not np.all(sizes == sizes[0]):
        raise Unsupported("numba_hand's RNN kernel needs batches of one size")
    chunks = sorted({(int(lo), int(hi)) for lo, hi in wl.batches})
    index = {chunk: q for q, chunk in enumerate(chunks)}
    x, y = wl.data["x"], wl.data["y"]
    Xc = np.stack([x[lo:hi].transpose(1, 0, 2).reshape(-1, x.shape[2]) for lo, hi in chunks])
    Yc = np.stack([y[lo:hi, 0] for lo, hi in chunks])
    order = np.array([index[(int(lo), int(hi))] for lo, hi in wl.batches], dtype=np.int64)
    return np.ascontiguousarray(Xc, dtype=dt), np.ascontiguousarray(Yc, dtype=dt), order


def build(wl):
    if not _kernels:
        _define()
    dt = np.dtype(wl.dtype)
    s = wl.optimizer
    hyper = (
        _OPT_CODES[s.name],
        dt.type(s.lr),
        dt.type(s.momentum),
        dt.type(s.beta1),
        dt.type(s.beta2),
        dt.type(s.eps),
    )
    names = list(wl.params)
    shapes = {k: v.shape for k, v in wl.params.items()}
    theta0 = np.concatenate([wl.params[k].ravel() for k in names]).astype(dt)
    kern = _kernels[wl.kind]
    if wl.kind == "scalar":
        args = (wl.steps,)
    elif wl.kind == "rnn":
        args = (*_rnn_batches(wl, dt), wl.extra["seq_len"], wl.hidden)
    else:
        a, b = {
            "linear_net": ("x", "y"),
            "linreg": ("x", "y"),
            "sigmoid_net": ("x", "t"),
            "mlp": ("x", "t"),
        }[wl.kind]
        starts = np.ascontiguousarray(wl.batches[:, 0])
        stops = np.ascontiguousarray(wl.batches[:, 1])
        args = (
            np.ascontiguousarray(wl.data[a]).copy(),
            np.ascontiguousarray(wl.data[b]).copy(),
            starts,
            stops,
        )
        if wl.kind == "mlp":
            args += (wl.hidden,)

    def run():
        theta = theta0.copy()
        kern(theta, *args, *hyper)
        out, off = {}, 0
        for k in names:
            n = int(np.prod(shapes[k], dtype=np.int64))
            out[k] = theta[off : off + n].reshape(shapes[k])
            off += n
        return out

    return run


if __name__ == "__main__":
    from benchmarks.contestants._common import main

    sys.exit(main("numba_hand", sys.modules[__name__], REQUIRES))
