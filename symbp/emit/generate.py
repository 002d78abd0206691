"""Declaration + programs + names + optimizer + precision -> the text of a generated module.

A module holds its model: the level's model function (``loss_and_grad``, in the
derivation's names), its driver ``_kernel`` (modes, batches, the optimizer's update),
``_predict`` when the model has outputs, the helpers these call, ``SPEC`` and the thin
public functions ``fit``, ``loss``, ``grad`` and ``predict``; the runtime they call is
shared (:mod:`symbp.emit.module`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..declare.declaration import Declaration
from ..declare.variables import Variable
from ..explain.code import CodeNames
from ..nodes.text import summary_text
from ..optim.base import Optimizer
from ..simplify.program import JacobianProgram, OutputProgram, Program
from .driver import DriverWriter
from .helpers import helper_sources
from .hessp import write_hessp
from .layout import data_variables, layout
from .lines import Lines
from .module import ModuleSource, assemble

DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Writers:
    """A level's writers: of the model function, of ``_predict`` and of ``_jacobian``."""

    model: type
    predict: type
    jacobian: type


API = '''\
def fit(params, data=None, *, steps=None, epochs=None, batch_size=None, shuffle=False, seed=None, state=None, hyper=None):
    """Train from ``params``: FitResult(params, losses, state), resumable with ``state=``;
    DivergenceError (with ``.fit``) at a non-finite step; ``hyper``: other numbers (HYPER's form)."""
    return RUNTIME.run_fit(SPEC, params, data, steps, epochs, batch_size, shuffle, seed, state, hyper)


def loss(params, data=None):
    """The loss reduced over all samples of ``data``."""
    return RUNTIME.run_loss(SPEC, params, data)


def grad(params, data=None):
    """The gradient of the reduced loss: name -> array (float for scalars)."""
    return RUNTIME.run_grad(SPEC, params, data)


def predict(params, inputs=None):
    """The outputs (OUTPUTS) for every sample of ``inputs``: name -> array, samples first."""
    return RUNTIME.run_predict(SPEC, params, inputs)
'''

#: A module's residuals and their Jacobian (runtime functions bound to its SPEC).
LEAST_SQUARES = "residuals, jacobian = RUNTIME.least_squares_functions(SPEC)"


def _spec_text(declaration: Declaration, dtype: str, fields: dict[str, str]) -> str:
    """``SPEC = RUNTIME.Spec(...)``: the layout of ``declaration`` and ``fields`` (Spec's
    keyword arguments, as source text), those equal to Spec's defaults left out."""
    variables = declaration.variables
    lay = layout(variables)
    params = ", ".join(
        f'("{v.name}", {v.shape}, {lay.offsets[v.name]})' for v in variables if v.role == "params"
    )
    data = ", ".join(f'("{v.name}", {v.shape})' for v in data_variables(variables))
    spec: dict[str, str] = {
        "model": "MODEL",
        "dtype": f"np.{dtype}",
        "params": f"({params},)",
        "reduction": "REDUCTION",
        "source_hash": "SOURCE_HASH",
    }
    if data:
        spec["data"] = f"({data},)"
        spec["n_inputs"] = str(len(declaration.role("inputs")))
    defaults = {"kernel": "None", "predict": "None", "hessp": "None", "can_fit": "False",
                "blas": "False", "chunk": "256", "predict_chunk": "256", "n_hyper": "0",
                "form": '""', "hyper": "None", "outputs": "()", "slots": "()",
                "jacobian": "None", "jacobian_shape": "()"}  # fmt: skip
    for key, value in fields.items():
        if key not in defaults:
            raise TypeError(f"Spec has no field {key!r}")
        if value != defaults[key]:
            spec[key] = value
    return "SPEC = RUNTIME.Spec(\n" + "".join(f"    {k}={v},\n" for k, v in spec.items()) + ")\n"


