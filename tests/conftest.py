"""Shared fixtures: example loading, seeded generators, the hypothesis profile."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SHARED = ROOT.parent / "shared"

settings.register_profile("symbp", deadline=None, max_examples=40, derandomize=True)
settings.load_profile("symbp")


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` without running its main()."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    module_name = f"_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def generated(name: str) -> ModuleType:
    """Import ``generated/<name>.py`` as the package module users import."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"generated.{name}")


#: A document that any working TeX installation compiles, with the packages symbp's
#: documents load (symbp.explain.latex): if pdflatex fails on this, the installation is
#: at fault (no format file, a missing .sty), not the document under test.
PDFLATEX_PROBE = r"""\documentclass[11pt]{article}
\usepackage[margin=2cm]{geometry}
\usepackage{amsmath,amssymb}
\begin{document}
$\begin{aligned} \bar{w} &= 2 u \in \mathbb{R}^{2 \times 3} \end{aligned}$
\end{document}
"""


def run_pdflatex(exe: str, folder: Path, tex: str) -> subprocess.CompletedProcess[str]:
    """``pdflatex`` on ``folder/tex``, in that folder, stopping at the first error."""
    return subprocess.run(
        [exe, "-interaction=nonstopmode", "-halt-on-error", tex],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def latex_error(result: subprocess.CompletedProcess[str]) -> str:
    """The first LaTeX error of a pdflatex run (its ``!`` line), else its last line."""
    lines = [line.strip() for line in (result.stdout + result.stderr).splitlines()]
    errors = [line for line in lines if line.startswith("!")]
    return (errors or [line for line in lines if line] or [f"exit code {result.returncode}"])[0]


@pytest.fixture(scope="session")
def pdflatex(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The pdflatex executable, once it compiled :data:`PDFLATEX_PROBE`.

    Skips the test when pdflatex is not installed, or is installed but cannot run or
    cannot compile that document (a broken TeX installation: "I can't find the format
    file", a missing ``.sty``), so only a wrong document of symbp's fails a test.
    """
    exe = shutil.which("pdflatex")
    if exe is None:
        pytest.skip("pdflatex is not installed (Debian: apt-get install texlive-latex-base)")
    folder = tmp_path_factory.mktemp("pdflatex-probe")
    (folder / "probe.tex").write_text(PDFLATEX_PROBE, encoding="utf-8")
    try:
        result = run_pdflatex(exe, folder, "probe.tex")
    except (OSError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"pdflatex is installed but cannot run: {err}")
    if result.returncode != 0 or not (folder / "probe.pdf").exists():
        pytest.skip(
            "pdflatex is installed but cannot compile a minimal article with amsmath, "
            f"amssymb and geometry (the TeX installation, not symbp): {latex_error(result)}"
        )
    return exe


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator (never the global NumPy state)."""
    return np.random.default_rng(20261122)
