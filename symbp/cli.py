"""The ``symbp`` command line: demo, generate, latex, train (also ``python -m symbp``)."""

from __future__ import annotations

import argparse
import json
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

from . import optim, schedules
from .errors import SymbpError
from .explain.scalar import explain
from .files import atomic_savez, atomic_write
from .model import Model
from .train.fit import load_fit

EXAMPLES = ("seed_000", "seed_001", "seed_002", "seed_003", "seed_004")

DESCRIPTION = """\
Backpropagation as compiled, readable code: a SymPy model -> its reverse-mode
derivation -> a generated module of Numba kernels -> training.

A TARGET is a Python file that defines a symbp.Model, as FILE.py, or FILE.py:NAME
when the file defines several. If the file also defines `optimizer` (and, for
`train`, `params` or `PARAMS`), those are used unless an option overrides them.

examples:
  symbp demo                                   run every seed tutorial end to end
  symbp generate examples/seed_000.py -o quad.py --optimizer 'SGD(lr=0.2)'
  symbp latex examples/seed_004.py -o seed_004.tex --pdf --values values.json
  symbp train model.py --data data.npz --params init.npz --steps 1000 \\
        --optimizer 'Adam(lr=0.01)' --out trained.npz
  symbp predict model.py --params trained.npz --data test.npz -o outputs.npz
"""


class CliError(SymbpError):
    """A command-line usage problem."""


def _examples_dir() -> Path:
    """The repository's examples/ folder (the demo runs the shipped seed examples)."""
    here = Path(__file__).resolve().parents[1] / "examples"
    if here.is_dir():
        return here
    return Path.cwd() / "examples"


def _plain(tex: str) -> str:
    """A LaTeX name in plain text, for terminal summaries."""
    for old, new in (("\\hat{y}", "ŷ"), ("\\bar{", "bar{"), ("{", ""), ("}", ""), ("\\", "")):
        tex = tex.replace(old, new)
    return tex


def summary(model: Any) -> str:
    """Two lines: the named forward quantities and the adjoints in sweep order."""
    ex = explain(model.derivation)
    d = model.derivation
    forward = ", ".join(_plain(q.name.tex()) for q in ex.quantities)
    backward = ", ".join(_plain(a.child.name.tex()) for a in ex.adjoints)
    return (
        f"derivation of {model.name!r}: {len(d.forward)} forward and {len(d.adjoint)} adjoint "
        f"steps -> {len(model.program.statements)} statements after simplification\n"
        f"  named forward quantities: {forward}\n"
        f"  adjoints in sweep order:  {backward}"
    )


def cmd_demo(args: argparse.Namespace) -> int:
    """Run every seed example end to end."""
    folder = _examples_dir()
    if not folder.is_dir():
        raise CliError(f"examples/ not found next to the package or in {Path.cwd()}")
    unknown = [name for name in args.only if name not in EXAMPLES]
    if unknown:
        raise CliError(f"unknown example {unknown[0]!r}; choose from {', '.join(EXAMPLES)}")
    sys.path.insert(0, str(folder))
    total = time.perf_counter()
    for name in args.only or EXAMPLES:
        script = folder / f"{name}.py"
        print(f"\n=== {name}: {script.relative_to(folder.parent)} ===", flush=True)
        start = time.perf_counter()
        namespace = runpy.run_path(str(script), run_name=f"_symbp_demo_{name}")
        models = {id(v): v for v in namespace.values() if isinstance(v, Model)}
        for model in models.values():
            print(summary(model))
        for module in namespace.get("MODULES", {}):
            print(f"  generated module: generated/{module}.py")
        namespace["main"]()
        print(f"--- {name} done in {time.perf_counter() - start:.1f} s", flush=True)
    print(f"\nall examples done in {time.perf_counter() - total:.1f} s")
    return 0


