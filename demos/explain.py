"""``jaxbp explain``: the classic worked examples of backprop, number by number.

``jaxbp explain mazur`` prints Matt Mazur's "A Step by Step Backpropagation Example" (a
2-2-2 sigmoid net) as computed by :func:`jaxbp.explain` -- forward pass, total error, the
chain-rule factors and update of every weight -- then the error and outputs after 10,000
updates. ``jaxbp explain no-bias-221`` does the same for the 2-2-1 lecture example without
biases. ``--as-published`` switches to the sequential update, which reproduces some of the
post's printed figures, and shows which figures come from which method and why.

The demo turns on float64 (``jax_enable_x64``) at start, because the figures are compared
to 9 significant digits; ``--float32`` keeps float32 (7 digits).
"""
import sys
import textwrap

from jaxbp.demos import options

# Figures as printed in the sources (quoted, to compare with; never used to compute).
MAZUR_POST = {
    "E_total before the update": "0.298371109",
    "w5+": "0.35891648", "w6+": "0.408666186", "w7+": "0.511301270", "w8+": "0.561370121",
    "w1+": "0.149780716", "w2+": "0.19956143", "w3+": "0.24975114", "w4+": "0.29950229",
    "E_total after 1 update": "0.291027924",
    "out_o1 after 10,000 updates": "0.015912196", "out_o2 after 10,000 updates": "0.984065734",
    "E_total after 10,000 updates": "0.0000351085",
}
MAZUR_WHY = (
    "Why: the post's figures mix two methods and an off-by-one. Its text (and the standard "
    "method) computes every gradient from the same forward and backward pass, which gives "
    "the printed w1..w8. Its 'error after one update' 0.291027924 and its outputs after "
    "10,000 updates 0.015912196 / 0.984065734 are reproduced by the sequential method "
    "(output weights updated first, hidden deltas computed with the updated output "
    "weights) -- a method that gives them, not a claim about the author's code. Its final "
    "error 0.0000351085 matches neither method after 10,000 updates: it is the *standard* "
    "method's error after 9,999 updates (3.51085481e-05), not the sequential method's "
    "(3.50914538e-05 after 9,999) -- the error was printed before the last update.")
NO_BIAS_WHY = (
    "Note: the exact results are output {out}, E {E} and updated output weights "
    "[{w5}, {w6}] (computed above). The often-quoted 0.272392 / 0.87305 come from rounding "
    "alone, intermediates rounded by hand (delta_o1 = 0.0406, out_h1 = 0.68, out_h2 = "
    "0.6637). They are output weights, which the update order cannot change: the order "
    "(standard or sequential; {where}) only changes the hidden weights. By hand:")
EXAMPLES = {"mazur": "mazur", "no-bias-221": "no_bias_221", "no_bias_221": "no_bias_221"}


def _parser():
    p = options.Parser(  # one-line errors, like the other demos
        prog="jaxbp explain",
        description=__doc__.split("\n\n")[1].replace("``", "'").replace(":func:`", "").replace("`", ""),
        epilog="Examples: jaxbp explain mazur; jaxbp explain mazur --as-published; "
               "jaxbp explain no-bias-221 --markdown --out nb.md")
    p.add_argument("example", choices=["mazur", "no-bias-221"], help="which worked example")
    p.add_argument("--as-published", action="store_true",
                   help="sequential update (output weights first), which gives some of the "
                        "post's figures")
    p.add_argument("--bug", metavar="NAME", help="a wrong backward pass from jaxbp.bugs (e.g. "
                   "batch_sum; 'list' lists them): its numbers beside the right ones")
    p.add_argument("--steps", type=options.positive_int, default=10000,
                   help="length of the long run (10000)")
    p.add_argument("--markdown", action="store_true", help="Markdown with LaTeX ($$...$$)")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--html", metavar="FILE", help="also write an interactive HTML page "
                   "(jaxbp.viz.write_explain_html)")
    p.add_argument("--float32", action="store_true", help="keep float32 (default: float64)")
    return p


