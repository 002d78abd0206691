"""Sequences, convolutions and constant matrices written the natural way build at matrix
level (slices, blocks, constants, nn.scan), with gradients equal to central differences;
what cannot compile is refused at Model(), briefly, in well under two seconds."""

from __future__ import annotations

import time

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp import nn
from symbp.nodes.scan import scans_in
from symbp.testing import central_difference

T, D, H = 6, 3, 5


def gradient_matches(model: symbp.Model, seed: int = 0, n: int = 4, tol: float = 1e-7) -> None:
    """The compiled gradient of ``model`` equals central differences of its compiled loss."""
    trainer = model.compile(dtype="float64")
    rng = np.random.default_rng(seed)
    params = {v.name: 0.4 * rng.standard_normal(v.shape or ()) for v in model.declaration.params}
    data = {
        v.name: rng.standard_normal((n, *v.shape)) if v.shape else rng.standard_normal(n)
        for v in model.variables
        if v.role != "params"
    }
    grads = trainer.grad(params, data)
    expected = central_difference(lambda p: trainer.loss(p, data), params)
    for name, value in expected.items():
        np.testing.assert_allclose(grads[name], value, rtol=tol, atol=tol, err_msg=name)


def rnn_symbols(steps: int = T, hidden: int = H):
    X = sp.MatrixSymbol("X", steps, D)
    Wx, Wh = sp.MatrixSymbol("Wx", D, hidden), sp.MatrixSymbol("Wh", hidden, hidden)
    b, v = sp.MatrixSymbol("b", 1, hidden), sp.MatrixSymbol("v", hidden, 1)
    return X, Wx, Wh, b, v, sp.Symbol("y")


def rnn_loop_loss(steps: int = T, selector: bool = False, hidden: int = H) -> dict:
    """The Elman RNN as a Python loop over the rows of X (or selector rows e_t X): the
    arguments of its Model (SymPy's own operators build the loop in O(T^2))."""
    X, Wx, Wh, b, v, y = rnn_symbols(steps, hidden)
    h = sp.ZeroMatrix(1, hidden)
    for t in range(steps):
        selector_row = sp.ImmutableMatrix(1, steps, [int(j == t) for j in range(steps)])
        row = selector_row * X if selector else X[t, :]
        h = (row * Wx + h * Wh + b).applyfunc(sp.tanh)
    loss = ((h * v)[0, 0] - y) ** 2
    return {"loss": loss, "params": [Wx, Wh, b, v], "inputs": [X], "targets": [y]}


def rnn_loop(steps: int = T, level: str = "auto", **options) -> symbp.Model:
    return symbp.Model(**rnn_loop_loss(steps, **options), level=level)


def rnn_scan(steps: int = T, return_all: bool = False) -> symbp.Model:
    X, Wx, Wh, b, v, y = rnn_symbols(steps)
    h = nn.scan(lambda h, x: nn.tanh(x * Wx + h * Wh + b), sp.ZeroMatrix(1, H), X, return_all)
    if return_all:  # a loss on every step's output
        loss = ((sp.OneMatrix(1, steps) * (h * v))[0, 0] - y) ** 2
    else:
        loss = ((h * v)[0, 0] - y) ** 2
    return symbp.Model(loss, params=[Wx, Wh, b, v], inputs=[X], targets=[y], name="rnn")


def quickly(build, limit: float = 2.0):
    """``build()``'s result (or its exception), asserting it answered within ``limit`` s."""
    start = time.perf_counter()
    try:
        result = build()
    except Exception as error:
        result = error
    assert time.perf_counter() - start < limit
    return result


# -- slices, blocks, constants -------------------------------------------------------------
def test_a_loop_rnn_over_rows_stays_at_matrix_level_with_exact_gradients():
    model = rnn_loop()
    assert model.matrix
    gradient_matches(model)
    assert "MatrixSlice" not in model.module_source().text


