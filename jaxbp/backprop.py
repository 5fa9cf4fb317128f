"""Backpropagation by hand: Nielsen's four equations, batch-first.

Nothing on this path calls ``jax.grad``, ``vjp`` or ``jvp``; :mod:`jaxbp.autodiff` is the
independent twin that checks it.
"""
from functools import partial
from typing import NamedTuple, Tuple

import jax
import jax.numpy as jnp

from . import _checks
from .costs import weight_decay
from .network import feedforward


class Trace(NamedTuple):
    """Every intermediate of one backward pass (a pytree).

    ``zs[l]``: weighted input of layer l, ``(batch, n_{l+1})``. ``activations[l]``: input to
    layer l (``activations[0]`` is x, ``activations[-1]`` the output). ``deltas[l]``:
    per-sample error dC_x/dz of layer l (Nielsen's delta^{x,l}, before the batch mean).
    ``grads``: dC/dparams of the batch-mean cost, structured like ``params``. ``loss``: C.
    """
    loss: jax.Array
    zs: Tuple[jax.Array, ...]
    activations: Tuple[jax.Array, ...]
    deltas: Tuple[jax.Array, ...]
    grads: Tuple[dict, ...]


def trace(net, params, x, y, cost, l2=0.0):
    """Run :func:`backprop` and return every intermediate as a :class:`Trace`."""
    cost, x, y, l2 = _checks.prepare("trace", net, params, x, y, cost, l2)
    tr = _trace(net, cost, tuple(params), x, y, l2)
    return tr._replace(grads=type(params)(tr.grads))


def backprop(net, params, x, y, cost, l2=0.0):
    """The cost and its gradient, by the four equations of backpropagation.

    With ``z^l = a^{l-1} @ W^l + b^l`` and ``a^l = sigma(z^l)`` for a batch of n samples
    (one per row), and C the batch mean of the per-sample costs C_x (plus
    ``0.5 * l2 * sum ||W||^2``)::

        BP1  delta^L = grad_a C_x * sigma'(z^L)         (= a^L - y for sigmoid + cross-entropy
                                                          and softmax + softmax cross-entropy)
        BP2  delta^l = (delta^{l+1} @ W^{l+1}.T) * sigma'(z^l)
        BP3  dC/db^l = mean over the batch of delta^l
        BP4  dC/dW^l = a^{l-1}.T @ delta^l / n  (+ l2 * W^l)

    ``*`` is the elementwise (Hadamard) product and ``delta^l`` has one row per sample.

    Args:
      net: the :class:`jaxbp.MLP`.
      params: a tuple of ``{"W", "b"}`` dicts.
      x: inputs ``(batch, n_in)``, or one sample ``(n_in,)``.
      y: targets ``(batch, n_out)`` (integer labels ``(batch,)`` for softmax cross-entropy).
      cost: ``"quadratic"``, ``"cross_entropy"``, ``"softmax_cross_entropy"`` or a Cost.
      l2: weight-decay strength (weights only).

    Returns:
      ``(loss, grads)``, ``grads`` with the structure, shapes and dtypes of ``params``.
    """
    cost, x, y, l2 = _checks.prepare("backprop", net, params, x, y, cost, l2)
    tr = _trace(net, cost, tuple(params), x, y, l2)
    return tr.loss, type(params)(tr.grads)  # the container params came in (a tuple)


@partial(jax.jit, static_argnums=(0, 1, 6))
def _trace(net, cost, params, x, y, l2, transposed=()):
    """The unchecked kernel: x, y 2-D in the params dtype, l2 a scalar (transposed: see _layout)."""
    zs, activations = feedforward(net, params, x, transposed=transposed)
    sigma = net.layers
    n = x.shape[0]
    deltas = [cost.delta(zs[-1], y, sigma[-1])]                                       # BP1
    for l in reversed(range(len(params) - 1)):
        deltas.insert(0, (deltas[0] @ params[l + 1]["W"].T) * sigma[l].prime(zs[l]))  # BP2
    grads = tuple({"W": _outer_sum(activations[l], deltas[l], l - 1 in transposed) / n + l2 * params[l]["W"],  # BP4
                   "b": jnp.mean(deltas[l], axis=0)}                                  # BP3
                  for l in range(len(params)))
    loss = jnp.mean(cost.value(zs[-1], y, sigma[-1])) + weight_decay(params, l2)
    return Trace(loss, tuple(zs), tuple(activations), tuple(deltas), grads)


# The smallest BP4 product, in multiply-adds (batch x n_in x n_out), that ``_outer_sum``
# computes in the transposed layout.
OUTER_SUM_MIN_MACS = 1 << 14


def _outer_sum(a, delta, a_stored_transposed=False):
    """``a.T @ delta``: BP4's sum over the batch of the outer products ``a_x delta_x^T``.

    For big layers it is computed as ``(delta.T @ a).T``: XLA's CPU matrix product is
    twice as fast writing the (n_out, n_in) result as the (n_in, n_out) one (W5's
    784x128x100: 88 us instead of 175 us, one core), and the transpose then costs a
    strided read in the update (about 14 us). ``optimization_barrier`` keeps XLA from
    rewriting it back. Small products stay as written, fused by XLA into the loop around
    them.

    ``a_stored_transposed``: ``a`` is the output of a layer whose product ran in the
    transposed layout (:mod:`jaxbp._layout`), so it is held as ``(n_in, batch)``. Then
    ``a.T @ delta`` reads both operands as they are stored and is the fast form (W5's
    output layer, 128x100 -> 10: 3.2 us instead of 7.0 us for the product; 784-256-64-10
    at batch 128, the middle layer's: 18 us instead of 42 us).
    """
    if a_stored_transposed or a.shape[0] * a.shape[1] * delta.shape[1] < OUTER_SUM_MIN_MACS:
        return a.T @ delta
    return jax.lax.optimization_barrier(delta.T @ a).T
