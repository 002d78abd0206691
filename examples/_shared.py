"""Helpers the example scripts share: generate into generated/ and import from there."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def build(script: str, name: str, model, optimizer, dtype: str) -> ModuleType:
    """Regenerate ``generated/<name>.py`` (only if its content changed) and import it."""
    model.generate(
        ROOT / "generated" / f"{name}.py",
        optimizer,
        dtype,
        command=f"python examples/{script}",
    )
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"generated.{name}")


def build_all(script: str, modules: dict) -> dict[str, ModuleType]:
    """``build`` every (model, optimizer, dtype) of an example's MODULES table."""
    return {name: build(script, name, *spec) for name, spec in modules.items()}
