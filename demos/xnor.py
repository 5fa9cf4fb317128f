"""``jaxbp xnor``: XNOR = OR(AND, NOR) built by hand, then learned from random weights.

Part 1 prints the truth table of the hand-set network of :func:`jaxbp.examples.xnor_by_hand`
with both hidden units' activations. Part 2 trains 2-2-1 sigmoid nets from random weights by
gradient descent with the hand-written backprop (:func:`jaxbp.trace`), one seed after another
in one compiled program, and puts the first that solves XNOR next to the hand-set net: which
Boolean function each unit computes, and its weights.
"""
import sys
import textwrap
from typing import Any, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

import jaxbp
from jaxbp import gates
from jaxbp.demos import descent, options
from jaxbp.demos.gates import _line  # the same line-drawing helper as the gates picture

ROWS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])


def unit_function(outputs: Any) -> gates.BooleanFunction:
    """The :class:`jaxbp.gates.BooleanFunction` a unit computes: its four outputs (rows
    (0,0), (0,1), (1,0), (1,1)) thresholded at 0.5."""
    index = sum(int(o > 0.5) << k for k, o in enumerate(np.ravel(outputs)))
    return gates.BOOLEAN_FUNCTIONS[index]


def describe(net: jaxbp.MLP, params: tuple, x: Any) -> tuple:
    """Per hidden unit and for the output unit: (function, weights, bias). The output unit's
    function is of (h1, h2), evaluated at the four binary corners of the hidden layer."""
    _, activations = jaxbp.feedforward(net, params, jnp.asarray(x, params[0]["W"].dtype))
    W1, b1 = np.asarray(params[0]["W"]), np.asarray(params[0]["b"])
    W2, b2 = np.asarray(params[1]["W"]), np.asarray(params[1]["b"])
    units = [(unit_function(np.asarray(activations[1])[:, j]), W1[:, j], b1[j])
             for j in range(W1.shape[1])]
    corners = 1 / (1 + np.exp(-(ROWS @ W2 + b2[None, :])))
    units.append((unit_function(corners[:, 0]), W2[:, 0], b2[0]))
    return units, np.asarray(activations[1]), np.asarray(activations[2])


def table(x: Any, hidden: Any, out: Any, y: Any, labels: Sequence[str]) -> str:
    lines = [f" x1 x2 | {labels[0]:>9} {labels[1]:>9} | {'output':>7} | XNOR"]
    for xi, h, o, t in zip(x, hidden, out, y):
        lines.append(f" {int(xi[0]):>2} {int(xi[1]):>2} | {h[0]:9.4f} {h[1]:9.4f} | {o[0]:7.4f} "
                     f"| {int(t[0]):>3}")
    return "\n".join(lines)


def _formula(f, inputs=("x1", "x2")):
    return f.formula.replace("x1", inputs[0]).replace("x2", inputs[1])


def compare(hand_units: list, learned_units: list, seed: int) -> str:
    """The hand-set and the learned units side by side: the Boolean function each computes
    (the output unit's of (h1, h2)), its two weights and its bias."""
    fw = max(8, *(len(f.name) for f, _, _ in hand_units + learned_units))
    half = lambda f, w, b: f"{f.name.upper():<{fw}} {w[0]:7.2f} {w[1]:7.2f} {b:7.2f}"
    heads = f"{'function':<{fw}} {'w1':>7} {'w2':>7} {'b':>7}"
    lines = [f"{'':<6} {'hand-set':<{len(heads)}}   learned (seed {seed})",
             f"{'unit':<6} {heads}   {heads}"]
    for label, hu, lu in zip(("h1", "h2", "output"), hand_units, learned_units):
        lines.append(f"{label:<6} {half(*hu)}   {half(*lu)}")
    return "\n".join(lines) + "\n(the output unit's w1, w2 weigh h1, h2)"


def _affine(w, b, inputs):
    """'20 x1 + 20 x2 - 30'"""
    sign = lambda v: f"- {-v:g}" if v < 0 else f"+ {v:g}"
    return f"{w[0]:g} {inputs[0]} {sign(w[1])} {inputs[1]} {sign(b)}"


def train(lr: float, steps: int, seed: int, tries: int) -> Tuple[int, tuple, bool]:
    """Train 2-2-1 nets from seeds seed, seed+1, ... (vmapped, one compiled program); return
    the first that solves XNOR (or the lowest-cost one) as ``(seed, params, solved)``."""
    x, y = (np.asarray(a) for a in gates.truth_table("xnor"))
    net = jaxbp.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")

    def program(seeds, lr):
        inits = jax.vmap(lambda s: net.init(jax.random.key(s)))(seeds)
        one = lambda p: descent.descend([net], [p], x, y, "cross_entropy", lr, steps)[0]
        return jax.vmap(one)(inits)
    seeds = np.arange(seed, seed + tries)
    params, loss, _, right = descent.compiled(program, seeds, np.float32(lr),
                                              description=("xnor", steps))(seeds, np.float32(lr))
    solved = np.asarray(right)[:, -1]
    loss = np.nan_to_num(np.asarray(loss), nan=np.inf)
    k = int(np.argmax(solved)) if solved.any() else int(np.argmin(loss))
    return seed + k, jax.tree_util.tree_map(lambda a: np.asarray(a)[k], params), bool(solved[k])


