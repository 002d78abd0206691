# --- symbp runtime: input validation and kernel drivers (copied into every module) ---
# This file is inlined verbatim into each generated module so that the module needs
# only numpy, numba and the standard library. The symbp Trainer calls the generated
# module's functions, so both run this very code.
import collections
import importlib.machinery
import importlib.util
import math
import os
import sys
import threading
import time
from typing import NamedTuple

import numba
import numpy as np

# --- begin runtime ---


class InputError(ValueError):
    """Params, data or options passed to a generated module are invalid."""


class FitResult(NamedTuple):
    """Trained params (declared shapes), per-step batch losses, and resumable state."""

    params: dict
    losses: np.ndarray
    state: dict


class DivergenceError(ArithmeticError):
    """Training produced a non-finite batch loss or parameter.

    ``fit`` is the FitResult of every step before the first non-finite one (its
    state resumes exactly); ``step``, ``loss``, ``lr`` describe that step and
    ``param`` is ``(name, index)`` of the first non-finite parameter, or None.
    """

    def __init__(self, message, fit, step, loss, lr, param):
        super().__init__(message)
        self.fit = fit
        self.step = step
        self.loss = loss
        self.lr = lr
        self.param = param


class Spec(NamedTuple):
    """Everything the drivers need to know about one generated module."""

    model: str
    dtype: type
    params: tuple  # (name, shape, offset)
    data: tuple  # (name, shape) of inputs then targets
    reduction: str
    slots: tuple  # names of the per-element optimizer state
    source_hash: str
    kernel: object
    can_fit: bool  # generated with an optimizer
    blas: bool  # the kernel calls np.dot, which Numba runs through SciPy's BLAS
    chunk: int  # samples per batch when evaluating (the workspace stays cache-sized)
    n_hyper: int  # how many constants the optimizer's update reads from _hyper
    form: str  # the fingerprint of the optimizer's form (symbp.optim.base.Template)
    hyper: object  # (constants, initial state values, form) of the module's optimizer, or None
    predict: object  # the _predict kernel, or None without outputs
    outputs: tuple  # (name, per-sample shape) of the outputs
    predict_chunk: int  # samples per batch of _predict
    n_inputs: int  # how many entries of data are inputs (the rest are targets)
    hessp: object  # the _hessp kernel (in a Hessian module), or None


# The modes of _kernel (symbp.emit.scalar.kernel).
_LOSS, _GRAD, _FIT, _UPDATE = 0, 1, 2, 3
#: A diverged fit is replayed in pieces of this many steps, checking the parameters.
_REPLAY = 256
#: An evaluation is cut into at most this many parts (fixed for a given sample
#: count, so the sum is the same whatever the number of threads)...
_MAX_PARTS = 8
#: ... of at least this many samples, and runs on several threads when there are two...
_THREADED_MIN = 1024
#: ... and at least this many seconds of serial work (below it, waking threads costs
#: more than they save: a 10,000-sample scalar model's 80 µs gradient took 160 µs on two).
_THREADED_WORK = 3e-4
_NO_ORDER = np.zeros((1, 1), dtype=np.int64)
_FOUND = {}
#: Per-module caches: thread pool, BLAS controller, layout, the last optimizer numbers.
_POOL = {}
if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's threads
    os.register_at_fork(after_in_child=_POOL.clear)


def _load_blas():
    """Make SciPy's BLAS importable for Numba's np.dot, without importing scipy.linalg.

    Numba resolves BLAS through ``scipy.linalg.cython_blas``; importing it runs all of
    ``scipy.linalg`` (~0.15 s). The extension module alone loads in ~0.02 s; any
    surprise falls back to the plain import.
    """
    name = "scipy.linalg.cython_blas"
    if name in sys.modules:
        return True
    try:
        spec = importlib.util.find_spec("scipy")
        if spec is None or not spec.submodule_search_locations:
            return False
        folder = os.path.join(next(iter(spec.submodule_search_locations)), "linalg")
        for entry in sorted(os.listdir(folder)):
            if entry.startswith("cython_blas.") and entry.endswith((".so", ".pyd")):
                loader = importlib.machinery.ExtensionFileLoader(name, os.path.join(folder, entry))
                found = importlib.util.spec_from_file_location(name, loader.path, loader=loader)
                module = importlib.util.module_from_spec(found)
                loader.exec_module(module)
                sys.modules[name] = module
                return True
    except Exception:
        sys.modules.pop(name, None)
    return importlib.util.find_spec("scipy") is not None


