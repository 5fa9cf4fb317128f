"""What a wrong backward pass most likely got wrong, from the numbers alone.

:func:`likely_mistake` looks at the first wrong equation (as :func:`jaxbp.check_grads`
finds it: backward order, so everything above it is right) and asks whether the wrong
numbers there are the right *ingredients* put together in one of the ways people get
wrong. It only ever uses the right values of the layers above (which the first-failure
rule guarantees the wrong pass shares) and the params, never the catalogue in
:mod:`jaxbp.bugs`: it works on anyone's code.

The signatures it knows, per equation (``d`` is the right delta of the layer above, ``W``
its weights, ``g`` their gradient, ``z``/``a`` the layer's own weighted input and output):

* BP1: ``a - y`` with a quadratic cost (sigma' dropped); ``(a - y) a (1 - a)`` with a
  cross-entropy (sigma' applied on top of a fused BP1); ``-y (1 - a)`` with softmax
  (its Jacobian taken as diagonal); ``(a - y) sigma'(a)``; the right value times a constant
  (2: applied twice, -1: sign, 1/n: divided by the batch size, 0: never computed).
* BP2: ``(d W^T) sigma'(a)``, ``(d W^T) s(1 - s)`` at s = z, ``(d W^T) sigma(z)``,
  ``d W^T`` (no sigma'), ``(d W) sigma'(z)`` (W not transposed, square layers),
  ``(d (W - eta g)^T) sigma'(z)`` (updated weights; eta is fitted and reported),
  ``(d g^T) sigma'(z)`` (the gradient in place of the weights), a constant factor.
* BP3: zero (biases never updated), n x (batch mean missing), one number broadcast to
  every unit (summed over the units), ``+ c l2 b`` (L2 on the biases), a constant factor.
* BP4: ``alpha * (a^T d / n) + beta * l2 W`` with alpha = n (batch mean missing),
  beta = 0 / 2 / -1 (L2 missing / doubled / wrong sign), ``z^T d / n`` (the
  pre-activation below), the right gradient transposed (square layers), a constant factor.

It declines (returns None) when no signature fits within ``rtol`` -- random perturbations,
two mistakes at once in the same equation, a mistake whose numbers coincide with the right
ones -- and when the first wrong equation is not known (``where`` empty). A signature is
only claimed when it is clearly apart from the right value (by 10x the misfit).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

if TYPE_CHECKING:  # for the hints only: this module imports no JAX
    from ._types import ArrayLike, Params, Scalar
    from .backprop import Trace
    from .costs import Cost
    from .network import MLP

RTOL = {np.dtype(np.float64): 1e-7, np.dtype(np.float32): 1e-3}


def _prime_from_output(name, a):
    return {"sigmoid": a * (1 - a), "tanh": 1 - a ** 2, "relu": (a > 0).astype(a.dtype),
            "identity": np.ones_like(a), "softmax": a * (1 - a)}[name]


def _np(v):
    return np.asarray(v, np.float64)


def _fit(got, basis, rtol):
    """Least-squares coefficients c with got ~ sum_k c_k basis_k, or None when the misfit
    is above ``rtol`` times the size of ``got``."""
    A = np.stack([b.ravel() for b in basis], axis=1)
    if not np.all(np.isfinite(A)) or not np.any(A):
        return None
    c, *_ = np.linalg.lstsq(A, got.ravel(), rcond=None)
    misfit = np.max(np.abs(A @ c - got.ravel()), initial=0.0)
    scale = max(np.max(np.abs(got), initial=0.0), np.max(np.abs(basis[0]), initial=0.0))
    return c if misfit <= rtol * scale else None


def _near(c, k, rtol):
    return abs(c - k) <= max(10 * rtol, 1e-3) * max(1.0, abs(k))


def _scale_message(c, n, eq, name, rtol, single=False):
    """What a constant factor c on an equation's right value most likely means (None for
    an unnamed constant fitted to a single number, which any factor fits)."""
    if _near(c, 0, rtol):
        what = {"BP1": "the output error is never computed", "BP2": "delta is never computed",
                "BP3": "the biases are never updated (their gradient is left at zero)",
                "BP4": "the weights are never updated (their gradient is left at zero)"}[eq]
        return f"is zero: {what}"
    if n > 1 and eq in ("BP3", "BP4") and _near(c, n, rtol):
        return (f"is n = {n} x the right value: the batch mean is missing (a sum over the "
                f"batch where the cost's mean needs / n)")
    if n > 1 and _near(c, 1 / n, rtol):
        if eq in ("BP1", "BP2"):
            return (f"is 1/n = 1/{n} of the right value: delta divided by the batch size "
                    f"(deltas are per sample; divide once, in BP3/BP4)")
        return f"is 1/n = 1/{n} of the right value: divided by the batch size twice"
    if _near(c, -1, rtol):
        return ("has the wrong sign: y - a where a - y belongs (gradient ascent)" if eq == "BP1"
                else "has the wrong sign (gradient ascent)")
    if _near(c, 2, rtol):
        if eq == "BP1" and name == "softmax_cross_entropy":
            return "is 2 x: softmax's Jacobian applied twice (a - y already contains it)"
        if eq == "BP1" and name == "quadratic":
            return "is 2 x: the 2 of d(a - y)^2 kept, but the cost is 1/2 (a - y)^2"
        return "is 2 x the right value: counted twice"
    if _near(c, 0.5, rtol):
        return "is half the right value: a factor 1/2 too many"
    if single:
        return None
    return f"is {c:.4g} x the right value throughout: a constant factor (look for a stray constant)"


class _Problem:
    def __init__(self, net, params, x, y, cost, l2, right):
        self.net, self.cost, self.l2 = net, cost, float(l2)
        self.P = [{k: _np(v) for k, v in layer.items()} for layer in params]
        self.x, self.y, self.n = _np(x), _np(y), x.shape[0]
        self.zs = [_np(z) for z in right.zs]
        self.acts = [_np(a) for a in right.activations]
        self.deltas = [_np(d) for d in right.deltas]
        self.grads = [{k: _np(v) for k, v in g.items()} for g in right.grads]
        self.names = net.activations

    def prime(self, l, z):
        return _np(self.net.layers[l].prime(z))


def _bp1(p, got, rtol):
    z, a, y, name = p.zs[-1], p.acts[-1], p.y, p.cost.name
    out = p.names[-1]
    cands = []
    if name == "quadratic":
        cands.append((a - y, "is a - y: sigma'(z) is missing (that is the cross-entropy's "
                             "BP1; the quadratic cost needs (a - y) sigma'(z))"))
        if p.net.layers[-1].prime is not None:
            cands.append(((a - y) * p.prime(-1, a), "uses sigma'(a): you passed the "
                                                    "activation where z belongs"))
            cands.append(((a - y) * _prime_from_output(out, z), "uses the output form of "
                          "sigma' on z (s(1 - s) at s = z): it needs a = sigma(z)"))
    elif name == "cross_entropy":
        cands.append(((a - y) * a * (1 - a), "has an extra sigma'(z): a - y already has "
                      "it cancelled with the cross-entropy (that is the quadratic's BP1)"))
    elif name == "softmax_cross_entropy":
        cands.append((-y * (1 - a), "is -y (1 - a): softmax's Jacobian taken as diagonal "
                      "(dC/da times a(1 - a)); the whole Jacobian gives a - y"))
        cands.append(((a - y) * a * (1 - a), "has an extra a(1 - a): softmax's derivative "
                      "applied on top of a - y, which already contains it"))
    return cands


def _bp2(p, l, got, rtol):
    d, W, g = p.deltas[l + 1], p.P[l + 1]["W"], p.grads[l + 1]["W"]
    z, a, act = p.zs[l], p.acts[l + 1], p.names[l]
    back = d @ W.T
    cands = [(back * p.prime(l, a), "uses sigma'(a): you passed the activation where z "
                                    "belongs"),
             (back * _prime_from_output(act, z), "uses the output form of sigma' on z "
              "(s(1 - s) at s = z, or 1 - z^2): it needs a = sigma(z)"),
             (back * a, "uses sigma(z) where sigma'(z) belongs (the activation, not its "
                        "derivative)"),
             (back, "is missing sigma'(z): delta^{l+1} W^T alone")]
    if W.shape[0] == W.shape[1]:
        cands.append(((d @ W) * p.prime(l, z), "uses W, not W^T: the weights above are not "
                      "transposed (the shapes only agree because the layer is square)"))
    right, step = p.deltas[l], (d @ g.T) * p.prime(l, z)
    c = _fit(got, [right, step], rtol)
    if c is not None and _near(c[0], 1, rtol) and c[1] < 0 and not _near(c[1], 0, rtol):
        eta = -c[1]
        cands.append((right - eta * step, f"uses the weights above already updated, W - eta "
                      f"dC/dW with eta = {eta:.4g} (the sequential update): compute every "
                      f"delta before changing any weight"))
    if c is not None and _near(c[0], 0, rtol) and _near(c[1], 1, rtol):
        cands.append((step, "uses dC/dW of the layer above where its weights W belong"))
    return cands


def _bp3(p, l, got, rtol):
    d, b, right = p.deltas[l], p.P[l]["b"], p.grads[l]["b"]
    cands = []
    if b.size > 1:
        cands.append((np.full_like(b, d.sum() / p.n), "is one number broadcast to every "
                      "unit: the bias gradient is summed over the units as well as the batch"))
    if p.l2 and np.any(b):
        c = _fit(got, [right, p.l2 * b], rtol)
        if c is not None and _near(c[0], 1, rtol) and not _near(c[1], 0, rtol):
            k = "" if _near(c[1], 1, rtol) else f"{c[1]:.3g} "
            cands.append((right + c[1] * p.l2 * b, f"has + {k}l2 b: L2 is applied to the "
                          f"biases, but the cost only penalises the weights"))
    return cands


def _bp4_fit(p, l, got, rtol):
    """The BP4 signatures of the form alpha * (data part) + beta * l2 W."""
    W = p.P[l]["W"]
    data = p.grads[l]["W"] - p.l2 * W
    if not p.l2 or not np.any(W):
        return None
    c = _fit(got, [data, p.l2 * W], rtol)
    if c is None:
        return None
    alpha, beta = c
    if p.n > 1 and _near(alpha, p.n, rtol):
        return "is n = %d x the right value: the batch mean is missing (a sum over the " \
               "batch where the cost's mean needs / n)" % p.n
    if not _near(alpha, 1, rtol):
        return None
    for k, what in ((0, "is missing the L2 term l2 W (weight decay in the cost but not "
                        "in its gradient)"),
                    (2, "has the L2 term doubled: 2 l2 W is the derivative of l2 ||W||^2, "
                        "but the cost is 0.5 l2 ||W||^2"),
                    (-1, "has the L2 term with the wrong sign: - l2 W grows the weights")):
        if _near(beta, k, rtol):
            return what
    return f"has {beta:.3g} l2 W where l2 W belongs: another L2 convention"


def _bp4(p, l, got, rtol):
    d, W = p.deltas[l], p.P[l]["W"]
    cands = []
    if l > 0:
        cands.append((p.zs[l - 1].T @ d / p.n + p.l2 * W, "uses z^{l-1} where a^{l-1} belongs: "
                      "the pre-activation of the layer below instead of its output"))
    if W.shape[0] == W.shape[1]:
        cands.append((p.grads[l]["W"].T, "is transposed: (a^T delta)^T, the gradient of W^T "
                      "(check which index is input and which output)"))
    return cands


def likely_mistake(net: MLP, params: Params, x: ArrayLike, y: ArrayLike, cost: Cost, l2: Scalar,
                   got: Trace, right: Trace, where: str, rtol: Optional[float] = None
                   ) -> Optional[str]:
    """The most likely mistake behind the first wrong equation, as a sentence, or None.

    ``got`` is the wrong pass's :class:`~jaxbp.backprop.Trace` (only its deltas and grads
    are read), ``right`` a right one for the same problem (its zs, activations, deltas and
    grads), ``where`` the first wrong equation as :func:`jaxbp.check_grads` names it
    (``"layer 1 BP2"``), ``cost`` a :class:`jaxbp.costs.Cost`. ``rtol``: how closely the
    numbers must fit a signature, relative to their size (default by dtype: ``RTOL``;
    the worksheet grader passes a looser one for numbers rounded by hand).
    """
    if not where:
        return None
    layer, eq = where.split()[1:]
    l = int(layer)
    if rtol is None:
        rtol = RTOL.get(np.dtype(np.asarray(right.grads[0]["W"]).dtype), 1e-3)
    p = _Problem(net, params, x, y, cost, l2, right)
    if eq in ("BP1", "BP2"):
        mine, want = _np(got.deltas[l]), p.deltas[l]
        cands = _bp1(p, mine, rtol) if eq == "BP1" else _bp2(p, l, mine, rtol)
    elif eq == "BP3":
        mine, want = _np(got.grads[l]["b"]), p.grads[l]["b"]
        cands = _bp3(p, l, mine, rtol)
    else:
        mine, want = _np(got.grads[l]["W"]), p.grads[l]["W"]
        cands = _bp4(p, l, mine, rtol)
        fitted = _bp4_fit(p, l, mine, rtol)
        if fitted:
            return f"{where} {fitted}"
    err = np.max(np.abs(mine - want), initial=0.0)
    if not np.all(np.isfinite(mine)) or err == 0:
        return None
    if not np.any(mine):
        return f"{where} {_scale_message(0.0, p.n, eq, cost.name, rtol)}"
    for value, text in cands:
        if np.shape(value) != mine.shape:
            continue
        misfit = np.max(np.abs(mine - value), initial=0.0)
        size = max(np.max(np.abs(mine), initial=0.0), np.max(np.abs(want), initial=0.0))
        if misfit <= rtol * size and np.max(np.abs(value - want), initial=0.0) > 10 * misfit:
            return f"{where} {text}"
    if np.any(want):
        c = _fit(mine, [want], rtol)
        if c is not None and not _near(c[0], 1, rtol):
            text = _scale_message(c[0], p.n, eq, cost.name, rtol, single=mine.size == 1)
            return f"{where} {text}" if text else None
    return None
