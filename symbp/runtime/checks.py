# symbp runtime: symbp writes this file next to generated modules; do not edit it.
"""Validation before any compiled code runs: params, data, options, optimizer numbers, state.

Every check names the offending array, option or value and says what was expected; the
kernels only ever see arrays of the declared shapes and the module's precision.
"""

import math

import numpy as np

from .spec import InputError, size_of


def storage(shape):
    """Per-sample shape of a data array as the kernel reads it: vectors are flat."""
    if len(shape) == 2 and (shape[0] == 1 or shape[1] == 1):
        return (shape[0] * shape[1],)
    return shape


def accepted_shapes(shape):
    """The per-sample shapes a data array of declared ``shape`` may have."""
    shapes = [shape]
    if shape == ():
        shapes.append((1,))
    elif shape[0] == 1 or shape[1] == 1:
        shapes.append((size_of(shape),))
    return shapes


def first_bad(array):
    """Index of the first non-finite element, as a tuple (or () for a scalar)."""
    flat = np.flatnonzero(~np.isfinite(array))
    return tuple(int(i) for i in np.unravel_index(flat[0], array.shape)) if array.ndim else ()


def real_array(name, value, dtype, what):
    """``value`` as a finite array of ``dtype`` (not copied: callers copy what a kernel writes)."""
    try:
        array = np.asarray(value)
    except Exception as err:
        raise InputError(f"{what} {name!r} is not array-like: {err}") from None
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise InputError(
            f"{what} {name!r} has dtype {array.dtype}; expected real numbers (float or int)"
        )
    array = array.astype(dtype, copy=False)
    if not np.isfinite(array).all():
        raise InputError(f"{what} {name!r} has a non-finite value at index {first_bad(array)}")
    return array


def check_keys(given, expected, what):
    """``given`` is a dict with exactly the names ``expected``."""
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


def pack_params(spec, params, what="param"):
    """Validate ``params`` and pack them into one flat array in declaration order.

    ``what`` names the values in error messages (``"direction"`` for a Hessian-vector
    product's ``v``, laid out as the params)."""
    check_keys(params, spec.names, what + "s")
    theta = np.empty(spec.size, dtype=spec.dtype)
    for name, shape, offset in spec.params:
        value = params[name]
        if type(value) is float and not shape and math.isfinite(value):
            theta[offset] = value  # the common scalar case, without a 0-d array
            continue
        array = real_array(name, value, spec.dtype, what)
        if array.shape != shape and not (shape == () and array.shape == (1,)):
            raise InputError(
                f"{what} {name!r} has shape {array.shape}; expected {shape if shape else 'a scalar'}"
            )
        theta[offset : offset + size_of(shape)] = array.reshape(-1)
    return theta


def unpack_params(spec, theta):
    """Flat array -> dict of declared shapes (scalars become Python floats)."""
    result = {}
    for name, shape, offset in spec.params:
        if shape == ():
            result[name] = float(theta[offset])
        else:
            result[name] = theta[offset : offset + size_of(shape)].reshape(shape).copy()
    return result


def check_data(spec, data, inputs_only=False):
    """Validate ``data``; return (sample count, arrays in the kernel's storage layout).

    ``inputs_only``: the inputs are required and the targets, if given, are ignored.
    """
    names = spec.data_names
    if inputs_only:
        names = names[: spec.n_inputs]
        if not names:
            return 1, ()
        if data is not None and hasattr(data, "keys"):
            targets = spec.data_names[spec.n_inputs :]
            data = {k: v for k, v in data.items() if k not in targets}
    if not names:
        if data:
            raise InputError(
                f"model {spec.model!r} has no inputs or targets; pass data=None, got keys {sorted(data)}"
            )
        return 1, ()
    if data is None:
        raise InputError(f"data is required: expected arrays for {names}")
    check_keys(data, names, "data")
    arrays = []
    count = None
    for name, shape in spec.data[: len(names)]:
        array = real_array(name, data[name], spec.dtype, "data")
        if array.ndim == 0:
            raise InputError(f"data {name!r} is a scalar; expected a first axis of samples")
        if count is None:
            count = array.shape[0]
        elif array.shape[0] != count:
            raise InputError(
                f"data {name!r} has {array.shape[0]} samples, but {spec.data[0][0]!r} has {count}"
            )
        if array.shape[1:] not in accepted_shapes(shape):
            expected = " or ".join(str((count, *s)) for s in accepted_shapes(shape))
            raise InputError(f"data {name!r} has shape {array.shape}; expected {expected}")
        arrays.append(np.ascontiguousarray(array.reshape((count, *storage(shape)))))
    if count == 0:
        raise InputError("data has no samples (first axis of length 0)")
    return count, tuple(arrays)


