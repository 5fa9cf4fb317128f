"""The five workloads W1-W5 as plain data, shared by every implementation.

Everything here is NumPy only (no jax, no torch), so every implementation starts from the
same bytes: the same initial parameters, the same data and -- for the shuffled workloads --
the same permutation of the training set in every epoch.

Parameters are a list of ``(W, b)`` pairs in jaxbp's layout, ``W: (n_in, n_out)``,
``b: (n_out,)``, ``z = a @ W + b``; W2 adds a leading run axis to every array.
Initial weights are ``N(0, 1/n_in)`` and biases ``N(0, 1)`` (jaxbp's default for sigmoid
nets), drawn with ``numpy.random.default_rng(seed)`` layer by layer.

``evaluate`` computes every reported result from final parameters in float64 NumPy, so the
implementations are compared on what they learned, not on how they report it.
"""
import dataclasses
from typing import Optional, Tuple

import numpy as np

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
XOR_Y = np.array([[0], [1], [1], [0]], np.float32)

# Mazur's "A Step by Step Backpropagation Example" (jaxbp.examples.mazur(), as published).
MAZUR = dict(W1=[[.15, .25], [.20, .30]], b1=[.35, .35], W2=[[.40, .50], [.45, .55]],
             b2=[.60, .60], x=[[.05, .10]], y=[[.01, .99]], lr=0.5)
# Its error after 10,000 full updates (jaxbp.examples docstring; the method as described,
# not the sequential variant behind the post's printed 0.0000351085).
MAZUR_ERROR_10K = 3.5101877e-05

# The workloads timed on every path a user takes (jaxbp with a number and with optax.sgd in
# the user's jit, the plain JAX peers): the sweep and the throughput workload.
USER_PATHS = ("W2", "W5")


@dataclasses.dataclass(frozen=True)
class Workload:
    """One benchmark problem. ``steps`` are optimizer updates per timed run; for the
    shuffled workloads (``batch`` set) they are ``epochs * (n_train // batch)``."""
    wid: str
    title: str
    sizes: Tuple[int, ...]
    output: str          # output activation: "sigmoid" or "softmax"
    cost: str            # "quadratic" or "softmax_cross_entropy"
    lr: float
    dtype: str
    steps: int
    runs: int = 1        # independent initialisations trained at once (W2)
    batch: Optional[int] = None
    epochs: Optional[int] = None
    seed: int = 0
    frozen_biases: bool = False
    n: Optional[int] = None   # training samples (default: the whole set)

    def replace(self, **kw):
        return dataclasses.replace(self, **kw)

    @property
    def per_epoch(self):
        return n_train(self) // self.batch if self.batch else 1


def n_train(w):
    return w.n or {"W1": 4, "W2": 4, "W3": 1, "W4": 1500, "W5": 60000}[w.wid]


def specs(quick=False, smoke=False):
    """The workloads at full size, ``--quick`` size, or the CI ``--smoke`` size."""
    full = {
        "W1": Workload("W1", "XOR, 2-2-1 sigmoid, quadratic, full batch, lr 0.5, float32",
                       (2, 2, 1), "sigmoid", "quadratic", 0.5, "float32", 10_000),
        "W2": Workload("W2", "1,024 random inits of W1's net, 5,000 steps each (a sweep)",
                       (2, 2, 1), "sigmoid", "quadratic", 0.5, "float32", 5_000, runs=1024,
                       seed=1),
        "W3": Workload("W3", "Mazur's step-by-step 2-2-2 example, 10,000 steps, float64",
                       (2, 2, 2), "sigmoid", "quadratic", 0.5, "float64", 10_000,
                       frozen_biases=True),
        "W4": Workload("W4", "digits 64-30-10 sigmoid, quadratic, batch 10, lr 3, 30 epochs",
                       (64, 30, 10), "sigmoid", "quadratic", 3.0, "float32", 30 * 150,
                       batch=10, epochs=30, seed=2),
        "W5": Workload("W5", "784-100-10 sigmoid, quadratic, 60,000 synthetic samples, "
                       "batch 128, lr 3, 1 epoch (throughput)", (784, 100, 10), "sigmoid",
                       "quadratic", 3.0, "float32", 468, batch=128, epochs=1, seed=3),
    }
    if smoke:
        sizes = {"W1": dict(steps=300), "W2": dict(steps=200, runs=64), "W3": dict(steps=300),
                 "W4": dict(epochs=1, steps=150), "W5": dict(epochs=1, steps=20, n=6000)}
    elif quick:
        sizes = {"W1": dict(steps=2_000), "W2": dict(steps=500), "W3": dict(steps=2_000),
                 "W4": dict(epochs=2, steps=300), "W5": dict(epochs=1, steps=40, n=20000)}
    else:
        sizes = {}
    return {k: w.replace(**sizes.get(k, {})) for k, w in full.items()}


