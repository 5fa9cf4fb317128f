"""``jaxbp worksheet``: a seeded backprop exercise and its answer key.

``jaxbp worksheet --seed 7`` prints an exercise: a small sigmoid net with one-decimal
weights, one sample, and blanks for every z, a, the error, every delta, gradient and
updated weight. ``--key`` prints its answer key instead; ``--out FILE`` writes the exercise
to FILE and the key to FILE with ``-key`` before its extension. The same seed gives the
same sheet on every machine. Grade a filled-in sheet with ``jaxbp grade FILE``.
"""
import argparse
import os
import sys


def _parser():
    p = argparse.ArgumentParser(prog="jaxbp worksheet",
                                description="A seeded backprop exercise and its answer key.",
                                epilog="Examples: jaxbp worksheet --seed 7; jaxbp worksheet "
                                       "--seed 7 --net 2-2-2 --cost cross_entropy --out s.txt")
    p.add_argument("--seed", type=int, required=True, help="which sheet (an integer >= 0)")
    p.add_argument("--net", default="2-2-1", help="layer sizes, e.g. 2-2-1 (default), 2-3-2")
    p.add_argument("--cost", default="quadratic", choices=["quadratic", "cross_entropy"])
    form = p.add_mutually_exclusive_group()
    form.add_argument("--markdown", action="store_true", help="Markdown instead of text")
    form.add_argument("--latex", action="store_true", help="LaTeX, for printing")
    p.add_argument("--key", action="store_true", help="print the answer key instead")
    p.add_argument("--out", metavar="FILE", help="write the sheet to FILE and the key to FILE-key")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    import jax
    jax.config.update("jax_enable_x64", True)
    from jaxbp import worksheet
    try:
        sheet = worksheet.make(args.seed, args.net, args.cost)
    except ValueError as e:
        print(f"jaxbp {e}", file=sys.stderr)
        return 2
    form = "markdown" if args.markdown else "latex" if args.latex else "text"
    if args.out:
        stem, ext = os.path.splitext(args.out)
        key_path = f"{stem}-key{ext}"
        for path, key in ((args.out, False), (key_path, True)):
            with open(path, "w", encoding="utf-8") as f:
                f.write(worksheet.render(sheet, form, key=key))
        print(f"wrote {args.out} and {key_path}")
    else:
        print(worksheet.render(sheet, form, key=args.key), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
