"""Training as compiled programs: :func:`fit` (steps) and :func:`fit_epochs` (Nielsen's SGD).

:func:`fit` runs ``steps`` optimizer updates, full batch or on shuffled mini-batches, as one
``lax.scan``. :func:`fit_epochs` is Nielsen's ``SGD(training_data, epochs,
mini_batch_size, eta, test_data)``: shuffle, sweep every mini-batch, score the held-out
set, print ``Epoch k: correct / total`` -- one compiled program per epoch, looped in Python.

State is threaded explicitly, ``(params, opt_state) -> (params, opt_state)``. A compiled
program depends on the architecture, the cost, the *kind* of optimizer, the ``trainable``
mask, ``steps``/``batch_size`` and the shapes and dtype of the arrays -- not on the values
of the data, the parameters, ``l2``, the key, or the learning rate and other numbers of a
float or :func:`jaxbp.optimizer` optimizer, which are traced inputs (G8). One exception:
on nets of :data:`jaxbp.costs.SKIP_L2_MIN_WEIGHTS` weights or more, a zero ``l2`` given as
a number is compiled in as a constant (:func:`_loop_l2`), so zero and nonzero l2 are two
programs there.

Mini-batches: epoch ``e`` visits the samples in the order
``jaxbp.shuffle.epoch_order(key, e, n)`` (a keyed permutation computed without a sort,
:mod:`jaxbp.shuffle`), ``batch_size`` at a time, so
every sample is used exactly once per epoch. When ``batch_size`` does not divide n,
:func:`fit` drops the last ``n % batch_size`` samples of each epoch's permutation (they sit
that epoch out); :func:`fit_epochs` by default trains on them as one shorter batch, which is
the second (and last) batch shape it compiles.
"""
import time
from functools import partial
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _checks, _layout
from .autodiff import _value_and_grad
from .backprop import _trace
from .costs import skips_l2_sum, weight_decay
from .network import feedforward
from .optim import check_learning_rate, describe_rate, resolve, trainable_labels, transform
from .shuffle import epoch_order

GRADS = ("manual", "autodiff")
# How many times each kernel has been traced (= compiled); for tests and the curious.
TRACES = {"fit": 0, "fit_epochs": 0}

__all__ = ["EpochHistory", "check_learning_rate", "check_positive_int", "fit", "fit_epochs"]


def _manual(net, cost, params, x, y, l2, transposed=()):
    tr = _trace(net, cost, params, x, y, l2, transposed)
    return tr.loss, tr.grads


_GRAD_FNS = {"manual": _manual, "autodiff": _value_and_grad}


def _common(fn, net, params, x, y, cost, optimizer, l2, grad, trainable, on_diverge):
    """Everything ``fit`` and ``fit_epochs`` check alike, before any tracing. A list of
    layers becomes the tuple of the API."""
    cost, x, y, checked = _checks.prepare(fn, net, params, x, y, cost, l2)
    if grad not in GRADS:
        _checks.choose(fn, "grad", grad, dict.fromkeys(GRADS))
    if on_diverge not in ("raise", "return"):
        raise ValueError(f"{fn}: on_diverge must be 'raise' or 'return', got {on_diverge!r}")
    static, values, rate = resolve(fn, optimizer, x.dtype)
    labels = trainable_labels(fn, params, trainable)
    return tuple(params), cost, x, y, _loop_l2(params, l2, checked), static, values, rate, labels


def _loop_l2(params, l2, checked):
    """``checked`` (``l2`` as :func:`_checks.prepare` returns it) as the compiled loops take
    it: None when ``l2`` as given is a concrete zero -- a number, also inside a user's
    ``jax.jit`` -- on a net whose :func:`weight_decay` skips its sum of W**2 at l2 == 0
    (:func:`skips_l2_sum`). The loop then makes the zero a constant (:func:`_l2_in_loop`)
    and XLA folds away the ``lax.cond`` that skips the sum at run time, which read every
    W and so made XLA copy each W once per step to update it (3.8 us per step on W5). A
    nonzero l2 compiles one more program; l2 values after it are traced, as before."""
    if skips_l2_sum(params) and _checks.is_concrete(l2) and not np.asarray(l2).any():
        return None
    return checked


def _l2_in_loop(l2, dtype):
    return jnp.zeros((), dtype) if l2 is None else l2


