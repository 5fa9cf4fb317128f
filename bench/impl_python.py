"""The pure-Python peer for the tiny nets (W1, W3): one scalar variable per weight, the
network written out unit by unit, full-batch gradient descent in a plain ``for`` loop --
the fastest way to write these nets in CPython (lists and inner loops cost 10x more).

Python floats are float64, so on W1 (float32 elsewhere) it agrees within float32's
tolerance, and on W3 to the last digits.
"""
import math

import numpy as np


def _sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z)) if z > -700.0 else 0.0


def train_221(W1, b1, W2, b2, data, lr, steps):
    """XOR's 2-2-1 sigmoid net; ``W1[i][j]``: input i -> hidden j; quadratic cost."""
    (w11, w12), (w21, w22) = W1
    c1, c2 = b1
    (v1,), (v2,) = W2
    (d,) = b2
    s = _sigmoid
    eta = lr / len(data)
    for _ in range(steps):
        gw11 = gw12 = gw21 = gw22 = gc1 = gc2 = gv1 = gv2 = gd = 0.0
        for x1, x2, y in data:
            h1 = s(x1 * w11 + x2 * w21 + c1)
            h2 = s(x1 * w12 + x2 * w22 + c2)
            o = s(h1 * v1 + h2 * v2 + d)
            e = (o - y) * o * (1.0 - o)                      # BP1
            e1 = e * v1 * h1 * (1.0 - h1)                    # BP2
            e2 = e * v2 * h2 * (1.0 - h2)
            gv1 += e * h1; gv2 += e * h2; gd += e            # BP4, BP3
            gw11 += e1 * x1; gw21 += e1 * x2; gc1 += e1
            gw12 += e2 * x1; gw22 += e2 * x2; gc2 += e2
        w11 -= eta * gw11; w12 -= eta * gw12; w21 -= eta * gw21; w22 -= eta * gw22
        c1 -= eta * gc1; c2 -= eta * gc2
        v1 -= eta * gv1; v2 -= eta * gv2; d -= eta * gd
    return [([[w11, w12], [w21, w22]], [c1, c2]), ([[v1], [v2]], [d])]


def train_222(W1, b1, W2, b2, x, y, lr, steps):
    """Mazur's 2-2-2 net on one sample, biases frozen (as in the post)."""
    (w1, w3), (w2, w4) = W1          # our W[i, j] is input i -> unit j
    (w5, w7), (w6, w8) = W2
    c1, c2 = b1
    d1, d2 = b2
    i1, i2 = x
    t1, t2 = y
    s = _sigmoid
    for _ in range(steps):
        h1 = s(w1 * i1 + w2 * i2 + c1)
        h2 = s(w3 * i1 + w4 * i2 + c2)
        o1 = s(w5 * h1 + w6 * h2 + d1)
        o2 = s(w7 * h1 + w8 * h2 + d2)
        e1 = (o1 - t1) * o1 * (1.0 - o1)                     # BP1
        e2 = (o2 - t2) * o2 * (1.0 - o2)
        f1 = (e1 * w5 + e2 * w7) * h1 * (1.0 - h1)           # BP2
        f2 = (e1 * w6 + e2 * w8) * h2 * (1.0 - h2)
        w5 -= lr * e1 * h1; w6 -= lr * e1 * h2               # BP4
        w7 -= lr * e2 * h1; w8 -= lr * e2 * h2
        w1 -= lr * f1 * i1; w2 -= lr * f1 * i2
        w3 -= lr * f2 * i1; w4 -= lr * f2 * i2
    return [([[w1, w3], [w2, w4]], [c1, c2]), ([[w5, w7], [w6, w8]], [d1, d2])]


def runner(w, params0, data, batches):
    (W1, b1), (W2, b2) = ([p.astype(float).tolist() for p in layer] for layer in params0)
    x, y = data[0].astype(float).tolist(), data[1].astype(float).tolist()
    if w.wid == "W1":
        samples = [(a, b, t[0]) for (a, b), t in zip(x, y)]
        train = lambda: train_221(W1, b1, W2, b2, samples, w.lr, w.steps)  # noqa: E731
    else:
        train = lambda: train_222(W1, b1, W2, b2, x[0], y[0], w.lr, w.steps)  # noqa: E731
    return lambda: [(np.array(W), np.array(b)) for W, b in train()]


def variants():
    return {"python": ("pure Python, scalar code", {"W1": runner, "W3": runner}, set())}
