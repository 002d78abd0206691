"""The ``symbp`` command line: demo, generate."""

from __future__ import annotations

import argparse
import importlib.util
import runpy
import sys
import time
from pathlib import Path
from typing import Any

from .errors import SymbpError

EXAMPLES = ("seed_000", "seed_001", "seed_002", "seed_003", "seed_004")


def _examples_dir() -> Path:
    """The repository's examples/ folder (the demo runs the shipped seed examples)."""
    here = Path(__file__).resolve().parents[1] / "examples"
    if here.is_dir():
        return here
    return Path.cwd() / "examples"


def cmd_demo(args: argparse.Namespace) -> int:
    """Run every seed example end to end."""
    folder = _examples_dir()
    if not folder.is_dir():
        raise SymbpError(f"examples/ not found next to the package or in {Path.cwd()}")
    sys.path.insert(0, str(folder))
    for name in args.only or EXAMPLES:
        script = folder / f"{name}.py"
        print(f"\n=== {name}: {script.relative_to(folder.parent)} ===", flush=True)
        start = time.perf_counter()
        runpy.run_path(str(script), run_name="__main__")
        print(f"--- {name} done in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


def load_target(spec: str) -> tuple[Any, Any]:
    """Load ``FILE.py[:NAME]``: the Model (and the optimizer named ``optimizer``, if any)."""
    from .model import Model

    path_text, _, name = spec.partition(":")
    path = Path(path_text)
    if not path.is_file():
        raise SymbpError(f"no such file: {path}")
    module_spec = importlib.util.spec_from_file_location(f"_symbp_user_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise SymbpError(f"cannot load {path}")
    sys.path.insert(0, str(path.resolve().parent))
    namespace = runpy.run_path(str(path), run_name="_symbp_user")
    if name:
        if name not in namespace:
            raise SymbpError(f"{path} defines no {name!r}")
        model = namespace[name]
        if not isinstance(model, Model):
            raise SymbpError(f"{path}:{name} is a {type(model).__name__}, not a symbp.Model")
    else:
        models = [k for k, v in namespace.items() if isinstance(v, Model)]
        if len(models) != 1:
            found = ", ".join(models) or "none"
            raise SymbpError(
                f"{path} defines {len(models)} Models ({found}); name one as FILE.py:NAME"
            )
        model = namespace[models[0]]
    return model, namespace.get("optimizer")


def cmd_generate(args: argparse.Namespace) -> int:
    """Write a generated module for a model defined in a Python file."""
    from . import optim

    model, optimizer = load_target(args.target)
    if args.optimizer:
        try:
            optimizer = eval(args.optimizer, {"__builtins__": {}}, vars(optim))
        except SymbpError:
            raise
        except Exception as err:
            raise SymbpError(f"--optimizer {args.optimizer!r} is not valid: {err}") from None
    command = f"symbp generate {args.target} -o {args.output}"
    if args.optimizer:
        command += f" --optimizer '{args.optimizer}'"
    if args.dtype != "float64":
        command += f" --dtype {args.dtype}"
    path = model.generate(args.output, optimizer, args.dtype, command=command, overwrite=args.force)
    print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``symbp`` command."""
    parser = argparse.ArgumentParser(
        prog="symbp",
        description="Backpropagation as compiled, readable code: SymPy models -> Numba kernels.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run every seed example end to end")
    demo.add_argument("only", nargs="*", help=f"run only these ({', '.join(EXAMPLES)})")
    demo.set_defaults(func=cmd_demo)
    gen = sub.add_parser("generate", help="write the generated module of a model")
    gen.add_argument("target", help="FILE.py or FILE.py:NAME defining a symbp.Model")
    gen.add_argument("-o", "--output", required=True, help="the .py file to write")
    gen.add_argument("--optimizer", help="e.g. 'SGD(lr=0.1, momentum=0.9)'")
    gen.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    gen.add_argument("--force", action="store_true", help="replace a file symbp did not write")
    gen.set_defaults(func=cmd_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: errors are one line on stderr and a non-zero exit, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SymbpError as err:
        print(f"symbp: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