def _require_blas(spec):
    """Say that SciPy is missing before Numba fails to compile an np.dot in a traceback."""
    if not spec.blas:
        return
    if "scipy" not in _FOUND:
        _FOUND["scipy"] = _load_blas()
    if not _FOUND["scipy"]:
        raise ImportError(
            f"model {spec.model!r} multiplies matrices with np.dot, which Numba runs through "
            "SciPy's BLAS; install SciPy (pip install scipy) to use this module"
        )


def _size(shape):
    size = 1
    for dim in shape:
        size *= dim
    return size


def _storage(shape):
    """Per-sample shape of a data array as the kernel reads it: vectors are flat."""
    if len(shape) == 2 and (shape[0] == 1 or shape[1] == 1):
        return (shape[0] * shape[1],)
    return shape


def _first_bad(array):
    """Index of the first non-finite element, as a tuple (or () for a scalar)."""
    flat = np.flatnonzero(~np.isfinite(array))
    return tuple(int(i) for i in np.unravel_index(flat[0], array.shape)) if array.ndim else ()


def _as_real_array(name, value, dtype, what):
    try:
        array = np.asarray(value)
    except Exception as err:
        raise InputError(f"{what} {name!r} is not array-like: {err}") from None
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise InputError(
            f"{what} {name!r} has dtype {array.dtype}; expected real numbers (float or int)"
        )
    array = array.astype(dtype, copy=False)  # callers copy what a kernel writes to
    if not np.isfinite(array).all():
        bad = _first_bad(array)
        raise InputError(f"{what} {name!r} has a non-finite value at index {bad}")
    return array


def _check_keys(given, expected, what):
    if type(given) is dict and len(given) == len(expected):
        for key in expected:
            if key not in given:
                break
        else:
            return  # the common case, quickly
    if given is None:
        given = {}
    if not hasattr(given, "keys"):
        raise InputError(
            f"{what} must be a dict mapping names to arrays, got {type(given).__name__}"
        )
    missing = [k for k in expected if k not in given]
    extra = sorted(str(k) for k in given if k not in expected)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        raise InputError(f"{what}: {' and '.join(parts)}; expected exactly {list(expected)}")


def _layout(spec):
    """``(param names, parameter count, data names)`` of ``spec``, computed once."""
    found = _POOL.get("layout")
    if found is None:
        names = tuple(name for name, _, _ in spec.params)
        total = sum(_size(shape) for _, shape, _ in spec.params)
        found = _POOL["layout"] = (names, total, tuple(name for name, _ in spec.data))
    return found


def pack_params(spec, params, what="param"):
    """Validate ``params`` and pack them into one flat array in declaration order.

    ``what`` names the values in error messages (``"direction"`` for a Hessian-vector
    product's ``v``, laid out as the params)."""
    names, total, _ = _layout(spec)
    _check_keys(params, names, what + "s")
    theta = np.empty(total, dtype=spec.dtype)
    for name, shape, offset in spec.params:
        value = params[name]
        if type(value) is float and not shape and math.isfinite(value):
            theta[offset] = value  # the common scalar case, without a 0-d array
            continue
        array = _as_real_array(name, value, spec.dtype, what)
        if array.shape != shape and not (shape == () and array.shape == (1,)):
            raise InputError(
                f"{what} {name!r} has shape {array.shape}; expected {shape if shape else 'a scalar'}"
            )
        theta[offset : offset + _size(shape)] = array.reshape(-1)
    return theta


def unpack_params(spec, theta):
    """Flat array -> dict of declared shapes (scalars become Python floats)."""
    result = {}
    for name, shape, offset in spec.params:
        if shape == ():
            result[name] = float(theta[offset])
        else:
            result[name] = theta[offset : offset + _size(shape)].reshape(shape).copy()
    return result


def param_at(spec, flat):
    """``(name, index)`` of the element ``flat`` of the packed parameters."""
    for name, shape, offset in spec.params:
        if offset <= flat < offset + _size(shape):
            index = np.unravel_index(flat - offset, shape) if shape else ()
            return name, tuple(int(i) for i in index)
    raise IndexError(flat)


def _accepted_shapes(shape):
    shapes = [shape]
    if shape == ():
        shapes.append((1,))
    elif shape[0] == 1 or shape[1] == 1:
        shapes.append((_size(shape),))
    return shapes


