"""jaxbp.diagnose: the likely mistake, recognised in wrong backward passes written here.

The wrong passes below do not use jaxbp.bugs: each is a plain numpy backward pass, one
sample at a time (as a student writes it), with one mistake made the way people make it.
The recogniser must name the mistake across architectures, costs and batch sizes, and
decline (likely=None) when the numbers are merely perturbed.
"""
import jax
import numpy as np
import pytest

import jaxbp
from jaxbp.backprop import Trace

F = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "identity": lambda z: z,
     "relu": lambda z: np.maximum(z, 0)}


def sigmoid_prime(v):
    s = 1 / (1 + np.exp(-v))
    return s * (1 - s)


PRIME = {"sigmoid": sigmoid_prime, "tanh": lambda v: 1 - np.tanh(v) ** 2,
         "identity": np.ones_like, "relu": lambda v: (v > 0) * 1.0}


def student_backprop(mistake=None, lr=0.3, noise=None):
    """A per-sample backward pass with loops; ``mistake`` names what is done wrong."""
    def manual(net, params, x, y, cost, l2):
        Ws = [np.asarray(p["W"], np.float64) for p in params]
        bs = [np.asarray(p["b"], np.float64) for p in params]
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        acts_names, L, n = net.activations, len(Ws), x.shape[0]
        all_deltas = [[] for _ in range(L)]
        gW = [np.zeros_like(W) for W in Ws]
        gb = [np.zeros_like(b) for b in bs]
        zs_all, as_all = [[] for _ in range(L)], [[] for _ in range(L + 1)]
        for s in range(n):
            a, zs, outs = x[s], [], [x[s]]
            for W, b, name in zip(Ws, bs, acts_names):
                z = a @ W + b
                a = np.exp(z - z.max()) / np.exp(z - z.max()).sum() if name == "softmax" else F[name](z)
                zs.append(z)
                outs.append(a)
            out, t = outs[-1], y[s]
            if cost.name == "quadratic":
                delta = (out - t) * (1.0 if mistake == "no output prime" else PRIME[acts_names[-1]](zs[-1]))
            else:
                delta = out - t
                if mistake == "sigmoid prime on fused delta":
                    delta = delta * out * (1 - out)
            if mistake == "double softmax":
                delta = delta + (out - t)
            deltas = [None] * L
            deltas[-1] = delta
            for l in range(L - 2, -1, -1):
                W_above = Ws[l + 1]
                back = deltas[l + 1] @ (W_above if mistake == "untransposed" else W_above.T)
                if mistake == "prime of a":
                    deltas[l] = back * PRIME[acts_names[l]](outs[l + 1])
                else:
                    deltas[l] = back * PRIME[acts_names[l]](zs[l])
            for l in range(L):
                all_deltas[l].append(deltas[l])
                zs_all[l].append(zs[l])
                gW[l] += np.outer(outs[l], deltas[l])
                gb[l] += deltas[l]
            for l in range(L + 1):
                as_all[l].append(outs[l])
        if mistake != "no batch mean":
            gW = [g / n for g in gW]
            gb = [g / n for g in gb]
        gW = [g + (0 if mistake == "forgot l2" else l2 * W) for g, W in zip(gW, Ws)]
        if mistake == "l2 on biases":
            gb = [g + l2 * b for g, b in zip(gb, bs)]
        deltas = [np.array(d) for d in all_deltas]
        if noise is not None:                       # a random perturbation of one layer
            layer, what = noise
            rng = np.random.default_rng(7)
            if what == "delta":
                deltas[layer] = deltas[layer] * (1 + 0.05 * rng.normal(size=deltas[layer].shape))
            else:
                gW[layer] = gW[layer] + 0.05 * np.abs(gW[layer]).max() * rng.normal(size=gW[layer].shape)
        as_tuple = lambda arrs: tuple(np.array(a) for a in arrs)
        return Trace(0.0, as_tuple(zs_all), as_tuple(as_all), tuple(deltas),
                     tuple({"W": w, "b": b} for w, b in zip(gW, gb)))

    return _sequential(lr) if mistake == "sequential" else manual


def _sequential(lr):
    """The sequential update written the other way round: delta^L first, then the output
    weights updated, then the hidden delta computed with them (one hidden layer)."""
    def manual(net, params, x, y, cost, l2):
        (W1, b1), (W2, b2) = [(np.asarray(p["W"], np.float64), np.asarray(p["b"], np.float64))
                              for p in params]
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        h_name, o_name = net.activations
        n = x.shape[0]
        z1 = x @ W1 + b1
        h = F[h_name](z1)
        z2 = h @ W2 + b2
        o = F[o_name](z2)
        d2 = (o - y) * PRIME[o_name](z2) if cost.name == "quadratic" else o - y
        g2 = h.T @ d2 / n + l2 * W2
        W2_new = W2 - lr * g2
        d1 = (d2 @ W2_new.T) * PRIME[h_name](z1)
        g1 = x.T @ d1 / n + l2 * W1
        return Trace(0.0, (z1, z2), (x, h, o), (d1, d2),
                     ({"W": g1, "b": d1.mean(0)}, {"W": g2, "b": d2.mean(0)}))
    return manual


