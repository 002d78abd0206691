"""Helpers the example scripts share: the data they ship, generate into generated/, train."""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"


def load_data(name: str) -> dict[str, np.ndarray]:
    """The arrays of ``examples/data/<name>.npz``: data sets the project ships (their
    sources and licences: ``examples/data/README.md``), so no example needs a download
    or scikit-learn."""
    with np.load(DATA / f"{name}.npz", allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


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