def _transposed(net, grad, optimizer, batch, batch_sharding=None):
    """The layers whose W the training loop keeps transposed (:mod:`jaxbp._layout`): some
    big ones, for manual gradients and jaxbp's own (elementwise) optimizers only. ``batch``
    is the rows of one step; on a mesh each device multiplies its share of them."""
    if grad != "manual" or isinstance(optimizer, optax.GradientTransformation):
        return ()
    if batch_sharding is not None:
        batch = max(1, batch // batch_sharding.mesh.shape.get("data", 1))
    return _layout.transposed_layers(net.sizes, batch)


def _key(fn, key, batch_size):
    if key is None:
        raise ValueError(f"{fn}: batch_size={batch_size} shuffles mini-batches and needs "
                         f"key=jax.random.key(seed); got key=None")
    key = _checks.check_key(fn, key)
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    return key if typed else jax.random.wrap_key_data(key)  # one trace for both key styles


# --- the pieces of the compiled programs ----------------------------------------------------

def _updater(net, cost, grad, tx, labels, l2, batch_sharding, transposed=()):
    """One optimizer step on one batch: ``(params, opt_state, xb, yb) -> (loss, params,
    opt_state)``; ``loss`` is the batch's cost before the update. ``params`` (and the
    optimizer state) hold the W of each layer in ``transposed`` transposed
    (:func:`_layout.stored`); the gradient is computed in the API's layout and stored alike."""
    assert not transposed or grad == "manual", "the stored layout is for manual gradients only"
    value_and_grad = partial(_manual, transposed=transposed) if transposed else _GRAD_FNS[grad]

    def update(params, opt_state, xb, yb):
        if batch_sharding is not None:
            xb = jax.lax.with_sharding_constraint(xb, batch_sharding)
            yb = jax.lax.with_sharding_constraint(yb, batch_sharding)
        loss, grads = value_and_grad(net, cost, _layout.stored(params, transposed), xb, yb, l2)
        updates, opt_state = tx.update(_layout.stored(grads, transposed), opt_state, params)
        new = optax.apply_updates(params, updates)
        if labels is not None:  # frozen leaves pass through untouched: bit-identical
            new = tuple({k: new[l][k] if how == "train" else params[l][k] for k, how in layer}
                        for l, layer in enumerate(labels))
        return loss, new, opt_state
    return update


def _guarded(update):
    """``update`` on a state ``(params, opt_state, last_finite, bad)`` that stops changing at
    the first non-finite loss: ``bad`` (-1 while all is well) becomes that step's index,
    ``last_finite`` keeps the parameters of the last step whose loss was finite, and the
    recorded loss is NaN from then on.

    For nets whose ``weight_decay`` skips its sum of W**2 when l2 == 0
    (:func:`jaxbp.costs.skips_l2_sum`), non-finite weights also count as a non-finite
    loss: with the sum computed, ``0 * inf`` made the loss NaN, and a saturated sigmoid
    can otherwise hide an inf weight behind a finite loss."""
    def step(state, xb, yb, i):
        params, opt_state, last, bad = state
        loss, new_params, new_opt_state = update(params, opt_state, xb, yb)
        ok = jnp.isfinite(loss) & (bad < 0)
        if skips_l2_sum(params):
            ok = ok & _all_finite([layer["W"] for layer in params])
        keep = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, old)
        state = (keep(new_params, params), keep(new_opt_state, opt_state), keep(params, last),
                 jnp.where(ok | (bad >= 0), bad, i))
        return state, jnp.where(ok, loss, jnp.nan)
    return step


def _all_finite(tree):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(tree)]))


def _settle(state, after):
    """``(params, opt_state, last_finite, bad)`` at the end of a run: params are the last
    finite ones if it diverged -- also when the last update itself made them non-finite
    (then ``bad = after``)."""
    params, opt_state, last, bad = state
    bad = jnp.where((bad < 0) & ~_all_finite(params), after, bad)
    params = jax.tree_util.tree_map(lambda a, b: jnp.where(bad >= 0, a, b), last, params)
    return params, opt_state, last, bad


def _diverged(fn, k, steps, losses, rate, where=""):
    last = f"last finite loss {float(losses[k - 1]):.4g}" if k > 0 else "no finite loss"
    what = (f"non-finite loss at step {k}{where}" if k < steps
            else f"non-finite parameters after the last step{where}")
    return f"{fn}: {what} ({rate}); {last}. Try a smaller learning rate."


