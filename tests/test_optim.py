"""jaxbp.optimizer: validation (E29, E30, E8), equality with optax, traced numbers (G8)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxbp
from jaxbp import train
from jaxbp.optim import NAMES

X = np.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
Y = np.array([[0.], [1.], [1.], [0.]])
NET = jaxbp.MLP((2, 3, 1))


def params64(seed=0):
    return NET.init(jax.random.key(seed), dtype=jnp.float64)


# --- E29: the learning rate --------------------------------------------------------------------

@pytest.mark.parametrize("bad, shown", [(float("nan"), "nan"), (float("inf"), "inf"),
                                        (-float("inf"), "-inf"), (0.0, "0.0"), (-0.1, "-0.1"),
                                        (np.float32(-1), "-1.0")])
def test_learning_rate_out_of_range(bad, shown):
    with pytest.raises(ValueError, match=rf"^optimizer: lr must be a finite float > 0, got {shown}$"):
        jaxbp.optimizer("sgd", bad)


def test_e29_message_exactly_as_specified():
    with pytest.raises(ValueError, match=r"lr must be a finite float > 0, got nan"):
        jaxbp.optimizer("adam", math.nan)


@pytest.mark.parametrize("bad", ["0.1", None, True, [0.1], np.ones(2), 1 + 2j])
def test_learning_rate_not_a_number(bad):
    with pytest.raises(TypeError, match=r"^optimizer: lr must be a finite float > 0, got "):
        jaxbp.optimizer("sgd", bad)


def test_lr_is_the_name_and_learning_rate_says_so():
    """0.2.0 called the argument learning_rate; now it is lr, and the old keyword is a clear
    TypeError (never taken as an unknown hyper-parameter, never silently ignored)."""
    assert jaxbp.optimizer("adam", lr=0.01) == jaxbp.optimizer("adam", 0.01)
    assert jaxbp.optimizer("sgd", lr=0.5).lr == 0.5
    for call in (lambda: jaxbp.optimizer("sgd", learning_rate=0.1),
                 lambda: jaxbp.optimizer("adam", 0.1, learning_rate=0.1, b1=0.8)):
        with pytest.raises(TypeError, match=r"^optimizer: got learning_rate=0\.1; the learning "
                                            r"rate is now called lr .*jaxbp\.optimizer\('(sgd|adam)', lr=\.\.\.\)$"):
            call()
    with pytest.raises(TypeError, match=r"^optimizer: lr must be a finite float > 0, got NoneType"):
        jaxbp.optimizer("sgd")


def test_optax_gets_lr_as_its_learning_rate():
    """The one mapping to optax's keyword: the injected state holds lr as 'learning_rate'."""
    state = jaxbp.optimizer("momentum", lr=0.25).init(params64())
    assert float(state.hyperparams["learning_rate"]) == 0.25
    assert float(state.hyperparams["momentum"]) == 0.9


@pytest.mark.parametrize("bad", [float("nan"), 0, -2.0])
def test_fit_number_learning_rate_checked(bad):
    with pytest.raises(ValueError, match=r"^fit: lr must be a finite float > 0, got "):
        jaxbp.fit(NET, params64(), X, Y, "quadratic", bad, steps=1)


def test_fit_string_optimizer_is_type_error():
    with pytest.raises(TypeError, match=r"^fit: optimizer must be an optax.GradientTransformation, "
                                        r"a jaxbp.optimizer\(...\) or a learning rate"):
        jaxbp.fit(NET, params64(), X, Y, "quadratic", "0.1", steps=1)


def test_schedule_is_accepted_and_used():
    """A callable learning rate is a schedule of the step count; SGD with rate(t) = 1/(t+1)
    checked against a hand loop with jax.grad."""
    schedule = lambda count: 1.0 / (count + 1.0)
    opt = jaxbp.optimizer("sgd", schedule)
    assert opt.lr is schedule
    params, history = jaxbp.fit(NET, params64(), X, Y, "quadratic", opt, steps=4)
    p = params64()
    loss = lambda p: 0.5 * jnp.mean(jnp.sum((NET.apply(p, X) - Y) ** 2, axis=1))
    value_and_grad = jax.jit(jax.value_and_grad(loss))
    for t in range(4):
        value, grads = value_and_grad(p)
        np.testing.assert_allclose(history[t], value, rtol=1e-12)
        p = jax.tree_util.tree_map(lambda a, g: a - g / (t + 1.0), p, grads)
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(p)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


