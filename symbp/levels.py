"""The two levels a model is derived and compiled at, as one registry of level objects.

A :class:`Level` gathers what each stage does differently at its level: the sweep's
node semantics (:mod:`symbp.derive`), the program passes and closed forms
(:mod:`symbp.simplify`), the kernel writers (:mod:`symbp.emit`), the LaTeX
(:mod:`symbp.explain`) and the size guards. :data:`LEVELS` maps a declaration's
``level`` (``"scalar"`` or ``"matrix"``) to its object; the pipeline
(:mod:`symbp.pipeline`) asks it instead of branching. A new level is one more
subclass registered here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import sympy as sp
from sympy.core.function import AppliedUndef

from .declare.declaration import Declaration
from .declare.outputs import Output
from .declare.variables import Variable
from .derive.jacobian import jacobian_derivation
from .derive.matrix import MATRIX
from .derive.scalar import SCALAR
from .derive.sweep import Derivation, SweepLevel, count_steps
from .emit.generate import Writers
from .emit.matrix.jacobian import MatrixJacobianWriter
from .emit.matrix.kernel import MatrixModelWriter
from .emit.matrix.lower import LOWERED
from .emit.matrix.predict import MatrixPredictWriter
from .emit.matrix.values import MAX_TRACE
from .emit.printer import function_compiles
from .emit.scalar.jacobian import ScalarJacobianWriter
from .emit.scalar.kernel import ScalarModelWriter
from .emit.scalar.predict import PredictWriter
from .errors import DeclarationError, MissingVJPRule, OptionError, UnsupportedFunction
from .explain import matrix as explain_matrix
from .explain.code import CodeNames, matrix_code_names, scalar_code_names
from .explain.latex import Section, scalar_sections
from .explain.least_squares import least_squares_sections
from .explain.names import declared_name, element_name
from .explain.scalar import explain
from .explain.walkthrough import evaluate
from .nodes.graph import unique_nodes
from .nodes.matrix import is_numeric_matrix, operands
from .nodes.scan import Scan, scans_in
from .nodes.text import brief
from .optim.base import Optimizer
from .simplify import matrix as simplify_matrix
from .simplify import scalar as simplify_scalar
from .simplify.canonical import canonicalize
from .simplify.program import JacobianProgram, OutputProgram, Program

#: The most forward + adjoint steps a scalar-level (straight-line) model may have.
#: Measured on the 2-core machines with Numba 0.68 (one MLP unrolled to its elements,
#: ``benchmarks/straight_line.py``): 357 steps compile in 3 s, 709 in 7 s, 1221 in 13 s,
#: 1525 in ~30 s, 2437 in 108 s; the time grows faster than the size (LLVM on one
#: huge block), so larger programs must stay at matrix level.
STRAIGHT_LINE_LIMIT = 1500

#: Gradients of larger matrix parameters come back as sparse matrices from
#: ``gradients()`` (only the entries the loss reads are stored).
DENSE_GRADIENT_LIMIT = 10_000

#: Closed forms (Model.gradients()) are printed by default only up to this many sweep
#: steps: sympy.simplify on the closed forms of larger models can take minutes.
CLOSED_FORM_STEPS = 10


def refuse_unrolled(steps: int, what: str, advice: str, error: type[Exception]) -> None:
    """Raise ``error`` for a straight-line program of more than STRAIGHT_LINE_LIMIT steps
    (``what`` says whose, ``advice`` how to stay at matrix level instead)."""
    if steps > STRAIGHT_LINE_LIMIT:
        raise error(
            f"{what} {steps} straight-line steps per sample, more than the "
            f"{STRAIGHT_LINE_LIMIT} that Numba compiles in reasonable time; {advice}"
        )


#: What to write instead of a matrix node the kernels do not compute.
MATRIX_ADVICE: dict[type, str] = {
    sp.Inverse: "an inverse has no kernel; make the inverse a parameter, or pass it as an input",
    sp.Determinant: "a determinant has no kernel; write it from the entries (level='scalar')",
    sp.KroneckerProduct: "write the Kronecker product as a BlockMatrix of scaled blocks",
    sp.MatPow: "only positive integer powers A**n (products) compile",
    sp.HadamardPower: "write a symbolic elementwise power as A.applyfunc(lambda u: u**p)",
}


def _operands(node: sp.Basic) -> list[sp.Basic]:
    """What the support check walks: operands, the bodies of elementwise functions and
    of scans' steps."""
    if isinstance(node, sp.Lambda):
        return [node.expr]
    if isinstance(node, Scan):
        return [node.body, *node.operands()]
    return operands(node)


