"""The NumPy peers, written the way people write them.

* ``numpy-nielsen``: Nielsen's ``network.py`` (chapter 1): column vectors, ``W`` as
  ``(n_out, n_in)``, and ``update_mini_batch`` looping over the samples of each mini-batch,
  calling ``backprop(x, y)`` per sample and summing ``nabla_b`` / ``nabla_w``. The sweep W2
  loops over runs; W5 runs a few batches (reported as throughput).
* ``numpy-batch``: the same math on whole mini-batches (one matrix product per layer per
  step, batch-first like jaxbp); for W2 all runs at once with stacked ``np.matmul``.

Both are float32 except W3 (float64), like the other implementations.
"""
import numpy as np


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))   # = 1 / (1 + exp(-z)), without overflow warnings


def softmax_column(z):
    e = np.exp(z - z.max())
    return e / e.sum()


class Network:
    """Nielsen's ``Network``, with ``biases``/``weights`` given instead of drawn."""

    def __init__(self, params, output, cost, train_biases=True):
        self.weights = [np.ascontiguousarray(W.T) for W, _ in params]   # (n_out, n_in)
        self.biases = [b.reshape(-1, 1).copy() for _, b in params]
        self.num_layers = len(params) + 1
        self.output, self.cost, self.train_biases = output, cost, train_biases

    def update_mini_batch(self, mini_batch, eta):
        nabla_b = [np.zeros(b.shape, b.dtype) for b in self.biases]
        nabla_w = [np.zeros(w.shape, w.dtype) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        if self.train_biases:
            self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        activation, activations, zs = x, [x], []
        for l, (b, w) in enumerate(zip(self.biases, self.weights)):
            z = np.dot(w, activation) + b
            zs.append(z)
            last = l == len(self.weights) - 1
            activation = softmax_column(z) if last and self.output == "softmax" else sigmoid(z)
            activations.append(activation)
        if self.cost == "softmax_cross_entropy":
            delta = activations[-1] - y
        else:
            delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, self.num_layers):
            sp = sigmoid_prime(zs[-l])
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sp
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return nabla_b, nabla_w

    def params(self):
        return [(w.T.copy(), b.ravel().copy()) for w, b in zip(self.weights, self.biases)]


def sigmoid_prime(z):
    s = sigmoid(z)
    return s * (1 - s)


def _columns(x, y):
    return [(xi.reshape(-1, 1), yi.reshape(-1, 1)) for xi, yi in zip(x, y)]


def nielsen_runner(w, params0, data, batches):
    x, y = data[0].astype(w.dtype), data[1].astype(w.dtype)
    eta = np.asarray(w.lr, w.dtype)
    samples = _columns(x, y)

    def train(params):
        net = Network(params, w.output, w.cost, not w.frozen_biases)
        if batches is None:
            for _ in range(w.steps):
                net.update_mini_batch(samples, eta)
        else:
            for idx in batches:
                net.update_mini_batch([samples[i] for i in idx], eta)
        return net.params()

    if w.wid == "W2":
        def run():
            finals = [train([(W[r], b[r]) for W, b in params0]) for r in range(w.runs)]
            return [(np.stack([f[l][0] for f in finals]), np.stack([f[l][1] for f in finals]))
                    for l in range(len(params0))]
        return run
    return lambda: train([(W.copy(), b.copy()) for W, b in params0])


def batch_runner(w, params0, data, batches):
    x, y = data[0].astype(w.dtype), data[1].astype(w.dtype)
    lr = np.asarray(w.lr, w.dtype)

    def step(params, xb, yb):
        # forward: one matrix product per layer; runs (W2) broadcast on a leading axis
        activations = [xb]
        for l, (W, b) in enumerate(params):
            z = np.matmul(activations[-1], W) + b[..., None, :]
            last = l == len(params) - 1
            if last and w.output == "softmax":
                e = np.exp(z - z.max(axis=-1, keepdims=True))
                activations.append(e / e.sum(axis=-1, keepdims=True))
            else:
                activations.append(sigmoid(z))
        a = activations[-1]
        delta = a - yb if w.cost == "softmax_cross_entropy" else (a - yb) * a * (1 - a)
        n = xb.shape[-2]
        new = [None] * len(params)
        for l in reversed(range(len(params))):
            W, b = params[l]
            gW = np.matmul(np.swapaxes(activations[l], -1, -2), delta) / n
            gb = delta.mean(axis=-2)
            if l:
                delta = np.matmul(delta, np.swapaxes(W, -1, -2)) * activations[l] * (1 - activations[l])
            new[l] = (W - lr * gW, b if w.frozen_biases else b - lr * gb)
        return new

    def run():
        params = [(W.copy(), b.copy()) for W, b in params0]
        if batches is None:
            for _ in range(w.steps):
                params = step(params, x, y)
        else:
            for idx in batches:
                params = step(params, x[idx], y[idx])
        return params
    return run


def one_thread_runner(w, params0, data, batches):
    """``batch_runner`` with NumPy's BLAS limited to one thread (threadpoolctl)."""
    from threadpoolctl import threadpool_limits
    run = batch_runner(w, params0, data, batches)

    def run_1t():
        with threadpool_limits(1):
            return run()
    return run_1t


def variants(threads=1):
    every = ("W1", "W2", "W3", "W4", "W5")
    extra = {}
    try:
        import threadpoolctl  # noqa: F401  (comes with scikit-learn)
    except ImportError:
        threads = 1
    if threads > 1:
        extra["numpy-batch-1t"] = ("NumPy, whole-batch matrices, 1 BLAS thread",
                                   {"W5": one_thread_runner}, set())
    return {
        "numpy-nielsen": ("NumPy, Nielsen's network.py (per-sample loop)",
                          dict.fromkeys(every, nielsen_runner), {"W2", "W5"}),
        "numpy-batch": ("NumPy, whole-batch matrices", dict.fromkeys(every, batch_runner), set()),
        **extra,
    }