def check_data(spec, data, inputs_only=False):
    """Validate ``data``; return (sample count, arrays in the kernel's storage layout).

    ``inputs_only``: the inputs are required and the targets, if given, are ignored.
    """
    names = _layout(spec)[2]
    if inputs_only:
        names = names[: spec.n_inputs]
        if not names:
            return 1, ()
        if data is not None and hasattr(data, "keys"):
            data = {k: v for k, v in data.items() if k not in _layout(spec)[2][spec.n_inputs :]}
    if not names:
        if data:
            raise InputError(
                f"model {spec.model!r} has no inputs or targets; pass data=None, got keys {sorted(data)}"
            )
        return 1, ()
    if data is None:
        raise InputError(f"data is required: expected arrays for {names}")
    _check_keys(data, names, "data")
    arrays = []
    count = None
    for name, shape in spec.data[: len(names)]:
        array = _as_real_array(name, data[name], spec.dtype, "data")
        if array.ndim == 0:
            raise InputError(f"data {name!r} is a scalar; expected a first axis of samples")
        if count is None:
            count = array.shape[0]
        elif array.shape[0] != count:
            raise InputError(
                f"data {name!r} has {array.shape[0]} samples, but {spec.data[0][0]!r} has {count}"
            )
        per_sample = array.shape[1:]
        if per_sample not in _accepted_shapes(shape):
            expected = " or ".join(str((count, *s)) for s in _accepted_shapes(shape))
            raise InputError(f"data {name!r} has shape {array.shape}; expected {expected}")
        arrays.append(np.ascontiguousarray(array.reshape((count, *_storage(shape)))))
    if count == 0:
        raise InputError("data has no samples (first axis of length 0)")
    return count, tuple(arrays)


def _positive_int(name, value):
    if type(value) is int and value >= 1:
        return value  # the common case, quickly
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_hyper(spec, hyper):
    """The optimizer's numbers: ``(constants, initial state values)``, as arrays.

    A Trainer passes the same tuple at every fit: the arrays of the last one are kept.
    """
    if hyper is None:
        hyper = spec.hyper
    last = _POOL.get("hyper")
    if last is not None and last[0] is hyper:
        return last[1], last[2]
    constants, inits = _hyper_arrays(spec, hyper)
    if type(hyper) is tuple and all(type(part) in (tuple, str) for part in hyper):
        _POOL["hyper"] = (hyper, constants, inits)  # immutable: safe to keep
    return constants, inits


def _hyper_arrays(spec, hyper):
    if hyper is None:
        raise InputError(
            f"model {spec.model!r}'s module was generated without its optimizer's numbers; "
            "pass hyper=optimizer.template().numbers"
        )
    try:
        constants = np.array(hyper[0], dtype=np.float64).reshape(-1)
        inits = np.array(hyper[1], dtype=np.float64).reshape(-1)
        form = hyper[2]
    except (TypeError, ValueError, IndexError):
        raise InputError(
            f"hyper must be (constants, initial state values, form), got {hyper!r}"
        ) from None
    if form != spec.form:
        raise InputError(
            f"hyper comes from an optimizer of another form (fingerprint {form!r}); this "
            f"module's optimizer has {spec.form!r}: same class and options, other numbers only"
        )
    if constants.shape[0] != spec.n_hyper or inits.shape[0] != len(spec.slots):
        raise InputError(
            f"hyper has {constants.shape[0]} constants and {inits.shape[0]} initial values; "
            f"expected {spec.n_hyper} and {len(spec.slots)}"
        )
    if not (np.isfinite(constants).all() and np.isfinite(inits).all()):
        raise InputError(f"hyper has a non-finite value: {hyper!r}")
    return constants, inits


def _initial_slots(spec, total, inits):
    if not spec.slots:  # nothing to write: one empty array serves every fit
        empty = _POOL.get("no_slots")
        if empty is None or empty.shape[1] != total:
            empty = _POOL["no_slots"] = np.empty((0, total), dtype=spec.dtype)
        return empty
    slots = np.empty((len(spec.slots), total), dtype=spec.dtype)
    for k, value in enumerate(inits):
        slots[k, :] = value
    return slots


def initial_state(spec, hyper=None):
    """Optimizer state before the first step."""
    _, inits = _check_hyper(spec, hyper)
    slots = _initial_slots(spec, _layout(spec)[1], inits)
    return {"step": 0, "slots": slots, "seed": None, "source_hash": spec.source_hash}