def refuse_unsupported(loss: sp.Basic, matrix: bool) -> None:
    """Refuse, with a short message naming it and what to write instead, anything in
    ``loss`` the kernels cannot compute (checked at ``Model()``, before any stage runs)."""
    for node in unique_nodes(
        loss, stop=lambda n: isinstance(n, sp.MatrixSymbol), children=_operands
    ):
        if isinstance(node, AppliedUndef):
            raise MissingVJPRule(
                f"{brief(node)} is an undefined function (no derivative, no kernel code): "
                "write it as an expression of the declared symbols"
            )
        if isinstance(node, sp.Function) and not function_compiles(type(node)):
            raise UnsupportedFunction(
                f"the function {type(node).__name__} (in {brief(node, 80)}) cannot be compiled "
                "to a kernel; symbp.emit.printer.supported_functions() lists those that can"
            )
        if not matrix or not isinstance(node, sp.MatrixExpr | sp.MatrixBase):
            continue
        if isinstance(node, sp.MatrixBase):
            if not is_numeric_matrix(node):
                raise DeclarationError(
                    f"the explicit {node.rows}x{node.cols} Matrix {brief(node, 80)} holds "
                    "symbols, but the loss is kept at matrix level; declare it as a "
                    "MatrixSymbol (a param or an input), or level='scalar'"
                )
            continue
        exponent = node.args[1] if isinstance(node, sp.MatPow | sp.HadamardPower) else None
        if (
            not isinstance(node, LOWERED)
            or (isinstance(node, sp.MatPow) and not (exponent.is_Integer and exponent > 0))
            or (isinstance(node, sp.HadamardPower) and not exponent.is_Number)
        ):
            advice = next((a for c, a in MATRIX_ADVICE.items() if isinstance(node, c)), None)
            raise DeclarationError(
                f"{type(node).__name__} ({brief(node, 80)}) cannot be compiled at matrix level; "
                + (
                    advice
                    or "matrix-level kernels compute products, sums, transposes, slices, "
                    "blocks, elementwise functions, traces and nn.scan"
                )
            )
        if isinstance(node, sp.Trace) and int(node.arg.shape[0]) > MAX_TRACE:
            raise DeclarationError(
                f"the trace of a {node.arg.shape[0]}x{node.arg.shape[1]} matrix is more than "
                f"the {MAX_TRACE} diagonal entries a kernel sums in one expression; sum the "
                "diagonal as an elementwise product with Identity instead: "
                "(OneMatrix(1, n) * HadamardProduct(A, Identity(n)) * OneMatrix(n, 1))[0, 0]"
            )


