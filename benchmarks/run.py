"""Run the symbp benchmark: every contestant on every workload, each in its own subprocess.

Usage (from the repository root)::

    python benchmarks/run.py [--quick] [--workloads W0,W1,...] [--contestants numpy,torch,...]
                             [--dtypes float64,float32] [--reps N] [--warmup N]
                             [--rounds N] [--min-time SECONDS] [--timeout SECONDS]
                             [--threads N]

Writes ``benchmarks/results.md`` (machine, versions, date, one Markdown table per
workload), ``benchmarks/results.json`` (raw records) and ``benchmarks/results.png``
(bar chart of time ratios to symbp, log scale).  No timing assertions: this only
measures and reports.

Protocol (see ``benchmarks/contestants/_common.py``): per contestant, workload and
dtype, one subprocess with empty on-disk caches builds the model, does one cold
run (build + first run = "cold build" column), ``--warmup`` untimed runs, then
``--reps`` timed WHOLE training runs, more for short runs until they add up to
``--min-time`` seconds.  In the first round a second, build-only subprocess then
reuses the caches the first one filled: its build + first run is the "warm build"
column (``--no-warm`` skips it).  The whole
sweep is repeated ``--rounds`` times (default 3) and each contestant's timed runs
are pooled (median [min-max]), so background load on a shared machine is spread
over all contestants instead of landing on one.  The final full-data loss of every contestant is checked
against the ``numpy`` contestant's (relative 1e-6 in float64, 1e-3 in float32,
with an absolute floor of rtol * eps(dtype) * initial loss); a mismatch is
shown as WRONG and not ranked.  ``--quick`` runs float64 only, with at most 3
timed runs in a 2 s budget per contestant, one round and a 60 s timeout.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import workloads  # noqa: E402
from benchmarks.machine import CONTESTANTS, THREAD_VARS, machine_info  # noqa: E402

# what a contestant needs importable before it is worth starting (symbp is never
# skipped: if it does not import, it is reported as FAILED)
REQUIRES = {
    "numpy": ["numpy"],
    "torch": ["torch"],
    "jax_step": ["jax", "jaxlib"],
    "jax_scan": ["jax", "jaxlib"],
    "pytensor_c": ["pytensor"],
    "pytensor_numba": ["pytensor", "numba"],
    "numba_hand": ["numba"],
    "symbp": [],
}
REFERENCE = "numpy"
BASELINE = "symbp"
RTOL = {"float64": 1e-6, "float32": 1e-3}
#: Settings a run takes unless given on the command line, per mode.
MODE_DEFAULTS = {
    "full": {"reps": 5, "timeout": 900.0, "budget": 60.0, "rounds": 3, "min_time": 1.0},
    "quick": {"reps": 3, "timeout": 60.0, "budget": 2.0, "rounds": 1, "min_time": 0.2},
}
EPS = {"float64": 2.220446049250313e-16, "float32": 1.1920929e-07}
VERSION_PACKAGES = [
    "python",
    "numpy",
    "numba",
    "torch",
    "jax",
    "jaxlib",
    "pytensor",
    "scikit-learn",
    "sympy",
    "matplotlib",
    "symbp",
]


# --------------------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------------------


def versions() -> dict:
    out = {}
    for name in VERSION_PACKAGES:
        if name == "python":
            out[name] = platform.python_version()
            continue
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    if out.get("symbp") == "not installed" and (ROOT / "symbp").is_dir():
        out["symbp"] = "source tree (not pip-installed)"
    return out


def missing_requirements(contestant: str) -> list:
    return [m for m in REQUIRES.get(contestant, []) if importlib.util.find_spec(m) is None]


DIGITS_NPZ = None  # set in main(): digits loaded once, shared with the subprocesses
TMP_DIR = None  # set in main(): the run's temporary directory


def child_env(
    threads: int, caches: str = "fresh", tag: str = "run", jax_cache: bool = False
) -> dict:
    """The environment of one contestant subprocess.

    ``caches``: "fresh" gives symbp and Numba an empty on-disk cache (so symbp's
    build is derive + generate + JIT every time), "all-fresh" also PyTensor's
    base_compiledir (C modules recompiled by gcc; its Numba backend's cache lives
    there too), "warm" leaves every cache as it is.
    The cache directories are named by ``tag``: the warm-build process gets the
    tag of the cold run whose caches it reuses.  JAX's persistent compilation
    cache is off unless ``jax_cache`` (every compiled program cached) or the
    caller's environment sets ``JAX_COMPILATION_CACHE_DIR``; when on, "fresh" and
    "all-fresh" give it an empty directory as well.
    """
    env = dict(os.environ)
    if DIGITS_NPZ:
        env[workloads.DIGITS_CACHE_ENV] = str(DIGITS_NPZ)
    if jax_cache:
        env.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path.home() / ".cache" / "jax"))
        env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        env.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    if caches in ("fresh", "all-fresh") and TMP_DIR:
        base = Path(TMP_DIR) / "caches" / tag
        env["SYMBP_CACHE_DIR"] = str(base / "symbp")
        env["NUMBA_CACHE_DIR"] = str(base / "numba")
        if env.get("JAX_COMPILATION_CACHE_DIR"):
            env["JAX_COMPILATION_CACHE_DIR"] = str(base / "jax")
        if caches == "all-fresh":
            flags = env.get("PYTENSOR_FLAGS", "")
            env["PYTENSOR_FLAGS"] = (
                flags + "," if flags else ""
            ) + f"base_compiledir={base / 'pytensor'}"  # C modules and its Numba cache
    n = str(threads)
    for var in THREAD_VARS:
        env[var] = n
    if threads == 1:
        flags = env.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            env["XLA_FLAGS"] = (
                flags + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            ).strip()
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


# --------------------------------------------------------------------------------------
# running one contestant
# --------------------------------------------------------------------------------------


def run_one(contestant, workload, dtype, args, round_no: int = 1, build_only: bool = False) -> dict:
    """Run one contestant subprocess; return its JSON record (or a failure record).

    ``build_only``: the warm-build process (build + first run, nothing timed), in
    the cache directories of round ``round_no``'s run of the same contestant.
    """
    cmd = [
        sys.executable,
        "-m",
        f"benchmarks.contestants.{contestant}",
        "--workload",
        workload,
        "--dtype",
        dtype,
        "--reps",
        str(args.reps),
        "--warmup",
        str(args.warmup),
        "--threads",
        str(args.threads),
        "--budget",
        str(args.budget),
        "--min-time",
        str(args.min_time),
    ]
    if build_only:
        cmd.append("--build-only")
    base = {"contestant": contestant, "workload": workload, "dtype": dtype}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            env=child_env(
                args.threads,
                args.caches,
                f"{contestant}-{workload}-{dtype}-{round_no}",
                getattr(args, "jax_cache", False),
            ),
            capture_output=True,
            text=True,
            timeout=args.timeout,
        )
    except subprocess.TimeoutExpired:
        return {
            **base,
            "status": "timeout",
            "error": f"timed out after {args.timeout:g} s",
            "wall_s": time.perf_counter() - t0,
        }
    wall = time.perf_counter() - t0
    record = None
    for line in reversed(proc.stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                record = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
    if record is None:
        err_lines = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
        msg = err_lines[-1].strip() if err_lines else f"exit code {proc.returncode}, no output"
        record = {**base, "status": "error", "error": f"crashed: {msg}"[:300]}
    record["wall_s"] = wall
    if record.get("status") == "error" and proc.stderr:
        record["stderr_tail"] = proc.stderr.strip().splitlines()[-15:]
    return record


def check_against_reference(results: dict) -> None:
    """Mark each ok record 'ok' / 'WRONG' / 'unchecked' against the numpy reference.

    The warm build's first result (``record["warm"]``) is checked the same way and
    against the same reference; a wrong one marks only the warm build WRONG.
    """
    initial = {}

    def agrees(a, b, w, d) -> bool:
        if (w, d) not in initial:
            wl = workloads.get(w, d)
            initial[(w, d)] = workloads.loss64(wl, wl.params)
        rtol = RTOL[d]
        tol = rtol * abs(b) + rtol * EPS[d] * abs(initial[(w, d)])
        return a is not None and math.isfinite(a) and abs(a - b) <= tol

    for (c, w, d), r in results.items():
        if r.get("status") != "ok":
            continue
        ref = results.get((REFERENCE, w, d))
        warm = r.get("warm") or {}
        ref_ok = bool(ref) and ref.get("status") == "ok"
        if warm.get("status") == "ok" and ref_ok:
            if not agrees(warm.get("final_loss"), ref["final_loss"], w, d):
                warm["status"] = "WRONG"
                r.pop("warm_s", None)
        if c == REFERENCE:
            r["check"] = "reference"
            continue
        if not ref_ok:
            r["check"] = "unchecked"
            continue
        a, b = r["final_loss"], ref["final_loss"]
        ok = agrees(a, b, w, d)
        r["check"] = "ok" if ok else "WRONG"
        r["rel_err"] = abs(a - b) / abs(b) if b else abs(a - b)
        if not ok:
            r["status"] = "WRONG"


# --------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------


def fmt_time(s) -> str:
    if s is None or not math.isfinite(s):
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def fmt_range(r) -> str:
    n = r.get("reps", len(r.get("times") or []))
    if n == 1:
        return f"{fmt_time(r['median_s'])} (1 run)"
    return f"{fmt_time(r['median_s'])} [{fmt_time(r['min_s'])}–{fmt_time(r['max_s'])}]"


def status_text(r) -> str:
    st = r.get("status")
    if st == "WRONG":
        return f"WRONG (loss {r.get('final_loss'):.8g})"
    if st == "not_installed":
        return "skipped (not installed)"
    if st == "unsupported":
        return f"unsupported: {r.get('error', '')}"
    if st == "timeout":
        return f"TIMEOUT ({r.get('error', '')})"
    if st == "not_run":
        return f"not run: {r.get('error', '')}"
    return f"FAILED: {r.get('error', '?')}"


def cold_text(r: dict) -> str:
    """The cold-build cell: build + first run with empty caches (round 1)."""
    return fmt_time(r.get("cold_s")) if r.get("status") in ("ok", "WRONG") else "–"


def warm_text(r: dict) -> str:
    """The warm-build cell: build + first run in a new process reusing the cold run's
    caches; "–" when there was none (``--no-warm``, results from before warm builds)."""
    warm = r.get("warm")
    if not warm or r.get("status") not in ("ok", "WRONG"):
        return "–"
    st = warm.get("status")
    if st == "ok":
        missed = (warm.get("cache") or {}).get("numba_misses")
        return fmt_time(warm.get("cold_s")) + (" (cache miss)" if missed else "")
    if st == "WRONG":
        return f"WRONG (loss {warm.get('final_loss'):.8g})"
    if st == "timeout":
        return "TIMEOUT"
    return "FAILED" if st in ("error", "unsupported") else "–"


def ratio(r, base) -> float | None:
    if r.get("status") != "ok" or not base or base.get("status") != "ok":
        return None
    return r["median_s"] / base["median_s"]


def workload_table(w, dtypes, contestants, results) -> str:
    wl = workloads.get(w, dtypes[0])
    lines = [f"### {w}: {wl.description}", ""]
    if wl.kind == "mlp":
        lines[0] += f" ({wl.steps} steps)"
    two = len(dtypes) > 1
    head = ["#", "contestant"]
    for d in dtypes:
        tag = f" {d}" if two else ""
        head += [f"steady median [min–max]{tag}", f"ratio to symbp{tag}"]
    per_dtype = " " + " / ".join(dtypes) if two else ""
    head += [f"cold build{per_dtype}", f"warm build{per_dtype}", f"final loss{per_dtype}"]
    has_acc = wl.kind == "mlp"
    if has_acc:
        head.append("test accuracy" + (" " + " / ".join(dtypes) if two else ""))
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] * len(head)) + "|")

    d0 = dtypes[0]

    def sort_key(c):
        r = results.get((c, w, d0), {})
        return (0, r["median_s"]) if r.get("status") == "ok" else (1, contestants.index(c))

    ranked = sorted(contestants, key=sort_key)
    rank = 0
    for c in ranked:
        r0 = results.get((c, w, d0), {})
        if r0.get("status") == "ok":
            rank += 1
            row = [str(rank), c]
        else:
            row = ["–", c]
        builds, warms, losses, accs = [], [], [], []
        for d in dtypes:
            r = results.get((c, w, d))
            if r is None:
                row += ["not run", ""]
                for cells in (builds, warms, losses, accs):
                    cells.append("–")
                continue
            if r.get("status") == "ok":
                rt = ratio(r, results.get((BASELINE, w, d)))
                row += [fmt_range(r), "–" if rt is None else f"{rt:.3g}×"]
            else:
                row += [status_text(r), ""]
            builds.append(cold_text(r))
            warms.append(warm_text(r))
            losses.append(f"{r['final_loss']:.10g}" if r.get("final_loss") is not None else "–")
            acc = r.get("accuracy")
            accs.append(f"{100 * acc:.2f}%" if acc is not None else "–")
        row += [" / ".join(builds), " / ".join(warms), " / ".join(losses)]
        if has_acc:
            row.append(" / ".join(accs))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def jax_cache_text(args) -> str:
    """How JAX's persistent compilation cache was set for a run (results.md)."""
    if getattr(args, "jax_cache", False):
        return "JAX's persistent compilation cache on (every program cached), emptied likewise"
    if getattr(args, "jax_cache_env", False):
        return "JAX's persistent compilation cache on (JAX_COMPILATION_CACHE_DIR), emptied likewise"
    return "JAX's persistent compilation cache off (JAX's default; --jax-cache turns it on)"