def main(argv: Optional[List[str]] = None) -> int:
    args = options.parse("xnor", argv)
    x, y = gates.truth_table("xnor")
    net, hand = jaxbp.examples.xnor_by_hand()
    hand_units, hidden, out = describe(net, hand, x)
    print("1. XNOR by hand: XNOR(x1, x2) = OR(AND(x1, x2), NOR(x1, x2)), three sigmoid units")
    for label, (f, w, b) in zip(("h1", "h2", "output"), hand_units):
        inputs = ("h1", "h2") if label == "output" else ("x1", "x2")
        print(f"   {label:<6} = sigmoid({_affine(w, b, inputs)})  -> {f.name.upper()}")
    print()
    print(table(ROWS, hidden, out, np.asarray(y), ("h1 (AND)", "h2 (NOR)")))
    print()

    seed, learned, solved = train(args.lr, args.steps, args.seed, args.tries)
    learned_units, hidden, out = describe(net, learned, x)
    if not solved:
        which = (f"NOT solved by any of seeds {args.seed}..{args.seed + args.tries - 1}; "
                 "lowest loss shown")
    elif seed == args.seed:
        which = "solved on the first try"
    else:
        which = f"the first of seeds {args.seed}..{seed} that solves XNOR"
    print(textwrap.fill(f"2. Learned from random weights: 2-2-1 sigmoid net, cross-entropy, "
                        f"{args.steps} steps of gradient descent (lr {args.lr:g}) with the "
                        f"hand-written backprop; seed {seed}: {which}", 100,
                        subsequent_indent="   "))
    print()
    print(table(ROWS, hidden, out, np.asarray(y), ("h1", "h2")))
    print()
    print(compare(hand_units, learned_units, seed))
    h1, h2, o = (f.name.upper() for f, _, _ in learned_units)
    print()
    print(textwrap.fill(
        f"The hand-set net computes XNOR = OR(AND, NOR); the learned one computes "
        f"{'XNOR' if solved else 'an approximation of XNOR'} = {o}(h1, h2) with h1 = {h1}, "
        f"h2 = {h2} (the output unit's function is read off at the corners (h1, h2) in "
        f"{{0, 1}}^2).", 100))
    if args.plot:
        plot(net, hand, learned, seed, args.plot)
        print(f"\nwrote {args.plot}")
    return 0


def figure(net: Any, hand: tuple, learned: tuple, seed: int) -> Any:
    """Two panels, the hand-set net and the learned one: the net's output over the input
    square, its 0.5 boundary, the four rows (filled = XNOR 1) and each hidden unit's line
    w.x + b = 0 (where its input crosses 0, i.e. its output crosses 0.5)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    fig = Figure(figsize=(9.4, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    t = np.linspace(-0.5, 1.5, 161)
    g1, g2 = np.meshgrid(t, t)
    grid = np.stack([g1.ravel(), g2.ravel()], axis=1).astype(np.float32)
    x, y = (np.asarray(a) for a in gates.truth_table("xnor"))
    colours = ("tab:green", "tab:purple")
    titles = ("by hand: OR(AND, NOR)", f"learned from random weights (seed {seed})")
    for ax, params, title in zip(axes, (hand, learned), titles):
        out = np.asarray(net.apply(params, grid)).reshape(g1.shape)
        shading = ax.contourf(g1, g2, out, levels=np.linspace(0, 1, 11), cmap="RdBu_r", vmin=0,
                              vmax=1)
        ax.contour(g1, g2, out, levels=[0.5], colors="k", linewidths=1.5)
        units, _, _ = describe(net, params, x)
        W, b = np.asarray(params[0]["W"]), np.asarray(params[0]["b"])
        for j, colour in enumerate(colours):
            _line(ax, W[:, j], b[j], color=colour, linestyle="--", linewidth=2)
            ax.plot([], [], color=colour, linestyle="--", linewidth=2,
                    label=f"h{j + 1} = {units[j][0].name.upper()}: w.x + b = 0")
        ax.scatter(x[:, 0], x[:, 1], s=80, c=["k" if v else "w" for v in y[:, 0]],
                   edgecolors="k", linewidths=1.5, zorder=3)
        ax.set(xlim=(-0.5, 1.5), ylim=(-0.5, 1.5), xticks=[0, 1], yticks=[0, 1], aspect="equal",
               xlabel="x1", ylabel="x2", title=title)
        ax.legend(loc="upper center", fontsize=8, framealpha=0.9)
    bar = fig.colorbar(shading, ax=axes, shrink=0.8, ticks=[0, 0.5, 1])
    bar.set_label("network output")
    key = [Line2D([], [], marker="o", color="w", markerfacecolor="k", markeredgecolor="k",
                  markersize=8, label="XNOR = 1"),
           Line2D([], [], marker="o", color="w", markerfacecolor="w", markeredgecolor="k",
                  markersize=8, label="XNOR = 0"),
           Line2D([], [], color="k", linewidth=1.5, label="output = 0.5")]
    fig.legend(handles=key, loc="outside lower center", ncol=3, fontsize=8)
    fig.suptitle("XNOR with a 2-2-1 sigmoid net: the hidden units' lines, hand-set and learned")
    return fig


def plot(net: Any, hand: tuple, learned: tuple, seed: int, path: str) -> None:
    """Write :func:`figure` to ``path``."""
    figure(net, hand, learned, seed).savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