def load_namespace(spec: str) -> tuple[Any, dict[str, Any], str]:
    """Run ``FILE.py[:NAME]`` and return (its Model, its namespace, the file's path)."""
    path_text, _, name = spec.partition(":")
    path = Path(path_text)
    if path.suffix != ".py":
        raise CliError(f"expected FILE.py or FILE.py:NAME, got {spec!r}")
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    sys.path.insert(0, str(path.resolve().parent))
    try:
        namespace = runpy.run_path(str(path), run_name="_symbp_user")
    except SymbpError as err:
        raise SymbpError(f"{path}: {err}") from None
    except SystemExit:
        raise CliError(f"{path} called exit() while being loaded") from None
    except Exception as err:
        raise CliError(f"{path} failed to run: {type(err).__name__}: {err}") from None
    if name:
        if name not in namespace:
            raise CliError(f"{path} defines no {name!r}")
        model = namespace[name]
        if not isinstance(model, Model):
            raise CliError(f"{path}:{name} is a {type(model).__name__}, not a symbp.Model")
    else:
        models = sorted(k for k, v in namespace.items() if isinstance(v, Model))
        if len(models) != 1:
            found = ", ".join(models) or "none"
            raise CliError(
                f"{path} defines {len(models)} Models ({found}); name one as FILE.py:NAME"
            )
        model = namespace[models[0]]
    return model, namespace, str(path)


def load_target(spec: str) -> tuple[Any, Any]:
    """Load ``FILE.py[:NAME]``: the Model (and the optimizer named ``optimizer``, if any)."""
    model, namespace, _ = load_namespace(spec)
    return model, namespace.get("optimizer")


def parse_optimizer(text: str | None, default: Any = None) -> Any:
    """``'SGD(lr=0.1, momentum=0.9)'`` -> the optimizer (schedules may be used inside)."""
    if not text:
        return default
    names = {k: v for k, v in vars(schedules).items() if not k.startswith("_")}
    names.update({k: v for k, v in vars(optim).items() if not k.startswith("_")})
    try:
        value = eval(text, {"__builtins__": {}}, names)
    except SymbpError:
        raise
    except Exception as err:
        choices = ", ".join(sorted(k for k in vars(optim) if k[:1].isupper() and k != "UpdateRule"))
        raise CliError(
            f"--optimizer {text!r} is not valid ({type(err).__name__}: {err}); "
            f"write e.g. 'SGD(lr=0.1)' with one of: {choices}"
        ) from None
    if not isinstance(value, optim.Optimizer):
        raise CliError(f"--optimizer {text!r} is a {type(value).__name__}, not an optimizer")
    return value


def cmd_generate(args: argparse.Namespace) -> int:
    """Write a generated module for a model defined in a Python file."""
    model, optimizer = load_target(args.target)
    optimizer = parse_optimizer(args.optimizer, optimizer)
    command = f"symbp generate {args.target} -o {args.output}"
    if args.optimizer:
        command += f" --optimizer '{args.optimizer}'"
    if args.dtype != "float64":
        command += f" --dtype {args.dtype}"
    path = model.generate(args.output, optimizer, args.dtype, command=command, overwrite=args.force)
    print(path)
    return 0


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as err:
        raise CliError(f"cannot read {path}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise CliError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise CliError(f"{path} must hold a JSON object name -> number or nested list")
    return data


def _read_npz(path: str, what: str) -> dict[str, Any]:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except OSError as err:
        raise CliError(f"cannot read {what} {path}: {err}") from None
    except ValueError as err:
        raise CliError(f"{what} {path} is not a NumPy .npz archive: {err}") from None


def pdflatex(tex_path: Path) -> Path:
    """Compile ``tex_path`` with pdflatex into a PDF beside it; one clear error if it fails."""
    exe = shutil.which("pdflatex")
    if exe is None:
        raise CliError(
            "pdflatex not found; install TeX Live (Debian/Ubuntu: apt-get install "
            "texlive-latex-base) or drop --pdf"
        )
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [exe, "-interaction=nonstopmode", "-halt-on-error", tex_path.name],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "TEXINPUTS": f"{tex_path.resolve().parent}{os.pathsep}"},
        )
        pdf = Path(tmp) / (tex_path.stem + ".pdf")
        if result.returncode != 0 or not pdf.exists():
            errors = [line for line in result.stdout.splitlines() if line.startswith("!")]
            raise CliError(f"pdflatex failed on {tex_path}: {errors[0] if errors else 'see log'}")
        out = tex_path.with_suffix(".pdf")
        shutil.copyfile(pdf, out)
    return out


