"""Summarise benchmarks/results.json: per workload and dtype, symbp against the peers.

Run after ``python benchmarks/run.py``::

    python benchmarks/summary.py            # print the Markdown block
    python benchmarks/summary.py --readme   # replace the block in README.md

The block names the command, machine, versions and date of the run it summarises,
so the README never shows numbers without saying where they came from.  Next to
the ratio table it shows the build times (cold: empty caches; warm: a new process
reusing them) of symbp and the compiling peers, for runs that measured warm builds.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.run import MODE_DEFAULTS  # noqa: E402

README = HERE.parent / "README.md"
START = "<!-- benchmark-summary:start (python benchmarks/summary.py --readme) -->"
END = "<!-- benchmark-summary:end -->"

# settings run.py does not vary by mode; one that differs is part of the command line
_OTHER = {
    "workloads": None,
    "contestants": None,
    "dtypes": None,
    "warmup": 1,
    "threads": 1,
    "caches": "fresh",
    "no_warm": False,
    "jax_cache": False,
}
_SHOWN_PEERS = ("numba_hand", "jax_scan", "torch")
#: the build table's columns (those with a result in the run; PyTensor may be absent)
_BUILD_CONTESTANTS = ("symbp", "jax_scan", "pytensor_numba", "pytensor_c", "numba_hand")


def fmt(seconds: float) -> str:
    """Seconds in a readable unit."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def command(settings: dict) -> str:
    """The run.py command line that reproduces ``settings``."""
    quick = bool(settings.get("quick"))
    parts = ["python benchmarks/run.py"] + (["--quick"] if quick else [])
    defaults = {**MODE_DEFAULTS["quick" if quick else "full"], **_OTHER}
    for key, default in defaults.items():
        value = settings.get(key, default)
        if value == default:
            continue
        flag = f"--{key.replace('_', '-')}"
        parts.append(flag if value is True else f"{flag} {value}")
    return " ".join(parts)


