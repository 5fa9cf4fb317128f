"""``jaxbp digits``: Nielsen's chapter-1 experiment on scikit-learn's 8x8 handwritten digits.

A 64-30-10 sigmoid network learns to read digits by mini-batch stochastic gradient descent
with the hand-written backprop: mini-batches of 10, 30 epochs, the quadratic cost at
learning rate 3.0 (chapter 1) and the cross-entropy cost at 0.5 (chapter 3), from the
same initial weights and the same shuffling. After each epoch it prints, like the book,
how many of the 297 held-out images it reads correctly. The 1,797 images ship with
scikit-learn (the optional extra ``jaxbp[data]``); nothing is downloaded.

    jaxbp digits                        # both costs, 30 epochs
    jaxbp digits --cost cross_entropy --epochs 10 --lr 0.5
    jaxbp digits --seed 1 --quiet       # here the quadratic cost stalls near 91%
    jaxbp digits --init chapter3        # N(0, 1/n_in) weights, jaxbp's default

The initial weights and biases are chapter 1's, every one drawn from N(0, 1).
"""
import argparse
import sys

import jax
import numpy as np

import jaxbp
from jaxbp import train

RATES = {"quadratic": 3.0, "cross_entropy": 0.5}  # Nielsen's eta for each cost


def run(cost, lr, epochs=30, batch_size=10, hidden=30, seed=0, init="chapter1", progress=True,
        split=None):
    """Train one net; returns ``(params, history)`` (see :func:`jaxbp.train.fit_epochs`).

    ``init="chapter1"``: every weight and bias from N(0, 1), as in Nielsen's chapter 1
    (``net.init(key, scale=1.0)``); ``"chapter3"``: W ~ N(0, 1/n_in), b ~ N(0, 1), jaxbp's
    default. The seed fixes the initial parameters (``split(key(seed))[0]``) and the
    shuffling (``[1]``).
    """
    x_train, y_train, x_test, y_test = jaxbp.data.load_digits() if split is None else split
    net = jaxbp.MLP((x_train.shape[1], hidden, y_train.shape[1]), "sigmoid", "sigmoid")
    init_key, shuffle_key = jax.random.split(jax.random.key(seed))
    params = net.init(init_key, scale=1.0 if init == "chapter1" else None)
    return train.fit_epochs(net, params, x_train, y_train, cost, lr, epochs, batch_size,
                            shuffle_key, test=(x_test, y_test), progress=progress)


def _parser():
    p = argparse.ArgumentParser(prog="jaxbp digits",
                                description=__doc__.split("\n\n")[0].replace("``", ""),
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--cost", default="both", choices=["both", *RATES],
                   help="which cost to train with (default: both)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: 3.0 for quadratic, 0.5 for cross_entropy)")
    p.add_argument("--epochs", type=int, default=30, help="passes over the 1,500 training "
                   "images (default 30)")
    p.add_argument("--batch-size", type=int, default=10, help="mini-batch size (default 10)")
    p.add_argument("--hidden", type=int, default=30, help="hidden units (default 30)")
    p.add_argument("--seed", type=int, default=0, help="initialisation and shuffling (default 0)")
    p.add_argument("--init", default="chapter1", choices=["chapter1", "chapter3"],
                   help="chapter1 (default): every weight and bias N(0, 1); chapter3: "
                        "weights N(0, 1/n_in), jaxbp's default")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    return p


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "hidden"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be an int > 0")
    if args.lr is not None and not (np.isfinite(args.lr) and args.lr > 0):
        parser.error(f"--lr must be a finite number > 0, got {args.lr}")
    if not 0 <= args.seed < 2 ** 32:
        parser.error("--seed must be in [0, 2**32)")
    try:
        split = jaxbp.data.load_digits()
    except ImportError as e:
        print(f"jaxbp digits: {e}", file=sys.stderr)
        return 2
    if args.batch_size > len(split.x_train):
        parser.error(f"--batch-size must be at most {len(split.x_train)}, the training set size")
    costs = list(RATES) if args.cost == "both" else [args.cost]
    print(f"{len(split.x_train)} training and {len(split.x_test)} test images of 8x8 digits; "
          f"64-{args.hidden}-10 sigmoid net ({args.init} init), mini-batches of "
          f"{args.batch_size}, {args.epochs} epoch{'s' * (args.epochs != 1)}, seed {args.seed}, "
          f"float32")
    results = []
    for cost in costs:
        lr = RATES[cost] if args.lr is None else args.lr
        print(f"\n{cost} cost, learning rate {lr}")
        try:
            _, history = run(cost, lr, args.epochs, args.batch_size, args.hidden, args.seed,
                             args.init, progress=not args.quiet, split=split)
        except jaxbp.NonFiniteError as e:
            print(f"jaxbp digits: training diverged: {e}\nThe learning rate {lr} is too large "
                  f"for this cost; try a smaller one, e.g. --lr {lr / 10:g}.", file=sys.stderr)
            return 1
        per_epoch = history.train_seconds / len(history.train_cost) * 1e3
        print(f"compiled in {history.compile_seconds:.2f} s; trained {len(history.train_cost)} "
              f"epochs in {history.train_seconds:.3f} s ({per_epoch:.1f} ms per epoch)")
        results.append((cost, lr, history))
    print(f"\n{'cost':<14} {'lr':>4}  {'final test accuracy':<26} best epoch")
    for cost, lr, h in results:
        final, best = int(h.test_correct[-1]), int(np.argmax(h.test_correct))
        print(f"{cost:<14} {lr:>4g}  {final} / {h.test_total} = {100 * final / h.test_total:6.2f}%"
              f"      {best} ({int(h.test_correct[best])} / {h.test_total})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
