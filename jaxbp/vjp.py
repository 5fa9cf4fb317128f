"""BP1-BP4 as the backward pass that ``jax.grad`` itself uses, wherever the net sits.

:func:`manual_vjp` and :func:`manual_loss` register the hand-written equations with
``jax.custom_vjp``: any JAX program that differentiates through them -- a user's penalty, an
optax loss, an MLP inside a bigger model -- runs Nielsen's four equations instead of JAX's
own autodiff. :func:`check_hessian` audits the second derivative, which JAX gets by
differentiating the hand-written backward pass itself; :func:`hessian` returns it as a
matrix (its eigenvalues tell a saddle from a minimum). See docs/vjp.md.

Forward mode does not exist for a ``custom_vjp`` function: ``jax.jvp`` and ``jax.jacfwd``
applied directly to these functions raise a ``TypeError`` naming the function (never a wrong
number); ``jax.linearize`` returns, and its linear map raises JAX's own TypeError when called.
Forward-over-reverse (``jax.hessian``, ``jax.jacfwd(jax.grad(...))``) works, because the
outer forward pass then differentiates the backward code, which is plain ``jax.numpy``.
"""
from functools import partial
from typing import Callable, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from . import _checks
from ._types import ArrayLike, Params, Scalar
from .autodiff import kernel as _autodiff_loss
from .backprop import _trace, backward
from .costs import CostLike, weight_decay
from .gradcheck import TOLERANCES, relative_error
from .network import MLP, feedforward

MAX_HESSIAN_PARAMS = 4096   # check_hessian/hessian build the full P x P matrix


# ------------------------------------------------------------------ the net as a function

def manual_vjp(net: MLP) -> Callable[[Params, ArrayLike], jax.Array]:
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

    def apply(params: Params, x: ArrayLike) -> jax.Array:
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

def manual_loss(net: MLP, cost: CostLike, l2: float = 0.0
                ) -> Callable[[Params, ArrayLike, ArrayLike], jax.Array]:
    """``loss(params, x, y)``: the batch-mean cost of :func:`jaxbp.loss`, whose VJP is
    :func:`jaxbp.backprop`'s kernel (with its fused BP1 ``a - y`` where the cost allows).

    ``jax.value_and_grad(loss)(params, x, y)`` equals ``jaxbp.backprop(net, params, x, y,
    cost, l2)`` bit for bit (called eagerly; under ``jit`` to rounding). Terms can be added:
    ``jax.grad(lambda p: loss(p, x, y) + 1e-3 * l1(p))`` runs BP1-BP4 for the cost and
    autodiff for the rest. The forward pass runs the whole kernel (the very function
    ``backprop`` runs) and keeps its gradient as the residual; the backward pass scales it
    by the incoming cotangent. Also given: ``dC/dx = delta^1 @ W^1.T / n`` (BP2 carried to
    the input, each row weighed by the mean) and ``dC/dy`` (by ``jax.vjp`` of the cost's
    value: no BP equation covers the targets).

    Second order is still the manual backward's: the first derivative is the function
    ``params -> g * kernel_grads(params)``, and the residual ``kernel_grads`` is *computed*
    inside the forward rule by the hand-written kernel in ``jax.numpy``. An outer
    ``jax.grad``/``jax.jacrev`` (or ``jax.hessian``) therefore traces and differentiates
    that kernel's code -- BP1-BP4 as written -- not a derivation of JAX's own: the Hessian
    is the exact Jacobian of the manual gradient, so a wrong equation gives a wrong Hessian.
    (Had the residual been computed out of JAX's sight -- NumPy, a callback,
    ``stop_gradient`` -- the second derivatives would silently be zero;
    :func:`check_hessian` catches both and names the layer.)

    ``net``, ``cost`` and ``l2`` are checked here, once; ``l2`` is a constant of the loss
    (a concrete number). Inputs are checked at every call like :func:`jaxbp.backprop`
    (integer labels for softmax cross-entropy are one-hot encoded).
    """
    _check_net("manual_loss", net)
    cost = _checks.resolve_cost("manual_loss", cost, net.activations[-1])
    l2 = _checks.check_l2("manual_loss", l2)
    if isinstance(l2, jax.core.Tracer):
        raise TypeError("manual_loss: l2 must be a concrete number (a constant of the loss), "
                        "got a traced value; build the loss outside jax.jit/grad/vmap")

    def loss(params: Params, x: ArrayLike, y: ArrayLike) -> jax.Array:
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


