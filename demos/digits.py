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
    jaxbp digits --plot digits.png      # test accuracy per epoch, and the misread digits

The initial weights and biases are chapter 1's, every one drawn from N(0, 1).
"""
import sys
from typing import Any, List, Optional, Sequence, Tuple

import jax
import numpy as np

import jaxbp

from jaxbp.demos import options

RATES = {"quadratic": 3.0, "cross_entropy": 0.5}  # Nielsen's eta for each cost


def run(cost: str, lr: float, epochs: int = 30, batch_size: int = 10, hidden: int = 30,
        seed: int = 0, init: str = "chapter1", progress: bool = True,
        split: Optional[Any] = None) -> Tuple[tuple, Any]:
    """Train one net; returns ``(params, history)`` (see :func:`jaxbp.fit_epochs`).

    ``init="chapter1"``: every weight and bias from N(0, 1), as in Nielsen's chapter 1
    (``net.init(key, scale=1.0)``); ``"chapter3"``: W ~ N(0, 1/n_in), b ~ N(0, 1), jaxbp's
    default. The seed fixes the initial parameters (``split(key(seed))[0]``) and the
    shuffling (``[1]``).
    """
    x_train, y_train, x_test, y_test = jaxbp.data.load_digits() if split is None else split
    net = jaxbp.MLP((x_train.shape[1], hidden, y_train.shape[1]), "sigmoid", "sigmoid")
    init_key, shuffle_key = jax.random.split(jax.random.key(seed))
    params = net.init(init_key, scale=1.0 if init == "chapter1" else None)
    return jaxbp.fit_epochs(net, params, x_train, y_train, cost, lr, epochs, batch_size,
                            shuffle_key, test=(x_test, y_test), progress=progress)


def main(argv: Optional[List[str]] = None) -> int:
    args = options.parse("digits", argv)
    prog = "jaxbp digits"
    try:
        split = jaxbp.data.load_digits()
    except ImportError as e:
        return options.fail(prog, str(e), 2)
    if args.batch_size > len(split.x_train):
        return options.fail(prog, f"argument --batch-size: must be at most "
                                  f"{len(split.x_train)}, the training set size", 2)
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
            params, history = run(cost, lr, args.epochs, args.batch_size, args.hidden, args.seed,
                             args.init, progress=not args.quiet, split=split)
        except jaxbp.NonFiniteError:
            return options.fail(prog, f"training diverged: the learning rate {lr:g} is too "
                                      f"large for the {cost} cost; try e.g. --lr {lr / 10:g}")
        per_epoch = history.train_seconds / len(history.train_cost) * 1e3
        print(f"compiled in {history.compile_seconds:.2f} s; trained {len(history.train_cost)} "
              f"epochs in {history.train_seconds:.3f} s ({per_epoch:.1f} ms per epoch)")
        results.append((cost, lr, history, params))
    print(f"\n{'cost':<14} {'lr':>4}  {'final test accuracy':<26} best epoch")
    for cost, lr, h, _ in results:
        final, best = int(h.test_correct[-1]), int(np.argmax(h.test_correct))
        print(f"{cost:<14} {lr:>4g}  {final} / {h.test_total} = {100 * final / h.test_total:6.2f}%"
              f"      {best} ({int(h.test_correct[best])} / {h.test_total})")
    if args.plot:
        net = jaxbp.MLP((split.x_train.shape[1], args.hidden, split.y_train.shape[1]),
                        "sigmoid", "sigmoid")
        plot(results, net, split, args.plot)
        print(f"\nwrote {args.plot}")
    return 0


def misread(net: Any, params: tuple, x: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Indices of the images the net reads wrong, and what it reads (argmax of its output)."""
    read = np.argmax(np.asarray(net.apply(params, x)), axis=1)
    return np.flatnonzero(read != np.argmax(y, axis=1)), read


def figure(results: Sequence[tuple], net: Any, split: Any, show: int = 10) -> Any:
    """Test accuracy per epoch for each cost (top), and for each cost the first ``show``
    test digits its net misreads, with the true and the read digit (one row per cost)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    fig = Figure(figsize=(10, 3.6 + 1.3 * len(results)), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.2, 1.3 * len(results)])
    ax = top.subplots()
    for cost, lr, h, _ in results:
        epochs = np.arange(1, len(h.test_correct) + 1)
        ax.plot(epochs, 100 * np.asarray(h.test_correct) / h.test_total, marker="o",
                markersize=3, label=f"{cost} cost, lr {lr:g}")
    ax.set(xlabel="epoch", ylabel=f"test accuracy (% of {results[0][2].test_total} images)",
           title="Held-out 8x8 digits read correctly after each epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    rows = bottom.subplots(len(results), show, squeeze=False)
    for r, (cost, _, _, params) in enumerate(results):
        wrong, read = misread(net, params, split.x_test, split.y_test)
        truth = np.argmax(split.y_test, axis=1)
        for k, image_ax in enumerate(rows[r]):
            image_ax.set_axis_off()
            if k < len(wrong):
                i = wrong[k]
                image_ax.imshow(np.asarray(split.x_test[i]).reshape(8, 8), cmap="gray_r",
                                vmin=0, vmax=1)
                image_ax.set_title(f"{truth[i]} read as {read[i]}", fontsize=8)
        rows[r][0].text(-0.3, 0.5, f"{cost}:\n{len(wrong)} misread", fontsize=8,
                        transform=rows[r][0].transAxes, ha="right", va="center")
    bottom.suptitle(f"The first {show} misread test digits after the last epoch "
                    "(true digit read as the net's answer)", fontsize=9)
    return fig


def plot(results: Sequence[tuple], net: Any, split: Any, path: str) -> None:
    """Write :func:`figure` to ``path``."""
    figure(results, net, split).savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