def test_a_loop_recurrence_is_rolled_into_a_scan():
    written = rnn_loop(steps=10).pipeline.written
    (scan,) = scans_in(written)  # the loop's 9 steps after the first: one node
    assert scan.steps == 9 and not scan.return_all


def test_a_loop_with_a_loss_at_every_step_rolls_into_every_state():
    X, Wx, Wh, b, v, _ = rnn_symbols()
    Y = sp.MatrixSymbol("Y", T, 1)
    h, loss = sp.ZeroMatrix(1, H), sp.S.Zero
    for t in range(T):
        h = nn.tanh(X[t, :] * Wx + h * Wh + b)
        loss += ((h * v)[0, 0] - Y[t, 0]) ** 2
    model = symbp.Model(loss, params=[Wx, Wh, b, v], inputs=[X], targets=[Y], level="matrix")
    (scan,) = scans_in(model.pipeline.written)
    assert scan.return_all
    gradient_matches(model)


def test_a_two_state_recurrence_stays_unrolled_at_matrix_level():
    # an LSTM-like step reads two previous states: not one scan, still exact
    X, Wx, Wh, b, v, y = rnn_symbols(steps=4)
    h = c = sp.ZeroMatrix(1, H)
    for t in range(4):
        c = nn.tanh(X[t, :] * Wx + h * Wh) + sp.HadamardProduct(c, nn.sigmoid(h * Wh + b))
        h = nn.tanh(c)
    model = symbp.Model(
        ((h * v)[0, 0] - y) ** 2, params=[Wx, Wh, b, v], inputs=[X], targets=[y], level="matrix"
    )
    assert not scans_in(model.pipeline.written)
    gradient_matches(model)


def test_selector_rows_are_the_slices_they_pick():
    # e_t * X with explicit constant selector rows used to hang Model() (SymPy expanded)
    arguments = rnn_loop_loss(selector=True)
    model = quickly(lambda: symbp.Model(**arguments))
    assert isinstance(model, symbp.Model) and model.matrix
    plain = rnn_loop()
    assert model.pipeline.program.statements == plain.pipeline.program.statements


def conv1d(kind: str) -> symbp.Model:
    """Two channels of a 1-D convolution (K = 3 taps over a 1 x L input), concatenated."""
    L, K, C = 9, 3, 2
    M = L - K + 1
    x, Wc = sp.MatrixSymbol("x", 1, L), sp.MatrixSymbol("Wc", K, C)
    v, y = sp.MatrixSymbol("v", C * M, 1), sp.Symbol("y")

    def window(k: int) -> sp.MatrixExpr:
        if kind == "shift":  # x times the shift matrix that picks columns k..k+M-1
            return x * sp.ImmutableMatrix(L, M, lambda i, j: int(i == j + k))
        return x[:, k : k + M]

    channels = [nn.tanh(sp.MatAdd(*(Wc[k, c] * window(k) for k in range(K)))) for c in range(C)]
    features = sp.Matrix.hstack(*channels) if kind == "hstack" else sp.BlockMatrix([channels])
    loss = ((features * v)[0, 0] - y) ** 2
    return symbp.Model(
        loss, params=[Wc, v], inputs=[x], targets=[y], name=f"conv_{kind}", level="matrix"
    )


@pytest.mark.parametrize("kind", ["slice", "shift", "hstack"])
def test_a_convolution_from_slices_shifts_or_hstack_builds_at_matrix_level(kind):
    model = quickly(lambda: conv1d(kind))
    assert isinstance(model, symbp.Model) and model.matrix
    if kind == "slice":
        gradient_matches(model)
    else:  # the same program as the slices
        assert model.pipeline.program.statements == conv1d("slice").pipeline.program.statements


def test_slices_of_params_and_their_transposes_add_their_adjoints():
    x, W = sp.MatrixSymbol("x", 1, 4), sp.MatrixSymbol("W", 4, 6)
    y = sp.Symbol("y")
    left, right = W[:, :3], W[:, 3:]
    hidden = nn.tanh(x * left) * right[1:4, :].T  # 1x3 times 3x3
    loss = (hidden * sp.OneMatrix(3, 1))[0, 0] ** 2 - y * (x * W[:, 2:3])[0, 0]
    gradient_matches(symbp.Model(loss, params=[W], inputs=[x], targets=[y], level="matrix"))