# --- E30, E8: hyper-parameters and names --------------------------------------------------------

def test_e30_adam_b1():
    with pytest.raises(ValueError, match=r"adam b1 must be in \[0, 1\), got 1\.5"):
        jaxbp.optimizer("adam", 0.1, b1=1.5)


@pytest.mark.parametrize("name, hparams, pattern", [
    ("adam", dict(eps=-1), r"adam eps must be a finite float > 0, got -1\.0"),
    ("adam", dict(eps=0.0), r"adam eps must be a finite float > 0, got 0\.0"),
    ("adam", dict(b2=1.0), r"adam b2 must be in \[0, 1\), got 1\.0"),
    ("adam", dict(b1=-0.1), r"adam b1 must be in \[0, 1\), got -0\.1"),
    ("adam", dict(b1=float("nan")), r"adam b1 must be in \[0, 1\), got nan"),
    ("momentum", dict(momentum=1.0), r"momentum momentum must be in \[0, 1\), got 1\.0"),
    ("nesterov", dict(momentum=-0.5), r"nesterov momentum must be in \[0, 1\), got -0\.5"),
    ("adamw", dict(weight_decay=-1e-3), r"adamw weight_decay must be a finite float >= 0, got -0\.001"),
    ("rmsprop", dict(decay=1.2), r"rmsprop decay must be in \[0, 1\), got 1\.2"),
    ("adagrad", dict(initial_accumulator_value=-1), r"adagrad initial_accumulator_value must be a finite float >= 0"),
])
def test_e30_out_of_range(name, hparams, pattern):
    with pytest.raises(ValueError, match="^optimizer: " + pattern):
        jaxbp.optimizer(name, 0.1, **hparams)


def test_hparam_of_wrong_type():
    with pytest.raises(TypeError, match=r"^optimizer: adam b1 must be in \[0, 1\), got str '0.9'"):
        jaxbp.optimizer("adam", 0.1, b1="0.9")
    with pytest.raises(TypeError, match=r"^optimizer: rmsprop centered must be a bool, got int"):
        jaxbp.optimizer("rmsprop", 0.1, centered=1)


def test_e8_unknown_optimizer_lists_names_and_hints():
    with pytest.raises(ValueError, match=r"^optimizer: unknown optimizer 'adma'; expected one of "
                                         r"\['adagrad', 'adam', 'adamw', 'momentum', 'nesterov', "
                                         r"'rmsprop', 'sgd'\] \(did you mean 'adam'\?\)$"):
        jaxbp.optimizer("adma", 0.1)
    with pytest.raises(TypeError, match=r"^optimizer: optimizer must be a name \(str\), got int"):
        jaxbp.optimizer(3, 0.1)


def test_unknown_hyper_parameter_hints():
    with pytest.raises(ValueError, match=r"^optimizer: unknown hyper-parameter 'beta1' for 'adam'; "
                                         r"expected one of \['b1', 'b2', 'eps'\] \(did you mean 'b1'\?\)"):
        jaxbp.optimizer("adam", 0.1, beta1=0.9)
    with pytest.raises(ValueError, match=r"'sgd'; it takes only a learning rate \(for momentum use "
                                         r"'momentum' or 'nesterov'\)"):
        jaxbp.optimizer("sgd", 0.1, momentum=0.9)


# --- the optimizers are the optax ones -----------------------------------------------------------

CASES = {"sgd": (optax.sgd, {}, {}),
         "momentum": (optax.sgd, dict(momentum=0.8), dict(momentum=0.8)),
         "nesterov": (optax.sgd, dict(momentum=0.7), dict(momentum=0.7, nesterov=True)),
         "adam": (optax.adam, dict(b1=0.8, b2=0.99, eps=1e-6), dict(b1=0.8, b2=0.99, eps=1e-6)),
         "adamw": (optax.adamw, dict(weight_decay=0.01), dict(weight_decay=0.01)),
         "rmsprop": (optax.rmsprop, dict(decay=0.8, centered=True), dict(decay=0.8, centered=True)),
         "adagrad": (optax.adagrad, dict(eps=1e-5), dict(eps=1e-5))}


