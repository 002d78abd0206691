"""README.md: its commands come first, and each ```python block runs alone as a script.

Every block is written to a file of its own in an empty temporary folder and run there
in a new interpreter (the repository on ``PYTHONPATH``, the environment's
``SYMBP_CACHE_DIR`` or symbp's default cache): it must succeed, print what it
computes, and leave ``git status`` of the checkout as it found it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

README = ROOT / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
BLOCKS = BLOCK.findall(README.read_text(encoding="utf-8"))


def git_status() -> str | None:
    """``git status --porcelain`` of the checkout; None outside a git checkout."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return None
    result = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout if result.returncode == 0 else None


def test_the_first_commands_install_demo_and_test():
    text = README.read_text(encoding="utf-8")
    first = re.search(r"^```bash\n(.*?)^```", text, re.S | re.M)
    assert first is not None and first.start() < text.index("```python")
    commands = [line.split("#")[0].strip() for line in first.group(1).splitlines()]
    assert commands[:2] == ["pip install -e . && symbp demo", 'pip install -e ".[test]" && pytest']


def test_there_are_blocks():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("number", range(1, len(BLOCKS) + 1), ids=lambda n: f"block {n}")
def test_block_runs_alone_prints_and_writes_nothing_into_the_checkout(number, tmp_path):
    script = tmp_path / f"readme_block_{number}.py"
    script.write_text(BLOCKS[number - 1], encoding="utf-8")
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}
    env["MPLBACKEND"] = "Agg"
    before = git_status()
    result = subprocess.run(
        [sys.executable, script.name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"README block {number} failed:\n{result.stderr[-3000:]}"
    assert result.stdout.strip(), f"README block {number} prints nothing"
    after = git_status()
    changed = sorted(set((after or "").splitlines()) ^ set((before or "").splitlines()))
    assert after == before, f"README block {number} changed the checkout: {changed}"
