"""jaxbp: backpropagation written out by hand (Nielsen's BP1-BP4), checked against jax.grad.

Importing jaxbp never changes ``jax.config``; for float64, call
``jax.config.update("jax_enable_x64", True)`` yourself at program start.
"""
from . import activations, costs, examples
from ._checks import NonFiniteError, ParamsFileError
from .activations import ACTIVATIONS, Activation
from .autodiff import autodiff, loss
from .backprop import Trace, backprop, trace
from .costs import COSTS, Cost, cross_entropy, quadratic, softmax_cross_entropy
from .gradcheck import GradReport, check_grads
from .network import MLP, feedforward
from .train import fit

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "Activation", "COSTS", "Cost", "GradReport", "MLP", "NonFiniteError",
    "ParamsFileError", "Trace", "activations", "autodiff", "backprop", "check_grads", "costs",
    "cross_entropy", "examples", "feedforward", "fit", "loss", "quadratic",
    "softmax_cross_entropy", "trace",
]