# ------------------------------------------------------------------ second order

class HessianReport(NamedTuple):
    """Result of :func:`check_hessian`.

    The Hessian is compared one row block at a time: the block of layer l's ``"W"`` holds
    the derivatives of dC/dW^l with respect to every parameter. Errors are normwise relative
    (``max|H - H_ref| / max|H_ref|`` over the block). ``per_layer[l]`` maps ``"W"`` and
    ``"b"`` to the manual-vs-``jax.hessian`` error and ``"W numeric"``/``"b numeric"`` to the
    manual-vs-finite-difference error (on sampled columns). ``asymmetry`` is
    ``max|H - H.T| / max|H|`` of the manual Hessian (a true gradient has a symmetric
    Jacobian). ``worst`` names the first wrong block in backward order, e.g.
    ``"layer 0 W"`` (empty when everything agrees): a second-order error in one layer's
    equations spoils the layers below it, as in the first-order report.
    """
    ok: bool
    manual_vs_autodiff: float
    manual_vs_numeric: float
    asymmetry: float
    per_layer: Tuple[dict, ...]
    worst: str
    tolerance: Tuple[float, float]

    def __str__(self) -> str:
        lines = [f"{'layer':>5} {'block':>14} {'vs jax.hessian':>15} {'vs numeric':>12}"]
        for l, row in enumerate(self.per_layer):
            for name in ("b", "W"):
                lines.append(f"{l:>5} {'d(dC/d' + name + ')':>14} {row[name]:15.2e} "
                             f"{row[name + ' numeric']:12.2e}")
        lines.append(f"asymmetry |H - H.T| / |H|: {self.asymmetry:.2e}")
        verdict = "ok" if self.ok else (f"FAILED (first wrong: {self.worst}, the derivatives "
                                        f"of dC/d{self.worst.split()[-1]} in that layer)")
        lines.append(f"tolerances {self.tolerance[0]:.0e} (jax.hessian), {self.tolerance[1]:.0e} "
                     f"(numeric): {verdict}")
        return "\n".join(lines)


def hessian(net: MLP, params: Params, x: ArrayLike, y: ArrayLike, cost: CostLike,
            l2: Scalar = 0.0) -> np.ndarray:
    """The Hessian of the cost by differentiating the hand-written backward pass:
    ``jax.jacrev(jax.grad(manual_loss(net, cost, l2)))``, as a ``(P, P)`` NumPy array over
    the parameters flattened in ``jax.flatten_util.ravel_pytree`` order (layer by layer,
    ``W`` then ``b``). For small nets (at most ``MAX_HESSIAN_PARAMS`` parameters); its
    eigenvalues tell a saddle (some negative) from a minimum (none)."""
    cost, x, y, l2 = _checks.prepare("hessian", net, params, x, y, cost, l2)
    _checks.require_concrete("hessian", "params, x, y and l2", params, x, y, l2)
    flat, unravel = _flatten("hessian", params)
    return np.asarray(_manual_hessian(manual_loss(net, cost, float(l2)), unravel, flat, x, y))


