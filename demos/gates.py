"""``jaxbp gates``: which logic gates can one unit learn, and what does one hidden layer add?

For every gate, on its four-row truth table: the perceptron (Rosenblatt's rule), a single
sigmoid unit (logistic regression), and 2-2-1 and 2-3-1 sigmoid nets, all trained by
gradient descent with the hand-written backprop (:func:`jaxbp.trace`), whose gradient is
also compared with ``jax.grad``. Every gate, seed and net trains in one compiled program:
``jax.vmap`` over gates and seeds, one ``lax.scan`` over the steps for all three nets; a
second one draws their initial weights.

    jaxbp gates                    # the six gates
    jaxbp gates --all16            # all 16 Boolean functions of two inputs
    jaxbp gates --plot gates.png   # decision regions (needs matplotlib)
"""
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

import jaxbp
from jaxbp import gates, perceptron
from jaxbp.demos import descent, options, table
from jaxbp.gradcheck import TOLERANCES

SIZES = ((2, 1), (2, 2, 1), (2, 3, 1))   # the sigmoid unit, then the two nets
HIDDEN = (2, 3)                          # hidden units of the two nets


class NetResult(NamedTuple):
    seed: int          # the first seed (0, 1, ...) whose net solves the gate, else the best
    params: tuple
    solved: bool       # all four outputs on the right side of 0.5 after training
    correct: int       # rows right after training
    loss: float        # final cost
    solved_at: int     # first k such that all four rows were right after k steps (-1: never)
    seeds_solved: int  # how many of the seeds solve it
    bp_vs_grad: float  # manual backprop vs jax.grad at the initial weights (relative)
    outputs: np.ndarray  # the net's outputs on the four rows after training, (4, 1)


class GateResult(NamedTuple):
    name: str
    x: np.ndarray
    y: np.ndarray
    perceptron: perceptron.PerceptronResult
    unit: NetResult    # the single sigmoid unit, MLP((2, 1))
    nets: tuple        # one NetResult per entry of HIDDEN


def _bp_vs_grad(net, params, x, y, cost):
    """Normwise relative difference of the manual and the jax.grad gradient."""
    manual = jax.flatten_util.ravel_pytree(jaxbp.backprop(net, params, x, y, cost)[1])[0]
    auto = jax.flatten_util.ravel_pytree(jaxbp.autodiff(net, params, x, y, cost)[1])[0]
    return jnp.max(jnp.abs(manual - auto)) / jnp.max(jnp.abs(auto))


def _nets():
    """The sigmoid unit and the two nets, in the order of SIZES."""
    return [jaxbp.MLP(size, hidden="sigmoid", output="sigmoid") for size in SIZES]


def _runs(xs, ys, seeds):
    """Run r = g * seeds + s is seed s on gate g: its inputs and targets, (runs, 4, ...)."""
    return jnp.repeat(xs, seeds, axis=0), jnp.repeat(ys, seeds, axis=0)


def _inits(seeds, gates, dtype):
    """Per net, the initial weights of every run (drawn per seed, the same on every gate)."""
    return tuple(jax.tree_util.tree_map(
        lambda a: jnp.tile(a, (gates,) + (1,) * (a.ndim - 1)),
        jax.vmap(lambda s, net=net: net.init(jax.random.key(s), dtype=dtype))(seeds))
        for net in _nets())


def _train_all(xs, ys, inits, lr, *, seeds, steps, cost, max_epochs):
    """For every gate (xs, ys: (gates, 4, 2), (gates, 4, 1)): the perceptron; and per net
    and run, backprop vs jax.grad at the initial weights ``inits``, then the trained net
    (see :func:`descent.descend`)."""
    percs = jax.vmap(lambda x, y: perceptron.fit(x, y, max_epochs=max_epochs))(xs, ys)
    nets = _nets()

    def one(params, x, y):
        trained = descent.descend(nets, params, x, y, cost, lr, steps)
        return [t + (_bp_vs_grad(net, p, x, y, cost),) for t, net, p in zip(trained, nets, params)]
    return percs, jax.vmap(one)(inits, *_runs(xs, ys, seeds))


