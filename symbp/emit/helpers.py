"""Numba helper functions pasted into the generated modules that call them.

One registry for both levels: the special functions of :mod:`symbp.emit.special`
(``_gamma``, ``_digamma``, ...), the stable ``_sigmoid`` below and the vectorizable
``_tanh`` of :mod:`symbp.emit.matrix.vecmath` register their sources here, and
:func:`helper_sources` returns, for the helpers a kernel's printers recorded, their
decorated sources and those of the helpers they call, dependencies first. A generated module stays self-contained: it
defines every function it calls.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable

from . import special

#: call name -> (decorated source, names of the helpers it calls)
HELPERS: dict[str, tuple[str, tuple[str, ...]]] = {}

#: The decorator of a pasted helper.
DECORATOR = '@numba.njit(cache=True, error_model="numpy")'


def register_source(name: str, source: str, depends: Iterable[str] = ()) -> None:
    """Register a helper by its full source text (decorator included)."""
    HELPERS[name] = (source, tuple(depends))


def register_function(func: Callable[..., object], depends: Iterable[str] = ()) -> None:
    """Register a plain Python function; it is pasted with :data:`DECORATOR`."""
    source = DECORATOR + "\n" + inspect.getsource(func)
    register_source(func.__name__, source, depends)


def helper_sources(names: Iterable[str]) -> list[str]:
    """Sources of the helpers ``names`` (and of their dependencies), dependencies first.

    ``names`` are what the printers recorded the kernels call
    (:meth:`symbp.emit.printer.NumbaPrinter.helper`)."""
    needed: set[str] = set()
    pending = [name for name in names if name in HELPERS]
    while pending:
        name = pending.pop()
        if name not in needed:
            needed.add(name)
            pending.extend(HELPERS[name][1])
    return [source for name, (source, _) in HELPERS.items() if name in needed]


SIGMOID_SOURCE = '''\
@numba.njit(cache=True, error_model="numpy")
def _sigmoid(x):
    """1 / (1 + exp(-x)) without overflow: exp only ever sees -|x| (one exp, no branch)."""
    e = math.exp(-abs(x))
    return (1.0 if x >= 0.0 else e) / (1.0 + e)
'''

SIGMOIDF_SOURCE = '''\
@numba.njit(cache=True, error_model="numpy")
def _sigmoidf(x):
    """The float32 _sigmoid."""
    e = math.exp(-abs(x))
    return (np.float32(1.0) if x >= np.float32(0.0) else e) / (np.float32(1.0) + e)
'''


def _register_special() -> None:
    for name in special.FUNCTIONS:  # dependencies first, so registration order is valid
        register_function(getattr(special, name), special.DEPENDENCIES[name])


_register_special()
register_source("_sigmoid", SIGMOID_SOURCE)
register_source("_sigmoidf", SIGMOIDF_SOURCE)
