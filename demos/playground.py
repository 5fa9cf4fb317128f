"""``jaxbp playground FILE``: write the live playground, one HTML file that trains in the browser.

A small MLP trains on 2-D data (the six logic gates, or the TensorFlow Playground's circle,
quadrant-XOR, two-Gaussians and spiral sets) with BP1-BP4 written out in JavaScript, in
float64. Every unit shows its activation or its delta over the input plane, every edge its
weight or its gradient; the settings live in the URL hash, so a link is a lesson.

    jaxbp playground pg.html
    jaxbp playground xor.html --dataset xor --sizes 2-2-1 --activations sigmoid,sigmoid --lr 1
    jaxbp playground lesson.html --dataset xor --sizes 2-1 --hide sizes,features
    jaxbp playground mine.html --csv data.csv       # rows x1,x2,label (labels 0, 1, ...)

Open the file in any browser (no network needed). See docs/playground.md.
"""
import argparse
import sys

import numpy as np

from jaxbp import playground as pg


def _list(sep, kind=str):
    def parse(text):
        try:
            return [kind(v) for v in text.split(sep) if v != ""]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected values separated by '{sep}', got {text!r}") from None
    return parse


def read_csv(path):
    """Rows ``x1,x2,label`` (a header line and blank lines are skipped)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            fields = [v for v in line.replace(";", ",").replace("\t", ",").split(",") if v.strip()]
            if not fields:
                continue
            try:
                rows.append([float(v) for v in fields[:3]])
            except ValueError:
                if rows or n > 1:
                    raise ValueError(f"{path}, line {n}: expected x1,x2,label, "
                                     f"got {line.strip()!r}") from None
                continue   # a header
            if len(fields) < 3:
                raise ValueError(f"{path}, line {n}: expected x1,x2,label, got {line.strip()!r}")
    if len(rows) < 2:
        raise ValueError(f"{path}: expected at least two rows x1,x2,label")
    data = np.asarray(rows)
    return data[:, :2], data[:, 2]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="jaxbp playground",
        description="Write the live playground (one self-contained HTML file that trains a "
                    "small net in the browser with the four backprop equations written out).")
    parser.add_argument("file", help="the HTML file to write")
    d = pg.DEFAULTS
    parser.add_argument("--dataset", default=d["dataset"], choices=list(pg.DATASETS),
                        help=f"data set (default {d['dataset']})")
    parser.add_argument("--seed", type=int, default=d["seed"], help="seed of data and weights")
    parser.add_argument("--sizes", type=_list("-", int), default=d["sizes"],
                        help="units per layer, input first, e.g. 2-4-2-1 (the input and output "
                             "sizes follow the features and the classes)")
    parser.add_argument("--activations", type=_list(","), default=None,
                        help="one per weight layer, e.g. tanh,tanh,sigmoid (default: tanh hidden, "
                             "sigmoid output)")
    parser.add_argument("--cost", default=d["cost"], choices=list(pg.COSTS))
    parser.add_argument("--lr", type=float, default=d["lr"], help=f"learning rate (default {d['lr']})")
    # the flag's name in version 0.2.0, still accepted (not shown in --help)
    parser.add_argument("--learning-rate", dest="lr", type=float, default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=d["batch_size"])
    parser.add_argument("--l1", type=float, default=d["l1"])
    parser.add_argument("--l2", type=float, default=d["l2"])
    parser.add_argument("--features", type=_list(","), default=d["features"],
                        help=f"input features, some of {','.join(pg.FEATURES)}")
    parser.add_argument("--noise", type=float, default=d["noise"], help="0 to 0.5")
    parser.add_argument("--train-fraction", type=float, default=d["train_fraction"])
    parser.add_argument("--stop-loss", type=float, default=d["stop_loss"])
    parser.add_argument("--stop-step", type=int, default=d["stop_step"])
    parser.add_argument("--hide", type=_list(","), default=[],
                        help=f"controls to hide (a lesson page), some of {','.join(pg.CONTROLS)}")
    parser.add_argument("--title", default=None)
    parser.add_argument("--csv", metavar="FILE", help="train on your own data: rows x1,x2,label")
    args = parser.parse_args(argv)
    acts = args.activations or ["tanh"] * (len(args.sizes) - 2) + ["sigmoid"]
    settings = dict(dataset=args.dataset, seed=args.seed, sizes=args.sizes, activations=acts,
                    cost=args.cost, lr=args.lr, batch_size=args.batch_size,
                    l1=args.l1, l2=args.l2, features=args.features, noise=args.noise,
                    train_fraction=args.train_fraction, stop_loss=args.stop_loss,
                    stop_step=args.stop_step)
    try:
        x = y = None
        if args.csv:
            x, y = read_csv(args.csv)
            settings["dataset"] = "custom"
        path = pg.playground(args.file, x, y, hide=args.hide, title=args.title, **settings)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"jaxbp playground: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}: open it in a browser")
    return 0


if __name__ == "__main__":
    sys.exit(main())
