# symbp runtime: symbp writes this file next to generated modules; do not edit it.
"""Training: the whole loop in the kernel, validated once; divergence stops it with the fit so far.

:func:`run_fit` validates everything, then runs every step in one call of the module's
``_kernel`` (the hot path of a small fit). A shuffled fit runs one call per epoch on
that epoch's permutation of the data (:func:`fit_steps`): the kernel itself only ever
reads consecutive rows. :class:`FitRun` is the same fit validated once and run in
pieces (a progress bar, validation after every epoch): its pieces give the same params,
losses and state as one call.

A non-finite batch loss stops the kernel before that update; a parameter that went
non-finite is found by replaying the deterministic steps in pieces. Either way
:class:`~symbp.runtime.spec.DivergenceError` carries the result up to the last finite
step, resumable.
"""

import numpy as np

from .checks import (
    check_data,
    check_hyper,
    check_state,
    fit_start,
    initial_slots,
    make_state,
    pack_params,
    schedule,
    unpack_params,
)
from .spec import FIT, DivergenceError, FitResult, InputError, divergence_message, param_at
from .threads import NO_LIMIT, blas_limit, require_blas

#: A diverged fit is replayed in pieces of this many steps, checking the parameters.
REPLAY = 256


def epoch_order(n, seed, epoch):
    """The order of the ``n`` samples in epoch ``epoch`` of a fit shuffled from ``seed``."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def orders(n, per_epoch, t0, steps, shuffle, seed):
    """Sample order of every epoch the steps ``t0 .. t0 + steps - 1`` touch, and the
    first such epoch (row ``e - first`` is epoch ``e``'s permutation); ``(None, 0)``
    without shuffling."""
    if not shuffle:
        return None, 0
    first = t0 // per_epoch
    last = (t0 + steps - 1) // per_epoch
    rows = [epoch_order(n, seed, epoch) for epoch in range(first, last + 1)]
    return np.ascontiguousarray(np.array(rows, dtype=np.int64)), first


def run_kernel(spec, mode, theta, slots, grad, losses, info, constants, arrays, *,
               t0=0, steps=0, batch=1, lo=0, hi=0, limit=True):  # fmt: skip
    """Call the module's ``_kernel`` (:mod:`symbp.emit.driver` gives each argument's meaning).

    ``limit=False``: the caller holds the BLAS limit already, or the mode (the update)
    multiplies no matrices."""
    with blas_limit(spec) if limit else NO_LIMIT:
        return spec.kernel(
            mode, theta, slots, grad, t0, steps, batch, lo, hi, losses, info, constants, *arrays
        )


def fit_steps(spec, theta, slots, losses, info, constants, arrays, t0, steps, batch, n,
              shuffle, seed):  # fmt: skip
    """Run the optimizer steps ``t0 .. t0 + steps - 1`` on theta and slots in place,
    recording their batch losses in ``losses``; return how many ran.

    Without shuffling one kernel call runs them all. A shuffled fit runs one call per
    epoch touched, on that epoch's permutation of the data (DESIGN's batching: step
    ``t`` takes chunk ``t mod ceil(n / b)`` of the epoch's order). It stops early at a
    non-finite batch loss (fewer steps ran) or when a parameter went non-finite
    (``info[1] >= 0``); ``info[0]`` is the last step's learning rate.
    """
    if not shuffle:
        return run_kernel(spec, FIT, theta, slots, theta, losses, info, constants, arrays,
                          t0=t0, steps=steps, batch=batch, hi=n)  # fmt: skip
    per_epoch = (n + batch - 1) // batch
    done = 0
    while done < steps:
        step = t0 + done
        epoch = step // per_epoch
        count = min(steps - done, (epoch + 1) * per_epoch - step)
        order = epoch_order(n, seed, epoch)
        shuffled = [array[order] for array in arrays]
        ran = run_kernel(spec, FIT, theta, slots, theta, losses[done:], info, constants,
                         shuffled, t0=step, steps=count, batch=batch, hi=n)  # fmt: skip
        done += ran
        if ran < count or info[1] >= 0:
            break
    return done


def _fit_args(spec, params, data, steps, epochs, batch_size, shuffle, seed, state, hyper):
    """Validate a fit's arguments; return what the kernel and the result need."""
    if not spec.can_fit:
        raise InputError(f"model {spec.model!r} was generated without an optimizer; it cannot fit")
    if spec.blas:
        require_blas(spec)
    constants, inits = check_hyper(spec, hyper)
    theta = pack_params(spec, params)
    n, arrays = check_data(spec, data)
    if not spec.data and batch_size is not None:
        raise InputError("batch_size needs data; this model has no inputs or targets")
    steps, batch, per_epoch = schedule(n, batch_size, steps, epochs)
    t0, slots, seed = fit_start(spec, shuffle, seed, state, inits)
    return theta, slots, n, arrays, steps, batch, per_epoch, t0, seed, constants


