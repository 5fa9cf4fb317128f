"""Named, validated optimizers whose numbers are data, not code.

``jaxbp.optimizer("adam", 1e-3, b1=0.9)`` checks every hyper-parameter (RELIABILITY E29,
E30, E8) and returns an :class:`Optimizer`: a small pytree whose *leaves* are the numbers
(learning rate, b1, ...) and whose *static* part is the name and the flags. :func:`jaxbp.fit`
compiles against the static part only and feeds the numbers in as traced values (through
``optax.inject_hyperparams``), so ``fit(..., jaxbp.optimizer("sgd", 0.5))`` and
``fit(..., jaxbp.optimizer("sgd", 0.7))`` share one compiled program, and ``jax.vmap`` over
a learning rate works.

==========  =========================  ==============================================
name        optax                      hyper-parameters (defaults)
==========  =========================  ==============================================
sgd         ``sgd``                    --
momentum    ``sgd(momentum=...)``      momentum=0.9 in [0, 1)
nesterov    ``sgd(nesterov=True)``     momentum=0.9 in [0, 1)
adam        ``adam``                   b1=0.9, b2=0.999 in [0, 1); eps=1e-8 > 0
adamw       ``adamw``                  as adam, weight_decay=1e-4 >= 0
rmsprop     ``rmsprop``                decay=0.9 in [0, 1); eps=1e-8 > 0; centered=False
adagrad     ``adagrad``                initial_accumulator_value=0.1 >= 0; eps=1e-7 > 0
==========  =========================  ==============================================

``lr`` (the learning rate, jaxbp's one name for it) is a finite float > 0 or a schedule (a
callable ``step -> rate``, e.g. from ``optax.linear_schedule``). A schedule is part of the
static description (a new schedule object compiles a new program); a number is not. optax
calls it ``learning_rate``: :func:`build` is the one place that maps ``lr`` to that keyword.
"""
import difflib
import numbers
from typing import Any, Dict, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _checks
from ._types import DTypeLike, PyTree, Scalar, ScalarOrSchedule, Schedule

_UNIT = ("in [0, 1)", lambda v: 0 <= v < 1)
_POSITIVE, _NON_NEGATIVE = _checks.POSITIVE, _checks.NON_NEGATIVE

# name -> (optax factory, {hyper-parameter: (default, rule)}, fixed flags, settable flags)
SPECS = {
    "sgd": (optax.sgd, {}, {}, {}),
    "momentum": (optax.sgd, {"momentum": (0.9, _UNIT)}, {}, {}),
    "nesterov": (optax.sgd, {"momentum": (0.9, _UNIT)}, {"nesterov": True}, {}),
    "adam": (optax.adam, {"b1": (0.9, _UNIT), "b2": (0.999, _UNIT), "eps": (1e-8, _POSITIVE)},
             {}, {}),
    "adamw": (optax.adamw, {"b1": (0.9, _UNIT), "b2": (0.999, _UNIT), "eps": (1e-8, _POSITIVE),
                            "weight_decay": (1e-4, _NON_NEGATIVE)}, {}, {}),
    "rmsprop": (optax.rmsprop, {"decay": (0.9, _UNIT), "eps": (1e-8, _POSITIVE)}, {},
                {"centered": False}),
    "adagrad": (optax.adagrad, {"initial_accumulator_value": (0.1, _NON_NEGATIVE),
                                "eps": (1e-7, _POSITIVE)}, {}, {}),
}
NAMES = tuple(sorted(SPECS))
# Other libraries' names for the same hyper-parameters, for the "did you mean" hint.
ALIASES = {"beta1": "b1", "beta_1": "b1", "beta2": "b2", "beta_2": "b2", "epsilon": "eps",
           "rho": "decay", "mu": "momentum", "initial_accumulator": "initial_accumulator_value"}


# Optimizer.static: (name, schedule or None, hyper-parameter names, flags).
Static = Tuple[str, Optional[Schedule], Tuple[str, ...], Tuple[Tuple[str, bool], ...]]


def check_lr(fn: str, lr: Any) -> ScalarOrSchedule:
    """A finite float > 0, or a schedule (any callable) (E29). Traced values pass unchecked."""
    if callable(lr):
        return lr
    return _checks.check_number(fn, "lr", lr, *_POSITIVE)


