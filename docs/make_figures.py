"""Draw the pictures in docs/ (used by the README and the docs) from the demos' own code.

    python docs/make_figures.py            # every picture
    python docs/make_figures.py gates xnor # some of them

Each picture is what the matching command writes with ``--plot``, at the demo's default
settings (the sweep at 200 runs per setting, to keep this script under a minute or so).
Needs the ``plot`` and ``data`` extras: ``pip install 'jaxbp[plot,data]'``.
"""
import sys
import time
from pathlib import Path

import jaxbp
from jaxbp import gates as gate_tables
from jaxbp.demos import digits, gates, sweep, sweep_grid, xnor

DOCS = Path(__file__).resolve().parent


def gates_png() -> None:
    results = gates.run(list(gate_tables.NAMES))
    gates.figure(results).savefig(DOCS / "gates.png", dpi=80)


def xnor_png() -> None:
    net, hand = jaxbp.examples.xnor_by_hand()
    seed, learned, _ = xnor.train(2.0, 3000, 0, 8)
    xnor.figure(net, hand, learned, seed).savefig(DOCS / "xnor.png", dpi=80)


def digits_png() -> None:
    split = jaxbp.data.load_digits()
    net = jaxbp.MLP((64, 30, 10), "sigmoid", "sigmoid")
    results = []
    for cost, lr in digits.RATES.items():
        params, history = digits.run(cost, lr, split=split, progress=False)
        results.append((cost, lr, history, params))
    digits.figure(results, net, split).savefig(DOCS / "digits.png", dpi=80)


def sweep_png() -> None:
    rows = sweep_grid.run_grid((2, 3, 4, 8), ("small", "uniform"),
                                ("quadratic", "cross_entropy"), (0.5, 2.0), runs=200,
                                steps=10000, seed=0)
    sweep.figure(rows).savefig(DOCS / "sweep.png", dpi=80)


FIGURES = {"gates": gates_png, "xnor": xnor_png, "digits": digits_png, "sweep": sweep_png}


def main(names) -> int:
    for name in names or FIGURES:
        start = time.perf_counter()
        FIGURES[name]()
        print(f"wrote docs/{name}.png ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
