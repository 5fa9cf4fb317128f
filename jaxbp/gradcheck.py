"""A three-way audit of backprop: by hand vs ``jax.grad`` vs central finite differences."""
import textwrap
from functools import partial
from typing import Callable, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from . import _checks
from ._types import ArrayLike, Params, Scalar
from .autodiff import _loss, _value_and_grad, autodiff_deltas
from .backprop import Trace, _trace
from .costs import Cost, CostLike
from .diagnose import likely_mistake
from .network import MLP

# Normwise relative error allowed, by dtype: manual vs autodiff, and vs finite differences.
TOLERANCES = {np.dtype(np.float64): (1e-9, 1e-5), np.dtype(np.float32): (1e-4, 5e-2)}


class GradReport(NamedTuple):
    """Result of :func:`check_grads`.

    Each error is normwise relative: ``max|g - g_ref| / max|g_ref|`` over a leaf, so that
    near-zero entries do not dominate in float32. ``per_layer[l]`` maps ``"delta"``
    (BP1 for the last layer, BP2 otherwise), ``"BP3"`` (bias gradient) and ``"BP4"``
    (weight gradient) to the manual-vs-autodiff error of that layer, and
    ``"BP3 numeric"``/``"BP4 numeric"`` to the manual-vs-finite-difference error.
    ``worst`` names the equation where an error first appears in backward order, e.g.
    ``"layer 1 BP2"`` (empty when everything agrees). ``likely`` says what the mistake
    there most likely is, when its numbers fit a known signature (:mod:`jaxbp.diagnose`),
    e.g. ``"layer 1 BP2 uses sigma'(a): you passed the activation where z belongs"``; None
    when nothing is wrong or no signature fits.
    """
    ok: bool
    manual_vs_autodiff: float
    manual_vs_numeric: float
    autodiff_vs_numeric: float
    per_layer: Tuple[dict, ...]
    worst: str
    tolerance: Tuple[float, float]
    likely: Optional[str] = None

    def __str__(self) -> str:
        lines = [f"{'layer':>5} {'equation':>10} {'vs jax.grad':>12} {'vs numeric':>12}"]
        for l, row in enumerate(self.per_layer):
            eq = "BP1" if l == len(self.per_layer) - 1 else "BP2"
            lines.append(f"{l:>5} {eq + ' delta':>10} {row['delta']:12.2e} {'':>12}")
            for key in ("BP3", "BP4"):
                lines.append(f"{l:>5} {key:>10} {row[key]:12.2e} {row[key + ' numeric']:12.2e}")
        verdict = "ok" if self.ok else f"FAILED (first wrong: {self.worst})"
        lines.append(f"tolerances {self.tolerance[0]:.0e} (jax.grad), {self.tolerance[1]:.0e} "
                     f"(numeric): {verdict}")
        if self.likely:
            lines += textwrap.wrap(f"likely: {self.likely}", 100, subsequent_indent="  ",
                                   break_on_hyphens=False)
        return "\n".join(lines)

    def _repr_html_(self):  # a table in Jupyter
        from . import _html
        return _html.grad_report(self)