class Level(ABC):
    """What every stage does at one level (see the module docstring)."""

    #: the declaration's ``level`` this object serves
    name: str
    #: the sweep's node semantics
    sweep: SweepLevel
    #: the kernel and ``_predict`` writers
    writers: Writers

    def admit(self, declaration: Declaration, written: sp.Basic) -> None:
        """Refuse a declaration this level cannot compile in reasonable time (``written``:
        its loss as :meth:`prepare` gives it)."""
        return None  # by default, every declaration compiles

    def prepare(self, loss: sp.Basic) -> sp.Basic:
        """The loss as written, in the forms the sweep expects (size rewrites)."""
        return loss

    @abstractmethod
    def program(self, derivation: Derivation, keep: frozenset[sp.Basic] = frozenset()) -> Program:
        """The simplified program of a derivation (the steps in ``keep`` stay statements)."""

    @abstractmethod
    def code_names(self, derivation: Derivation) -> CodeNames:
        """The kernels' identifiers for the derivation's quantities (its LaTeX names)."""

    @abstractmethod
    def gradients(self, program: Program, declaration: Declaration) -> dict[str, Any]:
        """Each parameter's gradient in closed form (for people)."""

    @abstractmethod
    def output_program(
        self, outputs: tuple[Output, ...], variables: tuple[Variable, ...]
    ) -> OutputProgram:
        """The forward program of the outputs."""

    def admit_hessian(self, hvp: Derivation, name: str) -> None:
        """Refuse a Hessian-vector product this level cannot compile in reasonable time."""
        return None  # by default, every product compiles

    @abstractmethod
    def output_entries(self, output: Output) -> list[sp.Basic]:
        """An output's entries (row-major scalar expressions) for its Jacobian."""

    def jacobian(
        self, entries: list[sp.Basic], variables: tuple[Variable, ...], what: str
    ) -> JacobianProgram:
        """The program of the Jacobian of ``entries`` (one sweep per entry, shared forward
        pass); refused when it is too large to compile (``what`` says whose it is), or
        when it runs through an nn.scan (per-sample backpropagation through time)."""
        if scans_in(sp.Tuple(*entries)):  # one walk of the graph the entries share
            raise MissingVJPRule(
                f"the Jacobian of {what} runs through an nn.scan, and per-sample "
                "backpropagation through time (one row per sample) is not supported; "
                "minimize the loss with trainer.minimize (method='L-BFGS-B') or train it"
            )
        derived = jacobian_derivation(entries, variables, self.sweep)
        steps = len(derived.derivation.forward) + len(derived.derivation.adjoint)
        refuse_unrolled(
            steps,
            f"the Jacobian of {what} ({len(entries)} entries per sample, one reverse sweep "
            "each) takes",
            "use fewer entries per sample (least squares on fewer residuals, or the Jacobian "
            "of a smaller output), or minimize the loss with trainer.minimize instead",
            OptionError,
        )
        return self.jacobian_program(derived)

    @abstractmethod
    def jacobian_program(self, derived: Any) -> JacobianProgram:
        """A Jacobian's sweeps simplified (:mod:`symbp.simplify`)."""

    def least_squares_sections(self, program: JacobianProgram, loss: str) -> list[Section]:
        """The residuals, their Jacobian in closed form and the Gauss-Newton step."""
        values, rows = self.jacobian_closed_form(program)
        variables = {v.name: v for v in program.derivation.variables}
        names = self.latex_names(program)
        labelled = [
            [(self.element_tex(variables[name], index), expr) for name, index, expr in row]
            for row in rows
        ]
        return least_squares_sections(values, labelled, names, loss)

    @abstractmethod
    def jacobian_closed_form(self, program: JacobianProgram) -> tuple[list, list]:
        """A Jacobian program's entries and nonzero rows in the declared symbols."""

    @abstractmethod
    def latex_names(self, program: Program) -> dict[sp.Basic, str]:
        """The LaTeX of the declared symbols (or elements) a program reads."""

    @abstractmethod
    def element_tex(self, var: Variable, index: tuple[int, ...]) -> str:
        """The LaTeX of a parameter element a Jacobian row is by (a whole matrix: ``()``)."""

    @abstractmethod
    def hessian(self, program: Program, declaration: Declaration) -> sp.ImmutableMatrix:
        """The closed-form Hessian of the per-sample loss."""

    @abstractmethod
    def latex_sections(
        self,
        derivation: Derivation,
        *,
        optimizer: Optimizer | None,
        values: Mapping[str, Any] | None,
        closed: Any,
        hessian: Any,
    ) -> list[Section]:
        """The derivation as LaTeX sections (``closed``/``hessian``: callables giving
        the closed forms, or None when they are not printed)."""

    @abstractmethod
    def variable_tex(self, var: Variable) -> str:
        """A declared variable as this level's LaTeX names it."""

    def default_closed_form(self, derivation: Derivation) -> bool:
        """Whether ``latex()`` prints the closed forms when not told."""
        return False