def cmd_latex(args: argparse.Namespace) -> int:
    """Print or write the derivation as LaTeX (optionally compiled to PDF)."""
    model, namespace, _ = load_namespace(args.target)
    optimizer = parse_optimizer(args.optimizer, namespace.get("optimizer"))
    values = _read_json(args.values) if args.values else None
    if args.pdf and args.fragment:
        raise CliError("--pdf needs a whole document; drop --fragment")
    if args.pdf and not args.output:
        raise CliError("--pdf needs -o OUT.tex (the PDF is written beside it)")
    text = model.latex(
        document=not args.fragment,
        optimizer=optimizer,
        values=values,
        closed_form=True if args.closed_form else None,
    )
    if not args.output:
        sys.stdout.write(text)
        return 0
    out = _write(args.output, text.encode("utf-8"))
    print(out)
    if args.pdf:
        print(pdflatex(out))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model from the shell on arrays in an .npz file."""
    import numpy as np

    model, namespace, path = load_namespace(args.target)
    optimizer = parse_optimizer(args.optimizer, namespace.get("optimizer"))
    if optimizer is None:
        raise CliError(f"{path} defines no `optimizer`; pass e.g. --optimizer 'SGD(lr=0.1)'")
    if args.params:
        params = _read_npz(args.params, "--params")
    else:
        params = namespace.get("params", namespace.get("PARAMS"))
        if params is None:
            raise CliError(f"{path} defines no `params` dict; pass --params INIT.npz")
    data = _read_npz(args.data, "--data") if args.data else None
    if args.steps is None and args.epochs is None:
        raise CliError("say how long to train: --steps N or --epochs E")
    trainer = model.compile(optimizer, args.dtype)
    start = time.perf_counter()
    fit = trainer.fit(
        params,
        data,
        steps=args.steps,
        epochs=args.epochs,
        batch_size=args.batch_size,
        shuffle=args.shuffle,
        seed=args.seed,
        progress=args.progress,
    )
    seconds = time.perf_counter() - start
    losses = fit.losses
    every = max(1, len(losses) // 10)
    print(f"{model.name}: {len(losses)} steps of {optimizer.describe()} in {args.dtype}")
    for i in range(0, len(losses), every):
        print(f"  step {i:>7}  batch loss {float(losses[i]):.8g}")
    print(f"  final loss on all data {trainer.loss(fit.params, data):.8g}  ({seconds:.2f} s)")
    if args.out:
        out = _write_npz(args.out, {k: np.asarray(v) for k, v in fit.params.items()})
        print(f"trained params: {out}")
    return 0


def _read_params(path: str) -> dict[str, Any]:
    """Params from a saved fit (``Fit.save``) or a plain ``.npz`` of arrays (``train --out``)."""
    archive = _read_npz(path, "--params")
    if "header" in archive:
        return dict(load_fit(path).params)
    return {k: (float(v) if v.ndim == 0 else v) for k, v in archive.items()}


def cmd_predict(args: argparse.Namespace) -> int:
    """Compute a model's outputs for the inputs in an .npz file, into another .npz."""
    model, _, path = load_namespace(args.target)
    if not model.outputs:
        raise CliError(
            f"{path}: model {model.name!r} declares no outputs (Model(..., outputs=...))"
        )
    params = _read_params(args.params)
    data = _read_npz(args.data, "--data")
    outputs = model.compile(dtype=args.dtype).predict(params, data)
    out = _write_npz(args.output, outputs)
    shapes = ", ".join(f"{name} {value.shape}" for name, value in outputs.items())
    print(f"{model.name}: {shapes} -> {out}")
    return 0


def _write(path: str, data: bytes) -> Path:
    """Write a file atomically (symbp.files); a failure is a one-line CLI error."""
    return atomic_write(path, data, CliError)


