"""Where does ``jaxbp.fit``'s time go? ``python -m bench.diagnose [W1 W3 W4 W5] [--grad G]``

Options: ``--profile`` (per XLA operation), below.

Builds the training loop up from the hand-fused reference to what ``fit`` does, one
feature at a time, and times each rung (median -- or with ``--best`` the minimum -- of 7
calls after a warm-up, in one process, every rung once per round in alternating order):

1. ``fused``:        bench.fused.sgd -- hand-written BP1-BP4 + ``p - lr * g``, nothing else.
2. ``kernel``:       the same loop, grads from jaxbp's kernel (``backprop.kernel`` / the
                     autodiff twin's ``value_and_grad``).
3. ``+history``:     also emits the loss every step (``fit``'s history).
4. ``+optax``:       the update through ``optax.sgd`` (``tx.update`` + ``apply_updates``).
5. ``make_step``:    a ``lax.scan`` of ``jaxbp.make_step(net, cost, optax.sgd(lr))``.
6. ``fit in jit``:   ``jaxbp.fit(..., optax.sgd(lr), ...)`` inside the caller's ``jax.jit``.
7. ``fit``:          ``jaxbp.fit`` called eagerly with the learning rate as a number (adds
                     validation, the divergence check of the history, dispatch).
8. ``fit(1 step)``:  the fixed per-call cost of the eager ``fit``.

Run it with ``JAX_ENABLE_X64=1`` for W3 (float64). The difference between two rungs is
the cost of that feature.

``W2`` (the 1,024-run sweep) gets its own table: the runs-last reference, ``train_many``,
the plain JAX loops vmapped (:mod:`bench.impl_jax`; the manual one also wrapped in its own
``jax.jit`` inside the ``vmap``, as ``fit``'s compiled loop is), jaxbp's kernel in the plain loop
(ladder rungs 4 and 2, vmapped), and ``jax.jit(jax.vmap(fit))`` with
``optax.sgd`` returning ``(params, history)`` as users call it, returning the params only,
and with the learning rate as a number.

``--profile``: the time of each XLA operation in one ``fit`` call (``optax.sgd``, in
``jax.jit``), per step.
"""
import argparse
import os
import sys
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxbp
from jaxbp.autodiff import value_and_grad as autodiff_value_and_grad
from jaxbp.backprop import kernel as backprop_kernel
from jaxbp.costs import COSTS

from . import fused, impl_jax, worker
from . import workloads as wl


BEST = False   # --best: report the minimum instead of the median (a noisy shared machine)


def _median(f, n=7):
    """A cell for :func:`_interleaved`: ``f`` is called once now (compiling it), timed later."""
    jax.block_until_ready(f())
    return {"name": "", "run": lambda: jax.block_until_ready(f()), "repeats": n, "times": []}


def _interleaved(rows):
    """``rows`` of ``(name, cell)`` -> ``(name, seconds)``: every cell timed in the bench
    worker's interleaved ABBA rounds (a change of load on a shared machine hits all rows
    alike), median -- or with ``--best`` the minimum. A number instead of a cell stays."""
    cells = []
    for name, c in rows:
        if isinstance(c, dict):
            c["name"] = name
            cells.append(c)
    notes = []
    worker._time_in_rounds(cells, "diagnose", notes, brief=False)
    if notes:
        raise RuntimeError(notes[0])
    pick = np.min if BEST else np.median
    return [(name, float(pick(c["times"])) if isinstance(c, dict) else c) for name, c in rows]


def _kernel(grad, net, cost):
    if grad == "manual":
        def vg(params, x, y):
            tr = backprop_kernel(net, cost, params, x, y, 0.0)
            return tr.loss, tr.grads
        return vg
    return lambda params, x, y: autodiff_value_and_grad(net, cost, params, x, y, 0.0)


