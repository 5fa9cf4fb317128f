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
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp


class Cost(NamedTuple):
    """A cost: ``value`` gives C_x per sample, ``delta`` gives BP1's dC_x/dz^L per sample.

    ``output`` names the output activation the cost requires (None: any with a
    derivative).
    """
    name: str
    value: Callable
    delta: Callable
    output: Optional[str] = None


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


# Nets with at least this many weights skip the L2 sum at run time when l2 == 0.
SKIP_L2_MIN_WEIGHTS = 1024


def skips_l2_sum(params):
    """Whether :func:`weight_decay` skips its sum of W**2 at run time when l2 == 0: nets of
    :data:`SKIP_L2_MIN_WEIGHTS` weights or more."""
    return sum(layer["W"].size for layer in params) >= SKIP_L2_MIN_WEIGHTS


def _half_sum_squares(weights, l2):
    return 0.5 * l2 * sum(jnp.sum(W ** 2) for W in weights)


@jax.custom_jvp
def _skipping_l2_term(weights, l2):
    """``_half_sum_squares``, not computed when ``l2 == 0`` (then it is 0)."""
    out = jax.eval_shape(_half_sum_squares, weights, l2)
    return jax.lax.cond(l2 != 0, _half_sum_squares, lambda *_: jnp.zeros(out.shape, out.dtype),
                        weights, l2)


@_skipping_l2_term.defjvp
def _skipping_l2_term_jvp(primals, tangents):
    """The exact derivative, also in l2 at l2 == 0 (``0.5 * sum(W**2)``, which the skipped
    branch alone would give as 0)."""
    (weights, l2), (d_weights, d_l2) = primals, tangents
    d_out = (l2 * sum(jnp.sum(W * dW) for W, dW in zip(weights, d_weights))
             + d_l2 * _half_sum_squares(weights, 1))
    return _skipping_l2_term(weights, l2), d_out


def weight_decay(params, l2):
    """The L2 term ``0.5 * l2 * sum over layers of sum(W**2)``; biases are not regularised.

    ``l2`` is usually a traced input (a new value does not recompile ``fit``, which passes
    a plain zero as a constant on the nets below: ``jaxbp.train._loop_l2``). For nets of
    :data:`SKIP_L2_MIN_WEIGHTS` weights or more the sum is only computed when ``l2 != 0``
    (``lax.cond``): otherwise every training step reads every weight once more to add zero
    to the recorded loss (2.3 us of W4's 4.4 us step). Its derivatives stay exact (a
    custom JVP: d/dl2 at l2 == 0 is ``0.5 * sum(W**2)``). Smaller nets always compute it:
    the sum costs less than the branch, and a conditional in a tiny loop body keeps
    XLA:CPU from compiling the loop into one function (W1's step went from 0.1 to 0.7 us).
    """
    weights = tuple(layer["W"] for layer in params)
    if not skips_l2_sum(params) or not isinstance(l2, jax.core.Tracer):
        return _half_sum_squares(weights, l2)
    return _skipping_l2_term(weights, l2)
