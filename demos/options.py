"""The command-line options of the demos, declared where importing costs nothing.

``jaxbp gates --help`` and a mistyped flag are answered from here, before JAX is imported,
and every output path (``--plot``, ``--html``) is checked before any work is done. Each
demo's ``main(argv)`` parses its arguments with :func:`parse`, so the command and
``python demos/NAME.py`` behave alike.

This module imports only the standard library.
"""
import argparse
import math
import os
import sys
from typing import Callable, Dict, List, NoReturn, Optional, Sequence

# File types matplotlib writes, by suffix (Figure.savefig picks the format from it).
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".webp", ".eps", ".ps", ".tif",
                 ".tiff")
PLOT_EXTRA = "pip install 'jaxbp[plot]'"


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, ``jaxbp gates: error: ...``, with
    exit code 2 (argparse's own prints the usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def fail(prog: str, message: str, code: int = 1) -> int:
    """Print ``prog: error: message`` on stderr and return ``code`` (for ``return fail(...)``)."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code


# ---- checks on values (argparse ``type=`` functions: their errors name the flag) ----------

def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be an int > 0, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def seed(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError(f"must be an int in [0, 2**32), got {value}")
    return value


def check_output(path: str, suffixes: Optional[Sequence[str]] = None) -> Optional[str]:
    """Why ``path`` cannot be written (a sentence), or None if it can: its folder exists
    and is writable, it is not a folder, and its suffix is one of ``suffixes``."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"{path} is a folder; give a file name"
    if suffixes and os.path.splitext(path)[1].lower() not in suffixes:
        return f"{path}: the file name must end in one of {', '.join(suffixes)}"
    if not os.path.isdir(folder):
        return f"cannot write {path}: the folder {os.path.dirname(path) or folder} does not exist"
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        return f"cannot write {path}: permission denied"
    return None


def _check_plot(parser: Parser, path: Optional[str], flag: str = "--plot") -> None:
    if path is None:
        return
    problem = check_output(path, PLOT_SUFFIXES)
    if problem:
        parser.error(f"argument {flag}: {problem}")
    try:
        import matplotlib  # noqa: F401  (light: pyplot is not imported)
    except ImportError:
        parser.error(f"argument {flag}: plotting needs matplotlib: {PLOT_EXTRA}")


# ---- the demos' options ------------------------------------------------------------------

def _gates(p: Parser) -> None:
    p.add_argument("--all16", action="store_true",
                   help="all 16 Boolean functions of two inputs instead of the six gates")
    p.add_argument("--steps", type=positive_int, default=3000,
                   help="gradient-descent steps (default 3000)")
    p.add_argument("--lr", type=positive_float, default=2.0, help="learning rate (default 2.0)")
    p.add_argument("--seeds", type=positive_int, default=8, help="seeds tried per net (default 8)")
    p.add_argument("--cost", default="cross_entropy", choices=["cross_entropy", "quadratic"],
                   help="cost of the nets (default cross_entropy)")
    p.add_argument("--max-epochs", type=positive_int, default=100,
                   help="perceptron epochs (default 100)")
    p.add_argument("--plot", metavar="FILE", help="write the decision regions to FILE (.png, "
                   f".pdf, .svg; needs matplotlib: {PLOT_EXTRA})")
    p.add_argument("--html", metavar="FILE", help="write the interactive page (jaxbp.viz)")
    p.add_argument("--wide", action="store_true",
                   help="every column (loss, seed), even past 100 characters")


def _xnor(p: Parser) -> None:
    p.add_argument("--steps", type=positive_int, default=3000,
                   help="training steps (default 3000)")
    p.add_argument("--lr", type=positive_float, default=2.0, help="SGD learning rate (default 2.0)")
    p.add_argument("--seed", type=seed, default=0, help="first seed tried (default 0)")
    p.add_argument("--tries", type=positive_int, default=8,
                   help="seeds tried, from --seed on; the first that solves XNOR is shown")
    p.add_argument("--plot", metavar="FILE", help="draw the hand-set and the learned hidden "
                   f"units' lines to FILE (.png, .pdf, .svg; {PLOT_EXTRA})")


def _digits(p: Parser) -> None:
    p.add_argument("--cost", default="both", choices=["both", "quadratic", "cross_entropy"],
                   help="which cost to train with (default: both)")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (default: 3.0 for quadratic, 0.5 for cross_entropy)")
    p.add_argument("--epochs", type=positive_int, default=30,
                   help="passes over the 1,500 training images (default 30)")
    p.add_argument("--batch-size", type=positive_int, default=10,
                   help="mini-batch size (default 10)")
    p.add_argument("--hidden", type=positive_int, default=30, help="hidden units (default 30)")
    p.add_argument("--seed", type=seed, default=0, help="initialisation and shuffling (default 0)")
    p.add_argument("--init", default="chapter1", choices=["chapter1", "chapter3"],
                   help="chapter1 (default): every weight and bias N(0, 1); chapter3: "
                        "weights N(0, 1/n_in), jaxbp's default")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.add_argument("--plot", metavar="FILE", help="test accuracy per epoch and the misread test "
                   f"digits to FILE (.png, .pdf, .svg; {PLOT_EXTRA})")


SWEEP_INITS = ("default", "normal", "small", "uniform")


def _sweep(p: Parser) -> None:
    p.add_argument("--runs", type=positive_int, default=500,
                   help="initialisations per setting (500)")
    p.add_argument("--steps", type=positive_int, default=10000, help="updates per run (10000)")
    p.add_argument("--widths", type=positive_int, nargs="+", default=[2, 3, 4, 8], metavar="W",
                   help="hidden-layer widths (2 3 4 8)")
    p.add_argument("--lr", type=positive_float, nargs="+", default=[0.5, 2.0], metavar="LR",
                   help="learning rates (0.5 2)")
    p.add_argument("--init", nargs="+", default=["small", "uniform"], choices=SWEEP_INITS,
                   help="initialisations: small U(-0.12,0.12), uniform U(-1,1), normal N(0,1), "
                        "default net.init (default: small uniform)")
    p.add_argument("--cost", nargs="+", default=["quadratic", "cross_entropy"],
                   choices=["quadratic", "cross_entropy"], help="costs (both)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (0)")
    p.add_argument("--plot", metavar="FILE", help="also save success rate vs steps (.png, .pdf, "
                   f".svg; {PLOT_EXTRA})")
    p.add_argument("--wide", action="store_true", help="every column, even past 100 characters")


# name -> (description, epilog, the function adding the options)
DEMOS: Dict[str, tuple] = {
    "gates": ("Which logic gates can one unit learn, and what does one hidden layer add? The "
              "perceptron, a single sigmoid unit, and 2-2-1 and 2-3-1 sigmoid nets trained with "
              "the hand-written backprop, on every gate.",
              "examples:\n  jaxbp gates\n  jaxbp gates --all16\n  jaxbp gates --plot gates.png",
              _gates),
    "xnor": ("XNOR = OR(AND, NOR) built by hand, then learned by a 2-2-1 sigmoid net from random "
             "weights with the hand-written backprop.",
             "example:\n  jaxbp xnor --plot xnor.png", _xnor),
    "digits": ("Nielsen's chapter-1 experiment on scikit-learn's 8x8 handwritten digits: a "
               "64-30-10 sigmoid net, mini-batch SGD with the hand-written backprop, the "
               "quadratic cost (lr 3.0) and the cross-entropy cost (lr 0.5) from the same "
               "initial weights. Needs scikit-learn: pip install 'jaxbp[data]'.",
               "examples:\n  jaxbp digits\n  jaxbp digits --cost cross_entropy --epochs 10\n"
               "  jaxbp digits --seed 1 --quiet       # here the quadratic cost stalls near 91%\n"
               "  jaxbp digits --plot digits.png",
               _digits),
    "sweep": ("How often does full-batch gradient descent solve XOR? Trains --runs random "
              "initialisations of a 2-W-1 sigmoid net per setting and prints the success rate "
              "with its 95% Wilson interval, the median updates to solve, and how the failed "
              "runs failed.",
              "example:\n  jaxbp sweep --widths 2 --init small --cost cross_entropy --lr 2 "
              "--steps 50000 --runs 1000",
              _sweep),
}

# Checks that need the parsed arguments together: name -> function(parser, args)
_AFTER: Dict[str, Callable[[Parser, argparse.Namespace], None]] = {}


def _after_gates(p: Parser, args: argparse.Namespace) -> None:
    _check_plot(p, args.plot)
    if args.html:
        problem = check_output(args.html, (".html", ".htm"))
        if problem:
            p.error(f"argument --html: {problem}")


def _after_plot(p: Parser, args: argparse.Namespace) -> None:
    _check_plot(p, args.plot)


_AFTER.update(gates=_after_gates, xnor=_after_plot, digits=_after_plot, sweep=_after_plot)


def parser(name: str) -> Parser:
    """The argument parser of ``jaxbp NAME``."""
    description, epilog, add = DEMOS[name]
    p = Parser(prog=f"jaxbp {name}", description=description, epilog=epilog,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    add(p)
    return p


def parse(name: str, argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse and check ``jaxbp NAME``'s arguments: bad values and unwritable output paths
    end the program with a one-line error (exit code 2), before any work is done."""
    p = parser(name)
    args = p.parse_args(argv)
    _AFTER[name](p, args)
    return args
