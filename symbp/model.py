"""The user-facing :class:`Model`: declaration, derivation, generation, compilation."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sympy as sp

from .declare import REDUCTIONS, ROLES, Variable, check_declared, declare_role, scalar_loss
from .elements import unroll_scalar
from .errors import DeclarationError, OptionError
from .matrix import check_matrix_loss, is_matrix_level, unrolled_size
from .matrix.canonical import canonicalize
from .matrix.program import build_matrix_program, closed_form_matrix
from .matrix.reverse import MATRIX
from .outputs import OutputProgram, declare_outputs, output_program
from .reverse import SCALAR, Derivation, Level, count_steps, sweep
from .simplify import Program, build_program, closed_form
from .stability import stabilize

if TYPE_CHECKING:
    from .emit.module import ModuleSource
    from .optim.base import Optimizer
    from .trainer import Trainer


LEVELS = ("auto", "matrix", "scalar")
#: ``level="auto"`` unrolls a matrix-level loss to scalars when it has at most this many
#: scalar operations (``symbp.matrix.unrolled_size``): seed 001's 2-3-1 network (9) and
#: the 2-2-2 sigmoid net of seed 004 (10) ran 1.2-1.6x faster as straight-line code than
#: batched; micrograd's 2-16-16-1 network (300) stays batched.
SMALL_UNROLLED = 100

#: The most forward + adjoint steps a scalar-level (straight-line) model may have.
#: Measured on the 2-core machines with Numba 0.68 (one MLP unrolled to its elements,
#: ``benchmarks/straight_line.py``): 357 steps compile in 3 s, 709 in 7 s, 1221 in 13 s,
#: 1525 in ~30 s, 2437 in 108 s; the time grows faster than the size (LLVM on one
#: huge block), so larger programs must stay at matrix level.
STRAIGHT_LINE_LIMIT = 1500

#: Gradients of larger matrix parameters come back as sparse matrices from
#: ``gradients()`` (only the entries the loss reads are stored).
DENSE_GRADIENT_LIMIT = 10_000


def unroll(loss: Any) -> sp.Expr:
    """The loss multiplied out to scalar elements (element reads expanded)."""
    if isinstance(loss, sp.MatrixExpr):
        loss = loss.as_explicit()[0, 0]
    return unroll_scalar(loss)  # type: ignore[return-value]


def refuse_unrolled(steps: int, what: str, advice: str, error: type[Exception]) -> None:
    """Raise ``error`` for a straight-line program of more than STRAIGHT_LINE_LIMIT steps
    (``what`` says whose, ``advice`` how to stay at matrix level instead)."""
    if steps > STRAIGHT_LINE_LIMIT:
        raise error(
            f"{what} {steps} straight-line steps per sample, more than the "
            f"{STRAIGHT_LINE_LIMIT} that Numba compiles in reasonable time (about 30 s at the "
            f"limit, minutes above it); {advice}"
        )


def check_straight_line_size(loss: sp.Expr, variables: tuple[Variable, ...]) -> None:
    """Refuse a scalar-level loss whose straight-line program would take minutes to compile."""
    refuse_unrolled(
        count_steps(loss, variables),
        "the loss unrolls (forward and adjoint) to",
        "write it at matrix level instead: keep the matrices as MatrixSymbols without .as_explicit() or explicit "
        "Matrix declarations, e.g. h = nn.dense(x, W1, b1, sp.tanh) or (x*W + b), and "
        "read single entries only where a scalar is needed, e.g. (h*W2)[0, 0]; symbp then "
        "derives it with matrix adjoints that compile in seconds",
        DeclarationError,
    )


def check_dtype(dtype: Any) -> str:
    """``"float32"`` or ``"float64"`` (NumPy dtypes are accepted too)."""
    from .emit.generate import DTYPES

    text = getattr(dtype, "__name__", None) or str(dtype)
    if text not in DTYPES:
        raise OptionError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return text


def check_optimizer(optimizer: Any) -> Optimizer | None:
    """``None`` or an optimizer from :mod:`symbp.optim`."""
    from .optim.base import Optimizer

    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise OptionError(
            f"optimizer must be one from symbp.optim (e.g. optim.SGD(lr=0.1)), got {optimizer!r}"
        )
    return optimizer


@dataclass(frozen=True)
class Model:
    """A per-sample loss with declared parameters, inputs and targets.

    Parameters
    ----------
    loss
        The per-sample scalar loss (a SymPy expression or a 1x1 matrix expression).
    params, inputs, targets
        ``Symbol``s, ``MatrixSymbol``s or explicit ``Matrix``es of distinct symbols
        (a mapping ``name -> Matrix`` names explicit matrices). Every free symbol of
        the loss must be declared in exactly one role.
    reduction
        How per-sample losses combine over a batch: ``"mean"`` or ``"sum"``.
    name
        The model's name (a Python identifier), used for generated modules.
    level
        ``"matrix"``: derive and compile whole matrices (products, elementwise functions,
        element reads ``(x*W)[0, 0]`` stay matrix nodes; nothing is unrolled).
        ``"scalar"``: multiply everything out to its elements and emit straight-line code
        (the element-by-element derivation a textbook prints; refused above
        :data:`STRAIGHT_LINE_LIMIT` steps). ``"auto"`` (default): scalar for a loss whose
        matrices unroll to at most :data:`SMALL_UNROLLED` operations (straight-line code
        runs fastest there), matrix level otherwise.
    outputs
        Named per-sample expressions in the params and inputs (``{"logits": z}``), scalar
        or matrix: :meth:`Trainer.predict` computes them with a compiled kernel.
    """

    loss: Any
    params: Any
    inputs: Any = ()
    targets: Any = ()
    reduction: str = "mean"
    name: str | None = None
    level: str = "auto"
    outputs: Any = None
    variables: tuple[Variable, ...] = field(init=False, repr=False)
    #: the per-sample loss as SymPy sees it (on the matrix path: the matrix expression)
    scalar: sp.Expr = field(init=False, repr=False)
    #: whether the loss is kept at matrix level (see symbp.matrix.is_matrix_level)
    matrix: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.reduction not in REDUCTIONS:
            raise DeclarationError(f"reduction must be 'mean' or 'sum', got {self.reduction!r}")
        name = "model" if self.name is None else self.name
        if not isinstance(name, str) or not name.isidentifier():
            raise DeclarationError(f"model name must be a Python identifier, got {self.name!r}")
        object.__setattr__(self, "name", name)
        variables: list[Variable] = []
        for role in ROLES:
            variables.extend(declare_role(getattr(self, role), role))
        if not any(v.role == "params" for v in variables):
            raise DeclarationError("a model needs at least one parameter in params")
        if self.level not in LEVELS:
            raise DeclarationError(f"level must be one of {LEVELS}, got {self.level!r}")
        # A loss kept at matrix level takes the matrix path (symbp.matrix): never
        # unrolled; anything else is unrolled to scalars (straight-line kernels).
        loss = self.loss
        matrix = is_matrix_level(loss)
        explicit = any(v.is_explicit for v in variables)  # symbols the user multiplied out
        square = not isinstance(loss, sp.MatrixExpr) or tuple(loss.shape) == (1, 1)
        if (
            matrix
            and square
            and (
                self.level == "scalar"
                or explicit
                or (self.level == "auto" and unrolled_size(loss) <= SMALL_UNROLLED)
            )
        ):
            loss = unroll(loss)
            matrix = is_matrix_level(loss)
        if matrix:
            loss = check_matrix_loss(loss, tuple(variables))
        else:
            loss = scalar_loss(loss)
            check_declared(loss, tuple(variables))
            check_straight_line_size(loss, tuple(variables))
        object.__setattr__(self, "variables", tuple(variables))
        object.__setattr__(self, "scalar", loss)
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "outputs", declare_outputs(self.outputs, tuple(variables)))

    def __repr__(self) -> str:
        def names(role: str) -> str:
            return "[" + ", ".join(v.name for v in self.variables if v.role == role) + "]"

        return (
            f"Model(name={self.name!r}, params={names('params')}, inputs={names('inputs')}, "
            f"targets={names('targets')}, reduction={self.reduction!r})"
        )

    # -- derivation -----------------------------------------------------------------
    @functools.cached_property
    def _level(self) -> Level:
        return MATRIX if self.matrix else SCALAR

    @functools.cached_property
    def _written(self) -> sp.Basic:
        """The loss as written, in the forms the sweep expects (matrix size rewrites)."""
        return canonicalize(self.scalar) if self.matrix else self.scalar

    @functools.cached_property
    def derivation(self) -> Derivation:
        """The reverse sweep over the loss as written (computed once): what is explained."""
        return sweep(self._written, self.variables, self._level)

    @functools.cached_property
    def kernel_derivation(self) -> Derivation:
        """The reverse sweep over the stabilized loss (computed once): what is compiled.

        The stability passes (:mod:`symbp.stability`) rewrite overflowing textbook
        formulas (``log(1 + exp(u))``, ``1/(1 + exp(-u))``, ``log(sum(exp(z)))``) into
        equal forms that stay finite, at both levels; the LaTeX shows the loss as the
        user wrote it, the kernels compute the stable form.
        """
        stable = stabilize(self._written)
        if stable == self._written:
            return self.derivation
        return sweep(stable, self.variables, self._level)

    @functools.cached_property
    def program(self) -> Program:
        """The simplified program the kernels are emitted from (computed once)."""
        return self._build_program(self.kernel_derivation)

    @functools.cached_property
    def _written_program(self) -> Program:
        """The simplified program of the loss as written (for closed forms)."""
        if self.kernel_derivation is self.derivation:
            return self.program
        return self._build_program(self.derivation)

    @functools.cached_property
    def output_program(self) -> OutputProgram | None:
        """The forward program of the outputs (None without outputs), at the model's level."""
        if not self.outputs:
            return None
        return output_program(self.outputs, self.variables, self.matrix)

    @functools.cached_property
    def hvp_program(self) -> Program:
        """The program of the Hessian-vector product (symbp.hessian), built when first asked."""
        from .hessian import hvp_derivation

        second = hvp_derivation(self.program, self.variables, self.matrix)
        if not self.matrix:
            refuse_unrolled(
                len(second.forward) + len(second.adjoint),
                f"the Hessian-vector product of model {self.name!r} unrolls to",
                "declare the model with level='matrix' (its Hessian-vector product then never "
                "unrolls), or minimize with a quasi-Newton method (method='L-BFGS-B' needs no "
                "Hessian)",
                OptionError,
            )
        return self._build_program(second)

    def hessian(self) -> sp.ImmutableMatrix:
        """The Hessian of the per-sample loss in closed form (scalar-level models).

        Rows and columns follow the parameter elements in declaration order, row-major.
        Derived by sweeping each gradient element again, from the loss as written.
        """
        from .hessian import closed_form_hessian

        if self.matrix:
            raise OptionError(
                "the closed-form Hessian is written for scalar-level models; at matrix level "
                "use trainer.hessp (Hessian-vector products) or trainer.hessian (dense)"
            )
        return closed_form_hessian(self._written_program, self.variables)

    def _build_program(self, derivation: Derivation) -> Program:
        if self.matrix:
            return build_matrix_program(derivation)
        return build_program(derivation)

    def gradients(self) -> dict[str, sp.Expr | sp.MatrixBase]:
        """The gradient of the per-sample loss for each parameter, in closed form."""
        if self.matrix:
            return closed_form_matrix(self._written_program)  # type: ignore[return-value]
        flat = closed_form(self._written_program)
        result: dict[str, sp.Expr | sp.MatrixBase] = {}
        for var in self.derivation.params:
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

    # -- generation -----------------------------------------------------------------
    def module_source(
        self,
        optimizer: Optimizer | None = None,
        dtype: str = "float64",
        *,
        command: str | None = None,
        numbers: bool = True,
    ) -> ModuleSource:
        """The text of the generated module (nothing is written).

        ``numbers=False``: without the optimizer's numbers (the Trainer's cached module,
        shared by every optimizer of the same form; see ``symbp.optim.base.Template``).
        """
        from .emit.generate import render_module

        dtype = check_dtype(dtype)
        optimizer = check_optimizer(optimizer)
        command = command or f"re-run the code that generated model {self.name!r}"
        return render_module(self, self.program, optimizer, dtype, command, numbers=numbers)

    def generate(
        self,
        path: str | os.PathLike[str],
        optimizer: Optimizer | None = None,
        dtype: str = "float64",
        *,
        command: str | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Write the module to ``path`` (atomically, only when its content changes)."""
        from .emit.module import write_if_changed

        source = self.module_source(optimizer, dtype, command=command)
        write_if_changed(path, source.text, overwrite=overwrite)
        return Path(path)

    def compile(self, optimizer: Optimizer | None = None, dtype: str = "float64") -> Trainer:
        """Generate into the cache directory, import, and return a :class:`Trainer`."""
        from .cache import load_cached
        from .trainer import Trainer

        # The cached module leaves the optimizer's numbers out: SGD(lr=0.1) and
        # SGD(lr=0.5) share one compiled kernel; the Trainer passes its numbers.
        source = self.module_source(optimizer, dtype, numbers=False)
        module = load_cached(self.name, source)  # type: ignore[arg-type]
        return Trainer(self, module, optimizer, dtype)

    # -- explanation ----------------------------------------------------------------
    def latex(
        self,
        document: bool = False,
        optimizer: Optimizer | None = None,
        values: dict[str, Any] | None = None,
        *,
        closed_form: bool | None = None,
        hessian: bool = False,
    ) -> str:
        """The derivation in LaTeX, printed from the same sweep the kernels come from.

        Parameters
        ----------
        document
            ``False``: one ``aligned`` block (for Jupyter/MathJax). ``True``: a
            standalone ``.tex`` article that compiles with ``pdflatex``.
        optimizer
            Also print its update equations and learning-rate schedule.
        values
            Params, inputs and targets of one sample (name -> number or array): every
            quantity and adjoint gets its numeric value, and with ``optimizer`` the
            parameters after one step are printed too.
        closed_form
            Print ``gradients()`` in closed form as well; by default only for small
            models (simplifying the closed forms of larger ones can take minutes).
        hessian
            Also print the second derivatives (``hessian()``), for small scalar-level
            models.
        """
        from .latex import render

        optimizer = check_optimizer(optimizer)
        return render(
            self,
            document_mode=document,
            optimizer=optimizer,
            values=values,
            closed_form=closed_form,
            hessian=hessian,
        )

    def _repr_latex_(self) -> str:
        """Jupyter shows the derivation."""
        return "$$\n" + self.latex() + "\n$$"
