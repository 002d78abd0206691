# --- symbp runtime: input validation and kernel drivers (copied into every module) ---
# This file is inlined verbatim into each generated module so that the module needs
# only numpy, numba and the standard library. The symbp Trainer calls the generated
# module's functions, so both run this very code.
import importlib.util
import math
from typing import NamedTuple

import numpy as np

# --- begin runtime ---


class InputError(ValueError):
    """Params, data or options passed to a generated module are invalid."""


class FitResult(NamedTuple):
    """Trained params (declared shapes), per-step batch losses, and resumable state."""

    params: dict
    losses: np.ndarray
    state: dict


class Spec(NamedTuple):
    """Everything the drivers need to know about one generated module."""

    model: str
    dtype: type
    params: tuple  # (name, shape, offset)
    data: tuple  # (name, shape) of inputs then targets
    reduction: str
    slots: tuple  # (name, initial value) of per-element optimizer state
    source_hash: str
    loss_kernel: object
    grad_kernel: object
    fit_kernel: object
    blas: bool  # the kernels call np.dot, which Numba runs through SciPy's BLAS


_FOUND = {}


def _require_blas(spec):
    """Say that SciPy is missing before Numba fails to compile an np.dot in a traceback."""
    if not spec.blas:
        return
    if "scipy" not in _FOUND:
        _FOUND["scipy"] = importlib.util.find_spec("scipy") is not None
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


def pack_params(spec, params):
    """Validate ``params`` and pack them into one flat array in declaration order."""
    names = [name for name, _, _ in spec.params]
    _check_keys(params, names, "params")
    total = sum(_size(shape) for _, shape, _ in spec.params)
    theta = np.empty(total, dtype=spec.dtype)
    for name, shape, offset in spec.params:
        value = params[name]
        if type(value) is float and not shape and math.isfinite(value):
            theta[offset] = value  # the common scalar case, without a 0-d array
            continue
        array = _as_real_array(name, value, spec.dtype, "param")
        if array.shape != shape and not (shape == () and array.shape == (1,)):
            raise InputError(
                f"param {name!r} has shape {array.shape}; expected {shape if shape else 'a scalar'}"
            )
        theta[offset : offset + _size(shape)] = array.reshape(-1)
    return theta


def unpack_params(spec, theta):
    """Flat array -> dict of declared shapes (scalars become Python floats)."""
    result = {}
    for name, shape, offset in spec.params:
        chunk = theta[offset : offset + _size(shape)]
        result[name] = float(chunk[0]) if shape == () else chunk.reshape(shape).copy()
    return result


def _accepted_shapes(shape):
    shapes = [shape]
    if shape == ():
        shapes.append((1,))
    elif shape[0] == 1 or shape[1] == 1:
        shapes.append((_size(shape),))
    return shapes


def check_data(spec, data):
    """Validate ``data``; return (sample count, arrays shaped (n, *declared shape))."""
    names = [name for name, _ in spec.data]
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
    for name, shape in spec.data:
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
        arrays.append(np.ascontiguousarray(array.reshape((count, *shape))))
    if count == 0:
        raise InputError("data has no samples (first axis of length 0)")
    return count, tuple(arrays)


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _initial_slots(spec, total):
    slots = np.empty((len(spec.slots), total), dtype=spec.dtype)
    for k, (_, value) in enumerate(spec.slots):
        slots[k, :] = value
    return slots


def initial_state(spec):
    """Optimizer state before the first step."""
    slots = _initial_slots(spec, sum(_size(shape) for _, shape, _ in spec.params))
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
        return np.arange(n, dtype=np.int64).reshape(1, n), 0
    first = t0 // per_epoch
    last = (t0 + steps - 1) // per_epoch
    rows = [np.random.default_rng([seed, epoch]).permutation(n) for epoch in range(first, last + 1)]
    return np.ascontiguousarray(np.array(rows, dtype=np.int64)), first


def run_fit(spec, params, data, steps, epochs, batch_size, shuffle, seed, state):
    """Validate everything, then run the whole training loop in the fit kernel."""
    if spec.fit_kernel is None:
        raise InputError(f"model {spec.model!r} was generated without an optimizer; it cannot fit")
    _require_blas(spec)
    theta = pack_params(spec, params)
    n, arrays = check_data(spec, data)
    if not spec.data and batch_size is not None:
        raise InputError("batch_size needs data; this model has no inputs or targets")
    steps, batch, per_epoch = _schedule(n, batch_size, steps, epochs)
    if not isinstance(shuffle, bool):
        raise InputError(f"shuffle must be True or False, got {shuffle!r}")
    if state is None:
        t0, slots = 0, _initial_slots(spec, theta.shape[0])
    else:
        t0, slots = _check_state(spec, state, theta.shape[0])
        if seed is None:
            seed = state.get("seed")
    if shuffle and seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
    ):
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    orders, epoch0 = _orders(n, per_epoch, t0, steps, shuffle, seed)
    losses = np.empty(steps, dtype=spec.dtype)
    spec.fit_kernel(theta, slots, orders, epoch0, shuffle, t0, steps, batch, n, losses, *arrays)
    new_state = {"step": t0 + steps, "slots": slots, "seed": seed, "source_hash": spec.source_hash}
    return FitResult(unpack_params(spec, theta), losses, new_state)


def run_loss(spec, params, data):
    """The loss reduced over all samples of ``data``, as a float."""
    _require_blas(spec)
    theta = pack_params(spec, params)
    n, arrays = check_data(spec, data)
    order = np.arange(n, dtype=np.int64)
    total = spec.loss_kernel(theta, order, 0, n, *arrays)
    return float(total / n) if spec.reduction == "mean" else float(total)


def run_grad(spec, params, data):
    """The gradient of the reduced loss: dict name -> array (or float for scalars)."""
    _require_blas(spec)
    theta = pack_params(spec, params)
    n, arrays = check_data(spec, data)
    order = np.arange(n, dtype=np.int64)
    out = np.zeros_like(theta)
    spec.grad_kernel(theta, order, 0, n, out, *arrays)
    if spec.reduction == "mean":
        out = out / spec.dtype(n)
    return unpack_params(spec, out)
