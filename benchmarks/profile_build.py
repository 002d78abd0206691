"""Where the seconds of a cold symbp build go, per workload.

Usage (from the repository root)::

    python benchmarks/profile_build.py [--workloads W4,W3,W1-sgd] [--dtype float64]
                                       [--no-outputs] [--cold-only]

Each workload runs in a fresh subprocess with empty caches (``SYMBP_CACHE_DIR``
and ``NUMBA_CACHE_DIR`` in new temporary directories, ``NUMBA_LLVM_PASS_TIMINGS=1``,
one thread) and builds the model the way the ``symbp`` contestant of
``benchmarks/run.py`` does, timing each phase:

* **Python imports**: numpy, sympy, symbp, numba (the harness does not count
  imports in the build);
* **declare**: the SymPy expressions and ``symbp.Model(...)``;
* **derive**: the reverse sweep, ``model.derivation`` (the loss as written) and
  ``model.kernel_derivation`` (the stabilized loss, when it differs), and the
  outputs' forward program;
* **generate**: ``model.program`` (simplification) and the module text,
  ``model.module_source(...)``; then writing and importing the module and the
  runtime it imports (``symbp_runtime/`` next to it in the compile cache;
  ``model.compile``, the text already rendered);
* **Numba's compile** of the module's ``_kernel`` (``trainer.spec.kernel``: the
  driver, with the model function ``loss_and_grad`` inlined into it; in the first
  ``fit``) and, when the model has outputs, ``_predict`` (``trainer.spec.predict``,
  in the first ``predict``), split by
  Numba's own instruments: every compiler pass is timed by name (a wrapper around
  ``numba.core.compiler_machinery.PassManager._runPass``) and grouped into
  bytecode/untyped passes, type inference, typed rewrites, native lowering
  (Python side: Numba IR to LLVM IR); the LLVM side is timed where Numba records
  its pass timings (``PassTimingsCollection.record``: function passes, module
  passes, "Finalize object" = machine code) and around ``CodeLibrary.add_ir_module``
  (IR parsing, verification, linking in) and ``finalize`` (linking the callees'
  libraries); the cache write wraps ``numba.core.caching.Cache.save_overload``
  (the lookup ``load_overload``); the refresh of Numba's target and typing
  contexts (installing its registries of implementations, done lazily by the
  first compile or cache lookup of a process) is a row of its own.
  Times are exclusive: a callee compiled during type inference (an overload, an
  ``@njit`` helper) counts in its own passes, not in the caller's type inference.
  The kernel's ``get_metadata(sig)["timers"]`` (``compiler_lock``, ``llvm_lock``)
  and the top LLVM passes of its ``"llvm_pass_timings"`` are shown for comparison,
  and the module's other ``@njit`` functions that were compiled on the way are named;
* the **first run** after compiling (driver + kernel).

Unless ``--cold-only``, a second process then repeats the build with the caches
the first one filled (the harness's warm build): Numba loads the kernels from its
cache instead of compiling them.  ``--no-outputs`` profiles the contestant's model
as it is (no ``_predict``); by default the models get a per-sample output (the
digits MLP its logits) so that ``_predict`` is compiled too.

Prints one Markdown table per workload with the machine and versions; asserts
nothing.  It reaches into Numba internals (stable across 0.59-0.68) and the
trainer's ``spec`` (its ``kernel`` and ``predict`` dispatchers) and ``module``
(the other dispatchers it defines): a measuring tool, not an API.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_WORKLOADS = "W4,W3,W1-sgd"
#: the compile phases, in table order (categories of :class:`Frames`)
COMPILE_PHASES = (
    ("init", "Numba registries (context refresh, once per process)"),
    ("untyped", "bytecode + untyped passes"),
    ("typing", "type inference"),
    ("typed", "typed rewrites, legalization, backend"),
    ("lowering", "native lowering (Python side: Numba IR to LLVM IR)"),
    ("llvm_ir", "LLVM IR parse, verify, link-in (add_ir_module)"),
    ("llvm_function", "LLVM optimisation: function passes"),
    ("llvm_module", "LLVM optimisation: module passes"),
    ("llvm_codegen", "LLVM code generation + linking (finalize)"),
    ("cache_write", "Numba cache write (save_overload)"),
    ("cache_load", "Numba cache lookup/load (load_overload)"),
    ("dispatch", "dispatcher (outside the passes)"),
)


# --------------------------------------------------------------------------------------
# the child: one workload, instrumented
# --------------------------------------------------------------------------------------


class Frames:
    """Exclusive wall time per category over nested timed regions.

    Each region's time minus the time of the regions nested in it is added to its
    category, so the categories partition the time spent inside the outermost one.
    """

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._stack: list[list[Any]] = []

    @contextlib.contextmanager
    def frame(self, category: str) -> Iterator[None]:
        """Time the ``with`` body as ``category`` (exclusive of nested frames)."""
        start = time.perf_counter()
        self._stack.append([category, 0.0])
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            _, nested = self._stack.pop()
            self.totals[category] += elapsed - nested
            if self._stack:
                self._stack[-1][1] += elapsed

    def snapshot(self) -> dict[str, float]:
        """A copy of the totals (subtract two snapshots for one phase's split)."""
        return dict(self.totals)


def _pass_category(manager: Any, index: int) -> str:
    """The phase of the ``index``-th pass of a Numba pipeline, by its position."""
    names = getattr(manager, "_symbp_pass_names", None)
    if names is None:
        names = [cls.name() for cls, _ in manager.passes]
        manager._symbp_pass_names = names
    typing = next((i for i, n in enumerate(names) if "type_inference" in n), None)
    lowering = next((i for i, n in enumerate(names) if "lowering" in n), None)
    if typing is None or index < typing:
        return "untyped"
    if index == typing:
        return "typing"
    if lowering is not None and index == lowering:
        return "lowering"
    return "typed"


def instrument(frames: Frames) -> None:
    """Wrap Numba's compiler passes, LLVM timing points, library methods and cache."""
    from numba.core import base, caching, codegen, compiler_machinery, dispatcher
    from numba.core.typing import context as typing_context
    from numba.misc import llvm_pass_timings

    def wrap(owner: Any, attr: str, category: Callable[..., str] | str) -> None:
        original = getattr(owner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            cat = category(*args) if callable(category) else category
            with frames.frame(cat):
                return original(*args, **kwargs)

        timed.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(owner, attr, timed)

    wrap(
        compiler_machinery.PassManager,
        "_runPass",
        lambda manager, index, *_: _pass_category(manager, index),
    )
    wrap(dispatcher.Dispatcher, "compile", "dispatch")
    wrap(codegen.CPUCodeLibrary, "add_ir_module", "llvm_ir")
    wrap(codegen.CPUCodeLibrary, "finalize", "llvm_codegen")
    wrap(caching.Cache, "save_overload", "cache_write")
    wrap(caching.Cache, "load_overload", "cache_load")
    wrap(base.BaseContext, "refresh", "init")  # load_overload and compile call it first
    wrap(typing_context.BaseContext, "refresh", "init")

    collection = llvm_pass_timings.PassTimingsCollection
    record, record_legacy = collection.record, collection.record_legacy

    def llvm_category(name: str) -> str:
        if name.startswith("Function passes"):
            return "llvm_function"
        if name.startswith("Module passes"):
            return "llvm_module"
        return "llvm_codegen"  # "Finalize object": instruction selection, emission

    @contextlib.contextmanager
    def timed_record(self: Any, name: str, pb: Any) -> Iterator[None]:
        with frames.frame(llvm_category(name)), record(self, name, pb):
            yield

    @contextlib.contextmanager
    def timed_record_legacy(self: Any, name: str) -> Iterator[None]:
        with frames.frame(llvm_category(name)), record_legacy(self, name):
            yield

    collection.record = timed_record
    collection.record_legacy = timed_record_legacy


def _timed(label: str, phases: list, func: Callable[[], Any]) -> Any:
    """Call ``func``; append ``(label, seconds)`` to ``phases``; return its result."""
    start = time.perf_counter()
    result = func()
    phases.append((label, time.perf_counter() - start))
    return result


def _outputs(wl: Any) -> dict | None:
    """A per-sample output for the workload's model (so ``_predict`` is compiled)."""
    import sympy as sp

    if wl.kind == "mlp":
        x = sp.MatrixSymbol("x", 1, 64)
        W1, b1 = sp.MatrixSymbol("W1", 64, wl.hidden), sp.MatrixSymbol("b1", 1, wl.hidden)
        W2, b2 = sp.MatrixSymbol("W2", wl.hidden, 10), sp.MatrixSymbol("b2", 1, 10)
        return {"logits": (x * W1 + b1).applyfunc(sp.tanh) * W2 + b2}
    if wl.kind == "sigmoid_net":
        x = sp.MatrixSymbol("x", 1, 2)
        W1, b1 = sp.MatrixSymbol("W1", 2, 2), sp.MatrixSymbol("b1", 1, 2)
        W2, b2 = sp.MatrixSymbol("W2", 2, 2), sp.MatrixSymbol("b2", 1, 2)
        u = sp.Symbol("u")
        sig = sp.Lambda(u, 1 / (1 + sp.exp(-u)))
        h = (x * W1.T + b1).applyfunc(sig)
        return {"o": (h * W2.T + b2).applyfunc(sig)}
    if wl.kind == "linear_net":
        x, W1, W2 = (sp.MatrixSymbol(*a) for a in (("x", 1, 2), ("W1", 2, 3), ("W2", 3, 1)))
        return {"yhat": (x * W1 * W2)[0, 0]}
    if wl.kind == "linreg":
        w, b, x = sp.symbols("w b x")
        return {"yhat": w * x + b}
    return None  # W0 has no inputs


def _fit_call(wl: Any, trainer: Any, shapes: dict, data: dict | None) -> Callable[[], Any]:
    """The whole training run the ``symbp`` contestant times, as a zero-argument call."""
    params = {
        k: float(wl.params[k]) if s == () else wl.params[k].reshape(s) for k, s in shapes.items()
    }
    if data is None:
        return lambda: trainer.fit(params, steps=wl.steps)
    kwargs = {"batch_size": wl.batch_size}
    if wl.kind == "mlp":  # consecutive chunks of the batch size, the last one shorter
        kwargs["epochs"] = wl.epochs
    else:
        kwargs["steps"] = wl.steps
    return lambda: trainer.fit(params, data, **kwargs)


def _compile_split(before: dict, after: dict) -> dict[str, float]:
    """Seconds per compile phase between two :meth:`Frames.snapshot` calls."""
    return {key: after.get(key, 0.0) - before.get(key, 0.0) for key, _ in COMPILE_PHASES}


def _kernel_metadata(kernel: Any) -> dict:
    """``timers`` and the top LLVM passes from a dispatcher's metadata (first signature)."""
    if kernel is None or not kernel.signatures:
        return {}
    try:
        md = kernel.get_metadata(kernel.signatures[0])
    except Exception as exc:  # loaded from the cache: no metadata
        return {"note": f"no metadata ({type(exc).__name__})"}
    if md is None:
        return {"note": "loaded from Numba's cache: no compile metadata"}
    out: dict[str, Any] = {"timers": dict(md.get("timers") or {})}
    timings = md.get("llvm_pass_timings")
    if timings is not None and not timings.is_empty:
        per_pass: dict[str, float] = defaultdict(float)
        for rec in timings:
            for p in rec.timings.list_records()[:-1]:  # the last one is "Total"
                per_pass[re.sub(r"\s*#\d+$", "", p.pass_name.strip())] += p.wall_time
        out["llvm_total"] = timings.get_total_time()
        out["llvm_top"] = sorted(per_pass.items(), key=lambda kv: -kv[1])[:6]
        out["llvm_records"] = [(r.name, r.timings.get_total_time()) for r in timings]
    return out


def child(workload: str, dtype: str, outputs: bool) -> dict:
    """Build the workload's symbp model once, timing every phase; return the record."""
    phases: list[tuple[str, float]] = []
    imports: list[tuple[str, float]] = []
    import benchmarks.contestants  # noqa: F401  (pins BLAS/Numba to one thread first)

    for name in ("numpy", "sympy", "symbp", "numba"):
        _timed(name, imports, lambda n=name: __import__(n))
    import numba
    import numpy as np

    import symbp
    from benchmarks import workloads
    from benchmarks.contestants import symbp as contestant

    frames = Frames()
    instrument(frames)
    wl = workloads.get(workload, dtype)

    start = time.perf_counter()
    model, shapes, data = _timed("declare", phases, lambda: contestant.declare(wl))
    extra = _outputs(wl) if outputs else None
    if extra:
        import dataclasses

        model = _timed(
            "declare: with outputs", phases, lambda: dataclasses.replace(model, outputs=extra)
        )
    _timed("derive: model.derivation", phases, lambda: model.derivation)
    _timed("derive: model.kernel_derivation", phases, lambda: model.kernel_derivation)
    if extra:
        _timed("derive: model.output_program", phases, lambda: model.output_program)
    _timed("generate: model.program (simplify)", phases, lambda: model.program)
    optimizer = contestant.make_optimizer(wl.optimizer)

    # model.compile renders the module text (model.module_source) and then writes and
    # imports it: time the rendering inside the call, the rest is write + import
    rendered: list = []
    original = type(model).module_source

    def module_source(self: Any, *a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        source = original(self, *a, **k)
        rendered.append((time.perf_counter() - t0, source))
        return source

    type(model).module_source = module_source
    try:
        t0 = time.perf_counter()
        trainer = model.compile(optimizer=optimizer, dtype=dtype)
        compile_s = time.perf_counter() - t0
    finally:
        type(model).module_source = original
    render_s = sum(t for t, _ in rendered)
    source = rendered[-1][1]
    phases.append(("generate: model.module_source (text)", render_s))
    phases.append(("model.compile: write + import the module", compile_s - render_s))

    if data is not None:
        data = {k: np.ascontiguousarray(v) for k, v in data.items()}
    fit = _fit_call(wl, trainer, shapes, data)
    kernels: dict[str, dict] = {}
    before = frames.snapshot()
    t0 = time.perf_counter()
    result = fit()
    first = time.perf_counter() - t0
    split = _compile_split(before, frames.snapshot())
    compile_s = sum(split.values())
    kernels["_kernel"] = {
        "split": split,
        "compile_s": compile_s,
        "call_s": first,
        **_kernel_metadata(trainer.spec.kernel),
    }
    build_s = time.perf_counter() - start
    if extra:
        params = dict(result.params)
        before = frames.snapshot()
        t0 = time.perf_counter()
        trainer.predict(params, data)
        first = time.perf_counter() - t0
        split = _compile_split(before, frames.snapshot())
        kernels["_predict"] = {
            "split": split,
            "compile_s": sum(split.values()),
            "call_s": first,
            **_kernel_metadata(trainer.spec.predict),
        }
    helpers = []  # the module's other dispatchers that were compiled (loss_and_grad, ...)
    profiled = (trainer.spec.kernel, trainer.spec.predict)
    for name, obj in vars(trainer.module).items():
        if isinstance(obj, numba.core.dispatcher.Dispatcher) and obj.signatures:
            if not any(obj is kernel for kernel in profiled):
                helpers.append(name)
    return {
        "workload": workload,
        "dtype": dtype,
        "description": wl.description,
        "level": "matrix" if model.matrix else "scalar",
        "imports": imports,
        "phases": phases,
        "kernels": kernels,
        "build_s": build_s,
        "helpers": helpers,
        "module_lines": source.text.count("\n"),
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": numba.__version__,
            "llvmlite": __import__("llvmlite").__version__,
            "sympy": __import__("sympy").__version__,
            "symbp": getattr(symbp, "__version__", "?"),
        },
    }


# --------------------------------------------------------------------------------------
# the parent: subprocesses and tables
# --------------------------------------------------------------------------------------


def run_child(workload: str, dtype: str, outputs: bool, caches: Path) -> dict:
    """Run :func:`child` in a subprocess with its caches under ``caches``."""
    from benchmarks.machine import THREAD_VARS

    env = dict(os.environ)
    env["SYMBP_CACHE_DIR"] = str(caches / "symbp")
    env["NUMBA_CACHE_DIR"] = str(caches / "numba")
    env["NUMBA_LLVM_PASS_TIMINGS"] = "1"
    for var in THREAD_VARS:
        env[var] = "1"
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", workload, "--dtype", dtype]
    if not outputs:
        cmd.append("--no-outputs")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
    raise RuntimeError(f"profiling {workload} failed (exit {proc.returncode}):\n{tail}")


def _s(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds == 0:
        return "0"
    if seconds < 0.0005:
        return f"{seconds * 1e3:.2f} ms"
    if seconds < 1:
        return f"{seconds * 1e3:.0f} ms"
    return f"{seconds:.2f} s"


def _pct(seconds: float, total: float) -> str:
    return f"{100 * seconds / total:.0f}%" if total > 0 else "–"


def table(cold: dict, warm: dict | None) -> str:
    """The Markdown table of one workload: phase, cold seconds and share (and warm)."""
    total = cold["build_s"] + sum(k["call_s"] for n, k in cold["kernels"].items() if n != "_kernel")
    head = ["phase", "cold", "share of the total"] + (["warm (cached)"] if warm else [])
    lines = [
        f"### {cold['workload']} ({cold['dtype']}): {cold['description']}",
        "",
        f"{cold['level']}-level model; generated module {cold['module_lines']} lines; "
        f"cold build (declare to first result, imports excluded, as run.py measures it) "
        f"**{_s(cold['build_s'])}**" + (f", warm **{_s(warm['build_s'])}**" if warm else "") + ".",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]

    def row(label: str, c: float | None, w: float | None, share: bool = True) -> None:
        cells = [label, _s(c), _pct(c, total) if share and c is not None else ""]
        if warm:
            cells.append(_s(w))
        lines.append("| " + " | ".join(cells) + " |")

    warm_imports = dict(warm["imports"]) if warm else {}
    imports = sum(s for _, s in cold["imports"])
    row(
        "Python imports (" + ", ".join(n for n, _ in cold["imports"]) + "; not in the build)",
        imports,
        sum(warm_imports.values()) if warm else None,
        share=False,
    )
    for name, seconds in cold["imports"]:
        row(f"&nbsp;&nbsp;import {name}", seconds, warm_imports.get(name), share=False)
    warm_phases = dict(warm["phases"]) if warm else {}
    for label, seconds in cold["phases"]:
        row(label, seconds, warm_phases.get(label))
    for name, k in cold["kernels"].items():
        wk = warm["kernels"].get(name) if warm else None
        timers = k.get("timers") or {}
        note = ", ".join(f"{t} {_s(v)}" for t, v in timers.items())
        row(
            f"Numba compile of `{name}` (first call{'; metadata timers: ' + note if note else ''})",
            k["compile_s"],
            wk["compile_s"] if wk else None,
        )
        for key, label in COMPILE_PHASES:
            c, w = k["split"].get(key, 0.0), wk["split"].get(key, 0.0) if wk else None
            if c > 0.0005 or (w or 0.0) > 0.0005:
                row(f"&nbsp;&nbsp;{label}", c, w)
        what = "training run (fit driver + kernel)" if name == "_kernel" else "predict call"
        row(
            f"first {what} after compiling",
            k["call_s"] - k["compile_s"],
            wk["call_s"] - wk["compile_s"] if wk else None,
        )
    row("total (build + first result)", total, None, share=False)
    for name, k in cold["kernels"].items():
        if k.get("llvm_top"):
            top = ", ".join(f"{p.strip()} {_s(s)}" for p, s in k["llvm_top"])
            lines += [
                "",
                f"`{name}`'s own LLVM pass timings (metadata `llvm_pass_timings`, "
                f"{_s(k['llvm_total'])} in all): {top}.",
            ]
    if cold["helpers"]:
        lines += [
            "",
            "Other `@njit` functions of the module compiled on the way (their passes "
            "are in the rows above): " + ", ".join(f"`{h}`" for h in cold["helpers"]) + ".",
        ]
    return "\n".join(lines)


def header(versions: dict) -> str:
    """Machine and versions, as run.py reports them."""
    from benchmarks import run

    info = run.machine_info()
    vers = ", ".join(f"{k} {v}" for k, v in versions.items())
    return (
        "## Where a cold symbp build's seconds go (`python benchmarks/profile_build.py`)\n\n"
        f"- date: {info['date']}\n"
        f"- machine: {info['cpu']}, {info['logical_cores']} logical cores "
        f"({info['usable_cores']} usable), load average {info['load_start']}\n"
        f"- versions: {vers}\n"
        "- each workload in a fresh process with empty symbp and Numba caches, one thread, "
        "NUMBA_LLVM_PASS_TIMINGS=1; compile rows are exclusive wall times of Numba's "
        "passes and LLVM steps (callees counted in their own passes); the warm column is "
        "a new process reusing the caches the cold one filled"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--workloads", default=DEFAULT_WORKLOADS, help=f"comma list (default {DEFAULT_WORKLOADS})"
    )
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument(
        "--no-outputs",
        action="store_true",
        help="the contestant's model as it is (no outputs, so no _predict kernel)",
    )
    ap.add_argument("--cold-only", action="store_true", help="skip the warm (cached) build")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        record = child(args.child, args.dtype, not args.no_outputs)
        print(json.dumps(record), flush=True)
        return 0

    from benchmarks import workloads

    names = workloads.expand(args.workloads)
    tables, versions = [], None
    with tempfile.TemporaryDirectory(prefix="symbp-profile-build-") as tmp:
        for name in names:
            caches = Path(tmp) / name
            print(f"profiling {name} ...", file=sys.stderr, flush=True)
            cold = run_child(name, args.dtype, not args.no_outputs, caches)
            warm = None
            if not args.cold_only:
                warm = run_child(name, args.dtype, not args.no_outputs, caches)
            versions = versions or cold["versions"]
            tables.append(table(cold, warm))
    print(header(versions or {}))
    for text in tables:
        print()
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