def _shapes(net, runs, dtype):
    """The shapes of ``runs`` stacked parameters of ``net``."""
    return tuple({"W": jax.ShapeDtypeStruct((runs, n_in, n_out), dtype),
                  "b": jax.ShapeDtypeStruct((runs, n_out), dtype)}
                 for n_in, n_out in zip(net.sizes[:-1], net.sizes[1:]))


def _pick(out, g, y):
    """The NetResult of gate g (targets y): the first seed that solves it, else the one of
    lowest final cost (a diverged run's cost is NaN)."""
    params, loss, outputs, right, diff = jax.tree_util.tree_map(np.asarray, out)
    ok = right[g, :, -1]
    s = int(np.argmax(ok)) if ok.any() else int(np.argmin(np.nan_to_num(loss[g], nan=np.inf)))
    first = int(np.argmax(right[g, s])) if right[g, s].any() else -1
    correct = int(np.sum((outputs[g, s] > 0.5) == (y > 0.5)))
    return NetResult(s, jax.tree_util.tree_map(lambda a: a[g, s], params), bool(ok[s]), correct,
                     float(loss[g, s]), first, int(ok.sum()), float(diff[g, s]), outputs[g, s])


def run(names: Sequence[str], lr: float = 2.0, steps: int = 3000, seeds: int = 8,
        cost: str = "cross_entropy", max_epochs: int = 100) -> List[GateResult]:
    """Train every model on every gate in ``names``; returns a list of :class:`GateResult`."""
    tables = [gates.boolean_function(n) for n in names]
    xs = np.stack([np.asarray(t[0]) for t in tables])
    ys = np.stack([np.asarray(t[1]) for t in tables])
    train_all = lambda xs, ys, inits, lr: _train_all(xs, ys, inits, lr, seeds=seeds,
                                                     steps=steps, cost=cost,
                                                     max_epochs=max_epochs)
    lr = np.float32(lr)   # traced: another rate loads the same program from the cache
    seed = np.arange(seeds)
    shapes = tuple(_shapes(net, len(names) * seeds, xs.dtype) for net in _nets())
    # Two programs: XLA compiles the first (the random initial weights: long straight-line
    # code) in a thread while the second (everything else) is traced and compiled.
    with ThreadPoolExecutor(1) as pool:
        drawing = pool.submit(descent.compiled, partial(_inits, gates=len(names),
                                                        dtype=xs.dtype), seed,
                              description=("gates inits", len(names), str(xs.dtype)))
        train_all = descent.compiled(train_all, xs, ys, shapes, lr,
                                     description=("gates", seeds, steps, cost, max_epochs))
        inits = drawing.result()(seed)
    percs, trained = train_all(xs, ys, inits, lr)
    nets = [jax.tree_util.tree_map(lambda a: np.asarray(a).reshape((len(names), seeds)
                                                                   + a.shape[1:]), out)
            for out in trained]
    percs = jax.tree_util.tree_map(np.asarray, percs)
    results = []
    for g, name in enumerate(names):
        unit, *hidden = (_pick(out, g, ys[g]) for out in nets)
        results.append(GateResult(name, xs[g], ys[g],
                                  jax.tree_util.tree_map(lambda a: a[g], percs), unit,
                                  tuple(hidden)))
    return results


# ---- the table ---------------------------------------------------------------------------

def columns(name_width: int) -> List[table.Column]:
    C = table.Column
    cols = [C("gate", "gate", "", name_width, right=False),
            C("verdict", "perceptron", "result", 9, right=False, gap=2),
            C("epochs", "", "ep", 3), C("p_acc", "", "acc", 3),
            C("u_acc", "sigmoid", "unit acc", 8, gap=2),
            C("u_out", "", "outputs", 19, right=False, optional=1)]
    for i, h in enumerate(HIDDEN):
        cols += [C(f"acc{i}", f"2-{h}-1 net", "acc", 3, gap=2),
                 C(f"loss{i}", "", "loss", 8, optional=3), C(f"step{i}", "", "step", 5),
                 C(f"seed{i}", "", "seed", 4, optional=2), C(f"ok{i}", "", "ok", 5)]
    cols.append(C("bp", "backprop", "vs jax.grad", 11, right=False, gap=2))
    return cols