class Optimizer(NamedTuple):
    """A named optimizer: ``name``, ``lr`` (the learning rate: number or schedule), the numeric
    ``hparams`` as sorted ``(name, value)`` pairs and the boolean ``flags`` likewise.

    Build it with :func:`optimizer` (which validates). It is a pytree: the learning rate
    (unless a schedule) and the hparams are its leaves, so it can cross ``jax.jit`` and
    ``jax.vmap`` boundaries. It also works as an ``optax.GradientTransformation`` (``init``,
    ``update``) for hand-written loops.
    """
    name: str
    lr: ScalarOrSchedule
    hparams: Tuple[Tuple[str, Scalar], ...] = ()
    flags: Tuple[Tuple[str, bool], ...] = ()

    @property
    def static(self) -> Static:
        """The hashable part that selects the compiled program (no numbers in it)."""
        schedule = self.lr if callable(self.lr) else None
        return (self.name, schedule, tuple(k for k, _ in self.hparams), self.flags)

    @property
    def numbers(self) -> Dict[str, Scalar]:
        """The traced part: ``{name: value}`` for the learning rate and the hparams."""
        values = dict(self.hparams)
        if not callable(self.lr):
            values["lr"] = self.lr
        return values

    def transform(self) -> optax.GradientTransformation:
        """The ``optax.GradientTransformation``, with every number injected as state."""
        return build(self.static, self.numbers)

    @property
    def init(self) -> optax.TransformInitFn:
        return self.transform().init

    @property
    def update(self) -> optax.TransformUpdateFn:
        return self.transform().update

    def __repr__(self) -> str:
        rate = self.lr
        rate = f"<schedule {getattr(rate, '__name__', type(rate).__name__)}>" if callable(rate) \
            else repr(rate)
        args = "".join(f", {k}={v!r}" for k, v in self.hparams + self.flags)
        return f"jaxbp.optimizer({self.name!r}, {rate}{args})"


def _flatten(opt):
    values = opt.numbers
    keys = tuple(sorted(values))
    return tuple(values[k] for k in keys), (opt.static, keys)


def _unflatten(aux, leaves):
    (name, schedule, _, flags), keys = aux
    values = dict(zip(keys, leaves))
    rate = schedule if schedule is not None else values.pop("lr")
    return Optimizer(name, rate, tuple(sorted(values.items())), flags)


jax.tree_util.register_pytree_node(Optimizer, _flatten, _unflatten)

# What fit, make_step and the sweeps take as ``optimizer``: a learning rate (plain SGD), a
# schedule, a jaxbp.optimizer(...) or any optax transformation.
OptimizerLike = Union[ScalarOrSchedule, Optimizer, optax.GradientTransformation]
# What selects a compiled program: an Optimizer's static part, or an optax object itself.
StaticLike = Union[Static, optax.GradientTransformation]
# trainable_labels: per layer, sorted (leaf, "train" | "freeze") pairs.
Labels = Tuple[Tuple[Tuple[str, str], ...], ...]


def build(static: Static, values: Mapping[str, Scalar]) -> optax.GradientTransformation:
    """The optax transform for ``(Optimizer.static, Optimizer.numbers)``.

    Called inside the compiled kernels with traced ``values``: they become entries of
    ``InjectHyperparamsState.hyperparams`` (cast to the params dtype), never constants.
    The one place where jaxbp's ``lr`` becomes optax's ``learning_rate`` keyword.
    """
    name, schedule, _, flags = static
    factory, _, fixed, _ = SPECS[name]
    kwargs = {k: v for k, v in values.items() if k != "lr"}
    kwargs.update(fixed, **dict(flags))
    kwargs["learning_rate"] = schedule if schedule is not None else values["lr"]
    return optax.inject_hyperparams(factory)(**kwargs)


