"""A catalogue of wrong backward passes: the mistakes people really make in backprop.

Each entry is a function with the signature ``check_grads`` takes as ``manual=``::

    trace = bug(net, params, x, y, cost, l2)        # -> jaxbp.backprop.Trace

It runs the four equations (written out again below, independently of
:mod:`jaxbp.backprop`) with exactly one mistake, so a class can watch
``jaxbp.check_grads(..., manual=jaxbp.bugs.batch_sum)`` name the equation and the mistake::

    report = jaxbp.check_grads(net, params, x, y, "quadratic", manual=bugs.batch_sum)
    report.worst    # 'layer 1 BP3'
    report.likely   # 'layer 1 BP3 is n = 4 x the right value: the batch mean is missing ...'

Every function carries ``story`` (one line: what was written and why it is wrong),
``reference`` (a public place where it was reported or asked about, or None), ``equation``
(where it shows first) and ``needs`` (what the problem must have for the mistake to change
any number: e.g. ``"l2 > 0"``; empty when it always shows). ``CATALOGUE`` maps names to
the functions. The recogniser (:mod:`jaxbp.diagnose`) never looks at this module: it
recognises the *signature* of a mistake in any backward pass.
"""
from functools import partial
from typing import Any, Dict

import jax
import jax.numpy as jnp

from ._types import Params, Scalar
from .backprop import Trace
from .costs import COSTS, CostLike
from .network import MLP, feedforward

CATALOGUE: Dict[str, Any] = {}   # name -> function, carrying story, reference, ...


def _bug(equation, story, reference=None, needs=""):
    def register(fn):
        fn.story, fn.reference, fn.equation, fn.needs = story, reference, equation, needs
        CATALOGUE[fn.__name__] = fn
        return fn
    return register


# ---- the four equations, with a hook for each ------------------------------------------

def _bp1(z, y, act, cost):
    return cost.delta(z, y, act)


def _bp2(delta_above, W_above, grad_W_above, z, act, act_name):
    return (delta_above @ W_above.T) * act.prime(z)


def _bp3(delta, b, l2, n):
    return jnp.sum(delta, axis=0) / n


def _bp4(a_below, z_below, delta, W, l2, n):
    return a_below.T @ delta / n + l2 * W


def _backprop(net, params, x, y, cost, l2, bp1=_bp1, bp2=_bp2, bp3=_bp3, bp4=_bp4):
    """The four equations, layer by layer from the top: delta^l, then dC/db^l, dC/dW^l.
    Each hook is a module-level function (so that the jitted pass compiles once per bug)."""
    cost = COSTS[cost] if isinstance(cost, str) else cost
    return _four_equations(net, cost, (bp1, bp2, bp3, bp4), tuple(params), x, y, l2)


@partial(jax.jit, static_argnums=(0, 1, 2))
def _four_equations(net, cost, hooks, params, x, y, l2):
    bp1, bp2, bp3, bp4 = hooks
    zs, activations = feedforward(net, params, x)
    sigma, n, L = net.layers, x.shape[0], len(params)
    deltas, grads = [None] * L, [None] * L
    for l in reversed(range(L)):
        if l == L - 1:
            deltas[l] = bp1(zs[l], y, sigma[l], cost)                                 # BP1
        else:
            deltas[l] = bp2(deltas[l + 1], params[l + 1]["W"], grads[l + 1]["W"],
                            zs[l], sigma[l], net.activations[l])                                          # BP2
        z_below = zs[l - 1] if l else x
        grads[l] = {"W": bp4(activations[l], z_below, deltas[l], params[l]["W"], l2, n),  # BP4
                    "b": bp3(deltas[l], params[l]["b"], l2, n)}                           # BP3
    loss = jnp.mean(cost.value(zs[-1], y, sigma[-1])) \
        + 0.5 * l2 * sum(jnp.sum(p["W"] ** 2) for p in params)
    return Trace(loss, tuple(zs), tuple(activations), tuple(deltas), tuple(grads))


def _prime_from_output(act_name, a):
    """sigma' written in terms of the unit's output a (the shortcut s(1 - s) and friends)."""
    return {"sigmoid": a * (1 - a), "tanh": 1 - a ** 2, "relu": (a > 0).astype(a.dtype),
            "identity": jnp.ones_like(a), "softmax": a * (1 - a)}[act_name]


# ---- BP1 ----------------------------------------------------------------------------------
# Each mistake is one hook (a module-level function) given to the four equations.

def _bp1_twice(z, y, act, cost):
    return 2 * cost.delta(z, y, act)


@_bug("BP1", "softmax's gradient applied twice: a - y (which already contains the softmax "
      "Jacobian) added to J^T dC/da, giving 2 (a - y) -- 'off by a factor of two'",
      "https://github.com/markroxor/fromscratchtoml/issues/65")
