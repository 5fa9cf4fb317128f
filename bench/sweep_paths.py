"""The sweep W2 on every path a user takes: ``python -m bench.sweep_paths [--quick] [--rounds N]``.

1,024 XOR inits (bench.workloads W2: same inits, float32, quadratic cost, lr 0.5), 5,000
full-batch steps, for a 2-2-1 and a 2-4-1 net, each run returning its loss history:

=============  ==================================================================================
peer           the loop a JAX user writes without jaxbp: ``jax.value_and_grad`` of the cost +
               ``optax.sgd`` + ``lax.scan``, in ``jax.jit(jax.vmap(...))``
manual         the same loop with BP1-BP4 written plainly in it and ``p - lr * g``, vmapped
fit(optax)     ``jax.jit(jax.vmap(lambda p: jaxbp.fit(net, p, x, y, "quadratic",
               optax.sgd(0.5), steps=5000)[1]))`` (the issue's target)
fit(number)    the same with ``0.5`` as the optimizer
train_many     ``jaxbp.sweep.train_many`` (solved-tracking and failure modes included)
=============  ==================================================================================

Every variant is compiled and run once first; then ``--rounds`` rounds run each variant
once, in turn (interleaved, so a disturbance of the shared machine hits all of them), and
the medians are printed with their ratios to the peer and to the manual loop. The process
is pinned to ``--threads`` cores (default 1, like ``python -m bench``).
"""
import argparse
import os
import sys
import time


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m bench.sweep_paths",
                                description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7, help="timed rounds (7)")
    p.add_argument("--steps", type=int, default=5000, help="steps per run (5000)")
    p.add_argument("--runs", type=int, default=1024, help="inits (1024)")
    p.add_argument("--quick", action="store_true", help="500 steps, 3 rounds")
    p.add_argument("--threads", type=int, default=1, help="cores to pin to (1)")
    p.add_argument("--sizes", nargs="+", default=["2-2-1", "2-4-1"], help="nets (2-2-1 2-4-1)")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.rounds = 500, 3
    return args


def variants(sizes, runs, steps):
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    import jaxbp
    from bench import workloads as wl

    w = wl.specs()["W2"].replace(sizes=sizes, runs=runs, steps=steps)
    x, y = (jnp.asarray(a) for a in wl.data(w)[:2])
    params = tuple({"W": jnp.asarray(W), "b": jnp.asarray(b)} for W, b in wl.init_params(w))
    net = jaxbp.MLP(sizes, "sigmoid", "sigmoid")
    lr = w.lr

    def cost(p):
        a = x
        for layer in p:
            a = jax.nn.sigmoid(a @ layer["W"] + layer["b"])
        return jnp.mean(0.5 * jnp.sum((a - y) ** 2, axis=-1))

    def peer(p):
        tx = optax.sgd(lr)

        def body(carry, _):
            p, s = carry
            loss, g = jax.value_and_grad(cost)(p)
            u, s = tx.update(g, s, p)
            return (optax.apply_updates(p, u), s), loss
        return jax.lax.scan(body, (p, tx.init(p)), None, length=steps)[1]

    def manual(p):
        def body(p, _):
            activations = [x]
            for layer in p:
                activations.append(jax.nn.sigmoid(activations[-1] @ layer["W"] + layer["b"]))
            a = activations[-1]
            loss = jnp.mean(0.5 * jnp.sum((a - y) ** 2, axis=-1))
            delta = (a - y) * a * (1 - a)                                            # BP1
            new = list(p)
            for l in reversed(range(len(p))):
                new[l] = {"W": p[l]["W"] - lr * (activations[l].T @ delta) / x.shape[0],  # BP4
                          "b": p[l]["b"] - lr * jnp.mean(delta, axis=0)}                   # BP3
                if l:
                    delta = (delta @ p[l]["W"].T) * activations[l] * (1 - activations[l])  # BP2
            return tuple(new), loss
        return jax.lax.scan(body, p, None, length=steps)[1]

    sgd = optax.sgd(lr)  # one object: one compiled program
    fit_optax = jax.jit(jax.vmap(lambda p: jaxbp.fit(net, p, x, y, "quadratic", sgd, steps)[1]))
    fit_number = jax.jit(jax.vmap(lambda p: jaxbp.fit(net, p, x, y, "quadratic", lr, steps)[1]))
    return {
        "peer": (jax.jit(jax.vmap(peer)), params),
        "manual": (jax.jit(jax.vmap(manual)), params),
        "fit(optax)": (fit_optax, params),
        "fit(number)": (fit_number, params),
        "train_many": (lambda p: jaxbp.sweep.train_many(net, p, x, y, "quadratic", lr, steps),
                       params),
    }, np


def measure(sizes, runs, steps, rounds):
    import jax
    fns, np = variants(sizes, runs, steps)
    times = {name: [] for name in fns}
    for f, p in fns.values():
        jax.block_until_ready(f(p))           # compile and warm up
    for _ in range(rounds):
        for name, (f, p) in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f(p))
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(ts)) for name, ts in times.items()}, times


def main(argv=None):
    args = parse(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.threads])
    if args.threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + " --xla_cpu_multi_thread_eigen=false").strip()
    import jax
    print(f"W2 paths: {args.runs} XOR inits x {args.steps} steps, float32, lr 0.5, "
          f"{args.rounds} interleaved rounds, {args.threads} thread(s), jax {jax.__version__}")
    for text in args.sizes:
        sizes = tuple(int(s) for s in text.split("-"))
        med, _ = measure(sizes, args.runs, args.steps, args.rounds)
        print(f"\n{text}        median ms   / peer   / manual")
        for name, t in med.items():
            print(f"{name:<12} {1e3 * t:10.1f}   {t / med['peer']:6.2f}   {t / med['manual']:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