def table(results: list[dict]) -> list[str]:
    """One row per (workload, dtype): symbp's time and its ratio to the peers."""
    times: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for row in results:
        if row.get("status") == "ok" and row.get("check") != "WRONG":
            times[(row["workload"], row["dtype"])][row["contestant"]] = row["median_s"]
    head = ["workload", "dtype", "symbp", "fastest peer", "symbp / fastest peer"]
    head += [f"symbp / {name}" for name in _SHOWN_PEERS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (workload, dtype), row in times.items():
        if "symbp" not in row:
            continue
        ours = row["symbp"]
        peers = {k: v for k, v in row.items() if k != "symbp"}
        if not peers:
            continue
        best = min(peers, key=peers.__getitem__)
        cells = [
            workload,
            dtype,
            fmt(ours),
            f"{best} {fmt(peers[best])}",
            f"{ours / peers[best]:.3g}",
        ]
        cells += [f"{ours / peers[p]:.3g}" if p in peers else "–" for p in _SHOWN_PEERS]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _build_cell(row: dict | None) -> str:
    """``cold / warm`` build of one record ("–" for what was not measured)."""
    if not row or row.get("status") not in ("ok", "WRONG"):
        return "–"
    cold = fmt(row["cold_s"]) if row.get("cold_s") is not None else "–"
    warm = row.get("warm_s")
    if warm is None and (row.get("warm") or {}).get("status") == "WRONG":
        return f"{cold} / WRONG"
    missed = ((row.get("warm") or {}).get("cache") or {}).get("numba_misses")
    return f"{cold} / {fmt(warm) if warm is not None else '–'}" + (" (miss)" if missed else "")


def build_table(results: list[dict], dtype: str = "float64") -> list[str]:
    """One row per workload: cold / warm build of symbp and the compiling peers.

    Empty (no lines) for results without warm builds (runs before they were
    measured, or ``--no-warm``), so such a README block is unchanged.
    """
    if not any("warm" in row for row in results):
        return []
    rows: dict[str, dict[str, dict]] = defaultdict(dict)
    for row in results:
        if row.get("dtype") == dtype:
            rows[row["workload"]][row["contestant"]] = row
    shown = [
        c
        for c in _BUILD_CONTESTANTS
        if any(r.get(c, {}).get("status") in ("ok", "WRONG") for r in rows.values())
    ]
    if "symbp" not in shown:
        return []
    lines = ["| workload | " + " | ".join(shown) + " |", "|" + "---|" * (len(shown) + 1)]
    for workload, by_name in rows.items():
        if "symbp" in by_name:
            cells = [workload] + [_build_cell(by_name.get(c)) for c in shown]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def build_caption(header: str, dtype: str, settings: dict) -> str:
    """What the build table's cells mean, for the contestants in its ``header`` row."""
    shown = [cell.strip() for cell in header.strip("|").split("|")][1:]
    recompile = [c for c in shown if c == "numba_hand"]
    if "jax_scan" in shown and not settings.get("jax_cache"):
        recompile.append("jax_scan (JAX's persistent cache off, its default)")
    caches = settings.get("caches", "fresh")
    emptied = ["symbp's", "Numba's"] + (["PyTensor's"] if caches == "all-fresh" else [])
    emptied += ["JAX's"] if settings.get("jax_cache") else []
    cold = (
        "cold with the on-disk caches as earlier runs left them (`--caches warm`)"
        if caches == "warm"
        else f"cold with empty on-disk caches ({', '.join(emptied)})"
    )
    text = (
        f"Build time to the first result ({dtype}; declare/construct + compile + the first "
        f"whole training run), **cold / warm**: {cold}, warm in a new process reusing the "
        "caches the cold one filled."
    )
    if recompile:
        text += f" No on-disk cache for {' and '.join(recompile)}: the warm build compiles again."
    if any(c.startswith("pytensor") for c in shown) and caches == "fresh":
        text += (
            " PyTensor keeps its persistent compiledir in both (`--caches all-fresh` empties "
            "it for the cold build)."
        )
    return text


def block(data: dict) -> str:
    """The README block: provenance, the table, the chart."""
    machine, versions = data["machine"], data["versions"]
    shown = ("python", "numpy", "numba", "torch", "jax", "pytensor", "sympy")
    vers = ", ".join(f"{k} {versions[k]}" for k in shown if k in versions)
    dtype = "float64" if "float64" in data.get("dtypes", ["float64"]) else data["dtypes"][0]
    builds = build_table(data["results"], dtype)
    if builds:
        builds = ["", build_caption(builds[0], dtype, data.get("settings", {})), "", *builds]
    lines = [
        START,
        f'Produced by `pip install -e ".[bench]" && {command(data.get("settings", {}))}` then '
        "`python benchmarks/summary.py --readme`, "
        f"on {machine['date'][:10]}, {machine['cpu']} ({machine['logical_cores']} cores, "
        f"one thread per library), {vers}; load average {machine.get('load_start')} at the "
        "start of the run.",
        "",
        *table(data["results"]),
        "",
        "Ratios below 1 mean symbp is faster. Every contestant and dtype, with min/max, "
        "build times and final losses: `benchmarks/results.md`.",
        *builds,
        "",
        "![ratios](benchmarks/results.png)",
        END,
    ]
    return "\n".join(lines)


def replace_block(text: str, new: str) -> str:
    """``text`` with the marked block replaced by ``new``."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"README.md has no block between {START!r} and {END!r}")
    return text[:start] + new + text[end + len(END) :]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(HERE / "results.json"))
    ap.add_argument("--readme", action="store_true", help="write the block into README.md")
    args = ap.parse_args(argv)
    new = block(json.loads(Path(args.results).read_text()))
    if not args.readme:
        print(new)
        return 0
    old = README.read_text()
    text = replace_block(old, new)
    if text != old:
        tmp = README.with_suffix(".md.tmp")
        tmp.write_text(text)
        tmp.replace(README)
        print(f"updated {README}")
    else:
        print(f"{README} already current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
