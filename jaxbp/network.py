"""The architecture (``MLP``) and the forward pass.

Parameters are a plain pytree: a tuple with one dict per layer, ``{"W": (n_in, n_out),
"b": (n_out,)}``, batch-first, so ``z = a @ W + b`` (Nielsen's ``W`` is our transpose).
The ``MLP`` itself holds no arrays: it is static, hashable and compared by value, so it can
be a static argument of ``jax.jit``.
"""
import dataclasses
import numbers
from functools import partial
from typing import List, Literal, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from ._types import ArrayLike, DTypeLike, Params, PRNGKey
from .activations import ACTIVATIONS, Activation

# Default initialisation: W ~ N(0, gain**2 / n_in) (LeCun/He-style), b ~ N(0, 1) as in
# Nielsen's chapter 3 (biases do not saturate a unit, so they keep unit scale).
GAINS = {"sigmoid": 1.0, "tanh": 1.0, "identity": 1.0, "softmax": 1.0, "relu": 2.0 ** 0.5}


@dataclasses.dataclass(frozen=True, eq=False)
class MLP:
    """A fully connected feed-forward network.

    Args:
      sizes: units per layer, input first, e.g. ``(2, 2, 1)``.
      hidden: activation of every hidden layer, by name.
      output: activation of the output layer, by name.
      activations: optional per-layer names (one per weight layer), overriding both.
    """
    sizes: Tuple[int, ...]
    hidden: str = "sigmoid"
    output: str = "sigmoid"
    activations: Optional[Tuple[str, ...]] = None

    def __post_init__(self) -> None:
        sizes = _checks.check_sizes("MLP", self.sizes)
        if self.activations is None:
            _checks.activation_name("MLP", self.hidden, "hidden")
            _checks.activation_name("MLP", self.output, "output")
            names = (self.hidden,) * (len(sizes) - 2) + (self.output,)
        else:
            names = _checks.check_activation_names("MLP", self.activations)
        _checks.check_layer_activations("MLP", sizes, names)
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "activations", names)
        object.__setattr__(self, "output", names[-1])
        # hidden: the hidden layers' activation, None when they differ or there are none
        object.__setattr__(self, "hidden", names[0] if len(set(names[:-1])) == 1 else None)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MLP) and (self.sizes, self.activations) == (other.sizes, other.activations)

    def __hash__(self) -> int:
        return hash((MLP, self.sizes, self.activations))

    def __repr__(self) -> str:
        return f"MLP(sizes={self.sizes}, activations={self.activations})"

    @property
    def layers(self) -> Tuple[Activation, ...]:
        """The activation pairs ``(fn, prime)``, one per weight layer."""
        return tuple(ACTIVATIONS[a] for a in self.activations)

    def init(self, key: PRNGKey, scale: Optional[float] = None, dtype: DTypeLike = jnp.float32,
             distribution: Literal["normal", "uniform"] = "normal") -> Params:
        """Random parameters.

        Default (``scale=None``): ``W ~ N(0, gain**2 / n_in)`` with gain 1 for sigmoid,
        tanh, identity and softmax layers and sqrt(2) for relu (He); ``b ~ N(0, 1)``.
        With ``scale``: every weight and bias from ``N(0, scale**2)``, or from
        ``U(-scale, scale)`` with ``distribution="uniform"`` (e.g. 0.12 for the "small
        init" of the XOR literature). One subkey per layer: the same key gives bit-identical
        parameters, and no two layers share random numbers.
        """
        key = _checks.check_key("MLP.init", key)
        dtype = _checks.check_float_dtype("MLP.init", dtype)
        if distribution not in ("normal", "uniform"):
            raise ValueError(f"MLP.init: distribution must be 'normal' or 'uniform', got {distribution!r}")
        if scale is not None:
            if not isinstance(scale, numbers.Real) or isinstance(scale, bool):
                raise TypeError(f"MLP.init: scale must be a finite float > 0 or None, got "
                                f"{type(scale).__name__} {scale!r}")
            if not 0 < scale < float("inf"):
                raise ValueError(f"MLP.init: scale must be a finite float > 0 or None, got {scale!r}")
        params = []
        for l, (key_W, key_b) in enumerate(jax.random.split(key, (len(self.sizes) - 1, 2))):
            n_in, n_out = self.sizes[l], self.sizes[l + 1]
            if scale is None:
                std_W, std_b = GAINS[self.activations[l]] / n_in ** 0.5, 1.0
            else:
                std_W = std_b = scale
            if distribution == "uniform":
                draw = partial(jax.random.uniform, minval=-1.0, maxval=1.0, dtype=dtype)
            else:
                draw = partial(jax.random.normal, dtype=dtype)
            params.append({"W": std_W * draw(key_W, (n_in, n_out)),
                           "b": std_b * draw(key_b, (n_out,))})
        return tuple(params)

    def apply(self, params: Params, x: ArrayLike) -> jax.Array:
        """The network's output for ``x`` of shape ``(batch, n_in)``: ``(batch, n_out)``.

        A 1-D ``x`` is one sample; the output is then 1-D too.
        """
        dtype = _checks.check_params("MLP.apply", self, params)
        x2 = _checks.prepare_x("MLP.apply", self, x, dtype)
        out = _apply(self, params, x2)
        return out[0] if np.ndim(x) == 1 else out


def feedforward(net: MLP, params: Params, x: jax.Array,
                offsets: Optional[Sequence[jax.Array]] = None
                ) -> Tuple[List[jax.Array], List[jax.Array]]:
    """The forward pass, keeping every weighted input and activation (unchecked kernel).

    Returns ``(zs, activations)``: ``zs[l] = activations[l] @ W_l + b_l`` and
    ``activations[l + 1] = sigma_l(zs[l])``, with ``activations[0] = x``. ``offsets``, if
    given, are added to each z (the autodiff twin differentiates with respect to them).
    """
    zs, activations = [], [x]
    for layer, act, in zip(params, net.layers):
        z = activations[-1] @ layer["W"] + layer["b"][None, :]
        zs.append(z if offsets is None else z + offsets[len(zs)])
        activations.append(act.fn(zs[-1]))
    return zs, activations


@partial(jax.jit, static_argnums=0)
def _apply(net, params, x):
    return feedforward(net, params, x)[1][-1]