def write_markdown(path, info, vers, args, wl_names, dtypes, contestants, results, skipped, notes):
    uncached = [c for c in NO_CACHE if c in contestants]
    out = ["# symbp benchmark results", ""]
    out.append(f"- date: {info['date']}")
    out.append(
        f"- machine: {info['cpu']}, {info['logical_cores']} logical cores "
        f"({info['usable_cores']} usable), {info['platform']}"
    )
    out.append(
        f"- load average (1/5/15 min) at start: {info.get('load_start')}, at end: "
        f"{info.get('load_end')} (other processes on the machine inflate and scatter timings)"
    )
    out.append("- versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    out.append(
        f"- mode: {'--quick' if args.quick else 'full'}; dtypes {', '.join(dtypes)}; "
        f"{args.rounds} round(s) over all contestants, timed runs pooled; "
        f"at least {args.reps} timed whole training runs (fewer only if they exceed a "
        f"{args.budget:g} s budget; short runs repeated until they add up to "
        f"{args.min_time:g} s, at most 1000 runs) after {args.warmup} warm-up run(s); "
        f"{args.threads} thread(s) per contestant (BLAS/OpenMP/XLA pinned, "
        f"torch.set_num_threads({args.threads})); timeout {args.timeout:g} s per contestant run"
    )
    out.append(
        "- steady = median [min–max] of whole training runs; cold build = build + first "
        "run (declare/construct, tracing/JIT/compilation, the first whole training run) "
        "in a process with empty on-disk caches (first round); warm build = the same in a "
        "new process reusing the caches the cold one filled"
        + (" (not measured in this run)" if getattr(args, "no_warm", False) else "")
        + (
            f" (--quick: not for {', '.join(uncached)}, which cache nothing)"
            if args.quick and uncached and not getattr(args, "no_warm", False)
            else ""
        )
        + "; ratio = steady time / symbp's steady time (>1: slower than symbp)"
    )
    out.append(
        "- on-disk caches: "
        + {
            "fresh": "each contestant run starts with empty symbp and Numba caches "
            "(symbp's build = derive + generate + JIT); PyTensor's compiledir is the "
            "persistent one (its C modules and its Numba backend's cache are compiled once "
            "per machine)",
            "all-fresh": "each contestant run starts with empty symbp, Numba and PyTensor "
            "caches (PyTensor's build includes compiling its C modules)",
            "warm": "persistent symbp, Numba and PyTensor caches, as earlier runs left them "
            "(so the cold build is not cold)",
        }[args.caches]
        + "; "
        + jax_cache_text(args)
        + "; numba_hand and torch have no on-disk cache (their warm build recompiles)"
    )
    out.append(
        f"- correctness: final full-data loss (float64 evaluation of the final parameters) "
        f"vs the numpy contestant's, relative {RTOL['float64']:g} (float64) / "
        f"{RTOL['float32']:g} (float32), absolute floor rtol·eps·initial loss; "
        f"WRONG rows are not timed or ranked"
    )
    for s in skipped:
        out.append(f"- {s}")
    out.append("")
    for note in notes:
        out.append(f"> {note}")
    if notes:
        out.append("")
    for w in wl_names:
        out.append(workload_table(w, dtypes, contestants, results))
        out.append("")
    Path(path).write_text("\n".join(out))


