"""Costs as plain pairs ``(value, delta)``, both functions of the output layer's weighted
input ``z`` (the logits), the targets ``y`` and the output activation.

``value(z, y, act)`` is the per-sample cost C_x, shape ``(batch,)``; the network's cost is
its mean over the batch (plus the optional L2 term, added by :func:`jaxbp.loss`).
``delta(z, y, act)`` is the per-sample output error delta^L = dC_x/dz^L -- equation BP1.

Both cross-entropies are computed from the logits ``z``, never from probabilities, so they
stay finite when the output saturates (E24, E25), and their BP1 is the fused form
``a - y`` computed from ``z`` (E26). The quadratic cost uses the general form
``(a - y) * sigma'(z)``.

====================== ===================================================== ==========
name                   C_x                                                    output
====================== ===================================================== ==========
quadratic              0.5 * sum_j (a_j - y_j)**2                             any but softmax
cross_entropy          -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)]            sigmoid
softmax_cross_entropy  -sum_j y_j ln softmax(z)_j                             softmax
====================== ===================================================== ==========
"""
from typing import Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from ._types import Params, Scalar


class Cost(NamedTuple):
    """A cost: ``value`` gives C_x per sample, ``delta`` gives BP1's dC_x/dz^L per sample.

    ``output`` names the output activation the cost requires (None: any with a
    derivative).
    """
    name: str
    value: Callable
    delta: Callable
    output: Optional[str] = None


CostLike = Union[str, Cost]   # a cost by name (a key of COSTS) or a Cost


def _quadratic_value(z, y, act):
    return 0.5 * jnp.sum((act.fn(z) - y) ** 2, axis=-1)


def _quadratic_delta(z, y, act):
    return (act.fn(z) - y) * act.prime(z)


def _cross_entropy_value(z, y, act):
    # -[y ln sigmoid(z) + (1 - y) ln sigmoid(-z)]: no log of a rounded probability.
    return -jnp.sum(y * jax.nn.log_sigmoid(z) + (1 - y) * jax.nn.log_sigmoid(-z), axis=-1)


def _cross_entropy_delta(z, y, act):
    return jax.nn.sigmoid(z) - y


def _softmax_cross_entropy_value(z, y, act):
    return -jnp.sum(y * jax.nn.log_softmax(z, axis=-1), axis=-1)


def _softmax_cross_entropy_delta(z, y, act):
    return jax.nn.softmax(z, axis=-1) - y


quadratic = Cost("quadratic", _quadratic_value, _quadratic_delta)
cross_entropy = Cost("cross_entropy", _cross_entropy_value, _cross_entropy_delta, "sigmoid")
softmax_cross_entropy = Cost("softmax_cross_entropy", _softmax_cross_entropy_value,
                             _softmax_cross_entropy_delta, "softmax")

COSTS = {"cross_entropy": cross_entropy, "quadratic": quadratic,
         "softmax_cross_entropy": softmax_cross_entropy}


def weight_decay(params: Params, l2: Scalar) -> Scalar:
    """The L2 term ``0.5 * l2 * sum over layers of sum(W**2)``; biases are not regularised.

    A Python number is a constant of the compiled program, and a Python zero drops the term
    (no sum over the weights at all); an array ``l2`` is a traced input.
    """
    if isinstance(l2, (int, float)) and l2 == 0:
        return 0.0
    return 0.5 * l2 * sum(jnp.sum(layer["W"] ** 2) for layer in params)
