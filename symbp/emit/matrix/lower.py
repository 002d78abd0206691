"""Batched lowering: a matrix program -> the body of one compiled batch function.

The per-sample program becomes a program over a *batch*: a per-sample row or column
vector of length ``k`` is stored as a ``(batch, k)`` array (so the per-sample
``x W`` is the batch product ``X W``), a per-sample scalar as ``(batch,)``, a
per-sample ``r x c`` matrix as ``(batch, r, c)``. Values that do not depend on the
data (params and their own subexpressions) are stored once.

Each statement is lowered to one of a few loop nests:

* **elementwise**: any tree of sums, Hadamard products, elementwise functions,
  scalar factors, transposes and broadcasts (products whose inner dimension is 1)
  becomes *one* fused loop whose body is the tree as one scalar expression;
* **product**: a contraction ``A B`` becomes ``np.dot`` on contiguous 2-D views when
  its shapes map onto one matrix product (row vectors times a matrix, a matrix times
  column vectors, or a batch sum of outer products, which is ``X^T D``) and it is
  large enough (:data:`BLAS_MIN`); otherwise an ``i-k-j`` loop nest;
* **row log-sum-exp**: max-shifted, two passes over the row.

The adjoint of a value that does not depend on the data (``summed``) is one copy
summed over the batch: batched terms are reduced over ``_b``, terms that are the
same for every sample are multiplied by the batch count ``_nbf``.

Temporaries live in one workspace array allocated once per kernel call; each gets a
fixed slice, bound as a ``(cap, k)`` array before the first batch, so the kernel
allocates nothing while training. Consecutive per-sample loop nests share one ``_b``
loop (:mod:`symbp.emit.matrix.fusion`). The code comes in two blocks: the forward block
computes the batch loss ``_total``; the backward block (run when ``_want``) assigns the
batch gradient sum to ``_gb``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

from ...derive.hessian import DIRECTION_PREFIX
from ...errors import EmitError
from ...explain.code import CodeNames, identifier
from ...explain.names import variable_name
from ...nodes.matrix import Pad, RowLogSumExp, Unit, block_ranges, is_numeric_matrix, softmax_of
from ...nodes.scan import Scan, ScanGrad
from ...nodes.text import SummaryPrinter, brief
from ...simplify.matrix import MatrixProgram
from ..layout import data_argument
from ..lines import Lines
from ..printer import format_literal
from .fusion import Segments
from .products import ProductLowering
from .scan import ScanLowering
from .values import (
    BATCHED,
    BLAS_MIN,
    COUNT,
    MAX_TRACE,
    SHARED,
    SUMMED,
    Value,
    dims,
    is_broadcast,
    loop_index,
    terms_of,
)
from .vecmath import make_batch_printer

#: The matrix nodes the lowering computes (what a matrix-level model may contain; the
#: canonical passes write positive integer powers ``A**n`` as products first).
LOWERED: tuple[type, ...] = (
    sp.MatrixSymbol,
    sp.MatrixBase,
    sp.OneMatrix,
    sp.ZeroMatrix,
    sp.Identity,
    Unit,
    MatrixElement,
    sp.Transpose,
    sp.MatrixSlice,
    Pad,
    sp.BlockMatrix,
    sp.MatAdd,
    sp.MatMul,
    sp.HadamardProduct,
    sp.HadamardPower,
    ElementwiseApplyFunction,
    sp.Trace,
    RowLogSumExp,
    Scan,
    ScanGrad,
)


class BatchLowering(ProductLowering, ScanLowering):
    """Lowers a matrix program into the code of one batch.

    ``views(out)`` writes the arrays of one batch of ``_nb`` samples (the data's rows,
    views of ``_theta`` and ``_grad``, the temporaries' slices of the workspace
    ``_work``); ``forward(out)`` and ``backward(out)`` its code: the forward block sets
    ``_total`` to the sum of the per-sample losses, the backward block *assigns* the sum
    of their gradients to the gradient views. Values carry the derivation's names
    (:mod:`symbp.explain.code`); temporaries are ``_t<k>``.
    """

    def __init__(
        self,
        program: MatrixProgram,
        dtype: str,
        *,
        with_grad: bool = True,
        names: CodeNames | None = None,
    ):
        self.program = program
        self.dtype = dtype
        self.with_grad = with_grad
        #: the identifiers of the derivation's quantities (symbp.explain.code)
        self.code = names if names is not None else CodeNames()
        self.print = make_batch_printer(dtype)
        #: whether the code calls ``np.dot`` (BLAS, through SciPy)
        self.blas = False
        self.values: dict[sp.Basic, Value] = {COUNT: Value("_nbf", 1, 1, SHARED, "local")}
        self.temps: list[Value] = []
        self.computed: dict[sp.Basic, sp.Basic] = {}  # expression -> temporary holding it
        #: module-level constant arrays (explicit numeric matrices): name -> definition
        self.constants: dict[str, str] = {}
        #: views of the workspace bound after the temporaries (a scan's first and last state)
        self.aliases: list[str] = []
        self._scan_setup()
        self.forward_code = Segments()
        self.backward_code = Segments()
        self.segments = self.forward_code
        self.body = Lines()  # the lines of the segment being written
        self._nested = False
        self._count = 0
        #: a value's name -> the program symbol it holds; the next comment's chain rule
        self.symbol_of: dict[str, sp.Basic] = {}
        self.chain: str | None = None
        self.params: list[tuple[Value, int]] = []
        #: a Hessian-vector product's direction, laid out as the params (symbp.derive.hessian)
        self.directions: list[tuple[Value, int]] = []
        #: the batch's data and the arrays they are sliced from
        self.data: list[tuple[Value, str]] = []
        offset = 0
        variables = program.derivation.variables
        offsets = {}
        for role in ("params", "directions", "inputs", "targets"):  # the argument order
            for var in (v for v in variables if v.role == role):
                rows, cols = var.shape if var.shape else (1, 1)
                if role == "directions":
                    name = self.code.claim(var.name)
                else:
                    name = self.code.names.get(var.symbol) or self.code.name(
                        var.symbol, identifier(variable_name(var))
                    )
                if role == "params":
                    value = Value(name, rows, cols, SHARED, "param" if var.shape else "local")
                    self.params.append((value, offset))
                    offsets[var.name] = offset
                    offset += var.size
                elif role == "directions":
                    value = Value(name, rows, cols, SHARED, "param" if var.shape else "local")
                    self.directions.append(
                        (value, offsets[var.name.removeprefix(DIRECTION_PREFIX)])
                    )
                else:
                    value = Value(name, rows, cols, BATCHED, "data")
                    self.data.append((value, data_argument(var)))
                self.values[var.symbol] = value
        self._lower()

    def name_of(self, target: sp.Basic) -> str:
        """The identifier of a statement's target: the derivation's name, or ``_t<k>``."""
        name = self.code.names.get(target)
        return name if name is not None else self.code.claim(f"_t{self._next()}")

    def _next(self) -> int:
        self._count += 1
        return self._count - 1

    # -- small helpers ---------------------------------------------------------------
    def lit(self, value: float) -> str:
        """A literal in the kernel precision."""
        return format_literal(value, self.dtype)

    def kind_of(self, expr: sp.Basic) -> str:
        """Batched if any value in ``expr`` is, else summed if any is, else shared."""
        if expr.has(ScanGrad):  # the kinds of what the backward loop computed
            expr = expr.xreplace({g: self.materialize(g) for g in expr.atoms(ScanGrad)})
        kinds = {self.values[s].kind for s in expr.free_symbols if s in self.values}
        if BATCHED in kinds:
            return BATCHED
        return SUMMED if SUMMED in kinds else SHARED

    def storage(self, name: str, rows: int, cols: int, kind: str) -> Value:
        """A new value: a workspace slice, or a local variable for a shared 1x1."""
        local = kind != BATCHED and rows == 1 and cols == 1
        value = Value(name, rows, cols, kind, "local" if local else "temp")
        if not local:
            self.temps.append(value)
        return value

    def temp(self, rows: int, cols: int, kind: str) -> sp.Basic:
        """A fresh temporary ``_t<n>``; returns the symbol that stands for it."""
        name = self.code.claim(f"_t{self._next()}")
        key = sp.MatrixSymbol(name, rows, cols)
        self.values[key] = self.storage(name, rows, cols, kind)
        return key

    def materialize(self, expr: sp.Basic) -> sp.Basic:
        """A stored symbol holding the value of ``expr`` (computed once, then reused); an
        explicit numeric matrix is a constant array of the module."""
        if expr in self.values:
            return expr
        if isinstance(expr, sp.MatrixBase):
            return self.constant(expr)
        if isinstance(expr, ScanGrad):
            if expr not in self.computed:
                self.scan_backward(expr)
            return self.computed[expr]
        if isinstance(expr, Scan):
            key = self.computed.get(expr)
            if key is None:
                name = self.code.claim(f"_t{self._next()}")
                key = sp.MatrixSymbol(name, *dims(expr))
                self.values[key] = self.scan_forward(expr, name, key)
                self.computed[expr] = key
            return key
        key = self.computed.get(expr)
        if key is None:
            key = self.temp(*dims(expr), self.kind_of(expr))
            self.assign(self.values[key], expr)
            self.computed[expr] = key
        return key

    def constant(self, matrix: sp.MatrixBase) -> sp.MatrixBase:
        """Register an explicit numeric matrix as a module-level array (named by its
        content, so the loss and predict functions share one) and return it."""
        if not is_numeric_matrix(matrix):
            raise EmitError(
                f"an explicit {matrix.rows}x{matrix.cols} Matrix with symbols inside "
                f"({brief(matrix)}) cannot be a constant of the kernel; declare it as a "
                "MatrixSymbol (a param or an input)"
            )
        rows = [
            "[" + ", ".join(repr(float(matrix[r, c])) for c in range(matrix.cols)) + "]"
            for r in range(matrix.rows)
        ]
        text = "[" + ", ".join(rows) + "]"
        digest = hashlib.sha1(text.encode()).hexdigest()[:10]
        name = f"_C{digest}"
        self.constants[name] = f"{name} = np.array({text}, dtype=np.{self.dtype})"
        self.values[matrix] = Value(name, matrix.rows, matrix.cols, SHARED, "const")
        return matrix

    # -- elementwise templates -----------------------------------------------------------
    def scalar_of(self, expr: sp.Basic, i: str, j: str) -> sp.Expr:
        """Element ``(i, j)`` of ``expr`` as a scalar expression over stored elements.

        Elementwise structure is expanded in place (fused into one loop body);
        anything that reduces (a contraction, a row log-sum-exp) is materialized first.
        """
        value = self.values.get(expr)
        if value is not None:
            return sp.Symbol(value.access(i, j))
        if expr in self.computed:
            return self.scalar_of(self.computed[expr], i, j)
        if expr.is_Number or isinstance(expr, sp.NumberSymbol):
            return expr  # type: ignore[return-value]
        if isinstance(expr, sp.OneMatrix):
            return sp.S.One
        if isinstance(expr, sp.ZeroMatrix):
            return sp.S.Zero
        if isinstance(expr, sp.Identity):
            if i == j:
                return sp.S.One
            return sp.Symbol(f"({self.lit(1.0)} if {i} == {j} else {self.lit(0.0)})")
        if isinstance(expr, Unit):
            conditions = []
            for index, position in zip((i, j), expr.position, strict=True):
                if index.isdigit():  # a fixed index: decided now
                    if int(index) != position:
                        return sp.S.Zero
                else:
                    conditions.append(f"{index} == {position}")
            if not conditions:
                return sp.S.One
            one, zero = self.lit(1.0), self.lit(0.0)
            return sp.Symbol(f"({one} if {' and '.join(conditions)} else {zero})")
        if isinstance(expr, MatrixElement):
            matrix, row, col = expr.args
            return self.scalar_of(matrix, str(row), str(col))
        if isinstance(expr, sp.Transpose):
            return self.scalar_of(expr.arg, j, i)
        if isinstance(expr, sp.MatrixSlice):
            (r0, _, rs), (c0, _, cs) = expr.rowslice, expr.colslice
            return self.scalar_of(expr.parent, shifted(i, r0, rs), shifted(j, c0, cs))
        if isinstance(expr, Pad):
            return self.padded(expr, i, j)
        if isinstance(expr, sp.BlockMatrix):
            return self.block_entry(expr, i, j)
        if isinstance(expr, sp.MatrixBase):
            return self.scalar_of(self.materialize(expr), i, j)
        if isinstance(expr, sp.MatAdd):
            return sp.Add(*(self.scalar_of(a, i, j) for a in expr.args))
        if isinstance(expr, sp.HadamardProduct):
            return sp.Mul(*(self.scalar_of(a, i, j) for a in expr.args))
        if isinstance(expr, sp.HadamardPower):
            base, exp = expr.args
            return sp.Pow(self.scalar_of(base, i, j), self.scalar_of(exp, i, j))
        if isinstance(expr, ElementwiseApplyFunction):
            lam = expr.function
            (var,) = lam.variables
            subs = {var: self.scalar_of(expr.expr, i, j)}
            for sym in lam.expr.free_symbols - {var}:
                subs[sym] = self.scalar_of(sym, i, j)
            return lam.expr.xreplace(subs)  # type: ignore[no-any-return]
        if isinstance(expr, sp.MatMul) and is_broadcast(expr):
            coeff, mats = expr.as_coeff_matrices()
            factors = [self.scalar_of(coeff, i, j)]
            last = len(mats) - 1
            for n, mat in enumerate(mats):
                factors.append(self.scalar_of(mat, i if n == 0 else "0", j if n == last else "0"))
            return sp.Mul(*factors)
        if isinstance(expr, sp.Trace):
            size = dims(expr.arg)[0]
            if size > MAX_TRACE:
                raise EmitError(f"Trace of a {size}x{size} matrix is too large to emit: {expr}")
            return sp.Add(*(self.scalar_of(expr.arg, str(m), str(m)) for m in range(size)))
        if isinstance(expr, sp.MatMul | RowLogSumExp | Scan | ScanGrad):
            return self.scalar_of(self.materialize(expr), i, j)
        if isinstance(expr, sp.MatrixExpr):
            raise EmitError(f"{type(expr).__name__} ({expr}) cannot be compiled to a kernel")
        if isinstance(expr, sp.Symbol):
            raise EmitError(f"{expr} is used before it is computed")
        if not expr.args:
            return expr  # type: ignore[return-value]
        return expr.func(*(self.scalar_of(a, i, j) for a in expr.args))  # type: ignore[no-any-return]

    def conditional(self, value: sp.Expr, condition: str, otherwise: sp.Expr) -> sp.Expr:
        """``value if condition else otherwise`` as one scalar of the loop body."""
        return sp.Symbol(f"({self.print(value)} if {condition} else {self.print(otherwise)})")

    def padded(self, expr: Pad, i: str, j: str) -> sp.Expr:
        """Element ``(i, j)`` of a padding: the inner matrix's element where it sits, else 0."""
        conditions = []
        inner = []
        for index, (start, stop, step), size in zip(
            (i, j), (expr.rows_of, expr.cols_of), expr.shape, strict=True
        ):
            if index.lstrip("-").isdigit():  # a fixed index: decided now
                k = int(index)
                if not (start <= k < stop and (k - start) % step == 0):
                    return sp.S.Zero
                inner.append(str((k - start) // step))
                continue
            local = index if start == 0 else f"({index} - {start})"
            inner.append(local if step == 1 else f"{local} // {step}")
            if (start, stop) != (0, int(size)):
                conditions.append(f"{start} <= {index} < {stop}")
            if step != 1:
                conditions.append(f"{local} % {step} == 0")
        value = self.scalar_of(expr.inner, *inner)
        if not conditions:
            return value
        return self.conditional(value, " and ".join(conditions), sp.Float(0.0))

    def block_entry(self, expr: sp.BlockMatrix, i: str, j: str) -> sp.Expr:
        """Element ``(i, j)`` of a BlockMatrix: of the block it falls in."""
        ranges = block_ranges(expr)
        candidates = []
        for block, (r0, r1), (c0, c1) in ranges:
            fits = True
            for index, lo, hi in ((i, r0, r1), (j, c0, c1)):
                if index.isdigit() and not lo <= int(index) < hi:
                    fits = False
            if fits:
                candidates.append((block, (r0, r1), (c0, c1)))
        *tests, (block, (r0, _), (c0, _)) = candidates
        result = self.scalar_of(block, shifted(i, -r0, 1), shifted(j, -c0, 1))
        for block, (r0, r1), (c0, c1) in reversed(tests):
            condition = []
            if not i.isdigit() and r1 < int(expr.shape[0]):
                condition.append(f"{i} < {r1}")
            if not j.isdigit() and c1 < int(expr.shape[1]):
                condition.append(f"{j} < {c1}")
            value = self.scalar_of(block, shifted(i, -r0, 1), shifted(j, -c0, 1))
            result = self.conditional(value, " and ".join(condition), result)
        return result

    # -- statements ----------------------------------------------------------------------
    def is_contraction(self, expr: sp.Basic, reduce: bool) -> bool:
        """A product lowered as a product: a real contraction, or (when reducing) a
        batch sum of outer products of two stored batched vectors (``X^T D``)."""
        if not isinstance(expr, sp.MatMul):
            return False
        if not is_broadcast(expr):
            return True
        _, mats = expr.as_coeff_matrices()
        if not reduce or len(mats) != 2:
            return False
        left, right = mats
        if int(left.shape[0]) * int(right.shape[1]) < BLAS_MIN:
            return False
        return all(self._stored(m) is not None and self._stored(m).vector for m in mats)  # type: ignore[union-attr]

    def _stored(self, expr: sp.Basic) -> Value | None:
        if isinstance(expr, sp.Transpose):
            expr = expr.arg
        return self.values.get(expr)

    def assign(self, target: Value, expr: sp.Basic) -> None:
        """Lower ``target = expr`` (a per-sample or a shared target)."""
        self.comment(target, expr)
        terms = terms_of(expr)
        first = True
        light = []
        for term in terms:
            if isinstance(term, RowLogSumExp) and first:
                self.row_logsumexp(target, term)
            elif self.is_contraction(term, reduce=False):
                self.product(target, term, first=first, reduce=False)  # type: ignore[arg-type]
            else:
                light.append(term)
                continue
            first = False
        if light:
            self.elementwise(target, light, first=first, reduce=False)

    def accumulate(self, target: Value, expr: sp.Basic, first: bool = True) -> None:
        """Lower ``target = expr summed over the batch`` for a summed target (``+=`` when
        not ``first``)."""
        self.comment(target, expr)
        light: list[sp.Basic] = []
        plain: list[sp.Basic] = []
        for term in terms_of(expr):
            kind = self.kind_of(term)
            if kind == BATCHED and self.is_contraction(term, reduce=True):
                self.product(target, term, first=first, reduce=True)  # type: ignore[arg-type]
                first = False
            elif kind == BATCHED:
                light.append(term)
            elif kind == SUMMED:
                plain.append(term)
            elif isinstance(term, sp.MatrixExpr):
                plain.append(sp.MatMul(COUNT, term))
            else:
                plain.append(COUNT * term)
        if light:
            self.elementwise(target, light, first=first, reduce=True)
            first = False
        if plain or first:
            self.elementwise(target, plain or [sp.S.Zero], first=first, reduce=False)

    def comment(self, target: Value, expr: sp.Basic) -> None:
        """A comment naming the statement, for the reader of the generated code."""
        names = {symbol: value.name for symbol, value in self.values.items()}
        text = SummaryPrinter(names).doprint(expr)
        if len(text) > 90:
            text = text[:87] + "..."
        chain, self.chain = self.chain, None
        self.segments.prelude(f"# {target.name} = {text}" + (f"  ({chain})" if chain else ""))

    # -- loop nests ----------------------------------------------------------------------
    @contextmanager
    def _loops(
        self, *ranges: tuple[str, int | str, bool], reduces: str | None = None
    ) -> Iterator[None]:
        """A loop nest: ``for name in range(size)`` for each range whose flag is true.

        The ``_b`` range (the samples) is not written here: a nest over ``_b`` becomes a
        per-sample segment, fused with its neighbours into one ``_b`` loop.
        """

        def open_loops(lines: Lines, stack: ExitStack) -> None:
            for name, size, wanted in ranges:
                if wanted and name != "_b":
                    lines(f"for {name} in range({size}):")
                    stack.enter_context(lines.indent())

        if self._nested:  # a loop inside a nest that is being written
            with ExitStack() as stack:
                open_loops(self.body, stack)
                yield
            return
        batched = any(name == "_b" and wanted for name, _, wanted in ranges)
        context = self.segments.per_sample(reduces) if batched else self.segments.plain()
        with context as lines:
            self.body = lines
            self._nested = True
            try:
                with ExitStack() as stack:
                    open_loops(lines, stack)
                    yield
            finally:
                self._nested = False

    @contextmanager
    def plain_code(self) -> Iterator[Lines]:
        """Lines outside any loop over the samples."""
        with self.segments.plain() as lines:
            self.body = lines
            yield lines

    def zero(self, target: Value) -> None:
        """Set every element of ``target`` to 0 (before the loop that accumulates it)."""
        zero = self.lit(0.0)
        if target.storage == "local":
            self.segments.prelude(f"{target.name} = {zero}")
            return
        i, j = loop_index("_i", target.rows), loop_index("_j", target.cols)
        # A per-sample target is zeroed for each sample, in the loop that accumulates it.
        emit = self.segments.head if target.batched else self.segments.prelude
        depth = 0
        for name, size in (("_i", target.rows), ("_j", target.cols)):
            if size > 1:
                emit("    " * depth + f"for {name} in range({size}):")
                depth += 1
        emit("    " * depth + f"{target.access(i, j)} = {zero}")

    def array(self, value: Value) -> str:
        """The whole batch of a value, as an array expression (``np.dot`` arguments): its
        views hold exactly the batch's ``_nb`` rows."""
        return value.name

    def elementwise(
        self, target: Value, terms: list[sp.Basic], *, first: bool, reduce: bool
    ) -> None:
        """One fused loop: ``target (=|+=) sum(terms)`` elementwise (summed over ``_b``)."""
        i, j = loop_index("_i", target.rows), loop_index("_j", target.cols)
        body = self.print(sp.Add(*(self.scalar_of(t, i, j) for t in terms)))
        if reduce and first:
            self.zero(target)
        batched = reduce or target.batched
        op = "+=" if reduce or not first else "="
        with self._loops(
            ("_b", "_nb", batched),
            ("_i", target.rows, target.rows > 1),
            ("_j", target.cols, target.cols > 1),
            reduces=target.name if reduce else None,
        ):
            self.body(f"{target.access(i, j)} {op} {body}")

    def row_logsumexp(self, target: Value, expr: RowLogSumExp) -> None:
        """``target = log-sum-exp of each row``, max-shifted (finite for finite input).

        When the program also needs the row softmax (the adjoint does), the loop keeps
        ``exp(z - max) / sum`` in a temporary instead of exponentiating twice.
        """
        arg = expr.arg
        rows, cols = dims(arg)
        symbol = self.symbol_of.get(target.name, sp.MatrixSymbol(target.name, rows, 1))
        softmax = softmax_of(arg, symbol)
        keep = self.with_grad and self.uses(softmax)
        if self._stored(arg) is None:
            arg = self.materialize(arg)
        i = loop_index("_i", rows)
        first = self.print(self.scalar_of(arg, i, "0"))
        elem = self.print(self.scalar_of(arg, i, "_j"))
        if keep:
            key = self.temp(rows, cols, self.kind_of(arg))
            self.computed[softmax] = key
            kept = self.values[key].access(i, "_j")
        with self._loops(("_b", "_nb", target.batched), ("_i", rows, rows > 1)):
            self.body(f"_m = {first}")
            self.body(f"for _j in range(1, {cols}):")
            with self.body.indent():
                self.body(f"_m = max(_m, {elem})")
            self.body(f"_s = {self.lit(0.0)}")
            self.body(f"for _j in range({cols}):")
            with self.body.indent():
                if keep:
                    self.body(f"{kept} = math.exp({elem} - _m)")
                    self.body(f"_s += {kept}")
                else:
                    self.body(f"_s += math.exp({elem} - _m)")
            self.body(f"{target.access(i, '0')} = _m + math.log(_s)")
            if keep:
                self.body(f"_s = {self.lit(1.0)} / _s")
                self.body(f"for _j in range({cols}):")
                with self.body.indent():
                    self.body(f"{kept} *= _s")

    def uses(self, expr: sp.Basic) -> bool:
        """Whether a statement or gradient of the program contains ``expr``."""
        program = self.program
        exprs = [e for _, e in program.statements] + [e for _, _, e in program.gradients]
        return any(e.has(expr) for e in exprs)

    # -- the blocks --------------------------------------------------------------------
    def scalar_text(self, expr: sp.Basic, i: str, j: str) -> str:
        """Element ``(i, j)`` of ``expr`` as source text (what it reads computed first)."""
        return self.print(self.scalar_of(expr, i, j))  # type: ignore[no-any-return]

    def _statement(self, target: sp.Basic, expr: sp.Basic, summed: bool | None = None) -> None:
        if isinstance(expr, Scan):  # the states stay where the loop stored them
            name = self.name_of(target)
            self.comment(Value(name, 1, 1, SHARED, "local"), expr)
            self.values[target] = self.scan_forward(expr, name, target)
            return
        if summed is None:
            summed = target in self.program.summed
        kind = SUMMED if summed else self.kind_of(expr)
        value = self.storage(self.name_of(target), *dims(target), kind)  # type: ignore[attr-defined]
        self.symbol_of[value.name] = target
        self.chain = self.code.comments.get(target)
        if summed:
            self.accumulate(value, expr)
        else:
            self.assign(value, expr)
        self.values[target] = value  # readable from the next statement on

    def _lower(self) -> None:
        program = self.program
        forward = program.needed([program.loss])
        self.segments = self.forward_code
        for target, expr in forward:
            self._statement(target, expr)
        self.accumulate(Value("_total", 1, 1, SUMMED, "local"), program.loss)
        if not self.with_grad:
            return
        self.segments = self.backward_code
        done = {t for t, _ in forward}
        for target, expr in program.statements:
            if target not in done:
                self._statement(target, expr)
        self.gradients: list[tuple[Value, int]] = []
        for (param, offset), (name, _, expr) in zip(self.params, program.gradients, strict=True):
            bar = self.code.gradients.get((name, ()))
            if bar is None:
                bar = self.code.claim(f"{param.name}_bar")
            if param.storage == "local":
                grad = Value(bar, 1, 1, SUMMED, "local")
                self.accumulate(grad, expr)
                with self.plain_code():
                    self.body(f"_grad[{offset}] = {grad.name}")
            else:
                grad = Value(bar, param.rows, param.cols, SUMMED, "grad")
                self.gradients.append((grad, offset))
                self.accumulate(grad, expr)

    def workspace(self) -> tuple[int, int]:
        """``(fixed, per_sample)``: the workspace holds ``fixed + per_sample * cap`` elements."""
        fixed = sum(v.size for v in self.temps if not v.batched)
        per_sample = sum(v.size for v in self.temps if v.batched)
        return fixed, per_sample

    def chunk(self) -> int:
        """Samples per batch: the per-sample workspace of a chunk stays within ~256 KB (a
        core's L2). Measured on the 64-512-10 MLP (2,600 values per sample): chunks of
        256 (5 MB each) made two threads no faster than one; chunks of 32 gave 1.9x, and
        one thread ran as fast as with 256."""
        _, per_sample = self.workspace()
        cap = (1 << 15) // max(per_sample, 1)
        return max(8, min(256, 1 << max(cap.bit_length() - 1, 0)))

    def views(self, out: Lines, lo: str = "_lo", hi: str = "_hi") -> None:
        """The batch's arrays, once per batch of ``_nb`` samples (rows ``lo:hi`` of the
        data): the data's rows, views of ``_theta`` (and ``_grad``, ``_dir``) in the
        declared shapes, and each temporary's slice of the workspace ``_work``."""
        for value, argument in self.data:
            out(f"{value.name} = {argument}[{lo}:{hi}]")
        for value, offset in self.params:
            if value.storage == "local":
                out(f"{value.name} = _theta[{offset}]")
            else:
                out(f"{value.name} = _theta{self._view(offset, value)}")
        for value, offset in self.directions:
            source = "_dir"
            if value.storage == "local":
                out(f"{value.name} = {source}[{offset}]")
            else:
                out(f"{value.name} = {source}{self._view(offset, value)}")
        if self.with_grad:
            for value, offset in self.gradients:
                out(f"{value.name} = _grad{self._view(offset, value)}")
        self._workspace_views(out)
        out(f"_nbf = np.{self.dtype}(_nb)")

    def _workspace_views(self, out: Lines) -> None:
        """Each temporary's slice of ``_work``: temporaries of one shape share one block,
        reshaped once (``_ws8 = ...reshape((n, _nb, 8))``), each an entry of it (``z1 =
        _ws8[0]``). One reshape per shape instead of one per temporary: Numba compiles an
        entry read much faster than a reshape (the views of a 10-step RNN: 3.2 -> 1.5 s)."""
        groups: dict[tuple[bool, int, int], list[Value]] = {}
        stacks = []
        for value in self.temps:
            if value.storage == "stack":
                stacks.append(value)
                continue
            groups.setdefault((value.batched, value.rows, value.cols), []).append(value)
        fixed, _ = self.workspace()
        start, per_sample = 0, 0
        for value in stacks:  # each scan's states: one array, step-major
            if value.batched:
                lo = f"{fixed} + _nb * {per_sample}"
                region = f"_work[{lo}:{lo} + _nb * {value.size}]"
                per_sample += value.size
            else:
                region = f"_work[{start}:{start + value.size}]"
                start += value.size
            out(f"{value.name} = {region}.reshape({value.storage_shape('_nb')})")
        for (batched, rows, cols), members in sorted(groups.items()):
            count, size = len(members), rows * cols
            if batched:
                lo = f"{fixed} + _nb * {per_sample}"
                region = f"_work[{lo}:{lo} + _nb * {count * size}]"
                dims_text = members[0].storage_shape("_nb")[1:-1].rstrip(",")
                per_sample += count * size
            else:
                region = f"_work[{start}:{start + count * size}]"
                dims_text = f"{rows}, {cols}"
                start += count * size
            if count == 1:
                flat = dims_text == "_nb"  # a per-sample scalar: the slice itself
                out(f"{members[0].name} = {region}" + ("" if flat else f".reshape(({dims_text}))"))
                continue
            block = self.code.claim(f"_w{'b' if batched else 'f'}{rows}x{cols}")
            out(f"{block} = {region}.reshape(({count}, {dims_text}))")
            for k, value in enumerate(members):
                out(f"{value.name} = {block}[{k}]")
        out(*self.aliases)

    @staticmethod
    def _view(offset: int, value: Value) -> str:
        return f"[{offset}:{offset + value.size}].reshape(({value.rows}, {value.cols}))"

    def forward(self, out: Lines) -> None:
        """One batch: ``_total`` = the sum of its per-sample losses."""
        self.forward_code.write(out)

    def backward(self, out: Lines) -> None:
        """One batch, after :meth:`forward`: the gradient views = the sum of its gradients."""
        self.backward_code.write(out)
        if not self.backward_code.items:
            out("pass")


def shifted(index: str, start: int, step: int) -> str:
    """The index ``start + step * index`` as source text (a number when ``index`` is)."""
    start, step = int(start), int(step)
    if index.lstrip("-").isdigit():
        return str(start + step * int(index))
    text = index if step == 1 else f"{step} * {index}"
    if start == 0:
        return text
    return f"{text} + {start}" if start > 0 else f"{text} - {-start}"
