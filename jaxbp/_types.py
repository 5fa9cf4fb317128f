"""The type aliases of jaxbp's signatures, in one place (as optax's and chex's are).

``Params`` is the parameter pytree: a tuple with one dict per layer, ``{"W": (n_in, n_out),
"b": (n_out,)}``; gradients have the same structure. ``PRNGKey`` is a key from
``jax.random.key`` or ``jax.random.PRNGKey``. A learning rate is a number or a
``Schedule`` (``step -> rate``, e.g. from ``optax.linear_schedule``). The aliases that name
a jaxbp class live next to it, so that imports flow one way: ``CostLike`` (a cost name or
a :class:`jaxbp.Cost`) in :mod:`jaxbp.costs`, ``OptimizerLike`` (a learning rate, a
schedule, a :func:`jaxbp.optimizer` or an ``optax.GradientTransformation``) in
:mod:`jaxbp.optim`.
"""
from typing import Any, Callable, Dict, Tuple, Union

import jax
from jax.typing import ArrayLike, DTypeLike

__all__ = ["Array", "ArrayLike", "DTypeLike", "Layer", "PRNGKey", "Params",
           "PyTree", "Scalar", "ScalarOrSchedule", "Schedule"]

Array = jax.Array
PRNGKey = jax.Array
Layer = Dict[str, jax.Array]
Params = Tuple[Layer, ...]
Scalar = Union[float, jax.Array]   # a Python number (a constant when jitted) or a 0-d array
PyTree = Any   # any pytree, e.g. ``trainable``: bools like ``params``, or a prefix of it
Schedule = Callable[[jax.Array], Scalar]   # the step count -> the learning rate (as optax's)
ScalarOrSchedule = Union[Scalar, Schedule]
