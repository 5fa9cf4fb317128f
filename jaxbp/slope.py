"""The Taylor-remainder (slope) test of a gradient, per layer.

For a direction v in one layer's parameters and a step h, the remainder

    r(h) = |C(p + h v) - C(p) - h g.v|

shrinks as h^2 when g is the gradient (the first-order Taylor term cancels exactly) and
only as h when it is not (the error (g - dC/dp).v is left in the linear term). On a
log-log plot r(h) is a line of slope 2 or of slope 1: :func:`slope_test` fits that slope,
layer by layer. Unlike a finite difference it needs no tolerance chosen by hand: the
verdict is the slope.

**Steps, from the dtype.** h runs over a geometric range, five steps a decade, from 0.1
down to ``sqrt(eps)`` of the params dtype (float64: 1e-1 .. 1.5e-8; float32: 1e-1 ..
3.5e-4): below that, a right gradient's own rounding (~eps |g|) would make the remainder
linear. C is evaluated in float64 when ``jax_enable_x64`` is on (else in float32:
``evaluate_in``). Steps whose remainder is within ``10 eps |C|`` of zero (eps of the dtype
C is evaluated in) are rounding noise and are dropped; the slope is fitted to the four
smallest steps that remain (the asymptotic end, where a wrong gradient's linear term
dominates). A layer with fewer than three usable steps is reported with slope ``nan``
(the cost is too flat along v to tell) and is not counted as a failure.

**float16 / bfloat16.** The gradient is computed in that dtype; C is evaluated in float64
(or float32), never in half precision, whose rounding of C (~1e-3 |C|) would swamp h^2 at
every useful h. Steps go down to ``sqrt(eps)/10`` (float16: 3e-3, bfloat16: 9e-3). A
half-precision gradient is itself off by its rounding, so its remainder may turn linear at
small h: there a slope below 1.5 counts as a failure only when the linear term it implies,
``r(h)/h`` at the smallest usable step, exceeds ``HALF_TOLERANCE`` (float16 0.02, bfloat16
0.1) times ``||g||`` of the layer -- more than the dtype's rounding explains. So right
half-precision gradients pass, and gross mistakes (a missing batch mean, a wrong sign, a
missing sigma') fail; a mistake that changes the gradient by less than that (e.g. L2
doubled with a small l2) is below what half precision can resolve and is not reported.
"""
from functools import partial
from typing import Callable, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from ._types import ArrayLike, DTypeLike, Params, Scalar
from .autodiff import _loss
from .backprop import Trace, _trace
from .costs import CostLike
from .network import MLP

HALF = (np.dtype(jnp.float16), np.dtype(jnp.bfloat16))
HALF_TOLERANCE = {np.dtype(jnp.float16): 0.02, np.dtype(jnp.bfloat16): 0.1}
RIGHT_SLOPE = 1.5     # between 1 (a wrong gradient) and 2 (a right one)


class SlopeReport(NamedTuple):
    """Result of :func:`slope_test`.

    ``slopes[l]``: the fitted slope of log r(h) against log h for layer l (2 for a right
    gradient, 1 for a wrong one, nan when too flat to tell). ``steps``: the h tried;
    ``remainders[l]``: r(h) for each of them. ``dtype``: the params' dtype; ``evaluated_in``:
    the dtype C was evaluated in. ``ok``: no layer's slope says "wrong".
    """
    ok: bool
    slopes: Tuple[float, ...]
    steps: Tuple[float, ...]
    remainders: Tuple[Tuple[float, ...], ...]
    wrong: Tuple[bool, ...]
    dtype: str
    evaluated_in: str

    def __str__(self) -> str:
        lines = [f"Taylor remainder |C(p + h v) - C(p) - h g.v|, h = {self.steps[0]:.0e} .. "
                 f"{self.steps[-1]:.0e} ({self.dtype}, C in {self.evaluated_in})",
                 f"{'layer':>5} {'slope':>7}  verdict"]
        for l, (s, bad) in enumerate(zip(self.slopes, self.wrong)):
            verdict = "too flat to tell" if np.isnan(s) else "WRONG (r ~ h)" if bad else \
                "right (r ~ h^2)" if s >= RIGHT_SLOPE else "right within the dtype's rounding"
            lines.append(f"{l:>5} {s:7.2f}  {verdict}")
        lines.append("slope test: " + ("ok" if self.ok else "FAILED"))
        return "\n".join(lines)