def write_chart(path, wl_names, dtypes, contestants, results) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = BASELINE
    if not any(
        results.get((base, w, d), {}).get("status") == "ok" for w in wl_names for d in dtypes
    ):
        base = "numba_hand"
    others = [c for c in contestants if c != base]
    fig, axes = plt.subplots(
        len(dtypes), 1, figsize=(max(8, 1.1 * len(wl_names) + 3), 4.2 * len(dtypes)), squeeze=False
    )
    width = 0.8 / max(len(others), 1)
    cmap = plt.get_cmap("tab10")
    for ax, d in zip(axes[:, 0], dtypes, strict=True):
        any_bar = False
        for i, c in enumerate(others):
            xs, ys = [], []
            for j, w in enumerate(wl_names):
                rt = ratio(results.get((c, w, d), {}), results.get((base, w, d)))
                if rt is not None:
                    xs.append(j + (i - (len(others) - 1) / 2) * width)
                    ys.append(rt)
            if xs:
                any_bar = True
                ax.bar(xs, ys, width=width, label=c, color=cmap(i % 10))
        for j, w in enumerate(wl_names):
            if results.get((base, w, d), {}).get("status") != "ok":
                ax.text(
                    j,
                    1.0,
                    f"no valid\n{base}\nresult",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="dimgray",
                )
        ax.axhline(1.0, color="black", lw=0.8)
        if any_bar:
            ax.set_yscale("log")
        ax.set_xticks(range(len(wl_names)))
        ax.set_xticklabels(wl_names, rotation=0)
        ax.set_ylabel(f"time / {base} time")
        ax.set_title(
            f"{d}: steady-state time relative to {base} (log scale, lower is faster)"
            + ("" if base == BASELINE else f" — {BASELINE} had no valid result")
        )
        ax.grid(axis="y", which="both", alpha=0.3)
        if any_bar:
            ax.legend(fontsize=8, ncol=min(len(others), 4))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return base


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------