def test_explicit_constant_matrices_stay_matrix_level_constants():
    n = 64
    x, W, y = sp.MatrixSymbol("x", 1, n), sp.MatrixSymbol("W", n, n), sp.Symbol("y")
    h = nn.tanh(x * W)
    # sp.ones used to push the model off the matrix level (refused at n = 64)
    ones = quickly(
        lambda: symbp.Model(
            ((h * sp.ones(n, 1))[0, 0] - y) ** 2, params=[W], inputs=[x], targets=[y]
        )
    )
    assert isinstance(ones, symbp.Model) and ones.matrix
    # a general constant (first differences) is an array of the module, not unrolled
    small = 5
    xs, Ws = sp.MatrixSymbol("x", 1, small), sp.MatrixSymbol("W", small, small)
    diff = sp.ImmutableMatrix(small, small - 1, lambda i, j: (i == j + 1) - (i == j))
    model = symbp.Model(
        ((nn.tanh(xs * Ws) * diff * sp.ones(small - 1, 1))[0, 0] - y) ** 2,
        params=[Ws],
        inputs=[xs],
        targets=[y],
        level="matrix",
    )
    text = model.module_source().text
    assert "# the model's constant matrices" in text and "np.array([[-1.0, 0.0" in text
    gradient_matches(model)


def test_least_squares_through_slices_and_a_constant_has_the_exact_jacobian():
    small, y = 5, sp.Symbol("y")
    x, W = sp.MatrixSymbol("x", 1, small), sp.MatrixSymbol("W", small, 2)
    diff = sp.ImmutableMatrix(small - 1, small, lambda i, j: (j == i + 1) - (j == i))
    h = nn.tanh(x[:, 1:] * diff * W)  # a slice of the input, a constant, a product
    model = symbp.Model(((h * sp.ones(2, 1))[0, 0] - y) ** 2, params=[W], inputs=[x],
                        targets=[y], level="matrix")  # fmt: skip
    trainer = model.compile()
    rng = np.random.default_rng(3)
    params = {"W": rng.normal(size=(small, 2))}
    data = {"x": rng.normal(size=(7, 1, small)), "y": rng.normal(size=7)}
    jac = trainer.jacobian(params, data)  # (samples, parameter elements)
    assert jac.shape == (7, small * 2)
    step = 1e-6
    for k in range(small * 2):
        up, down = params["W"].copy(), params["W"].copy()
        up.flat[k] += step
        down.flat[k] -= step
        difference = trainer.residuals({"W": up}, data) - trainer.residuals({"W": down}, data)
        np.testing.assert_allclose(jac[:, k], difference / (2 * step), rtol=1e-6, atol=1e-8)
    assert "np.array([[-1.0, 1.0" in model.pipeline.residual_source("float64").text


def test_a_stepped_slice_whose_shape_sympy_gets_wrong_is_refused_at_every_level():
    X, w = sp.MatrixSymbol("X", 1, 5), sp.Symbol("w")
    wrong = X[:, ::2]  # columns 0, 2, 4; SymPy says 1 x 2
    for level in ("auto", "scalar", "matrix"):
        message = refusal(
            lambda level=level: symbp.Model(
                ((wrong * sp.OneMatrix(2, 1))[0, 0] * w) ** 2,
                params=[w],
                inputs=[X],
                level=level,
            )
        )
        assert "picks 3 columns" in message and "gives it 2" in message
    right = X[:, 1::2]  # columns 1, 3: SymPy agrees
    model = symbp.Model(((right * sp.OneMatrix(2, 1))[0, 0] * w) ** 2, params=[w], inputs=[X])
    assert model.compile().loss({"w": 1.0}, {"X": np.ones((2, 1, 5))}) == 4.0


