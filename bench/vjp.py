"""``python -m bench.vjp``: is the hand-written backward pass, registered with
``jax.custom_vjp`` (``jaxbp.manual_vjp``), as fast as JAX's own autodiff inside a user's
training loop?

Both loops are the same program: minibatch SGD over ``lax.scan`` under one ``jit``, each
step's gradient ``jax.grad`` of a user loss (the quadratic cost written by the user on the
net's output). The only difference is the function inside the loss: ``manual_vjp(net)``
(BP1-BP4 as the VJP) or ``net.apply`` (autodiff). Shapes are W4's (64-30-10, batch 10) and
W5's (784-100-10, batch 128) from ``bench/workloads.py``, with random data of those shapes
and the workloads' initial parameters. Rounds are interleaved (manual, autodiff, autodiff,
manual, ...) so a disturbance hits both; the medians, their ratio and the median of the
per-round ratios (each round's two adjacent runs, robust to a slow drift of the machine's
load) are reported, and the two loops' final parameters are compared.

    python -m bench.vjp [--quick] [--rounds N] [--only W4,W5]
"""
import argparse
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxbp
from jaxbp.vjp import manual_vjp

from bench.workloads import init_params, specs


def user_loss(apply):
    """What a user writes: the quadratic cost, on whatever computes the net's output."""
    def loss(params, x, y):
        return 0.5 * jnp.mean(jnp.sum((apply(params, x) - y) ** 2, axis=-1))
    return loss


def make_train(apply, lr):
    grad = jax.grad(user_loss(apply))

    @jax.jit
    def train(params, x, y, batches):
        def step(params, idx):
            g = grad(params, x[idx], y[idx])
            return jax.tree_util.tree_map(lambda w, d: w - lr * d, params, g), None
        return jax.lax.scan(step, params, batches)[0]
    return train


def problem(w):
    """Random data of the workload's shapes, its initial parameters and batch indices."""
    rng = np.random.default_rng(w.seed)
    n = w.per_epoch * w.batch
    x = rng.random((n, w.sizes[0]), dtype=np.float32)
    y = np.eye(w.sizes[-1], dtype=np.float32)[rng.integers(0, w.sizes[-1], n)]
    batches = np.concatenate([rng.permutation(n).reshape(w.per_epoch, w.batch)
                              for _ in range(-(-w.steps // w.per_epoch))])[:w.steps]
    params = tuple({"W": jnp.asarray(W), "b": jnp.asarray(b)} for W, b in init_params(w))
    return params, jnp.asarray(x), jnp.asarray(y), jnp.asarray(batches)


def measure(w, rounds):
    net = jaxbp.MLP(w.sizes, hidden="sigmoid", output=w.output)
    params, x, y, batches = problem(w)
    loops = {"manual": make_train(manual_vjp(net), w.lr), "autodiff": make_train(net.apply, w.lr)}
    final = {k: jax.block_until_ready(f(params, x, y, batches)) for k, f in loops.items()}  # compile
    times = {k: [] for k in loops}
    for r in range(rounds):
        for k in (("manual", "autodiff") if r % 2 == 0 else ("autodiff", "manual")):
            t0 = time.perf_counter()
            jax.block_until_ready(loops[k](params, x, y, batches))
            times[k].append(time.perf_counter() - t0)
    diff = max(float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b))) for a, b in
               zip(jax.tree_util.tree_leaves(final["manual"]), jax.tree_util.tree_leaves(final["autodiff"])))
    return times, diff


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.vjp", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps (W4: 300, W5: 40)")
    ap.add_argument("--rounds", type=int, default=11, help="timed rounds per loop (default 11)")
    ap.add_argument("--only", default="W4,W5", help="workloads, comma-separated (W4, W5)")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"jax {jax.__version__}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {load:.1f}, {args.rounds} interleaved rounds\n")
    print("| workload | steps | manual_vjp median (min) | autodiff median (min) | manual ÷ autodiff "
          "(medians) | per-round ratio, median | final params rel. diff |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    for wid in args.only.split(","):
        w = specs(quick=args.quick)[wid.strip()]
        times, diff = measure(w, args.rounds)
        m, a = statistics.median(times["manual"]), statistics.median(times["autodiff"])
        paired = statistics.median(t_m / t_a for t_m, t_a in zip(times["manual"], times["autodiff"]))
        print(f"| {w.wid} {'-'.join(map(str, w.sizes))} batch {w.batch} | {w.steps} | "
              f"{m * 1e3:.1f} ms ({min(times['manual']) * 1e3:.1f}) | "
              f"{a * 1e3:.1f} ms ({min(times['autodiff']) * 1e3:.1f}) | {m / a:.2f} | "
              f"{paired:.2f} | {diff:.1e} |", flush=True)
        ok &= diff < 1e-3
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
