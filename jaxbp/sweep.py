"""How often does gradient descent solve XOR? Many training runs as one compiled program.

* :func:`init_batch` draws R initialisations at once (a leading run axis on every leaf).
* :func:`train_many` trains all R runs with full-batch gradient descent and hand-written
  backprop (BP1-BP4, :func:`jaxbp.backprop`'s kernel) in ONE compiled call, and returns
  per-run results: final params and loss, whether and when the run was solved, and how it
  failed otherwise. Its loop keeps the runs on the last axis (see ``_loop_runs_last``):
  on CPU about 3x faster than ``jax.vmap``, which puts them first.
* :func:`wilson_interval` gives the 95% confidence interval of a success rate.
* :func:`run_grid` runs a grid of settings and :func:`format_table` prints it (``jaxbp sweep``).

**Success criterion** (``train_many``): every output of every sample lies strictly on the
same side of ``threshold`` (0.5) as its target. It is checked after every update, so
``steps_to_solve`` is exact: the number of updates after which the run was solved for the
first time (0 = solved by the initial weights; -1 = never within the budget).

**Failure modes** of runs that are not solved at the end (``MODES``):

=============  ==============================================================================
``solved``     not a failure: every output on the right side at the end.
``undecided``  some outputs stuck within 0.1 of the threshold, all others right: on XOR the
               most common local minimum of a 2-2-1 net, two patterns learned and two at 0.5.
``one-wrong``  three samples right and one clearly wrong (outputs near 0 / 2/3 / 2/3 / 2/3):
               the other classic XOR local minimum.
``plateau``    every output still within 0.1 of the threshold: the net has not committed to
               an answer yet (a small initialisation near the saddle at 0, a small rate).
``diverged``   the loss or a parameter became NaN/inf.
``other``      anything else, e.g. two samples clearly wrong.
=============  ==============================================================================
"""
import math
from functools import partial
from typing import NamedTuple

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np

from . import _checks
from .backprop import _trace
from .network import MLP
from ._checks import check_positive_int

MODES = ("solved", "undecided", "one-wrong", "plateau", "diverged", "other")
INITS = {  # name -> (scale, distribution) for MLP.init; scale None is net.init's default
    "normal": (1.0, "normal"),     # N(0, 1) for every weight and bias
    "uniform": (1.0, "uniform"),   # U(-1, 1)
    "small": (0.12, "uniform"),    # U(-0.12, 0.12)
    "default": (None, "normal"),   # N(0, 1/n_in) weights, N(0, 1) biases
}
PLATEAU_BAND = 0.1


class ManyResult(NamedTuple):
    """Per-run results of :func:`train_many`; every field has the run axis R first.

    ``params``: final parameters. ``loss``: final cost. ``outputs``: final network outputs
    ``(R, batch, n_out)``. ``solved``: bool, solved at the end. ``steps_to_solve``: updates
    until first solved (-1: never). ``mode``: index into :data:`MODES`.
    """
    params: tuple
    loss: jax.Array
    outputs: jax.Array
    solved: jax.Array
    steps_to_solve: jax.Array
    mode: jax.Array