def softmax_gradient_twice(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                           l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp1=_bp1_twice)


def _bp1_diagonal_softmax(z, y, act, cost):
    return -y * (1 - jax.nn.softmax(z, axis=-1))


@_bug("BP1", "softmax's Jacobian taken as diagonal: dC/da = -y/a times a(1 - a) elementwise, "
      "giving -y (1 - a) instead of a - y (softmax output with softmax cross-entropy)",
      "https://github.com/Apiquet/DeepLearningFrameworkFromScratchCpp/issues/1",
      needs="softmax output")
def softmax_diagonal_jacobian(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                              l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp1=_bp1_diagonal_softmax)


def _bp1_no_prime(z, y, act, cost):
    return act.fn(z) - y


@_bug("BP1", "sigma'(z^L) dropped from the quadratic cost's output error: delta^L = a - y, "
      "which is the cross-entropy's BP1, not the quadratic's (a - y) sigma'(z)",
      "https://github.com/Bot-Academy/NeuralNetworkFromScratch/pull/3",
      needs="quadratic cost, output not identity")
def output_prime_missing(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                         l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp1=_bp1_no_prime)


def _bp1_extra_prime(z, y, act, cost):
    a = act.fn(z)
    return (a - y) * a * (1 - a)


@_bug("BP1", "sigma'(z^L) applied on top of cross-entropy's a - y, which already has it "
      "cancelled: delta^L = (a - y) sigma'(z), as if the cost were quadratic",
      "https://github.com/hunkim/DeepLearningZeroToAll/pull/113",
      needs="cross-entropy cost (sigmoid output)")
def output_prime_extra(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                       l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp1=_bp1_extra_prime)


def _bp1_negated(z, y, act, cost):
    return -cost.delta(z, y, act)


@_bug("BP1", "the output error with the wrong sign, y - a instead of a - y: every gradient "
      "points uphill and gradient descent climbs the cost")
def sign_flipped(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                 l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp1=_bp1_negated)


# ---- BP2 ----------------------------------------------------------------------------------

def _bp2_prime_of_a(d, W, gW, z, act, name):
    return (d @ W.T) * act.prime(act.fn(z))


@_bug("BP2", "sigma'(a) where sigma'(z) belongs: sigmoid_prime applied to the stored "
      "activation, which is already sigma(z)",
      "https://github.com/rasmusbergpalm/DeepLearnToolbox/issues/165",
      needs="a hidden layer that is not relu or identity")
def prime_of_activation(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                        l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp2=_bp2_prime_of_a)


def _bp2_output_form_on_z(d, W, gW, z, act, name):
    return (d @ W.T) * _prime_from_output(name, z)


@_bug("BP2", "the output form of the derivative applied to z: z (1 - z) for the sigmoid "
      "(1 - z^2 for tanh), a formula that needs a = sigma(z)",
      "https://github.com/BoltzmannEntropy/interviews.ai/issues/15",
      needs="a sigmoid or tanh hidden layer")
def output_form_on_z(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                     l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp2=_bp2_output_form_on_z)


def _bp2_fn_for_prime(d, W, gW, z, act, name):
    return (d @ W.T) * act.fn(z)


@_bug("BP2", "the activation where its derivative belongs: sigma(z) instead of sigma'(z) "
      "(a tanh_d that returns tanh)",
      "https://github.com/andersbll/nnet/issues/4", needs="a hidden layer that is not relu")
def activation_for_prime(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                         l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp2=_bp2_fn_for_prime)


def _bp2_no_prime(d, W, gW, z, act, name):
    return d @ W.T


@_bug("BP2", "sigma'(z) forgotten in BP2: delta^l = delta^{l+1} W^T, as if the hidden layer "
      "were linear", needs="a hidden layer that is not identity")
def hidden_prime_missing(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                         l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp2=_bp2_no_prime)


def _bp2_untransposed(d, W, gW, z, act, name):
    return (d @ W) * act.prime(z)


@_bug("BP2", "W not transposed in BP2: delta^{l+1} W instead of delta^{l+1} W^T; the shapes "
      "only agree when the layer above is square, which is how it slips through",
      needs="a square weight matrix above every hidden layer (e.g. 2-2-2)")
def w_not_transposed(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                     l2: Scalar) -> Trace:
    for l, layer in enumerate(params[1:], 1):
        if layer["W"].shape[0] != layer["W"].shape[1]:
            raise ValueError(f"w_not_transposed: delta W (untransposed) needs a square W above "
                             f"every hidden layer; layer {l}: W has shape {layer['W'].shape} "
                             f"(on such nets this mistake shows as a shape error)")
    return _backprop(net, params, x, y, cost, l2, bp2=_bp2_untransposed)


def _bp2_gradient_for_weights(d, W, gW, z, act, name):
    return (d @ gW.T) * act.prime(z)


