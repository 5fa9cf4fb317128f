"""Watch it learn: a self-contained web page of a network training, step by step.

:func:`write_html` trains a small net with plain gradient descent on the hand-written
backprop (BP1-BP4), records a few hundred frames of the run and writes **one HTML file**
(inline SVG, CSS, JavaScript; the data embedded as JSON; no network, opens from disk). A
slider (arrow keys; space plays and pauses) moves through the recorded steps and every view
follows it: the network diagram (edge width = |w|, colour and line style = sign: solid
positive, dashed negative), each unit's z, a and delta (BP1/BP2) and each weight's and
bias's gradient (BP3/BP4) -- all from :func:`jaxbp.trace` -- the loss curve, and, for
2-input problems, the decision regions with the data points (computed in the page from the
frame's weights). :func:`frames` is the data behind the page, as plain dicts and lists.

The two demo pages: :func:`write_explain_html` (the worked examples, numbers to 9
significant digits as in ``jaxbp explain``) and :func:`write_gates_html` (perceptron vs
hidden-layer net, side by side, on any of the six logic gates). :func:`playground` writes
the live page instead, which trains in the browser (:mod:`jaxbp.playground`). The pages'
JavaScript and CSS are package data in ``jaxbp/viz_assets/``.
"""
import json
import math
import numbers
import os
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from ._types import ArrayLike, Params, PyTree, Scalar
from .backprop import _trace
from .costs import CostLike
from .errors import NonFiniteError
from .network import MLP
from .step import Step, build
from ._checks import check_positive_int
from .viz_assets import check_path as _check_path, write as _write

FORMAT = "jaxbp.viz/1"
CURVE_POINTS = 1000


def frame_steps(steps: int, frames: int = 300) -> List[int]:
    """The recorded steps: 0, then ``frames - 1`` steps evenly spaced from 1 (the first
    update) to ``steps`` (just ``[0, steps]`` for ``frames=2``); every step when
    ``steps + 1 <= frames``."""
    steps = check_positive_int("frame_steps", "steps", steps)
    frames = _check_frames("frame_steps", frames)
    if steps + 1 <= frames:
        return list(range(steps + 1))
    if frames == 2:
        return [0, steps]
    # steps 1..steps at spacing (steps - 1) / (frames - 2) >= 1, so rounding keeps them distinct
    return [0] + np.rint(np.linspace(1, steps, frames - 1)).astype(int).tolist()


def frames(net: MLP, params: Params, x: ArrayLike, y: ArrayLike, cost: CostLike, lr: float,
           steps: int, frames: int = 300, trainable: Optional[PyTree] = None, l2: Scalar = 0.0,
           max_samples: int = 8, title: Optional[str] = None) -> Dict[str, Any]:
    """Train with gradient descent on the manual gradients and record the run.

    Each update is ``p <- p - lr * dC/dp`` for the trainable leaves (``trainable``: a pytree
    of bools like ``params``, or a prefix of it; ``None`` trains everything). The whole run
    is one compiled ``lax.scan``; the recorded frames are then traced with
    :func:`jaxbp.trace` (vmapped). Raises :class:`jaxbp.NonFiniteError` if the loss
    diverges.

    Returns a dict of plain lists and floats (what the page embeds as JSON): ``sizes``,
    ``activations``, ``cost``, ``lr``, ``l2``, ``steps``, ``dtype``, ``x``, ``y`` (2-D, in
    the params dtype), ``trainable`` (per layer ``{"W": bool, "b": bool}``), ``samples``
    (the indices of the first ``max_samples`` samples, whose per-sample values are kept),
    ``curve`` (``{"step": [...], "loss": [...]}``, the loss after k updates on at most 1000
    steps) and ``frames``: one dict per step of :func:`frame_steps` with ``step``, ``loss``,
    ``params`` and ``grads`` (like params, as nested lists) and, for the kept samples only,
    ``zs``, ``activations`` and ``deltas`` (per layer ``[sample][unit]``, as in
    :class:`jaxbp.Trace`).
    """
    return _train("frames", net, params, x, y, cost, lr, steps, frames, trainable, l2,
                  max_samples, title)


def write_html(path: Union[str, os.PathLike], net: MLP, params: Params, x: ArrayLike,
               y: ArrayLike, cost: CostLike, lr: float, steps: int, frames: int = 300,
               title: Optional[str] = None, trainable: Optional[PyTree] = None, l2: Scalar = 0.0,
               max_samples: int = 8, notes: Sequence[str] = ()) -> Path:
    """Train (as in :func:`frames`) and write the page to ``path``; returns ``path``.

    ``notes`` are paragraphs of plain text shown under the title. The file is written
    atomically (temporary file, then rename); a missing directory raises
    ``FileNotFoundError``. Meant for small nets (tens of units): the file grows with
    ``frames * (parameters + max_samples * units)``.
    """
    path = _check_path("write_html", path)
    data = _train("write_html", net, params, x, y, cost, lr, steps, frames, trainable, l2,
                  max_samples, title)
    data["notes"] = [str(n) for n in notes]
    return _write(path, render(data))