class Scalar(Level):
    """Straight-line code over the elements the loss reads."""

    name = "scalar"
    sweep = SCALAR
    writers = Writers(ScalarModelWriter, PredictWriter, ScalarJacobianWriter)

    def admit(self, declaration: Declaration, written: sp.Basic) -> None:
        refuse_unsupported(written, matrix=False)
        refuse_unrolled(
            count_steps(written, declaration.variables, SCALAR),
            "the loss unrolls (forward and adjoint) to",
            "write it at matrix level (level='matrix'): matrices as MatrixSymbols, not "
            "explicit, e.g. nn.dense(x, W1, b1, sp.tanh), entries read only where a scalar "
            "is needed, e.g. (h*W2)[0, 0]; matrix adjoints compile in seconds",
            DeclarationError,
        )

    def program(self, derivation: Derivation, keep: frozenset[sp.Basic] = frozenset()) -> Program:
        return simplify_scalar.build_program(derivation, keep)

    def code_names(self, derivation: Derivation) -> CodeNames:
        return scalar_code_names(derivation)

    def gradients(self, program: Program, declaration: Declaration) -> dict[str, Any]:
        flat = simplify_scalar.closed_form(program)
        result: dict[str, Any] = {}
        for var in declaration.params:
            entries = {index: expr for (name, index), expr in flat.items() if name == var.name}
            if not var.shape:
                result[var.name] = entries.get((), sp.S.Zero)
                continue
            rows, cols = var.shape
            if var.size <= DENSE_GRADIENT_LIMIT:
                values = [entries.get(index, sp.S.Zero) for index in var.indices()]
                result[var.name] = sp.ImmutableMatrix(rows, cols, values)
            else:  # memory proportional to the entries the loss reads
                nonzero = {index: expr for index, expr in entries.items() if expr != 0}
                result[var.name] = sp.ImmutableSparseMatrix(rows, cols, nonzero)
        return result

    def output_program(
        self, outputs: tuple[Output, ...], variables: tuple[Variable, ...]
    ) -> OutputProgram:
        program = simplify_scalar.output_program(outputs, variables)
        refuse_unrolled(
            program.steps,
            f"the outputs ({', '.join(o.name for o in outputs)}) unroll to",
            "declare the model with level='matrix' so they compile as matrix expressions",
            DeclarationError,
        )
        return program

    def admit_hessian(self, hvp: Derivation, name: str) -> None:
        refuse_unrolled(
            len(hvp.forward) + len(hvp.adjoint),
            f"the Hessian-vector product of model {name!r} unrolls to",
            "declare the model with level='matrix' (its Hessian-vector product then never "
            "unrolls), or minimize with a quasi-Newton method (method='L-BFGS-B' needs no "
            "Hessian)",
            OptionError,
        )

    def hessian(self, program: Program, declaration: Declaration) -> sp.ImmutableMatrix:
        return simplify_scalar.closed_form_hessian(program, declaration.variables)

    def output_entries(self, output: Output) -> list[sp.Basic]:
        return simplify_scalar.output_entries(output)

    def jacobian_program(self, derived: Any) -> JacobianProgram:
        return simplify_scalar.build_jacobian_program(derived)

    def jacobian_closed_form(self, program: JacobianProgram) -> tuple[list, list]:
        return simplify_scalar.closed_form_jacobian(program)

    def latex_names(self, program: Program) -> dict[sp.Basic, str]:
        leaves = program.derivation.leaves
        return {expr: element_name(leaf.var, leaf.index).tex() for expr, leaf in leaves.items()}

    def element_tex(self, var: Variable, index: tuple[int, ...]) -> str:
        return element_name(var, index).tex()

    def latex_sections(
        self,
        derivation: Derivation,
        *,
        optimizer: Optimizer | None,
        values: Mapping[str, Any] | None,
        closed: Any,
        hessian: Any,
    ) -> list[Section]:
        explanation = explain(derivation)
        walk = evaluate(explanation, values, optimizer) if values is not None else None
        return scalar_sections(
            explanation,
            walk,
            closed=closed() if closed is not None else None,
            hessian=hessian() if hessian is not None else None,
            optimizer=optimizer,
        )

    def variable_tex(self, var: Variable) -> str:
        return declared_name(var).tex()

    def default_closed_form(self, derivation: Derivation) -> bool:
        return len(derivation.forward) + len(derivation.adjoint) <= CLOSED_FORM_STEPS


