"""Where does ``jaxbp.fit``'s time go? ``python -m bench.diagnose [W1 W3 W4 W5] [--grad G]``

Options: ``--profile`` (per XLA operation), ``--layouts`` (stored-W layouts), below.

Builds the training loop up from the hand-fused reference to what ``fit`` does, one
feature at a time, and times each rung (median -- or with ``--best`` the minimum -- of 7
after a warm-up call; compile time excluded), in one process:

1. ``fused``:      bench.fused.sgd -- hand-written BP1-BP4 + ``p - lr * g``, nothing else.
2. ``kernel``:     the same loop, grads from jaxbp's kernel (``_trace`` / autodiff twin).
3. ``+history``:   also emits the loss every step (``fit``'s history).
4. ``+optax``:     the update through ``optax.inject_hyperparams(optax.sgd)`` (traced lr).
5. ``+diverge``:   ``fit``'s divergence bookkeeping (``where`` on params, optimizer state and
                   the last finite params every step).
6. ``fit``:        ``jaxbp.fit`` itself (adds validation, permutations, dispatch, and the
                   transposed storage of big layers' W, :mod:`jaxbp._layout`, which
                   rungs 2-5 do not have).
7. ``fit(1 step)``: the fixed per-call cost of ``fit``.

Run it with ``JAX_ENABLE_X64=1`` for W3 (float64). The difference between two rungs is
the cost of that feature.

``W2`` (the 1,024-run sweep) gets its own table: the runs-last reference, ``train_many``,
and ``jax.jit(jax.vmap(fit))`` -- as called (params only; the traced divergence guard on),
without the guard (``_run(guard=False)``), and returning the history too.

``--profile``: the time of each XLA operation in one ``fit`` call, per step.
``--layouts``: ``fit``'s time per step with a first layer's W stored as is and transposed,
over a grid of (batch, n_in, n_out), next to :func:`jaxbp._layout.transposed_layers`'s
choice (``--quick``: a smaller grid).
"""
import argparse
import os
import sys
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxbp
from jaxbp.autodiff import _value_and_grad
from jaxbp.backprop import _trace
from jaxbp.costs import COSTS

from . import fused, worker
from . import workloads as wl


BEST = False   # --best: report the minimum instead of the median (a noisy shared machine)


def _median(f, n=7):
    jax.block_until_ready(f())
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        jax.block_until_ready(f())
        ts.append(time.perf_counter() - t0)
    return float(np.min(ts)) if BEST else float(np.median(ts))


def _kernel(grad, net, cost):
    if grad == "manual":
        def vg(params, x, y):
            tr = _trace(net, cost, params, x, y, jnp.zeros((), x.dtype))
            return tr.loss, tr.grads
        return vg
    return lambda params, x, y: _value_and_grad(net, cost, params, x, y, jnp.zeros((), x.dtype))


@partial(jax.jit, static_argnames=("vg", "level", "steps"))
def ladder(params, x, y, batches, lr, *, vg, level, steps):
    """One rung (level 2-5) of the ladder; see the module docstring."""
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=lr)
    opt_state = tx.init(params)

    def step(carry, idx):
        params, opt_state, last, bad = carry
        xb, yb = (x, y) if idx is None else (x[idx], y[idx])
        loss, grads = vg(params, xb, yb)
        if level >= 4:
            updates, new_state = tx.update(grads, opt_state, params)
            new = optax.apply_updates(params, updates)
        else:
            new, new_state = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), opt_state
        if level >= 5:
            ok = jnp.isfinite(loss) & (bad == steps)
            pick = lambda a, b: jax.tree_util.tree_map(lambda u, v: jnp.where(ok, u, v), a, b)
            carry = (pick(new, params), pick(new_state, opt_state), pick(params, last),
                     jnp.where(ok | (bad < steps), bad, 0))
            loss = jnp.where(ok, loss, jnp.nan)
        else:
            carry = (new, new_state, last, bad)
        return carry, (loss if level >= 3 else None)

    init = (params, opt_state, params, jnp.asarray(steps))
    (params, *_), history = jax.lax.scan(step, init, batches, length=steps)
    return params, history


