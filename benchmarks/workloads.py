"""The benchmark workloads: data, initial parameters, optimizer and batch schedule.

Every workload is defined here ONCE (pure NumPy, plus scikit-learn's bundled
``load_digits`` for the MLPs) and every contestant builds its model from the
:class:`Workload` returned by :func:`get`.  The full-data loss and the test
accuracy of a contestant's final parameters are computed by :func:`evaluate`,
the same NumPy code for every contestant, in float64.

Workloads
---------
W0           one scalar parameter w=5, loss (w+1)^2, SGD lr 0.2, 40 steps
W1-sgd       2-3-1 linear network, batches of 8 (cyclic), 3000 steps, SGD lr 1e-3
W1-momentum  same, SGD with momentum 0.9 (PyTorch convention), lr 1e-3
W1-adam      same, Adam lr 1e-3 (betas 0.9/0.999, eps 1e-8)
W2           linear regression y = 3x + 0.8 on 50 points, full batch, 3000 steps SGD lr 0.01
W3           2-2-2 sigmoid network, one sample, 10,000 SGD steps lr 0.5
W4           digits MLP 64-32-10 (tanh, softmax CE), batches of 32, 20 epochs SGD lr 0.1
W5-128       digits MLP 64-128-10, 5 epochs
W5-512       digits MLP 64-512-10, 5 epochs
W6           Elman RNN (tanh, H = 32) on the adding problem, T = 50, batches of 32
             (cyclic), 256 steps Adam lr 1e-3: see below

Conventions shared by all contestants
-------------------------------------
* ``params`` is an ordered dict name -> ndarray (the initial values, already in
  the workload's dtype).  Contestants must not modify these arrays.
* ``data`` is an ordered dict name -> ndarray of training data (first axis =
  samples), ``None`` for W0.  ``test`` likewise for the MLPs.
* ``batches`` is an int array of shape (steps, 2): step i uses the rows
  ``[batches[i, 0], batches[i, 1])`` of every data array.  Each step's loss is
  the *mean* of the per-sample losses of its batch (W3: the sum over outputs
  divided by 2 for its one sample).
* optimizers follow PyTorch's update rules (``torch.optim.SGD`` with and without
  momentum, ``torch.optim.Adam``).

W6, the RNN: the adding problem (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton
2015): each sequence has T = 50 steps of D = 2 inputs, a value drawn uniformly from
[0, 1) and a marker that is 1 at two steps (one in each half of the sequence) and 0
elsewhere; the target is the sum of the two marked values.  1024 sequences from
``RandomState(6)``, stored as ``x`` (n, T, D) and ``y`` (n, 1).  The model reads the
sequence and regresses from its last state::

    h_0 = 0,   h_t = tanh(x_t Wx + h_{t-1} Wh + b)   (t = 1..T),   y_hat = h_T Wy + by

with Wx (D, H), Wh (H, H), b (H,), Wy (H, 1), by (1,) and H = 32; the per-sample loss
is ``(y_hat - y)^2``, its batch mean minimised by Adam (lr 1e-3, betas 0.9/0.999, eps
1e-8) for 256 steps on batches of 32 taken cyclically (8 epochs).  Initial weights
from ``RandomState(0)``, drawn in the order Wx, Wh, Wy, each uniform in
[-1/sqrt(H), 1/sqrt(H)) (the range PyTorch's ``nn.RNN`` and ``nn.Linear`` draw their
weights from), zero biases.  A network that ignores its input reaches a mean squared error of about 1/6
(predicting the mean, 1); the 256 steps take the loss from ~1.2 to about there.
PyTorch's ``nn.RNN`` has two biases (``b_ih + b_hh``): its contestant sets ``b_ih = b``
and keeps ``b_hh`` at zero, frozen.

MLP initialisation convention (checked: ``python -m benchmarks.workloads --check-init``
trains W4 under this and three other conventions; only this one gives the
expected 89.23% = 265/297 test accuracy in float64 and float32):
``rng = numpy.random.RandomState(0)``, then W1 = rng.normal(size=(64, H)) * 0.1,
b1 = zeros(H), W2 = rng.normal(size=(H, 10)) * 0.1, b2 = zeros(10), drawn in
this order, used as ``h = tanh(x @ W1 + b1)``, ``z = h @ W2 + b2``.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

import numpy as np

DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class Optimizer:
    """PyTorch-convention optimizer settings."""

    name: str  # "sgd" | "momentum" | "adam"
    lr: float
    momentum: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8


@dataclass
class Workload:
    name: str
    family: str
    kind: str  # "scalar" | "linear_net" | "linreg" | "sigmoid_net" | "mlp" | "rnn"
    description: str
    dtype: str
    params: dict
    data: dict | None
    test: dict | None
    optimizer: Optimizer
    batches: np.ndarray  # (steps, 2) int64 row ranges; zeros for W0
    epochs: int | None = None
    hidden: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return int(self.batches.shape[0])

    @property
    def n_train(self) -> int:
        if self.data is None:
            return 0
        return int(next(iter(self.data.values())).shape[0])

    @property
    def batch_size(self) -> int | None:
        """The nominal batch size (rows of the first batch); None for W0."""
        if self.data is None:
            return None
        return int(self.batches[0, 1] - self.batches[0, 0])

    @property
    def full_batch(self) -> bool:
        return self.data is not None and bool(
            np.all(self.batches[:, 0] == 0) and np.all(self.batches[:, 1] == self.n_train)
        )

    def fresh_params(self) -> dict:
        """Copies of the initial parameters (safe to update in place)."""
        return {k: v.copy() for k, v in self.params.items()}

    def batch_list(self, names=None) -> list:
        """Per step, a tuple of batch views (no copies) of the data arrays ``names``."""
        names = list(self.data) if names is None else list(names)
        cache = {}
        out = []
        for lo, hi in self.batches:
            key = (int(lo), int(hi))
            if key not in cache:
                cache[key] = tuple(self.data[n][lo:hi] for n in names)
            out.append(cache[key])
        return out


# --------------------------------------------------------------------------------------
# workload constructors (float64 master copies, cast at the end)
# --------------------------------------------------------------------------------------


def _w0():
    params = {"w": np.array(5.0)}
    return dict(
        family="W0",
        kind="scalar",
        description="scalar (w+1)^2, SGD lr 0.2, 40 steps",
        params=params,
        data=None,
        test=None,
        optimizer=Optimizer("sgd", 0.2),
        batches=np.zeros((40, 2), dtype=np.int64),
    )


def _w1(variant: str):
    rs = np.random.RandomState(23455)
    X = rs.rand(32, 2)
    Y = (X[:, 0] + X[:, 1] < 1).astype(np.float64).reshape(32, 1)
    W1 = np.array([[-0.8113182, 1.4845988, 0.06532937], [-2.4427042, 0.0992484, 0.5912243]])
    W2 = np.array([[-0.8113182], [1.4845988], [0.06532937]])
    steps, bs = 3000, 8
    lo = (np.arange(steps) * bs) % 32
    batches = np.stack([lo, lo + bs], axis=1).astype(np.int64)
    opt = {
        "sgd": Optimizer("sgd", 1e-3),
        "momentum": Optimizer("momentum", 1e-3, momentum=0.9),
        "adam": Optimizer("adam", 1e-3),
    }[variant]
    return dict(
        family="W1",
        kind="linear_net",
        description=f"2-3-1 linear net, batch 8 cyclic, 3000 steps, {variant} lr 1e-3",
        params={"W1": W1, "W2": W2},
        data={"x": X, "y": Y},
        test=None,
        optimizer=opt,
        batches=batches,
    )


def _w2():
    rng = np.random.default_rng(2)
    x = rng.random(50)
    y = 3 * x + 0.8
    w, b = rng.random(2)
    steps = 3000
    batches = np.tile(np.array([[0, 50]], dtype=np.int64), (steps, 1))
    return dict(
        family="W2",
        kind="linreg",
        description="linear regression, 50 pts full batch, 3000 steps SGD lr 0.01",
        params={"w": np.array(w), "b": np.array(b)},
        data={"x": x, "y": y},
        test=None,
        optimizer=Optimizer("sgd", 0.01),
        batches=batches,
    )


def _w3():
    params = {
        "W1": np.array([[0.15, 0.20], [0.25, 0.30]]),
        "b1": np.array([0.35, 0.35]),
        "W2": np.array([[0.40, 0.45], [0.50, 0.55]]),
        "b2": np.array([0.60, 0.60]),
    }
    data = {"x": np.array([[0.05, 0.10]]), "t": np.array([[0.01, 0.99]])}
    steps = 10_000
    batches = np.tile(np.array([[0, 1]], dtype=np.int64), (steps, 1))
    return dict(
        family="W3",
        kind="sigmoid_net",
        description="2-2-2 sigmoid net, 1 sample, loss sum((o-t)^2)/2, 10k steps SGD lr 0.5",
        params=params,
        data=data,
        test=None,
        optimizer=Optimizer("sgd", 0.5),
        batches=batches,
    )


DIGITS_CACHE_ENV = "SYMBP_BENCH_DIGITS_NPZ"


@functools.lru_cache(maxsize=1)
def _digits():
    """scikit-learn's bundled digits, X / 16 (float64) and labels (int64).

    ``benchmarks/run.py`` loads them once and hands every contestant subprocess
    an ``.npz`` copy through ``$SYMBP_BENCH_DIGITS_NPZ`` (saves importing
    scikit-learn in each subprocess); the arrays are the same."""
    path = os.environ.get(DIGITS_CACHE_ENV)
    if path and os.path.exists(path):
        with np.load(path) as z:
            return z["X"], z["y"]
    from sklearn.datasets import load_digits

    d = load_digits()
    X = d.data.astype(np.float64) / 16.0
    y = d.target.astype(np.int64)
    return X, y


def save_digits_cache(path) -> None:
    X, y = _digits()
    np.savez(path, X=X, y=y)


def mlp_init(hidden: int, convention: str = "W1,W2 normal (in,out)") -> dict:
    """The MLP initial parameters.  Only the default convention is used by the
    benchmark; the others exist to document the check of the 89.23% figure
    (``randn`` draws the same stream as ``normal`` and gives identical values)."""
    rng = np.random.RandomState(0)
    if convention == "W1,W2 normal (in,out)":
        W1 = rng.normal(size=(64, hidden)) * 0.1
        W2 = rng.normal(size=(hidden, 10)) * 0.1
    elif convention == "W1,W2 normal (out,in) transposed":
        W1 = (rng.normal(size=(hidden, 64)) * 0.1).T.copy()
        W2 = (rng.normal(size=(10, hidden)) * 0.1).T.copy()
    elif convention == "W2 drawn first":
        W2 = rng.normal(size=(hidden, 10)) * 0.1
        W1 = rng.normal(size=(64, hidden)) * 0.1
    elif convention == "randn (in,out)":
        W1 = rng.randn(64, hidden) * 0.1
        W2 = rng.randn(hidden, 10) * 0.1
    else:
        raise ValueError(convention)
    return {"W1": W1, "b1": np.zeros(hidden), "W2": W2, "b2": np.zeros(10)}


def _mlp(hidden: int, epochs: int, family: str):
    X, y = _digits()
    n_train = 1500
    Xtr, ytr, Xte, yte = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    eye = np.eye(10)
    bs = 32
    starts = np.arange(0, n_train, bs)
    ends = np.minimum(starts + bs, n_train)
    epoch = np.stack([starts, ends], axis=1)
    batches = np.tile(epoch, (epochs, 1)).astype(np.int64)
    return dict(
        family=family,
        kind="mlp",
        description=f"digits MLP 64-{hidden}-10 tanh/softmax-CE, batch 32, {epochs} epochs SGD lr 0.1",
        params=mlp_init(hidden),
        data={"x": Xtr, "t": eye[ytr], "labels": ytr},
        test={"x": Xte, "t": eye[yte], "labels": yte},
        optimizer=Optimizer("sgd", 0.1),
        batches=batches,
        epochs=epochs,
        hidden=hidden,
        extra={"steps_per_epoch": len(epoch)},
    )


RNN_STEPS, RNN_HIDDEN, RNN_BATCH = 50, 32, 32


def adding_problem(n: int, steps: int = RNN_STEPS, seed: int = 6) -> tuple:
    """``n`` sequences of the adding problem: ``x`` (n, steps, 2) and ``y`` (n, 1).

    Channel 0 holds values uniform in [0, 1), channel 1 marks one step of each half
    of the sequence; ``y`` is the sum of the two marked values."""
    rs = np.random.RandomState(seed)
    values = rs.rand(n, steps)
    first = rs.randint(0, steps // 2, size=n)
    second = rs.randint(steps // 2, steps, size=n)
    markers = np.zeros((n, steps))
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=2)
    y = (values[rows, first] + values[rows, second]).reshape(n, 1)
    return x, y


def rnn_init(inputs: int, hidden: int, seed: int = 0) -> dict:
    """Wx, Wh, Wy uniform in [-1/sqrt(H), 1/sqrt(H)) (drawn in that order), zero biases."""
    rs = np.random.RandomState(seed)
    k = 1.0 / np.sqrt(hidden)
    return {
        "Wx": rs.uniform(-k, k, size=(inputs, hidden)),
        "Wh": rs.uniform(-k, k, size=(hidden, hidden)),
        "b": np.zeros(hidden),
        "Wy": rs.uniform(-k, k, size=(hidden, 1)),
        "by": np.zeros(1),
    }


def _w6():
    n, steps, bs = 1024, 256, RNN_BATCH
    x, y = adding_problem(n)
    lo = (np.arange(steps) * bs) % n
    return dict(
        family="W6",
        kind="rnn",
        description=(
            f"Elman RNN 2-{RNN_HIDDEN}-1 (tanh) on the adding problem, T={RNN_STEPS}, "
            f"batch {bs} cyclic, {steps} steps Adam lr 1e-3"
        ),
        params=rnn_init(x.shape[2], RNN_HIDDEN),
        data={"x": x, "y": y},
        test=None,
        optimizer=Optimizer("adam", 1e-3),
        batches=np.stack([lo, lo + bs], axis=1).astype(np.int64),
        hidden=RNN_HIDDEN,
        extra={"seq_len": RNN_STEPS},
    )


_BUILDERS = {
    "W0": _w0,
    "W1-sgd": lambda: _w1("sgd"),
    "W1-momentum": lambda: _w1("momentum"),
    "W1-adam": lambda: _w1("adam"),
    "W2": _w2,
    "W3": _w3,
    "W4": lambda: _mlp(32, 20, "W4"),
    "W5-128": lambda: _mlp(128, 5, "W5"),
    "W5-512": lambda: _mlp(512, 5, "W5"),
    "W6": _w6,
}

NAMES = tuple(_BUILDERS)


def expand(selection: str | None) -> list:
    """Expand a comma-separated selection; a family name (``W1``, ``W5``) selects
    all its variants."""
    if not selection:
        return list(NAMES)
    out = []
    for item in selection.split(","):
        item = item.strip()
        if not item:
            continue
        hits = [n for n in NAMES if n == item or n.split("-")[0] == item]
        if not hits:
            raise KeyError(f"unknown workload {item!r}; known: {', '.join(NAMES)}")
        out += [h for h in hits if h not in out]
    return out


def _cast(d, dtype):
    if d is None:
        return None
    return {
        k: (v.astype(dtype) if np.issubdtype(v.dtype, np.floating) else v.copy())
        for k, v in d.items()
    }


def get(name: str, dtype: str = "float64", mlp_convention: str | None = None) -> Workload:
    """The workload ``name`` in ``dtype``.  ``mlp_convention`` (MLPs only) swaps in
    another initialisation convention; it exists for the 89.23% check only."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}")
    spec = _BUILDERS[name]()
    if mlp_convention is not None:
        spec["params"] = mlp_init(spec["hidden"], mlp_convention)
    spec["params"] = _cast(spec["params"], dtype)
    spec["data"] = _cast(spec["data"], dtype)
    spec["test"] = _cast(spec["test"], dtype)
    for d in (spec["params"], spec["data"], spec["test"]):
        for v in (d or {}).values():
            v.setflags(write=False)
    return Workload(name=name, dtype=dtype, **spec)


