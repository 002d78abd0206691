"""The benchmark harness: one real end-to-end run, the correctness check, the README block."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT))
from benchmarks import run, summary


def test_run_measures_checks_and_reports(tmp_path):
    """A tiny real run: NumPy, hand Numba and symbp on W2; all agree, all are timed."""
    pytest.importorskip("matplotlib")
    cmd = [
        sys.executable,
        "benchmarks/run.py",
        "--workloads",
        "W2",
        "--contestants",
        "numpy,numba_hand,symbp",
        "--dtypes",
        "float64,float32",
        "--reps",
        "2",
        "--warmup",
        "0",
        "--min-time",
        "0",
        "--rounds",
        "2",
        "--out-dir",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((tmp_path / "results.json").read_text())
    records = {(r["contestant"], r["dtype"]): r for r in data["results"]}
    assert len(records) == 6
    for (name, dtype), record in records.items():
        assert record["status"] == "ok", (name, dtype, record.get("error"))
        assert record["check"] == ("reference" if name == "numpy" else "ok")
        assert record["reps"] == 4 and record["rounds"] == 2  # 2 runs x 2 rounds
        assert record["min_s"] <= record["median_s"] <= record["max_s"]
        assert record["cold_s"] > 0
        # warm build: a second, build-only process in the caches of the first round's run
        assert record["warm"]["status"] == "ok", (name, dtype, record["warm"].get("error"))
        assert record["warm_s"] == record["warm"]["cold_s"] > 0
        if name == "symbp":  # cold compiled its kernel, warm loaded it from Numba's cache
            assert record["cache"]["numba_misses"] >= 1
            warm_cache = record["warm"]["cache"]
            assert warm_cache["numba_hits"] >= 1 and warm_cache["numba_misses"] == 0
    markdown = (tmp_path / "results.md").read_text()
    assert "### W2:" in markdown and "steady median [min–max] float32" in markdown
    assert "| cold build float64 / float32 | warm build float64 / float32 |" in markdown
    assert "| 1.00× |" in markdown or "| 1× |" in markdown  # symbp's own ratio
    assert (tmp_path / "results.png").stat().st_size > 10_000
    block = summary.block(data)
    assert "| W2 | float64 |" in block and "| W2 | float32 |" in block
    assert "| workload | symbp | numba_hand |" in block  # the build table (float64)
    build_row = next(
        line for line in block.splitlines() if line.startswith("| W2 | ") and " / " in line
    )
    assert "–" not in build_row  # cold and warm of both


def test_results_without_warm_builds_still_render():
    """results.json from before warm builds: "–" in the column, no build table."""
    old = _record("symbp", 1.0)
    old["cold_s"] = 1.5
    assert run.cold_text(old) == "1.5 s" and run.warm_text(old) == "–"
    assert summary.build_table([old]) == []
    table = run.workload_table("W0", ["float64"], ["symbp"], {("symbp", "W0", "float64"): old})
    assert table.splitlines()[-1].endswith("| 1.5 s | – | 1 |")


def _record(contestant, loss, status="ok"):
    return {
        "contestant": contestant,
        "workload": "W0",
        "dtype": "float64",
        "status": status,
        "final_loss": loss,
        "times": [1e-3, 1e-3],
        "median_s": 1e-3,
        "min_s": 1e-3,
        "max_s": 1e-3,
    }


def test_a_wrong_answer_is_marked_and_not_ranked():
    results = {
        ("numpy", "W0", "float64"): _record("numpy", 1.0),
        ("symbp", "W0", "float64"): _record("symbp", 1.0 + 1e-9),
        ("torch", "W0", "float64"): _record("torch", 1.01),
    }
    run.check_against_reference(results)
    assert results[("symbp", "W0", "float64")]["check"] == "ok"
    assert results[("torch", "W0", "float64")]["status"] == "WRONG"
    table = run.workload_table("W0", ["float64"], ["numpy", "symbp", "torch"], results)
    wrong_row = next(line for line in table.splitlines() if "| torch |" in line)
    assert wrong_row.startswith("| – |") and "WRONG" in wrong_row


def test_summary_command_names_non_default_settings():
    assert summary.command({"quick": True, "reps": 3, "min_time": 0.2}) == (
        "python benchmarks/run.py --quick"
    )
    full = {"quick": False, "reps": 5, "dtypes": "float64", "min_time": 1.0}
    assert summary.command(full) == "python benchmarks/run.py --dtypes float64"


def test_readme_shows_the_committed_results():
    data = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    readme = (ROOT / "README.md").read_text()
    assert summary.block(data) in readme, "run python benchmarks/summary.py --readme"


W6_GRADIENT_CHECK = """
import numpy as np
from benchmarks import workloads
from benchmarks.contestants import numpy as reference

wl = workloads.get("W6")
assert wl.data["x"].shape == (1024, 50, 2) and wl.data["y"].shape == (1024, 1)
assert np.all(wl.data["x"][:, :, 1].sum(axis=1) == 2)  # two marked steps per sequence
x, y = wl.data["x"][:32], wl.data["y"][:32]
p = {k: v.copy() for k, v in wl.params.items()}
p["b"] += 0.1
p["by"] += 0.3
grads = reference.grad_fn("rnn")(p, (np.ascontiguousarray(x.transpose(1, 0, 2)), y))
rng = np.random.default_rng(6)
for name in p:
    for _ in range(3):
        at = tuple(int(rng.integers(0, n)) for n in p[name].shape)
        up = {k: v.copy() for k, v in p.items()}
        down = {k: v.copy() for k, v in p.items()}
        up[name][at] += 1e-6
        down[name][at] -= 1e-6
        fd = (workloads.loss64(wl, up, {"x": x, "y": y})
              - workloads.loss64(wl, down, {"x": x, "y": y})) / 2e-6
        assert abs(fd - grads[name][at]) < 1e-8 * max(1.0, abs(fd)), (name, at, fd)
print("ok")
"""


def test_w6_reference_gradient_is_the_rnns():
    """W6's NumPy reference (backpropagation through time) against central differences
    of the shared float64 loss; in a subprocess, as importing a contestant pins threads."""
    proc = subprocess.run(
        [sys.executable, "-c", W6_GRADIENT_CHECK],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
