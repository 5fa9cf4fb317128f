"""Plain-text and Markdown/LaTeX output for :mod:`jaxbp.walkthrough`.

:class:`Doc` collects the walkthrough's lines; :func:`tex` turns an expression written in
the walkthrough's plain-text notation (``dE_total/dw5``, ``1/(1 + e^-net_h1)``, ``w5+``)
into LaTeX.
"""
import re
import textwrap

_ATOM = r"-?(?:[A-Za-z]\w*|\d+(?:\.\d+)?(?:e[+-]\d+)?)"
_TOKEN = re.compile(r"""
    (?P<sigmoid>1/\(1\ \+\ e\^(?P<sx>""" + _ATOM + r""")\))      # 1/(1 + e^-net) -> \frac
  | (?P<half>1/2\*)
  | (?P<num>(?<![\w.])\d+(?:\.\d+)?(?:e[+-]\d+)?)             # a number
  | (?P<partial>\bd(?P<top>[A-Za-z]\w*)/d(?P<bottom>[A-Za-z]\w*\+?))
  | (?P<power>\^(?P<exp>""" + _ATOM + r"""))
  | (?P<name>[A-Za-z]\w*\+?)
  | (?P<times>\*)
""", re.VERBOSE)
_WORDS = {"ln": r"\ln", "tanh": r"\tanh", "max": r"\max", "eta": r"\eta", "e": "e",
          "mean_x": r"\operatorname{mean}_x"}


def _tex_name(name):
    plus = name.endswith("+")
    name = name.rstrip("+")
    if name in _WORDS:
        out = _WORDS[name]
    elif "_" in name:
        head, sub = name.split("_", 1)
        out = (r"\delta" if head == "delta" else head) + "_{" + sub + "}"
    elif re.fullmatch(r"[a-z]\d+", name):
        out = f"{name[0]}_{{{name[1:]}}}"
    else:
        out = name
    return out + ("^{+}" if plus else "")


def _tex_num(text):
    mantissa, _, exponent = text.partition("e")
    return f"{mantissa} \\times 10^{{{int(exponent)}}}" if exponent else mantissa


def _tex_atom(atom):
    sign, body = ("-", atom[1:]) if atom.startswith("-") else ("", atom)
    return sign + (_tex_num(body) if body[0].isdigit() else _tex_name(body))


def tex(expr):
    """LaTeX for an expression written in the walkthrough's plain-text notation."""
    out, pos = [], 0
    for m in _TOKEN.finditer(expr):
        out.append(expr[pos:m.start()])
        pos = m.end()
        if m.group("sigmoid"):
            out.append(r"\frac{1}{1 + e^{%s}}" % _tex_atom(m.group("sx")))
        elif m.group("num"):
            out.append(_tex_num(m.group("num")))
        elif m.group("partial"):
            out.append(r"\frac{\partial %s}{\partial %s}" % (_tex_name(m.group("top")),
                                                            _tex_name(m.group("bottom"))))
        elif m.group("half"):
            out.append(r"\frac{1}{2}")
        elif m.group("power"):
            out.append("^{" + _tex_atom(m.group("exp")) + "}")
        elif m.group("name"):
            out.append(_tex_name(m.group("name")))
        else:
            out.append(r" \cdot ")
    out.append(expr[pos:])
    return "".join(out).replace("[", r"\left[").replace("]", r"\right]")


class Doc:
    """Collects the walkthrough as plain text or as Markdown with ``$$...$$`` formulas."""

    def __init__(self, markdown, digits):
        self.markdown, self.digits, self.lines = markdown, digits, []

    def n(self, v, paren=False):
        """A number to ``digits`` significant digits; negative ones in parentheses if asked."""
        text = f"{float(v):.{self.digits}g}"
        return f"({text})" if paren and text.startswith("-") else text

    def title(self, text):
        self.lines += [f"# {text}", ""] if self.markdown else [text, "=" * len(text), ""]

    def heading(self, text):
        self.lines += [f"## {text}", ""] if self.markdown else [text, "-" * len(text), ""]

    def subheading(self, text):
        self.lines += [f"### {text}", ""] if self.markdown else [f"-- {text} --", ""]

    def para(self, text):
        self.lines += [text if self.markdown else
                       textwrap.fill(text, 100, break_on_hyphens=False), ""]

    def eq(self, *parts):
        """One chain of equalities ``parts[0] = parts[1] = ...``."""
        parts = [p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1]]
        if self.markdown:
            self.lines += ["$$" + " = ".join(tex(p) for p in parts) + "$$", ""]
            return
        line = "  " + " = ".join(parts)
        if len(line) <= 100:
            self.lines.append(line)
            return
        indent = " " * (2 + len(parts[0]) + 1)
        self.lines.append(f"  {parts[0]} = {parts[1]}")
        self.lines += [f"{indent}= {p}" for p in parts[2:]]

    def gap(self):
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def render(self):
        return "\n".join(self.lines).rstrip() + "\n"
