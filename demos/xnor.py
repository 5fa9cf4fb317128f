"""``jaxbp xnor``: XNOR = OR(AND, NOR) built by hand, then learned from random weights.

Part 1 prints the truth table of the hand-set network of :func:`jaxbp.examples.xnor_by_hand`
with both hidden units' activations. Part 2 trains a 2-2-1 sigmoid net from random weights
with the hand-written backprop (:func:`jaxbp.fit`) and puts its hidden units next to the
hand-set ones: which Boolean function each unit computes, and its weights.
"""
import argparse
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

import jaxbp
from jaxbp import gates

ROWS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])


def unit_function(outputs):
    """The :class:`jaxbp.gates.BooleanFunction` a unit computes: its four outputs (rows
    (0,0), (0,1), (1,0), (1,1)) thresholded at 0.5."""
    index = sum(int(o > 0.5) << k for k, o in enumerate(np.ravel(outputs)))
    return gates.BOOLEAN_FUNCTIONS[index]


def describe(net, params, x):
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


def table(x, hidden, out, y, labels):
    lines = [f" x1 x2 | {labels[0]:>9} {labels[1]:>9} | {'output':>7} | XNOR"]
    for xi, h, o, t in zip(x, hidden, out, y):
        lines.append(f" {int(xi[0]):>2} {int(xi[1]):>2} | {h[0]:9.4f} {h[1]:9.4f} | {o[0]:7.4f} "
                     f"| {int(t[0]):>3}")
    return "\n".join(lines)


def _formula(f, inputs=("x1", "x2")):
    return f.formula.replace("x1", inputs[0]).replace("x2", inputs[1])


def _unit(f, w, b, inputs=("x1", "x2")):
    return f"{f.name.upper():<5} {_formula(f, inputs):<16} w = ({w[0]:6.2f}, {w[1]:6.2f})  b = {b:6.2f}"


def _affine(w, b, inputs):
    """'20 x1 + 20 x2 - 30'"""
    sign = lambda v: f"- {-v:g}" if v < 0 else f"+ {v:g}"
    return f"{w[0]:g} {inputs[0]} {sign(w[1])} {inputs[1]} {sign(b)}"


def train(lr, steps, seed, tries):
    """Train 2-2-1 nets from seeds seed, seed+1, ... (vmapped); return the first that
    solves XNOR (or the lowest-loss one) as ``(seed, params, solved)``."""
    x, y = gates.truth_table("xnor")
    net = jaxbp.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    seeds = jnp.arange(seed, seed + tries)
    init = jax.vmap(lambda s: net.init(jax.random.key(s)))(seeds)
    fit = lambda p: jaxbp.fit(net, p, x, y, "cross_entropy", lr, steps, grad="manual")
    params, history = jax.jit(jax.vmap(fit))(init)
    right = np.all((np.asarray(jax.vmap(lambda p: net.apply(p, x))(params)) > 0.5)
                   == (np.asarray(y) > 0.5)[None], axis=(1, 2))
    loss = np.asarray(jax.vmap(lambda p: jaxbp.loss(net, p, x, y, "cross_entropy"))(params))
    k = int(np.argmax(right)) if right.any() else int(np.argmin(loss))
    return seed + k, jax.tree_util.tree_map(lambda a: a[k], params), bool(right[k])


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="jaxbp xnor",
        description="XNOR = OR(AND, NOR) built by hand, then learned by a 2-2-1 sigmoid net "
                    "from random weights with the hand-written backprop.")
    parser.add_argument("--steps", type=int, default=3000, help="training steps (default 3000)")
    parser.add_argument("--lr", type=float, default=2.0, help="SGD learning rate (default 2.0)")
    parser.add_argument("--seed", type=int, default=0, help="first seed tried (default 0)")
    parser.add_argument("--tries", type=int, default=8,
                        help="seeds tried, from --seed on; the first that solves XNOR is shown")
    args = parser.parse_args(argv)
    if args.steps <= 0 or args.tries <= 0:
        parser.error("--steps and --tries must be > 0")
    if not (np.isfinite(args.lr) and args.lr > 0):
        parser.error("--lr must be a finite number > 0")

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
        which = f"NOT solved by any of seeds {args.seed}..{args.seed + args.tries - 1}; lowest loss shown"
    elif seed == args.seed:
        which = "solved on the first try"
    else:
        which = f"the first of seeds {args.seed}..{seed} that solves XNOR"
    print(textwrap.fill(f"2. Learned from random weights: 2-2-1 sigmoid net, cross-entropy, "
                        f"{args.steps} steps of SGD (lr {args.lr:g}) with manual backprop "
                        f"(jaxbp.fit); seed {seed}: {which}", 100, subsequent_indent="   "))
    print()
    print(table(ROWS, hidden, out, np.asarray(y), ("h1", "h2")))
    print()
    print(f"{'unit':<7} {'hand-set':<54}  learned (seed {seed})")
    for label, hu, lu in zip(("h1", "h2", "output"), hand_units, learned_units):
        inputs = ("h1", "h2") if label == "output" else ("x1", "x2")
        print(f"{label:<7} {_unit(*hu, inputs):<54}  {_unit(*lu, inputs)}")
    h1, h2, o = (f.name.upper() for f, _, _ in learned_units)
    print()
    print(textwrap.fill(
        f"The hand-set net computes XNOR = OR(AND, NOR); the learned one computes "
        f"{'XNOR' if solved else 'an approximation of XNOR'} = {o}(h1, h2) with h1 = {h1}, "
        f"h2 = {h2} (the output unit's function is read off at the corners (h1, h2) in "
        f"{{0, 1}}^2).", 100))
    return 0


if __name__ == "__main__":
    sys.exit(main())
