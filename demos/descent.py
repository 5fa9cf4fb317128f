"""Gradient descent on a truth table with the hand-written backprop, for the small demos.

:func:`descend` trains several nets side by side in one ``lax.scan`` (one compiled loop), and
:func:`compiled` compiles a program with XLA's quick settings: the demos' programs run for
a tenth of a second, and XLA's optimising backend would take longer than it saves (measured
for one gate net's program: 0.22 s of CPU to compile instead of 0.66 s; 0.11 s instead of
0.06 s to run).
"""
from typing import Any, Callable, Hashable, List, Optional, Sequence

import jax
import jax.numpy as jnp

import jaxbp
from jaxbp.demos import programs

QUICK = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}


def right(outputs: jax.Array, y: jax.Array) -> jax.Array:
    """All outputs on the right side of 0.5."""
    return jnp.all((outputs > 0.5) == (y > 0.5))


def descend(nets: Sequence[jaxbp.MLP], params: Sequence[tuple], x: jax.Array, y: jax.Array,
            cost: str, lr: Any, steps: int) -> List[tuple]:
    """``steps`` steps of full-batch gradient descent with the hand-written backprop, for
    every net of ``nets`` (``params``: one per net) in the same loop. Per net:
    ``(params, cost, outputs, right)``, the final parameters, cost and outputs, and
    ``right[k]``: all outputs on the right side of 0.5 after k steps (k = 0..steps)."""
    def step(params, _):
        traces = [jaxbp.trace(net, p, x, y, cost) for net, p in zip(nets, params)]  # BP1-BP4
        now = jnp.stack([right(tr.activations[-1], y) for tr in traces])  # before this step
        params = tuple(jax.tree_util.tree_map(lambda p, g: p - lr * g, p, tr.grads)
                       for p, tr in zip(params, traces))
        return params, now
    params, rights = jax.lax.scan(step, tuple(params), None, length=steps)  # (steps, nets)
    out = []
    for i, (net, p) in enumerate(zip(nets, params)):
        final = jaxbp.trace(net, p, x, y, cost)
        last = right(final.activations[-1], y)
        out.append((p, final.loss, final.activations[-1],
                    jnp.concatenate([rights[:, i], last[None]])))
    return out


def compiled(fn: Callable, *args: Any, description: Optional[Hashable] = None) -> Callable:
    """``jax.jit(fn)`` compiled for ``args`` with the :data:`QUICK` settings (plain ones on
    an XLA that does not know them). With a ``description`` of everything else ``fn``
    computes with (the Python values it closes over), the ``jaxbp`` command keeps the
    compiled program between runs: see :mod:`jaxbp.demos.programs`."""
    try:
        return programs.compiled(fn, args, description, QUICK)
    except Exception:  # an older XLA rejects unknown options
        return programs.compiled(fn, args, description, {})