def check_hessian(net: MLP, params: Params, x: ArrayLike, y: ArrayLike, cost: CostLike,
                  l2: Scalar = 0.0, loss: Optional[Callable[..., jax.Array]] = None,
                  max_columns: int = 256) -> HessianReport:
    """Audit the second derivative of the hand-written backward pass.

    The manual Hessian ``jax.jacrev(jax.grad(loss))`` is compared with ``jax.hessian`` of
    the autodiff twin (:func:`jaxbp.loss`'s cost) and with central finite differences of
    the manual gradient ``jax.grad(loss)`` (for up to ``max_columns`` evenly spaced
    columns). ``loss`` defaults to ``manual_loss(net, cost, l2)``; pass your own
    ``loss(params, x, y)`` (x and y 2-D in the params dtype, as checked here; a
    ``jax.custom_vjp`` function, say) to audit its second-order path. Returns a
    :class:`HessianReport`; ``ok`` when every error is within the dtype's tolerance
    (``jaxbp.gradcheck.TOLERANCES``). At most ``MAX_HESSIAN_PARAMS`` parameters.
    """
    cost, x, y, l2 = _checks.prepare("check_hessian", net, params, x, y, cost, l2)
    if np.dtype(x.dtype) not in TOLERANCES:
        raise TypeError(f"check_hessian: params must be float32 or float64 (finite differences "
                        f"in {x.dtype} cannot check anything), got {x.dtype}")
    if loss is not None and not callable(loss):
        raise TypeError(f"check_hessian: loss must be a function loss(params, x, y) or None, "
                        f"got {type(loss).__name__}")
    max_columns = _checks.check_positive_int("check_hessian", "max_columns", max_columns)
    _checks.require_concrete("check_hessian", "params, x, y and l2", params, x, y, l2)
    flat, unravel = _flatten("check_hessian", params)
    loss = manual_loss(net, cost, float(l2)) if loss is None else loss
    manual = np.asarray(_manual_hessian(loss, unravel, flat, x, y), np.float64)
    auto = np.asarray(jax.jit(jax.hessian(
        lambda v: _autodiff_loss(net, cost, unravel(v), x, y, l2)))(flat), np.float64)
    index, numeric = _numeric_columns(loss, unravel, flat, x, y, max_columns)
    tol_auto, tol_num = TOLERANCES[np.dtype(x.dtype)]
    per_layer, start = [], 0
    for layer in params:
        row = {}
        for name in ("W", "b"):                            # ravel_pytree's order
            rows = slice(start, start + layer[name].size)
            start += layer[name].size
            row[name] = relative_error(manual[rows], auto[rows])
            row[name + " numeric"] = relative_error(manual[rows][:, index], numeric[:, rows].T)
        per_layer.append(row)
    wrong = [f"layer {l} {name}" for l in reversed(range(len(per_layer))) for name in ("b", "W")
             if per_layer[l][name] > tol_auto or per_layer[l][name + " numeric"] > tol_num]
    worst = wrong[0] if wrong else ""
    m_vs_a = relative_error(manual, auto)
    m_vs_n = relative_error(manual[:, index], numeric.T)
    asymmetry = relative_error(manual, manual.T)
    ok = bool(worst == "" and m_vs_a <= tol_auto and m_vs_n <= tol_num)
    return HessianReport(ok, m_vs_a, m_vs_n, asymmetry, tuple(per_layer), worst,
                         (tol_auto, tol_num))


def _flatten(fn, params):
    flat, unravel = ravel_pytree(tuple(params))
    if flat.size > MAX_HESSIAN_PARAMS:
        raise ValueError(f"{fn}: the net has {flat.size} parameters, so its Hessian has "
                         f"{flat.size}**2 entries; expected at most {MAX_HESSIAN_PARAMS} "
                         f"parameters")
    return flat, unravel


def _flat_grad(loss, unravel, x, y):
    return lambda v: ravel_pytree(jax.grad(loss)(unravel(v), x, y))[0]


def _manual_hessian(loss, unravel, flat, x, y):
    return jax.jit(jax.jacrev(_flat_grad(loss, unravel, x, y)))(flat)


def _numeric_columns(loss, unravel, flat, x, y, max_columns):
    """Central differences of the manual gradient along up to ``max_columns`` evenly spaced
    coordinates: ``(index, columns)`` with ``columns[k] ~ H[:, index[k]]``."""
    grad = _flat_grad(loss, unravel, x, y)
    index = np.unique(np.linspace(0, flat.size - 1, min(flat.size, max_columns)).astype(int))
    h = float(jnp.finfo(flat.dtype).eps) ** (1 / 3) * jnp.maximum(1.0, jnp.abs(flat[index]))

    def central(i_h):
        i, h = i_h
        return (grad(flat.at[i].add(h)) - grad(flat.at[i].add(-h))) / (2 * h)

    columns = jax.jit(lambda ih: jax.lax.map(central, ih, batch_size=32))((jnp.asarray(index), h))
    return index, np.asarray(columns, np.float64)