check_positive_int = _checks.check_positive_int

# --- fit ------------------------------------------------------------------------------------

def _surely_finite(net, cost, params, xb, yb, l2, transposed=()):
    """A cheap sufficient condition for a finite loss: every per-sample cost below
    ``max / (4 n)`` and every weight below ``sqrt(max / (4 P max(1, l2)))`` in magnitude (P
    weights in all), so that neither the batch mean nor the L2 term can overflow. False
    for every non-finite loss; only elementwise tests and boolean reductions, which XLA
    fuses into the step (the float reduction behind the loss itself is what costs under
    ``jax.vmap``). The forward pass is the same ops as the gradient's, merged by XLA
    (``params`` stored as in :func:`_updater`)."""
    zs, _ = feedforward(net, _layout.stored(params, transposed), xb, transposed=transposed)
    c = cost.value(zs[-1], yb, net.layers[-1])
    big = jnp.finfo(c.dtype).max
    n_weights = sum(layer["W"].size for layer in params)
    w_max = jnp.sqrt(big / (4 * n_weights * jnp.maximum(1, l2)))
    return jnp.all(jnp.stack([jnp.all(jnp.abs(c) < big / (4 * max(c.size, 1)))]
                             + [jnp.all(jnp.abs(layer["W"]) < w_max) for layer in params]))


@partial(jax.jit, static_argnames=("net", "cost", "optimizer", "labels", "steps", "batch_size",
                                   "grad", "guard", "batch_sharding", "transposed"))
def _run(params, x, y, key, l2, values, *, net, cost, optimizer, labels, steps, batch_size,
         grad, guard, batch_sharding=None, transposed=()):
    """The unchecked kernel of :func:`fit`: ``(params, history, status)``.

    ``params`` come in and go out in the API's layout; inside, the layers in ``transposed``
    (:func:`_transposed`) are stored as in :func:`_updater`.

    The training loop is always the plain one, ``(params, opt_state)`` and nothing else
    carried: per-step ``where``s on the state cost, and on a tiny net they keep XLA from
    fusing the whole step. Without ``guard``, ``status`` says whether the final params are
    finite (:func:`fit` checks the history on the host: a reduction over it here adds
    about 60 ms of compile time on W1).

    With ``guard``, the same loop also raises an alarm at the first step whose loss might
    be non-finite (:func:`_surely_finite` fails) and when the final params are non-finite.
    A run with an alarm is replayed from the start with the bookkeeping of
    :func:`_guarded` (a ``while`` loop of ``steps`` iterations for such runs, 0 for the
    others -- so under ``jax.vmap`` it costs nothing unless some run alarmed). ``status``
    is then the first step whose loss was non-finite (``steps``: the last update broke the
    params; -1: none), params are the last finite ones and the history is NaN from that
    step on; a run without an alarm provably has a finite loss at every step, so the
    bookkeeping would not have changed it, and it keeps the plain loop's results. A one-step run
    (``steps == 1``, e.g. ``fit`` called once per step inside a user's ``scan``) has no loop
    to keep small and takes the bookkeeping directly: one copy of the step, half the
    compile time.
    """
    TRACES["fit"] += 1
    l2 = _l2_in_loop(l2, x.dtype)
    tx = transform(optimizer, values, labels)
    update = _updater(net, cost, grad, tx, labels, l2, batch_sharding, transposed)
    params = _layout.stored(params, transposed)  # and back on the way out
    n = x.shape[0]
    per_epoch = None if batch_size is None else n // batch_size

    def batch(i, perm):
        if batch_size is None:
            return x, y, perm
        # a new permutation at the start of each epoch, then consecutive slices of it
        epoch, j = i // per_epoch, i % per_epoch
        perm = jax.lax.cond(j == 0, lambda: epoch_order(key, epoch, n), lambda: perm)
        idx = jax.lax.dynamic_slice_in_dim(perm, j * batch_size, batch_size)
        return x[idx], y[idx], perm

    def body(carry, i):
        (params, opt_state), perm, alarm = carry
        xb, yb, perm = batch(i, perm)
        if guard:
            alarm = alarm | ~_surely_finite(net, cost, params, xb, yb, l2, transposed)
        loss, params, opt_state = update(params, opt_state, xb, yb)
        return ((params, opt_state), perm, alarm), loss

    perm = None if batch_size is None else jnp.zeros((n,), jnp.int32)
    opt_state = tx.init(params)
    step = _guarded(update)
    if guard and steps == 1:  # no loop to keep small: the bookkeeping directly, one program
        xb, yb, _ = batch(jnp.asarray(0, jnp.int32), perm)
        state, loss = step((params, opt_state, params, jnp.asarray(-1, jnp.int32)), xb, yb,
                           jnp.asarray(0, jnp.int32))
        params, _, _, bad = _settle(state, steps)
        return _layout.stored(params, transposed), loss[None], bad
    alarm = jnp.asarray(False) if guard else None
    steps_index = None if batch_size is None else jnp.arange(steps, dtype=jnp.int32)
    ((final, _), _, alarm), history = jax.lax.scan(body, ((params, opt_state), perm, alarm),
                                                   steps_index, length=steps)
    finite = _all_finite(final)
    if not guard:
        return _layout.stored(final, transposed), history, finite

    def replay(carry):
        i, state, perm, losses = carry
        xb, yb, perm = batch(i, perm)
        state, loss = step(state, xb, yb, i)
        return i + 1, state, perm, jax.lax.dynamic_update_index_in_dim(losses, loss, i, 0)

    alarm = alarm | ~finite
    count = jnp.where(alarm, steps, 0)
    start = (jnp.asarray(0, jnp.int32), (params, opt_state, params, jnp.asarray(-1, jnp.int32)),
             perm, history)
    _, state, _, replayed = jax.lax.while_loop(lambda c: c[0] < count, replay, start)
    last, _, _, bad = _settle(state, steps)
    pick = lambda a, b: jnp.where(alarm, a, b)
    return (_layout.stored(jax.tree_util.tree_map(pick, last, final), transposed), replayed,
            pick(bad, jnp.asarray(-1, jnp.int32)))