def test_python_int_shapes_behave_as_integers():
    h = sp.MatrixSymbol("h", 1, 3)
    product = h * sp.ones(3, 1)  # a shape holding Python ints
    assert type(product[0, 0]).__name__ == "Element"  # lazy, like (h * OneMatrix)[0, 0]


# -- recurrences ---------------------------------------------------------------------------
def test_scan_gradients_equal_the_loop_and_central_differences():
    scan, loop = rnn_scan(), rnn_loop()
    gradient_matches(scan)
    rng = np.random.default_rng(3)
    params = {v.name: 0.4 * rng.standard_normal(v.shape) for v in scan.declaration.params}
    data = {"X": rng.standard_normal((5, T, D)), "y": rng.standard_normal(5)}
    a, b = scan.compile().grad(params, data), loop.compile().grad(params, data)
    for name in params:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-12, atol=1e-13)


def numpy_rnn_loss(params: dict, X: np.ndarray, y: np.ndarray) -> float:
    h = np.zeros((X.shape[0], H))
    for t in range(X.shape[1]):
        h = np.tanh(X[:, t] @ params["Wx"] + h @ params["Wh"] + params["b"])
    return float(np.mean(((h @ params["v"])[:, 0] - y) ** 2))


@pytest.mark.parametrize("n", [1, 7, 8, 9, 33])
def test_scan_loss_is_the_recurrence_for_any_batch(n):
    # the loss reads the last state only after the loop has written it (a fusion bug
    # once moved the read before the loop: garbage that varied from run to run)
    model = rnn_scan(steps=12)
    rng = np.random.default_rng(n)
    params = {v.name: 0.4 * rng.standard_normal(v.shape) for v in model.declaration.params}
    X, y = rng.standard_normal((n, 12, D)), rng.standard_normal(n)
    trainer = model.compile()
    assert trainer.loss(params, {"X": X, "y": y}) == pytest.approx(
        numpy_rnn_loss(params, X, y), rel=1e-12
    )


def test_scan_over_every_state_and_over_a_computed_sequence():
    gradient_matches(rnn_scan(return_all=True))
    X, Wx, Wh, b, v, y = rnn_symbols()
    h0 = sp.MatrixSymbol("h0", 1, H)  # a learned initial state
    projected = X * Wx  # the sequence is a product of a param: it gets a cotangent
    h = nn.scan(lambda h, p: nn.tanh(p + h * Wh + b), h0, projected)
    loss = ((h * v)[0, 0] - y) ** 2
    gradient_matches(symbp.Model(loss, params=[Wx, Wh, b, v, h0], inputs=[X], targets=[y]))


def test_a_scan_over_parameters_only_is_shared_by_the_batch():
    # the recurrence reads no data (a learnt sequence P from a learnt h0): one copy of it
    P, h0 = sp.MatrixSymbol("P", T, D), sp.MatrixSymbol("h0", 1, H)
    Wx, Wh = sp.MatrixSymbol("Wx", D, H), sp.MatrixSymbol("Wh", H, H)
    x, y = sp.MatrixSymbol("x", 1, H), sp.Symbol("y")
    h = nn.scan(lambda h, p: nn.tanh(p * Wx + h * Wh), h0, P)
    loss = ((h * x.T)[0, 0] - y) ** 2
    gradient_matches(symbp.Model(loss, params=[P, h0, Wx, Wh], inputs=[x], targets=[y]))