def diagnose(wid, grad="manual", quick=False):
    w = wl.specs(quick=quick)[wid]
    x, y, *_ = wl.data(w)
    p0 = wl.init_params(w)
    net = jaxbp.MLP(w.sizes, "sigmoid", w.output)
    params = tuple({"W": jnp.asarray(W), "b": jnp.asarray(b)} for W, b in p0)
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    kwargs = {}
    batches = None
    if w.batch:
        from .impl_jaxbp import fit_permutations
        batches = jnp.asarray(wl.batches(w, fit_permutations(w)), jnp.int32)
        kwargs = dict(batch_size=w.batch, key=jax.random.key(w.seed))
    if w.frozen_biases:
        kwargs["trainable"] = ({"W": True, "b": False},) * (len(w.sizes) - 1)
    lr = np.asarray(w.lr, p0[0][0].dtype).item()
    fp = [(jnp.asarray(W), jnp.asarray(b)) for W, b in p0]
    vg = _kernel(grad, net, COSTS[w.cost])
    rows = [("fused", _median(lambda: fused.sgd(fp, xj, yj, batches, output=w.output, cost=w.cost,
                                                lr=lr, train_b=not w.frozen_biases, steps=w.steps)))]
    lr_arr = jnp.asarray(lr, xj.dtype)
    for level, name in ((2, "kernel"), (3, "+history"), (4, "+optax"), (5, "+diverge")):
        rows.append((name, _median(lambda: ladder(params, xj, yj, batches, lr_arr, vg=vg,
                                                  level=level, steps=w.steps))))
    rows.append(("fit", _median(lambda: jaxbp.fit(net, params, xj, yj, w.cost, w.lr, w.steps,
                                                  grad=grad, **kwargs))))
    rows.append(("fit(1 step)", _median(lambda: jaxbp.fit(net, params, xj, yj, w.cost, w.lr, 1,
                                                          grad=grad, **kwargs))))
    return w, rows


def diagnose_w2(quick=False):
    """W2: where the vmapped ``fit`` and ``train_many`` stand against the runs-last loop."""
    from jaxbp import train
    from jaxbp.optim import resolve
    w = wl.specs(quick=quick)["W2"]
    x, y, *_ = wl.data(w)
    p0 = wl.init_params(w)
    net = jaxbp.MLP(w.sizes, "sigmoid", w.output)
    params = tuple({"W": jnp.asarray(W), "b": jnp.asarray(b)} for W, b in p0)
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    last = [(jnp.asarray(np.moveaxis(W, 0, -1)), jnp.asarray(np.moveaxis(b, 0, -1)))
            for W, b in p0]
    rows = [("fused, runs last", _median(lambda: fused.sgd_runs_last(last, xj, yj, lr=w.lr,
                                                                     steps=w.steps), 5)),
            ("sweep.train_many", _median(lambda: jaxbp.sweep.train_many(
                net, params, xj, yj, w.cost, w.lr, w.steps).params, 5))]
    static, values, _ = resolve("fit", w.lr, xj.dtype)
    for grad in ("manual", "autodiff"):
        def run(p, guard):
            return train._run(p, xj, yj, None, jnp.zeros((), xj.dtype), values, net=net,
                              cost=COSTS[w.cost], optimizer=static, labels=None,
                              steps=w.steps, batch_size=None, grad=grad, guard=guard)
        for name, f in ((f"vmap(fit) {grad}", lambda p: jaxbp.fit(
                            net, p, xj, yj, w.cost, w.lr, w.steps, grad=grad)[0]),
                        ("  without the guard", lambda p: run(p, False)[0]),
                        ("  returning the history too", lambda p: jaxbp.fit(
                            net, p, xj, yj, w.cost, w.lr, w.steps, grad=grad))):
            many = jax.jit(jax.vmap(f))
            rows.append((name, _median(lambda: many(params), 5)))
    return w, rows


