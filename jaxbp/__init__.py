"""jaxbp: backpropagation written out by hand (Nielsen's BP1-BP4), checked against jax.grad.

Importing jaxbp never changes ``jax.config``; for float64, call
``jax.config.update("jax_enable_x64", True)`` yourself at program start.
"""
from . import activations, costs, examples, gates, optim, perceptron, shuffle
from .activations import ACTIVATIONS, Activation
from .autodiff import autodiff, loss
from .backprop import Trace, backprop, trace
from .costs import COSTS, Cost, cross_entropy, quadratic, softmax_cross_entropy
from .epochs import EpochHistory, fit_epochs
from .errors import NonFiniteError, ParamsFileError
from .gradcheck import GradReport, check_grads
from .io import load, save
from .network import MLP, feedforward
from .optim import optimizer
from .step import Step, make_step
from .train import diverged_at, fit
from . import epochs, step, train  # noqa: E402  (the modules, after the functions of the same name)
from . import bugs, data, diagnose, parallel, sweep, viz, walkthrough, worksheet  # noqa: E402
from .slope import SlopeReport, slope_test  # noqa: E402
from .walkthrough import explain

__version__ = "0.2.0"


__all__ = [
    "ACTIVATIONS", "Activation", "COSTS", "Cost", "EpochHistory", "GradReport", "MLP", "SlopeReport",
    "NonFiniteError", "ParamsFileError", "Step", "Trace", "activations", "autodiff", "backprop",
    "bugs", "check_grads", "costs", "cross_entropy", "data", "diagnose", "diverged_at", "epochs", "examples", "explain",
    "feedforward", "fit", "fit_epochs", "gates", "load", "loss", "make_step", "optim", "optimizer",
    "parallel", "perceptron", "quadratic", "save", "shuffle", "slope_test", "softmax_cross_entropy", "step",
    "sweep", "trace", "train", "viz", "walkthrough", "worksheet",
]