def _steps(dtype):
    """0.1 down to sqrt(eps) of the params dtype (sqrt(eps)/10 in half precision), five
    steps per decade."""
    eps = float(jnp.finfo(dtype).eps)
    lowest = np.sqrt(eps) / (10 if np.dtype(dtype) in HALF else 1)
    count = int(round(5 * np.log10(0.1 / lowest))) + 1
    return np.geomspace(0.1, lowest, count)


def slope_test(net: MLP, params: Params, x: ArrayLike, y: ArrayLike, cost: CostLike,
               l2: Scalar = 0.0, manual: Optional[Callable[..., Trace]] = None, seed: int = 0,
               evaluate_in: Optional[DTypeLike] = None) -> SlopeReport:
    """Fit the slope of the Taylor remainder of the cost along a random direction per layer.

    ``manual`` replaces the backward pass, as in :func:`jaxbp.check_grads` (a function
    ``(net, params, x, y, cost, l2) -> Trace``; only its ``grads`` are used). ``seed``
    fixes the directions (numpy PCG64, one unit vector per layer over its W and b).
    params may be float64, float32, float16 or bfloat16 (see the module docstring).
    ``evaluate_in``: the dtype C is evaluated in; default float64 when ``jax_enable_x64``
    is on, else float32 (never below float32).
    Returns a :class:`SlopeReport`.
    """
    cost, x, y, l2 = _checks.prepare("slope_test", net, params, x, y, cost, l2)
    _checks.require_concrete("slope_test", "params, x, y and l2", params, x, y, l2)
    dtype = np.dtype(x.dtype)
    params = tuple(params)
    tr = _trace(net, cost, params, x, y, l2) if manual is None else manual(net, params, x, y, cost, l2)
    grads = [{k: np.asarray(v, np.float64) for k, v in g.items()} for g in tr.grads]
    if evaluate_in is None:
        evaluate_in = np.float64 if jax.config.jax_enable_x64 else np.float32
    work = np.dtype(evaluate_in)
    if work not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"slope_test: evaluate_in must be float32 or float64, got {work}")
    cast = lambda a: jnp.asarray(a, work)
    P = jax.tree_util.tree_map(cast, params)
    xw, yw, l2w = cast(x), cast(y), cast(l2)
    steps = _steps(dtype)
    eps = float(jnp.finfo(work).eps)
    rng = np.random.default_rng(seed)
    slopes, remainders, wrong = [], [], []
    for l in range(len(P)):
        v = {k: rng.normal(size=P[l][k].shape) for k in ("W", "b")}
        norm = np.sqrt(sum(np.sum(a ** 2) for a in v.values()))
        v = {k: a / norm for k, a in v.items()}
        gv = sum(float(np.sum(grads[l][k] * v[k])) for k in v)
        costs = np.asarray(_along(net, cost, P, xw, yw, l2w, l,
                                  {k: cast(a) for k, a in v.items()}, cast(steps)), np.float64)
        c0 = float(_loss(net, cost, P, xw, yw, l2w))
        r = np.abs(costs - c0 - steps * gv)
        use = np.flatnonzero(r > 10 * eps * max(abs(c0), np.finfo(np.float64).tiny))[-4:]
        if use.size < 3:
            slope, bad = float("nan"), False
        else:
            slope = float(np.polyfit(np.log(steps[use]), np.log(r[use]), 1)[0])
            bad = slope < RIGHT_SLOPE
            if bad and dtype in HALF:
                g_norm = np.sqrt(sum(np.sum(g ** 2) for g in grads[l].values()))
                bad = r[use[-1]] / steps[use[-1]] > HALF_TOLERANCE[dtype] * g_norm
        slopes.append(slope)
        remainders.append(tuple(float(e) for e in r))
        wrong.append(bool(bad))
    return SlopeReport(not any(wrong), tuple(slopes), tuple(float(h) for h in steps),
                       tuple(remainders), tuple(wrong), str(dtype), str(work))


@partial(jax.jit, static_argnums=(0, 1, 6))
def _along(net, cost, params, x, y, l2, l, v, steps):
    """C(params + h v) for every h in ``steps``, v perturbing layer l only."""
    def at(h):
        moved = tuple({k: p[k] + h * v[k] for k in p} if i == l else p
                      for i, p in enumerate(params))
        return _loss(net, cost, moved, x, y, l2)
    return jax.vmap(at)(steps)
