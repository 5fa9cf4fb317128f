"""The ``jaxbp`` console command: ``jaxbp <demo> [options]``; ``jaxbp <demo> --help``.

Each demo lives in ``jaxbp.demos.<name>`` and exposes ``main(argv) -> int``; the scripts in
the repository's ``demos/`` folder call the same functions.
"""
import importlib
import sys

DEMOS = {
    "gates": "perceptron vs hidden-layer nets on the six logic gates (the main demo)",
    "xnor": "XNOR = OR(AND, NOR) by hand, then learned from random weights",
    "explain": "step-by-step backprop walkthrough: 'jaxbp explain mazur' or 'no-bias-221'",
    "sweep": "how often does training solve XOR? success rates over many seeds",
    "digits": "Nielsen's chapter-1 experiment on scikit-learn's 8x8 digits",
}


def usage():
    lines = ["usage: jaxbp <demo> [options]   (jaxbp <demo> --help for a demo's options)", "",
             "demos:"]
    lines += [f"  {name:<8} {text}" for name, text in DEMOS.items()]
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in DEMOS:
        print(f"jaxbp: unknown demo '{name}'\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"jaxbp.demos.{name}")
    return module.main(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
