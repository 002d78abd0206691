"""JAX pieces shared by ``jax_step`` and ``jax_scan``: losses, a PyTorch-rule
optimizer written functionally (no optax), one training step."""

from __future__ import annotations


def configure(args):
    import jax

    jax.config.update("jax_enable_x64", True)  # needed for float64; float32 arrays stay float32
    jax.config.update("jax_platforms", "cpu")


DATA_NAMES = {
    "scalar": (),
    "linear_net": ("x", "y"),
    "linreg": ("x", "y"),
    "sigmoid_net": ("x", "t"),
    "mlp": ("x", "t"),
    "rnn": ("x", "y"),
}


def loss_fn(kind: str):
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp

    if kind == "scalar":
        return lambda p: (p["w"] + 1.0) ** 2
    if kind == "linear_net":
        return lambda p, x, y: jnp.mean((x @ p["W1"] @ p["W2"] - y) ** 2)
    if kind == "linreg":
        return lambda p, x, y: jnp.mean((p["w"] * x + p["b"] - y) ** 2)
    if kind == "sigmoid_net":

        def f(p, x, t):
            h = jax.nn.sigmoid(x @ p["W1"].T + p["b1"])
            o = jax.nn.sigmoid(h @ p["W2"].T + p["b2"])
            return jnp.mean(jnp.sum((o - t) ** 2, axis=1) / 2)

        return f
    if kind == "mlp":

        def f(p, x, t):
            z = jnp.tanh(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
            return jnp.mean(logsumexp(z, axis=1) - jnp.sum(z * t, axis=1))

        return f
    if kind == "rnn":
        from jax import lax

        def f(p, x, y):
            def cell(h, xt):
                return jnp.tanh(xt @ p["Wx"] + h @ p["Wh"] + p["b"]), None

            h0 = jnp.zeros((x.shape[0], p["Wh"].shape[0]), dtype=x.dtype)
            h, _ = lax.scan(cell, h0, jnp.swapaxes(x, 0, 1))  # over time: x_t is (B, D)
            return jnp.mean((h @ p["Wy"] + p["by"] - y) ** 2)

        return f
    raise ValueError(kind)


def optimizer(spec, dtype):
    """(init(params) -> state, update(params, grads, state) -> (params, state))."""
    import jax
    import jax.numpy as jnp

    zeros = lambda p: jax.tree_util.tree_map(jnp.zeros_like, p)  # noqa: E731
    if spec.name == "sgd":

        def init(p):
            return ()

        def update(p, g, st):
            return jax.tree_util.tree_map(lambda a, b: a - spec.lr * b, p, g), st
    elif spec.name == "momentum":

        def init(p):
            return zeros(p)

        def update(p, g, buf):
            buf = jax.tree_util.tree_map(lambda b, gg: spec.momentum * b + gg, buf, g)
            return jax.tree_util.tree_map(lambda a, b: a - spec.lr * b, p, buf), buf
    elif spec.name == "adam":
        b1, b2, eps, lr = spec.beta1, spec.beta2, spec.eps, spec.lr

        def init(p):
            return (jnp.zeros((), dtype=dtype), zeros(p), zeros(p))

        def update(p, g, st):
            t, m, v = st
            t = t + 1
            m = jax.tree_util.tree_map(lambda a, gg: b1 * a + (1 - b1) * gg, m, g)
            v = jax.tree_util.tree_map(lambda a, gg: b2 * a + (1 - b2) * gg * gg, v, g)
            bc1 = 1 - b1**t
            sbc2 = jnp.sqrt(1 - b2**t)
            step = lr / bc1
            p = jax.tree_util.tree_map(
                lambda a, mm, vv: a - step * (mm / (jnp.sqrt(vv) / sbc2 + eps)), p, m, v
            )
            return p, (t, m, v)
    else:
        raise ValueError(spec.name)
    return init, update


def make_step(wl):
    """``step(params, state, *batch) -> (params, state)`` (not jitted)."""
    import jax

    f = loss_fn(wl.kind)
    init, update = optimizer(wl.optimizer, wl.dtype)
    grad = jax.grad(f)

    def step(p, st, *batch):
        return update(p, grad(p, *batch), st)

    return init, step


def device_params(wl):
    import jax.numpy as jnp

    return {k: jnp.asarray(v) for k, v in wl.params.items()}