def cells(r: GateResult, seeds: int) -> Dict[str, str]:
    p = r.perceptron
    out = {"gate": r.name,
           "verdict": "converged" if p.converged else "cycled" if p.cycled else "stopped",
           "epochs": str(int(p.epochs)),
           "p_acc": f"{int(np.sum((r.x @ p.w + p.b > 0) == (r.y[:, 0] > 0.5)))}/4",
           "u_acc": f"{r.unit.correct}/4",
           "u_out": " ".join(f"{o:.2f}" for o in r.unit.outputs[:, 0])}
    for i, n in enumerate(r.nets):
        out.update({f"acc{i}": f"{n.correct}/4", f"loss{i}": f"{n.loss:.2e}",
                    f"step{i}": str(n.solved_at) if n.solved_at >= 0 else "-",
                    f"seed{i}": str(n.seed), f"ok{i}": f"{n.seeds_solved}/{seeds}"})
    bp = max(n.bp_vs_grad for n in (r.unit, *r.nets))
    tolerance = TOLERANCES.get(np.dtype(r.x.dtype), TOLERANCES[np.dtype(np.float32)])[0]
    out["bp"] = f"{'equal' if bp <= tolerance else 'DIFFER'} {bp:.0e}"
    return out


def format_table(results: Sequence[GateResult], seeds: int, wide: bool = False) -> str:
    """The results as a fixed-width table, one row per gate, at most 100 columns unless
    ``wide`` (or the terminal is wider)."""
    cols = table.fit(columns(max(4, *(len(r.name) for r in results))), wide)
    return "\n".join([table.header(cols)] + [table.row(cols, cells(r, seeds)) for r in results])


HEADER = """\
Which gates can a single unit learn, and what does one hidden layer add?
  perceptron    Rosenblatt's rule from zero weights, step(z) = 1 iff z > 0; ep: epochs (passes).
                converged: an epoch without mistakes. cycled: the weights came back to those of
                an earlier epoch, so the rule would loop forever: not linearly separable.
  sigmoid unit  one sigmoid unit (logistic regression), trained like the nets; its outputs on
                rows (0,0), (0,1), (1,0), (1,1).
  2-h-1 net     sigmoid net with h hidden units. Unit and nets: {cost}, {steps} steps of
                gradient descent (lr {lr:g}) with the hand-written backprop, seeds 0-{last};
                shown: the first seed that solves the gate (ok: how many do); step: the
                first step after which all four outputs are on the right side of 0.5.
  vs jax.grad   max |backprop - jax.grad| / max |jax.grad| at the initial weights."""


def conclusion(results: Sequence[GateResult]) -> str:
    """The closing sentence, computed from the results."""
    n = len(results)
    perc = [r.name for r in results if not r.perceptron.converged]
    cycled = [r.name for r in results if r.perceptron.cycled]
    stopped = [name for name in perc if name not in cycled]
    unit = [r.name for r in results if not r.unit.solved]
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


# ---- the picture ---------------------------------------------------------------------------

def _line(ax: Any, w: np.ndarray, b: float, **style: Any) -> None:
    """Draw the line w[0] * x1 + w[1] * x2 + b = 0 across the plotting square."""
    t = np.linspace(-0.5, 1.5, 2)
    if abs(w[1]) >= abs(w[0]) and w[1] != 0:
        ax.plot(t, -(w[0] * t + b) / w[1], **style)
    elif w[0] != 0:
        ax.plot(-(w[1] * t + b) / w[0], t, **style)


