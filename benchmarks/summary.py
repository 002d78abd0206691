"""Summarise benchmarks/results.json: per workload, symbp against the fastest peer.

Run after ``python benchmarks/run.py``: ``python benchmarks/summary.py`` prints the
Markdown table the README shows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fmt(seconds: float) -> str:
    """Seconds in a readable unit."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def main() -> None:
    data = json.loads((HERE / "results.json").read_text())
    table: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for row in data["results"]:
        if row.get("status") == "ok" and row.get("check") != "WRONG":
            table[(row["workload"], row["dtype"])][row["contestant"]] = row["median_s"]
    print(
        "| workload | dtype | symbp | fastest peer | symbp / fastest peer | symbp / numba_hand | symbp / jax_scan | symbp / torch |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (workload, dtype), times in table.items():
        if "symbp" not in times:
            continue
        ours = times["symbp"]
        peers = {k: v for k, v in times.items() if k != "symbp"}
        best = min(peers, key=peers.__getitem__)

        def ratio(name: str, ours: float = ours, peers: dict = peers) -> str:
            return f"{ours / peers[name]:.3g}" if name in peers else "–"

        print(
            f"| {workload} | {dtype} | {fmt(ours)} | {best} {fmt(peers[best])} | {ours / peers[best]:.3g} | "
            f"{ratio('numba_hand')} | {ratio('jax_scan')} | {ratio('torch')} |"
        )


if __name__ == "__main__":
    main()