def render(data: Dict[str, Any]) -> str:
    """The HTML page (a str) for a dict from :func:`frames`, :func:`gates_data` or
    :func:`all_gates_data`."""
    from .viz_assets.page import page
    if "pages" in data:
        data = dict(data, pages={k: _shorten(v) if v["net"]["dtype"] == "float32" else v
                                 for k, v in data["pages"].items()})
    elif data.get("dtype") == "float32" or data.get("net", {}).get("dtype") == "float32":
        data = _shorten(data)
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return page(data["title"], payload.replace("<", "\\u003c"))


# ---- the two demo pages ------------------------------------------------------------------

def explain_data(example_name: Literal["mazur", "no-bias-221", "no_bias_221"] = "mazur",
                 as_published: bool = False, steps: int = 10000, frames: int = 300
                 ) -> Dict[str, Any]:
    """The data of :func:`write_explain_html` (a dict as returned by :func:`frames`)."""
    from . import examples
    fn = "write_explain_html"
    make = _checks.choose(fn, "example_name", example_name,
                          {"mazur": examples.mazur, "no-bias-221": examples.no_bias_221,
                           "no_bias_221": examples.no_bias_221})
    ex = make()
    if not as_published:
        data = _train(fn, ex.net, ex.params, ex.x, ex.y, ex.cost, ex.lr, steps, frames,
                      ex.trainable, 0.0, 8, _EXPLAIN_TITLES[ex.name])
    else:
        cost, x, y, l2, lr, steps, chosen, mask, max_samples = _prepare(
            fn, ex.net, ex.params, ex.x, ex.y, ex.cost, 0.0, ex.lr, steps, frames,
            ex.trainable, 8)
        stacked, history = _record_published(ex, chosen)
        data = _export(fn, ex.net, cost, x, y, l2, chosen, stacked, history, max_samples)
        data.update(lr=lr, trainable=_bools(mask), update="as_published",
                    title=_EXPLAIN_TITLES[ex.name] + " (as published)")
    data["notes"] = list(_EXPLAIN_NOTES) + ([_PUBLISHED_NOTE] if as_published else [])
    return data


def write_explain_html(path: Union[str, os.PathLike],
                       example_name: Literal["mazur", "no-bias-221", "no_bias_221"] = "mazur",
                       as_published: bool = False, steps: int = 10000, frames: int = 300
                       ) -> Path:
    """The page of a worked example (``"mazur"`` or ``"no-bias-221"``): step 0 is the forward
    and backward pass of the tutorial, step 1 the first update, then training to ``steps``.
    ``as_published=True`` trains with the sequential update that produced Mazur's printed
    figures (see :mod:`jaxbp.examples`). Returns ``path``."""
    path = _check_path("write_explain_html", path)
    return _write(path, render(explain_data(example_name, as_published, steps, frames)))


def gates_data(gate: str = "xor", seed: int = 0, hidden: int = 2, steps: int = 2000,
               lr: float = 1.0, frames: int = 300, max_epochs: int = 100) -> Dict[str, Any]:
    """The data of :func:`write_gates_html`: ``{"format", "title", "gate", "x", "y",
    "perceptron": {...}, "net": frames(...), "notes"}``."""
    from . import gates
    fn = "write_gates_html"
    gate = _checks.choose(fn, "gate", gate, dict(zip(gates.NAMES, gates.NAMES)))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{fn}: seed must be an int, got {type(seed).__name__}")
    hidden = check_positive_int(fn, "hidden", hidden)
    max_epochs = check_positive_int(fn, "max_epochs", max_epochs)
    x, y = gates.truth_table(gate)
    net = MLP((2, hidden, 1), "sigmoid", "sigmoid")
    params = net.init(jax.random.key(int(seed)), dtype=x.dtype)
    title = f"{gate.upper()}: a perceptron vs a 2-{hidden}-1 network"
    run = _train(fn, net, params, x, y, "cross_entropy", lr, steps, frames, None, 0.0, 8, title)
    return {"format": FORMAT + "/gates", "title": title, "gate": gate,
            "x": np.asarray(x, np.float64).tolist(), "y": np.asarray(y, np.float64).tolist(),
            "perceptron": perceptron_data(x, y, max_epochs), "net": run,
            "notes": [_GATES_NOTE.format(gate=gate.upper(), seed=seed)]}


