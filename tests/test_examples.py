"""examples/: each script names what it needs in its first lines; the shipped data are right."""

from __future__ import annotations

import ast
import re
import tomllib

import numpy as np
import pytest
from conftest import EXAMPLES, ROOT, load_example

SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
#: imports that only an optional extra of pyproject.toml installs -> that extra
OPTIONAL = {
    "matplotlib": "plot",
    "symbp.plot": "plot",
    "tqdm": "progress",
    "dask": "dask",
    "distributed": "dask",
    "symbp.dask": "dask",
    "sklearn": "bench",
    "torch": "bench",
    "jax": "bench",
    "pytensor": "bench",
}
FIRST_LINES = 6


def imported(path) -> set[str]:
    """Every module ``path`` imports anywhere (``from a import b`` counts ``a`` and ``a.b``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def extras_needed(path) -> set[str]:
    found = imported(path)
    return {
        extra
        for module, extra in OPTIONAL.items()
        if any(name == module or name.startswith(module + ".") for name in found)
    }


def test_there_are_examples():
    assert {"seed_000.py", "digits_mlp.py", "dask_logistic.py"} <= {p.name for p in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_each_example_names_what_it_needs_in_its_first_lines(script):
    head = "\n".join(script.read_text(encoding="utf-8").splitlines()[:FIRST_LINES])
    assert "pip install -e ." in head or 'pip install -e ".[' in head, head
    named = set(re.findall(r'pip install -e "\.\[([a-z]+)\]"', head))
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert named <= set(extras), f"{script.name} names an extra pyproject.toml lacks"
    missing = extras_needed(script) - named
    assert not missing, f"{script.name} imports what the extras {sorted(missing)} install"
    assert f"python examples/{script.name}" in head


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_example_needs_scikit_learn(script):
    """The examples' data ship in examples/data/ (scikit-learn is the bench extra's)."""
    assert "bench" not in extras_needed(script)


def test_the_shipped_digits_are_scikit_learns():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = load_example("digits_mlp")
    train, X_test, labels_test = digits.dataset()
    reference = datasets.load_digits()
    X, labels = reference.data / 16.0, reference.target
    np.testing.assert_array_equal(train["x"], X[:1500])
    np.testing.assert_array_equal(train["t"], np.eye(10)[labels[:1500]])
    np.testing.assert_array_equal(X_test, X[1500:])
    np.testing.assert_array_equal(labels_test, labels[1500:])


def test_the_shipped_breast_cancer_data_are_scikit_learns():
    datasets = pytest.importorskip("sklearn.datasets")
    shipped = load_example("breast_cancer").load_data("breast_cancer")
    reference = datasets.load_breast_cancer()
    np.testing.assert_array_equal(shipped["features"], reference.data)
    np.testing.assert_array_equal(shipped["labels"], reference.target)


def test_the_shipped_data_need_no_pickle():
    for path in sorted((EXAMPLES / "data").glob("*.npz")):
        with np.load(path, allow_pickle=False) as archive:
            assert all(archive[key].dtype != object for key in archive.files), path.name