# --------------------------------------------------------------------------------------
# evaluation: full-data loss (float64) and test accuracy
# --------------------------------------------------------------------------------------


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def loss64(wl: Workload, params: dict, data: dict | None = None) -> float:
    """Full-data loss of ``params`` in float64 (``data`` defaults to the training data)."""
    p = {k: np.asarray(params[k], dtype=np.float64).reshape(wl.params[k].shape) for k in wl.params}
    d = wl.data if data is None else data
    if wl.kind == "scalar":
        return float((p["w"] + 1.0) ** 2)
    d = {k: (np.asarray(v, dtype=np.float64) if k != "labels" else v) for k, v in d.items()}
    if wl.kind == "linear_net":
        r = d["x"] @ p["W1"] @ p["W2"] - d["y"]
        return float(np.mean(r**2))
    if wl.kind == "linreg":
        r = p["w"] * d["x"] + p["b"] - d["y"]
        return float(np.mean(r**2))
    if wl.kind == "sigmoid_net":
        h = _sigmoid(d["x"] @ p["W1"].T + p["b1"])
        o = _sigmoid(h @ p["W2"].T + p["b2"])
        return float(np.mean(np.sum((o - d["t"]) ** 2, axis=1) / 2))
    if wl.kind == "rnn":
        r = rnn_forward(p, d["x"]) - d["y"]
        return float(np.mean(r**2))
    if wl.kind == "mlp":
        z = _mlp_logits(p, d["x"])
        m = z.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
        return float(np.mean(lse - np.sum(z * d["t"], axis=1)))
    raise ValueError(wl.kind)