def run_round(
    args, round_no, wl_names, dtypes, active, results, mlp_timeout, skipped, t_start
) -> None:
    """One pass over every workload, dtype and contestant; merges into ``results``."""
    for w in wl_names:
        is_mlp = workloads.get(w).kind == "mlp"
        for d in dtypes:
            for c in active:
                if any(
                    r.get("status") == "not_installed"
                    for (cc, _, _), r in results.items()
                    if cc == c
                ):
                    continue
                earlier = results.get((c, w, d))
                if earlier is not None and earlier.get("status") != "ok":
                    continue  # failed or timed out in an earlier round: not retried
                if args.quick and is_mlp and c in mlp_timeout:
                    r = {
                        "contestant": c,
                        "workload": w,
                        "dtype": d,
                        "status": "not_run",
                        "error": f"--quick: timed out on {mlp_timeout[c]}",
                    }
                else:
                    r = run_one(c, w, d, args, round_no)
                    if r.get("status") == "timeout" and is_mlp:
                        mlp_timeout.setdefault(c, w)
                    if wants_warm(args, c, round_no, r):
                        attach_warm(r, run_one(c, w, d, args, round_no, build_only=True))
                r = merge_rounds(earlier, r)
                results[(c, w, d)] = r
                if r.get("status") == "ok":
                    acc = (
                        f"  acc {100 * r['accuracy']:.2f}%" if r.get("accuracy") is not None else ""
                    )
                    line = (
                        f"steady {fmt_range(r)}  cold build {cold_text(r)}  "
                        f"warm build {warm_text(r)}  loss {r['final_loss']:.10g}{acc}"
                    )
                elif r.get("status") == "not_installed":
                    line = f"skipped: {r.get('error')}"
                    skipped.append(f"skipping {c}: {r.get('error')}")
                else:
                    line = status_text(r)
                print(
                    f"[{time.perf_counter() - t_start:6.1f}s] {w:12s} {d:8s} {c:15s} {line}",
                    flush=True,
                )