def _check_state(spec, state, total):
    if not isinstance(state, dict) or "step" not in state or "slots" not in state:
        raise InputError(
            "state must be the .state of an earlier fit (a dict with 'step' and 'slots')"
        )
    if state.get("source_hash") != spec.source_hash:
        raise InputError(
            f"state comes from a different model or optimizer (hash {state.get('source_hash')!r}); "
            f"expected {spec.source_hash!r}"
        )
    step = state["step"]
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise InputError(f"state['step'] must be a non-negative integer, got {step!r}")
    slots = np.asarray(state["slots"])
    if slots.shape != (len(spec.slots), total):
        raise InputError(
            f"state['slots'] has shape {slots.shape}; expected {(len(spec.slots), total)}"
        )
    slots = _as_real_array("slots", slots, spec.dtype, "state")
    return int(step), slots.copy()


def _schedule(n, batch_size, steps, epochs):
    if (steps is None) == (epochs is None):
        raise InputError("give exactly one of steps= or epochs=")
    if batch_size is None:
        batch = n
    else:
        batch = _positive_int("batch_size", batch_size)
    per_epoch = (n + batch - 1) // batch
    if steps is not None:
        return _positive_int("steps", steps), batch, per_epoch
    return _positive_int("epochs", epochs) * per_epoch, batch, per_epoch


def _orders(n, per_epoch, t0, steps, shuffle, seed):
    """Sample order for every epoch the steps touch; row e - first epoch."""
    if not shuffle:
        return _NO_ORDER, 0
    first = t0 // per_epoch
    last = (t0 + steps - 1) // per_epoch
    rows = [np.random.default_rng([seed, epoch]).permutation(n) for epoch in range(first, last + 1)]
    return np.ascontiguousarray(np.array(rows, dtype=np.int64)), first


def _fit_args(spec, params, data, steps, epochs, batch_size, shuffle, seed, state, hyper):
    """Validate a fit's arguments; return what the kernel and the result need."""
    if not spec.can_fit:
        raise InputError(f"model {spec.model!r} was generated without an optimizer; it cannot fit")
    if spec.blas:
        _require_blas(spec)
    constants, inits = _check_hyper(spec, hyper)
    theta = pack_params(spec, params)
    n, arrays = check_data(spec, data)
    if not spec.data and batch_size is not None:
        raise InputError("batch_size needs data; this model has no inputs or targets")
    steps, batch, per_epoch = _schedule(n, batch_size, steps, epochs)
    t0, slots, seed = _fit_start(spec, theta.shape[0], shuffle, seed, state, inits)
    if shuffle:
        orders, epoch0 = _orders(n, per_epoch, t0, steps, shuffle, seed)
    else:
        orders, epoch0 = _NO_ORDER, 0
    return theta, slots, n, arrays, steps, batch, t0, orders, epoch0, seed, constants, inits


def _fit_start(spec, total, shuffle, seed, state, inits):
    """Check a fit's shuffle, seed and state: ``(first step, optimizer state, seed)``.

    The seed of a resumed fit is its state's unless given; a shuffled fit without one
    draws a fresh seed (kept in the result's state, so it resumes exactly)."""
    if shuffle is not False and shuffle is not True:
        raise InputError(f"shuffle must be True or False, got {shuffle!r}")
    if state is None:
        t0, slots = 0, _initial_slots(spec, total, inits)
    else:
        t0, slots = _check_state(spec, state, total)
        if seed is None:
            seed = state.get("seed")
    if shuffle and seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
    ):
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    return t0, slots, seed


def _state(spec, step, slots, seed):
    return {"step": step, "slots": slots, "seed": seed, "source_hash": spec.source_hash}


def _run_kernel(
    spec,
    mode,
    theta,
    slots,
    grad,
    losses,
    info,
    constants,
    arrays,
    *,
    orders=_NO_ORDER,
    shuffle=False,
    epoch0=0,
    t0=0,
    steps=0,
    batch=1,
    lo=0,
    hi=0,
    limit=True,
):
    """Call the module's one kernel (symbp.emit.scalar.kernel gives the meaning of each argument).

    ``limit=False``: the caller holds the BLAS limit already, or the mode (the update)
    multiplies no matrices."""
    with _blas_limit(spec) if limit else _NO_LIMIT:
        return spec.kernel(
            mode,
            theta,
            slots,
            grad,
            orders,
            shuffle,
            epoch0,
            t0,
            steps,
            batch,
            lo,
            hi,
            losses,
            info,
            constants,
            *arrays,
        )


