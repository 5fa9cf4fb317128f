"""The table of ``jaxbp sweep``: XOR success rates over a grid of settings.

:func:`run_grid` trains ``runs`` initialisations of a 2-width-1 sigmoid net on XOR for every
combination of widths, initialisations, costs and learning rates (full-batch gradient
descent, manual backprop, :func:`jaxbp.sweep.train_many`), and :func:`format_table` prints
the rows: success rate with its 95% Wilson interval, median updates to solve, and how the
failed runs failed (:data:`jaxbp.sweep.MODES`).
"""
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import MLP, _checks
from jaxbp.demos import descent
from jaxbp.sweep import INITS, MODES, init_batch, train_many, wilson_interval

__all__ = ["CRITERION", "INITS", "MODES", "Row", "format_table", "run_grid", "xor_data"]

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
    inits, rates and costs of one width share one compiled program. The
    same seed gives the same initialisations for every cost and rate (paired comparisons):
    init ``name`` of width w uses ``fold_in(key(seed), i)``, i its position in ``INITS``.
    """
    fn = "run_grid"
    runs = _checks.check_positive_int(fn, "runs", runs)
    steps = _checks.check_positive_int(fn, "steps", steps)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{fn}: seed must be an int, got {type(seed).__name__}")
    for name, seq in (("widths", widths), ("inits", inits), ("costs", costs), ("lrs", lrs)):
        if isinstance(seq, (str, bytes)) or not hasattr(seq, "__len__") or len(seq) == 0:
            raise ValueError(f"{fn}: {name} must be a non-empty sequence, got {seq!r}")
    widths = [_checks.check_positive_int(fn, "widths[i]", w) for w in widths]
    for init in inits:
        _checks.choose(fn, "init", init, INITS)
    for cost in costs:
        _checks.choose(fn, "cost", cost, {"quadratic": 0, "cross_entropy": 0})
    lrs = [_checks.check_number(fn, "lrs[i]", lr, *_checks.POSITIVE) for lr in lrs]
    x, y = xor_data(dtype)
    key = jax.random.key(seed)
    rows = []
    for width in widths:
        net = MLP((2, width, 1), "sigmoid", "sigmoid")
        params = _initial(net, key, tuple(inits), len(lrs), runs, dtype)
        lr = np.repeat(np.tile(np.asarray(lrs), len(inits)), runs)
        for cost, res in zip(costs, _trainer(net, tuple(costs), steps)(params, x, y, lr)):
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


def _initial(net, key, inits, repeats, runs, dtype):
    """The runs of one width, ordered (init, lr, run): every init batch repeated once per
    rate."""
    spec = jax.ShapeDtypeStruct(key.shape, key.dtype)
    return _draw(net, inits, repeats, runs, np.dtype(dtype), spec)(key)


@functools.lru_cache(maxsize=None)
def _draw(net, inits, repeats, runs, dtype, key_spec):
    """:func:`_initial`'s program, compiled once per process with XLA's quick settings:
    drawing random numbers is all compile time (threefry is long straight-line code), and
    the program runs in microseconds. The draws equal :func:`jaxbp.sweep.init_batch`'s bit
    for bit, except for init "default", whose weights XLA may round differently in the last
    bit (it folds the scale into the normal draw)."""
    def draw(key):
        batches = [init_batch(net, jax.random.fold_in(key, list(INITS).index(i)), runs, i, dtype)
                   for i in inits]
        return jax.tree_util.tree_map(
            lambda *leaves: jnp.concatenate([leaf for leaf in leaves for _ in range(repeats)]),
            *batches)
    return descent.compiled(draw, key_spec)


@functools.lru_cache(maxsize=None)
def _trainer(net, costs, steps):
    """:func:`jaxbp.sweep.train_many` for every cost, as one compiled program: XLA compiles
    it in about 60% of the time two programs take, and compiling is most of a first run."""
    return jax.jit(lambda params, x, y, lr: [train_many(net, params, x, y, cost, lr, steps)
                                             for cost in costs])


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
