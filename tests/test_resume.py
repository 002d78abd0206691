"""Resumable training: state=, Fit.save and symbp.load_fit continue a fit bit for bit.

The modules are the parity tests' (one case per optimizer, net231 with its 32 samples
in minibatches of 8, so 50 steps end in the middle of an epoch). Every parity test
also runs its case one step at a time through ``state=`` and checks that against one
fit (optim_problems.trajectory).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from optim_problems import REPRESENTATIVES, fit, flat, start, warm

import symbp

KEYS = [
    pytest.param((case_id, "net231", dtype), id=f"{name}-{dtype}")
    for dtype in ("float64", "float32")
    for name, case_id in REPRESENTATIVES.items()
]
ADAM = (REPRESENTATIVES["Adam"], "net231", "float64")


@pytest.fixture(scope="module", autouse=True)
def _compile_in_parallel() -> None:
    warm([param.values[0] for param in KEYS])


def _assert_same_fit(a: symbp.Fit, b: symbp.Fit) -> None:
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name
        assert np.asarray(a.params[name]).dtype == np.asarray(b.params[name]).dtype
    assert np.array_equal(a.losses, b.losses)
    assert a.state["step"] == b.state["step"]
    assert a.state["seed"] == b.state["seed"]
    assert a.state["source_hash"] == b.state["source_hash"]
    assert np.array_equal(a.state["slots"], b.state["slots"])


def _joined(first: symbp.Fit, second: symbp.Fit) -> symbp.Fit:
    return symbp.Fit(second.params, np.concatenate([first.losses, second.losses]), second.state)


@pytest.mark.parametrize("shuffle", [False, True], ids=["in-order", "shuffled"])
@pytest.mark.parametrize("key", KEYS)
def test_two_fits_of_50_steps_equal_one_of_100(key, shuffle):
    seed = 2026 if shuffle else None
    whole = fit(key, start("net231"), 100, shuffle=shuffle, seed=seed)
    first = fit(key, start("net231"), 50, shuffle=shuffle, seed=seed)
    # The second fit gets the seed from the state, as a user resuming would.
    second = fit(key, first.params, 50, shuffle=shuffle, state=first.state)
    assert second.steps == 100
    _assert_same_fit(_joined(first, second), whole)
    # The slots did change: the comparison is not vacuous.
    assert not np.array_equal(first.state["slots"], whole.state["slots"])


def test_uneven_pieces_and_a_fresh_shuffle_seed():
    whole = fit(ADAM, start("net231"), 100, shuffle=True, seed=7)
    fits, params, state = [], start("net231"), None
    for piece in (1, 3, 28, 31, 37):
        part = fit(
            ADAM, params, piece, shuffle=True, state=state, seed=7 if state is None else None
        )
        fits.append(part.losses)
        params, state = part.params, part.state
    assert np.array_equal(np.concatenate(fits), whole.losses)
    assert np.array_equal(flat(params), flat(whole.params))
    # A different seed shuffles differently (so the seed really is carried).
    other = fit(ADAM, start("net231"), 100, shuffle=True, seed=8)
    assert not np.array_equal(other.losses, whole.losses)


def test_progress_bar_fit_is_the_same_fit():
    pytest.importorskip("tqdm")
    whole = fit(ADAM, start("net231"), 150, shuffle=True, seed=3)
    shown = fit(ADAM, start("net231"), 150, shuffle=True, seed=3, progress=True)
    _assert_same_fit(shown, whole)


@pytest.mark.parametrize("key", KEYS)
def test_save_and_load_fit_then_continue(key, tmp_path):
    whole = fit(key, start("net231"), 100, shuffle=True, seed=5)
    first = fit(key, start("net231"), 50, shuffle=True, seed=5)
    path = first.save(tmp_path / "run" / "fit.npz")
    assert path == tmp_path / "run" / "fit.npz"
    assert os.listdir(tmp_path / "run") == ["fit.npz"]  # no temporary file left behind
    loaded = symbp.load_fit(path)
    _assert_same_fit(loaded, first)
    assert list(loaded.params) == list(first.params)
    second = fit(key, loaded.params, 50, shuffle=True, state=loaded.state)
    _assert_same_fit(_joined(loaded, second), whole)


def test_scalar_params_and_stateless_optimizers_round_trip(tmp_path):
    key = ("sgd_plain", "rosenbrock", "float64")
    first = fit(key, start("rosenbrock"), 3)
    loaded = symbp.load_fit(first.save(tmp_path / "sgd.npz"))
    assert isinstance(loaded.params["u"], float) and loaded.params == first.params
    assert loaded.state["slots"].shape == (0, 2)
    assert loaded.state["seed"] is None
    _assert_same_fit(loaded, first)


def test_save_replaces_atomically(tmp_path, monkeypatch):
    key = ADAM
    path = tmp_path / "fit.npz"
    old = fit(key, start("net231"), 2)
    old.save(path)
    before = path.read_bytes()

    def broken_savez(handle, **arrays):
        handle.write(b"PK half a zip file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        fit(key, start("net231"), 3).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["fit.npz"]


def test_state_of_another_optimizer_is_rejected():
    other = (REPRESENTATIVES["Rprop"], "net231", "float64")
    state = fit(other, start("net231"), 2).state
    with pytest.raises(symbp.DataError, match="different model or optimizer"):
        fit(ADAM, start("net231"), 2, state=state)


def _write_npz(path, **arrays):
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def _good_arrays(tmp_path):
    saved = fit(ADAM, start("net231"), 2).save(tmp_path / "good.npz")
    with np.load(saved) as archive:
        return {key: archive[key] for key in archive.files}


def _with_header(arrays, **changes):
    header = json.loads(str(arrays["header"]))
    header.update(changes)
    return {**arrays, "header": np.array(json.dumps(header))}


def _text_file(tmp, good):
    (tmp / "t.npz").write_text("hello")
    return tmp / "t.npz"


def _npy_file(tmp, good):
    np.save(tmp / "a.npy", np.zeros(3))
    return tmp / "a.npy"


BAD_FILES = {
    "missing": (lambda tmp, good: tmp / "nope.npz", "does not exist"),
    "text": (_text_file, "is not an .npz written by Fit.save"),
    "npy": (_npy_file, "it holds a single array"),
    "no header": (
        lambda tmp, good: _write_npz(tmp / "h.npz", losses=good["losses"]),
        "no 'header' entry",
    ),
    "other format": (
        lambda tmp, good: _write_npz(tmp / "f.npz", **_with_header(good, format="x/9")),
        "has format 'x/9'; expected 'symbp-fit/1'",
    ),
    "bad step": (
        lambda tmp, good: _write_npz(tmp / "s.npz", **_with_header(good, step=-1)),
        "step must be a non-negative integer",
    ),
    "missing param": (
        lambda tmp, good: _write_npz(
            tmp / "p.npz", **{k: v for k, v in good.items() if k != "params/W2"}
        ),
        "expected arrays for params ['W1', 'W2']",
    ),
    "slots": (
        lambda tmp, good: _write_npz(tmp / "l.npz", **{**good, "state/slots": np.zeros((3, 4))}),
        "state/slots has shape (3, 4); expected (k, 9)",
    ),
    "strings": (
        lambda tmp, good: _write_npz(tmp / "o.npz", **{**good, "losses": np.array(["a"])}),
        "'losses' must be a 1-D array of real numbers",
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_load_fit_rejects_bad_files_clearly(name, tmp_path):
    make, message = BAD_FILES[name]
    path = make(tmp_path, _good_arrays(tmp_path))
    with pytest.raises(symbp.SymbpError) as err:
        symbp.load_fit(path)
    assert isinstance(err.value, symbp.DataError)
    assert message in str(err.value)
    assert str(path) in str(err.value)
