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
from . import shuffle, train
from .train import fit

__version__ = "0.1.0"

# Parts built on the core, loaded on first use (so that ``import jaxbp`` stays light):
# attribute -> (module, name in it or None for the module itself).
_LAZY = {
    "gates": ("gates", None), "perceptron": ("perceptron", None),
    "explain": ("walkthrough", "explain"), "walkthrough": ("walkthrough", None),
    "save": ("io", "save"), "load": ("io", "load"), "io": ("io", None),
    "viz": ("viz", None), "parallel": ("parallel", None),
    "optimizer": ("optim", "optimizer"), "optim": ("optim", None),
    "sweep": ("sweep", None), "data": ("data", None),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'jaxbp' has no attribute '{name}'")
    import importlib
    module_name, attr = _LAZY[name]
    try:
        module = importlib.import_module(f".{module_name}", __name__)
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{module_name}":
            raise
        raise AttributeError(f"module 'jaxbp' has no attribute '{name}' (not built yet)") from None
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value

__all__ = [
    "ACTIVATIONS", "Activation", "COSTS", "Cost", "GradReport", "MLP", "NonFiniteError",
    "ParamsFileError", "Trace", "activations", "autodiff", "backprop", "check_grads", "costs",
    "cross_entropy", "examples", "feedforward", "fit", "loss", "quadratic",
    "shuffle", "softmax_cross_entropy", "trace", "train",
    # loaded on first use:
    "data", "explain", "gates", "io", "load", "optim", "optimizer", "parallel", "perceptron",
    "save", "sweep", "viz", "walkthrough",
]
