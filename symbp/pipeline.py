"""The pipeline of one declared model: declare -> derive -> simplify -> explain / emit.

A :class:`Pipeline` holds a :class:`~symbp.declare.declaration.Declaration` and computes
each later stage once, when first asked for, by handing the previous stage's immutable
result to the next: the loss as written (canonical forms) and its sweep (what the LaTeX
explains); the stabilized loss and its sweep (what is compiled); the simplified program;
the outputs' and the Hessian-vector product's programs; the module texts. What differs
between the levels comes from the level object of :data:`symbp.levels.LEVELS`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import sympy as sp

from .declare.declaration import Declaration
from .derive.hessian import hvp_derivation
from .derive.residuals import Residual, residuals
from .derive.sweep import Derivation, sweep
from .emit.generate import render_hessp_module, render_jacobian_module, render_module
from .emit.module import ModuleSource
from .errors import MissingVJPRule, OptionError, SymbpError
from .explain.code import CodeNames
from .explain.latex import document, fragment
from .levels import LEVELS, Level
from .optim.base import Optimizer
from .simplify.program import JacobianProgram, OutputProgram, Program
from .simplify.stability import stabilize


class Pipeline:
    """The stages of one declared model, each computed once (see the module docstring)."""

    def __init__(self, declaration: Declaration):
        self.declaration = declaration
        self.level: Level = LEVELS[declaration.level]
        #: the Jacobian programs of the outputs asked for, by output name
        self.output_jacobians: dict[str, JacobianProgram] = {}

    @functools.cached_property
    def written(self) -> sp.Basic:
        """The loss as written, in the forms the sweep expects (matrix size rewrites)."""
        return self.level.prepare(self.declaration.loss)

    @functools.cached_property
    def derivation(self) -> Derivation:
        """The reverse sweep over the loss as written: what is explained."""
        return sweep(self.written, self.declaration.variables, self.level.sweep)

    @functools.cached_property
    def kernel_derivation(self) -> Derivation:
        """The reverse sweep over the stabilized loss: what is compiled.

        The stability passes (:mod:`symbp.simplify.stability`) rewrite overflowing
        textbook formulas (``log(1 + exp(u))``, ``1/(1 + exp(-u))``, ``log(sum(exp(z)))``)
        into equal forms that stay finite, at both levels; the LaTeX shows the loss as the
        user wrote it, the kernels compute the stable form.
        """
        stable = stabilize(self.written)
        if stable == self.written:
            return self.derivation
        return sweep(stable, self.declaration.variables, self.level.sweep)

    @functools.cached_property
    def code_names(self) -> CodeNames:
        """The kernels' identifiers: the names the LaTeX gives the compiled derivation's
        quantities (:mod:`symbp.explain.code`)."""
        return self.level.code_names(self.kernel_derivation)

    @functools.cached_property
    def program(self) -> Program:
        """The simplified program the kernels are emitted from: every quantity the
        derivation names stays a statement of its own (a line of the kernel)."""
        return self.level.program(self.kernel_derivation, self.code_names.kept)

    @functools.cached_property
    def written_program(self) -> Program:
        """The simplified program of the loss as written (for closed forms)."""
        if self.kernel_derivation is self.derivation:
            return self.program
        return self.level.program(self.derivation)

    @functools.cached_property
    def output_program(self) -> OutputProgram | None:
        """The forward program of the outputs (None without outputs)."""
        declaration = self.declaration
        if not declaration.outputs:
            return None
        return self.level.output_program(declaration.outputs, declaration.variables)

    @functools.cached_property
    def hvp_program(self) -> Program:
        """The program of the Hessian-vector product (a second sweep of the program)."""
        declaration = self.declaration
        second = hvp_derivation(self.program, declaration.variables, self.level.sweep)
        self.level.admit_hessian(second, declaration.name)
        return self.level.program(second)

    @functools.cached_property
    def residuals(self) -> tuple[Residual, ...]:
        """The residuals of a sum-of-squares loss (:mod:`symbp.derive.residuals`); a
        DeclarationError naming the first term that is not a square otherwise."""
        return residuals(self.written, self.declaration.name)

    @functools.cached_property
    def residual_shape(self) -> tuple[int, ...]:
        """The residuals of one sample: ``()`` for one, ``(k,)`` for ``k``."""
        count = sum(r.size for r in self.residuals)
        return () if count == 1 else (count,)

    @property
    def residual_program(self) -> JacobianProgram:
        """The program of the residuals and their Jacobian (derived when first asked for:
        an ordinary fit never pays for it); the refusal of one too large to compile, or
        through an nn.scan, is raised again without deriving it again."""
        program, refusal = self.residual_outcome
        if refusal is not None:
            raise refusal
        assert program is not None
        return program

    @functools.cached_property
    def residual_outcome(self) -> tuple[JacobianProgram | None, SymbpError | None]:
        """``(program, None)``, or ``(None, refusal)`` (see :attr:`residual_program`)."""
        entries = [stabilize(e) for r in self.residuals for e in r.entries()]
        what = f"the residuals of model {self.declaration.name!r}"
        try:
            return self.level.jacobian(entries, self.declaration.variables, what), None
        except (OptionError, MissingVJPRule) as err:
            return None, err

    def output_jacobian_program(self, name: str) -> JacobianProgram:
        """The program of output ``name``'s entries and their Jacobian (built once)."""
        if name in self.output_jacobians:
            return self.output_jacobians[name]
        declaration = self.declaration
        found = [o for o in declaration.outputs if o.name == name]
        if not found:
            names = [o.name for o in declaration.outputs]
            raise OptionError(
                f"model {declaration.name!r} has no output {name!r}; its outputs are {names}"
            )
        used = tuple(v for v in declaration.variables if v.role != "targets")
        entries = self.level.output_entries(found[0])
        program = self.level.jacobian(entries, used, f"output {name!r}")
        self.output_jacobians[name] = program
        return program

    def jacobian_structure(self, output: str | None) -> Any:
        """Where the Jacobian of the residuals (``output`` None) or of an output may be
        nonzero: ``(entries per sample, parameter elements)`` booleans."""
        if output is None:
            return self.residual_program.structure()
        return self.output_jacobian_program(output).structure()

    def gradients(self) -> dict[str, Any]:
        """The gradient of the per-sample loss for each parameter, in closed form."""
        return self.level.gradients(self.written_program, self.declaration)

    def hessian(self) -> sp.ImmutableMatrix:
        """The Hessian of the per-sample loss in closed form (scalar level)."""
        return self.level.hessian(self.written_program, self.declaration)

    def module_source(
        self,
        optimizer: Optimizer | None,
        dtype: str,
        command: str,
        *,
        numbers: bool = True,
        least_squares: bool = False,
    ) -> ModuleSource:
        """The text of the generated module (``least_squares``: with the residuals' Jacobian
        kernel when the loss is a sum of squares)."""
        residuals = None
        if least_squares and self.is_least_squares:
            try:
                residuals = (self.residual_program, self.residual_shape)
            except (OptionError, MissingVJPRule):  # too many residuals, or a scan: without
                residuals = None
        return render_module(
            self.declaration,
            self.program,
            self.output_program,
            self.code_names.copy(),
            optimizer,
            dtype,
            command,
            self.level.writers,
            numbers=numbers,
            residuals=residuals,
        )

    @functools.cached_property
    def is_least_squares(self) -> bool:
        """Whether the loss is a sum of squares."""
        try:
            self.residuals  # noqa: B018
        except SymbpError:
            return False
        return True

    def residual_source(self, dtype: str) -> ModuleSource:
        """The text of the module of the residuals' Jacobian kernel."""
        return render_jacobian_module(
            self.declaration, self.residual_program, dtype, self.level.writers,
            self.residual_shape, "residuals",
        )  # fmt: skip

    def output_jacobian_source(self, name: str, dtype: str) -> ModuleSource:
        """The text of the module of output ``name``'s Jacobian kernel."""
        program = self.output_jacobian_program(name)  # refuses an unknown name
        output = next(o for o in self.declaration.outputs if o.name == name)
        return render_jacobian_module(
            self.declaration, program, dtype, self.level.writers,
            output.shape, f"output {name!r}",
        )  # fmt: skip

    def hessian_source(self, dtype: str) -> ModuleSource:
        """The text of the module of the Hessian-vector product."""
        return render_hessp_module(self.declaration, self.hvp_program, dtype, self.level.writers)

    def latex(
        self,
        *,
        document_mode: bool,
        optimizer: Optimizer | None,
        values: Mapping[str, Any] | None,
        closed_form: bool | None,
        hessian: bool,
        least_squares: bool | None = None,
    ) -> str:
        """The derivation in LaTeX (see :meth:`symbp.Model.latex`): the sweep the kernels
        are compiled from, its stable primitives printed as the formulas they equal."""
        derivation = self.kernel_derivation
        if closed_form is None:
            closed_form = self.level.default_closed_form(derivation)
        sections = self.level.latex_sections(
            derivation,
            optimizer=optimizer,
            values=values,
            closed=self.gradients if closed_form else None,
            hessian=self.hessian if hessian else None,
        )
        if least_squares or (least_squares is None and self.is_least_squares):
            # asked for: a DeclarationError naming the term that is not a square, or an
            # OptionError for a Jacobian too large; by default such a model goes without
            try:
                sections += self.level.least_squares_sections(self.residual_program, "L")
            except (OptionError, MissingVJPRule):
                if least_squares:
                    raise
        if not document_mode:
            return fragment(sections)
        declaration = self.declaration
        return document(
            declaration.name,
            declaration.variables,
            declaration.reduction,
            sections,
            optimizer,
            self.level.variable_tex,
        )
