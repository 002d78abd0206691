"""docs/: every ```python block runs, page by page; the seed pages are current."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_there_are_pages():
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert {"index.md", "tutorial.md", "api.md"} <= names
    assert {f"seeds/seed_00{i}.md" for i in range(5)} <= names


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if BLOCK.search(p.read_text())],
    ids=lambda p: p.relative_to(DOCS).as_posix(),
)
def test_code_blocks_run(page, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    if page.name == "dask.md":  # the dask extra
        pytest.importorskip("distributed")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"_docs_{page.stem}"}
    for number, block in enumerate(BLOCK.findall(page.read_text()), 1):
        code = compile(block, f"{page.name} block {number}", "exec")
        exec(code, namespace)


def test_seed_pages_are_current():
    result = subprocess.run(
        [sys.executable, str(DOCS / "make_seed_pages.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
