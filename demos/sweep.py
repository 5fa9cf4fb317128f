"""``jaxbp sweep``: how often does full-batch gradient descent solve XOR?

Trains ``--runs`` random initialisations of a 2-width-1 sigmoid net per setting and prints,
per row, the success rate with its 95% Wilson interval, the median number of updates to
solve, and how the failed runs failed (see :data:`jaxbp.sweep.MODES`).
"""
import argparse
import sys
import time

from jaxbp import sweep


def _parser():
    p = argparse.ArgumentParser(
        prog="jaxbp sweep", description=__doc__.split("\n\n")[0].split(": ", 1)[1],
        epilog="Example: jaxbp sweep --widths 2 --init small --cost cross_entropy --lr 2 "
               "--steps 50000 --runs 1000")
    p.add_argument("--runs", type=int, default=1000, help="initialisations per setting (1000)")
    p.add_argument("--steps", type=int, default=10000, help="updates per run (10000)")
    p.add_argument("--widths", type=int, nargs="+", default=[2, 3, 4, 8], metavar="W",
                   help="hidden-layer widths (2 3 4 8)")
    p.add_argument("--lr", type=float, nargs="+", default=[0.5, 2.0], metavar="LR",
                   help="learning rates (0.5 2)")
    p.add_argument("--init", nargs="+", default=["small", "uniform"], choices=sorted(sweep.INITS),
                   help="initialisations: small U(-0.12,0.12), uniform U(-1,1), normal N(0,1), "
                        "default net.init (default: small uniform)")
    p.add_argument("--cost", nargs="+", default=["quadratic", "cross_entropy"],
                   choices=["quadratic", "cross_entropy"], help="costs (both)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--plot", metavar="FILE", help="also save success rate vs steps (PNG; "
                   "needs matplotlib, pip install 'jaxbp[plot]')")
    return p


def plot(rows, path):
    """Success rate (solved by update t, first time) against t: one panel per (init, cost),
    one colour per width, one line style per learning rate."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    inits = list(dict.fromkeys(r.init for r in rows))
    costs = list(dict.fromkeys(r.cost for r in rows))
    widths = list(dict.fromkeys(r.width for r in rows))
    lrs = list(dict.fromkeys(r.lr for r in rows))
    fig, axes = plt.subplots(len(inits), len(costs), figsize=(5 * len(costs), 3.4 * len(inits)),
                             squeeze=False, sharex=True, sharey=True)
    styles = ["-", "--", ":", "-."]
    for ax, (init, cost) in zip(axes.flat, ((i, c) for i in inits for c in costs)):
        for r in (r for r in rows if (r.init, r.cost) == (init, cost)):
            t = np.linspace(0, r.steps, 201)
            done = np.sort(r.steps_to_solve[r.steps_to_solve >= 0])
            rate = np.searchsorted(done, t, side="right") / r.runs
            ax.plot(t, 100 * rate, styles[lrs.index(r.lr) % 4],
                    color=f"C{widths.index(r.width)}", label=f"2-{r.width}-1, lr {r.lr:g}")
        ax.set(title=f"init {init}, {cost}", ylim=(0, 100))
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("updates")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"% of {rows[0].runs} runs solved")
    axes[-1][-1].legend(fontsize=7, loc="lower right", ncol=2)
    fig.suptitle("XOR, full-batch gradient descent: all 4 outputs on the right side of 0.5",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("jaxbp sweep: --plot needs matplotlib: pip install 'jaxbp[plot]'", file=sys.stderr)
            return 2
    start = time.perf_counter()
    try:
        rows = sweep.run_grid(args.widths, args.init, args.cost, args.lr, args.runs, args.steps,
                              args.seed)
    except (TypeError, ValueError) as e:
        print(f"jaxbp sweep: {e}", file=sys.stderr)
        return 2
    print(f"XOR with a 2-W-1 sigmoid net, full-batch gradient descent (cost = mean over the 4 "
          f"patterns), manual backprop, float32, seed {args.seed}")
    print(sweep.format_table(rows))
    print(f"\n{len(rows)} settings x {args.runs} runs in {time.perf_counter() - start:.1f} s")
    if args.plot:
        plot(rows, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
