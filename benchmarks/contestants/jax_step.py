"""Contestant ``jax_step``: ``jax.jit`` of one training step, Python loop over steps.

Batches are pre-sliced device arrays created in ``build``; the jitted step is
traced/compiled on the first call (counted in the cold first run; the MLPs'
shorter last batch triggers a second trace).
"""

from __future__ import annotations

import sys

from benchmarks.contestants._jax_common import DATA_NAMES, configure, device_params, make_step

REQUIRES = ("jax", "jaxlib")
NOTES = "jit(one step: grad + optimizer update), Python loop, jax_enable_x64"
__all__ = ["build", "configure"]


def build(wl):
    import jax
    import jax.numpy as jnp

    init, step = make_step(wl)
    step = jax.jit(step)
    names = DATA_NAMES[wl.kind]
    if names:
        dev = {n: jnp.asarray(wl.data[n]) for n in names}
        cache, batches = {}, []
        for lo, hi in wl.batches:
            key = (int(lo), int(hi))
            if key not in cache:
                cache[key] = tuple(dev[n][key[0] : key[1]] for n in names)
            batches.append(cache[key])
    else:
        batches = [()] * wl.steps
    p0 = device_params(wl)

    def run():
        p, st = p0, init(p0)
        for b in batches:
            p, st = step(p, st, *b)
        return jax.block_until_ready(p)

    return run


if __name__ == "__main__":
    from benchmarks.contestants._common import main

    sys.exit(main("jax_step", sys.modules[__name__], REQUIRES))