#: What a warm-build record keeps of the build-only process's JSON line.
WARM_FIELDS = (
    "status",
    "error",
    "import_s",
    "build_s",
    "first_run_s",
    "cold_s",
    "final_loss",
    "cache",
)
#: Contestants without any compile cache (nothing to warm): --quick skips their warm build.
NO_CACHE = ("numpy", "torch")


def wants_warm(args, contestant: str, round_no: int, record: dict) -> bool:
    """Whether to measure a warm build after this run: round 1, a successful cold run,
    not ``--no-warm``, and in ``--quick`` mode only for contestants with a cache."""
    if round_no != 1 or record.get("status") != "ok" or args.no_warm:
        return False
    return not (args.quick and contestant in NO_CACHE)


def attach_warm(record: dict, warm: dict) -> None:
    """Store the warm-build process's result in ``record``: ``warm`` (its timings,
    status and final loss) and, when it succeeded, ``warm_s`` (build + first run)."""
    record["warm"] = {k: warm[k] for k in WARM_FIELDS if k in warm}
    record["warm"]["wall_s"] = warm.get("wall_s")
    if warm.get("status") == "ok":
        record["warm_s"] = warm["cold_s"]


def merge_rounds(earlier: dict | None, new: dict) -> dict:
    """Pool the timed runs of a contestant over rounds; a failure in any round wins.

    Rounds interleave the contestants in time, so a stretch of background load on
    the machine lands on all of them instead of on whoever ran during it. The build
    times shown are the first round's (every round gets its own caches; the other
    cold builds are kept in ``cold_runs``; warm builds are measured in round 1 only).
    """
    if earlier is None or new.get("status") != "ok":
        return new
    if earlier.get("status") != "ok":
        return earlier
    times = earlier["times"] + new["times"]
    colds = [*earlier.get("cold_runs", [earlier["cold_s"]]), new["cold_s"]]
    return {
        **earlier,
        "times": times,
        "reps": len(times),
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "cold_runs": colds,
        "rounds": earlier.get("rounds", 1) + 1,
    }