def perceptron_data(x: Union[np.ndarray, jax.Array], y: Union[np.ndarray, jax.Array],
                    max_epochs: int = 100) -> Dict[str, Any]:
    """The perceptron's run (:func:`jaxbp.perceptron.fit`, learning rate 1) sample by sample:
    ``states[k]`` holds ``w``, ``b`` before the k-th presentation of a sample (``epoch``
    from 1, ``sample`` index, ``target``, ``predicted`` by :func:`jaxbp.perceptron.predict`),
    and the last state the final weights (``sample`` None). The epoch boundaries are
    checked against the module's ``w_history``/``b_history``."""
    from . import perceptron
    res = perceptron.fit(x, y, lr=1.0, max_epochs=max_epochs)
    epochs, states = int(res.epochs), []
    for e in range(epochs):
        w, b = res.w_history[e], res.b_history[e]
        for i in range(x.shape[0]):
            predicted, target = float(perceptron.predict(w, b, x[i])[0]), float(y[i, 0])
            states.append({"w": np.asarray(w).tolist(), "b": float(b), "epoch": e + 1,
                           "sample": i, "target": target, "predicted": predicted})
            w, b = w + (target - predicted) * x[i], b + (target - predicted)
        if not (np.array_equal(w, res.w_history[e + 1]) and b == res.b_history[e + 1]):
            raise RuntimeError(f"perceptron_data: replay of epoch {e + 1} disagrees with "
                               f"jaxbp.perceptron.fit")
    states.append({"w": np.asarray(res.w).tolist(), "b": float(res.b), "epoch": epochs,
                   "sample": None, "target": None, "predicted": None})
    return {"states": states, "converged": bool(res.converged), "epochs": epochs,
            "cycled": bool(res.cycled), "cycle_start": int(res.cycle_start),
            "errors": np.asarray(res.errors[:epochs]).astype(int).tolist(), "lr": 1.0}


def all_gates_data(gate: str = "xor", seed: int = 0, hidden: int = 2, steps: int = 2000,
                   lr: float = 1.0, frames: int = 100, max_epochs: int = 100) -> Dict[str, Any]:
    """The data of :func:`write_gates_html`: ``{"format", "title", "gate", "pages"}``, with
    ``pages[name]`` the :func:`gates_data` of each gate of :data:`jaxbp.gates.NAMES`
    (``frames`` recorded frames each) and ``gate`` the one the page opens on."""
    from . import gates
    gate = _checks.choose("write_gates_html", "gate", gate, dict(zip(gates.NAMES, gates.NAMES)))
    pages = {name: gates_data(name, seed, hidden, steps, lr, frames, max_epochs)
             for name in gates.NAMES}
    return {"format": FORMAT + "/gates-all", "title": pages[gate]["title"], "gate": gate,
            "pages": pages}


def write_gates_html(path: Union[str, os.PathLike], gate: str = "xor", seed: int = 0, *,
                     hidden: int = 2, steps: int = 2000, lr: float = 1.0, frames: int = 100,
                     max_epochs: int = 100) -> Path:
    """Perceptron vs hidden-layer net on the logic gates, side by side, with a picker over
    the six gates of :data:`jaxbp.gates.NAMES` (the page opens on ``gate``, on the trained
    net and the perceptron's outcome): the perceptron (:func:`jaxbp.perceptron.fit`, up to
    ``max_epochs``) update by update -- on XOR its line comes back to where it was, forever
    -- and a 2-``hidden``-1 sigmoid net (initialised with ``jax.random.key(seed)``,
    cross-entropy, ``steps`` updates at ``lr``, ``frames`` recorded frames per gate) whose
    hidden units carve the plane. Returns ``path``."""
    path = _check_path("write_gates_html", path)
    return _write(path, render(all_gates_data(gate, seed, hidden, steps, lr, frames, max_epochs)))


def playground(path: Union[str, os.PathLike], x: Optional[ArrayLike] = None,
               y: Optional[ArrayLike] = None, **settings: Any) -> Path:
    """The live playground: one HTML file in which a net trains in the browser with BP1-BP4
    in float64 JavaScript (:func:`jaxbp.playground.playground`, which takes ``hide``,
    ``title``, ``notes`` and the settings ``dataset``, ``seed``, ``sizes``, ``activations``,
    ``cost``, ``lr``, ``batch_size``, ``l1``, ``l2``, ``features``, ``noise``,
    ``train_fraction``, ``stop_loss``, ``stop_step``). Returns ``path``."""
    from .playground import playground as write
    return write(path, x, y, **settings)