def positive_int(name, value):
    """A positive integer option."""
    if type(value) is int and value >= 1:
        return value  # the common case, quickly
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_hyper(spec, hyper):
    """The optimizer's numbers: ``(constants, initial state values)``, as arrays.

    A Trainer passes the same tuple at every fit: the arrays of the last one are kept.
    """
    if hyper is None:
        hyper = spec.hyper
    last = spec.cache.get("hyper")
    if last is not None and last[0] is hyper:
        return last[1], last[2]
    constants, inits = _hyper_arrays(spec, hyper)
    if type(hyper) is tuple and all(type(part) in (tuple, str) for part in hyper):
        spec.cache["hyper"] = (hyper, constants, inits)  # immutable: safe to keep
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


def initial_slots(spec, inits):
    """The optimizer state of every element before the first step."""
    if not spec.slots:  # nothing to write: one empty array serves every fit
        empty = spec.cache.get("no_slots")
        if empty is None:
            empty = spec.cache["no_slots"] = np.empty((0, spec.size), dtype=spec.dtype)
        return empty
    slots = np.empty((len(spec.slots), spec.size), dtype=spec.dtype)
    for k, value in enumerate(inits):
        slots[k, :] = value
    return slots


def make_state(spec, step, slots, seed):
    """The resumable state of a fit after ``step`` steps."""
    return {"step": step, "slots": slots, "seed": seed, "source_hash": spec.source_hash}


def initial_state(spec, hyper=None):
    """Optimizer state before the first step (the optimizer's initial slots; none without one)."""
    if not spec.can_fit:
        return make_state(spec, 0, np.empty((0, spec.size), dtype=spec.dtype), None)
    _, inits = check_hyper(spec, hyper)
    return make_state(spec, 0, initial_slots(spec, inits), None)


def check_state(spec, state):
    """``(step, slots copy)`` of the ``.state`` of an earlier fit of this module."""
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
    if slots.shape != (len(spec.slots), spec.size):
        raise InputError(
            f"state['slots'] has shape {slots.shape}; expected {(len(spec.slots), spec.size)}"
        )
    slots = real_array("slots", slots, spec.dtype, "state")
    return int(step), slots.copy()


def schedule(n, batch_size, steps, epochs):
    """``(steps, batch, batches per epoch)`` of a fit on ``n`` samples (DESIGN's batching)."""
    if (steps is None) == (epochs is None):
        raise InputError("give exactly one of steps= or epochs=")
    batch = n if batch_size is None else positive_int("batch_size", batch_size)
    per_epoch = (n + batch - 1) // batch
    if steps is not None:
        return positive_int("steps", steps), batch, per_epoch
    return positive_int("epochs", epochs) * per_epoch, batch, per_epoch


def fit_start(spec, shuffle, seed, state, inits):
    """Check a fit's shuffle, seed and state: ``(first step, optimizer state, seed)``.

    The seed of a resumed fit is its state's unless given; a shuffled fit without one
    draws a fresh seed (kept in the result's state, so it resumes exactly)."""
    if shuffle is not False and shuffle is not True:
        raise InputError(f"shuffle must be True or False, got {shuffle!r}")
    if state is None:
        t0, slots = 0, initial_slots(spec, inits)
    else:
        t0, slots = check_state(spec, state)
        if seed is None:
            seed = state.get("seed")
    if shuffle and seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
    ):
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    return t0, slots, seed
