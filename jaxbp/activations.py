"""Activation functions as plain pairs ``(fn, prime)``.

``fn(z)`` is the activation sigma(z); ``prime(z)`` its elementwise derivative sigma'(z),
which is what BP1 and BP2 multiply by. Every derivative is computed from the numerically
stable value of the function, so both stay finite for any finite ``z`` (E23):

==========  =======================  ====================================================
name        sigma(z)                 sigma'(z)
==========  =======================  ====================================================
sigmoid     1 / (1 + exp(-z))        s (1 - s), s = sigmoid(z); in [0, 0.25]
tanh        tanh(z)                  1 - tanh(z)**2; in [0, 1]
relu        max(z, 0)                1 if z > 0 else 0 -- zero *at* zero, like jax.nn.relu
identity    z                        1
softmax     exp(z) / sum exp(z)      none: its Jacobian is not diagonal, so it is only
                                     allowed on the output layer, with softmax
                                     cross-entropy, whose output error is a - y (BP1).
==========  =======================  ====================================================
"""
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp


class Activation(NamedTuple):
    """An activation: ``fn`` maps z to a, ``prime`` maps z to sigma'(z) (None for softmax)."""
    fn: Callable
    prime: Optional[Callable]


def _sigmoid_prime(z):
    s = jax.nn.sigmoid(z)
    return s * (1 - s)


def _tanh_prime(z):
    return 1 - jnp.tanh(z) ** 2


def _relu_prime(z):
    return (z > 0).astype(z.dtype)


def _softmax(z):
    return jax.nn.softmax(z, axis=-1)


sigmoid = Activation(jax.nn.sigmoid, _sigmoid_prime)
tanh = Activation(jnp.tanh, _tanh_prime)
relu = Activation(jax.nn.relu, _relu_prime)
identity = Activation(lambda z: z, jnp.ones_like)
softmax = Activation(_softmax, None)

ACTIVATIONS = {"identity": identity, "relu": relu, "sigmoid": sigmoid,
               "softmax": softmax, "tanh": tanh}