def _with_helpers(
    body: Lines, helpers: Iterable[str], constants: Mapping[str, str] | None = None
) -> str:
    """The kernels' text preceded by the helper functions it calls (symbp.emit.helpers)
    and the constant arrays it reads (in name order)."""
    out = Lines()
    for helper in helper_sources(helpers):
        out(*helper.rstrip("\n").splitlines())
        out.blank(2)
    if constants:
        out("# the model's constant matrices")
        for name in sorted(constants):
            out(constants[name])
        out.blank(2)
    return out.text() + body.text()


def render_hessp_module(
    declaration: Declaration, hvp_program: Program, dtype: str, writers: Writers
) -> ModuleSource:
    """The module of a model's Hessian-vector product kernel (:mod:`symbp.emit.hessp`):
    ``hvp_program`` is the second sweep's program."""
    writer = writers.model(hvp_program, dtype, function="hessian_product")
    body = Lines()
    write_hessp(writer, body)
    kernels = _with_helpers(body, writer.helpers(), writer.constants())
    fields = {"hessp": "_hessp", "blas": str(writer.blas), "chunk": str(writer.chunk())}
    metadata = [
        f'MODEL = "{declaration.name}"',
        f'DTYPE = "{dtype}"',
        f'REDUCTION = "{declaration.reduction}"',
    ]
    docstring = (
        f'Hessian-vector products of model "{declaration.name}" ({dtype}): '
        "RUNTIME.run_hessp(SPEC, ...).\n"
    )
    return assemble(
        model=declaration.name,
        command="generated by Trainer.hessp",
        docstring=docstring,
        metadata=metadata,
        kernels=kernels,
        tail=_spec_text(declaration, dtype, fields),
    )


def write_jacobian(
    out: Lines, program: JacobianProgram, dtype: str, writers: Writers, shape: tuple[int, ...]
) -> tuple[Any, dict[str, str]]:
    """Write the Jacobian kernel (:mod:`symbp.emit.scalar.jacobian`) into ``out``; its
    writer (helpers, constants, BLAS) and its Spec fields."""
    writer = writers.jacobian(program, dtype)
    writer.write(out)
    return writer, {"jacobian": "_jacobian", "jacobian_shape": str(shape)}


def render_jacobian_module(
    declaration: Declaration,
    program: JacobianProgram,
    dtype: str,
    writers: Writers,
    shape: tuple[int, ...],
    what: str,
) -> ModuleSource:
    """The module of a Jacobian kernel: of the residuals (``what`` is ``"residuals"``) or
    of an output's entries (their per-sample ``shape``)."""
    body = Lines()
    writer, fields = write_jacobian(body, program, dtype, writers, shape)
    if writer.blas:
        fields["blas"] = "True"
    metadata = [
        f'MODEL = "{declaration.name}"',
        f'DTYPE = "{dtype}"',
        f'REDUCTION = "{declaration.reduction}"',
    ]
    docstring = (
        f'The Jacobian of the {what} of model "{declaration.name}" ({dtype}): '
        "RUNTIME.jacobian_values(SPEC, ...).\n"
    )
    return assemble(
        model=declaration.name,
        command=f"generated by Trainer ({what} Jacobian)",
        docstring=docstring,
        metadata=metadata,
        kernels=_with_helpers(body, writer.helpers(), writer.constants()),
        tail=_spec_text(declaration, dtype, fields),
    )


def _shapes(variables: tuple[Variable, ...], role: str) -> str:
    items = ", ".join(f'"{v.name}": {v.shape}' for v in variables if v.role == role)
    return "{" + items + "}"