def fit(net, params, x, y, cost, optimizer, steps, batch_size=None, grad="manual", key=None,
        l2=0.0, trainable=None, on_diverge="raise", mesh=None, debug=False):
    """Train ``params`` for ``steps`` optimizer updates; returns ``(params, history)``.

    The whole run is one compiled ``lax.scan``; ``history[i]`` is the loss of the batch used
    at step i, before that step's update.

    Args:
      net, params, x, y, cost: as for :func:`jaxbp.backprop` (x and y are cast to the params
        dtype).
      optimizer: a number (plain SGD at that learning rate), a schedule (callable), a
        :func:`jaxbp.optimizer`, or any ``optax.GradientTransformation``. The numbers of the
        first three are traced inputs: a new learning rate reuses the compiled program, and
        ``jax.vmap`` over it works. An optax object is a static argument (hashed by
        identity), so each new object -- each ``optax.sgd(0.5)`` call -- compiles anew.
      steps: number of updates, an int > 0.
      batch_size: None for full batch; otherwise shuffled mini-batches (module docstring),
        dropping the last ``n % batch_size`` samples of each epoch's permutation.
      grad: ``"manual"`` (BP1-BP4) or ``"autodiff"`` (``jax.grad``).
      key: PRNG key for the mini-batch order; required with ``batch_size``, else ignored.
      l2: weight decay ``0.5 * l2 * sum ||W||^2`` (weights only). A traced input, except
        that a plain zero on a net of :data:`jaxbp.costs.SKIP_L2_MIN_WEIGHTS` weights or more
        compiles a loop without the term (the first nonzero value compiles one more).
      trainable: optional pytree of bools like ``params``, or a prefix of it (one bool per
        layer, or ``({"W": True, "b": False},) * n_layers``). Frozen leaves come back
        bit-identical and get no optimizer state (``optax.multi_transform`` with
        ``optax.set_to_zero``).
      on_diverge: when the loss becomes NaN or inf (or the last update makes the parameters
        non-finite): ``"raise"`` (default) raises :class:`jaxbp.NonFiniteError` carrying
        ``.step``, ``.history`` and ``.params`` (the last parameters whose loss was finite);
        ``"return"`` returns those parameters and the history. The history is NaN from the
        failing step on. Under ``jax.jit``/``jax.vmap`` nothing can be raised: each run
        freezes at its last finite parameters and its history turns NaN -- check
        ``jnp.isnan(history[-1])``.
      mesh: a ``jax.sharding.Mesh`` with a ``"data"`` axis for data-parallel training
        (:mod:`jaxbp.parallel`); None for one device.
      debug: run under ``jax.debug_nans``: the first operation inside the step that makes a
        NaN raises ``FloatingPointError`` naming it (slow -- jax re-runs the program op by
        op -- and meant for finding where a NaN comes from).

    Called on concrete arrays, ``fit`` runs the plain compiled loop and checks the result;
    only if it diverged does it run again with per-step bookkeeping (a second program) to
    recover the last finite parameters. Under ``jit``/``vmap`` the plain loop also tests a
    cheap sufficient condition for a finite loss at every step, and only a run that fails
    it (or ends with non-finite params) is replayed with the bookkeeping, in the same
    program; the results are those of the bookkeeping either way.
    """
    if debug:
        with jax.debug_nans(True):
            return fit(net, params, x, y, cost, optimizer, steps, batch_size, grad, key, l2,
                       trainable, on_diverge, mesh)
    fn = "fit"
    params, cost, x, y, l2, static, values, rate, labels = _common(
        fn, net, params, x, y, cost, optimizer, l2, grad, trainable, on_diverge)
    steps = check_positive_int(fn, "steps", steps)
    if batch_size is not None:
        batch_size = check_positive_int(fn, "batch_size", batch_size, upper=x.shape[0])
        key = _key(fn, key, batch_size)
    else:
        key = None  # unused: one compiled program whatever was passed
    batch_sharding = None
    if mesh is not None:
        from .parallel import place_for_fit
        params, x, y, batch_sharding = place_for_fit(fn, mesh, params, x, y, batch_size)
    args = (params, x, y, key, l2, values)
    transposed = _transposed(net, grad, static, batch_size or x.shape[0], batch_sharding)
    run = partial(_run, *args, net=net, cost=cost, optimizer=static, labels=labels, steps=steps,
                  batch_size=batch_size, grad=grad, batch_sharding=batch_sharding,
                  transposed=transposed)
    if _traced(args):
        new_params, history, _ = run(guard=True)
        return new_params, history
    new_params, history, finite = run(guard=False)
    if bool(finite) and np.isfinite(np.asarray(history)).all():
        return new_params, history
    new_params, history, bad = run(guard=True)  # diverged: replay, keeping the last finite
    k = int(bad)
    if k >= 0 and on_diverge == "raise":
        raise _checks.NonFiniteError(_diverged(fn, k, steps, history, describe_rate(rate, static)),
                                     step=k, params=new_params, history=history)
    return new_params, history