def run_fit(spec, params, data, steps, epochs, batch_size, shuffle, seed, state, hyper=None,
            result=FitResult):  # fmt: skip
    """Validate everything, then run the whole training loop in the kernel.

    ``result(params, losses, state)`` builds the return value (symbp's Trainer passes
    its Fit).
    """
    args = _fit_args(spec, params, data, steps, epochs, batch_size, shuffle, seed, state, hyper)
    theta, slots, n, arrays, steps, batch, _, t0, seed, constants = args
    losses = np.empty(steps, dtype=spec.dtype)
    info = np.zeros(2)
    if shuffle:
        done = fit_steps(spec, theta, slots, losses, info, constants, arrays, t0, steps, batch,
                         n, shuffle, seed)  # fmt: skip
    else:  # positional arguments: this is the hot path of a small fit (theta stands in
        # for the gradient buffer, which the fit mode does not use)
        args = (FIT, theta, slots, theta, t0, steps, batch, 0, n, losses, info, constants)
        if spec.blas:
            with blas_limit(spec):
                done = spec.kernel(*args, *arrays)
        else:
            done = spec.kernel(*args, *arrays)
    if done == steps and info[1] < 0:
        return result(unpack_params(spec, theta), losses, make_state(spec, t0 + steps, slots, seed))
    start = pack_params(spec, params), (initial_slots(spec, check_hyper(spec, hyper)[1])
                                        if state is None else check_state(spec, state)[1])  # fmt: skip
    loop = (arrays, batch, n, shuffle, seed)
    _stop(spec, start, theta, slots, losses, done, info, constants, loop, t0, ())


def _stop(spec, start, theta, slots, losses, done, info, constants, loop, t0, before):
    """Raise DivergenceError for steps ``t0 ..`` run from ``start`` (params, slots) that
    stopped after ``done`` steps (``before``: the losses of earlier pieces of the fit;
    ``loop``: the data, batch size, sample count, shuffle and seed)."""
    if info[1] >= 0:
        # A parameter went non-finite at some step < done: replay from the start,
        # checking the parameters after each piece of steps, then step by step in the
        # piece where they went bad (the kernel is deterministic: the same steps again).
        theta[:], slots[:] = start
        done = _replay(spec, theta, slots, losses, info, constants, loop, t0, done)
    kept = np.concatenate([*before, losses[:done]]) if len(before) else losses[:done].copy()
    seed = loop[4]
    fit = FitResult(unpack_params(spec, theta), kept, make_state(spec, t0 + done, slots, seed))
    loss = float(losses[done])
    lr = float(info[0])
    param = param_at(spec, int(info[1])) if np.isfinite(loss) else None
    message = divergence_message(spec, t0 + done, loss, lr, param)
    raise DivergenceError(message, fit, t0 + done, loss, lr, param)


def _replay(spec, theta, slots, losses, info, constants, loop, t0, steps):
    """Run ``steps`` steps on theta/slots in place, stopping before the first update that
    makes a parameter non-finite; return the steps done (``info[1]``: that parameter)."""
    arrays, batch, n, shuffle, seed = loop
    done = 0
    size = REPLAY
    while done < steps:
        count = min(size, steps - done)
        keep = theta.copy(), slots.copy()
        ran = fit_steps(spec, theta, slots, losses[done:], info, constants, arrays, t0 + done,
                        count, batch, n, shuffle, seed)  # fmt: skip
        if info[1] < 0:  # every parameter still finite
            done += ran
            if ran < count:  # a non-finite batch loss: the kernel stopped before its update
                return done
            continue
        theta[:], slots[:] = keep
        if size == 1:
            return done  # info[1] names the parameter
        size = 1  # the bad update is in this piece: go through it one step at a time
    raise RuntimeError(f"model {spec.model!r}: a diverged fit did not replay")


class FitRun:
    """One fit validated once and run in pieces: ``advance(k)`` runs the next ``k`` steps.

    The pieces give exactly the params, losses and state of :func:`run_fit` over all
    ``total`` steps (the sample orders depend only on the seed and the epoch). ``n``
    and ``per_epoch`` describe the data; ``params`` are the current params.
    """

    def __init__(self, spec, params, data, steps, epochs, batch_size, shuffle, seed, state,
                 hyper=None):  # fmt: skip
        args = _fit_args(spec, params, data, steps, epochs, batch_size, shuffle, seed, state,
                         hyper)  # fmt: skip
        self.spec = spec
        (self.theta, self.slots, self.n, self.arrays, self.total, self.batch, self.per_epoch,
         self.t0, self.seed, self.constants) = args  # fmt: skip
        self.shuffle = shuffle
        self.done = 0
        self.losses = []
        self.info = np.zeros(2)

    @property
    def step(self):
        """The step counter now (counting the steps of the fit this one resumed)."""
        return self.t0 + self.done

    @property
    def params(self):
        """The current params, in their declared shapes."""
        return unpack_params(self.spec, self.theta)

    def state(self):
        """The resumable state now."""
        return make_state(self.spec, self.step, self.slots.copy(), self.seed)

    def advance(self, count):
        """Run the next ``count`` steps (at most those left); return their batch losses."""
        spec = self.spec
        count = min(count, self.total - self.done)
        t0 = self.step
        losses = np.empty(count, dtype=spec.dtype)
        start = self.theta.copy(), self.slots.copy()
        loop = (self.arrays, self.batch, self.n, self.shuffle, self.seed)
        done = fit_steps(spec, self.theta, self.slots, losses, self.info, self.constants,
                         self.arrays, t0, count, self.batch, self.n, self.shuffle,
                         self.seed)  # fmt: skip
        if done < count or self.info[1] >= 0:
            _stop(spec, start, self.theta, self.slots, losses, done, self.info, self.constants,
                  loop, t0, self.losses)  # fmt: skip
        self.done += count
        self.losses.append(losses)
        return losses

    def result(self, result=FitResult):
        """The fit so far: ``result(params, losses, state)``."""
        losses = np.concatenate(self.losses) if self.losses else np.empty(0, self.spec.dtype)
        return result(self.params, losses, self.state())
