"""The symbp command line, and fit(progress=True)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from conftest import EXAMPLES, ROOT, load_example

import symbp
from symbp import optim
from symbp.cli import main

MODEL = """\
import sympy as sp
import symbp
from symbp import optim

w, b, x, y = sp.symbols("w b x y")
line = symbp.Model((w * x + b - y) ** 2, params=[w, b], inputs=[x], targets=[y], name="cli_line")
optimizer = optim.SGD(lr=0.1)
params = {"w": 0.0, "b": 0.0}
"""


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "symbp", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
        timeout=300,
    )


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "line.py"
    path.write_text(MODEL)
    return path


def test_help_lists_every_command():
    result = run("--help")
    assert result.returncode == 0
    for command in ("demo", "generate", "latex", "train", "predict", "FILE.py:NAME"):
        assert command in result.stdout
    assert run("latex", "--help").returncode == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["latex", "missing.py"], "no such file: missing.py"),
        (["latex", "notes.txt"], "expected FILE.py or FILE.py:NAME"),
        (["generate", "{model}", "-o", "x.py", "--optimizer", "Nope(1)"], "is not valid"),
        (["generate", "{model}", "-o", "x.py", "--optimizer", "SGD(lr=-1)"], "lr must be"),
        (["latex", "{model}", "--values", "missing.json"], "cannot read missing.json"),
        (["latex", "{model}:params"], "is a dict, not a symbp.Model"),
        (["train", "{model}"], "--steps N or --epochs E"),
        (["latex", "{model}", "-o", "{model}/out.tex"], "a parent of it is a file"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_errors_are_one_line_without_traceback(args, message, model_file, tmp_path, capsys):
    args = [a.replace("{model}", str(model_file)) for a in args]
    with pytest.raises(SystemExit) if args[0] == "frobnicate" else _nothing():
        code = main(args)
        assert code == 1
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_latex_writes_tex_and_values(model_file, tmp_path, capsys):
    values = tmp_path / "values.json"
    values.write_text(json.dumps({"w": 0.5, "b": 0.2, "x": 0.7, "y": 2.9}))
    out = tmp_path / "line.tex"
    assert main(["latex", str(model_file), "-o", str(out), "--values", str(values)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    text = out.read_text()
    assert text.startswith(r"\documentclass") and "-4.7" in text and r"\eta_t" in text
    assert main(["latex", str(model_file), "--fragment"]) == 0
    assert capsys.readouterr().out.startswith(r"\begin{aligned}")


def test_generate_and_train_from_the_shell(model_file, tmp_path):
    out = tmp_path / "kernels.py"
    result = run("generate", f"{model_file}:line", "-o", str(out), "--dtype", "float32")
    assert result.returncode == 0, result.stderr
    assert "symbp generate" in out.read_text()
    rng = np.random.default_rng(0)
    xs = rng.random(40)
    np.savez(tmp_path / "data.npz", x=xs, y=2 * xs + 1)
    result = run(
        "train",
        str(model_file),
        "--data",
        str(tmp_path / "data.npz"),
        "--epochs",
        "400",
        "--batch-size",
        "8",
        "--out",
        str(tmp_path / "trained.npz"),
    )
    assert result.returncode == 0, result.stderr
    assert "final loss on all data" in result.stdout
    trained = np.load(tmp_path / "trained.npz")
    assert float(trained["w"]) == pytest.approx(2, abs=0.1)
    assert float(trained["b"]) == pytest.approx(1, abs=0.05)


PREDICT_MODEL = """\
import sympy as sp
import symbp

w, b, x, y = sp.symbols("w b x y")
line = symbp.Model((w * x + b - y) ** 2, params=[w, b], inputs=[x], targets=[y],
                   outputs={"yhat": w * x + b, "both": sp.Matrix([[w * x, b]])}, name="cli_predict")
"""


def test_predict_from_the_shell(tmp_path, capsys):
    model = tmp_path / "predict.py"
    model.write_text(PREDICT_MODEL)
    np.savez(tmp_path / "params.npz", w=np.array(2.0), b=np.array(-1.0))
    np.savez(tmp_path / "test.npz", x=np.arange(5.0))
    out = tmp_path / "out.npz"
    args = ["predict", str(model), "--params", str(tmp_path / "params.npz")]
    assert main([*args, "--data", str(tmp_path / "test.npz"), "-o", str(out)]) == 0
    assert "yhat (5,)" in capsys.readouterr().out
    with np.load(out) as result:
        np.testing.assert_allclose(result["yhat"], 2 * np.arange(5.0) - 1)
        np.testing.assert_allclose(result["both"], np.stack([2 * np.arange(5.0), -np.ones(5)], 1))
    # a saved Fit works as the params file too
    trainer = load_example_free_model(model).compile(optim.SGD(lr=0.1))
    fit = trainer.fit({"w": 2.0, "b": -1.0}, {"x": np.arange(5.0), "y": np.zeros(5)}, steps=1)
    fit.save(tmp_path / "fit.npz")
    assert main(["predict", str(model), "--params", str(tmp_path / "fit.npz"), "--data",
                 str(tmp_path / "test.npz"), "-o", str(out)]) == 0  # fmt: skip
    with np.load(out) as result:
        np.testing.assert_allclose(
            result["yhat"], fit.params["w"] * np.arange(5.0) + fit.params["b"]
        )
    assert main(["predict", str(model), "--params", str(tmp_path / "missing.npz"), "--data",
                 str(tmp_path / "test.npz"), "-o", str(out)]) == 1  # fmt: skip
    assert "missing.npz" in capsys.readouterr().err


def load_example_free_model(path):
    """The Model a user file defines (the CLI's own loader)."""
    from symbp.cli import load_namespace

    return load_namespace(str(path))[0]


def test_demo_runs_one_seed_example():
    result = run("demo", "seed_000", cwd=EXAMPLES.parent)
    assert result.returncode == 0, result.stderr
    assert "named forward quantities: u, L" in result.stdout
    assert "generated module: generated/seed_000.py" in result.stdout
    assert "After 39 epoch,w is -1.000000,loss is 0.000000" in result.stdout


def test_fit_with_progress_matches_and_shows_a_bar(capsys):
    pytest.importorskip("tqdm")
    example = load_example("seed_003")
    trainer = example.model.compile(optim.SGD(lr=example.DECAY), "float64")
    plain = trainer.fit({"w": 5.0}, steps=250)
    shown = trainer.fit({"w": 5.0}, steps=250, progress=True)
    np.testing.assert_array_equal(plain.losses, shown.losses)
    assert plain.params["w"] == shown.params["w"]
    err = capsys.readouterr().err
    assert "250/250" in err and "loss=" in err


def test_progress_needs_steps_or_epochs():
    w = sp.Symbol("w")
    trainer = symbp.Model((w + 1) ** 2, params=[w], name="seed_000").compile(
        optim.SGD(lr=0.2), "float32"
    )
    with pytest.raises(symbp.SymbpError):
        trainer.fit({"w": 5.0}, progress=True)
