"""Model + optimizer + precision -> the text of a generated module."""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING

from ..graph import short_text
from ..matrix.kernel import MatrixKernelWriter
from ..matrix.predict import MatrixPredictWriter
from ..matrix.program import MatrixProgram
from ..optim.base import Optimizer
from ..simplify import Program
from .helpers import helper_sources
from .kernel import KernelWriter, layout
from .lines import Lines
from .module import ModuleSource, assemble
from .predict import PredictWriter

if TYPE_CHECKING:
    from ..model import Model

DTYPES = ("float32", "float64")


def _api() -> str:
    return textwrap.dedent(
        '''\
        def fit(params, data=None, *, steps=None, epochs=None, batch_size=None, shuffle=False, seed=None, state=None, hyper=None):
            """Train from ``params``; return FitResult(params, losses, state).

            ``losses[k]`` is the batch loss before update ``k``. Pass ``state`` (from an
            earlier result) to continue exactly where that fit stopped. A non-finite
            batch loss or parameter stops training with DivergenceError, whose
            ``.result`` holds everything up to the last finite step. ``hyper`` replaces
            the optimizer's numbers (HYPER's form).
            """
            return run_fit(_SPEC, params, data, steps, epochs, batch_size, shuffle, seed, state, hyper)


        def loss(params, data=None):
            """The loss reduced over all samples of ``data``."""
            return run_loss(_SPEC, params, data)


        def grad(params, data=None):
            """The gradient of the reduced loss: name -> array (float for scalars)."""
            return run_grad(_SPEC, params, data)


        def predict(params, inputs):
            """The outputs (OUTPUTS) for every sample of ``inputs``: name -> array, samples first."""
            return run_predict(_SPEC, params, inputs)
        '''
    )


def render_module(
    model: Model,
    program: Program,
    optimizer: Optimizer | None,
    dtype: str,
    command: str,
    *,
    numbers: bool = True,
) -> ModuleSource:
    """The full text of the module for ``model`` trained by ``optimizer`` in ``dtype``.

    ``numbers=False`` leaves the optimizer's numbers out of the text (``HYPER = None``):
    the Trainer's cached module, shared by every optimizer of the same form, which the
    Trainer calls with its own numbers.
    """
    template = optimizer.template() if optimizer is not None else None
    writer_class = MatrixKernelWriter if isinstance(program, MatrixProgram) else KernelWriter
    writer = writer_class(program, template, dtype, model.reduction)  # type: ignore[arg-type]
    body = Lines()
    writer.kernel(body)
    outputs = model.output_program
    if outputs is not None:
        predictor_class = MatrixPredictWriter if model.matrix else PredictWriter
        predictor = predictor_class(outputs, dtype)  # type: ignore[abstract]
        body.blank(2)
        predictor.kernel(body)
    out = Lines()
    for helper in helper_sources(body.text()):
        out(*helper.rstrip("\n").splitlines())
        out.blank(2)
    kernels = out.text() + body.text()

    lay = layout(program)
    variables = model.variables

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
        f'MODEL = "{model.name}"',
        f'DTYPE = "{dtype}"',
        f"PARAMS = {shapes('params')}",
        f"INPUTS = {shapes('inputs')}",
        f"TARGETS = {shapes('targets')}",
        "OUTPUTS = {" + ", ".join(f'"{o.name}": {o.shape}' for o in model.outputs) + "}",
        f'REDUCTION = "{model.reduction}"',
        f"OPTIMIZER = {json.dumps(opt_text)}",
        "#: the optimizer's constants (as _kernel reads them), its state's initial values, form",
        f"HYPER = {hyper}",
    ]
    params_spec = ", ".join(
        f'("{v.name}", {v.shape}, {lay.offsets[v.name]})' for v in variables if v.role == "params"
    )
    data_spec = ", ".join(
        f'("{v.name}", {v.shape})'
        for role in ("inputs", "targets")
        for v in variables
        if v.role == role
    )
    outputs_spec = ", ".join(f'("{o.name}", {o.shape})' for o in model.outputs)
    state = template.rule.state if template is not None else ()
    slots = ", ".join(f'"{sym.name}"' for sym, _ in state)
    n_hyper = len(template.constants) if template is not None else 0
    fields = {
        "model": "MODEL",
        "dtype": f"np.{dtype}",
        "params": f"({params_spec},)",
        "data": f"({data_spec}{',' if data_spec else ''})",
        "reduction": "REDUCTION",
        "slots": f"({slots}{',' if slots else ''})",
        "source_hash": "SOURCE_HASH",
        "kernel": "_kernel",
        "can_fit": str(optimizer is not None),
        "blas": str("np.dot(" in kernels),
        "chunk": str(writer.chunk()),
        "n_hyper": str(n_hyper),
        "form": f'"{template.form if template is not None else ""}"',
        "hyper": "HYPER",
        "predict": "_predict" if outputs is not None else "None",
        "outputs": f"({outputs_spec}{',' if outputs_spec else ''})",
        "predict_chunk": str(predictor.chunk() if outputs is not None else 0),
        "n_inputs": str(sum(1 for v in variables if v.role == "inputs")),
    }
    spec = (
        "_SPEC = Spec(\n"
        + "".join(f"    {key}={value},\n" for key, value in fields.items())
        + ")\n\n\n"
        + _api()
    )
    docstring = (
        f'Kernels of model "{model.name}" ({dtype}).\n\n'
        f"Per-sample loss: {short_text(model.scalar)}\n"
        f"Reduction over a batch: {model.reduction}. Optimizer: {opt_text}.\n"
    )
    return assemble(
        model=model.name,
        command=command,
        docstring=docstring,
        metadata=metadata,
        kernels=kernels,
        spec=spec,
    )
