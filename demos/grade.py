"""``jaxbp grade FILE``: grade a filled-in worksheet (``jaxbp worksheet``).

Reads the sheet (text or Markdown; the first line names its seed, net and cost), checks
every answer against the key within 0.5%, and names the first wrong number, the equation it
comes from and, when the numbers fit a known mistake, what the mistake most likely is.
Exit status: 0 when every blank is answered and right, 1 otherwise, 2 for a sheet that
cannot be read (the message names the line).
"""
import argparse
import sys


def main(argv=None):
    p = argparse.ArgumentParser(prog="jaxbp grade", description="Grade a filled-in worksheet.",
                                epilog="Example: jaxbp worksheet --seed 7 --out s.txt; (fill "
                                       "it in); jaxbp grade s.txt")
    p.add_argument("file", help="the filled-in sheet (text or Markdown)")
    args = p.parse_args(argv)
    import jax
    jax.config.update("jax_enable_x64", True)
    from jaxbp import worksheet
    try:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        print(f"jaxbp grade: cannot read {args.file}: {e.strerror}", file=sys.stderr)
        return 2
    try:
        result = worksheet.grade(text, source=args.file)
    except worksheet.WorksheetError as e:
        print(f"jaxbp grade: {e}", file=sys.stderr)
        return 2
    print(result)
    return 0 if result.right == result.total else 1


if __name__ == "__main__":
    sys.exit(main())
