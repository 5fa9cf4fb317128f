"""``jaxbp gates``: which logic gates can one unit learn, and what does one hidden layer add?

For every gate, on its four-row truth table: the perceptron (Rosenblatt's rule), a single
sigmoid unit (logistic regression), and 2-2-1 and 2-3-1 sigmoid nets trained by gradient
descent with the hand-written backprop (:func:`jaxbp.fit`, ``grad="manual"``), whose
gradient is also compared with ``jax.grad``. Everything for all gates and seeds runs under
``vmap``, so each model is compiled once.

    jaxbp gates                    # the six gates
    jaxbp gates --all16            # all 16 Boolean functions of two inputs
    jaxbp gates --plot gates.png   # decision regions (needs matplotlib)
"""
import argparse
import sys
import textwrap
from typing import NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

import jaxbp
from jaxbp import gates, perceptron
from jaxbp.gradcheck import TOLERANCES

HIDDEN = (2, 3)  # hidden units of the two nets


class NetResult(NamedTuple):
    seed: int          # the first seed (0, 1, ...) whose net solves the gate, else the best
    params: tuple
    solved: bool       # all four outputs on the right side of 0.5 after training
    correct: int       # rows right after training
    loss: float        # final cost
    solved_at: int     # first k such that all four rows were right after k steps (-1: never)
    seeds_solved: int  # how many of the seeds solve it
    bp_vs_grad: float  # manual backprop vs jax.grad at the initial weights (relative)


class GateResult(NamedTuple):
    name: str
    x: np.ndarray
    y: np.ndarray
    perceptron: perceptron.PerceptronResult
    unit: perceptron.SigmoidUnit
    nets: tuple        # one NetResult per entry of HIDDEN


def _bp_vs_grad(net, params, x, y, cost):
    """Normwise relative difference of the manual and the jax.grad gradient."""
    manual = jax.flatten_util.ravel_pytree(jaxbp.backprop(net, params, x, y, cost)[1])[0]
    auto = jax.flatten_util.ravel_pytree(jaxbp.autodiff(net, params, x, y, cost)[1])[0]
    return jnp.max(jnp.abs(manual - auto)) / jnp.max(jnp.abs(auto))


def _train_net(net, params, x, y, cost, lr, steps):
    """SGD with manual backprop, one jaxbp.fit step at a time so that we see the first step
    at which all four outputs are on the right side of 0.5."""
    right = lambda params: (net.apply(params, x) > 0.5) == (y > 0.5)

    def one_step(params, _):
        params, _ = jaxbp.fit(net, params, x, y, cost, lr, steps=1, grad="manual")
        return params, jnp.all(right(params))
    start = jnp.all(right(params))
    params, solved = jax.lax.scan(one_step, params, None, length=steps)
    solved = jnp.concatenate([start[None], solved])  # solved[k]: all right after k steps
    loss = jaxbp.loss(net, params, x, y, cost)
    solved_at = jnp.where(solved.any(), jnp.argmax(solved), -1)
    return params, jnp.sum(right(params)), loss, solved_at


def _over_gates_and_seeds(fn):
    """jit(fn) for params batched over seeds and x, y batched over gates: (gates, seeds, ...)."""
    return jax.jit(jax.vmap(jax.vmap(fn, in_axes=(0, None, None)), in_axes=(None, 0, 0)))


def _nets(n_hidden, xs, ys, cost, lr, steps, seeds):
    net = jaxbp.MLP((2, n_hidden, 1), hidden="sigmoid", output="sigmoid")
    params = jax.vmap(lambda s: net.init(jax.random.key(s)))(jnp.arange(seeds))
    # two programs: with the check inlined into the training program XLA compiles 3x longer
    diff = _over_gates_and_seeds(lambda p, x, y: _bp_vs_grad(net, p, x, y, cost))(params, xs, ys)
    out = _over_gates_and_seeds(lambda p, x, y: _train_net(net, p, x, y, cost, lr, steps))(
        params, xs, ys)
    p, correct, loss, solved_at = jax.tree_util.tree_map(np.asarray, out)
    diff = np.asarray(diff)
    results = []
    for g in range(len(xs)):
        ok = correct[g] == 4
        s = int(np.argmax(ok)) if ok.any() else int(np.argmin(loss[g]))
        results.append(NetResult(s, jax.tree_util.tree_map(lambda a: a[g, s], p), bool(ok[s]),
                                 int(correct[g, s]), float(loss[g, s]), int(solved_at[g, s]),
                                 int(ok.sum()), float(diff[g, s])))
    return results


