"""BP1-BP4 as the backward pass that ``jax.grad`` itself uses, wherever the net sits.

:func:`manual_vjp` and :func:`manual_loss` register the hand-written equations with
``jax.custom_vjp``: any JAX program that differentiates through them -- a user's penalty, an
optax loss, an MLP inside a bigger model -- runs Nielsen's four equations instead of JAX's
own autodiff. :func:`check_hessian` audits the second derivative, which JAX gets by
differentiating the hand-written backward pass itself.

Forward mode does not exist for a ``custom_vjp`` function: ``jax.jvp`` and ``jax.jacfwd``
applied directly to these functions raise a ``TypeError`` naming the function (never a wrong
number). Forward-over-reverse (``jax.hessian``, ``jax.jacfwd(jax.grad(...))``) works, because
the outer forward pass then differentiates the backward code, which is plain ``jax.numpy``.
"""
from functools import partial
from typing import NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from . import _checks
from .autodiff import kernel as _autodiff_loss
from .backprop import _trace, backward
from .costs import weight_decay
from .gradcheck import TOLERANCES, relative_error
from .network import MLP, feedforward

MAX_HESSIAN_PARAMS = 4096   # check_hessian/hessian build the full P x P matrix


# ------------------------------------------------------------------ the net as a function

def manual_vjp(net):
    """``f(params, x) == net.apply(params, x)``, whose reverse-mode derivative is BP1-BP4.

    Given the cotangent ``g = dC/da^L`` of *any* scalar C computed downstream (one row per
    sample), the backward pass is::

        BP1  delta^L = g * sigma'(z^L)        (softmax output: a * (g - sum_j g_j a_j),
                                               the product with softmax's Jacobian)
        BP2  delta^l = (delta^{l+1} @ W^{l+1}.T) * sigma'(z^l)
        BP3  dC/db^l = sum over the batch of delta^l
        BP4  dC/dW^l = a^{l-1}.T @ delta^l
        dC/dx        = delta^1 @ W^1.T        (BP2 carried down to the input, which has
                                               no activation, so no sigma')

    BP3 and BP4 sum over the batch (no 1/n): how the samples are weighed is C's business,
    and arrives in ``g``. The forward pass saves ``zs`` and the activations as residuals.
    ``jax.grad``, ``jax.jit``, ``jax.vmap``, ``lax.scan`` and reverse-over-reverse
    (``jax.jacrev(jax.grad(...))``, ``jax.hessian``) all work; ``jax.jvp``/``jax.jacfwd`` of
    ``f`` itself raise a TypeError (forward mode of a ``custom_vjp`` function).

    ``x`` is ``(batch, n_in)`` or one sample ``(n_in,)`` (then the output is 1-D), of any
    real dtype, cast to the params dtype like :meth:`MLP.apply`.
    """
    _check_net("manual_vjp", net)

    def apply(params, x):
        dtype = _checks.check_params("manual_vjp", net, params)
        x2 = _checks.prepare_x("manual_vjp", net, x, dtype)
        out = _no_forward_mode("manual_vjp", _net, net, tuple(params), x2)
        return out[0] if np.ndim(x) == 1 else out

    apply.__doc__ = f"{net!r}.apply(params, x), differentiated by BP1-BP4 (jaxbp.manual_vjp)."
    return apply


_forward = jax.jit(feedforward, static_argnums=0)   # (zs, activations)


def _net_primal(net, params, x):
    return _forward(net, params, x)[1][-1]


def _net_fwd(net, params, x):
    zs, activations = _forward(net, params, x)
    return activations[-1], (params, zs, activations)


def _net_bwd(net, residuals, g):
    params, zs, activations = residuals
    output = net.layers[-1]
    if output.prime is None:                                   # softmax: a * (g - <g, a>)
        a = activations[-1]
        delta = a * (g - jnp.sum(g * a, axis=-1, keepdims=True))                      # BP1
    else:
        delta = g * output.prime(zs[-1])                                              # BP1
    deltas, grads = backward(net, params, zs, activations, delta)                 # BP2-BP4
    return grads, deltas[0] @ params[0]["W"].T                                     # dC/dx


_net = jax.custom_vjp(_net_primal, nondiff_argnums=(0,))
_net.defvjp(_net_fwd, jax.jit(_net_bwd, static_argnums=0))  # named in a gradient's jaxpr


# ------------------------------------------------------------------ the cost as a function

