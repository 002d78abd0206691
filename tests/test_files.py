"""Generated modules and saved fits: atomic writes, the umask's mode, clear errors."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp import optim

w = sp.Symbol("w")
MODEL = symbp.Model((w - 2) ** 2, params=[w], name="files")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    def set_mask(mask: int) -> None:
        os.umask(mask)

    old = os.umask(0o022)
    yield set_mask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_files_get_the_mode_of_a_plain_write(tmp_path, umask, mask):
    umask(mask)
    module = MODEL.generate(tmp_path / "files.py", optim.SGD(lr=0.1))
    fit = MODEL.compile(optim.SGD(lr=0.1)).fit({"w": 0.0}, steps=2)
    saved = fit.save(tmp_path / "fit.npz")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert mode(module) == mode(saved) == mode(plain) == 0o666 & ~mask
    # no temporary file left behind; the runtime the module imports is written next to it
    names = ["files.py", "fit.npz", "plain.txt", "symbp_runtime"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    runtime = sorted((tmp_path / "symbp_runtime").iterdir())
    assert runtime and all(p.suffix == ".py" and mode(p) == 0o666 & ~mask for p in runtime)


def test_rewriting_keeps_the_mode_of_the_file(tmp_path, umask):
    path = MODEL.generate(tmp_path / "files.py", optim.SGD(lr=0.1))
    os.chmod(path, 0o640)
    MODEL.generate(path, optim.SGD(lr=0.2))  # new content, same file
    assert mode(path) == 0o640 and "lr=0.2" in path.read_text()


def test_file_system_failures_name_the_path(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(symbp.EmitError, match="a_file"):
        MODEL.generate(blocker / "sub" / "m.py", optim.SGD(lr=0.1))
    with pytest.raises(symbp.EmitError, match="is a directory"):
        MODEL.generate(tmp_path, optim.SGD(lr=0.1))
    fit = MODEL.compile(optim.SGD(lr=0.1)).fit({"w": 0.0}, steps=1)
    with pytest.raises(symbp.DataError, match="a_file"):
        fit.save(blocker / "fit.npz")
    assert np.isfinite(fit.losses).all()