def test_scan_matches_torch_rnn():
    torch = pytest.importorskip("torch")
    model = rnn_scan()
    rng = np.random.default_rng(7)
    params = {v.name: 0.4 * rng.standard_normal(v.shape) for v in model.declaration.params}
    X, y = rng.standard_normal((8, T, D)), rng.standard_normal(8)
    grads = model.compile().grad(params, {"X": X, "y": y})

    rnn = torch.nn.RNN(D, H, batch_first=True, bias=True).double()
    with torch.no_grad():  # h_t = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)
        rnn.weight_ih_l0.copy_(torch.tensor(params["Wx"].T))
        rnn.weight_hh_l0.copy_(torch.tensor(params["Wh"].T))
        rnn.bias_ih_l0.copy_(torch.tensor(params["b"][0]))
        rnn.bias_hh_l0.zero_()
    v = torch.tensor(params["v"], requires_grad=True)
    _, last = rnn(torch.tensor(X))
    loss = (((last[0] @ v)[:, 0] - torch.tensor(y)) ** 2).mean()
    loss.backward()
    expected = {
        "Wx": rnn.weight_ih_l0.grad.numpy().T,
        "Wh": rnn.weight_hh_l0.grad.numpy().T,
        "b": rnn.bias_ih_l0.grad.numpy()[None, :],
        "v": v.grad.numpy(),
    }
    for name, value in expected.items():
        np.testing.assert_allclose(grads[name], value, rtol=1e-10, atol=1e-12, err_msg=name)


def test_a_scan_kernel_does_not_grow_with_the_sequence():
    short, long = rnn_scan(steps=10), rnn_scan(steps=400)
    texts = [m.module_source().text for m in (short, long)]
    bodies = [t[t.index("def loss_and_grad") : t.index("def _kernel")] for t in texts]
    assert len(bodies[0].splitlines()) == len(bodies[1].splitlines())  # only numbers differ
    assert "for _t in range(400):" in bodies[1]
    assert len(long.pipeline.program.statements) == len(short.pipeline.program.statements)


def test_scan_latex_prints_backpropagation_through_time():
    tex = rnn_scan().latex()
    assert r"z_{t} &= h_{t-1} \mathrm{Wh} + x_t \mathrm{Wx} + b" in tex
    assert r"\bar{z}_{t} &= \bar{h}_{t} \odot \left(1 - h_{t}^{\odot 2}\right)" in tex
    assert r"\bar{h}_{t-1} &= \bar{z}_{t} \mathrm{Wh}^{\top}" in tex
    assert r"\bar{\mathrm{Wh}} &= \sum_{t=1}^{6} h_{t-1}^{\top} \bar{z}_{t}" in tex


def test_slices_and_blocks_print_as_slices_and_blocks():
    tex = conv1d("slice").latex()
    assert r"x_{:,2{:}8}" in tex and r"\begin{bmatrix}" in tex


def test_a_scan_trains_and_predicts():
    X, Wx, Wh, b, v, y = rnn_symbols()
    h = nn.scan(lambda h, x: nn.tanh(x * Wx + h * Wh + b), sp.ZeroMatrix(1, H), X)
    out = (h * v)[0, 0]
    model = symbp.Model(
        (out - y) ** 2, params=[Wx, Wh, b, v], inputs=[X], targets=[y], outputs={"y_hat": out}
    )
    rng = np.random.default_rng(0)
    data = {"X": rng.standard_normal((64, T, D))}
    data["y"] = np.tanh(data["X"].sum(axis=(1, 2)) / 4)  # learnable from the sequence
    params = {p.name: 0.3 * rng.standard_normal(p.shape) for p in model.declaration.params}
    trainer = model.compile(optimizer=symbp.optim.Adam(lr=0.02))
    fit = trainer.fit(params, data, epochs=40, batch_size=16)
    assert fit.losses[-1] < 0.5 * fit.losses[0]
    predicted = trainer.predict(fit.params, {"X": data["X"]})["y_hat"]
    residual = predicted - data["y"]
    assert np.isclose(np.mean(residual**2), trainer.loss(fit.params, data), rtol=1e-10)


# -- refusals: early, brief, fast -----------------------------------------------------------
def refusal(build) -> str:
    error = quickly(build)
    assert isinstance(error, symbp.DeclarationError | symbp.UnsupportedFunction), error
    message = str(error)
    assert len(message) <= 400, message
    return message