def init_batch(net, key, runs, init="uniform", dtype=jnp.float32):
    """``runs`` random initialisations of ``net`` stacked on a leading axis.

    ``init``: ``"normal"`` (every weight and bias N(0, 1)), ``"uniform"`` (U(-1, 1)),
    ``"small"`` (U(-0.12, 0.12)) or ``"default"`` (``net.init``'s default). Run r uses
    ``jax.random.split(key, runs)[r]``, so it equals ``net.init(that_key, ...)``.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"init_batch: net must be a jaxbp.MLP, got {type(net).__name__}")
    key = _checks.check_key("init_batch", key)
    runs = check_positive_int("init_batch", "runs", runs)
    scale, distribution = _checks.choose("init_batch", "init", init, INITS)
    dtype = _checks.check_float_dtype("init_batch", dtype)
    keys = jax.random.split(key, runs)     # eager vmap: bit-identical to net.init per key
    return jax.vmap(lambda k: net.init(k, scale=scale, dtype=dtype, distribution=distribution))(keys)


def wilson_interval(k, n, z=1.959963984540054):
    """The Wilson score interval ``(low, high)`` for k successes in n trials (95% by default).

    ``center = (k + z^2/2) / (n + z^2)``, ``half = z sqrt(k (n - k) / n + z^2/4) / (n + z^2)``.
    Unlike ``p +- z sqrt(p (1-p) / n)`` it stays inside [0, 1] and is not empty at k = 0 or n.
    """
    for name, v in (("k", k), ("n", n)):
        if hasattr(v, "ndim") and v.ndim == 0 and jnp.issubdtype(v.dtype, jnp.integer):
            v = int(v)  # e.g. res.solved.sum()
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"wilson_interval: {name} must be an int, got {type(v).__name__}")
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"wilson_interval: expected 0 <= k <= n and n > 0, got k={k}, n={n}")
    k, n, z2 = float(k), float(n), z * z
    center = (k + z2 / 2) / (n + z2)
    half = z * math.sqrt(k * (n - k) / n + z2 / 4) / (n + z2)
    return max(0.0, center - half), min(1.0, center + half)


def _check_batch(fn, net, params_batch):
    """The run count R, and the per-run parameter shapes (for :func:`_checks.prepare`)."""
    leaves = jax.tree_util.tree_leaves(params_batch)
    if not leaves or any(not hasattr(a, "shape") or a.ndim == 0 for a in leaves):
        raise ValueError(f"{fn}: params_batch must be a params pytree whose every leaf has a "
                         f"leading run axis, e.g. from jaxbp.sweep.init_batch")
    runs = leaves[0].shape[0]
    for a in leaves:
        if a.shape[0] != runs:
            raise ValueError(f"{fn}: every leaf of params_batch must have the same leading run "
                             f"axis; got {runs} and {a.shape[0]}")
    one = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), params_batch)
    return runs, one


def _check_lr(fn, lr, runs, dtype):
    lr_arr = np.asarray(lr) if not isinstance(lr, jax.core.Tracer) else lr
    if not jnp.issubdtype(lr_arr.dtype, jnp.floating) and not jnp.issubdtype(lr_arr.dtype, jnp.integer) \
            or lr_arr.dtype == np.bool_:
        raise TypeError(f"{fn}: lr must be a float or an array of shape ({runs},), got {lr!r}")
    if lr_arr.ndim == 0:
        lr_arr = jnp.broadcast_to(lr_arr, (runs,))
    if lr_arr.shape != (runs,):
        raise ValueError(f"{fn}: lr must be a scalar or have shape ({runs},) (one per run), "
                         f"got shape {tuple(lr_arr.shape)}")
    if _checks.is_concrete(lr_arr):
        bad = ~(np.isfinite(np.asarray(lr_arr, np.float64)) & (np.asarray(lr_arr, np.float64) > 0))
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{fn}: lr must be finite and > 0, got {float(np.asarray(lr_arr)[r])} "
                             f"for run {r}")
    return jnp.asarray(lr_arr, dtype)


def train_many(net, params_batch, x, y, cost, lr, steps, threshold=0.5):
    """Train R runs at once with full-batch gradient descent and manual backprop.

    Every run does ``params <- params - lr * grads`` for ``steps`` updates, with grads from
    BP1-BP4 on the whole batch; all runs are one compiled call (the run axis may be sharded
    across devices). The training loop evaluates the per-run step -- jaxbp's ``_trace``,
    unchanged -- with the runs on the last axis and its small matrix products as unrolled
    sums (``_loop_runs_last``), which makes every operation a vector operation over the
    runs; steps it cannot handle fall back to ``jax.vmap``.

    Args:
      net: the :class:`jaxbp.MLP`.
      params_batch: params whose every leaf has a leading run axis R (see :func:`init_batch`).
      x, y: the training set, shared by all runs (e.g. ``jaxbp.gates.truth_table("xor")``).
      cost: a cost name or :class:`jaxbp.Cost`.
      lr: learning rate, a scalar or one per run, shape ``(R,)``.
      steps: number of updates.
      threshold: the success criterion's boundary (0.5 for sigmoid outputs, 0/1 targets).

    Returns:
      :class:`ManyResult`. Runs are independent: run r equals ``jaxbp.fit`` on run r alone,
      up to floating-point rounding (the unrolled sums add in another order than XLA's dot).
    """
    if not isinstance(net, MLP):
        raise TypeError(f"train_many: net must be a jaxbp.MLP, got {type(net).__name__}")
    runs, one = _check_batch("train_many", net, params_batch)
    cost, x, y, _ = _checks.prepare("train_many", net, one, x, y, cost)
    steps = check_positive_int("train_many", "steps", steps)
    lr = _check_lr("train_many", lr, runs, x.dtype)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)):
        raise TypeError(f"train_many: threshold must be a finite float, got {threshold!r}")
    if not math.isfinite(threshold):
        raise ValueError(f"train_many: threshold must be a finite float, got {threshold!r}")
    return _train_many(net, cost, params_batch, x, y, lr, steps, float(threshold))


def _is_solved(outputs, y, threshold):
    return jnp.all((outputs > threshold) == (y > threshold))


def _step_one(net, cost, x, y, threshold):
    """One update of one run, ``(params, first, i, lr) -> (params, first)``: train_one's
    loop body."""
    zero = jnp.zeros((), x.dtype)

    def step(params, first, i, lr):
        tr = _trace(net, cost, params, x, y, zero)
        first = jnp.where((first < 0) & _is_solved(tr.activations[-1], y, threshold), i, first)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, tr.grads), first
    return step


def _finish(net, cost, params, first, x, y, steps, threshold):
    """train_one's result for one run from its final params and first solved step."""
    tr = _trace(net, cost, params, x, y, jnp.zeros((), x.dtype))
    outputs = tr.activations[-1]
    solved = _is_solved(outputs, y, threshold)
    first = jnp.where((first < 0) & solved, steps, first)
    finite = jnp.isfinite(tr.loss) & jnp.all(jnp.array(
        [jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(params)]))
    near = jnp.any(jnp.abs(outputs - threshold) < PLATEAU_BAND, axis=-1)       # per sample
    wrong = jnp.any((outputs > threshold) != (y > threshold), axis=-1) & ~near
    n_near, n_wrong = jnp.sum(near), jnp.sum(wrong)
    mode = jnp.select([solved, ~finite, n_near == near.shape[0], (n_wrong == 0) & (n_near > 0),
                       (n_wrong == 1) & (n_near == 0)], [0, 4, 3, 1, 2], 5)
    return ManyResult(params, tr.loss, outputs, solved, first, mode)


def train_one(net, cost, params, x, y, lr, steps, threshold):
    """The unchecked kernel for one run (the reference that ``train_many`` must equal)."""
    step = _step_one(net, cost, x, y, threshold)

    def body(carry, i):
        return step(*carry, i, lr), None

    (params, first), _ = jax.lax.scan(body, (params, jnp.asarray(-1)), jnp.arange(steps))
    return _finish(net, cost, params, first, x, y, steps, threshold)


# ---- runs on the last axis -------------------------------------------------------------
#
# ``jax.vmap`` puts the run axis first, so every tiny matrix product of BP1-BP4 (2x2 on
# XOR) becomes a batch of R tiny products -- slow on CPU. The loop below runs the *same*
# per-run step (the jaxpr of ``_step_one``, i.e. jaxbp's ``_trace`` unchanged) through a
# small interpreter that keeps the runs on the LAST axis, where every operation is a vector
# operation over R runs, and evaluates each matrix product as a short unrolled sum of
# broadcast products. Anything it does not know falls back to ``jax.vmap``.

_ELEMENTWISE = frozenset(
    "abs add and atan2 ceil convert_element_type cos div eq erf exp exp2 expm1 floor ge gt "
    "integer_pow is_finite le log log1p logistic lt max min mul ne neg not or pow rem round "
    "rsqrt select_n sign sin sqrt square stop_gradient sub tan tanh xor".split())
_REDUCE = frozenset(("reduce_sum", "reduce_max", "reduce_min", "reduce_and", "reduce_or"))
_MAX_UNROLL = 64    # largest contracted size evaluated as an unrolled sum


class _Unsupported(Exception):
    pass


def _dot_runs_last(lhs, rhs, lhs_b, rhs_b, params, runs):
    """``dot_general`` of 2-D (or 1-D) operands, a trailing run axis on the batched ones,
    as ``sum_k lhs[.., k, ..] * rhs[.., k, ..]`` unrolled over k."""
    (lc, rc), (lbd, rbd) = params["dimension_numbers"]
    if lbd or rbd or len(lc) != 1 or len(rc) != 1:
        raise _Unsupported("dot_general with batch or several contracting dimensions")
    nl, nr = lhs.ndim - lhs_b, rhs.ndim - rhs_b
    if nl > 2 or nr > 2 or lhs.shape[lc[0]] > _MAX_UNROLL:
        raise _Unsupported("dot_general of large or high-rank operands")
    out = params.get("preferred_element_type") or jnp.result_type(lhs, rhs)
    # contracted axis first; then free lhs dims, free rhs dims, runs
    lhs = jnp.moveaxis(lhs, lc[0], 0)
    rhs = jnp.moveaxis(rhs, rc[0], 0)
    fl, fr = nl - 1, nr - 1
    l_idx = (slice(None),) * fl + (None,) * fr + ((slice(None),) if lhs_b else (None,))
    r_idx = (None,) * fl + (slice(None),) * fr + ((slice(None),) if rhs_b else (None,))
    total = None
    for k in range(lhs.shape[0]):
        term = lhs[k][l_idx].astype(out) * rhs[k][r_idx].astype(out)
        total = term if total is None else total + term
    shape = total.shape[:fl + fr] + ((runs,) if (lhs_b or rhs_b) else ())
    return jnp.broadcast_to(total, shape)


def _cond_runs_last(branches, index, args, batched, runs):
    """``lax.switch(index, branches, *args)`` with an unbatched ``index``: every branch is
    evaluated and the outputs picked with ``select_n`` -- what ``vmap`` does with a cond
    (the branches of jaxbp's kernels have no effects)."""
    results = [_eval_runs_last(b.jaxpr, b.consts, args, batched, runs) for b in branches]
    out_flags = [any(fl[k] for _, fl in results) for k in range(len(results[0][0]))]
    picked = []
    for k, flag in enumerate(out_flags):
        cases = [o[k] if not flag or fl[k] else
                 jnp.broadcast_to(jnp.asarray(o[k])[..., None], jnp.shape(o[k]) + (runs,))
                 for o, fl in results]
        picked.append(jax.lax.select_n(jnp.clip(index, 0, len(cases) - 1), *cases)
                      if len(cases) > 1 else cases[0])
    return picked, out_flags


def _eval_runs_last(jaxpr, consts, args, batched, runs):
    """Evaluate ``jaxpr`` on ``args``; ``batched[i]`` says whether ``args[i]`` carries a
    trailing run axis of size ``runs``. Returns the outputs and their batched flags."""
    env = {}

    def read(v):
        if isinstance(v, jax.extend.core.Literal):
            return v.val, False
        return env[v]

    for v, c in zip(jaxpr.constvars, consts):
        env[v] = (c, False)
    for v, a, b in zip(jaxpr.invars, args, batched):
        env[v] = (a, b)
    for eqn in jaxpr.eqns:
        vals, flags = zip(*(read(v) for v in eqn.invars)) if eqn.invars else ((), ())
        name, p = eqn.primitive.name, eqn.params
        if not any(flags):
            outs = eqn.primitive.bind(*vals, **p)
            outs = outs if eqn.primitive.multiple_results else [outs]
            out_flags = [False] * len(outs)
        elif name in ("jit", "pjit", "closed_call", "core_call", "custom_jvp_call",
                      "custom_vjp_call"):
            closed = p.get("jaxpr") or p.get("call_jaxpr") or p.get("fun_jaxpr")
            if closed is None:
                raise _Unsupported(name)
            inner = getattr(closed, "jaxpr", closed)
            outs, out_flags = _eval_runs_last(inner, getattr(closed, "consts", ()), vals,
                                              flags, runs)
        elif name in _ELEMENTWISE:
            shape = tuple(eqn.outvars[0].aval.shape) + (runs,)
            vals = [jnp.broadcast_to(a if b else jnp.asarray(a)[..., None]
                                     if jnp.ndim(a) else a, shape) for a, b in zip(vals, flags)]
            outs, out_flags = [eqn.primitive.bind(*vals, **p)], [True]
        elif name == "broadcast_in_dim":
            (a,), shape = vals, tuple(p["shape"]) + (runs,)
            dims = tuple(p["broadcast_dimensions"]) + (len(p["shape"]),)
            outs, out_flags = [jax.lax.broadcast_in_dim(a, shape, dims)], [True]
        elif name == "cond" and not flags[0]:  # e.g. weight_decay's l2 != 0: both, then pick
            outs, out_flags = _cond_runs_last(p["branches"], vals[0], vals[1:], flags[1:], runs)
        elif name == "optimization_barrier":   # identity on values
            outs, out_flags = list(vals), list(flags)
        elif name == "transpose":
            perm = tuple(p["permutation"]) + (vals[0].ndim - 1,)
            outs, out_flags = [jax.lax.transpose(vals[0], perm)], [True]
        elif name in _REDUCE:
            outs, out_flags = [eqn.primitive.bind(vals[0], **p)], [True]
        elif name == "dot_general":
            outs = [_dot_runs_last(*vals, *flags, p, runs)]
            out_flags = [True]
        else:
            raise _Unsupported(name)
        for v, o, b in zip(eqn.outvars, outs, out_flags):
            env[v] = (o, b)
    outs = [read(v) for v in jaxpr.outvars]
    return [o for o, _ in outs], [b for _, b in outs]


def _loop_runs_last(net, cost, params_batch, x, y, lr, steps, threshold):
    """The training loop of all runs with the runs on the last axis: ``(params_batch,
    first)`` back in the runs-first layout. Raises ``_Unsupported`` while tracing when the
    step uses an operation the interpreter does not handle."""
    runs = lr.shape[0]
    one = jax.tree_util.tree_map(lambda a: a[0], params_batch)
    closed = jax.make_jaxpr(_step_one(net, cost, x, y, threshold))(
        one, jnp.asarray(-1), jnp.asarray(0), lr[0])
    tree = jax.tree_util.tree_structure(one)
    last = [jnp.moveaxis(a, 0, -1) for a in jax.tree_util.tree_leaves(params_batch)]

    def body(carry, i):
        leaves, first = carry
        outs, flags = _eval_runs_last(closed.jaxpr, closed.consts, [*leaves, first, i, lr],
                                      [True] * len(leaves) + [True, False, True], runs)
        outs = [o if b else jnp.broadcast_to(jnp.asarray(o)[..., None], jnp.shape(o) + (runs,))
                for o, b in zip(outs, flags)]
        return (outs[:-1], outs[-1]), None

    first = jnp.full((runs,), -1, jnp.asarray(-1).dtype)
    (last, first), _ = jax.lax.scan(body, (last, first), jnp.arange(steps))
    return jax.tree_util.tree_unflatten(tree, [jnp.moveaxis(a, -1, 0) for a in last]), first


@partial(jax.jit, static_argnums=(0, 1, 6, 7))
def _train_many(net, cost, params_batch, x, y, lr, steps, threshold):
    try:
        params, first = _loop_runs_last(net, cost, params_batch, x, y, lr, steps, threshold)
    except _Unsupported:
        one = partial(train_one, net, cost, steps=steps, threshold=threshold)
        return jax.vmap(lambda p, r: one(p, x, y, r))(params_batch, lr)
    finish = partial(_finish, net, cost, x=x, y=y, steps=steps, threshold=threshold)
    return jax.vmap(finish)(params, first)


# ---- a grid of settings (the ``jaxbp sweep`` demo) ---------------------------------------

CRITERION = ("solved = after the last update, all four XOR outputs are on the right side "
             "of 0.5 (> 0.5 for target 1, < 0.5 for target 0)")


class Row(NamedTuple):
    """One setting of :func:`run_grid` and its outcome over ``runs`` initialisations."""
    width: int
    init: str
    cost: str
    lr: float
    steps: int
    runs: int
    solved: int
    ci: tuple                 # 95% Wilson interval of the success rate
    median_steps: float       # median updates to solve, over the solved runs (nan if none)
    modes: dict               # failure mode name -> count (see MODES)
    steps_to_solve: np.ndarray

    @property
    def rate(self):
        return self.solved / self.runs


def xor_data(dtype=jnp.float32):
    """The XOR truth table: x ``(4, 2)`` and y ``(4, 1)``, exact 0.0/1.0."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    return jnp.asarray(x, dtype), jnp.asarray(x[:, :1] ^ x[:, 1:], dtype)


def run_grid(widths=(2, 3, 4, 8), inits=("small", "uniform"), costs=("quadratic", "cross_entropy"),
             lrs=(0.5, 2.0), runs=1000, steps=10000, seed=0, dtype=jnp.float32):
    """Train ``runs`` random initialisations of a 2-width-1 sigmoid net on XOR for every
    combination of the arguments; returns a list of :class:`Row`.

    Full-batch gradient descent (cost = mean over the four patterns), manual backprop. All
    inits and rates of one (width, cost) share one :func:`train_many` call. The same seed
    gives the same initialisations for every cost and rate (paired comparisons): init
    ``name`` of width w uses ``fold_in(key(seed), i)``, i its position in :data:`INITS`.
    """
    fn = "run_grid"
    runs = check_positive_int(fn, "runs", runs)
    steps = check_positive_int(fn, "steps", steps)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{fn}: seed must be an int, got {type(seed).__name__}")
    for name, seq in (("widths", widths), ("inits", inits), ("costs", costs), ("lrs", lrs)):
        if isinstance(seq, (str, bytes)) or not hasattr(seq, "__len__") or len(seq) == 0:
            raise ValueError(f"{fn}: {name} must be a non-empty sequence, got {seq!r}")
    widths = [check_positive_int(fn, "widths[i]", w) for w in widths]
    for init in inits:
        _checks.choose(fn, "init", init, INITS)
    for cost in costs:
        _checks.choose(fn, "cost", cost, {"quadratic": 0, "cross_entropy": 0})
    for lr in lrs:
        _check_lr(fn, lr, 1, dtype)
    lrs = [float(lr) for lr in lrs]
    x, y = xor_data(dtype)
    key = jax.random.key(seed)
    rows = []
    for width in widths:
        net = MLP((2, width, 1), "sigmoid", "sigmoid")
        batches = [init_batch(net, jax.random.fold_in(key, list(INITS).index(i)), runs, i, dtype)
                   for i in inits]
        # runs ordered (init, lr, run): every init batch repeated once per rate
        params = jax.tree_util.tree_map(
            lambda *leaves: jnp.concatenate([leaf for leaf in leaves for _ in lrs]), *batches)
        lr = np.repeat(np.tile(np.asarray(lrs), len(inits)), runs)
        for cost in costs:
            res = train_many(net, params, x, y, cost, lr, steps)
            solved, first, mode = (np.asarray(a) for a in (res.solved, res.steps_to_solve, res.mode))
            for s, (init, rate) in enumerate((i, r) for i in inits for r in lrs):
                part = slice(s * runs, (s + 1) * runs)
                k = int(solved[part].sum())
                done = first[part][first[part] >= 0]
                counts = np.bincount(mode[part], minlength=len(MODES))
                rows.append(Row(width, init, cost, rate, steps, runs, k, wilson_interval(k, runs),
                                float(np.median(done)) if done.size else float("nan"),
                                dict(zip(MODES, counts.tolist())), first[part]))
    return rows


def format_table(rows):
    """The rows as a fixed-width text table, with the success criterion in the header."""
    failure = MODES[1:]
    head = (f"{'width':>5} {'init':<8} {'cost':<13} {'lr':>5} {'steps':>6} {'runs':>5} "
            f"{'solved':>7} {'95% CI':>15} {'median':>7}  " + " ".join(f"{m:>9}" for m in failure))
    lines = [CRITERION, "init: small = U(-0.12, 0.12), uniform = U(-1, 1), normal = N(0, 1), "
             "default = net.init; median = updates to solve (solved runs);",
             "failure modes (unsolved runs): " + ", ".join(failure) + " -- see jaxbp.sweep.MODES",
             "", head, "-" * len(head)]
    for r in rows:
        median = f"{r.median_steps:7.0f}" if r.median_steps == r.median_steps else f"{'-':>7}"
        lines.append(f"{r.width:>5} {r.init:<8} {r.cost:<13} {r.lr:>5g} {r.steps:>6} {r.runs:>5} "
                     f"{100 * r.rate:6.1f}% [{100 * r.ci[0]:5.1f}, {100 * r.ci[1]:5.1f}]% {median}  "
                     + " ".join(f"{r.modes[m]:>9}" for m in failure))
    return "\n".join(lines)