class Matrix(Level):
    """Whole matrices: matrix adjoints, batched kernels, never unrolled."""

    name = "matrix"
    sweep = MATRIX
    writers = Writers(MatrixModelWriter, MatrixPredictWriter, MatrixJacobianWriter)

    def admit(self, declaration: Declaration, written: sp.Basic) -> None:
        refuse_unsupported(written, matrix=True)
        for output in declaration.outputs:
            refuse_unsupported(canonicalize(output.expr), matrix=True)

    def prepare(self, loss: sp.Basic) -> sp.Basic:
        return canonicalize(loss)

    def program(self, derivation: Derivation, keep: frozenset[sp.Basic] = frozenset()) -> Program:
        return simplify_matrix.build_matrix_program(derivation, keep)

    def code_names(self, derivation: Derivation) -> CodeNames:
        return matrix_code_names(derivation)

    def gradients(self, program: Program, declaration: Declaration) -> dict[str, Any]:
        return simplify_matrix.closed_form_matrix(program)

    def output_program(
        self, outputs: tuple[Output, ...], variables: tuple[Variable, ...]
    ) -> OutputProgram:
        return simplify_matrix.output_program(outputs, variables)

    def output_entries(self, output: Output) -> list[sp.Basic]:
        return simplify_matrix.output_entries(output)

    def jacobian_program(self, derived: Any) -> JacobianProgram:
        return simplify_matrix.build_matrix_jacobian_program(derived)

    def jacobian_closed_form(self, program: JacobianProgram) -> tuple[list, list]:
        return simplify_matrix.closed_form_jacobian(program)

    def latex_names(self, program: Program) -> dict[sp.Basic, str]:
        return {v.symbol: explain_matrix.declared_tex(v) for v in program.derivation.variables}

    def element_tex(self, var: Variable, index: tuple[int, ...]) -> str:
        return explain_matrix.declared_tex(var)

    def hessian(self, program: Program, declaration: Declaration) -> sp.ImmutableMatrix:
        raise OptionError(
            "the closed-form Hessian is written for scalar-level models; at matrix level "
            "use trainer.hessp (Hessian-vector products) or trainer.hessian (dense)"
        )

    def latex_sections(
        self,
        derivation: Derivation,
        *,
        optimizer: Optimizer | None,
        values: Mapping[str, Any] | None,
        closed: Any,
        hessian: Any,
    ) -> list[Section]:
        if hessian is not None:
            raise OptionError(
                "hessian=True prints the closed-form second derivatives of scalar-level "
                "models; a matrix-level model's Hessian is available as trainer.hessp / "
                "trainer.hessian"
            )
        explain_matrix.check_values(values)
        return explain_matrix.sections(
            derivation, optimizer, closed() if closed is not None else None
        )

    def variable_tex(self, var: Variable) -> str:
        return explain_matrix.declared_tex(var)


#: The levels by name: what a declaration's ``level`` selects.
LEVELS: dict[str, Level] = {level.name: level for level in (Scalar(), Matrix())}
