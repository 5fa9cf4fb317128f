"""The network's cost as a plain function, and its gradient by ``jax.value_and_grad``.

:func:`autodiff` is the independent twin of :func:`jaxbp.backprop`: it shares the forward
pass and the cost values, and no gradient code.
"""
from functools import partial
from typing import Optional, Sequence, Tuple

import jax
import jax.numpy as jnp

from . import _checks
from ._types import ArrayLike, Params, Scalar
from .costs import Cost, CostLike, weight_decay
from .network import MLP, feedforward


def loss(net: MLP, params: Params, x: ArrayLike, y: ArrayLike, cost: CostLike,
         l2: Scalar = 0.0) -> jax.Array:
    """C = mean over the batch of C_x, plus ``0.5 * l2 * sum ||W||^2``."""
    cost, x, y, l2 = _checks.prepare("loss", net, params, x, y, cost, l2)
    return _loss(net, cost, params, x, y, l2)


def autodiff(net: MLP, params: Params, x: ArrayLike, y: ArrayLike, cost: CostLike,
             l2: Scalar = 0.0) -> Tuple[jax.Array, Params]:
    """``(loss, grads)`` by ``jax.value_and_grad`` of :func:`loss`; same contract as backprop."""
    cost, x, y, l2 = _checks.prepare("autodiff", net, params, x, y, cost, l2)
    return _value_and_grad(net, cost, params, x, y, l2)


def kernel(net: MLP, cost: Cost, params: Params, x: jax.Array, y: jax.Array, l2: Scalar,
           offsets: Optional[Sequence[jax.Array]] = None) -> jax.Array:
    """The unchecked cost. ``offsets`` (one per layer, shaped like z) are added to the
    weighted inputs, so that the gradient with respect to them is n * delta."""
    zs, activations = feedforward(net, params, x, offsets)
    return jnp.mean(cost.value(zs[-1], y, net.layers[-1])) + weight_decay(params, l2)


_loss = kernel
value_and_grad = jax.value_and_grad(kernel, argnums=2)  # unjitted, for jaxbp.make_step
_value_and_grad = jax.jit(value_and_grad, static_argnums=(0, 1))


@partial(jax.jit, static_argnums=(0, 1))
def autodiff_deltas(net: MLP, cost: Cost, params: Params, x: jax.Array, y: jax.Array,
                    l2: Scalar) -> Tuple[jax.Array, ...]:
    """Per-sample dC_x/dz for every layer, by ``jax.grad`` (for checking BP1 and BP2)."""
    offsets = tuple(jnp.zeros((x.shape[0], n), x.dtype) for n in net.sizes[1:])
    g = jax.grad(lambda o: _loss(net, cost, params, x, y, l2, o))(offsets)
    return tuple(x.shape[0] * d for d in g)