@_bug("BP2", "the gradient dC/dW^{l+1} used in BP2 where the weights W^{l+1} belong (the "
      "question asked on jcjohnson/pytorch-examples: 'should w2.T be grad_w2.T?')",
      "https://github.com/jcjohnson/pytorch-examples/issues/5")
def gradient_for_weights(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                         l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp2=_bp2_gradient_for_weights)


SEQUENTIAL_LR = 0.5   # Mazur's eta


def _bp2_updated_weights(d, W, gW, z, act, name):
    return (d @ (W - SEQUENTIAL_LR * gW).T) * act.prime(z)


@_bug("BP2", "the hidden deltas computed with the weights above already updated, "
      "W - eta dC/dW (eta = 0.5): the sequential update behind Mazur's printed 0.291027924",
      "https://github.com/Bot-Academy/NeuralNetworkFromScratch/pull/3")
def updated_weights(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                    l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp2=_bp2_updated_weights)


# ---- BP3 ----------------------------------------------------------------------------------

def _bp3_zero(d, b, l2, n):
    return jnp.zeros_like(b)


@_bug("BP3", "the biases never updated: their gradient is never computed (left at zero)",
      "https://github.com/vlfeat/matconvnet/issues/197")
def biases_never_updated(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                         l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp3=_bp3_zero)


def _bp3_summed_over_units(d, b, l2, n):
    return jnp.full_like(b, jnp.sum(d) / n)


@_bug("BP3", "the bias gradient summed over the units as well as the batch: one number "
      "broadcast to every bias of the layer",
      "https://github.com/rasbt/stat453-deep-learning-ss21/issues/5",
      needs="a layer of two or more units")
def bias_summed_over_units(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                           l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp3=_bp3_summed_over_units)


def _bp3_l2(d, b, l2, n):
    return jnp.sum(d, axis=0) / n + l2 * b


@_bug("BP3", "L2 applied to the biases too: dC/db gets + l2 b although the cost only "
      "penalises the weights",
      "https://github.com/rasmusbergpalm/DeepLearnToolbox/issues/32",
      needs="l2 > 0 and nonzero biases")
def l2_on_biases(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                 l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp3=_bp3_l2)


# ---- BP4 (and BP3) ------------------------------------------------------------------------

def _bp3_sum(d, b, l2, n):
    return jnp.sum(d, axis=0)


def _bp4_sum(a, z, d, W, l2, n):
    return a.T @ d + l2 * W


@_bug("BP3", "the batch mean missing: BP3 and BP4 sum over the batch where the cost (a "
      "mean) needs the mean, so the step grows with the batch size",
      "https://github.com/davharris/mistnet/issues/33", needs="a batch of two or more")
def batch_sum(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
              l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp3=_bp3_sum, bp4=_bp4_sum)


def _bp4_pre_activation(a, z, d, W, l2, n):
    return z.T @ d / n + l2 * W


@_bug("BP4", "the pre-activation z^{l-1} where the post-activation a^{l-1} belongs: "
      "dC/dW^l = z^{l-1 T} delta^l / n", needs="two or more layers, hidden not identity")
def pre_activation_in_bp4(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                          l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp4=_bp4_pre_activation)


def _bp4_l2_sign(a, z, d, W, l2, n):
    return a.T @ d / n - l2 * W


@_bug("BP4", "the L2 term with the wrong sign: dC/dW = ... - l2 W, which grows the weights",
      "https://github.com/andersbll/nnet/issues/4", needs="l2 > 0")
def l2_sign_flipped(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
                    l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp4=_bp4_l2_sign)


def _bp4_l2_doubled(a, z, d, W, l2, n):
    return a.T @ d / n + 2 * l2 * W


@_bug("BP4", "the L2 gradient doubled: 2 l2 W, the derivative of l2 ||W||^2, with the cost's "
      "0.5 l2 ||W||^2", "https://github.com/titu1994/DenseNet/issues/57", needs="l2 > 0")
def l2_doubled(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
               l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp4=_bp4_l2_doubled)


def _bp4_no_l2(a, z, d, W, l2, n):
    return a.T @ d / n


@_bug("BP4", "the L2 term in the cost but not in its gradient (weight decay forgotten in "
      "the backward pass)", needs="l2 > 0")
def l2_missing(net: MLP, params: Params, x: jax.Array, y: jax.Array, cost: CostLike,
               l2: Scalar) -> Trace:
    return _backprop(net, params, x, y, cost, l2, bp4=_bp4_no_l2)


def describe(name: str) -> str:
    """One paragraph on a catalogue entry: its name, equation, story and reference."""
    bug = CATALOGUE[name]
    ref = f" Reported: {bug.reference}" if bug.reference else ""
    needs = f" Shows only with: {bug.needs}." if bug.needs else ""
    return f"{name} ({bug.equation}): {bug.story}.{needs}{ref}"
