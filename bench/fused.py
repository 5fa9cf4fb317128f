"""What is achievable: plain SGD hand-fused into one ``jit`` + ``lax.scan`` over the same math
(BP1-BP4 for sigmoid layers, quadratic or softmax-CE cost), with nothing else in the loop
body -- no optimizer state, no loss history: the floor under every loop of the same
arithmetic (:mod:`bench.impl_jax` has the plain JAX loops with ``optax`` and the history).

For the sweep W2 the runs go on the *last* axis (params ``(n_in, n_out, runs)``) and each
tiny matmul is unrolled into broadcast multiply-adds, so every operation is a vector
operation over 1,024 runs instead of 1,024 tiny matrix products. This is a reference for
the bench's diagnosis, not a jaxbp API.
"""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np


def _grads(params, x, y, output, cost, train_b):
    zs, acts = [], [x]
    for l, (W, b) in enumerate(params):
        zs.append(acts[-1] @ W + b[None, :])
        last = l == len(params) - 1
        acts.append(jax.nn.softmax(zs[-1], axis=-1) if last and output == "softmax"
                    else jax.nn.sigmoid(zs[-1]))
    a = acts[-1]
    delta = a - y if cost == "softmax_cross_entropy" else (a - y) * a * (1 - a)     # BP1
    n = x.shape[0]
    grads = [None] * len(params)
    for l in reversed(range(len(params))):
        gW = acts[l].T @ delta / n                                                  # BP4
        gb = jnp.mean(delta, axis=0) if train_b else jnp.zeros_like(params[l][1])    # BP3
        grads[l] = (gW, gb)
        if l:
            delta = (delta @ params[l][0].T) * acts[l] * (1 - acts[l])               # BP2
    return grads


@partial(jax.jit, static_argnames=("output", "cost", "lr", "train_b", "steps"))
def sgd(params, x, y, batches, *, output, cost, lr, train_b, steps):
    def step(params, idx):
        xb, yb = (x, y) if idx is None else (x[idx], y[idx])
        grads = _grads(params, xb, yb, output, cost, train_b)
        return [(W - lr * gW, b - lr * gb) for (W, b), (gW, gb) in zip(params, grads)], None
    params, _ = jax.lax.scan(step, params, batches, length=steps)
    return params


def _mm(a, W):
    """``a (n, i, R) x W (i, j, R) -> (n, j, R)``, unrolled over i."""
    out = a[:, 0, None, :] * W[None, 0]
    for i in range(1, W.shape[0]):
        out = out + a[:, i, None, :] * W[None, i]
    return out


def _mm_t(d, W):
    """``d (n, j, R) x W (i, j, R)^T -> (n, i, R)``, unrolled over j."""
    out = d[:, 0, None, :] * W[None, :, 0]
    for j in range(1, W.shape[1]):
        out = out + d[:, j, None, :] * W[None, :, j]
    return out


def _outer_mean(a, d):
    """``mean over samples of a (n, i, R) outer d (n, j, R) -> (i, j, R)``."""
    out = a[0, :, None, :] * d[0, None, :, :]
    for k in range(1, a.shape[0]):
        out = out + a[k, :, None, :] * d[k, None, :, :]
    return out / a.shape[0]


@partial(jax.jit, static_argnames=("lr", "steps"))
def sgd_runs_last(params, x, y, *, lr, steps):
    """Full-batch SGD of many sigmoid/quadratic nets at once, runs on the last axis."""
    runs = params[0][1].shape[-1]
    x = jnp.broadcast_to(x[:, :, None], x.shape + (runs,))
    y = jnp.broadcast_to(y[:, :, None], y.shape + (runs,))

    def step(params, _):
        acts = [x]
        for W, b in params:
            acts.append(jax.nn.sigmoid(_mm(acts[-1], W) + b[None]))
        delta = (acts[-1] - y) * acts[-1] * (1 - acts[-1])
        new = [None] * len(params)
        for l in reversed(range(len(params))):
            W, b = params[l]
            new[l] = (W - lr * _outer_mean(acts[l], delta), b - lr * jnp.mean(delta, axis=0))
            if l:
                delta = _mm_t(delta, W) * acts[l] * (1 - acts[l])
        return new, None
    params, _ = jax.lax.scan(step, params, None, length=steps)
    return params


def fused_runner(w, params0, data, batches):
    if w.wid == "W2":
        last = [(jnp.asarray(np.moveaxis(W, 0, -1)), jnp.asarray(np.moveaxis(b, 0, -1)))
                for W, b in params0]
        x, y = jnp.asarray(data[0]), jnp.asarray(data[1])

        def run():
            out = jax.block_until_ready(sgd_runs_last(last, x, y, lr=w.lr, steps=w.steps))
            return [(np.moveaxis(np.asarray(W), -1, 0), np.moveaxis(np.asarray(b), -1, 0))
                    for W, b in out]
        return run
    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params0]
    x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
    idx = None if batches is None else jnp.asarray(batches, jnp.int32)
    lr = np.asarray(w.lr, params0[0][0].dtype).item()

    def run():
        out = sgd(params, x, y, idx, output=w.output, cost=w.cost, lr=lr,
                  train_b=not w.frozen_biases, steps=w.steps)
        return [(np.asarray(W), np.asarray(b)) for W, b in jax.block_until_ready(out)]
    return run


def variants():
    return {"jax-fused": ("JAX hand-fused jit+scan SGD (reference)",
                          dict.fromkeys(("W1", "W2", "W3", "W4", "W5"), fused_runner), set())}