def manual_loss(net, cost, l2=0.0):
    """``loss(params, x, y)``: the batch-mean cost of :func:`jaxbp.loss`, whose VJP is
    :func:`jaxbp.backprop`'s kernel (with its fused BP1 ``a - y`` where the cost allows).

    ``jax.value_and_grad(loss)(params, x, y)`` equals ``jaxbp.backprop(net, params, x, y,
    cost, l2)`` bit for bit (called eagerly; under ``jit`` to rounding). Terms can be added:
    ``jax.grad(lambda p: loss(p, x, y) + 1e-3 * l1(p))`` runs BP1-BP4 for the cost and
    autodiff for the rest. The forward pass runs the whole kernel and keeps its gradient as
    the residual; the backward pass scales it by the incoming cotangent. Also given:
    ``dC/dx = mean-weighted delta^1 @ W^1.T`` and ``dC/dy`` (by ``jax.vjp`` of the cost's
    value: no BP equation covers the targets).

    Second order: because the residual gradient is *computed* by the hand-written kernel in
    ``jax.numpy``, ``jax.jacrev(jax.grad(loss))`` (or ``jax.hessian``) differentiates that
    kernel's code -- the Hessian of the manual backward, not of JAX's. A wrong equation
    gives a wrong Hessian, and :func:`check_hessian` names the layer.

    ``net``, ``cost`` and ``l2`` are checked here, once; ``l2`` is a constant of the loss
    (a Python number, zero drops the term). Inputs are checked at every call like
    :func:`jaxbp.backprop` (integer labels for softmax cross-entropy are one-hot encoded).
    """
    _check_net("manual_loss", net)
    cost = _checks.resolve_cost("manual_loss", cost, net.activations[-1])
    l2 = _checks.check_l2("manual_loss", l2)
    if isinstance(l2, jax.core.Tracer):
        raise TypeError("manual_loss: l2 must be a concrete number (a constant of the loss), "
                        "got a traced value; build the loss outside jax.jit/grad/vmap")

    def loss(params, x, y):
        _, x, y, _ = _checks.prepare("manual_loss", net, params, x, y, cost, l2)
        return _no_forward_mode("manual_loss", _loss, net, cost, l2, tuple(params), x, y)

    loss.__doc__ = (f"The {cost.name} cost of {net!r} (l2={l2}), differentiated by "
                    f"jaxbp.backprop's kernel (jaxbp.manual_loss).")
    return loss


def _value(net, cost, l2, params, x, y):
    """C alone (no gradient wanted): the forward pass and the cost, as backprop's kernel
    computes them (``l2`` an array there too, so C agrees with it to rounding)."""
    return _cost(net, cost, params, x, y, jnp.asarray(l2, x.dtype))


@partial(jax.jit, static_argnums=(0, 1))
def _cost(net, cost, params, x, y, l2):
    zs, _ = feedforward(net, params, x)
    return jnp.mean(cost.value(zs[-1], y, net.layers[-1])) + weight_decay(params, l2)


def _loss_fwd(net, cost, l2, params, x, y):
    tr = _trace(net, cost, params, x, y, jnp.asarray(l2, x.dtype))   # what backprop runs
    return tr.loss, (tr.grads, tr.deltas[0], params[0]["W"], tr.zs[-1], y)


def _loss_bwd(net, cost, l2, residuals, g):
    grads, delta_1, W_1, z_L, y = residuals
    dx = (delta_1 @ W_1.T) / delta_1.shape[0]             # deltas are per sample: mean
    _, cost_vjp = jax.vjp(lambda y: jnp.mean(cost.value(z_L, y, net.layers[-1])), y)
    return jax.tree_util.tree_map(lambda t: g * t, grads), g * dx, cost_vjp(g)[0]


_loss = jax.custom_vjp(_value, nondiff_argnums=(0, 1, 2))
_loss.defvjp(_loss_fwd, jax.jit(_loss_bwd, static_argnums=(0, 1, 2)))


def _check_net(fn, net):
    if not isinstance(net, MLP):
        raise TypeError(f"{fn}: net must be a jaxbp.MLP, got {type(net).__name__}")


def _no_forward_mode(fn, core, *args):
    """Call ``core``; JAX's forward-mode TypeError becomes one that names ``fn``."""
    try:
        return core(*args)
    except TypeError as e:
        if "forward-mode" not in str(e) or "custom_vjp" not in str(e):
            raise
        raise TypeError(
            f"{fn}: forward-mode autodiff (jax.jvp, jax.jacfwd) cannot run through the "
            f"hand-written backward pass (a jax.custom_vjp function has no JVP); use "
            f"reverse mode (jax.grad, jax.vjp, jax.jacrev), or jax.hessian / "
            f"jax.jacfwd(jax.grad(...)) for second order, or differentiate net.apply / "
            f"jaxbp.loss (autodiff) for forward mode") from e
