"""Many runs of one training loop at once, their run axis LAST: what ``jax.vmap(jaxbp.fit)`` runs.

``jax.vmap`` puts the run axis first, so each small matrix product of BP1-BP4 (2x2 on XOR)
becomes a batch of R tiny matrix products: slow on a CPU. This kernel keeps every array as
``(batch, units, runs)`` -- a weight as ``(n_in, n_out, runs)`` -- and writes each product
as a short unrolled sum of broadcast products (:func:`dot`, :func:`dot_t`, :func:`outer`),
so that every operation is one vector operation over the R runs. It computes what
:func:`jaxbp.backprop` computes, equation by equation (BP1-BP4 below). The activations, the
cost and the optimizer are the core's own, applied to each run with
``jax.vmap(f, in_axes=-1, out_axes=-1)``: for elementwise functions that moves no data, and
it is right for softmax and for any optax transformation.

Where it runs: :func:`attach` wraps a per-run training loop -- ``jaxbp.fit``'s, and
``jaxbp.sweep.train_many``'s -- in ``jax.custom_batching.custom_vmap``, so that ``jax.vmap``
of the loop runs this kernel. The one rule, :func:`unsupported`: the kernel takes loops
with ``grad="manual"`` whose every sum (over a layer's fan-in, its fan-out, or the rows of
a batch) has at most :data:`MAX_UNROLL` terms and whose every layer has at most
:data:`MAX_LAYER` multiply-adds per update (rows x fan-in x fan-out); every other loop is
``jax.vmap``-ed as it is (``grad="autodiff"`` keeps jax.grad's program, and bigger layers
are faster as batched matrix products). The wrapped loop also carries a ``jax.custom_jvp`` whose rule is the
plain loop's derivative, so ``jax.grad`` and ``jax.jvp`` of ``fit`` work as before
(``custom_vmap`` alone has no reverse mode).

Each runs-last array has a trailing axis of size R, or of size 1 when all runs share it
(x and y when only the parameters are vmapped).
"""
from typing import Callable, Dict, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import optax

from ._types import Params, PRNGKey, PyTree, Scalar
from .costs import Cost
from .network import MLP
from .optim import Labels, StaticLike, transform
from .progress import Reporter, scan
from .shuffle import epoch_order, next_batch

# The rule (:func:`unsupported`): the largest sum written out term by term (rows, fan-in,
# fan-out), and the largest layer, in multiply-adds per run and update.
MAX_UNROLL = 64
MAX_LAYER = 4096
# How often the vmap rule chose each path (once per compiled program); for tests and the curious.
TRACES = {"runs_last": 0, "vmap": 0}

__all__ = ["MAX_LAYER", "MAX_UNROLL", "TRACES", "attach", "backprop", "dot", "dot_t", "kernel",
           "outer", "row_sum", "unsupported"]

# One run's training loop: loop(params, x, y, key, values, l2) -> (params, history).
Loop = Callable[[Params, jax.Array, jax.Array, Optional[PRNGKey], Dict[str, jax.Array],
                 Optional[jax.Array]], Tuple[Params, PyTree]]
# record(loss, outputs, y) -> what the history keeps of a step (of one run).
Record = Callable[[jax.Array, jax.Array, jax.Array], PyTree]


def unsupported(net: MLP, grad: str, rows: int) -> Optional[str]:
    """Why the runs-last kernel does not take a loop (None when it does): the one rule.

    ``rows`` is the number of samples per update (the batch size, or n for the full batch).
    The kernel's work per layer is ``rows * n_in * n_out`` multiply-adds per run done as
    vector operations over the runs; a batch of matrix products does the same work better
    once the matrices are big enough. Measured on XLA:CPU (1,024 runs, float32, runs-last
    time / vmap time): 2-8-1 at 4 rows 0.36, 2-16-1 at 16 rows 0.34, 4-16-4 at 16 rows
    0.46, 16-16-16 at 16 rows 0.87, 8-64-8 at 32 rows 1.85, 32-32-32 at 32 rows 3.8.
    """
    if grad != "manual":
        return f"grad={grad!r}: jax.vmap of jax.grad's own program"
    for l, (n_in, n_out) in enumerate(zip(net.sizes[:-1], net.sizes[1:])):
        if max(n_in, n_out, rows) > MAX_UNROLL:
            return (f"layer {l}: a sum over {max(n_in, n_out, rows)} terms > MAX_UNROLL = "
                    f"{MAX_UNROLL} (rows {rows}, n_in {n_in}, n_out {n_out})")
        if rows * n_in * n_out > MAX_LAYER:
            return (f"layer {l}: rows * n_in * n_out = {rows} * {n_in} * {n_out} > MAX_LAYER = "
                    f"{MAX_LAYER}: batched matrix products are faster")
    return None


# ---- the three matrix products, runs last ----------------------------------------------

