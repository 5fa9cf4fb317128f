"""jaxbp: backpropagation written out by hand (Nielsen's BP1-BP4), checked against jax.grad.

Importing jaxbp never changes ``jax.config``; for float64, call
``jax.config.update("jax_enable_x64", True)`` yourself at program start.

The names below load their module on first use (PEP 562), so that ``import jaxbp`` -- and
``jaxbp --help`` -- does not import JAX until something needs it.
"""
import importlib
import sys
import types
from typing import TYPE_CHECKING

__version__ = "0.2.0"

# public name -> (module, attribute in it; None for the module itself)
_EXPORTS = {
    **{name: ("activations", name) for name in ("ACTIVATIONS", "Activation")},
    **{name: ("autodiff", name) for name in ("autodiff", "loss")},
    **{name: ("backprop", name) for name in ("Trace", "backprop", "trace")},
    **{name: ("costs", name) for name in ("COSTS", "Cost", "cross_entropy", "quadratic",
                                          "softmax_cross_entropy")},
    **{name: ("epochs", name) for name in ("EpochHistory", "fit_epochs")},
    **{name: ("errors", name) for name in ("NonFiniteError", "ParamsFileError")},
    **{name: ("gradcheck", name) for name in ("GradReport", "check_grads")},
    **{name: ("io", name) for name in ("load", "save")},
    **{name: ("network", name) for name in ("MLP", "feedforward")},
    "optimizer": ("optim", "optimizer"),
    **{name: ("slope", name) for name in ("SlopeReport", "slope_test")},
    **{name: ("step", name) for name in ("Step", "make_step")},
    **{name: ("train", name) for name in ("diverged_at", "fit")},
    **{name: ("vjp", name) for name in ("HessianReport", "check_hessian", "hessian",
                                        "manual_loss", "manual_vjp")},
    "explain": ("walkthrough", "explain"),
    **{name: (name, None) for name in (
        "activations", "bugs", "costs", "data", "diagnose", "epochs", "examples", "gates",
        "optim", "parallel", "perceptron", "runs_last", "shuffle", "step", "sweep", "train", "viz",
        "vjp", "walkthrough", "worksheet")},
}
# "step", "train" and "epochs" are modules; make_step, fit and fit_epochs their functions.
_EXPORTS.update(step=("step", None), train=("train", None), epochs=("epochs", None))

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'jaxbp' has no attribute '{name}'")
    module_name, attribute = _EXPORTS[name]
    module = importlib.import_module(f".{module_name}", __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


class _Package(types.ModuleType):
    """``jaxbp.backprop`` and ``jaxbp.autodiff`` are functions, in modules of the same name.
    When such a module is first imported, Python sets it as an attribute of the package;
    this keeps the function there instead (``import jaxbp.backprop`` still works)."""

    def __setattr__(self, name, value):
        if name in ("autodiff", "backprop") and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:  # what type checkers and IDEs see
    from . import (activations, bugs, costs, data, diagnose, epochs, examples, gates, optim,  # noqa: F401
                   parallel, perceptron, runs_last, shuffle, step, sweep, train, viz,
                   walkthrough, worksheet)
    from .activations import ACTIVATIONS, Activation  # noqa: F401
    from .autodiff import autodiff, loss  # noqa: F401
    from .backprop import Trace, backprop, trace  # noqa: F401
    from .costs import COSTS, Cost, cross_entropy, quadratic, softmax_cross_entropy  # noqa: F401
    from .epochs import EpochHistory, fit_epochs  # noqa: F401
    from .errors import NonFiniteError, ParamsFileError  # noqa: F401
    from .gradcheck import GradReport, check_grads  # noqa: F401
    from .io import load, save  # noqa: F401
    from .network import MLP, feedforward  # noqa: F401
    from .optim import optimizer  # noqa: F401
    from .slope import SlopeReport, slope_test  # noqa: F401
    from .step import Step, make_step  # noqa: F401
    from .train import diverged_at, fit  # noqa: F401
    from . import vjp  # noqa: F401
    from .vjp import HessianReport, check_hessian, hessian, manual_loss, manual_vjp  # noqa: F401
    from .walkthrough import explain  # noqa: F401