def _matches(post, value):
    """Does ``value`` round to the printed figure ``post`` (a string) at its printed precision?"""
    decimals = len(post.split(".")[1])
    return abs(value - float(post)) <= 0.5 * 10.0 ** -decimals * (1 + 1e-9)


def _prose(text, markdown):
    return text if markdown else textwrap.fill(text, 100, break_on_hyphens=False)


def _table(markdown, header, rows):
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return lines + ["| " + " | ".join(r) + " |" for r in rows]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    return [fmt(header), "  " + "-" * (sum(widths) + 2 * len(widths) - 2)] + [fmt(r) for r in rows]


def mazur_comparison(steps=10000, markdown=False):
    """The post's printed figures next to both methods, with which method each matches."""
    import numpy as np

    from jaxbp import examples
    ex = examples.mazur()
    runs = {pub: examples.train_example(ex, steps, as_published=pub) for pub in (False, True)}
    first = {pub: examples.train_example(ex, 1, as_published=pub)[0] for pub in (False, True)}
    computed = {}
    for pub in (False, True):
        (params, errors), p1 = runs[pub], first[pub]
        out = np.asarray(ex.net.apply(params, ex.x))[0]
        W1, W2 = np.asarray(p1[0]["W"]), np.asarray(p1[1]["W"])
        values = {"E_total before the update": errors[0]}
        values.update({f"w{k + 5}+": W2[i, j] for k, (i, j) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)])})
        values.update({f"w{k + 1}+": W1[i, j] for k, (i, j) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)])})
        values.update({"E_total after 1 update": errors[1],
                       f"out_o1 after {steps:,} updates": out[0],
                       f"out_o2 after {steps:,} updates": out[1],
                       f"E_total after {steps:,} updates": errors[steps],
                       f"E_total after {steps - 1:,} updates": errors[steps - 1]})
        computed[pub] = {k: float(v) for k, v in values.items()}
    rows = []
    claimed = {k.replace("10,000", f"{steps:,}"): v for k, v in MAZUR_POST.items()}
    for name in computed[False]:
        post = claimed.get(name)
        if post is None and name == f"E_total after {steps - 1:,} updates":
            post = claimed.get(f"E_total after {steps:,} updates")   # the off-by-one
        std, seq = computed[False][name], computed[True][name]
        if post is None:
            verdict = ""
        else:
            m = [label for label, v in (("standard", std), ("sequential", seq)) if _matches(post, v)]
            verdict = " and ".join(m) if m else "neither"
        rows.append([name, post if post is not None else "-", f"{std:.9g}",
                     f"{seq:.9g}", verdict])
    title = "Which of the post's figures come from which method"
    lines = [f"## {title}" if markdown else f"{title}\n{'-' * len(title)}", ""]
    lines += _table(markdown, ["figure", "printed in the post", "standard", "sequential",
                               "post matches"], rows)
    note = ("" if steps == 10000 else
            f" (the post's 10,000-update figures are compared with {steps:,} updates here)")
    return "\n".join(lines + ["", _prose(MAZUR_WHY + note, markdown), ""])