def problem(sizes, hidden, output, n, seed=1):
    net = jaxbp.MLP(sizes, hidden=hidden, output=output)
    params = net.init(jax.random.key(seed))
    params = tuple({"W": p["W"], "b": p["b"] - 0.2} for p in params)
    rng = np.random.default_rng(seed)
    y = rng.uniform(0.1, 0.9, size=(n, sizes[-1]))
    if output == "softmax":
        y = y / y.sum(axis=1, keepdims=True)
    return net, params, rng.normal(size=(n, sizes[0])), y


CASES = [  # (mistake, net, cost, n, l2, expected equation, words)
    ("no output prime", ((3, 5, 2), "tanh", "sigmoid"), "quadratic", 3, 0.0,
     "layer 1 BP1", "sigma'(z) is missing"),
    ("sigmoid prime on fused delta", ((2, 3, 3, 1), "sigmoid", "sigmoid"), "cross_entropy", 5,
     0.0, "layer 2 BP1", "extra sigma'(z)"),
    ("double softmax", ((2, 3, 3), "relu", "softmax"), "softmax_cross_entropy", 4, 0.0,
     "layer 1 BP1", "softmax's Jacobian applied twice"),
    ("prime of a", ((4, 3, 3, 2), "tanh", "identity"), "quadratic", 6, 0.0,
     "layer 1 BP2", "sigma'(a)"),
    ("prime of a", ((2, 6, 1), "sigmoid", "sigmoid"), "cross_entropy", 1, 0.01,
     "layer 0 BP2", "sigma'(a)"),
    ("untransposed", ((3, 3, 3), "sigmoid", "sigmoid"), "quadratic", 2, 0.0,
     "layer 0 BP2", "not transposed"),
    ("no batch mean", ((2, 4, 1), "tanh", "sigmoid"), "cross_entropy", 7, 0.0,
     "layer 1 BP3", "n = 7 x the right value: the batch mean is missing"),
    ("no batch mean", ((3, 4, 3, 2), "relu", "identity"), "quadratic", 3, 0.05,
     "layer 2 BP3", "batch mean is missing"),
    ("forgot l2", ((2, 3, 2), "sigmoid", "sigmoid"), "quadratic", 4, 0.2,
     "layer 1 BP4", "missing the L2 term"),
    ("l2 on biases", ((3, 2, 2), "tanh", "sigmoid"), "cross_entropy", 4, 0.3,
     "layer 1 BP3", "L2 is applied to the biases"),
    ("sequential", ((2, 2, 2), "sigmoid", "sigmoid"), "quadratic", 1, 0.0,
     "layer 0 BP2", "already updated, W - eta dC/dW with eta = 0.3"),
    ("sequential", ((3, 4, 2), "tanh", "identity"), "quadratic", 5, 0.1,
     "layer 0 BP2", "eta = 0.3"),
]


@pytest.mark.slow
@pytest.mark.parametrize("mistake, arch, cost, n, l2, where, words", CASES)
def test_an_independent_wrong_pass_is_named(mistake, arch, cost, n, l2, where, words):
    net, params, x, y = problem(*arch, n)
    report = jaxbp.check_grads(net, params, x, y, cost, l2=l2, manual=student_backprop(mistake))
    assert report.worst == where, (report.worst, str(report))
    assert report.likely is not None and words in report.likely, report.likely


def test_the_student_pass_without_a_mistake_is_right():
    net, params, x, y = problem((3, 4, 3, 2), "tanh", "sigmoid", 4)
    report = jaxbp.check_grads(net, params, x, y, "quadratic", l2=0.1, manual=student_backprop())
    assert report.ok and report.likely is None, str(report)


@pytest.mark.slow
@pytest.mark.parametrize("layer, what", [(0, "delta"), (1, "delta"), (2, "W"), (0, "W")])
def test_random_perturbations_are_not_given_a_name(layer, what):
    net, params, x, y = problem((3, 4, 3, 2), "tanh", "sigmoid", 4)
    report = jaxbp.check_grads(net, params, x, y, "cross_entropy", l2=0.1,
                               manual=student_backprop(noise=(layer, what)))
    assert not report.ok and report.worst.startswith(f"layer {layer}")
    assert report.likely is None, report.likely
    assert "likely" not in str(report)
