"""The compile cache: generated modules keyed by content hash, imported once."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path
from types import ModuleType

from ..emit.module import ModuleSource, write_if_changed
from ..errors import EmitError

#: Held while a generated module is written and imported: a thread that asks for a
#: module another thread is still executing waits for it instead of getting it half done.
_IMPORT_LOCK = threading.RLock()


def cache_dir() -> Path:
    """``$SYMBP_CACHE_DIR``, else ``$XDG_CACHE_HOME/symbp``, else ``~/.cache/symbp``."""
    explicit = os.environ.get("SYMBP_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "symbp"


def import_path(path: Path, module_name: str) -> ModuleType:
    """Import a generated file under a fixed name and register it in ``sys.modules``.

    Numba's on-disk cache only loads when a module is always imported under the same
    name, so the name is derived from the content hash, never from a counter.
    """
    with _IMPORT_LOCK:
        loaded = sys.modules.get(module_name)
        if loaded is not None and getattr(loaded, "__file__", None) == str(path):
            return loaded
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise EmitError(f"cannot import generated module {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        return module


def load_cached(model_name: str, source: ModuleSource) -> ModuleType:
    """Write ``source`` into the cache (if not there yet) and import it."""
    short = source.source_hash[:16]
    module_name = f"symbp_{model_name}_{short}"
    path = cache_dir() / f"{module_name}.py"
    with _IMPORT_LOCK:
        write_if_changed(path, source.text)
        return import_path(path, module_name)
