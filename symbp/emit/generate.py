"""Declaration + programs + optimizer + precision -> the text of a generated module."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..declare.declaration import Declaration
from ..declare.variables import Variable
from ..nodes.graph import short_text
from ..optim.base import Optimizer
from ..simplify.program import OutputProgram, Program
from .helpers import helper_sources
from .hessp import hessp_kernel
from .lines import Lines
from .module import ModuleSource, assemble
from .scalar.kernel import KernelWriter, layout


@dataclass(frozen=True)
class Writers:
    """A level's writers: of the kernel (``KernelWriter``'s interface) and of ``_predict``."""

    kernel: type[KernelWriter]
    predict: type


DTYPES = ("float32", "float64")


def _api() -> str:
    return textwrap.dedent(
        '''\
        def fit(params, data=None, *, steps=None, epochs=None, batch_size=None, shuffle=False, seed=None, state=None, hyper=None):
            """Train from ``params``; return FitResult(params, losses, state).

            ``losses[k]`` is the batch loss before update ``k``. Pass ``state`` (from an
            earlier result) to continue exactly where that fit stopped. A non-finite
            batch loss or parameter stops training with DivergenceError, whose
            ``.fit`` holds everything up to the last finite step. ``hyper`` replaces
            the optimizer's numbers (HYPER's form).
            """
            return run_fit(_SPEC, params, data, steps, epochs, batch_size, shuffle, seed, state, hyper)


        def loss(params, data=None):
            """The loss reduced over all samples of ``data``."""
            return run_loss(_SPEC, params, data)


        def grad(params, data=None):
            """The gradient of the reduced loss: name -> array (float for scalars)."""
            return run_grad(_SPEC, params, data)


        def predict(params, inputs=None):
            """The outputs (OUTPUTS) for every sample of ``inputs``: name -> array, samples first."""
            return run_predict(_SPEC, params, inputs)
        '''
    )


def _layout_specs(variables: tuple[Variable, ...], lay: Any) -> tuple[str, str]:
    """The ``params`` and ``data`` entries of a module's Spec, as source text."""
    params_spec = ", ".join(
        f'("{v.name}", {v.shape}, {lay.offsets[v.name]})' for v in variables if v.role == "params"
    )
    data_spec = ", ".join(
        f'("{v.name}", {v.shape})'
        for role in ("inputs", "targets")
        for v in variables
        if v.role == role
    )
    return params_spec, data_spec


def _with_helpers(body: Lines, helpers: Iterable[str]) -> str:
    """The kernels' text preceded by the helper functions it calls (symbp.emit.helpers)."""
    out = Lines()
    for helper in helper_sources(helpers):
        out(*helper.rstrip("\n").splitlines())
        out.blank(2)
    return out.text() + body.text()


def _spec_text(
    declaration: Declaration, dtype: str, program: Program, blas: bool, chunk: int, **fields: str
) -> str:
    """The module's ``_SPEC = Spec(...)``: what a module without an optimizer, outputs or
    Hessian has, with ``fields`` (Spec's names, as source text) in their place."""
    params_spec, data_spec = _layout_specs(declaration.variables, layout(program))
    spec = {
        "model": "MODEL",
        "dtype": f"np.{dtype}",
        "params": f"({params_spec},)",
        "data": f"({data_spec}{',' if data_spec else ''})",
        "reduction": "REDUCTION",
        "slots": "()",
        "source_hash": "SOURCE_HASH",
        "kernel": "None",
        "can_fit": "False",
        "blas": str(blas),
        "chunk": str(chunk),
        "n_hyper": "0",
        "form": '""',
        "hyper": "None",
        "predict": "None",
        "outputs": "()",
        "predict_chunk": "0",
        "n_inputs": str(len(declaration.role("inputs"))),
        "hessp": "None",
    }
    unknown = set(fields) - set(spec)
    if unknown:
        raise TypeError(f"Spec has no fields {sorted(unknown)}")
    spec.update(fields)
    return "_SPEC = Spec(\n" + "".join(f"    {k}={v},\n" for k, v in spec.items()) + ")\n"


