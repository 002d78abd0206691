"""The compile cache: generated modules keyed by content hash, imported once.

The modules and the runtime they import are written into :func:`cache_dir` by
:mod:`symbp.runtime.loader`, the code symbp's Dask workers run too.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType

from ..emit.module import ModuleSource
from ..errors import EmitError
from ..runtime import loader


def cache_dir() -> Path:
    """``$SYMBP_CACHE_DIR``, else ``$XDG_CACHE_HOME/symbp``, else ``~/.cache/symbp``."""
    return Path(loader.cache_dir())


@functools.cache
def runtime_sources() -> tuple[tuple[str, str], ...]:
    """The runtime's files, read once: ``((name, text), ...)``."""
    return tuple(sorted(loader.runtime_sources().items()))


def load_cached(model_name: str, source: ModuleSource) -> ModuleType:
    """Write ``source`` (and the runtime) into the cache, if not there yet, and import it."""
    folder = loader.cache_dir()
    try:
        return loader.load_module(
            folder, model_name, source.text, source.source_hash, dict(runtime_sources())
        )
    except OSError as err:
        raise EmitError(
            f"cannot write the compile cache in {folder}: {err.strerror or err}"
        ) from None