@partial(jax.jit, static_argnames=("vg", "level", "steps", "lr"))
def ladder(params, x, y, batches, *, vg, level, steps, lr):
    """One rung (level 2-4) of the ladder; see the module docstring."""
    tx = optax.sgd(lr)

    def step(carry, idx):
        params, opt_state = carry
        xb, yb = (x, y) if idx is None else (x[idx], y[idx])
        loss, grads = vg(params, xb, yb)
        if level >= 4:
            updates, opt_state = tx.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
        else:
            params = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
        return (params, opt_state), (loss if level >= 3 else None)

    (params, _), history = jax.lax.scan(step, (params, tx.init(params)), batches, length=steps)
    return params, history


@partial(jax.jit, static_argnames=("step", "steps"))
def scan_of_step(params, x, y, batches, *, step, steps):
    """Rung 5: a ``lax.scan`` of ``jaxbp.make_step``."""
    def body(carry, idx):
        xb, yb = (x, y) if idx is None else (x[idx], y[idx])
        loss, params, opt_state = step(*carry, xb, yb)
        return (params, opt_state), loss
    (params, _), history = jax.lax.scan(body, (params, step.init(params)), batches, length=steps)
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
    if not w.frozen_biases:      # the ladder trains every parameter
        for level, name in ((2, "kernel"), (3, "+history"), (4, "+optax")):
            rows.append((name, _median(lambda level=level: ladder(
                params, xj, yj, batches, vg=vg, level=level, steps=w.steps, lr=lr))))
    tx = optax.sgd(lr)
    step = jaxbp.make_step(net, w.cost, tx, grad=grad, trainable=kwargs.get("trainable"))
    rows.append(("make_step", _median(lambda: scan_of_step(params, xj, yj, batches, step=step,
                                                           steps=w.steps))))
    key = kwargs.pop("key", None)
    in_jit = jax.jit(lambda p, x, y, key: jaxbp.fit(net, p, x, y, w.cost, tx, w.steps, grad=grad,
                                                    key=key, **kwargs))
    rows.append(("fit in jit", _median(lambda: in_jit(params, xj, yj, key))))
    kwargs["key"] = key
    rows.append(("fit", _median(lambda: jaxbp.fit(net, params, xj, yj, w.cost, w.lr, w.steps,
                                                  grad=grad, **kwargs))))
    rows.append(("fit(1 step)", _median(lambda: jaxbp.fit(net, params, xj, yj, w.cost, w.lr, 1,
                                                          grad=grad, **kwargs))))
    return w, _interleaved(rows)


def diagnose_w2(quick=False):
    """W2: where the vmapped ``fit`` and ``train_many`` stand against the runs-last loop and
    the plain JAX loops."""
    w = wl.specs(quick=quick)["W2"]
    x, y, *_ = wl.data(w)
    p0 = wl.init_params(w)
    net = jaxbp.MLP(w.sizes, "sigmoid", w.output)
    params = tuple({"W": jnp.asarray(W), "b": jnp.asarray(b)} for W, b in p0)
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    last = [(jnp.asarray(np.moveaxis(W, 0, -1)), jnp.asarray(np.moveaxis(b, 0, -1)))
            for W, b in p0]
    rows = [("fused, runs last", _median(lambda: fused.sgd_runs_last(last, xj, yj, lr=w.lr,
                                                                     steps=w.steps), 5))]
    try:
        rows.append(("sweep.train_many", _median(lambda: jaxbp.sweep.train_many(
            net, params, xj, yj, w.cost, w.lr, w.steps).params, 5)))
    except Exception as e:  # noqa: BLE001  (a library error: shown in the table, not fatal)
        rows.append((f"sweep.train_many: {type(e).__name__}: {str(e)[:80]}", float("nan")))
    tx = optax.sgd(w.lr)
    for grad in ("autodiff", "manual"):
        peer = jax.jit(jax.vmap(lambda p: impl_jax.train(p, xj, yj, None, grad=grad, tx=tx,
                                                         steps=w.steps)))
        rows.append((f"plain JAX, {grad}", _median(lambda peer=peer: peer(params), 5)))
    inner = jax.jit(lambda p, x, y: impl_jax.train(p, x, y, None, grad="manual", tx=tx,
                                                   steps=w.steps))
    nested = jax.jit(jax.vmap(lambda p: inner(p, xj, yj)))   # as fit's own jit under vmap
    rows.append(("  manual, the loop in its own jax.jit", _median(lambda: nested(params), 5)))
    vg = _kernel("manual", net, COSTS[w.cost])   # jaxbp's BP1-BP4 kernel in the same loops
    for level, name in ((4, "jaxbp kernel + optax.sgd + scan"), (2, "  no history, p - lr * g")):
        loop = jax.jit(jax.vmap(lambda p: ladder(p, xj, yj, None, vg=vg, level=level,
                                                 steps=w.steps, lr=w.lr)))
        rows.append((name, _median(lambda loop=loop: loop(params), 5)))
    for grad in ("manual", "autodiff"):
        for name, f in ((f"vmap(fit) {grad}, optax.sgd", lambda p: jaxbp.fit(
                            net, p, xj, yj, w.cost, tx, w.steps, grad=grad)),
                        ("  params only", lambda p: jaxbp.fit(
                            net, p, xj, yj, w.cost, tx, w.steps, grad=grad)[0]),
                        ("  lr a number", lambda p: jaxbp.fit(
                            net, p, xj, yj, w.cost, w.lr, w.steps, grad=grad))):
            many = jax.jit(jax.vmap(f))
            rows.append((name, _median(lambda many=many: many(params), 5)))
    return w, _interleaved(rows)


