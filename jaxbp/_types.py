"""The type aliases of jaxbp's signatures, in one place (as optax's and chex's are).

``Params`` is the parameter pytree: a tuple with one dict per layer, ``{"W": (n_in, n_out),
"b": (n_out,)}``; gradients have the same structure. ``PRNGKey`` is a key from
``jax.random.key`` or ``jax.random.PRNGKey``. A cost is given by name or as a
:class:`jaxbp.Cost`: ``CostLike`` lives next to ``Cost`` in :mod:`jaxbp.costs`.
"""
from typing import Any, Dict, Tuple, Union

import jax
from jax.typing import ArrayLike, DTypeLike

__all__ = ["Array", "ArrayLike", "DTypeLike", "Layer", "OptimizerLike", "PRNGKey", "Params",
           "PyTree", "Scalar"]

Array = jax.Array
PRNGKey = jax.Array
Layer = Dict[str, jax.Array]
Params = Tuple[Layer, ...]
Scalar = Union[float, jax.Array]   # a Python number (a constant when jitted) or a 0-d array
PyTree = Any   # any pytree, e.g. ``trainable``: bools like ``params``, or a prefix of it
# A learning rate, a schedule (step -> rate), a jaxbp.optimizer(...) or an
# optax.GradientTransformation: to be spelled out where jaxbp.optim is hinted (importing
# optax here would load it with every module).
OptimizerLike = Any
