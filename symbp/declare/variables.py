"""Declared variables: a user's symbol lists turned into validated, immutable variables."""

from __future__ import annotations

import keyword
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sympy as sp

from ..errors import DeclarationError
from ..nodes.elements import is_leaf_read
from ..nodes.graph import unique_nodes
from ..nodes.scan import Scan

ROLES = ("params", "inputs", "targets")
REDUCTIONS = ("mean", "sum")
#: Names the generated code uses itself; user symbols may not take them.
RESERVED = frozenset({"np", "math", "numba", "sys", "os"})


@dataclass(frozen=True)
class Variable:
    """One declared parameter, input or target.

    ``shape`` is ``()`` for a scalar and ``(rows, cols)`` for a matrix. ``symbol`` is
    the SymPy object the user declared (``Symbol``, ``MatrixSymbol`` or an immutable
    ``Matrix`` of distinct symbols).
    """

    name: str
    role: str
    shape: tuple[int, ...]
    symbol: sp.Basic

    @property
    def size(self) -> int:
        """Number of scalar elements."""
        size = 1
        for dim in self.shape:
            size *= dim
        return size

    @property
    def is_explicit(self) -> bool:
        """True for an explicit ``Matrix`` of symbols."""
        return isinstance(self.symbol, sp.MatrixBase)

    def element(self, index: tuple[int, ...]) -> sp.Expr:
        """The SymPy scalar standing for one element."""
        if not self.shape:
            return self.symbol  # type: ignore[return-value]
        return self.symbol[index]  # type: ignore[index]

    def indices(self) -> list[tuple[int, ...]]:
        """Every element index in row-major order."""
        if not self.shape:
            return [()]
        rows, cols = self.shape
        return [(i, j) for i in range(rows) for j in range(cols)]


