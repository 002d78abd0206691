"""The model function of a scalar-level program: per sample, the forward pass, then the
reverse sweep, in the derivation's names.

``loss_and_grad(_theta, _grad, _work, _want, _lo, _hi, *data)`` returns the sum of the
per-sample losses of the samples ``_lo:_hi`` and writes the sum of their gradients into
``_grad`` (laid out as ``_theta``). Every element the program reads becomes a local
named as the LaTeX names it (``W^{(1)}_{12}`` is ``W1_12``, ``x_{2}`` is ``x2``): a
parameter once per call, a data element once per sample. Each named quantity and each
named adjoint is a line of its own, in forward and then sweep order, under the rule of
:mod:`symbp.explain.code`; an adjoint's line carries its chain-rule step as a comment.
Everything else the simplification kept is a temporary ``_t<k>``. The gradient is
always computed (``_want`` is for the matrix level): a branch on it inside the sample
loop made seed 002's 3000 steps 2.5x slower, and a loss-only evaluation of a scalar
model is cheap anyway.

The driver around it (modes, batches, the optimizer's update) is :mod:`symbp.emit.driver`.
"""

from __future__ import annotations

import sympy as sp

from ...declare.variables import Variable
from ...derive.sweep import Leaf
from ...explain.code import CodeNames, identifier
from ...explain.names import element_name
from ...simplify.program import Program
from ..layout import INLINED, data_argument, data_variables, flat_index, layout, sample_index
from ..lines import Lines
from ..printer import NumbaPrinter, format_literal, make_printer

#: Where a variable of each role that is the same for every sample is read from: the
#: parameters from ``_theta`` and, in a Hessian-vector product, the direction from
#: ``_dir`` (laid out as the parameters; see symbp.derive.hessian).
SHARED = {"params": "_theta", "directions": "_dir"}


def leaf_read(leaf: Leaf, offsets: dict[str, int]) -> str:
    """Where an element comes from: a flat shared vector, or this sample's row of the data."""
    var, index = leaf.var, leaf.index
    if var.role in SHARED:
        base = offsets[var.name] if var.role == "params" else offsets[_param_of(var)]
        return f"{SHARED[var.role]}[{flat_index(var, index, base)}]"
    return f"{data_argument(var)}[_s{sample_index(var.shape, index)}]"


def _param_of(direction: Variable) -> str:
    from ...derive.hessian import DIRECTION_PREFIX

    return direction.name.removeprefix(DIRECTION_PREFIX)