def dot(a: jax.Array, W: jax.Array) -> jax.Array:
    """``a @ W`` for every run: ``(n, i, R) x (i, j, R) -> (n, j, R)``, the sum over i unrolled."""
    out = a[:, 0, None] * W[None, 0]
    for i in range(1, W.shape[0]):
        out = out + a[:, i, None] * W[None, i]
    return out


def dot_t(delta: jax.Array, W: jax.Array) -> jax.Array:
    """``delta @ W.T`` for every run: ``(n, j, R) x (i, j, R) -> (n, i, R)``, unrolled over j."""
    out = delta[:, 0, None] * W[None, :, 0]
    for j in range(1, W.shape[1]):
        out = out + delta[:, j, None] * W[None, :, j]
    return out


def outer(a: jax.Array, delta: jax.Array) -> jax.Array:
    """``a.T @ delta`` for every run: ``(n, i, R), (n, j, R) -> (i, j, R)``, unrolled over
    the n rows."""
    out = a[0][:, None] * delta[0][None]
    for k in range(1, a.shape[0]):
        out = out + a[k][:, None] * delta[k][None]
    return out


def row_sum(a: jax.Array) -> jax.Array:
    """``a.sum(axis=0)`` as an unrolled sum over the rows (XLA:CPU runs a reduction over a
    short leading axis as a library call; a chain of adds fuses with its neighbours)."""
    out = a[0]
    for k in range(1, a.shape[0]):
        out = out + a[k]
    return out


def _each(fn, *args):
    """``fn`` applied to each run; ``args`` have their runs last (size R, or 1 if shared)."""
    runs = max(a.shape[-1] for a in args)
    axes = tuple(-1 if a.shape[-1] == runs else None for a in args)
    args = tuple(a if axis == -1 else a[..., 0] for a, axis in zip(args, axes))
    return jax.vmap(fn, in_axes=axes, out_axes=-1)(*args)


def backprop(net: MLP, cost: Cost, params: Params, x: jax.Array, y: jax.Array, l2: Scalar
             ) -> Tuple[jax.Array, jax.Array, Params]:
    """Loss ``(R,)``, outputs ``(n, n_out, R)`` and grads (like params) of every run.

    The equations of :func:`jaxbp.backprop`, runs last; ``l2`` is a Python number (zero
    drops the term) or an array of shape (R,) or (1,).
    """
    zs, activations = [], [x]
    for layer, act in zip(params, net.layers):
        zs.append(dot(activations[-1], layer["W"]) + layer["b"][None])
        activations.append(_each(act.fn, zs[-1]))
    last, n = net.layers[-1], x.shape[0]
    l2_term = not (isinstance(l2, (int, float)) and l2 == 0)
    l2_w = l2 if isinstance(l2, (int, float)) else l2[None, None]  # broadcast over (i, j, R)
    deltas = [_each(lambda z, y: cost.delta(z, y, last), zs[-1], y)]                  # BP1
    for l in reversed(range(len(params) - 1)):
        deltas.insert(0, dot_t(deltas[0], params[l + 1]["W"])
                      * _each(net.layers[l].prime, zs[l]))                             # BP2
    grads = []
    for l, layer in enumerate(params):
        gW = outer(activations[l], deltas[l]) / n                                     # BP4
        grads.append({"W": gW + l2_w * layer["W"] if l2_term else gW,
                      "b": row_sum(deltas[l]) / n})                                   # BP3
    loss = row_sum(_each(lambda z, y: cost.value(z, y, last), zs[-1], y)) / n
    if l2_term:
        loss = loss + 0.5 * l2 * sum(jnp.sum(layer["W"] ** 2, axis=(0, 1)) for layer in params)
    return loss, activations[-1], tuple(grads)


# ---- the loop --------------------------------------------------------------------------

def _optimizer(optimizer, labels, dtype):
    """``init(params, values)`` and ``update(grads, opt_state, params, values)`` of ONE run,
    as :class:`jaxbp.Step` does them (frozen leaves pass through untouched)."""
    def tx(values):
        return transform(optimizer, {k: jnp.asarray(v, dtype) for k, v in values.items()}, labels)

    def init(params, values):
        return tx(values).init(params)

    def update(grads, opt_state, params, values):
        updates, opt_state = tx(values).update(grads, opt_state, params)
        new = optax.apply_updates(params, updates)
        if labels is not None:
            new = tuple({k: new[l][k] if how == "train" else params[l][k] for k, how in layer}
                        for l, layer in enumerate(labels))
        return new, opt_state
    return init, update


def _last(a, batched, runs):
    """A runs-first batched array (or a shared one) with its runs last (size R or 1)."""
    return jnp.moveaxis(a, 0, -1) if batched else a[..., None]