def reduced(w):
    """The smaller version of ``w`` that the slow implementations run (time is then
    extrapolated for W2 -- linear in runs -- and reported as throughput for W5)."""
    if w.wid == "W2":
        return w.replace(runs=min(w.runs, 8))
    if w.wid == "W5":
        return w.replace(steps=min(w.steps, 40))
    return w


# ---------------------------------------------------------------- data and initialisation

def init_params(w):
    """Initial parameters: list of (W, b) in ``w.dtype``; W2 stacks ``w.runs`` inits."""
    if w.wid == "W3":
        return [(np.array(MAZUR["W1"]), np.array(MAZUR["b1"])),
                (np.array(MAZUR["W2"]), np.array(MAZUR["b2"]))]
    rng = np.random.default_rng(w.seed)
    # W2 always draws 1,024 runs and keeps the first ``runs``: run r is the same in every size
    lead = (max(w.runs, 1024),) if w.wid == "W2" else ()
    params = []
    for n_in, n_out in zip(w.sizes[:-1], w.sizes[1:]):
        W = rng.standard_normal(lead + (n_in, n_out)) / np.sqrt(n_in)
        b = rng.standard_normal(lead + (n_out,))
        if lead:
            W, b = W[:w.runs], b[:w.runs]
        params.append((W.astype(w.dtype), b.astype(w.dtype)))
    return params


_DATA = {}


def data(w):
    """``(x_train, y_train, x_test, y_test)``; targets one-hot (or 0/1) in ``w.dtype``.
    Test sets exist for W4 only (None otherwise)."""
    key = (w.wid, w.dtype, w.n)
    if key not in _DATA:
        x, y, x_test, y_test = _make_data(w)
        _DATA[key] = (x[:n_train(w)], y[:n_train(w)], x_test, y_test)
    return _DATA[key]


def _make_data(w):
    if w.wid in ("W1", "W2"):
        return XOR_X, XOR_Y, None, None
    if w.wid == "W3":
        return np.array(MAZUR["x"]), np.array(MAZUR["y"]), None, None
    if w.wid == "W4":
        from sklearn.datasets import load_digits   # ships with scikit-learn, no download
        digits = load_digits()
        order = np.random.default_rng(0).permutation(len(digits.target))
        x = (digits.data[order] / 16.0).astype(np.float32)
        y = np.eye(10, dtype=np.float32)[digits.target[order]]
        return x[:1500], y[:1500], x[1500:], y[1500:]
    # W5: uniform inputs labelled by a random linear teacher (learnable, no download).
    rng = np.random.default_rng(12345)
    x = rng.random((n_train(w), 784), dtype=np.float32)
    teacher = rng.standard_normal((784, 10)).astype(np.float32)
    labels = np.argmax((x - 0.5) @ teacher, axis=1)
    return x, np.eye(10, dtype=np.float32)[labels], None, None


def permutations(w, perms):
    """Check the per-epoch permutations handed to the peers: ``(epochs, n_train)`` ints."""
    perms = np.asarray(perms)
    assert perms.shape == (w.epochs, n_train(w)), (perms.shape, w.epochs)
    return perms


