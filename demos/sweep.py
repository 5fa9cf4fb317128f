"""``jaxbp sweep``: how often does full-batch gradient descent solve XOR?

Trains ``--runs`` random initialisations of a 2-width-1 sigmoid net per setting and prints,
per row, the success rate with its 95% Wilson interval, the median number of updates to
solve, and how the failed runs failed (see :data:`jaxbp.sweep.MODES`).
"""
import os
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Sequence

from jaxbp.demos import sweep_grid as sweep
from jaxbp.demos import options, table

WORKERS = min(2, os.cpu_count() or 1)  # programs compiled or trained at once


def columns() -> List[table.Column]:
    """The table's columns; steps and runs (the same on every row, and in the header line)
    are left out first when the table would be wider than the terminal."""
    C = table.Column
    cols = [C("width", "", "W", 2), C("init", "", "init", 7, right=False),
            C("cost", "", "cost", 13, right=False), C("lr", "", "lr", 4),
            C("steps", "", "steps", 6, optional=2), C("runs", "", "runs", 5, optional=1),
            C("solved", "solved", "%", 5, gap=2), C("ci", "", "95% CI", 13),
            C("median", "", "median", 6)]
    for i, mode in enumerate(sweep.MODES[1:]):
        cols.append(C(mode, "failed runs by mode" if i == 0 else "", mode,
                      max(5, len(mode))))
    return cols


def cells(r: Any) -> Dict[str, str]:
    median = f"{r.median_steps:.0f}" if r.median_steps == r.median_steps else "-"
    out = {"width": str(r.width), "init": r.init, "cost": r.cost, "lr": f"{r.lr:g}",
           "steps": str(r.steps), "runs": str(r.runs), "solved": f"{100 * r.rate:.1f}",
           "ci": f"[{100 * r.ci[0]:.1f}, {100 * r.ci[1]:.1f}]", "median": median}
    out.update({m: str(r.modes[m]) for m in sweep.MODES[1:]})
    return out


def _status(text: str) -> None:
    """A progress line on a terminal (overwritten by the next output); nothing otherwise."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K" + text)
        sys.stderr.flush()


def figure(rows: Sequence[Any]) -> Any:
    """Success rate (solved by update t, first time) against t: one panel per (init, cost),
    one colour per width, one line style per learning rate."""
    import numpy as np
    from matplotlib.figure import Figure

    inits = list(dict.fromkeys(r.init for r in rows))
    costs = list(dict.fromkeys(r.cost for r in rows))
    widths = list(dict.fromkeys(r.width for r in rows))
    lrs = list(dict.fromkeys(r.lr for r in rows))
    fig = Figure(figsize=(5 * len(costs), 3.4 * len(inits) + 0.4))
    axes = fig.subplots(len(inits), len(costs), squeeze=False, sharex=True, sharey=True)
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
        ax.set_xlabel("updates t")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"% of {rows[0].runs} runs solved")
    axes[-1][-1].legend(fontsize=7, loc="lower right", ncol=2)
    fig.suptitle("XOR, full-batch gradient descent: % of runs whose 4 outputs have been on the "
                 "right side of 0.5 by update t (the first time)", fontsize=10)
    fig.tight_layout()
    return fig


def plot(rows: Sequence[Any], path: str) -> None:
    """Write :func:`figure` to ``path``."""
    figure(rows).savefig(path, dpi=110)


def main(argv: Optional[List[str]] = None) -> int:
    args = options.parse("sweep", argv)
    start = time.perf_counter()
    intro = (f"XOR with a 2-W-1 sigmoid net (W hidden units), full-batch gradient descent "
             f"(cost = mean over the 4 patterns), manual backprop, float32, {args.steps} steps, "
             f"{args.runs} runs per row, seed {args.seed}. {sweep.CRITERION}. init: small = "
             "U(-0.12, 0.12), uniform = U(-1, 1), normal = N(0, 1), default = net.init. "
             "median: updates to solve (solved runs). Failure modes: see jaxbp.sweep.MODES.")
    print(textwrap.fill(intro, table.WIDTH))
    print()
    cols = table.fit(columns(), args.wide)
    print(table.header(cols), flush=True)
    rows: List[Any] = []
    chunks = args.widths

    def run(width: int) -> List[Any]:
        return sweep.run_grid([width], args.init, args.cost, args.lr, args.runs, args.steps,
                              args.seed)
    # Each width is its own compiled program: while one trains, the next compiles (XLA
    # compiles and runs without holding Python's lock). Rows print in order.
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    try:
        futures = [pool.submit(run, chunk) for chunk in chunks]
        for k, (width, future) in enumerate(zip(chunks, futures)):
            settings = len(args.init) * len(args.lr) * len(args.cost)
            _status(f"training 2-{width}-1: {settings} settings x {args.runs} runs "
                    f"({k + 1}/{len(chunks)}, {time.perf_counter() - start:.0f} s)")
            new = future.result()
            _status("")
            for r in new:
                print(table.row(cols, cells(r)), flush=True)
            rows += new
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    print(f"\n{len(rows)} settings x {args.runs} runs in {time.perf_counter() - start:.1f} s")
    if args.plot:
        plot(rows, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