def kernel(runs: int, batched: Sequence[PyTree], params: Params, x: jax.Array, y: jax.Array,
           key: Optional[PRNGKey], values: Dict[str, jax.Array], l2: Optional[jax.Array], *,
           net: MLP, cost: Cost, optimizer: StaticLike, labels: Optional[Labels],
           l2_const: Optional[float], steps: int, batch_size: Optional[int],
           record: Optional[Record] = None, report: Optional[Reporter] = None
           ) -> Tuple[Params, PyTree]:
    """The loop of ``jaxbp.fit`` for ``runs`` runs at once: ``(params, history)``, runs first.

    ``batched`` says, like the arguments, which of them carry a leading run axis (as
    ``custom_vmap`` hands them over). ``history[r, i]`` is ``record(loss, outputs, y)`` of
    run r's step i (the loss, outputs and targets of the batch before its update), or the
    loss when ``record`` is None; ``report`` as in :func:`jaxbp.progress.scan`. The arguments are those of ``fit``'s kernel
    (``jaxbp.train._run``): ``l2`` is None when ``l2_const`` is a Python number.
    """
    b_params, b_x, b_y, b_key, b_values, b_l2 = batched
    dtype = x.dtype
    params = jax.tree_util.tree_map(
        lambda a, b: jnp.moveaxis(a, 0, -1) if b else jnp.broadcast_to(a[..., None], a.shape + (runs,)),
        tuple(params), tuple(b_params))
    x, y = _last(x, b_x, runs), _last(y, b_y, runs)
    l2 = l2_const if l2 is None else _last(jnp.asarray(l2, dtype), b_l2, runs)
    init, update = _optimizer(optimizer, labels, dtype)
    value_axes = {k: 0 if b else None for k, b in b_values.items()}
    opt_state = jax.vmap(init, in_axes=(-1, value_axes), out_axes=-1)(params, values)
    update = jax.vmap(update, in_axes=(-1, -1, -1, value_axes), out_axes=-1)
    n = x.shape[0]

    def order(epoch):  # the epoch's permutation, (n, R) or (n, 1) when every run shares it
        if b_key:
            return jax.vmap(epoch_order, in_axes=(0, None, None), out_axes=-1)(key, epoch, n)
        return epoch_order(key, epoch, n)[:, None]

    def body(carry, i):
        params, opt_state, perm = carry
        if batch_size is None:
            xb, yb = x, y
        else:
            idx, perm = next_batch(order, i, batch_size, n, perm)
            idx = idx[:, None]
            xb, yb = (jnp.take_along_axis(a, idx, axis=0) for a in (x, y))
        loss, outputs, grads = backprop(net, cost, params, xb, yb, l2)
        params, opt_state = update(grads, opt_state, params, values)
        out = loss if record is None else _each(record, loss, outputs, yb)
        return (params, opt_state, perm), out

    perm = None if batch_size is None else jnp.zeros((n, runs if b_key else 1), jnp.int32)
    (params, _, _), history = scan(body, (params, opt_state, perm), steps, report)
    first = lambda a: jnp.moveaxis(a, -1, 0)
    return jax.tree_util.tree_map(first, params), jax.tree_util.tree_map(first, history)


def attach(loop: Loop, *, net: MLP, cost: Cost, optimizer: StaticLike, grad: str,
           labels: Optional[Labels], l2_const: Optional[float], steps: int,
           batch_size: Optional[int], record: Optional[Record] = None,
           report: Optional[Reporter] = None) -> Loop:
    """``loop(params, x, y, key, values, l2) -> (params, history)``, one run, with a
    ``jax.vmap`` rule: the runs-last :func:`kernel` when :func:`unsupported` says nothing,
    else ``jax.vmap`` of ``loop`` itself. Its derivative is ``loop``'s (``jax.custom_jvp``).

    The keyword arguments are ``loop``'s static description (those of
    ``jaxbp.train._run``), and ``record`` and ``report`` those of :func:`kernel`, which
    ``loop`` must match.
    Under ``jax.debug_nans``/``jax.debug_infs`` (``fit(..., debug=True)``) ``loop`` comes
    back as it is, so that JAX's de-optimised re-run can name the operation that failed.
    """
    if jax.config.jax_debug_nans or jax.config.jax_debug_infs:
        return loop  # plain, so that JAX's de-optimised re-run can name the failing operation
    fast = jax.custom_batching.custom_vmap(loop)

    @fast.def_vmap
    def rule(runs, batched, params, x, y, key, values, l2):
        rows = x.shape[-2] if batch_size is None else batch_size
        args = (params, x, y, key, values, l2)
        if unsupported(net, grad, rows) is not None:
            TRACES["vmap"] += 1
            axes = jax.tree_util.tree_map(lambda b: 0 if b else None, tuple(batched))
            out = jax.vmap(loop, in_axes=axes)(*args)
        else:
            TRACES["runs_last"] += 1
            out = kernel(runs, batched, *args, net=net, cost=cost, optimizer=optimizer,
                         labels=labels, l2_const=l2_const, steps=steps, batch_size=batch_size,
                         record=record, report=report)
        return out, jax.tree_util.tree_map(lambda _: True, out)

    differentiable = jax.custom_jvp(fast)
    differentiable.defjvp(lambda primals, tangents: jax.jvp(loop, primals, tangents))
    return differentiable
