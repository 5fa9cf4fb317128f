"""One name for the learning rate: ``lr``, in every public signature of jaxbp.

Walks every public module of the package (and the demo programs), and every public function,
class and method defined in them, and reads the parameter names with ``inspect.signature``.
"""
import importlib
import inspect
import pkgutil

import jaxbp

OTHER_NAMES = {"learning_rate", "eta", "learningRate", "learning_rate_init", "step_size"}


def public_modules():
    names = ["jaxbp"]
    for package in ("jaxbp", "jaxbp.demos"):
        path = importlib.import_module(package).__path__
        names += [f"{package}.{m.name}" for m in pkgutil.iter_modules(path)
                  if not m.name.startswith("_")]
    return [importlib.import_module(n) for n in names]


def public_callables():
    """(qualified name, callable) of each public function, class and method defined in jaxbp."""
    found = {}
    for module in public_modules():
        for name in getattr(module, "__all__", None) or dir(module):
            if name.startswith("_"):
                continue
            obj = getattr(module, name)
            if not callable(obj) or not getattr(obj, "__module__", "").startswith("jaxbp"):
                continue
            found[f"{obj.__module__}.{obj.__qualname__}"] = obj
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and inspect.isfunction(member):
                        found[f"{obj.__module__}.{obj.__qualname__}.{attr}"] = member
    return found


def parameters(fn):
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):  # no signature to read (a builtin)
        return []


def test_no_public_signature_names_the_learning_rate_otherwise():
    found = public_callables()
    # the walk really reaches the names it must check (so this test can fail)
    assert {"jaxbp.optim.optimizer", "jaxbp.optim.Optimizer", "jaxbp.train.fit",
            "jaxbp.walkthrough.explain", "jaxbp.perceptron.fit", "jaxbp.sweep.train_many",
            "jaxbp.playground.playground"} <= set(found)
    assert parameters(jaxbp.optimizer)[:2] == ["name", "lr"]
    assert "lr" in parameters(jaxbp.optim.Optimizer) and "lr" in parameters(jaxbp.explain)
    offenders = sorted(f"{where}({name})" for where, fn in found.items()
                       for name in parameters(fn) if name in OTHER_NAMES)
    assert offenders == [], f"the learning rate is lr in jaxbp; these use another name: {offenders}"


def test_playground_settings_say_lr():
    from jaxbp import playground
    assert "lr" in playground.DEFAULTS and "lr" in playground.CONTROLS
    assert not OTHER_NAMES & (set(playground.DEFAULTS) | set(playground.CONTROLS))