# ---- recording -------------------------------------------------------------------------

def _train(fn, net, params, x, y, cost, lr, steps, frames, trainable, l2, max_samples, title):
    cost, x, y, l2, lr, steps, chosen, mask, max_samples = _prepare(
        fn, net, params, x, y, cost, l2, lr, steps, frames, trainable, max_samples, title)
    stacked, history = _record(net, cost, params, x, y, jnp.asarray(lr, x.dtype), l2,
                               _labels(mask), _slots(chosen, steps), len(chosen))
    data = _export(fn, net, cost, x, y, l2, chosen, stacked, history, max_samples)
    data.update(lr=lr, trainable=_bools(mask), update="simultaneous",
                title=title or _default_title(net, cost, lr, steps))
    return data


def _prepare(fn, net, params, x, y, cost, l2, lr, steps, frames, trainable, max_samples,
             title=None):
    cost, x, y, l2 = _checks.prepare(fn, net, params, x, y, cost, l2)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"{fn}: title must be a str or None, got {type(title).__name__}")
    if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, numbers.Real):
        raise TypeError(f"{fn}: lr must be a finite float > 0, got {type(lr).__name__} {lr!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"{fn}: lr must be a finite float > 0, got {float(lr)}")
    lr = float(lr)
    steps = check_positive_int(fn, "steps", steps)
    _check_frames(fn, frames)
    max_samples = check_positive_int(fn, "max_samples", max_samples)
    return cost, x, y, l2, lr, steps, frame_steps(steps, frames), _mask(fn, params, trainable), \
        max_samples


def _check_frames(fn, frames):
    if isinstance(frames, (bool, np.bool_)) or not isinstance(frames, numbers.Integral):
        raise TypeError(f"{fn}: frames must be an int >= 2, got {type(frames).__name__} {frames!r}")
    if frames < 2:
        raise ValueError(f"{fn}: frames must be an int >= 2 (step 0 and the last), got {frames}")
    return int(frames)


def _mask(fn, params, trainable):
    """1.0 for trained leaves, 0.0 for frozen ones, structured like params."""
    if trainable is None:
        trainable = True
    try:
        return jax.tree_util.tree_map(
            lambda t, sub: jax.tree_util.tree_map(lambda p: jnp.asarray(bool(t), p.dtype), sub),
            trainable, params)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{fn}: trainable must be None, a bool, or a pytree of bools with the "
                         f"structure of params (or a prefix of it): {e}") from None


def _bools(mask):
    return [{k: bool(v) for k, v in sorted(layer.items())} for layer in mask]


def _slots(chosen, steps):
    """For each update i < steps, the frame slot of the params before it (or the spare slot)."""
    slot = np.full(steps, len(chosen), np.int32)
    for f, k in enumerate(chosen[:-1]):
        slot[k] = f
    return jnp.asarray(slot)


def _labels(mask):
    """The trainable mask as :class:`jaxbp.Step`'s static labels (None: everything trains)."""
    labels = tuple(tuple(sorted((k, "train" if bool(v) else "freeze") for k, v in layer.items()))
                   for layer in mask)
    return None if all(how == "train" for layer in labels for _, how in layer) else labels


@partial(jax.jit, static_argnums=(0, 1, 7, 9))
def _record(net, cost, params, x, y, lr, l2, labels, slot, n_frames):
    """One scan of :func:`jaxbp.make_step`'s update (plain SGD at ``lr``); the params before
    update i go to row ``slot[i]`` (the spare row ``n_frames`` when step i is not
    recorded). Returns ``(stacked, history)``."""
    tree = jax.tree_util.tree_map
    buffer = tree(lambda p: jnp.zeros((n_frames + 1,) + p.shape, p.dtype), params)
    sgd = build("viz", net, cost, 1.0).optimizer          # the static part of plain SGD
    step = Step(net, cost, sgd, {"lr": lr}, l2, "manual", labels)

    def body(carry, s):
        params, opt_state, buffer = carry
        buffer = tree(lambda B, p: B.at[s].set(p), buffer, params)
        loss, params, opt_state = step(params, opt_state, x, y)
        return (params, opt_state, buffer), loss

    (params, _, buffer), history = jax.lax.scan(body, (params, step.init(params), buffer), slot)
    stacked = tree(lambda B, p: B.at[n_frames - 1].set(p)[:n_frames], buffer, params)
    return stacked, history