def _check_name(name: str, what: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise DeclarationError(f"{what} name {name!r} is not a valid Python identifier")
    if name.startswith("_") or name in RESERVED:
        raise DeclarationError(
            f"{what} name {name!r} is reserved for generated code (names may not start "
            f"with '_' or be one of {sorted(RESERVED)})"
        )


def _explicit_name(matrix: sp.MatrixBase) -> str:
    """Name of an explicit matrix of symbols: the common stem of its elements' names."""
    names = [str(e) for e in matrix]
    stem = names[0]
    for name in names[1:]:
        while not name.startswith(stem):
            stem = stem[:-1]
    stem = stem.rstrip("0123456789_")
    if not stem:
        raise DeclarationError(
            f"cannot name the explicit matrix {matrix.tolist()}: its symbols share no name "
            "stem; pass it in a dict instead, e.g. params={'W': matrix}"
        )
    return stem


def _variable(entry: sp.Basic, role: str, name: str | None) -> Variable:
    if isinstance(entry, sp.MatrixSymbol):
        rows, cols = entry.shape
        if not (isinstance(rows, sp.Integer) and isinstance(cols, sp.Integer)):
            raise DeclarationError(
                f"MatrixSymbol {entry.name} has symbolic shape {entry.shape}; "
                "declare it with integer dimensions"
            )
        if name is not None and name != entry.name:
            raise DeclarationError(
                f"MatrixSymbol {entry.name} is given under the different name {name!r}"
            )
        return Variable(entry.name, role, (int(rows), int(cols)), entry)
    if isinstance(entry, sp.MatrixBase):
        matrix = sp.ImmutableMatrix(entry)
        elements = list(matrix)
        bad = [e for e in elements if not isinstance(e, sp.Symbol)]
        if bad:
            raise DeclarationError(
                f"explicit matrix in {role} must hold distinct Symbols; {bad[0]} is a "
                f"{type(bad[0]).__name__}"
            )
        if len(set(elements)) != len(elements):
            raise DeclarationError(f"explicit matrix in {role} repeats a symbol: {matrix.tolist()}")
        return Variable(name or _explicit_name(matrix), role, tuple(matrix.shape), matrix)
    if isinstance(entry, sp.Dummy):
        raise DeclarationError(f"Dummy symbol {entry} cannot be declared; use sympy.Symbol")
    if isinstance(entry, sp.Symbol):
        if name is not None and name != entry.name:
            raise DeclarationError(
                f"Symbol {entry.name} is given under the different name {name!r}"
            )
        return Variable(entry.name, role, (), entry)
    if isinstance(entry, sp.IndexedBase | sp.Indexed):
        base = entry.label if isinstance(entry, sp.IndexedBase) else entry.base.label
        raise DeclarationError(
            f"{role} entries must be Symbol, MatrixSymbol or Matrix of Symbols; {entry} is an "
            f"{type(entry).__name__}: declare {base} = sp.MatrixSymbol('{base}', rows, cols) "
            f"and read its entries as {base}[i, j]"
        )
    raise DeclarationError(
        f"{role} entries must be Symbol, MatrixSymbol or Matrix of Symbols, "
        f"got {type(entry).__name__}: {entry!r}"
    )


def declare_role(entries: object, role: str) -> tuple[Variable, ...]:
    """Validate one role's entries (a sequence, or a name -> symbol mapping)."""
    if entries is None:
        return ()
    if isinstance(entries, sp.Basic) or isinstance(entries, str):
        entries = [entries]
    items: Iterable[tuple[str | None, object]]
    if isinstance(entries, Mapping):
        items = [(str(k), v) for k, v in entries.items()]
    else:
        try:
            items = [(None, v) for v in entries]  # type: ignore[attr-defined]
        except TypeError:
            raise DeclarationError(f"{role} must be a list of symbols, got {entries!r}") from None
    variables = []
    for name, entry in items:
        if isinstance(entry, str):
            raise DeclarationError(
                f"{role} entry {entry!r} is a string; declare sympy.Symbol({entry!r}) instead"
            )
        variable = _variable(entry, role, name)  # type: ignore[arg-type]
        _check_name(variable.name, role[:-1])
        variables.append(variable)
    return tuple(variables)


def check_evaluated(loss: sp.Basic) -> None:
    """No unevaluated Derivative/Integral/Sum/Product/Subs, no complex or infinite constants."""
    for node in unique_nodes(loss, stop=is_leaf_read):
        if isinstance(node, sp.Derivative | sp.Integral | sp.Sum | sp.Product | sp.Subs):
            raise DeclarationError(
                f"the loss contains an unevaluated {type(node).__name__}: {node}; call .doit() first"
            )
        if node in (sp.I, sp.zoo, sp.oo, -sp.oo, sp.nan):
            raise DeclarationError(f"the loss must be real and finite-valued; it contains {node}")


def scalar_loss(loss: object) -> sp.Expr:
    """The per-sample loss as a scalar SymPy expression (1x1 matrices are unwrapped)."""
    if isinstance(loss, int | float):
        loss = sp.sympify(loss)
    if isinstance(loss, sp.MatrixBase | sp.MatrixExpr):
        if tuple(loss.shape) != (1, 1):
            raise DeclarationError(
                f"the loss must be a scalar or a 1x1 matrix, got shape {tuple(loss.shape)}"
            )
        loss = loss[0, 0]
    if not isinstance(loss, sp.Expr):
        raise DeclarationError(
            f"the loss must be a SymPy expression, got {type(loss).__name__}: {loss!r}"
        )
    check_evaluated(loss)
    return loss


def check_declared(loss: sp.Expr, variables: tuple[Variable, ...]) -> None:
    """Every free symbol of the loss is declared exactly once, and names are distinct."""
    seen: dict[str, Variable] = {}
    owner: dict[sp.Basic, Variable] = {}
    for var in variables:
        if var.name in seen:
            other = seen[var.name]
            what = "declared twice" if other.symbol == var.symbol else "used by two symbols"
            raise DeclarationError(
                f"name {var.name!r} is {what} (as {other.role[:-1]} and as {var.role[:-1]})"
            )
        seen[var.name] = var
        atoms = list(var.symbol) if var.is_explicit else [var.symbol]  # type: ignore[call-overload]
        for atom in atoms:
            if atom in owner:
                raise DeclarationError(
                    f"symbol {atom} is declared twice (in {owner[atom].name!r} as "
                    f"{owner[atom].role[:-1]} and in {var.name!r} as {var.role[:-1]})"
                )
            owner[atom] = var
            if isinstance(atom, sp.Symbol) and atom.name != var.name and not var.is_explicit:
                raise DeclarationError(f"symbol {atom} is declared under name {var.name!r}")
    nodes = unique_nodes(loss, stop=is_leaf_read)
    # The bound variables of Lambdas (elementwise functions) and the placeholders of
    # scans' steps are not free symbols.
    bound = {v for n in nodes if isinstance(n, sp.Lambda) for v in n.variables}
    bound |= {v for n in nodes if isinstance(n, Scan) for v in n.bound}
    free = [n for n in nodes if isinstance(n, sp.Symbol | sp.MatrixSymbol) and n not in bound]
    free += [n.args[0] for n in nodes if is_leaf_read(n)]
    for atom in sorted(set(free), key=sp.default_sort_key):
        if isinstance(atom, sp.Dummy | sp.Wild):
            raise DeclarationError(f"the loss contains the dummy symbol {atom}; use sympy.Symbol")
        if atom not in owner:
            kind = "MatrixSymbol" if isinstance(atom, sp.MatrixSymbol) else "symbol"
            raise DeclarationError(
                f"{kind} {atom} appears in the loss but is not declared; add it to "
                "params, inputs or targets"
            )
    elements = [n for n in nodes if is_leaf_read(n)]
    for elem in sorted(elements, key=sp.default_sort_key):
        matrix, i, j = elem.args
        var = owner.get(matrix)
        if var is None or not (isinstance(i, sp.Integer) and isinstance(j, sp.Integer)):
            raise DeclarationError(f"matrix element {elem} must use integer indices")
        if not (0 <= int(i) < var.shape[0] and 0 <= int(j) < var.shape[1]):
            raise DeclarationError(
                f"matrix element {elem} is outside {var.name}'s shape {var.shape}"
            )