def run(names, lr=2.0, steps=3000, seeds=8, cost="cross_entropy", max_epochs=100):
    """Train every model on every gate in ``names``; returns a list of :class:`GateResult`."""
    tables = [gates.boolean_function(n) for n in names]
    xs, ys = jnp.stack([t[0] for t in tables]), jnp.stack([t[1] for t in tables])
    percs = jax.vmap(lambda x, y: perceptron.fit(x, y, max_epochs=max_epochs))(xs, ys)
    units = jax.vmap(lambda x, y: perceptron.fit_sigmoid_unit(x, y, lr, steps))(xs, ys)
    nets = [_nets(h, xs, ys, cost, lr, steps, seeds) for h in HIDDEN]
    take = lambda tree, g: jax.tree_util.tree_map(lambda a: np.asarray(a)[g], tree)
    return [GateResult(n, np.asarray(xs[g]), np.asarray(ys[g]), take(percs, g), take(units, g),
                       tuple(r[g] for r in nets)) for g, n in enumerate(names)]


def format_table(results, seeds):
    """The results as a fixed-width table, one row per gate."""
    width = max(5, *(len(r.name) for r in results))
    nets = "  ".join(f"{f'2-{h}-1 net':<31}" for h in HIDDEN)
    lines = [f"{'gate':<{width}}  {'perceptron':<18}  {'sigmoid unit':<25}  {nets}  backprop",
             f"{'':<{width}}  {'result':<10} ep acc  acc outputs               "
             + "  ".join(f"{'acc loss      step seed ok':<31}" for _ in HIDDEN) + "  vs jax.grad"]
    for r in results:
        p = r.perceptron
        verdict = "converged" if p.converged else "cycled" if p.cycled else "stopped"
        p_acc = int(np.sum(perceptron.predict(p.w, p.b, r.x) == r.y))
        u_acc = int(np.sum((r.unit.outputs > 0.5) == (r.y > 0.5)))
        outs = " ".join(f"{o:.2f}" for o in r.unit.outputs[:, 0])
        cells = [f"{n.correct}/4 {n.loss:<9.2e} {n.solved_at if n.solved_at >= 0 else '-':>4} "
                 f"{n.seed:>4} {n.seeds_solved:>2}/{seeds}" for n in r.nets]
        bp = max(n.bp_vs_grad for n in r.nets)
        tolerance = TOLERANCES.get(np.dtype(r.x.dtype), TOLERANCES[np.dtype(np.float32)])[0]
        lines.append(f"{r.name:<{width}}  {verdict:<10} {int(p.epochs):>2} {p_acc}/4  "
                     f"{u_acc}/4 {outs:<21}  " + "  ".join(f"{c:<31}" for c in cells)
                     + f"  {'equal' if bp <= tolerance else 'DIFFER'} {bp:.0e}")
    return "\n".join(lines)


HEADER = """\
Which gates can a single unit learn, and what does one hidden layer add?
  perceptron    Rosenblatt's rule from zero weights, step(z) = 1 iff z > 0, one pass = one epoch (ep).
                'converged': an epoch without mistakes. 'cycled': the weights came back to those of
                an earlier epoch, so the rule would loop forever -- the gate is not linearly separable.
  sigmoid unit  one sigmoid unit (logistic regression), cross-entropy, {steps} steps of gradient descent
                (lr {lr}); outputs on rows (0,0), (0,1), (1,0), (1,1).
  2-h-1 net     sigmoid net with h hidden units, {cost}, {steps} steps of SGD (lr {lr}) with the
                hand-written backprop (jaxbp.fit). Shown: the first of seeds 0-{last} that solves the gate
                (ok: how many of them do); step: the first step after which all four outputs are on
                the right side of 0.5.
  vs jax.grad   max |backprop - jax.grad| / max |jax.grad| over both nets' gradients at the initial
                weights: the hand-written BP1-BP4 against automatic differentiation.
"""


def conclusion(results):
    """The closing sentence, computed from the results."""
    n = len(results)
    perc = [r.name for r in results if not r.perceptron.converged]
    cycled = [r.name for r in results if r.perceptron.cycled]
    stopped = [name for name in perc if name not in cycled]
    unit = [r.name for r in results if not np.all((r.unit.outputs > 0.5) == (r.y > 0.5))]
    solved = [sum(net.solved for net in nets) for nets in zip(*(r.nets for r in results))]
    nets = ", ".join(f"2-{h}-1 {s}/{n}" for h, s in zip(HIDDEN, solved))
    fails = []
    if cycled:
        fails.append(f"{', '.join(cycled)}, which are not linearly separable (its weights cycle)")
    if stopped:
        fails.append(f"{', '.join(stopped)} within max_epochs")
    text = (f"Conclusion -- Perceptron: {n - len(perc)}/{n} learned; it fails on "
            f"{' and on '.join(fails) or 'none'}. A single sigmoid "
            f"unit: {n - len(unit)}/{n}. One hidden layer with manual backprop: {nets} solved -- "
            f"the hidden units draw two lines and the output unit combines them.")
    return textwrap.fill(text, 100)


def _line(ax, w, b, **style):
    """Draw the line w[0] * x1 + w[1] * x2 + b = 0 across the plotting square."""
    t = np.linspace(-0.5, 1.5, 2)
    if abs(w[1]) >= abs(w[0]) and w[1] != 0:
        ax.plot(t, -(w[0] * t + b) / w[1], **style)
    elif w[0] != 0:
        ax.plot(-(w[1] * t + b) / w[0], t, **style)