def run_fit(
    spec,
    params,
    data,
    steps,
    epochs,
    batch_size,
    shuffle,
    seed,
    state,
    hyper=None,
    result=FitResult,
):
    """Validate everything, then run the whole training loop in the kernel.

    ``result(params, losses, state)`` builds the return value (symbp's Trainer passes
    its Fit).
    """
    args = _fit_args(spec, params, data, steps, epochs, batch_size, shuffle, seed, state, hyper)
    theta, slots, n, arrays, steps, batch, t0, orders, epoch0, seed, constants, inits = args
    losses = np.empty(steps, dtype=spec.dtype)
    info = np.zeros(2)
    # positional arguments: this is the hot path of a small fit (theta stands in for the
    # gradient buffer, which the fit mode does not use)
    args = (_FIT, theta, slots, theta, orders, shuffle, epoch0, t0, steps, batch, 0, n, losses)
    if spec.blas:
        with _blas_limit(spec):
            done = spec.kernel(*args, info, constants, *arrays)
    else:
        done = spec.kernel(*args, info, constants, *arrays)
    if done == steps and info[1] < 0:
        return result(unpack_params(spec, theta), losses, _state(spec, t0 + steps, slots, seed))
    grad = np.empty_like(theta)
    loop = dict(orders=orders, shuffle=shuffle, epoch0=epoch0, t0=t0, batch=batch, hi=n)
    if info[1] >= 0:
        # A parameter went non-finite at some step < done: replay from the start,
        # checking the parameters after each piece of steps, then step by step in the
        # piece where they went bad (the kernel is deterministic: the same steps again).
        theta = pack_params(spec, params)
        slots = (
            _initial_slots(spec, theta.shape[0], inits)
            if state is None
            else _check_state(spec, state, theta.shape[0])[1]
        )
        done = _replay(spec, theta, slots, grad, losses, info, constants, arrays, loop, done)
    _diverged(spec, theta, slots, losses, done, t0, seed, info)


def _replay(spec, theta, slots, grad, losses, info, constants, arrays, loop, steps):
    """Run ``steps`` steps on theta/slots in place, stopping before the first update that
    makes a parameter non-finite; return the steps done (``info[1]``: that parameter)."""
    t0 = loop["t0"]
    done = 0
    size = _REPLAY
    while done < steps:
        count = min(size, steps - done)
        keep = theta.copy(), slots.copy()
        ran = _run_kernel(
            spec,
            _FIT,
            theta,
            slots,
            grad,
            losses[done:],
            info,
            constants,
            arrays,
            steps=count,
            **{**loop, "t0": t0 + done},
        )
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


def _diverged(spec, theta, slots, losses, done, t0, seed, info):
    """Raise DivergenceError for a fit that stopped at step ``t0 + done``."""
    result = FitResult(
        unpack_params(spec, theta), losses[:done].copy(), _state(spec, t0 + done, slots, seed)
    )
    loss = float(losses[done])
    lr = float(info[0])
    param = param_at(spec, int(info[1])) if math.isfinite(loss) else None
    raise DivergenceError(
        divergence_message(spec, t0 + done, loss, lr, param), result, t0 + done, loss, lr, param
    )


def param_label(param):
    """``W1[0, 2]`` for ``("W1", (0, 2))``, ``w`` for ``("w", ())``."""
    name, index = param
    return f"{name}[{', '.join(map(str, index))}]" if index else name


def divergence_message(spec, step, loss, lr, param):
    """What DivergenceError says of a step whose batch loss (``param`` None) or update
    (``param``: the first non-finite parameter) went non-finite."""
    if param is None:
        what = (
            f"the batch loss is {loss} (learning rate {lr:.6g} at that step; every parameter "
            "is still finite)"
        )
    else:
        what = (
            f"its update (batch loss {loss:.6g}, learning rate {lr:.6g}) made parameter "
            f"{param_label(param)} non-finite"
        )
    return (
        f"training of model {spec.model!r} diverged at step {step}: {what}. The result "
        f"up to step {step} is kept (.fit); a smaller learning rate may help"
    )