def relative_error(a: ArrayLike, b: ArrayLike) -> float:
    """``max|a - b| / max|b|`` (0 when both are zero)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = np.max(np.abs(b), initial=0.0)
    diff = np.max(np.abs(a - b), initial=0.0)
    return float(diff / scale) if scale > 0 else float(diff)


def numeric_grads(net: MLP, cost: Cost, params: Params, x: jax.Array, y: jax.Array, l2: Scalar,
                  max_entries: int = 2000) -> Tuple[np.ndarray, jax.Array]:
    """Central finite differences of the cost for up to ``max_entries`` parameters (all of
    them for small nets; an evenly spaced subset otherwise). Returns ``(index, values)``."""
    flat, _ = ravel_pytree(params)
    eps = float(jnp.finfo(flat.dtype).eps)
    index = np.unique(np.linspace(0, flat.size - 1, min(flat.size, max_entries)).astype(int))
    h = eps ** (1 / 3) * jnp.maximum(1.0, jnp.abs(flat[index]))
    return index, _central_diffs(net, cost, params, x, y, l2, jnp.asarray(index), h)


@partial(jax.jit, static_argnums=(0, 1))
def _central_diffs(net, cost, params, x, y, l2, index, h):
    flat, unravel = ravel_pytree(params)

    def central(i_h):
        i, h = i_h
        at = lambda d: _loss(net, cost, unravel(flat.at[i].add(d)), x, y, l2)
        return (at(h) - at(-h)) / (2 * h)

    return jax.lax.map(central, (index, h), batch_size=64)


def check_grads(net: MLP, params: Params, x: ArrayLike, y: ArrayLike, cost: CostLike,
                l2: Scalar = 0.0, manual: Optional[Callable[..., Trace]] = None) -> GradReport:
    """Compare backprop with ``jax.grad`` and with central finite differences.

    ``manual`` replaces the hand-written backward pass (a function with the signature of
    :func:`jaxbp.trace`), to audit your own implementation. Returns a :class:`GradReport`;
    ``ok`` is True when every error is within the dtype's tolerance (``TOLERANCES``).
    When something is wrong, ``worst`` names the first wrong equation and ``likely`` the
    mistake its numbers fit, if any (:mod:`jaxbp.diagnose`; try it on :mod:`jaxbp.bugs`).
    For a check with no tolerance to choose, see :func:`jaxbp.slope.slope_test`.
    """
    cost, x, y, l2 = _checks.prepare("check_grads", net, params, x, y, cost, l2)
    if np.dtype(x.dtype) not in TOLERANCES:
        raise TypeError(f"check_grads: params must be float32 or float64 (finite differences "
                        f"in {x.dtype} cannot check anything), got {x.dtype}")
    _checks.require_concrete("check_grads", "params, x, y and l2", params, x, y, l2)
    tr = _trace(net, cost, params, x, y, l2) if manual is None else manual(net, params, x, y, cost, l2)
    _, auto = _value_and_grad(net, cost, params, x, y, l2)
    auto_deltas = autodiff_deltas(net, cost, params, x, y, l2)
    index, numeric = numeric_grads(net, cost, params, x, y, l2)
    manual_flat = np.asarray(ravel_pytree(tr.grads)[0])[index]
    auto_flat = np.asarray(ravel_pytree(auto)[0])[index]
    numeric_only = _per_leaf_numeric(params, index, np.asarray(numeric), manual_flat)
    tol_auto, tol_num = TOLERANCES[np.dtype(x.dtype)]
    per_layer = [{"delta": relative_error(tr.deltas[l], auto_deltas[l]),
                  "BP3": relative_error(tr.grads[l]["b"], auto[l]["b"]),
                  "BP4": relative_error(tr.grads[l]["W"], auto[l]["W"]),
                  "BP3 numeric": numeric_only[l]["b"], "BP4 numeric": numeric_only[l]["W"]}
                 for l in range(len(params))]
    worst = _first_failure(per_layer, tol_auto, tol_num)
    m_vs_a = max(max(r["delta"], r["BP3"], r["BP4"]) for r in per_layer)
    m_vs_n = relative_error(manual_flat, numeric)
    a_vs_n = relative_error(auto_flat, numeric)
    ok = bool(m_vs_a <= tol_auto and m_vs_n <= tol_num and worst == "")
    likely = None
    if worst:
        ref = _trace(net, cost, params, x, y, l2)   # its forward pass; deltas, grads: jax.grad's
        right = Trace(None, ref.zs, ref.activations, auto_deltas, auto)
        likely = likely_mistake(net, params, x, y, cost, l2, tr, right, worst)
    return GradReport(ok, m_vs_a, m_vs_n, a_vs_n, tuple(per_layer), worst, (tol_auto, tol_num),
                      likely)


def _first_failure(per_layer, tol_auto, tol_num):
    """Where an error first appears in backward order: an error in one equation spoils
    everything computed from it, so the first failing delta (top layer: BP1, below: BP2)
    is the culprit; with every delta right, the first failing BP3/BP4."""
    top = len(per_layer) - 1
    for l in reversed(range(len(per_layer))):
        if per_layer[l]["delta"] > tol_auto:
            return f"layer {l} {'BP1' if l == top else 'BP2'}"
    for l in reversed(range(len(per_layer))):
        for eq in ("BP3", "BP4"):
            if per_layer[l][eq] > tol_auto or per_layer[l][eq + " numeric"] > tol_num:
                return f"layer {l} {eq}"
    return ""


def _per_leaf_numeric(params, index, numeric, manual_flat):
    """Manual-vs-numeric error for each leaf, over the sampled entries that fall in it."""
    sizes = [leaf.size for layer in params for leaf in (layer["W"], layer["b"])]
    starts = np.cumsum([0] + sizes)
    out, k = [], 0
    for layer in params:
        row = {}
        for name in ("W", "b"):
            sel = (index >= starts[k]) & (index < starts[k + 1])
            row[name] = relative_error(manual_flat[sel], numeric[sel]) if sel.any() else 0.0
            k += 1
        out.append(row)
    return out