def optimizer(name: str, lr: Optional[ScalarOrSchedule] = None,
              **hparams: Union[Scalar, bool]) -> Optimizer:
    """A validated named optimizer for :func:`jaxbp.fit` and :func:`jaxbp.fit_epochs`.

    Args:
      name: one of ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"``, ``"adamw"``,
        ``"rmsprop"``, ``"adagrad"`` (see the module docstring for their hyper-parameters).
      lr: the learning rate (required): a finite float > 0, or a schedule ``step -> rate``.
        Its default None exists only so that 0.2.0's ``learning_rate=`` gets a clear error.
      **hparams: the optimizer's hyper-parameters; omitted ones take the defaults above.

    Raises:
      ValueError: unknown name (with a close-match hint), a value out of range such as
        ``lr=nan`` or ``b1=1.5``, or an unknown hyper-parameter.
      TypeError: a value that is not a number (``lr="0.1"``, or no ``lr`` at all), or the
        name of version 0.2.0, ``learning_rate=`` (the name is now ``lr``).

    Example::

        opt = jaxbp.optimizer("adam", 1e-2, b1=0.8)
        params, history = jaxbp.fit(net, params, x, y, "quadratic", opt, steps=500)
    """
    fn = "optimizer"
    if "learning_rate" in hparams:
        raise TypeError(f"{fn}: got learning_rate={hparams['learning_rate']!r}; the learning "
                        f"rate is now called lr (renamed after 0.2.0): "
                        f"jaxbp.optimizer({name!r}, lr=...)")
    _, spec, _, flag_spec = _checks.choose(fn, "optimizer", name, SPECS)
    lr = check_lr(fn, lr)
    values = {k: default for k, (default, _) in spec.items()}
    flags = dict(flag_spec)
    for key, value in hparams.items():
        if key in spec:
            values[key] = _checks.check_number(fn, f"{name} {key}", value, *spec[key][1])
        elif key in flags:
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{fn}: {name} {key} must be a bool, got {type(value).__name__}")
            flags[key] = bool(value)
        else:
            valid = sorted(spec) + sorted(flags)
            close = [ALIASES[key]] if ALIASES.get(key) in valid else \
                difflib.get_close_matches(key, valid, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            takes = f"expected one of {valid}" if valid else \
                "it takes only a learning rate (for momentum use 'momentum' or 'nesterov')"
            raise ValueError(f"{fn}: unknown hyper-parameter {key!r} for {name!r}; {takes}{hint}")
    return Optimizer(name, lr, tuple(sorted(values.items())),
                     tuple(sorted(flags.items())))


# --- plumbing for the training kernels (jaxbp.train) ------------------------------------------

def resolve(fn: str, optimizer: OptimizerLike, dtype: Optional[DTypeLike]
            ) -> Tuple[StaticLike, Dict[str, jax.Array], Optional[ScalarOrSchedule]]:
    """``fit``'s ``optimizer`` argument as ``(static, numbers, lr)``: the jit-static
    description, the traced numbers (arrays of ``dtype``) and the learning rate for
    messages (None when unknown, i.e. for a raw optax transform, which is itself static)."""
    if isinstance(optimizer, Optimizer):
        opt = optimizer
    elif isinstance(optimizer, optax.GradientTransformation):
        return optimizer, {}, None
    elif callable(optimizer) or isinstance(optimizer, (numbers.Real, np.ndarray, np.generic,
                                                       jax.Array)):
        opt = Optimizer("sgd", check_lr(fn, optimizer))
    else:
        raise TypeError(f"{fn}: optimizer must be an optax.GradientTransformation, a "
                        f"jaxbp.optimizer(...) or a learning rate (float) for plain SGD, got "
                        f"{type(optimizer).__name__} {optimizer!r}")
    return opt.static, {k: jnp.asarray(v, dtype) for k, v in opt.numbers.items()}, opt.lr


def describe_rate(lr: Optional[ScalarOrSchedule], static: object) -> str:
    """``lr=0.5`` (or the schedule's or the optax object's name) for messages."""
    if lr is None:
        return f"custom optimizer {type(static).__name__}"
    if callable(lr):
        name = getattr(lr, "__name__", type(lr).__name__)
        return f"lr schedule {name}"
    if isinstance(lr, jax.core.Tracer):
        return "traced lr"
    return f"lr={float(lr)}"


def trainable_labels(fn: str, params: Sequence[Mapping[str, Any]], trainable: Optional[PyTree]
                     ) -> Optional[Labels]:
    """The static mask for :func:`transform`: per layer, sorted ``(leaf, "train" | "freeze")``
    pairs; None when every leaf trains. ``trainable`` is a pytree of bools like ``params``
    or a prefix of it (one bool per layer, or one for everything)."""
    if trainable is None:
        return None

    def flag(t):
        if isinstance(t, (bool, np.bool_)) or (isinstance(t, (np.ndarray, jax.Array))
                                               and t.shape == () and t.dtype == bool
                                               and _checks.is_concrete(t)):
            return "train" if bool(t) else "freeze"
        raise TypeError(f"{fn}: trainable must hold Python bools, got {type(t).__name__} {t!r}")

    if isinstance(trainable, list):  # a list and a tuple of layers are the same thing here
        trainable = tuple(trainable)
    try:
        full = jax.tree_util.tree_map(
            lambda t, sub: jax.tree_util.tree_map(lambda _: flag(t), sub), trainable,
            tuple(params))
    except ValueError as e:
        raise ValueError(f"{fn}: trainable must have the structure of params or a prefix of it "
                         f"(one bool per layer, or a dict like {{'W': True, 'b': False}} per "
                         f"layer): {e}") from None
    labels = tuple(tuple(sorted(layer.items())) for layer in full)
    return None if all(how == "train" for layer in labels for _, how in layer) else labels


def transform(static: StaticLike, values: Mapping[str, jax.Array], labels: Optional[Labels]
              ) -> optax.GradientTransformation:
    """The optax transform inside a kernel. Frozen leaves (``labels``) go to
    ``optax.set_to_zero`` through ``optax.multi_transform``: no update, no optimizer state."""
    tx = static if isinstance(static, optax.GradientTransformation) else build(static, values)
    if labels is None:
        return tx
    return optax.multi_transform({"train": tx, "freeze": optax.set_to_zero()},
                                 tuple(dict(layer) for layer in labels))
