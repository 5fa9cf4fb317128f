"""Type hints: every public function and method of jaxbp is fully annotated, and every hint
resolves (``typing.get_type_hints``), so that ``py.typed`` tells type checkers the truth."""
import collections.abc
import importlib
import inspect
import pkgutil
import typing

import pytest

import jaxbp

MODULES = sorted(m.name for m in pkgutil.iter_modules(jaxbp.__path__)
                 if not m.ispkg and not m.name.startswith("_"))


def _typing_only():
    """Names that modules import under ``if TYPE_CHECKING:`` (to import no JAX, or to keep
    the imports flowing one way); get_type_hints resolves them here, where they live."""
    from pathlib import Path

    from jaxbp import _types
    from jaxbp.backprop import Trace
    from jaxbp.costs import Cost
    from jaxbp.network import MLP
    from jaxbp.sweep import ManyResult
    names = {name: getattr(_types, name) for name in _types.__all__}
    names.update(MLP=MLP, Trace=Trace, Cost=Cost, ManyResult=ManyResult, Path=Path)
    return names


def missing_hints(fn):
    """What is wrong with ``fn``'s hints, as a list of strings (empty: fully hinted)."""
    problems = []
    sig = inspect.signature(fn)
    for name, p in sig.parameters.items():
        if name in ("self", "cls") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.annotation is p.empty:
            problems.append(f"parameter {name!r} has no hint")
    if sig.return_annotation is sig.empty:
        problems.append("the return has no hint")
    namespace = {**_typing_only(), **getattr(fn, "__globals__", {})}
    try:
        typing.get_type_hints(fn, globalns=namespace, localns=namespace)
    except Exception as e:  # a NameError, or a hint that is not a type
        problems.append(f"its hints do not resolve: {type(e).__name__}: {e}")
    return problems


def public_functions(module):
    """Public functions defined in ``module``, and the public methods, properties and
    special methods of its public classes, as ``(qualified name, function)``."""
    out = []
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(inspect.unwrap(obj)):  # jitted functions too
            out.append((name, inspect.unwrap(obj)))
        elif inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if isinstance(member, property):
                    member = member.fget
                special = attr.startswith("__") and attr.endswith("__")
                if (inspect.isfunction(member) and (special or not attr.startswith("_"))
                        and member.__code__.co_filename == inspect.getfile(module)):
                    out.append((f"{name}.{attr}", member))
    return out


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_function_of_the_module_is_fully_hinted(module_name):
    module = importlib.import_module(f"jaxbp.{module_name}")
    functions = public_functions(module)
    problems = {name: missing_hints(fn) for name, fn in functions}
    assert {name: p for name, p in problems.items() if p} == {}


def test_every_exported_function_and_class_is_fully_hinted():
    checked = []
    for name, (_, attribute) in sorted(jaxbp._EXPORTS.items()):
        if attribute is None:
            continue
        obj = getattr(jaxbp, name)
        if inspect.isfunction(inspect.unwrap(obj)):
            assert missing_hints(inspect.unwrap(obj)) == [], name
            checked.append(name)
        elif inspect.isclass(obj):
            for method, fn in public_functions(importlib.import_module(obj.__module__)):
                if method.startswith(f"{name}."):
                    assert missing_hints(fn) == [], method
            checked.append(name)
    assert {"backprop", "autodiff", "check_grads", "feedforward", "fit", "fit_epochs", "load",
            "make_step", "optimizer", "explain", "MLP", "Step", "Trace"} <= set(checked)


def test_the_check_finds_missing_and_unresolvable_hints():
    def unhinted(a, b: int = 0):
        return a

    def unresolvable(a: "NoSuchType") -> int:  # noqa: F821
        return 0

    assert missing_hints(unhinted) == ["parameter 'a' has no hint", "the return has no hint"]
    assert missing_hints(unresolvable)[0].startswith("its hints do not resolve: NameError")


def test_the_aliases_describe_what_the_functions_return():
    import jax

    from jaxbp import _types
    net = jaxbp.MLP((2, 3, 1))
    params = net.init(jax.random.key(0))
    assert typing.get_type_hints(jaxbp.MLP.init)["return"] == _types.Params
    assert isinstance(params, tuple)
    assert all(set(layer) == {"W", "b"} and all(isinstance(a, jax.Array) for a in layer.values())
               for layer in params)
    loss, grads = jaxbp.backprop(net, params, [[0.0, 1.0]], [[1.0]], "quadratic")
    assert isinstance(loss, jax.Array) and isinstance(grads, tuple)
    assert all(isinstance(layer["W"], jax.Array) for layer in grads)


def _matches(value, hint):
    """Whether ``value`` is of the type ``hint`` (a class, a Callable or a Union of them)."""
    if typing.get_origin(hint) is typing.Union:
        return any(_matches(value, h) for h in typing.get_args(hint))
    if typing.get_origin(hint) is collections.abc.Callable:
        return callable(value)
    return isinstance(value, hint)


def test_optimizer_like_names_every_kind_of_optimizer_that_fit_takes():
    import jax.numpy as jnp
    import optax

    from jaxbp.optim import resolve
    hint = typing.get_type_hints(jaxbp.fit)["optimizer"]
    kinds = [0.5, jnp.asarray(0.5), optax.linear_schedule(0.5, 0.1, 10),
             jaxbp.optimizer("adam", 1e-3), optax.sgd(0.1)]
    for kind in kinds:
        resolve("fit", kind, jnp.float32)   # fit takes it
        assert _matches(kind, hint), kind
    with pytest.raises(TypeError, match="optimizer must be"):
        resolve("fit", "adam", jnp.float32)
    assert not _matches("adam", hint)
