"""Backpropagation by hand: Nielsen's four equations, batch-first.

Nothing on this path calls ``jax.grad``, ``vjp`` or ``jvp``; :mod:`jaxbp.autodiff` is the
independent twin that checks it.
"""
from typing import NamedTuple, Sequence, Tuple

import jax
import jax.numpy as jnp

from . import _checks
from ._types import ArrayLike, Params, Scalar
from .costs import Cost, CostLike, weight_decay
from .network import MLP, feedforward


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
    grads: Params

    def _repr_html_(self):  # a table in Jupyter
        from . import _html
        return _html.trace(self)


def trace(net: MLP, params: Params, x: ArrayLike, y: ArrayLike, cost: CostLike,
          l2: Scalar = 0.0) -> Trace:
    """Run :func:`backprop` and return every intermediate as a :class:`Trace`."""
    cost, x, y, l2 = _checks.prepare("trace", net, params, x, y, cost, l2)
    tr = _trace(net, cost, tuple(params), x, y, l2)
    return tr._replace(grads=type(params)(tr.grads))


def backprop(net: MLP, params: Params, x: ArrayLike, y: ArrayLike, cost: CostLike,
             l2: Scalar = 0.0) -> Tuple[jax.Array, Params]:
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


def kernel(net: MLP, cost: Cost, params: Params, x: jax.Array, y: jax.Array, l2: Scalar) -> Trace:
    """The unchecked kernel, a :class:`Trace`: x and y 2-D in the params dtype, l2 a scalar
    (a Python 0 drops the term). :func:`jaxbp.make_step` calls it inside its update."""
    zs, activations = feedforward(net, params, x)
    delta = cost.delta(zs[-1], y, net.layers[-1])                                     # BP1
    deltas, grads = backward(net, params, zs, activations, delta, x.shape[0], l2)
    loss = jnp.mean(cost.value(zs[-1], y, net.layers[-1])) + weight_decay(params, l2)
    return Trace(loss, tuple(zs), tuple(activations), deltas, grads)


_trace = jax.jit(kernel, static_argnums=(0, 1))  # for the eager, checked functions above


def backward(net: MLP, params: Params, zs: Sequence[jax.Array], activations: Sequence[jax.Array],
             delta: jax.Array, n: int = 1, l2: Scalar = 0.0
             ) -> Tuple[Tuple[jax.Array, ...], Params]:
    """BP2-BP4, from the output layer's error ``delta`` (BP1; one row per sample).

    Returns ``(deltas, grads)``: every layer's error, and the gradient of the sum of the
    per-sample costs divided by ``n`` (the batch size, for :func:`backprop`'s mean; 1 for
    ``jaxbp.manual_vjp``, whose cotangent already weighs each row), plus ``l2 * W``.
    """
    deltas = [delta]
    for l in reversed(range(len(params) - 1)):
        deltas.insert(0, (deltas[0] @ params[l + 1]["W"].T) * net.layers[l].prime(zs[l]))  # BP2
    grads = tuple({"W": activations[l].T @ deltas[l] / n + l2 * params[l]["W"],          # BP4
                   "b": jnp.sum(deltas[l], axis=0) / n}                                  # BP3
                  for l in range(len(params)))
    return tuple(deltas), grads