def figure(results: Sequence[GateResult]) -> Any:
    """The decision regions as a matplotlib Figure: per gate the perceptron's (top row) and
    the 2-2-1 net's (bottom row), the four points (filled = target 1), and in the bottom
    row the lines where the net's two hidden units switch (w.x + b = 0)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
    from matplotlib.lines import Line2D
    cols = len(results) if len(results) <= 6 else 8
    blocks = -(-len(results) // cols)
    fig = Figure(figsize=(2.3 * cols + 1.2, 4.9 * blocks + 0.6), layout="constrained")
    fig.get_layout_engine().set(h_pad=0.12)
    axes = fig.subplots(2 * blocks, cols, squeeze=False)
    t = np.linspace(-0.5, 1.5, 161)
    g1, g2 = np.meshgrid(t, t)
    grid = np.stack([g1.ravel(), g2.ravel()], axis=1).astype(np.float32)
    net = jaxbp.MLP((2, HIDDEN[0], 1))
    for ax in axes.ravel():
        ax.set_axis_off()
    shading = None
    for i, r in enumerate(results):
        top, bottom = axes[2 * (i // cols), i % cols], axes[2 * (i // cols) + 1, i % cols]
        p, n = r.perceptron, r.nets[0]
        regions = (np.asarray(perceptron.predict(p.w, p.b, grid)).reshape(g1.shape),
                   np.asarray(net.apply(n.params, grid)).reshape(g1.shape))
        for ax, region in zip((top, bottom), regions):
            ax.set_axis_on()
            shading = ax.contourf(g1, g2, region, levels=np.linspace(0, 1, 11), cmap="RdBu_r",
                                  vmin=0, vmax=1)
            ax.contour(g1, g2, region, levels=[0.5], colors="k", linewidths=1.5)
            ax.scatter(r.x[:, 0], r.x[:, 1], s=70, c=["k" if v else "w" for v in r.y[:, 0]],
                       edgecolors="k", linewidths=1.5, zorder=3)
            ax.set(xlim=(-0.5, 1.5), ylim=(-0.5, 1.5), xticks=[0, 1], yticks=[0, 1],
                   aspect="equal", xlabel="x1", ylabel="x2")
        for j in range(HIDDEN[0]):
            _line(bottom, n.params[0]["W"][:, j], n.params[0]["b"][j], color="gold",
                  linestyle="--", linewidth=2)
        verdict = "converged" if p.converged else "cycled" if p.cycled else "not converged"
        top.set_title(f"{r.name}\nperceptron: {verdict}", fontsize=9)
        bottom.set_title(f"2-{HIDDEN[0]}-1 net: {n.correct}/4 right", fontsize=9)
    bar = fig.colorbar(shading, ax=axes, shrink=0.6, ticks=[0, 0.5, 1])
    bar.set_label("output (perceptron: 0 or 1)")
    key = [Line2D([], [], marker="o", color="w", markerfacecolor="k", markeredgecolor="k",
                  markersize=8, label="target 1"),
           Line2D([], [], marker="o", color="w", markerfacecolor="w", markeredgecolor="k",
                  markersize=8, label="target 0"),
           Line2D([], [], color="k", linewidth=1.5, label="decision boundary (output 0.5)"),
           Line2D([], [], color="gold", linestyle="--", linewidth=2,
                  label="a hidden unit's line w.x + b = 0 (2-2-1 net)")]
    fig.legend(handles=key, loc="outside lower center", ncol=4, fontsize=8)
    fig.suptitle("One line (perceptron, top) vs one hidden layer (2-2-1 net, bottom)")
    return fig


def plot(results: Sequence[GateResult], path: str) -> None:
    """Write :func:`figure` to ``path`` (the format from its suffix)."""
    figure(results).savefig(path, dpi=90)


def main(argv: Optional[List[str]] = None) -> int:
    args = options.parse("gates", argv)
    prog = "jaxbp gates"
    names = [f.name for f in gates.BOOLEAN_FUNCTIONS] if args.all16 else list(gates.NAMES)
    print(HEADER.format(steps=args.steps, cost=args.cost, lr=args.lr, last=args.seeds - 1))
    print(f"\ntraining {len(names)} gates x {args.seeds} seeds x {len(SIZES)} nets in one "
          "compiled program ...", flush=True)
    results = run(names, args.lr, args.steps, args.seeds, args.cost, args.max_epochs)
    print()
    print(format_table(results, args.seeds, args.wide))
    print()
    print(conclusion(results))
    if args.plot:
        plot(results, args.plot)
        print(f"wrote {args.plot}")
    if args.html:
        try:
            from jaxbp import viz
        except (ImportError, AttributeError) as e:
            return options.fail(prog, f"--html needs jaxbp.viz, which is not available ({e})")
        viz.write_gates_html(args.html)
        print(f"wrote {args.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