class ScalarModelWriter:
    """Writes the model function of one scalar-level program in one precision.

    ``names`` (from :func:`symbp.explain.code.scalar_code_names`) names its quantities;
    without it only the elements are named (the Hessian-vector product's program).
    ``shared`` lists the flat vectors the function reads besides the data.
    """

    def __init__(
        self,
        program: Program,
        dtype: str,
        names: CodeNames | None = None,
        *,
        function: str = "loss_and_grad",
    ):
        self.program = program
        self.dtype = dtype
        self.function = function
        derivation = program.derivation
        self.variables = derivation.variables
        self.layout = layout(self.variables)
        code = names if names is not None else CodeNames()
        code.taken.add(function)
        self.code = code
        # every element the program reads, named as the LaTeX names it
        leaves = sorted(
            derivation.leaves.items(),
            key=lambda item: (item[1].var.role not in SHARED, item[1].var.name, item[1].index),
        )
        self.leaves: list[tuple[str, str, Leaf]] = []
        #: how each symbol of the program is printed: leaves and statements by name
        self.symbols: dict[sp.Basic, str] = {}
        #: (param name, index) -> the identifier of that element
        self.elements: dict[tuple[str, tuple[int, ...]], str] = {}
        for expr, leaf in leaves:
            name = code.names.get(expr)
            if name is None:
                name = code.name(expr, identifier(element_name(leaf.var, leaf.index)))
            self.leaves.append((name, leaf_read(leaf, self.layout.offsets), leaf))
            self.symbols[expr] = name
            self.elements[(leaf.var.name, leaf.index)] = name
        # statements: named quantities by their names (sign folded in), the rest _t<k>
        self.targets: dict[sp.Basic, str] = {}
        for target, _ in program.statements:
            name = code.names.get(target)
            if name is None:
                name = code.claim(f"_t{len(self.targets)}")
            self.targets[target] = name
            sign = code.signs.get(target, 1)
            self.symbols[target] = name if sign == 1 else f"(-{name})"
        self.printers: list[NumbaPrinter] = []
        self.print = self.printer(dtype, self.symbols)
        self.data = [data_argument(v) for v in data_variables(self.variables)]
        self.shared = ["_theta"] + (
            ["_dir"] if any(v.role == "directions" for v in self.variables) else []
        )

    # -- what the module needs to know ----------------------------------------------------
    def printer(self, dtype: str, names: dict[sp.Basic, str]) -> NumbaPrinter:
        """A printer for this writer's code (its helpers are recorded)."""
        printer = make_printer(dtype, names)
        self.printers.append(printer)
        return printer

    def constants(self) -> dict[str, str]:
        """The module-level constant arrays the code reads (none: constants are literals)."""
        return {}

    def helpers(self) -> set[str]:
        """The helper functions the written code calls."""
        return set().union(*(p.helpers for p in self.printers))

    @property
    def blas(self) -> bool:
        """Straight-line code multiplies no matrices."""
        return False

    def workspace(self) -> tuple[int, int]:
        """``(fixed, per_sample)`` elements of workspace: none at the scalar level."""
        return 0, 0

    def chunk(self) -> int:
        """Samples per batch when the runtime evaluates a data set."""
        return 256

    def lit(self, value: float) -> str:
        """A literal in the kernel precision."""
        return format_literal(value, self.dtype)

    def signature(self) -> list[str]:
        """The arguments of the model function."""
        return [*self.shared, "_grad", "_work", "_want", "_lo", "_hi", *self.data]

    # -- the function -------------------------------------------------------------------
    def statement(self, out: Lines, target: sp.Basic, expr: sp.Basic) -> None:
        """``name = expr`` for one statement of the program (its comment first)."""
        code = self.code
        sign = code.signs.get(target, 1)
        comment = code.comments.get(target)
        if comment is not None:
            out(f"# {comment}")
        out(f"{self.targets[target]} = {self.print(expr if sign == 1 else sign * expr)}")

    def write(self, out: Lines) -> None:
        """The model function (see the module docstring)."""
        program, code = self.program, self.code
        entries = [(name, index, expr) for name, index, expr in program.gradients if expr != 0]
        sums = [code.claim(f"grad_{self._leaf_code(name, index)}") for name, index, _ in entries]
        out(INLINED)
        out(f"def {self.function}({', '.join(self.signature())}):")
        with out.indent():
            out(
                '"""The loss summed over the samples _lo:_hi (returned) and its gradient, '
                'written to _grad."""'
            )
            n_ops = sum(sp.count_ops(e) for _, e in program.statements)
            out(f"# {len(program.statements)} statements, {n_ops} operations per sample")
            for name, read, leaf in self.leaves:
                if leaf.var.role in SHARED:
                    out(f"{name} = {read}")
            out(f"_loss = {self.lit(0.0)}")
            for total in sums:
                out(f"{total} = {self.lit(0.0)}")
            forward = list(program.needed([program.loss]))
            done = {t for t, _ in forward}
            backward = [(t, e) for t, e in program.statements if t not in done]
            out("for _s in range(_lo, _hi):")
            with out.indent():
                for name, read, leaf in self.leaves:
                    if leaf.var.role not in SHARED:
                        out(f"{name} = {read}")
                out("# forward")
                for target, expr in forward:
                    self.statement(out, target, expr)
                out(f"_loss += {self.print(program.loss)}")
                if backward:
                    out("# backward: the adjoints, in sweep order")
                for target, expr in backward:
                    self.statement(out, target, expr)
                if entries:
                    out("# the gradient of each parameter element, summed over the samples")
                for (name, index, expr), total in zip(entries, sums, strict=True):
                    bar = code.gradients.get((name, index))
                    if bar is None:
                        bar = code.claim(f"{self._leaf_code(name, index)}_bar")
                    comment = code.gradient_comments.get((name, index))
                    if comment is not None:
                        out(f"# {comment}")
                    out(f"{bar} = {self.print(expr)}")
                    out(f"{total} += {bar}")
            if len(entries) < self.layout.size:  # some entries stay zero
                out("for _j in range(_grad.shape[0]):")
                with out.indent():
                    out(f"_grad[_j] = {self.lit(0.0)}")
            params = {v.name: v for v in self.variables if v.role == "params"}
            for (name, index, _), total in zip(entries, sums, strict=True):
                flat = flat_index(params[name], index, self.layout.offsets[name])
                out(f"_grad[{flat}] = {total}")
            out("return _loss")

    def _leaf_code(self, name: str, index: tuple[int, ...]) -> str:
        found = self.elements.get((name, index))
        if found is not None:
            return found
        var = next(v for v in self.variables if v.name == name)
        return identifier(element_name(var, index))
