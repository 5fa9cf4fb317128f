"""Does a CPU layout choice at ``fit``'s loop edges earn >= 10% on W5? ``python -m bench.layout``

W5 (bench.workloads: 784-100-10 sigmoid, quadratic, batch 128, lr 3, 468 steps, float32).
Every variant below is the same training run (same params, data, mini-batches); each is
compiled and run once, checked against ``fit`` (bit-identical, or the largest difference),
then ``--rounds`` rounds time every variant once, in alternating order (ABBA), and the
medians are printed with their ratio to ``fit`` (with a number as the optimizer), and the
median of the per-round ratios. docs/bench.md ("The stored-transposed layout") has the
results and why none of the variants is in ``fit``.

=================  =============================================================================
fit                ``jaxbp.fit(..., 3.0, 468, batch_size=128, key=key)``, eager (as users call it)
loop               a replica of ``fit``'s compiled loop (``train._run``): a ``lax.scan`` of the
                   public step, in one ``jax.jit`` (what the edge variants change)
edge-T             the loop carrying every W transposed (``Wt = W.T`` once before the scan),
                   handing the step ``Wt.T`` and carrying ``new_W.T``; back after the scan
edge-T+barrier     the same with ``lax.optimization_barrier`` on the carried params at the edge
x-T                the step handed the batch as ``barrier(xb.T).T`` (BP4's ``x.T @ delta``
                   then reads x as stored)
opts:NAME          the loop compiled with ``jax.jit(..., compiler_options=...)`` (XLA:CPU
                   options, public API): onednn (oneDNN for single dots), xnn (XNNPACK graph
                   fusion), 1thread (no Eigen thread pool), no-tf (no transpose folding)
old                ``fit`` of commit 138ed98 (``--old``), which stored big layers' W transposed
                   *and* put ``optimization_barrier`` inside the forward pass and BP4
fit-optax          ``fit(..., optax.sgd(3.0), ...)`` inside the user's ``jax.jit``
fit-optax-eager    ``fit(..., optax.sgd(3.0), ...)`` called eagerly
edge-T-optax       edge-T with ``optax.sgd(3.0)`` (as if optax.sgd were known elementwise)
peer               bench.impl_jax: ``jax.value_and_grad`` + ``optax.sgd`` + ``lax.scan`` in jit
=================  =============================================================================

``--workloads W1,W4`` time ``fit`` alone on those workloads.

The process is pinned to ``--threads`` cores (default 1, like ``python -m bench``).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

OPTIONS = {
    "onednn": {"xla_cpu_use_onednn": True,
               "xla_cpu_experimental_onednn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"},
    "xnn": {"xla_cpu_experimental_xnn_graph_fusion_mode": "XNN_GRAPH_FUSION_MODE_GREEDY"},
    "1thread": {"xla_cpu_multi_thread_eigen": False},
}
OPTIONS["onednn+1thread"] = {**OPTIONS["onednn"], **OPTIONS["1thread"]}
# XLA's transpose-folding pass turns BP4's ``transpose(a) @ delta`` into one dot that reads
# ``a`` transposed (Eigen on CPU); without it the transpose is a copy and the dot a plain
# (n_in, batch) @ (batch, n_out) product, which XLA:CPU hands to YNNPACK.
OPTIONS["no-tf"] = {"xla_disable_hlo_passes": "transpose-folding"}


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m bench.layout", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7, help="timed rounds (7)")
    p.add_argument("--threads", type=int, default=1, help="cores to pin to (1)")
    p.add_argument("--old", action="store_true",
                   help="also time fit of commit 138ed98 (git archive of this repository)")
    p.add_argument("--only", default=None, help="comma-separated variant names (default: all)")
    p.add_argument("--steps", type=int, default=None, help="steps (default W5's 468)")
    p.add_argument("--workloads", default="W5", help="W5 (all variants); others time fit alone")
    return p.parse_args(argv)


def _old_package():
    """jaxbp as of commit 138ed98, importable as ``jaxbp_old``."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tempfile.mkdtemp(prefix="jaxbp_old_")
    tar = subprocess.run(["git", "-C", root, "archive", "138ed98", "src/jaxbp"],
                         check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", out], input=tar, check=True)
    os.rename(os.path.join(out, "src", "jaxbp"), os.path.join(out, "jaxbp_old"))
    sys.path.insert(0, out)
    import jaxbp_old
    return jaxbp_old


def variants(args, wid):
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    import jaxbp
    from jaxbp import _checks
    from jaxbp.optim import resolve
    from jaxbp.shuffle import epoch_order, next_batch
    from jaxbp.step import Step

    from . import impl_jax
    from . import workloads as wl
    from .impl_jaxbp import fit_permutations

    w = wl.specs()[wid]
    if args.steps:
        w = w.replace(steps=args.steps)
    x, y = (jnp.asarray(a) for a in wl.data(w)[:2])
    params = tuple({"W": jnp.asarray(W), "b": jnp.asarray(b)} for W, b in wl.init_params(w))
    net = jaxbp.MLP(w.sizes, "sigmoid", w.output)
    key = jax.random.key(w.seed)
    kwargs = {} if w.batch is None else {"batch_size": w.batch, "key": key}
    if w.frozen_biases:
        kwargs["trainable"] = ({"W": True, "b": False},) * (len(w.sizes) - 1)

    def fit():
        return jaxbp.fit(net, params, x, y, w.cost, w.lr, w.steps, **kwargs)

    if wid != "W5":
        return {"fit": fit}, np   # the variants below are W5's
    cost = _checks.resolve_cost("layout", "quadratic", "sigmoid")
    n, B = x.shape[0], jax.lax.optimization_barrier

    def T(params):
        return tuple({**layer, "W": layer["W"].T} for layer in params)

    def loop(edge="", optimizer=w.lr, options=None):
        static, values, _ = resolve("layout", optimizer, jnp.float32)

        def run(params, x, y, key, values):
            step = Step(net, cost, static, values, 0.0, "manual", None)

            def body(carry, i):
                params, opt_state, perm = carry
                idx, perm = next_batch(lambda e: epoch_order(key, e, n), i, w.batch, n, perm)
                xb, yb = x[idx], y[idx]
                if edge == "T":
                    loss, new, opt_state = step(T(params), opt_state, xb, yb)
                    new = T(new)
                elif edge == "T+barrier":
                    loss, new, opt_state = step(T(B(params)), opt_state, xb, yb)
                    new = T(new)
                elif edge == "xT":
                    loss, new, opt_state = step(params, opt_state, B(xb.T).T, yb)
                else:
                    loss, new, opt_state = step(params, opt_state, xb, yb)
                return (new, opt_state, perm), loss

            opt_state = step.init(params)
            if edge.startswith("T"):
                params = T(params)
            (params, _, _), history = jax.lax.scan(
                body, (params, opt_state, jnp.zeros((n,), jnp.int32)),
                jnp.arange(w.steps, dtype=jnp.int32))
            return (T(params) if edge.startswith("T") else params), history

        jitted = jax.jit(run, compiler_options=options)
        return lambda: jitted(params, x, y, key, values)

    sgd = optax.sgd(w.lr)
    fit_optax_jit = jax.jit(lambda p, x, y, key: jaxbp.fit(
        net, p, x, y, "quadratic", sgd, w.steps, batch_size=w.batch, key=key))
    idx = jnp.asarray(wl.batches(w, fit_permutations(w)), jnp.int32)
    peer = jax.jit(lambda p, x, y, idx: impl_jax.train(p, x, y, idx, grad="autodiff", tx=sgd,
                                                       steps=w.steps))
    out = {
        "fit": fit,
        "loop": loop(),
        "edge-T": loop("T"),
        "edge-T+barrier": loop("T+barrier"),
        "x-T": loop("xT"),
        **{f"opts:{k}": loop(options=o) for k, o in OPTIONS.items()},
        "edge-T+no-tf": loop("T", options=OPTIONS["no-tf"]),
        "fit-optax": lambda: fit_optax_jit(params, x, y, key),
        "fit-optax-eager": lambda: jaxbp.fit(net, params, x, y, "quadratic", sgd, w.steps,
                                             batch_size=w.batch, key=key),
        "edge-T-optax": loop("T", optimizer=sgd),
        "no-tf-optax": loop(optimizer=sgd, options=OPTIONS["no-tf"]),
        "peer": lambda: peer(params, x, y, idx),
    }
    if args.old:
        old = _old_package()
        old_net = old.MLP(w.sizes, hidden="sigmoid", output="sigmoid")
        out["old"] = lambda: old.fit(old_net, params, x, y, "quadratic", w.lr, w.steps,
                                     batch_size=w.batch, key=key)
    if args.only:
        keep = ["fit"] + args.only.split(",")
        out = {k: v for k, v in out.items() if k in keep}
    return out, np


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.threads])
    except (AttributeError, OSError):
        pass
    for wid in args.workloads.split(","):
        _compare(args, wid)
    return 0