def render_hessp_module(
    declaration: Declaration, hvp_program: Program, program: Program, dtype: str, writers: Writers
) -> ModuleSource:
    """The module of a model's Hessian-vector product kernel (see symbp.emit.hessp):
    ``hvp_program`` is the second sweep's, ``program`` the model's own (its layout)."""
    writer = writers.kernel(hvp_program, None, dtype, declaration.reduction)
    body = Lines()
    hessp_kernel(writer, body)
    kernels = _with_helpers(body, writer.helpers())
    spec = _spec_text(declaration, dtype, program, writer.blas, writer.chunk(), hessp="_hessp")
    metadata = [
        f'MODEL = "{declaration.name}"',
        f'DTYPE = "{dtype}"',
        f'REDUCTION = "{declaration.reduction}"',
    ]
    docstring = (
        f'Hessian-vector products of model "{declaration.name}" ({dtype}): run_hessp(_SPEC, ...).\n'
    )
    return assemble(
        model=declaration.name,
        command="generated by Trainer.hessp",
        docstring=docstring,
        metadata=metadata,
        kernels=kernels,
        spec=spec,
    )


def render_module(
    declaration: Declaration,
    program: Program,
    outputs: OutputProgram | None,
    optimizer: Optimizer | None,
    dtype: str,
    command: str,
    writers: Writers,
    *,
    numbers: bool = True,
) -> ModuleSource:
    """The full text of the module of ``declaration`` trained by ``optimizer`` in ``dtype``.

    ``program`` is the simplified program of the loss, ``outputs`` the forward program
    of the outputs (None without outputs), ``writers`` the level's. ``numbers=False``
    leaves the optimizer's numbers out of the text (``HYPER = None``): the Trainer's
    cached module, shared by every optimizer of the same form, which the Trainer calls
    with its own numbers.
    """
    template = optimizer.template() if optimizer is not None else None
    writer = writers.kernel(program, template, dtype, declaration.reduction)
    body = Lines()
    writer.kernel(body)
    helpers = writer.helpers()
    blas = writer.blas
    if outputs is not None:
        predictor = writers.predict(outputs, dtype)
        body.blank(2)
        predictor.kernel(body)
        helpers |= predictor.helpers()
        blas = blas or predictor.blas
    kernels = _with_helpers(body, helpers)
    variables = declaration.variables

    def shapes(role: str) -> str:
        items = ", ".join(f'"{v.name}": {v.shape}' for v in variables if v.role == role)
        return "{" + items + "}"

    if optimizer is None:
        opt_text, hyper = "None", "None"
    elif numbers:
        opt_text = optimizer.describe()
        hyper = repr(template.numbers)  # type: ignore[union-attr]
    else:
        opt_text = f"{type(optimizer).__name__}(numbers given at run time)"
        hyper = "None"
    metadata = [
        f'MODEL = "{declaration.name}"',
        f'DTYPE = "{dtype}"',
        f"PARAMS = {shapes('params')}",
        f"INPUTS = {shapes('inputs')}",
        f"TARGETS = {shapes('targets')}",
        "OUTPUTS = {" + ", ".join(f'"{o.name}": {o.shape}' for o in declaration.outputs) + "}",
        f'REDUCTION = "{declaration.reduction}"',
        f"OPTIMIZER = {json.dumps(opt_text)}",
        "#: the optimizer's constants (as _kernel reads them), its state's initial values, form",
        f"HYPER = {hyper}",
    ]
    outputs_spec = ", ".join(f'("{o.name}", {o.shape})' for o in declaration.outputs)
    state = template.rule.state if template is not None else ()
    slots = ", ".join(f'"{sym.name}"' for sym, _ in state)
    n_hyper = len(template.constants) if template is not None else 0
    spec = _spec_text(
        declaration, dtype, program, blas, writer.chunk(),
        slots=f"({slots}{',' if slots else ''})",
        kernel="_kernel",
        can_fit=str(optimizer is not None),
        n_hyper=str(n_hyper),
        form=f'"{template.form if template is not None else ""}"',
        hyper="HYPER",
        predict="_predict" if outputs is not None else "None",
        outputs=f"({outputs_spec}{',' if outputs_spec else ''})",
        predict_chunk=str(predictor.chunk() if outputs is not None else 0),
    ) + "\n\n" + _api()  # fmt: skip
    docstring = (
        f'Kernels of model "{declaration.name}" ({dtype}).\n\n'
        f"Per-sample loss: {short_text(declaration.loss)}\n"
        f"Reduction over a batch: {declaration.reduction}. Optimizer: {opt_text}.\n"
    )
    return assemble(
        model=declaration.name,
        command=command,
        docstring=docstring,
        metadata=metadata,
        kernels=kernels,
        spec=spec,
    )