def plot(results, path):
    """One PNG: for every gate the perceptron's decision region (top) and the 2-2-1 net's
    output (bottom), the four points (filled = 1), and for XOR/XNOR the hidden units' lines."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
    cols = len(results) if len(results) <= 6 else 8
    blocks = -(-len(results) // cols)
    fig = Figure(figsize=(2.3 * cols, 4.7 * blocks), layout="constrained")
    axes = fig.subplots(2 * blocks, cols, squeeze=False)
    t = np.linspace(-0.5, 1.5, 161)
    g1, g2 = np.meshgrid(t, t)
    grid = np.stack([g1.ravel(), g2.ravel()], axis=1).astype(np.float32)
    net = jaxbp.MLP((2, HIDDEN[0], 1))
    for ax in axes.ravel():
        ax.set_axis_off()
    for i, r in enumerate(results):
        top, bottom = axes[2 * (i // cols), i % cols], axes[2 * (i // cols) + 1, i % cols]
        p, n = r.perceptron, r.nets[0]
        regions = (np.asarray(perceptron.predict(p.w, p.b, grid)).reshape(g1.shape),
                   np.asarray(net.apply(n.params, grid)).reshape(g1.shape))
        for ax, region in zip((top, bottom), regions):
            ax.set_axis_on()
            ax.contourf(g1, g2, region, levels=np.linspace(0, 1, 11), cmap="RdBu_r", vmin=0, vmax=1)
            ax.contour(g1, g2, region, levels=[0.5], colors="k", linewidths=1.5)
            ax.scatter(r.x[:, 0], r.x[:, 1], s=70, c=["k" if v else "w" for v in r.y[:, 0]],
                       edgecolors="k", linewidths=1.5, zorder=3)
            ax.set(xlim=(-0.5, 1.5), ylim=(-0.5, 1.5), xticks=[0, 1], yticks=[0, 1], aspect="equal")
        verdict = "converged" if p.converged else "cycled" if p.cycled else "not converged"
        top.set_title(f"{r.name}\nperceptron: {verdict}", fontsize=9)
        bottom.set_title(f"2-{HIDDEN[0]}-1 net: {n.correct}/4 right", fontsize=9)
        if r.name in ("xor", "xnor"):
            for j in range(HIDDEN[0]):
                _line(bottom, n.params[0]["W"][:, j], n.params[0]["b"][j], color="gold",
                      linestyle="--", linewidth=2, label=f"hidden unit {j + 1}: w.x + b = 0")
            bottom.legend(fontsize=6, loc="lower center", bbox_to_anchor=(0.5, -0.45))
    fig.suptitle("One line (perceptron, top) vs one hidden layer (bottom): filled points are 1, "
                 "black curve = decision boundary, dashed = the hidden units' lines")
    fig.savefig(path, dpi=90)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="jaxbp gates",
        description="Which logic gates can one unit learn, and what does one hidden layer add? "
                    "The perceptron, a single sigmoid unit, and 2-2-1 and 2-3-1 sigmoid nets "
                    "trained with the hand-written backprop, on every gate.")
    parser.add_argument("--all16", action="store_true",
                        help="all 16 Boolean functions of two inputs instead of the six gates")
    parser.add_argument("--steps", type=int, default=3000, help="training steps (default 3000)")
    parser.add_argument("--lr", type=float, default=2.0, help="learning rate (default 2.0)")
    parser.add_argument("--seeds", type=int, default=8, help="seeds tried per net (default 8)")
    parser.add_argument("--cost", default="cross_entropy", choices=["cross_entropy", "quadratic"],
                        help="cost of the hidden-layer nets (default cross_entropy)")
    parser.add_argument("--max-epochs", type=int, default=100, help="perceptron epochs (default 100)")
    parser.add_argument("--plot", metavar="FILE", help="write decision regions to a PNG (matplotlib)")
    parser.add_argument("--html", metavar="FILE", help="write the interactive page (jaxbp.viz)")
    args = parser.parse_args(argv)
    for name in ("steps", "seeds", "max_epochs"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0")
    if not (np.isfinite(args.lr) and args.lr > 0):
        parser.error("--lr must be a finite number > 0")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("jaxbp gates: --plot needs matplotlib: pip install 'jaxbp[plot]'", file=sys.stderr)
            return 2
    names = [f.name for f in gates.BOOLEAN_FUNCTIONS] if args.all16 else list(gates.NAMES)
    print(HEADER.format(steps=args.steps, cost=args.cost, lr=args.lr, last=args.seeds - 1))
    results = run(names, args.lr, args.steps, args.seeds, args.cost, args.max_epochs)
    print(format_table(results, args.seeds))
    print()
    print(conclusion(results))
    if args.plot:
        plot(results, args.plot)
        print(f"wrote {args.plot}")
    if args.html:
        try:
            from jaxbp import viz
        except (ImportError, AttributeError) as e:
            print(f"jaxbp gates: --html needs jaxbp.viz, which is not available ({e})", file=sys.stderr)
            return 1
        viz.write_gates_html(args.html)
        print(f"wrote {args.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