def _traced(tree):
    return not _checks.is_concrete(tree)


# --- fit_epochs: Nielsen's SGD ----------------------------------------------------------------

class EpochHistory(NamedTuple):
    """What :func:`fit_epochs` records, one entry per epoch run (NumPy arrays).

    ``train_cost[e]``: mean cost of epoch e's mini-batches, each measured before its own
    update and weighted by its size (l2 term included). ``losses[e]``: those per-batch
    costs. ``test_cost[e]`` and ``test_correct[e]``: cost (l2 included) and number of
    correctly classified held-out samples after epoch e, out of ``test_total`` (None without
    ``test``). ``compile_seconds``: time to trace and compile the epoch program (about 0 when
    it was compiled by an earlier call); ``train_seconds``: wall time of all epochs after it.
    """
    train_cost: np.ndarray
    losses: np.ndarray
    test_cost: Optional[np.ndarray]
    test_correct: Optional[np.ndarray]
    test_total: Optional[int]
    compile_seconds: float
    train_seconds: float

    @property
    def test_accuracy(self):
        """``test_correct / test_total`` per epoch (None without test data)."""
        return None if self.test_total is None else self.test_correct / self.test_total


def _score(net, cost, params, x, y, l2):
    """Cost and number correct on ``(x, y)``: the largest output names the class (one
    output unit: output and target are both thresholded at 0.5)."""
    zs, activations = feedforward(net, params, x)
    a = activations[-1]
    value = jnp.mean(cost.value(zs[-1], y, net.layers[-1])) + weight_decay(params, l2)
    if a.shape[1] == 1:
        correct = jnp.sum((a[:, 0] > 0.5) == (y[:, 0] > 0.5))
    else:
        correct = jnp.sum(jnp.argmax(a, axis=1) == jnp.argmax(y, axis=1))
    return value, correct