def profile_fit(wid, grad="manual", quick=False):
    """Per-operation time of one ``fit`` call (``optax.sgd``, inside ``jax.jit``; XLA's own
    trace events), as rows ``(operation, µs per step, what it computes)``: which kernels the
    step spends its time in. Needs ``--xla_cpu_enable_xprof_traceme=true`` in XLA_FLAGS
    before jax starts (``main`` sets it for ``--profile``)."""
    import collections
    import glob
    import re
    import shutil
    import tempfile
    w = wl.specs(quick=quick)[wid]
    x, y, *_ = wl.data(w)
    net = jaxbp.MLP(w.sizes, "sigmoid", w.output)
    params = tuple({"W": jnp.asarray(W), "b": jnp.asarray(b)} for W, b in wl.init_params(w))
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    key = jax.random.key(w.seed) if w.batch else None
    tx = optax.sgd(w.lr)
    call = jax.jit(lambda p, x, y, key: jaxbp.fit(net, p, x, y, w.cost, tx, w.steps, grad=grad,
                                                  batch_size=w.batch, key=key))
    hlo = call.lower(params, xj, yj, key).compile().as_text()
    what = {}
    for m in re.finditer(r"%([\w.-]+) = (\S+) .*?op_name=\"([^\"]*)\"", hlo):
        what[m.group(1)] = f"{m.group(2)} {m.group(3).split('/')[-1]}"
    jax.block_until_ready(call(params, xj, yj, key))
    folder = tempfile.mkdtemp()
    try:
        jax.profiler.start_trace(folder)
        jax.block_until_ready(call(params, xj, yj, key))
        jax.profiler.stop_trace()
        data = jax.profiler.ProfileData.from_file(
            glob.glob(f"{folder}/**/*.xplane.pb", recursive=True)[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    total = collections.Counter()
    for plane in data.planes:
        for line in plane.lines:
            if line.name.startswith("tf_XLA"):
                for ev in line.events:
                    if ev.name in what and not what[ev.name].startswith("("):  # not the loop
                        total[ev.name] += ev.duration_ns
    return w, [(name, ns / w.steps / 1e3, what[name]) for name, ns in total.most_common(12)]


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.diagnose")
    p.add_argument("workloads", nargs="*", default=["W1", "W4", "W5"],
                   help="W1 W3 W4 W5 (the ladder), W2 (the sweep table)")
    p.add_argument("--grad", default="manual", choices=("manual", "autodiff"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--best", action="store_true", help="minimum of 7 instead of the median")
    p.add_argument("--profile", action="store_true",
                   help="per-operation time of one fit call (XLA trace events) instead")
    args = p.parse_args(argv)
    global BEST
    BEST = args.best
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