def profile_fit(wid, grad="manual", quick=False):
    """Per-operation time of one ``fit`` call (XLA's own trace events), as rows
    ``(operation, µs per step, what it computes)``: which kernels the step spends its time in.
    Needs ``--xla_cpu_enable_xprof_traceme=true`` in XLA_FLAGS before jax starts (``main``
    sets it for ``--profile``)."""
    import collections
    import glob
    import re
    import shutil
    import tempfile
    from jax._src.lib import _profile_data
    from jaxbp import _checks, train
    from jaxbp.optim import resolve
    w = wl.specs(quick=quick)[wid]
    x, y, *_ = wl.data(w)
    net = jaxbp.MLP(w.sizes, "sigmoid", w.output)
    params = tuple({"W": jnp.asarray(W), "b": jnp.asarray(b)} for W, b in wl.init_params(w))
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    key = jax.random.key(w.seed) if w.batch else None
    cost, xc, yc, l2 = _checks.prepare("fit", net, params, xj, yj, w.cost)
    l2 = train._loop_l2(params, 0.0, l2)  # as fit passes l2=0
    static, values, _ = resolve("fit", w.lr, xc.dtype)
    transposed = train._transposed(net, grad, static, w.batch or xc.shape[0])
    hlo = train._run.lower(params, xc, yc, key, l2, values, net=net, cost=cost,
                           optimizer=static, labels=None, steps=w.steps, batch_size=w.batch,
                           grad=grad, guard=False, transposed=transposed).compile().as_text()
    what = {}
    for m in re.finditer(r"%([\w.-]+) = (\S+) .*?op_name=\"([^\"]*)\"", hlo):
        what[m.group(1)] = f"{m.group(2)} {m.group(3).split('/')[-1]}"

    def call():
        kwargs = dict(batch_size=w.batch, key=key) if w.batch else {}
        return jaxbp.fit(net, params, xj, yj, w.cost, w.lr, w.steps, grad=grad, **kwargs)
    jax.block_until_ready(call())
    folder = tempfile.mkdtemp()
    try:
        jax.profiler.start_trace(folder)
        jax.block_until_ready(call())
        jax.profiler.stop_trace()
        data = _profile_data.ProfileData.from_file(
            glob.glob(f"{folder}/**/*.xplane.pb", recursive=True)[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    total = collections.Counter()
    for plane in data.planes:
        for line in plane.lines:
            if line.name.startswith("tf_XLA"):
                for ev in line.events:
                    if ev.name in what:
                        total[ev.name] += ev.duration_ns
    return w, [(name, ns / w.steps / 1e3, what[name]) for name, ns in total.most_common(12)]


def layouts(quick=False):
    """``--layouts``: per first layer (batch, n_in, n_out) of an (n_in, n_out, 10) sigmoid net,
    ``fit``'s µs per step with that layer's W stored as is and transposed
    (:mod:`jaxbp._layout`; the output layer as the rule has it in both), and the rule's
    choice -- the measurement behind ``_layout.transposed_layers``."""
    from jaxbp import _layout, train
    from jaxbp.optim import resolve
    grid = ((32, 128, 256), (64, 784), (30, 256)) if quick else \
        ((10, 32, 128, 256), (64, 256, 784), (30, 100, 256))
    static, values, _ = resolve("fit", 0.5, jnp.float32)
    rule, rows, n = _layout.transposed_layers, [], 8192
    for batch in grid[0]:
        for n_in in grid[1]:
            for n_out in grid[2]:
                net = jaxbp.MLP((n_in, n_out, 10))
                rng = np.random.default_rng(0)
                x = jnp.asarray(rng.uniform(size=(n, n_in)), jnp.float32)
                y = jnp.asarray(rng.uniform(size=(n, 10)), jnp.float32)
                params = net.init(jax.random.key(0))
                steps = max(20, int(2e8 / (batch * n_in * n_out * 6)))
                top = tuple(l for l in rule(net.sizes, batch) if l > 0)  # as fit has them
                times = [partial(train._run, params, x, y, jax.random.key(0),
                                 train._loop_l2(params, 0.0, jnp.zeros(())), values, net=net,
                                 cost=COSTS["cross_entropy"], optimizer=static, labels=None,
                                 steps=steps, batch_size=batch, grad="manual", guard=False,
                                 transposed=first + top) for first in ((), (0,))]
                cells = [{"name": f"transposed={t}", "repeats": 7, "times": [],
                          "run": lambda f=f: jax.block_until_ready(f())}
                         for t, f in zip(((), (0,)), times)]
                for c in cells:
                    c["run"]()  # compile
                notes = []
                worker._time_in_rounds(cells, "layouts", notes)  # the bench's ABBA rounds
                if notes:
                    raise RuntimeError(notes[0])
                plain, flipped = (float(np.median(c["times"])) for c in cells)
                rows.append((batch, n_in, n_out, plain / steps, flipped / steps,
                             0 in rule(net.sizes, batch)))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.diagnose")
    p.add_argument("workloads", nargs="*", default=["W1", "W4", "W5"],
                   help="W1 W3 W4 W5 (the ladder), W2 (the sweep table)")
    p.add_argument("--grad", default="manual", choices=("manual", "autodiff"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--best", action="store_true", help="minimum of 7 instead of the median")
    p.add_argument("--profile", action="store_true",
                   help="per-operation time of one fit call (XLA trace events) instead")
    p.add_argument("--layouts", action="store_true",
                   help="fit's time per step with a first layer stored as is and transposed")
    args = p.parse_args(argv)
    global BEST
    BEST = args.best
    if args.layouts:
        print("| batch | n_in | n_out | W as is (µs/step) | W transposed | ratio | rule |")
        print("|---|---|---|---|---|---|---|")
        for batch, n_in, n_out, plain, flipped, chosen in layouts(args.quick):
            print(f"| {batch} | {n_in} | {n_out} | {plain * 1e6:.1f} | {flipped * 1e6:.1f} "
                  f"| {flipped / plain:.2f} | {'transposed' if chosen else 'as is'} |", flush=True)
        return 0
    if args.profile:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + " --xla_cpu_enable_xprof_traceme=true")
        for wid in args.workloads:
            w, rows = profile_fit(wid.upper(), args.grad, args.quick)
            print(f"\n{wid}: one fit call, {w.steps} steps, per-operation time (grad={args.grad})")
            print("| XLA operation | µs per step | result, op |\n|---|---|---|")
            for name, us, what in rows:
                print(f"| `{name}` | {us:.1f} | `{what}` |")
        return 0
    for wid in args.workloads:
        if wid.upper() == "W2":
            w, rows = diagnose_w2(args.quick)
            print(f"\nW2 ({w.runs} runs x {w.steps} steps)")
            print("| variant | total | per run-step | vs fused |\n|---|---|---|---|")
            for name, t in rows:
                print(f"| {name} | {t * 1e3:.1f} ms | {t / (w.runs * w.steps) * 1e9:.1f} ns "
                      f"| {t / rows[0][1]:.2f}x |")
            continue
        w, rows = diagnose(wid.upper(), args.grad, args.quick)
        print(f"\n{wid} ({w.steps} steps, grad={args.grad}, {jnp.asarray(0.0).dtype} default)")
        print("| rung | total | per step | vs fused |\n|---|---|---|---|")
        base = rows[0][1]
        for name, t in rows:
            steps = 1 if name == "fit(1 step)" else w.steps
            print(f"| {name} | {t * 1e3:.2f} ms | {t / steps * 1e6:.2f} µs | {t / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