def _threads():
    """Threads for a large evaluation: Numba's thread count (``NUMBA_NUM_THREADS``, by
    default the CPUs), at most the CPUs this process may use."""
    if "threads" not in _POOL:
        try:
            count = len(os.sched_getaffinity(0))
        except AttributeError:
            count = os.cpu_count() or 1
        count = min(count, numba.config.NUMBA_NUM_THREADS)
        _POOL["threads"] = max(1, min(count, _MAX_PARTS))
    return _POOL["threads"]


class _BlasLimit:
    """Keeps BLAS to one thread while any of our kernels runs, process-wide.

    The kernels' matrix products are small (a batch, or a cache-sized chunk of
    samples): BLAS's own threads only cost there (measured: a 64-512-10 fit, batches
    of 32, 15x slower with two OpenBLAS threads than with one), and our evaluations
    run on threads of their own. The first kernel to enter sets one thread (through
    threadpoolctl's library controllers, a few microseconds), the last to leave
    restores what it found: overlapping calls on several Python threads never leave
    BLAS pinned.
    """

    def __init__(self, controller):
        self.libs = controller.select(user_api="blas").lib_controllers
        self.lock = threading.Lock()
        self.users = 0
        self.saved = []

    def __enter__(self):
        with self.lock:
            if self.users == 0:
                self.saved = []
                for lib in self.libs:
                    count = lib.get_num_threads()
                    if count is not None and count != 1:
                        lib.set_num_threads(1)
                        self.saved.append((lib, count))
            self.users += 1
        return self

    def __exit__(self, *exc):
        with self.lock:
            self.users -= 1
            if self.users == 0:
                for lib, count in self.saved:
                    lib.set_num_threads(count)
                self.saved = []
        return False


def _blas_limit(spec):
    """The context a kernel of ``spec`` runs in: the process's :class:`_BlasLimit` for a
    kernel that calls BLAS (when threadpoolctl is installed), else a no-op."""
    if not spec.blas:
        return _NO_LIMIT
    if "blas" not in _POOL:
        try:
            from threadpoolctl import ThreadpoolController

            _POOL["blas"] = _BlasLimit(ThreadpoolController())
        except Exception:
            _POOL["blas"] = _NO_LIMIT
    return _POOL["blas"]