def rnn_forward(p: dict, x: np.ndarray) -> np.ndarray:
    """``y_hat`` (n, 1) of the RNN for sequences ``x`` (n, T, D): the last state's head."""
    h = np.zeros((x.shape[0], p["Wh"].shape[0]), dtype=x.dtype)
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ p["Wx"] + h @ p["Wh"] + p["b"])
    return h @ p["Wy"] + p["by"]


def _mlp_logits(p, x):
    return np.tanh(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]


def accuracy(wl: Workload, params: dict) -> float | None:
    """Test accuracy (fraction) for the MLP workloads, else None."""
    if wl.kind != "mlp":
        return None
    p = {k: np.asarray(params[k], dtype=np.float64).reshape(wl.params[k].shape) for k in wl.params}
    z = _mlp_logits(p, np.asarray(wl.test["x"], dtype=np.float64))
    return float(np.mean(np.argmax(z, axis=1) == wl.test["labels"]))


def evaluate(wl: Workload, params: dict) -> tuple:
    """(final full-data training loss, test accuracy or None)."""
    return loss64(wl, params), accuracy(wl, params)


INIT_CONVENTIONS = (
    "W1,W2 normal (in,out)",
    "W1,W2 normal (out,in) transposed",
    "W2 drawn first",
    "randn (in,out)",
)


def check_init_conventions(name: str = "W4") -> None:
    """Train the MLP with the numpy contestant under each initialisation
    convention and print the test accuracy (the benchmark uses the first)."""
    from benchmarks.contestants import numpy as reference

    for conv in INIT_CONVENTIONS:
        for dtype in DTYPES:
            wl = get(name, dtype, mlp_convention=conv)
            loss, acc = evaluate(wl, reference.build(wl)())
            n_test = len(wl.test["labels"])
            print(
                f"{name} {conv:34s} {dtype}: final loss {loss:.8f}, test accuracy "
                f"{100 * acc:.2f}% ({round(acc * n_test)}/{n_test})"
            )


if __name__ == "__main__":  # pragma: no cover - a quick look at the definitions
    import sys

    if "--check-init" in sys.argv:
        check_init_conventions()
    else:
        for n in NAMES:
            w = get(n)
            print(
                f"{n:12s} {w.kind:12s} steps={w.steps:6d} batch={w.batch_size} "
                f"init loss={loss64(w, w.params):.6g}  {w.description}"
            )