def _compact(record: dict) -> dict:
    """A record for results.json: quantiles instead of thousands of raw run times."""
    times = record.get("times")
    if not times or len(times) <= 20:
        return record
    ordered = sorted(times)
    quantiles = {f"p{q}": ordered[round(q / 100 * (len(ordered) - 1))] for q in (10, 25, 75, 90)}
    return {**{k: v for k, v in record.items() if k != "times"}, "time_quantiles": quantiles}


def report(out_dir, info, vers, args, wl_names, dtypes, contestants, active, results, skipped):
    """Write results.md, results.png and results.json; return the first two paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shown = [
        c
        for c in contestants
        if c in active and any((c, w, d) in results for w in wl_names for d in dtypes)
    ]
    shown = [
        c
        for c in shown
        if not all(
            results.get((c, w, d), {}).get("status") == "not_installed"
            for w in wl_names
            for d in dtypes
        )
    ]
    notes = []
    acc_line = [
        f"{w} {d}: {100 * r['accuracy']:.2f}%"
        for (c, w, d), r in results.items()
        if c == REFERENCE and r.get("accuracy") is not None
    ]
    if acc_line:
        notes.append(
            "numpy reference test accuracy: "
            + "; ".join(acc_line)
            + " (init: RandomState(0), W1 = normal(size=(64,H))*0.1 then W2 = normal(size=(H,10))*0.1)"
        )
    md_path = out_dir / "results.md"
    png_path = out_dir / "results.png"
    base = write_chart(png_path, wl_names, dtypes, shown, results)
    if base != BASELINE:
        notes.append(
            f"chart: {BASELINE} had no valid result, so results.png shows ratios to {base}"
        )
    write_markdown(md_path, info, vers, args, wl_names, dtypes, shown, results, skipped, notes)
    raw = {
        "machine": info,
        "versions": vers,
        "settings": {k: v for k, v in vars(args).items()},
        "dtypes": dtypes,
        "skipped": skipped,
        "results": [_compact(r) for r in results.values()],
    }
    (out_dir / "results.json").write_text(json.dumps(raw, indent=1, default=str))

    return md_path, png_path


def render(path: Path) -> int:
    """Rewrite results.md, results.png and results.json from an earlier run's records."""
    raw = json.loads(path.read_text())
    args = argparse.Namespace(**raw["settings"])
    args.out_dir = str(path.parent)
    for key, default in (("rounds", 1), ("min_time", 0.0)):  # runs from before these options
        if not hasattr(args, key):
            setattr(args, key, default)
    if not hasattr(args, "no_warm"):  # runs from before warm builds: the column shows "–"
        args.no_warm = not any("warm" in r for r in raw["results"])
    results = {(r["contestant"], r["workload"], r["dtype"]): r for r in raw["results"]}
    contestants = [c for c in CONTESTANTS if any(k[0] == c for k in results)]
    wl_names = [w for w in workloads.expand(None) if any(k[1] == w for k in results)]
    md_path, png_path = report(
        path.parent,
        raw["machine"],
        raw["versions"],
        args,
        wl_names,
        raw["dtypes"],
        contestants,
        contestants,
        results,
        raw.get("skipped", []),
    )
    print(f"rewrote {md_path} and {png_path} from {path}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="float64 only, up to 3 timed runs (2 s budget) + 1 warm-up, 60 s timeout; "
        "a contestant that times out on an MLP skips the larger MLPs (< 5 min)",
    )
    ap.add_argument("--workloads", default=None, help="comma list (W1 = all W1 variants)")
    ap.add_argument("--contestants", default=None, help=f"comma list of {', '.join(CONTESTANTS)}")
    ap.add_argument(
        "--dtypes", default=None, help="comma list (default float64,float32; quick: float64)"
    )
    ap.add_argument("--reps", type=int, default=None, help="timed runs (default 5; quick 3)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds per contestant subprocess (default 900; quick 60)",
    )
    ap.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds for one contestant's timed runs; reps is lowered (>= 1) to fit "
        "(default 60; quick 2; 0 = no limit)",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--caches",
        choices=("fresh", "all-fresh", "warm"),
        default="fresh",
        help="on-disk compilation caches per contestant run: fresh = empty symbp and Numba "
        "caches (default), all-fresh = also an empty PyTensor compiledir (slow: gcc), "
        "warm = leave all caches as they are",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="sweeps over all contestants; their timed runs are pooled (default 3; quick 1)",
    )
    ap.add_argument(
        "--min-time",
        type=float,
        default=None,
        help="repeat short runs (up to 1000) until the timed runs add up to this many "
        "seconds (default 1; quick 0.2)",
    )
    ap.add_argument(
        "--no-warm",
        action="store_true",
        help="skip the warm builds (a second, build-only process per contestant, workload "
        "and dtype reusing the caches of the first round's run)",
    )
    ap.add_argument(
        "--jax-cache",
        action="store_true",
        help="turn on JAX's persistent compilation cache for every program (off by "
        "default, as in JAX), emptied per contestant run like the other caches",
    )
    ap.add_argument("--out-dir", default=str(HERE))
    ap.add_argument(
        "--render",
        metavar="RESULTS_JSON",
        default=None,
        help="rewrite results.md/.png/.json next to RESULTS_JSON from its records; run nothing",
    )
    args = ap.parse_args(argv)
    if args.render:
        return render(Path(args.render))

    for key, default in MODE_DEFAULTS["quick" if args.quick else "full"].items():
        if getattr(args, key) is None:
            setattr(args, key, default)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    args.jax_cache_env = bool(os.environ.get("JAX_COMPILATION_CACHE_DIR"))
    dtypes = [
        d.strip()
        for d in (args.dtypes or ("float64" if args.quick else "float64,float32")).split(",")
    ]
    for d in dtypes:
        if d not in workloads.DTYPES:
            ap.error(f"unknown dtype {d}")
    try:
        wl_names = workloads.expand(args.workloads)
    except KeyError as exc:
        ap.error(str(exc))
    contestants = (
        list(CONTESTANTS)
        if not args.contestants
        else [c.strip() for c in args.contestants.split(",") if c.strip()]
    )
    for c in contestants:
        if c not in CONTESTANTS:
            ap.error(f"unknown contestant {c!r}; known: {', '.join(CONTESTANTS)}")
    if REFERENCE not in contestants:
        contestants.insert(0, REFERENCE)  # needed for the correctness check
        print(f"note: adding {REFERENCE!r}, the correctness reference")

    info, vers = machine_info(), versions()
    print(f"date     {info['date']}")
    print(
        f"machine  {info['cpu']}, {info['logical_cores']} logical cores ({info['usable_cores']} usable), "
        f"load average {info['load_start']}"
    )
    print("versions " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    print(
        f"settings {'quick' if args.quick else 'full'}: workloads {','.join(wl_names)}; dtypes {','.join(dtypes)}; "
        f"reps {args.reps} + warm-up {args.warmup}; rounds {args.rounds}; threads {args.threads}; "
        f"timeout {args.timeout:g}s"
    )

    skipped, active = [], []
    for c in contestants:
        miss = missing_requirements(c)
        if miss:
            msg = f"skipping {c}: {', '.join(miss)} not installed"
            print(msg)
            skipped.append(msg)
        else:
            active.append(c)

    global DIGITS_NPZ, TMP_DIR
    tmp = tempfile.TemporaryDirectory(prefix="symbp-run-py-")
    TMP_DIR = tmp.name
    if any(workloads.get(w).kind == "mlp" for w in wl_names):
        DIGITS_NPZ = Path(tmp.name) / "digits.npz"
        workloads.save_digits_cache(DIGITS_NPZ)

    results = {}
    t_start = time.perf_counter()
    mlp_timeout = {}  # quick mode: contestant -> MLP workload it timed out on
    for round_no in range(1, args.rounds + 1):
        if args.rounds > 1:
            print(f"round {round_no} of {args.rounds}", flush=True)
        run_round(args, round_no, wl_names, dtypes, active, results, mlp_timeout, skipped, t_start)

    check_against_reference(results)
    for r in results.values():
        if r.get("status") == "WRONG":
            print(
                f"WRONG: {r['contestant']} {r['workload']} {r['dtype']}: loss {r['final_loss']!r} "
                f"vs {REFERENCE} {results[(REFERENCE, r['workload'], r['dtype'])]['final_loss']!r}"
            )

    try:
        info["load_end"] = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        info["load_end"] = "?"
    md_path, png_path = report(
        Path(args.out_dir),
        info,
        vers,
        args,
        wl_names,
        dtypes,
        contestants,
        active,
        results,
        skipped,
    )
    print()
    print(md_path.read_text())
    print(
        f"wrote {md_path}, {png_path}, {md_path.with_suffix('.json')} "
        f"(total {time.perf_counter() - t_start:.0f} s)"
    )
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