def render_module(
    declaration: Declaration,
    program: Program,
    outputs: OutputProgram | None,
    names: CodeNames,
    optimizer: Optimizer | None,
    dtype: str,
    command: str,
    writers: Writers,
    *,
    numbers: bool = True,
    residuals: tuple[JacobianProgram, tuple[int, ...]] | None = None,
) -> ModuleSource:
    """The full text of the module of ``declaration`` trained by ``optimizer`` in ``dtype``.

    ``program`` is the simplified program of the loss and ``names`` its identifiers
    (:mod:`symbp.explain.code`), ``outputs`` the forward program of the outputs (None
    without outputs), ``writers`` the level's. ``numbers=False`` leaves the optimizer's
    numbers out of the text (``HYPER = None``): the Trainer's cached module, shared by
    every optimizer of the same form, which the Trainer calls with its own numbers.
    ``residuals``: the program of a least-squares loss's residuals and their per-sample
    shape; the module then carries their Jacobian kernel (``residuals`` and ``jacobian``).
    """
    template = optimizer.template() if optimizer is not None else None
    model = writers.model(program, dtype, names)
    variables = declaration.variables
    driver = DriverWriter(
        model, data_variables(variables), template, dtype, declaration.reduction,
        numbers=numbers,
    )  # fmt: skip
    body = Lines()
    model.write(body)
    body.blank(2)
    driver.write(body)
    helpers = model.helpers() | driver.helpers()
    constants = model.constants()
    blas = model.blas
    fields: dict[str, Any] = {"kernel": "_kernel", "chunk": str(model.chunk())}
    if outputs is not None:
        predictor = writers.predict(outputs, dtype)
        body.blank(2)
        predictor.write(body)
        helpers |= predictor.helpers()
        constants.update(predictor.constants())
        blas = blas or predictor.blas
        outputs_spec = ", ".join(f'("{o.name}", {o.shape})' for o in declaration.outputs)
        fields.update(predict="_predict", outputs=f"({outputs_spec},)",
                      predict_chunk=str(predictor.chunk()))  # fmt: skip
    if residuals is not None:
        body.blank(2)
        writer, extra = write_jacobian(body, residuals[0], dtype, writers, residuals[1])
        helpers |= writer.helpers()
        constants.update(writer.constants())
        blas = blas or writer.blas
        fields.update(extra)
    kernels = _with_helpers(body, helpers, constants)

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
        f"PARAMS = {_shapes(variables, 'params')}",
        f"INPUTS = {_shapes(variables, 'inputs')}",
        f"TARGETS = {_shapes(variables, 'targets')}",
        "OUTPUTS = {" + ", ".join(f'"{o.name}": {o.shape}' for o in declaration.outputs) + "}",
        f'REDUCTION = "{declaration.reduction}"',
        f"OPTIMIZER = {json.dumps(opt_text)}",
        "#: the optimizer's constants (as _kernel reads them), its state's initial values, form",
        f"HYPER = {hyper}",
    ]
    if template is not None:
        slots = ", ".join(f'"{sym.name}"' for sym, _ in template.rule.state)
        fields.update(can_fit="True", n_hyper=str(len(template.constants)), hyper="HYPER",
                      form=f'"{template.form}"', slots=f"({slots}{',' if slots else ''})")  # fmt: skip
    fields["blas"] = str(blas)
    tail = _spec_text(declaration, dtype, fields) + LEAST_SQUARES + "\n\n\n" + API
    written = summary_text(declaration.written)
    docstring = (
        f'Kernels of model "{declaration.name}" ({dtype}), trained by {opt_text}.\n\n'
        f"Per-sample loss: {written}\n"
        f"Reduced over a batch by its {declaration.reduction}.\n\n"
        f"{model.function} is the model: its forward pass and reverse sweep, named as the\n"
        "derivation (model.latex()) names them: u_{3} is u3, its adjoint u3_bar, z^{(1)}_{2}\n"
        "is z1_2. _kernel runs it for training and evaluation (symbp.emit.driver); the rest\n"
        "is the runtime shared by every generated module, symbp_runtime/ next to this file.\n"
    )
    return assemble(
        model=declaration.name,
        command=command,
        docstring=docstring,
        metadata=metadata,
        kernels=kernels,
        tail=tail,
    )