@partial(jax.jit, static_argnames=("net", "cost", "optimizer", "labels", "batch_size",
                                   "drop_last", "grad", "batch_sharding", "transposed"))
def _epoch(params, opt_state, last, x, y, key, epoch, l2, values, x_test, y_test, *, net, cost,
           optimizer, labels, batch_size, drop_last, grad, batch_sharding=None, transposed=()):
    """The unchecked kernel of one epoch of :func:`fit_epochs`: ``(params, opt_state, last,
    bad, losses, train_cost, test_cost, test_correct)``; ``last`` (the last parameters with
    a finite loss) and ``bad`` as in :func:`_guarded`, steps counted from the start.
    ``params``, ``last`` and ``opt_state`` come in and go out stored as in :func:`_updater`
    (:func:`fit_epochs` converts once, before the first epoch and after the last)."""
    TRACES["fit_epochs"] += 1
    l2 = _l2_in_loop(l2, x.dtype)
    tx = transform(optimizer, values, labels)
    n = x.shape[0]
    per_epoch, rest = divmod(n, batch_size)
    short = bool(rest) and not drop_last
    steps = per_epoch + short
    first = epoch * steps
    perm = epoch_order(key, epoch, n)
    step = _guarded(_updater(net, cost, grad, tx, labels, l2, batch_sharding, transposed))

    def body(state, j):
        idx = jax.lax.dynamic_slice_in_dim(perm, j * batch_size, batch_size)
        return step(state, x[idx], y[idx], first + j)

    state = (params, opt_state, last, jnp.asarray(-1, jnp.int32))
    state, losses = jax.lax.scan(body, state, jnp.arange(per_epoch, dtype=jnp.int32))
    sizes = jnp.full((per_epoch,), batch_size, x.dtype)
    if short:  # the remaining samples as one shorter batch: the second compiled shape
        devices = None if batch_sharding is None else batch_sharding.mesh.shape.get("data")
        split = batch_sharding if devices and rest % devices == 0 else None
        short_step = _guarded(_updater(net, cost, grad, tx, labels, l2, split, transposed))
        idx = perm[per_epoch * batch_size:]
        state, loss = short_step(state, x[idx], y[idx], first + per_epoch)
        losses = jnp.append(losses, loss)
        sizes = jnp.append(sizes, jnp.asarray(rest, x.dtype))
    params, opt_state, last, bad = _settle(state, first + steps)
    train_cost = jnp.sum(losses * sizes) / jnp.sum(sizes)
    if x_test is None:
        return params, opt_state, last, bad, losses, train_cost, None, None
    test_cost, correct = _score(net, cost, _layout.stored(params, transposed), x_test, y_test, l2)
    return params, opt_state, last, bad, losses, train_cost, test_cost, correct


