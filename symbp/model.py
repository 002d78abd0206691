"""The user-facing :class:`Model`: a declaration, and methods that run the pipeline."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sympy as sp

from .declare.declaration import Declaration, declare
from .declare.variables import Variable
from .derive.residuals import Residual
from .derive.sweep import Derivation
from .emit.generate import DTYPES
from .emit.module import ModuleSource, write_module
from .errors import OptionError
from .optim.base import Optimizer
from .pipeline import Pipeline
from .simplify.program import OutputProgram, Program
from .train.cache import load_cached
from .train.trainer import Trainer


def check_dtype(dtype: Any) -> str:
    """``"float32"`` or ``"float64"`` (NumPy dtypes are accepted too)."""
    text = getattr(dtype, "__name__", None) or str(dtype)
    if text not in DTYPES:
        raise OptionError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return text


def check_optimizer(optimizer: Any) -> Optimizer | None:
    """``None`` or an optimizer from :mod:`symbp.optim`."""
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
        :data:`symbp.levels.STRAIGHT_LINE_LIMIT` steps). ``"auto"`` (default): scalar for a loss whose
        matrices unroll to at most :data:`symbp.declare.declaration.SMALL_UNROLLED` operations (straight-line code
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
    #: the validated declaration every stage starts from
    declaration: Declaration = field(init=False, repr=False)
    #: the pipeline's stages, computed when first asked for
    pipeline: Pipeline = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        declaration = declare(
            self.loss,
            self.params,
            self.inputs,
            self.targets,
            self.reduction,
            self.name,
            self.level,
            self.outputs,
        )
        pipeline = Pipeline(declaration)
        # refuse what would not compile in reasonable time (the prepared loss is kept)
        pipeline.level.admit(declaration, pipeline.written)
        object.__setattr__(self, "name", declaration.name)
        object.__setattr__(self, "outputs", declaration.outputs)
        object.__setattr__(self, "declaration", declaration)
        object.__setattr__(self, "pipeline", pipeline)

    def __repr__(self) -> str:
        def names(role: str) -> str:
            return "[" + ", ".join(v.name for v in self.declaration.role(role)) + "]"

        return (
            f"Model(name={self.name!r}, params={names('params')}, inputs={names('inputs')}, "
            f"targets={names('targets')}, reduction={self.reduction!r})"
        )

    # -- the declaration and the stages (computed once, by the pipeline) ----------------
    @property
    def variables(self) -> tuple[Variable, ...]:
        """The declared params, inputs and targets, in that order."""
        return self.declaration.variables

    @property
    def scalar(self) -> sp.Basic:
        """The per-sample loss as the sweep sees it (at matrix level: the matrix expression)."""
        return self.declaration.loss

    @property
    def matrix(self) -> bool:
        """Whether the model is derived and compiled at matrix level."""
        return self.declaration.level == "matrix"

    @property
    def derivation(self) -> Derivation:
        """The reverse sweep over the loss as written: what is explained."""
        return self.pipeline.derivation

    @property
    def kernel_derivation(self) -> Derivation:
        """The reverse sweep over the stabilized loss: what is compiled."""
        return self.pipeline.kernel_derivation

    @property
    def program(self) -> Program:
        """The simplified program the kernels are emitted from."""
        return self.pipeline.program

    @property
    def output_program(self) -> OutputProgram | None:
        """The forward program of the outputs (None without outputs), at the model's level."""
        return self.pipeline.output_program

    @property
    def residuals(self) -> tuple[Residual, ...]:
        """The residuals of a sum-of-squares loss (a DeclarationError naming the first term
        that is not a square otherwise): each a scalar or a matrix expression whose entries
        are residuals, with the loss's constant factor folded in (``sqrt(c) r``)."""
        return self.pipeline.residuals

    @property
    def hvp_program(self) -> Program:
        """The program of the Hessian-vector product, built when first asked for."""
        return self.pipeline.hvp_program

    def gradients(self) -> dict[str, sp.Expr | sp.MatrixBase]:
        """The gradient of the per-sample loss for each parameter, in closed form."""
        return self.pipeline.gradients()

    def hessian(self) -> sp.ImmutableMatrix:
        """The Hessian of the per-sample loss in closed form (scalar-level models).

        Rows and columns follow the parameter elements in declaration order, row-major.
        Derived by sweeping each gradient element again, from the loss as written.
        """
        return self.pipeline.hessian()

    # -- generation -----------------------------------------------------------------
    def module_source(
        self,
        optimizer: Optimizer | None = None,
        dtype: str = "float64",
        *,
        command: str | None = None,
        numbers: bool = True,
        least_squares: bool = True,
    ) -> ModuleSource:
        """The text of the generated module (nothing is written).

        ``numbers=False``: without the optimizer's numbers (the Trainer's cached module,
        shared by every optimizer of the same form; see ``symbp.optim.base.Template``).
        ``least_squares``: when the loss is a sum of squares, the module carries the
        residuals' Jacobian kernel (its ``residuals`` and ``jacobian``); the Trainer's
        cached module leaves it out and compiles it when first asked for.
        """
        dtype = check_dtype(dtype)
        optimizer = check_optimizer(optimizer)
        command = command or f"re-run the code that generated model {self.name!r}"
        return self.pipeline.module_source(
            optimizer, dtype, command, numbers=numbers, least_squares=least_squares
        )

    def generate(
        self,
        path: str | os.PathLike[str],
        optimizer: Optimizer | None = None,
        dtype: str = "float64",
        *,
        command: str | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Write the module to ``path`` (atomically, only when its content changes), and the
        runtime it imports next to it (the folder ``symbp_runtime/``)."""
        source = self.module_source(optimizer, dtype, command=command)
        write_module(path, source.text, overwrite=overwrite)
        return Path(path)

    def compile(self, optimizer: Optimizer | None = None, dtype: str = "float64") -> Trainer:
        """Generate into the cache directory, import, and return a :class:`Trainer`."""
        # The cached module leaves the optimizer's numbers out: SGD(lr=0.1) and
        # SGD(lr=0.5) share one compiled kernel; the Trainer passes its numbers.
        source = self.module_source(optimizer, dtype, numbers=False, least_squares=False)
        module = load_cached(self.name, source)  # type: ignore[arg-type]
        pipeline = self.pipeline

        def hessian() -> Any:
            return load_cached(f"{self.name}_hessp", pipeline.hessian_source(dtype))

        def jacobian(output: str | None) -> Any:
            if output is None:
                return load_cached(f"{self.name}_lsq", pipeline.residual_source(dtype))
            source = pipeline.output_jacobian_source(output, dtype)
            return load_cached(f"{self.name}_jac_{output}", source)

        return Trainer(self, module, optimizer, dtype, hessian, jacobian)

    # -- explanation ----------------------------------------------------------------
    def latex(
        self,
        document: bool = False,
        optimizer: Optimizer | None = None,
        values: dict[str, Any] | None = None,
        *,
        closed_form: bool | None = None,
        hessian: bool = False,
        least_squares: bool | None = None,
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
        least_squares
            Print the residuals, their Jacobian in closed form and the Gauss-Newton step;
            by default whenever the loss is a sum of squares.
        """
        optimizer = check_optimizer(optimizer)
        return self.pipeline.latex(
            document_mode=document,
            optimizer=optimizer,
            values=values,
            closed_form=closed_form,
            hessian=hessian,
            least_squares=least_squares,
        )

    def _repr_latex_(self) -> str:
        """Jupyter shows the derivation."""
        return "$$\n" + self.latex() + "\n$$"
