"""Shared fixtures: example loading, seeded generators, the hypothesis profile."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SHARED = ROOT.parent / "shared"

settings.register_profile("symbp", deadline=None, max_examples=40, derandomize=True)
settings.load_profile("symbp")


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` without running its main()."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    module_name = f"_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def generated(name: str) -> ModuleType:
    """Import ``generated/<name>.py`` as the package module users import."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"generated.{name}")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator (never the global NumPy state)."""
    return np.random.default_rng(20261122)