def _compare(args, wid):
    import jax
    fns, np = variants(args, wid)

    def call(f):
        p, history = jax.block_until_ready(f())
        np.asarray(history)
        return p

    ref = call(fns["fit"])
    leaves = jax.tree_util.tree_leaves
    for name, f in fns.items():
        got = call(f)  # compiles
        diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                   for a, b in zip(leaves(ref), leaves(got)))
        print(f"{name:16s} params vs fit: " + ("bit-identical" if diff == 0 else f"max |diff| {diff:.2e}"))
    times = {k: [] for k in fns}
    names = list(fns)
    for r in range(args.rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            t = time.perf_counter()
            call(fns[name])
            times[name].append(time.perf_counter() - t)
    base = float(np.median(times["fit"]))
    print(f"\n{wid}, {args.rounds} interleaved rounds, {args.threads} core(s), load {os.getloadavg()[0]:.1f}")
    print("| variant | median | min-max | / fit | per-round ratio, median |\n"
          "|---|---|---|---|---|")
    for name in names:
        t = np.asarray(times[name])
        paired = np.median(t / np.asarray(times["fit"]))
        print(f"| {name} | {np.median(t) * 1e3:.1f} ms | {t.min() * 1e3:.1f}-{t.max() * 1e3:.1f} ms "
              f"| {np.median(t) / base:.3f} | {paired:.3f} |")


if __name__ == "__main__":
    sys.exit(main())