def test_the_loop_rnn_at_scalar_level_is_refused_fast_with_the_way_out():
    # unrolling used to take 0.1 / 0.3 / 1.0 / 6.9 s for 1..4 steps, and never ended for 10
    arguments = rnn_loop_loss(steps=10, hidden=8)
    message = refusal(lambda: symbp.Model(**arguments, level="scalar"))
    assert "straight-line steps" in message and "level='matrix'" in message
    arguments = rnn_loop_loss(steps=40, hidden=8)
    message = refusal(lambda: symbp.Model(**arguments, level="scalar"))
    assert "about" in message and "scalar operations" in message and "level='matrix'" in message
    assert rnn_loop(steps=2, level="scalar").declaration.level == "scalar"  # small: unrolled


def test_scan_refuses_what_it_cannot_run():
    X, Wx, Wh, _, v, y = rnn_symbols()
    assert "1 x 5" in str(quickly(lambda: nn.scan(lambda h, x: x, sp.ZeroMatrix(1, H), X)))
    assert "same length" in str(
        quickly(
            lambda: nn.scan(lambda h, x, z: h, sp.ZeroMatrix(1, H), (X, sp.MatrixSymbol("Z", 2, 1)))
        )
    )
    h = nn.scan(lambda h, x: nn.tanh(x * Wx + h * Wh), sp.ZeroMatrix(1, H), X)
    loss = ((h * v)[0, 0] - y) ** 2
    message = refusal(
        lambda: symbp.Model(loss, params=[Wx, Wh, v], inputs=[X], targets=[y], level="scalar")
    )
    assert "matrix level" in message
    trainer = symbp.Model(loss, params=[Wx, Wh, v], inputs=[X], targets=[y]).compile()
    with pytest.raises(symbp.MissingVJPRule, match="L-BFGS-B"):
        trainer.hessian_module  # noqa: B018
    # a sum of squares through a scan: no per-sample Jacobian, so no least squares
    params = {"Wx": np.zeros((D, H)), "Wh": np.zeros((H, H)), "v": np.zeros((H, 1))}
    data = {"X": np.zeros((3, T, D)), "y": np.zeros(3)}
    with pytest.raises(symbp.MissingVJPRule, match=r"nn\.scan"):
        trainer.least_squares(params, data)


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda x, W: (x * W.I * sp.OneMatrix(4, 1))[0, 0], "inverse"),
        (
            lambda x, W: (sp.OneMatrix(1, 16) * sp.kronecker_product(W, W) * sp.OneMatrix(16, 1))[
                0, 0
            ],
            "BlockMatrix",
        ),
        (lambda x, W: (x * W * sp.Matrix([sp.Symbol("a"), 1, 1, 1]))[0, 0], "MatrixSymbol"),
        (
            lambda x, W: (
                nn.tanh(x * W).applyfunc(lambda u: sp.besselj(1, u)) * sp.OneMatrix(4, 1)
            )[0, 0],
            "supported_functions",
        ),
    ],
)
def test_what_cannot_compile_is_refused_at_model_naming_the_way_out(build, words):
    x, W = sp.MatrixSymbol("x", 1, 4), sp.MatrixSymbol("W", 4, 4)
    params = [W, sp.Symbol("a")] if "MatrixSymbol" in words else [W]
    message = refusal(lambda: symbp.Model(build(x, W), params=params, inputs=[x], level="matrix"))
    assert words in message


def test_indexed_base_is_refused_with_the_matrix_symbol_alternative():
    V = sp.IndexedBase("V")
    message = refusal(lambda: symbp.Model(V[0] ** 2, params=[V]))
    assert "sp.MatrixSymbol('V', rows, cols)" in message and "V[i, j]" in message


def test_messages_print_shapes_not_whole_matrices():
    x, y = sp.MatrixSymbol("x", 1, 60), sp.Symbol("y")
    big = sp.ImmutableMatrix(60, 60, lambda i, j: sp.Symbol("a") if i == j else 0)
    message = refusal(
        lambda: symbp.Model(
            ((x * big) * sp.OneMatrix(60, 1))[0, 0] - y,
            params=[sp.Symbol("a")],
            inputs=[x],
            targets=[y],
            level="matrix",
        )
    )
    assert "60x60 Matrix" in message