def _write_npz(path: str, arrays: dict[str, Any]) -> Path:
    """Arrays into an .npz file, atomically; like numpy.savez, ``.npz`` is appended to a
    name without it."""
    return atomic_savez(path if path.endswith(".npz") else f"{path}.npz", arrays, CliError)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``symbp`` command."""
    parser = _Parser(
        prog="symbp", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    demo = sub.add_parser(
        "demo",
        help="run every seed tutorial end to end",
        description="Run the seed tutorials in examples/: each prints its "
        "derivation summary, generated module and training trace.",
    )
    demo.add_argument(
        "only", nargs="*", metavar="EXAMPLE", help=f"run only these ({', '.join(EXAMPLES)})"
    )
    demo.set_defaults(func=cmd_demo)

    gen = sub.add_parser(
        "generate",
        help="write the generated kernel module of a model",
        description="Write the Numba module (loss, grad and fit kernels).",
    )
    gen.add_argument("target", metavar="FILE.py[:NAME]", help="file defining a symbp.Model")
    gen.add_argument("-o", "--output", required=True, metavar="OUT.py", help="module to write")
    gen.add_argument(
        "--optimizer",
        metavar="EXPR",
        help="fuse this optimizer into fit, e.g. 'SGD(lr=0.1, momentum=0.9)' or "
        "'SGD(lr=ExponentialDecay(0.1, 0.99, 1))'",
    )
    gen.add_argument(
        "--dtype",
        default="float64",
        choices=["float32", "float64"],
        help="precision of every kernel computation (default float64)",
    )
    gen.add_argument("--force", action="store_true", help="replace a file symbp did not write")
    gen.set_defaults(func=cmd_generate)

    tex = sub.add_parser(
        "latex",
        help="the derivation as LaTeX (and PDF)",
        description="Print or write the derivation: forward definitions, "
        "adjoints in sweep order, gradients and (with an optimizer) updates.",
    )
    tex.add_argument("target", metavar="FILE.py[:NAME]", help="file defining a symbp.Model")
    tex.add_argument("-o", "--output", metavar="OUT.tex", help="write here (default: stdout)")
    tex.add_argument("--pdf", action="store_true", help="also compile OUT.pdf with pdflatex")
    tex.add_argument(
        "--values",
        metavar="VALUES.json",
        help='numbers for one sample, e.g. {"w": 5} or {"W1": [[0.1, 0.2]], ...}: '
        "every step gets its value",
    )
    tex.add_argument("--optimizer", metavar="EXPR", help="print this optimizer's update rule")
    tex.add_argument(
        "--fragment", action="store_true", help="print only the aligned block, not a whole document"
    )
    tex.add_argument(
        "--closed-form",
        action="store_true",
        help="also print Model.gradients() for large models (can be slow)",
    )
    tex.set_defaults(func=cmd_latex)

    train = sub.add_parser(
        "train",
        help="train a model on arrays in an .npz file",
        description="Compile and train; print the loss trace and save params.",
    )
    train.add_argument("target", metavar="FILE.py[:NAME]", help="file defining a symbp.Model")
    train.add_argument(
        "--data",
        metavar="DATA.npz",
        help="one array per input and target, samples on the first axis",
    )
    train.add_argument(
        "--params",
        metavar="INIT.npz",
        help="initial params (default: the file's `params` or `PARAMS` dict)",
    )
    length = train.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, metavar="N", help="number of updates")
    length.add_argument("--epochs", type=int, metavar="E", help="passes over the data")
    train.add_argument("--batch-size", type=int, metavar="B", help="samples per step (default all)")
    train.add_argument("--shuffle", action="store_true", help="reshuffle the samples each epoch")
    train.add_argument("--seed", type=int, help="seed of --shuffle")
    train.add_argument(
        "--optimizer", metavar="EXPR", help="e.g. 'SGD(lr=0.01)' (default: the file's `optimizer`)"
    )
    train.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    train.add_argument("--out", metavar="PARAMS.npz", help="save the trained params here")
    train.add_argument("--progress", action="store_true", help="show a progress bar (tqdm)")
    train.set_defaults(func=cmd_train)

    predict = sub.add_parser(
        "predict",
        help="compute a model's outputs for the inputs in an .npz file",
        description="Evaluate the outputs a model declares (Model(..., outputs=...)) for every "
        "sample of the inputs in DATA.npz, with the params of FIT.npz (a saved fit or an .npz "
        "of arrays), and write them to OUT.npz.",
    )
    predict.add_argument("target", metavar="FILE.py[:NAME]", help="file defining a symbp.Model")
    predict.add_argument("--params", required=True, metavar="FIT.npz", help="trained params")
    predict.add_argument("--data", required=True, metavar="DATA.npz", help="input arrays")
    predict.add_argument("-o", "--output", required=True, metavar="OUT.npz", help="outputs file")
    predict.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    predict.set_defaults(func=cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: errors are one line on stderr and a non-zero exit, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SymbpError as err:
        print(f"symbp: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("symbp: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug or an environment problem: still one line
        print(f"symbp: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