def fit_epochs(net, params, x, y, cost, optimizer, epochs, batch_size, key, *, test=None,
               l2=0.0, grad="manual", trainable=None, drop_last=False, progress=False,
               on_diverge="raise", mesh=None):
    """Nielsen's ``SGD(training_data, epochs, mini_batch_size, eta, test_data)``.

    Each epoch shuffles the training set, takes one optimizer step per mini-batch, and then
    scores ``test``. Returns ``(params, history)`` with an :class:`EpochHistory`.

    One epoch is one compiled program (traced and compiled once per shapes and dtype, and
    timed: ``history.compile_seconds``); the epochs loop in Python so that progress can be
    printed as it happens. A second call with the same shapes, or with another learning
    rate, reuses the program. This is a Python driver, not something to ``jax.jit`` or
    ``jax.vmap``: for many runs at once, vmap :func:`fit`.

    Args:
      net, params, x, y, cost, optimizer, grad, l2, trainable, mesh: as for :func:`fit`.
      epochs: number of passes over the training set, an int > 0.
      batch_size: mini-batch size, an int in [1, n].
      key: PRNG key for the shuffling (epoch e visits the samples in the order
        ``jaxbp.shuffle.epoch_order(key, e, n)``, as :func:`fit`).
      test: optional ``(x_test, y_test)``, scored after every epoch. A sample is correct
        when the largest output is at the target's largest entry (one output unit: output
        and target on the same side of 0.5).
      drop_last: when ``batch_size`` does not divide n, False (default, like Nielsen's
        code) trains on the remaining ``n % batch_size`` samples as one shorter last batch;
        True leaves them out of that epoch -- then ``fit_epochs`` and :func:`fit` with
        ``steps = epochs * (n // batch_size)`` take exactly the same steps.
      progress: print ``Epoch k: correct / total`` after each epoch (``Epoch k complete``
        without ``test``), like the book.
      on_diverge: ``"raise"`` (default) raises :class:`jaxbp.NonFiniteError` at the first
        non-finite loss, with the last finite params; ``"return"`` returns them, with the
        history of the epochs run so far (the failing epoch's costs are NaN).
    """
    fn = "fit_epochs"
    params, cost, x, y, l2, static, values, rate, labels = _common(
        fn, net, params, x, y, cost, optimizer, l2, grad, trainable, on_diverge)
    n = x.shape[0]
    epochs = check_positive_int(fn, "epochs", epochs)
    batch_size = check_positive_int(fn, "batch_size", batch_size, upper=n)
    key = _key(fn, key, batch_size)
    if not isinstance(drop_last, (bool, np.bool_)):
        raise TypeError(f"{fn}: drop_last must be a bool, got {type(drop_last).__name__}")
    x_test = y_test = None
    if test is not None:
        if not isinstance(test, (tuple, list)) or len(test) != 2:
            raise TypeError(f"{fn}: test must be a pair (x_test, y_test), "
                            f"got {type(test).__name__}")
        _, x_test, y_test, _ = _checks.prepare(f"{fn} (test data)", net, params, *test, cost)
    batch_sharding = None
    if mesh is not None:
        from .parallel import place_for_fit
        params, x, y, batch_sharding = place_for_fit(fn, mesh, params, x, y, batch_size)
    not_here = TypeError(f"{fn}: params, x and y must be concrete arrays, got traced values; "
                         f"{fn} loops over epochs in Python and cannot run inside jax.jit or "
                         f"jax.vmap (vmap jaxbp.fit instead)")
    if _traced((params, x, y)):
        raise not_here

    transposed = _transposed(net, grad, static, batch_size, batch_sharding)
    params = _layout.stored(params, transposed)  # converted back below
    opt_state = transform(static, values, labels).init(params)
    static_args = dict(net=net, cost=cost, optimizer=static, labels=labels,
                       batch_size=batch_size, drop_last=bool(drop_last), grad=grad,
                       batch_sharding=batch_sharding, transposed=transposed)
    last = params
    args = lambda e: (params, opt_state, last, x, y, key, jnp.asarray(e, jnp.int32), l2, values,
                      x_test, y_test)
    start = time.perf_counter()
    _epoch.lower(*args(0), **static_args).compile()  # cached: the calls below reuse it
    compile_seconds = time.perf_counter() - start
    rate_text = describe_rate(rate, static)
    start = time.perf_counter()
    records, bad = [], -1
    for e in range(epochs):
        params, opt_state, last, bad, *record = _epoch(*args(e), **static_args)
        if _traced(bad):  # everything was closed over by an enclosing jax.jit
            raise not_here
        records.append(jax.device_get(record))
        bad = int(bad)
        if progress:
            correct = records[-1][-1]
            print(f"Epoch {e}: {int(correct)} / {x_test.shape[0]}" if test is not None
                  else f"Epoch {e} complete", flush=True)
        if bad >= 0:
            break
    train_seconds = time.perf_counter() - start
    losses, train_cost, test_cost, correct = (np.stack(r) if r[0] is not None else None
                                              for r in zip(*records))
    history = EpochHistory(train_cost, losses, test_cost,
                           None if correct is None else correct.astype(np.int64),
                           None if x_test is None else int(x_test.shape[0]),
                           compile_seconds, train_seconds)
    params = _layout.stored(params, transposed)
    if bad >= 0 and on_diverge == "raise":
        flat, steps = losses.reshape(-1), losses.size
        message = _diverged(fn, bad, steps, flat, rate_text, f" (epoch {len(records) - 1})")
        raise _checks.NonFiniteError(message, step=bad, params=params, history=history)
    return params, history
