"""Helpers the example scripts share: generate into generated/ and train."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(script: str, name: str, model, optimizer, dtype: str):
    """Regenerate ``generated/<name>.py`` (only if its content changed); return a Trainer.

    The shipped module and the Trainer hold the same kernels (the Trainer's copy reads
    the optimizer's numbers at run time, so other learning rates reuse its compile);
    running the example through the Trainer compiles each kernel once, not twice. The
    tests run the shipped modules themselves and check they print the same traces.
    """
    model.generate(
        ROOT / "generated" / f"{name}.py",
        optimizer,
        dtype,
        command=f"python examples/{script}",
    )
    return model.compile(optimizer, dtype)


def build_all(script: str, modules: dict) -> dict:
    """``build`` every (model, optimizer, dtype) of an example's MODULES table."""
    return {name: build(script, name, *spec) for name, spec in modules.items()}
