"""Contestant ``jax_scan``: the whole training loop in one ``jax.jit`` via ``lax.scan``.

Schedules with one batch size (W0-W3, W6) scan over the batch start offsets and
take each batch with ``lax.dynamic_slice_in_dim``; W6's loss is itself a ``lax.scan``
over the 50 time steps of its sequences, nested inside.  The MLPs (46 batches of 32
and one of 28 per epoch) scan over epochs; each epoch scans over its full
batches and then does one step on the shorter remainder, so every step sees
exactly the rows of the shared schedule.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks.contestants._jax_common import DATA_NAMES, configure, device_params, make_step

REQUIRES = ("jax", "jaxlib")
NOTES = "jit(lax.scan over all steps), jax_enable_x64"
__all__ = ["build", "configure"]


def build(wl):
    import jax
    import jax.numpy as jnp
    from jax import lax

    init, step = make_step(wl)
    names = DATA_NAMES[wl.kind]
    data = tuple(jnp.asarray(wl.data[n]) for n in names) if names else ()
    sizes = wl.batches[:, 1] - wl.batches[:, 0]

    if not names:

        def train(p, data):
            def body(c, _):
                return step(*c), None

            c, _ = lax.scan(body, (p, init(p)), None, length=wl.steps)
            return c[0]

        args = ()
    elif np.all(sizes == sizes[0]):
        bs = int(sizes[0])
        starts = jnp.asarray(wl.batches[:, 0].astype(np.int32))

        def train(p, data, starts):
            def body(c, lo):
                b = tuple(lax.dynamic_slice_in_dim(d, lo, bs, axis=0) for d in data)
                return step(*c, *b), None

            c, _ = lax.scan(body, (p, init(p)), starts)
            return c[0]

        args = (starts,)
    elif wl.kind == "mlp":
        spe = wl.extra["steps_per_epoch"]
        epoch = wl.batches[:spe]
        assert np.array_equal(np.tile(epoch, (wl.epochs, 1)), wl.batches)
        bs = int(sizes[0])
        n_full = int(np.sum(sizes[:spe] == bs))
        assert np.all(sizes[:n_full] == bs) and np.all(epoch[:, 0] == np.arange(spe) * bs)
        rem_lo, rem_hi = int(epoch[-1, 0]), int(epoch[-1, 1])
        has_rem = n_full < spe

        def train(p, data):
            full = tuple(d[: n_full * bs].reshape((n_full, bs, *d.shape[1:])) for d in data)
            rem = tuple(d[rem_lo:rem_hi] for d in data)

            def inner(c, b):
                return step(*c, *b), None

            def outer(c, _):
                c, _ = lax.scan(inner, c, full)
                if has_rem:
                    c = step(*c, *rem)
                return c, None

            c, _ = lax.scan(outer, (p, init(p)), None, length=wl.epochs)
            return c[0]

        args = ()
    else:
        raise NotImplementedError("batch schedule not supported by jax_scan")

    train = jax.jit(train)
    p0 = device_params(wl)

    def run():
        return jax.block_until_ready(train(p0, data, *args))

    return run


if __name__ == "__main__":
    from benchmarks.contestants._common import main

    sys.exit(main("jax_scan", sys.modules[__name__], REQUIRES))