def _record_published(ex, chosen):
    """Mazur's sequential update (``train_example(..., as_published=True)``) in chunks
    between the recorded steps (at most three distinct chunk lengths, so three compiles)."""
    from .examples import train_example
    params, snapshots, history = ex.params, [ex.params], []
    for a, b in zip(chosen[:-1], chosen[1:]):
        params, errors = train_example(ex._replace(params=params), b - a, as_published=True)
        snapshots.append(params)
        history.append(np.asarray(errors[:-1]))
    stacked = jax.tree_util.tree_map(lambda *p: jnp.stack(p), *snapshots)
    return stacked, jnp.asarray(np.concatenate(history))


@partial(jax.jit, static_argnums=(0, 1))
def _trace_frames(net, cost, stacked, x, y, l2):
    return jax.vmap(lambda p: _trace(net, cost, p, x, y, l2))(stacked)


def _export(fn, net, cost, x, y, l2, chosen, stacked, history, max_samples):
    trace_all, stacked, history = jax.device_get(
        (_trace_frames(net, cost, stacked, x, y, l2), stacked, history))
    losses = np.concatenate([history, trace_all.loss[-1:]])
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        k = int(bad[0])
        last = f"last finite loss {losses[k - 1]:.4g}" if k else "no finite loss"
        raise NonFiniteError(f"{fn}: non-finite loss at step {k}; {last}. Try a smaller "
                                     f"learning rate.", step=k, history=losses)
    keep = min(max_samples, x.shape[0])
    rows = lambda arrays, f: [a[f, :keep].tolist() for a in arrays]
    tree_list = lambda t, f: [{k: v[f].tolist() for k, v in sorted(layer.items())} for layer in t]
    curve = frame_steps(len(losses) - 1, min(CURVE_POINTS, len(losses)))
    return {
        "format": FORMAT, "sizes": list(net.sizes), "activations": list(net.activations),
        "cost": cost.name, "l2": float(l2), "steps": len(losses) - 1,
        "dtype": str(x.dtype), "x": np.asarray(x).tolist(), "y": np.asarray(y).tolist(),
        "samples": list(range(keep)),
        "curve": {"step": curve, "loss": losses[curve].tolist()},
        "frames": [{"step": int(k), "loss": float(trace_all.loss[f]),
                    "params": tree_list(stacked, f), "grads": tree_list(trace_all.grads, f),
                    "zs": rows(trace_all.zs, f), "activations": rows(trace_all.activations, f),
                    "deltas": rows(trace_all.deltas, f)}
                   for f, k in enumerate(chosen)],
    }


# ---- output ------------------------------------------------------------------------------

def _shorten(obj):
    """float32 data: each number as its shortest float32 repr, when reading that back as a
    double and rounding to float32 (``Math.fround`` in the page) gives the value exactly."""
    if isinstance(obj, float):
        short = float(str(np.float32(obj)))
        return short if np.float32(short) == np.float32(obj) == obj else obj
    if isinstance(obj, list):
        return [_shorten(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _shorten(v) for k, v in obj.items()}
    return obj


def _default_title(net, cost, lr, steps):
    sizes = "-".join(map(str, net.sizes))
    return f"A {sizes} {'/'.join(dict.fromkeys(net.activations))} net learning " \
           f"({cost.name}, learning rate {lr:g}, {steps} steps)"


_EXPLAIN_TITLES = {
    "mazur": "Mazur's step-by-step backpropagation example (2-2-2 sigmoid, quadratic cost)",
    "no_bias_221": "The 2-2-1 example without biases (sigmoid, quadratic cost)",
}
_EXPLAIN_NOTES = (
    "Step 0 is the forward pass and the backward pass of the tutorial: each unit shows z, "
    "a = sigma(z) and its error delta = dC/dz (BP1 at the output, BP2 below it); each weight "
    "shows its gradient dC/dw = a_in * delta_out (BP4) and each bias dC/db = delta (BP3). "
    "Step 1 is the network after the first update w - lr * dC/dw. Biases are not trained "
    "in this example.",
)
_PUBLISHED_NOTE = (
    "As published: each update changes the output weights first and computes the hidden "
    "deltas with the already-updated weights, which is what produced the figures printed in "
    "the post. The gradients shown are those of the usual (simultaneous) backward pass, so "
    "'w - lr * dC/dw' is not shown.")
_GATES_NOTE = (
    "Left: the perceptron (one unit, step activation, learning rate 1), one sample at a "
    "time; when no line separates the classes (XOR, XNOR) its weights come back to an "
    "earlier state and cycle forever. Right: a network with "
    "one hidden layer of sigmoid units trained by backpropagation (cross-entropy, key "
    "jax.random.key({seed})): the dashed lines are where each hidden unit's z is 0, and "
    "together they carve the plane into the {gate} regions.")
