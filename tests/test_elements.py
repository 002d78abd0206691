"""Element reads of compound matrix expressions (symbp.nodes.elements) against plain SymPy."""

from __future__ import annotations

import pytest
import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement

import symbp  # noqa: F401  (installs the lazy element reads)
from symbp.nodes.elements import Element, expand_elements, expanding, is_leaf_read

A = sp.MatrixSymbol("A", 2, 3)
B = sp.MatrixSymbol("B", 3, 2)
x = sp.MatrixSymbol("x", 1, 3)


def expanded(matrix: sp.MatrixExpr, i: int, j: int) -> sp.Expr:
    """SymPy's own entry (what indexing gives without symbp)."""
    with expanding():
        return matrix[i, j]


def test_reads_of_compound_expressions_stay_elements():
    e = (A * B)[1, 0]
    assert isinstance(e, Element) and e.parent == A * B and (e.i, e.j) == (1, 0)
    assert isinstance((x * B).applyfunc(sp.tanh)[0, 1], Element)
    assert isinstance((A * B + sp.Identity(2))[0, 0], Element)


def test_reads_of_declared_symbols_and_explicit_matrices_are_plain():
    assert type(A[0, 1]) is MatrixElement and is_leaf_read(A[0, 1])
    assert type(A.T[1, 0]) is MatrixElement and A.T[1, 0] == A[0, 1]
    explicit = A.as_explicit() * B.as_explicit()
    assert not explicit[0, 0].has(Element)
    assert (A * B).as_explicit()[0, 0] == expanded(A * B, 0, 0)  # as_explicit expands


def test_element_is_its_expanded_entry():
    e = (A * B)[0, 1]
    entry = expanded(A * B, 0, 1)
    assert e.doit() == entry and expand_elements(2 * e + 1) == 2 * entry + 1
    for wrt in (A[0, 2], B[2, 1], B[0, 0]):
        # (SymPy's own MatrixElement of a product differentiates to a Derivative)
        assert expand_elements(sp.diff(e**2, wrt)) == sp.diff(entry**2, wrt)
    values = {A: sp.Matrix(2, 3, range(1, 7)), B: sp.Matrix(3, 2, range(6))}
    assert e.subs(values) == entry.subs(values)  # an explicit parent collapses it


def test_indexing_forms_and_bounds():
    row = x * B  # 1 x 2
    assert row[0, -1] == row[0, 1] and row[1] == row[0, 1]  # negative and row-major index
    with pytest.raises(IndexError, match="outside the shape"):
        row[0, 2]
    with pytest.raises(IndexError):
        row[1, 0]
    i = sp.Symbol("i", integer=True)
    assert not isinstance(row[0, i], Element)  # a symbolic index: SymPy's own entry


def test_sympys_own_indexing_can_be_restored():
    from symbp import elements

    A, B = sp.MatrixSymbol("A", 2, 3), sp.MatrixSymbol("B", 3, 2)
    lazy = (A * B)[0, 0]
    elements.uninstall()
    try:
        eager = (A * B)[0, 0]
        assert not isinstance(eager, elements.Element)
        assert eager == sum(A[0, k] * B[k, 0] for k in range(3))
    finally:
        elements.install()
    assert isinstance((A * B)[0, 0], elements.Element) and lazy.doit() == eager