def batches(w, perms):
    """The index array of every step's mini-batch, ``(steps, batch)``, as jaxbp.fit draws
    them: epoch e uses ``perms[e]``, consecutive slices of ``batch``, remainder dropped."""
    per_epoch = w.per_epoch
    idx = perms[:, :per_epoch * w.batch].reshape(w.epochs, per_epoch, w.batch)
    return idx.reshape(-1, w.batch)[:w.steps]


# ---------------------------------------------------------------- evaluation (float64)

def _forward(w, params, x):
    a = np.asarray(x, np.float64)
    for l, (W, b) in enumerate(params):
        z = a @ np.asarray(W, np.float64) + np.asarray(b, np.float64)
        if l == len(params) - 1 and w.output == "softmax":
            z = z - z.max(axis=-1, keepdims=True)
            a = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
        else:
            a = 0.5 * (1 + np.tanh(0.5 * z))          # sigmoid, overflow-free
    return a


def _cost(w, a, y):
    if w.cost == "quadratic":
        return float(np.mean(0.5 * np.sum((a - y) ** 2, axis=-1)))
    return float(np.mean(-np.sum(y * np.log(np.maximum(a, 1e-300)), axis=-1)))


def evaluate(w, params):
    """What the workload reports, from final parameters: a dict of floats."""
    x, y, x_test, y_test = data(w)
    if w.wid == "W2":
        W1, b1 = (np.asarray(p, np.float64) for p in params[0])
        W2, b2 = (np.asarray(p, np.float64) for p in params[1])
        a1 = 0.5 * (1 + np.tanh(0.5 * (np.einsum("ni,rij->rnj", x, W1) + b1[:, None, :])))
        a2 = 0.5 * (1 + np.tanh(0.5 * (np.einsum("rni,rij->rnj", a1, W2) + b2[:, None, :])))
        losses = np.mean(0.5 * np.sum((a2 - y) ** 2, axis=-1), axis=-1)
        solved = np.all((a2 > 0.5) == (y > 0.5), axis=(1, 2))
        return {"loss": float(np.mean(losses)), "solved": float(np.mean(solved)),
                "losses": losses.tolist()}
    if w.wid == "W5":
        x, y = x[:2048], y[:2048]
    out = {"loss": _cost(w, _forward(w, params, x), y)}
    if x_test is not None:
        pred = np.argmax(_forward(w, params, x_test), axis=-1)
        out["accuracy"] = float(np.mean(pred == np.argmax(y_test, axis=-1)))
    return out


TOLERANCE = {  # relative tolerance on the loss vs jaxbp manual (dtype- and length-aware)
    "W1": 2e-3, "W2": 2e-3, "W3": 1e-9, "W4": 5e-2, "W5": 2e-3,
}


def agree(w, ref, got):
    """``(ok, text)``: does result ``got`` match the reference ``ref``?

    W2 compares run by run (absolute, since solved runs end near 0) and allows 1% of runs
    to differ (runs sitting on a saddle amplify float32 rounding); W4 allows 1 percentage
    point of test accuracy (SGD over 4,500 float32 steps).
    """
    tol = TOLERANCE[w.wid]
    if w.wid == "W2":
        a, b = np.asarray(ref["losses"]), np.asarray(got["losses"])
        bad = int(np.sum(np.abs(a - b) > tol * np.maximum(np.abs(a), 1e-2)))
        return bad <= max(0.01 * len(a), 0), f"{bad}/{len(a)} runs differ"
    rel = abs(got["loss"] - ref["loss"]) / max(abs(ref["loss"]), 1e-30)
    ok = rel <= tol
    text = f"rel {rel:.1e}"
    if "accuracy" in ref:
        ok = ok and abs(got["accuracy"] - ref["accuracy"]) <= 0.01 + 1e-12
        text += f", acc {got['accuracy'] - ref['accuracy']:+.3f}"
    return ok, text