def _partition(n):
    """The fixed split of ``n`` samples into parts for an evaluation: part bounds."""
    parts = min(_MAX_PARTS, (n + _THREADED_MIN - 1) // _THREADED_MIN)
    return [n * k // parts for k in range(parts + 1)]


def _evaluate(spec, theta, n, arrays, mode):
    """Loss sum (and gradient sum) over all ``n`` samples, in a fixed partition."""
    bounds = _partition(n)
    parts = len(bounds) - 1
    sums = np.zeros((parts, 1), dtype=spec.dtype)
    grads = np.zeros((parts, theta.shape[0]) if mode == _GRAD else (parts, 0), dtype=spec.dtype)
    slots = np.empty((0, 0), dtype=spec.dtype)
    info = np.zeros(2)
    constants = np.zeros(spec.n_hyper)  # the update is not run

    def part(k):
        grad = grads[k] if mode == _GRAD else theta
        _run_kernel(
            spec,
            mode,
            theta,
            slots,
            grad,
            sums[k],
            info,
            constants,
            arrays,
            batch=spec.chunk,
            lo=bounds[k],
            hi=bounds[k + 1],
            limit=False,  # _run_parts holds it
        )

    _run_parts(spec, parts, part, ("parts", mode, int(n).bit_length()))
    return _in_order(sums)[0], (_in_order(grads) if mode == _GRAD else None)


def _in_order(rows):
    """The sum of the parts' rows, added in part order (the fixed order of the sums)."""
    total = rows[0].copy()
    for k in range(1, rows.shape[0]):
        total += rows[k]
    return total


def _run_parts(spec, parts, part, key):
    """``part(k)`` for k < parts: on several threads (BLAS kept to one) when there are
    several parts and CPUs and the work is worth it, else in order. The parts write
    disjoint results, so the sums do not depend on which thread ran what.

    Whether threads pay is measured, not guessed: the first two evaluations of a
    ``key`` (what is evaluated, and the sample count's power of two: a bounded number
    of decisions however many sizes are evaluated) run part 0 alone and time it
    (the first one may include Numba's compile); below :data:`_THREADED_WORK` seconds
    of estimated serial work, waking threads costs more than it saves and the parts
    run in order from then on.
    """
    threads = min(parts, _threads())
    limit = _blas_limit(spec)
    with limit:
        if threads < 2 or (spec.blas and limit is _NO_LIMIT):
            for k in range(parts):
                part(k)
            return
        decided = _POOL.get(key)
        first = 0
        if decided is None or decided == "measured once":
            start = time.perf_counter()
            part(0)
            threaded = (time.perf_counter() - start) * parts >= _THREADED_WORK
            _POOL[key] = threaded if decided == "measured once" else "measured once"
            decided, first = threaded, 1
        if not decided:
            for k in range(first, parts):
                part(k)
            return
        todo = collections.deque(range(first, parts))

        def work():
            while True:
                try:
                    k = todo.popleft()  # atomic: each part runs exactly once
                except IndexError:
                    return
                part(k)

        if "executor" not in _POOL:
            from concurrent.futures import ThreadPoolExecutor

            _POOL["executor"] = ThreadPoolExecutor(_threads(), thread_name_prefix="symbp")
        helpers = [_POOL["executor"].submit(work) for _ in range(threads - 1)]
        work()  # this thread takes parts too
        for helper in helpers:
            helper.result()


class _NoLimit:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


_NO_LIMIT = _NoLimit()


def run_loss(spec, params, data):
    """The loss reduced over all samples of ``data``, as a float."""
    _require_blas(spec)
    theta = pack_params(spec, params)
    n, arrays = check_data(spec, data)
    total, _ = _evaluate(spec, theta, n, arrays, _LOSS)
    return float(total / n) if spec.reduction == "mean" else float(total)


def run_grad(spec, params, data):
    """The gradient of the reduced loss: dict name -> array (or float for scalars)."""
    _require_blas(spec)
    theta = pack_params(spec, params)
    n, arrays = check_data(spec, data)
    _, out = _evaluate(spec, theta, n, arrays, _GRAD)
    if spec.reduction == "mean":
        out = out / spec.dtype(n)
    return unpack_params(spec, out)


def hessp_sums(spec, theta, direction, n, arrays):
    """``sum_s H_s v`` over all ``n`` samples (flat), in the fixed partition of _evaluate."""
    bounds = _partition(n)
    parts = len(bounds) - 1
    outs = np.zeros((parts, theta.shape[0]), dtype=spec.dtype)

    def part(k):
        spec.hessp(theta, direction, outs[k], bounds[k], bounds[k + 1], spec.chunk, *arrays)

    _run_parts(spec, parts, part, ("parts", "hessp", int(n).bit_length()))
    return _in_order(outs)


def run_hessp(spec, params, direction, data):
    """The Hessian of the reduced loss times ``direction`` (a dict laid out as params)."""
    _require_blas(spec)
    theta = pack_params(spec, params)
    vector = pack_params(spec, direction, "direction")
    n, arrays = check_data(spec, data)
    out = hessp_sums(spec, theta, vector, n, arrays)
    if spec.reduction == "mean":
        out = out / spec.dtype(n)
    return unpack_params(spec, out)


def run_predict(spec, params, data):
    """The outputs for every sample of ``data`` (its inputs): name -> array, samples first.

    A scalar output comes back as ``(n,)``, a row or column vector of length ``k`` as
    ``(n, k)``, an ``r x c`` matrix as ``(n, r, c)``.
    """
    if spec.predict is None:
        raise InputError(
            f"model {spec.model!r} declares no outputs; pass outputs={{name: expression}} "
            "to symbp.Model to predict"
        )
    _require_blas(spec)
    theta = pack_params(spec, params)
    n, arrays = check_data(spec, data, inputs_only=True)
    outs = [np.empty((n, *_storage(shape)), dtype=spec.dtype) for _, shape in spec.outputs]
    bounds = _partition(n)
    parts = len(bounds) - 1

    def part(k):
        spec.predict(theta, bounds[k], bounds[k + 1], spec.predict_chunk, *outs, *arrays)

    _run_parts(spec, parts, part, ("parts", "predict", int(n).bit_length()))
    return {name: out for (name, _), out in zip(spec.outputs, outs, strict=True)}


# --- pieces for data-parallel drivers (symbp.dask): one block of samples at a time ---
def block_sums(spec, theta, arrays, grad=True, rows=None):
    """Sum of the per-sample losses (and of their gradients) of one block of samples.

    ``theta`` is the packed parameters (pack_params), ``arrays`` the block's data as
    check_data returns them; ``rows`` (int64 indices into the block) restricts the sums
    to those samples, in that order. Serial and deterministic: the caller combines the
    blocks' sums in a fixed order. Returns ``(loss sum, gradient sum or None)``.
    """
    n = arrays[0].shape[0] if arrays else 1
    mode = _GRAD if grad else _LOSS
    out = np.zeros(theta.shape[0] if grad else 0, dtype=spec.dtype)
    total = np.zeros(1, dtype=spec.dtype)
    order, shuffle, hi = _NO_ORDER, False, n
    if rows is not None:
        order = np.ascontiguousarray(np.asarray(rows, dtype=np.int64).reshape(1, -1))
        shuffle, hi = True, order.shape[1]
    _run_kernel(
        spec, mode, theta, np.empty((0, 0), dtype=spec.dtype), out if grad else theta, total,
        np.zeros(2), np.zeros(spec.n_hyper), arrays,
        orders=order, shuffle=shuffle, batch=max(1, spec.chunk), hi=hi,
    )  # fmt: skip
    return float(total[0]), (out if grad else None)


def apply_update(spec, theta, slots, grad_sum, count, step, hyper=None):
    """One optimizer step at step counter ``step`` from a gradient summed over ``count``
    samples (the reduction of a data-parallel step), on theta and slots in place."""
    constants, _ = _check_hyper(spec, hyper)
    grad = np.ascontiguousarray(grad_sum, dtype=spec.dtype)
    _update(spec, theta, slots, grad, step, count, np.zeros(2), constants)
    return theta, slots


def _update(spec, theta, slots, grad, step, count, info, constants):
    """The kernel's update mode: one step from ``grad`` summed over ``count`` samples
    (it reads no data: one row of zeros per data array stands in)."""
    no_data = [np.zeros((1, *_storage(shape)), dtype=spec.dtype) for _, shape in spec.data]
    _run_kernel(
        spec, _UPDATE, theta, slots, grad, np.zeros(1, dtype=spec.dtype), info, constants,
        no_data, t0=int(step), steps=1, batch=int(count), hi=1, limit=False,
    )  # fmt: skip


def block_fit(spec, theta, slots, arrays, t0, steps, batch_size, shuffle, seed, hyper=None):
    """``steps`` optimizer steps on one block's arrays (as check_data returns them) from
    the packed params ``theta`` and optimizer state ``slots`` at step counter ``t0``, in
    place; returns the batch losses. The batches follow run_fit's rule on this block
    alone (``seed`` shuffles it). A step that goes non-finite raises DivergenceError
    exactly as run_fit does (theta and slots are then left as they were given).
    """
    constants, _ = _check_hyper(spec, hyper)
    n = arrays[0].shape[0] if arrays else 1
    steps, batch, per_epoch = _schedule(n, batch_size, steps, None)
    orders, epoch0 = _orders(n, per_epoch, t0, steps, shuffle, seed)
    losses = np.empty(steps, dtype=spec.dtype)
    info = np.zeros(2)
    start = theta.copy(), slots.copy()
    done = _run_kernel(
        spec, _FIT, theta, slots, theta, losses, info, constants, arrays,
        orders=orders, shuffle=shuffle, epoch0=epoch0, t0=t0, steps=steps, batch=batch, hi=n,
    )  # fmt: skip
    if done == steps and info[1] < 0:
        return losses
    theta[:], slots[:] = start  # run_fit replays the steps and raises DivergenceError
    data = dict(zip(_layout(spec)[2], arrays, strict=True))
    state = _state(spec, t0, slots.copy(), seed)
    params = unpack_params(spec, theta)
    run_fit(spec, params, data, steps, None, batch_size, shuffle, seed, state, hyper)
    raise RuntimeError(f"model {spec.model!r}: a diverged block fit did not replay")


def learning_rate(spec, step, hyper=None):
    """The learning rate of the module's optimizer at step counter ``step``."""
    constants, inits = _check_hyper(spec, hyper)
    total = _layout(spec)[1]
    theta = np.zeros(total, dtype=spec.dtype)
    slots = _initial_slots(spec, total, inits).copy()
    info = np.zeros(2)
    _update(spec, theta, slots, theta.copy(), step, 1, info, constants)
    return float(info[0])