def test_every_name_has_a_case():
    assert set(CASES) == set(NAMES)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_named_optimizer_equals_optax(name):
    """fit with jaxbp.optimizer(name) == a plain loop over the optax factory and jax.grad."""
    factory, ours, theirs = CASES[name]
    lr, steps = 0.05, 6
    params, history = jaxbp.fit(NET, params64(), X, Y, "cross_entropy",
                                jaxbp.optimizer(name, lr, **ours), steps=steps)
    tx = factory(lr, **theirs)
    p = params64()
    state = tx.init(p)

    def loss(p):  # binary cross-entropy from logits, written independently of jaxbp
        z = jax.nn.sigmoid(X @ p[0]["W"] + p[0]["b"][None, :]) @ p[1]["W"] + p[1]["b"][None, :]
        return jnp.mean(jnp.sum(jax.nn.softplus(z) - Y * z, axis=1))

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    for t in range(steps):
        value, grads = value_and_grad(p)
        np.testing.assert_allclose(history[t], value, rtol=1e-12)
        updates, state = tx.update(grads, state, p)
        p = optax.apply_updates(p, updates)
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(p)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_optimizer_is_an_optax_transformation_too():
    opt = jaxbp.optimizer("momentum", 0.1, momentum=0.5)
    p = {"w": jnp.array([1.0, -2.0])}
    g = {"w": jnp.array([0.5, 0.25])}
    state = opt.init(p)
    u1, state = opt.update(g, state, p)
    u2, state = opt.update(g, state, p)
    # trace: m1 = g, m2 = 0.5 * m1 + g; update = -lr * m
    np.testing.assert_allclose(u1["w"], -0.1 * g["w"], rtol=1e-12)
    np.testing.assert_allclose(u2["w"], -0.1 * 1.5 * g["w"], rtol=1e-12)


def test_defaults_repr_and_static_part():
    opt = jaxbp.optimizer("adam", 1e-3)
    assert dict(opt.hparams) == {"b1": 0.9, "b2": 0.999, "eps": 1e-8}
    assert repr(opt) == "jaxbp.optimizer('adam', 0.001, b1=0.9, b2=0.999, eps=1e-08)"
    other = jaxbp.optimizer("adam", 0.5, b1=0.5)
    assert opt.static == other.static and hash(opt.static) == hash(other.static)
    assert jaxbp.optimizer("nesterov", 0.1).static != jaxbp.optimizer("momentum", 0.1).static


def test_optimizer_is_a_pytree_of_its_numbers():
    opt = jaxbp.optimizer("adam", 0.01, b1=0.8)
    assert sorted(jax.tree_util.tree_leaves(opt)) == sorted([0.8, 0.999, 1e-8, 0.01])
    doubled = jax.tree_util.tree_map(lambda v: 2 * v, opt)
    assert doubled.lr == 0.02 and dict(doubled.hparams)["b1"] == 1.6
    assert doubled.static == opt.static


@pytest.mark.slow
def test_learning_rate_is_traced_not_static():
    """G8: one compiled fit for every learning rate, b1, ...; only the kind of optimizer
    (name, flags) and a schedule object are static."""
    run = lambda opt: jaxbp.fit(NET, params64(), X, Y, "quadratic", opt, steps=3)
    run(jaxbp.optimizer("adam", 0.1))
    before = train.TRACES["fit"], train._run._cache_size()
    h1 = run(jaxbp.optimizer("adam", 0.2, b1=0.5))[1]
    h2 = run(jaxbp.optimizer("adam", 0.3, b2=0.9, eps=1e-4))[1]
    assert (train.TRACES["fit"], train._run._cache_size()) == before
    assert not np.allclose(h1, h2)  # the new numbers were used
    run(jaxbp.optimizer("rmsprop", 0.1, centered=True))  # another kind: a new program
    assert train.TRACES["fit"] == before[0] + 1


@pytest.mark.slow
def test_vmap_over_optimizer_numbers():
    """A batch of learning rates through jax.vmap == one fit per rate."""
    rates = jnp.array([0.05, 0.1, 0.2])
    run = lambda lr: jaxbp.fit(NET, params64(), X, Y, "quadratic",
                               jaxbp.optimizer("momentum", lr, momentum=0.5), steps=20)[1]
    batched = jax.vmap(run)(rates)
    for i, lr in enumerate([0.05, 0.1, 0.2]):
        np.testing.assert_allclose(batched[i], run(lr), rtol=1e-12)