def no_bias_note(markdown=False, as_published=False):
    """Where the often-quoted 0.272392 / 0.87305 come from (rounded hand arithmetic)."""
    import numpy as np

    from jaxbp import examples, walkthrough
    ex = examples.no_bias_221()
    params, errors = examples.train_example(ex, 1)
    out = float(np.asarray(ex.net.apply(ex.params, ex.x))[0, 0])
    W2 = np.asarray(params[1]["W"])[:, 0]
    exact = NO_BIAS_WHY.format(out=f"{out:.8g}", E=f"{float(errors[0]):.6g}",
                               w5=f"{W2[0]:.8g}", w6=f"{W2[1]:.8g}",
                               where="this is the sequential one" if as_published else "compare --as-published")
    delta, out_h1, out_h2 = 0.0406, 0.68, 0.6637
    w5, w6 = 0.3 - 1.0 * delta * out_h1, 0.9 - 1.0 * delta * out_h2
    lines = [_prose(exact, markdown), ""]
    for name, w, a, new in (("w5+", 0.3, out_h1, w5), ("w6+", 0.9, out_h2, w6)):
        eq = f"{name} = {w} - 1*{delta}*{a} = {new:.8g}"
        lines += ["$$" + walkthrough.tex(eq) + "$$" if markdown else f"  {eq}"]
    return "\n".join(lines + [""])


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    for flag, path, suffixes in (("--out", args.out, None), ("--html", args.html, (".html", ".htm"))):
        problem = path and options.check_output(path, suffixes)
        if problem:  # before any work
            parser.error(f"argument {flag}: {problem}")
    import jax
    if not args.float32:
        jax.config.update("jax_enable_x64", True)
    from jaxbp import examples, walkthrough
    if args.steps < 1:
        print(f"jaxbp explain: --steps must be >= 1, got {args.steps}", file=sys.stderr)
        return 2
    if args.bug is not None:
        return _with_bug(args)
    ex = getattr(examples, EXAMPLES[args.example])()
    title = {"mazur": "Mazur's step-by-step backpropagation example",
             "no_bias_221": "The 2-2-1 example without biases"}[ex.name]
    title += " (as published: sequential update)" if args.as_published else ""
    parts = [walkthrough.explain_example(ex, as_published=args.as_published,
                                         markdown=args.markdown, steps=args.steps, title=title)]
    if ex.name == "mazur" and args.as_published:
        parts.append(mazur_comparison(args.steps, args.markdown))
    elif ex.name == "mazur":
        parts.append(_prose("Mazur's post prints 0.291027924 after one update and 0.0000351085 "
                            "after 10,000; the first is the sequential method's, the second the "
                            "standard method's after 9,999 updates: run 'jaxbp explain mazur "
                            "--as-published' to see which figure comes from where.",
                            args.markdown) + "\n")
    else:
        parts.append(no_bias_note(args.markdown, args.as_published))
    text = "\n".join(parts)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    if args.html:
        from jaxbp import viz
        viz.write_explain_html(args.html, args.example, as_published=args.as_published)
        print(f"wrote {args.html}")
    return 0


def _with_bug(args):
    """The walkthrough with a catalogue bug's numbers beside the right ones, then what
    check_grads says about it."""
    from jaxbp import bugs, check_grads, examples, walkthrough
    if args.bug == "list" or args.bug not in bugs.CATALOGUE:
        if args.bug != "list":
            print(f"jaxbp explain: unknown --bug {args.bug!r}; the catalogue:", file=sys.stderr)
        out = sys.stdout if args.bug == "list" else sys.stderr
        for name in bugs.CATALOGUE:
            print(textwrap.fill(bugs.describe(name), 100, subsequent_indent="    ",
                                break_on_hyphens=False, break_long_words=False), file=out)
        return 0 if args.bug == "list" else 2
    if args.as_published:
        print("jaxbp explain: --bug and --as-published cannot be combined", file=sys.stderr)
        return 2
    ex = getattr(examples, EXAMPLES[args.example])()
    title = {"mazur": "Mazur's step-by-step backpropagation example",
             "no_bias_221": "The 2-2-1 example without biases"}[ex.name] + f", bug: {args.bug}"
    try:
        text = walkthrough.explain_example(ex, markdown=args.markdown, steps=args.steps,
                                           title=title, bug=args.bug)
        report = check_grads(ex.net, ex.params, ex.x, ex.y, ex.cost, manual=bugs.CATALOGUE[args.bug])
    except ValueError as e:
        print(f"jaxbp explain: {e}", file=sys.stderr)
        return 2
    verdict = ("check_grads finds no wrong gradient in this example." if report.ok else
               f"check_grads: first wrong equation {report.worst}" +
               (f"; likely: {report.likely}" if report.likely else "") + ".")
    text += "\n" + _prose(verdict, args.markdown) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
