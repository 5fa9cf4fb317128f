"""One training step: the unit that every training loop in jaxbp is made of.

    step = jaxbp.make_step(net, cost, optimizer, l2=0.0, grad="manual")
    opt_state = step.init(params)
    loss, params, opt_state = step(params, opt_state, x, y)

``loss`` is the cost (with its l2 term) at the params *before* the update; the gradient is
:func:`jaxbp.backprop`'s (``grad="manual"``: BP1-BP4) or ``jax.value_and_grad``'s
(``"autodiff"``); then ``optimizer.update`` and ``optax.apply_updates``. The step is a pure
function with nothing inside but that update: put it in your own ``jax.jit``,
``jax.vmap``, ``lax.scan`` or ``shard_map``. :func:`jaxbp.fit` is a ``lax.scan`` of it,
and so are :func:`jaxbp.fit_epochs`, the sweeps, the demos and the web page's recorder.
"""
from typing import Dict, Literal, Optional, Tuple

import jax
import jax.numpy as jnp
import optax

from . import _checks
from ._types import ArrayLike, DTypeLike, Params, PyTree, Scalar
from .autodiff import value_and_grad as autodiff_value_and_grad
from .backprop import kernel as backprop_kernel
from .costs import Cost, CostLike
from .network import MLP
from .optim import Labels, OptimizerLike, StaticLike, resolve, trainable_labels, transform

GRADS = ("manual", "autodiff")


def _manual(net, cost, params, x, y, l2):
    trace = backprop_kernel(net, cost, params, x, y, l2)
    return trace.loss, trace.grads


VALUE_AND_GRAD = {"manual": _manual, "autodiff": autodiff_value_and_grad}


class Step:
    """``step(params, opt_state, x, y) -> (loss, params, opt_state)``; ``step.init(params)``.

    Made by :func:`make_step` (which checks its arguments). The attributes are the static
    description (``net``, ``cost``, ``grad``, ``labels``) and the numbers: ``values``
    (the learning rate and other hyper-parameters of a number or :func:`jaxbp.optimizer`
    optimizer, cast to the params dtype when used) and ``l2`` (a Python number is a
    constant of the program and a Python zero drops the term; an array is an input).
    """

    def __init__(self, net: MLP, cost: Cost, optimizer: StaticLike, values: Dict[str, jax.Array],
                 l2: Scalar, grad: Literal["manual", "autodiff"], labels: Optional[Labels] = None
                 ) -> None:
        self.net, self.cost, self.optimizer = net, cost, optimizer
        self.values, self.l2, self.grad, self.labels = values, l2, grad, labels

    def transformation(self, dtype: DTypeLike) -> optax.GradientTransformation:
        """The optax transformation, its numbers in ``dtype`` (frozen leaves get none)."""
        values = {k: jnp.asarray(v, dtype) for k, v in self.values.items()}
        return transform(self.optimizer, values, self.labels)

    def init(self, params: Params) -> PyTree:
        """The optimizer state for ``params``: ``optimizer.init(params)``."""
        params = tuple(params)
        return self.transformation(_dtype(params)).init(params)

    def __call__(self, params: Params, opt_state: PyTree, x: ArrayLike, y: ArrayLike
                 ) -> Tuple[jax.Array, Params, PyTree]:
        params = tuple(params)
        _, x, y, _ = _checks.prepare("step", self.net, params, x, y, self.cost)
        l2 = self.l2 if isinstance(self.l2, (int, float)) else jnp.asarray(self.l2, x.dtype)
        loss, grads = VALUE_AND_GRAD[self.grad](self.net, self.cost, params, x, y, l2)
        updates, opt_state = self.transformation(x.dtype).update(grads, opt_state, params)
        new = optax.apply_updates(params, updates)
        if self.labels is not None:  # frozen leaves pass through untouched: bit-identical
            new = tuple({k: new[l][k] if how == "train" else params[l][k] for k, how in layer}
                        for l, layer in enumerate(self.labels))
        return loss, new, opt_state


def make_step(net: MLP, cost: CostLike, optimizer: OptimizerLike, *, l2: Scalar = 0.0,
              grad: Literal["manual", "autodiff"] = "manual", trainable: Optional[PyTree] = None
              ) -> Step:
    """One optimizer update as a pure function (module docstring).

    Args:
      net: the :class:`jaxbp.MLP`.
      cost: ``"quadratic"``, ``"cross_entropy"``, ``"softmax_cross_entropy"`` or a Cost.
      optimizer: a learning rate (plain SGD), a schedule (callable), a
        :func:`jaxbp.optimizer` or any ``optax.GradientTransformation``.
      l2: ``0.5 * l2 * sum ||W||^2`` is added to the cost (weights only). A Python number
        is compiled in (zero drops the term); pass an array to trace it (e.g. to vmap it).
      grad: ``"manual"`` (BP1-BP4) or ``"autodiff"`` (``jax.grad``).
      trainable: optional pytree of bools like ``params`` (or a prefix of it); frozen
        leaves come back bit-identical and get no optimizer state.

    Returns:
      a :class:`Step`: ``step.init(params)`` and ``step(params, opt_state, x, y)``.
    """
    return build("make_step", net, cost, optimizer, l2, grad, trainable)


def build(fn: str, net: MLP, cost: CostLike, optimizer: OptimizerLike, l2: Scalar = 0.0,
          grad: Literal["manual", "autodiff"] = "manual", trainable: Optional[PyTree] = None
          ) -> Step:
    """:func:`make_step` for the public function ``fn`` (named in its error messages)."""
    if not hasattr(net, "sizes") or not hasattr(net, "layers"):
        raise TypeError(f"{fn}: net must be a jaxbp.MLP, got {type(net).__name__}")
    cost = _checks.resolve_cost(fn, cost, net.activations[-1])
    if grad not in GRADS:
        _checks.choose(fn, "grad", grad, dict.fromkeys(GRADS))
    l2 = _checks.check_l2(fn, l2)  # a concrete number becomes a Python float
    static, values, _ = resolve(fn, optimizer, None)
    labels = None
    if trainable is not None:
        layers = tuple({"W": 0, "b": 0} for _ in net.sizes[1:])
        labels = trainable_labels(fn, layers, trainable)
    return Step(net, cost, static, values, l2, grad, labels)


def _dtype(params):
    return jnp.result_type(params[0]["W"])
