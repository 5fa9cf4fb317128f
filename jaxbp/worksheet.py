"""Backprop worksheets: a seeded exercise, its answer key, and a grader.

:func:`make` draws a small sigmoid net, one training sample and its target from a seed
(numpy's PCG64, integers divided by 10: one decimal each, so the sheet is the same on
every machine); :func:`render` writes the exercise (blanks ``____`` for every z, a, the
error, every delta, every gradient and every updated weight) or its answer key, as text,
Markdown or LaTeX; :func:`grade` reads a filled-in text or Markdown sheet and names the
first wrong number, the equation it comes from and, when the numbers fit one, the likely
mistake (:mod:`jaxbp.diagnose`).

Names follow :mod:`jaxbp.walkthrough` (Mazur's notation): ``net_h1``/``out_h1`` for z/a,
``E`` the error, ``delta_o1``, ``dE/dw5``, ``dE/db_o1``, ``w5+``, ``b_o1+``. An answer is
right within 0.5% (relative; 1e-6 absolute), so three significant digits carried through
by hand are enough.
"""
import re
from typing import Literal, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .backprop import Trace, _trace
from .costs import COSTS
from .diagnose import likely_mistake
from .network import MLP
from .walkthrough import unit_names, weight_names

COST_NAMES = ("quadratic", "cross_entropy")
LR = 0.5
RTOL, ATOL = 5e-3, 1e-6
HEADER = re.compile(r"jaxbp worksheet: seed (\d+), net (\d+(?:-\d+)+), cost (\w+)")
BLANK = "____"


class WorksheetError(ValueError):
    """A sheet that cannot be graded; the message names the line."""


class Blank(NamedTuple):
    name: str
    equation: str
    value: float


class Sheet(NamedTuple):
    seed: int
    sizes: tuple
    cost: str
    params: tuple       # numpy float64, one decimal each
    x: np.ndarray
    y: np.ndarray
    given: dict         # name -> value printed on the sheet
    blanks: tuple       # Blank, in the order of the sheet


def parse_net(text: str) -> Tuple[int, ...]:
    """``"2-2-1"`` -> ``(2, 2, 1)``; 2 to 4 layers of 1 to 4 units."""
    if not isinstance(text, str) or not re.fullmatch(r"\d+(-\d+){1,3}", text):
        raise ValueError(f"worksheet: net must look like 2-2-1 (2 to 4 layers), got {text!r}")
    sizes = tuple(int(k) for k in text.split("-"))
    if not all(1 <= k <= 4 for k in sizes):
        raise ValueError(f"worksheet: every layer must have 1 to 4 units (by hand), got {text}")
    return sizes


def make(seed: int, net: str = "2-2-1",
         cost: str = "quadratic") -> Sheet:
    """The exercise for ``seed``: a sigmoid net, one sample, eta = 0.5, and every blank with
    its answer (computed by :func:`jaxbp.trace`)."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"worksheet: seed must be an integer >= 0, got {seed!r}")
    if cost not in COST_NAMES:
        raise ValueError(f"worksheet: cost must be one of {', '.join(COST_NAMES)}, got {cost!r}")
    sizes = parse_net(net) if isinstance(net, str) else tuple(net)
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    tenths = lambda *shape: rng.integers(-9, 10, size=shape) / 10
    params = tuple({"W": tenths(a, b), "b": tenths(b)} for a, b in zip(sizes[:-1], sizes[1:]))
    x = rng.integers(0, 11, size=(1, sizes[0])) / 10
    y = (rng.integers(0, 2, size=(1, sizes[-1])) * 1.0 if cost == "cross_entropy"
         else rng.integers(1, 10, size=(1, sizes[-1])) / 10)
    units, wnames = unit_names(sizes), weight_names(sizes)
    given = {name: x[0, i] for i, name in enumerate(units[0])}
    given.update({f"target_{o}": y[0, j] for j, o in enumerate(units[-1])})
    for l, layer in enumerate(params):
        given.update({wnames[l][i][j]: layer["W"][i, j] for i in range(sizes[l])
                      for j in range(sizes[l + 1])})
        given.update({f"b_{u}": layer["b"][j] for j, u in enumerate(units[l + 1])})
    given["eta"] = LR
    tr = _right_trace(sizes, cost, params, x, y)
    return Sheet(int(seed), sizes, cost, params, x, y, given,
                 tuple(_blanks(sizes, params, tr)))


def _right_trace(sizes, cost, params, x, y):
    dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    P = tuple({k: jnp.asarray(v, dtype) for k, v in layer.items()} for layer in params)
    net = MLP(sizes, "sigmoid", "sigmoid")
    tr = _trace(net, COSTS[cost], P, jnp.asarray(x, dtype), jnp.asarray(y, dtype),
                jnp.zeros((), dtype))
    return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), tr)


def _blanks(sizes, params, tr):
    units, wnames, L = unit_names(sizes), weight_names(sizes), len(params)
    out = []
    for l in range(L):
        for j, u in enumerate(units[l + 1]):
            out.append(Blank(f"net_{u}", "z = a W + b (forward pass)", tr.zs[l][0, j]))
            out.append(Blank(f"out_{u}", "a = sigma(z) (forward pass)", tr.activations[l + 1][0, j]))
    out.append(Blank("E", "the cost C", float(tr.loss)))
    for l in reversed(range(L)):
        eq = "BP1: delta^L = dC/da * sigma'(z^L)" if l == L - 1 else \
            "BP2: delta^l = (delta^{l+1} W^T) * sigma'(z^l)"
        out += [Blank(f"delta_{u}", eq, tr.deltas[l][0, j]) for j, u in enumerate(units[l + 1])]
    for l in reversed(range(L)):
        out += [Blank(f"dE/d{wnames[l][i][j]}", "BP4: dC/dw = a_in * delta_out",
                      tr.grads[l]["W"][i, j])
                for j in range(sizes[l + 1]) for i in range(sizes[l])]
        out += [Blank(f"dE/db_{u}", "BP3: dC/db = delta", tr.grads[l]["b"][j])
                for j, u in enumerate(units[l + 1])]
    for l in reversed(range(L)):
        out += [Blank(f"{wnames[l][i][j]}+", "update: w+ = w - eta dC/dw",
                      params[l]["W"][i, j] - LR * tr.grads[l]["W"][i, j])
                for j in range(sizes[l + 1]) for i in range(sizes[l])]
        out += [Blank(f"b_{u}+", "update: b+ = b - eta dC/db",
                      params[l]["b"][j] - LR * tr.grads[l]["b"][j])
                for j, u in enumerate(units[l + 1])]
    return out


def _fmt(v):
    return f"{float(v):.6g}"


SECTIONS = (("Forward pass", ("net_", "out_")), ("Error", ("E",)), ("Deltas", ("delta_",)),
            ("Gradients", ("dE/",)), ("Updated parameters (eta = 0.5)", ("w", "b_")))


def render(sheet: Sheet, form: Literal["text", "markdown", "latex"] = "text", key: bool = False
           ) -> str:
    """The exercise (``key=False``) or its answer key, as ``"text"``, ``"markdown"`` or
    ``"latex"``. Lines stay within 100 columns."""
    if form not in ("text", "markdown", "latex"):
        raise ValueError(f"worksheet: form must be text, markdown or latex, got {form!r}")
    net = "-".join(map(str, sheet.sizes))
    header = f"jaxbp worksheet: seed {sheet.seed}, net {net}, cost {sheet.cost}"
    cost = {"quadratic": "C = 1/2 sum_j (a_j - y_j)^2",
            "cross_entropy": "C = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)]"}[sheet.cost]
    intro = (f"A {net} net, sigmoid units, one training sample, {cost}, one step of gradient "
             f"descent with eta = {LR}. Fill in every blank; keep the first line and the "
             f"names, then run: jaxbp grade FILE.")
    if key:
        intro = "ANSWER KEY. " + intro.split(" Fill in")[0]
    given = [f"{name} = {_fmt(v)}" for name, v in sorted(
        sheet.given.items(), key=lambda kv: (kv[0][0] != "i", kv[0][0] != "t", _order(kv[0])))]
    wnames = weight_names(sheet.sizes)
    units = unit_names(sheet.sizes)
    wiring = "Weights: " + ", ".join(
        f"{wnames[l][i][j]} {units[l][i]}->{units[l + 1][j]}" for l in range(len(wnames))
        for j in range(sheet.sizes[l + 1]) for i in range(sheet.sizes[l])) + "."
    answers = {b.name: (_fmt(b.value) if key else BLANK) for b in sheet.blanks}
    sections = []
    for title, prefixes in SECTIONS:
        names = [b.name for b in sheet.blanks if b.name.startswith(prefixes)
                 and (title != "Error" or b.name == "E")
                 and (not title.startswith("Updated") or b.name.endswith("+"))]
        names = [n for n in names if not any(n in s for _, s in sections)]
        sections.append((title, names))
    if form == "latex":
        return _latex(header, intro, wiring, given, sections, answers)
    md = form == "markdown"
    lines = [header, "", *_fill(intro, md), "", "## Given" if md else "Given", ""]
    lines += [*_fill(wiring, md), ""] + [("- " if md else "  ") + g for g in given] + [""]
    for title, names in sections:
        lines += ["## " + title if md else title, ""]
        lines += [("- " if md else "  ") + f"{n} = {answers[n]}" for n in names] + [""]
    return "\n".join(lines)


def _order(name):
    """w10 after w9; biases after the weights; eta last."""
    m = re.fullmatch(r"w(\d+)", name)
    return (0, int(m.group(1)), "") if m else (1, 0, name) if name != "eta" else (2, 0, "")


def _fill(text, md):
    import textwrap
    return textwrap.wrap(text, 100, break_on_hyphens=False)   # Markdown joins the lines


def _latex(header, intro, wiring, given, sections, answers):
    tex = lambda s: s.replace("_", r"\_").replace("^", r"\^{}")
    blank = lambda a: r"\underline{\hspace{3cm}}" if a == BLANK else a
    lines = [r"\documentclass{article}", r"\begin{document}", f"% {header}",
             r"\section*{" + tex(header) + "}", *_fill(tex(intro), False), "",
             *_fill(tex(wiring), False), "",
             r"\subsection*{Given}", r"\begin{itemize}"]
    lines += [r"\item " + tex(g) for g in given] + [r"\end{itemize}"]
    for title, names in sections:
        lines += [r"\subsection*{" + title + "}", r"\begin{itemize}"]
        lines += [r"\item " + tex(n) + " = " + blank(answers[n]) for n in names]
        lines += [r"\end{itemize}"]
    return "\n".join(lines + [r"\end{document}", ""])


# ---- grading ------------------------------------------------------------------------------

class Grade(NamedTuple):
    """Result of :func:`grade`: how many blanks, answered and right; the first wrong
    answer as ``(line, name, given, expected, equation)`` or None; the likely mistake."""
    total: int
    answered: int
    right: int
    first_wrong: Optional[tuple]
    likely: Optional[str]
    sheet: Sheet

    def __str__(self) -> str:
        lines = [f"{self.answered} of {self.total} blanks answered, {self.right} right."]
        if self.first_wrong:
            line, name, got, want, eq = self.first_wrong
            lines.append(f"First wrong: line {line}: {name} = {got:g}, expected {_fmt(want)} "
                         f"({eq}).")
        if self.likely:
            lines.append(f"Likely mistake: {self.likely}")
        if not self.first_wrong and self.answered == self.total:
            lines.append("All right.")
        import textwrap
        return "\n".join(w for line in lines for w in textwrap.wrap(
            line, 100, subsequent_indent="  ", break_on_hyphens=False))


def _right(got, want):
    return abs(got - want) <= RTOL * abs(want) + ATOL


def grade(text: str, source: str = "sheet") -> Grade:
    """Grade a filled-in sheet (text or Markdown). Raises :class:`WorksheetError` naming
    ``source`` and the line for a sheet that cannot be read."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    m = HEADER.search(lines[first]) if first is not None else None
    if m is None:
        where = first + 1 if first is not None else 1
        if first is not None and lines[first].lstrip().startswith("\\"):
            raise WorksheetError(f"{source} line {where}: a LaTeX sheet is for printing; grade "
                                 f"the text or Markdown sheet of the same seed")
        raise WorksheetError(f"{source} line {where}: expected the header 'jaxbp worksheet: "
                             f"seed N, net A-B-C, cost NAME' (keep the sheet's first line)")
    try:
        sheet = make(int(m.group(1)), m.group(2), m.group(3))
    except ValueError as e:
        raise WorksheetError(f"{source} line {first + 1}: {e}") from None
    blanks = {b.name: b for b in sheet.blanks}
    answers, seen = {}, {}
    for i, raw in enumerate(lines[first + 1:], first + 2):
        line = raw.strip().lstrip("-*").strip().strip("`")
        m = re.fullmatch(r"([\w/+]+)\s*=\s*(.*)", line)
        if m is None:
            continue                                   # prose, headings
        name, value = m.group(1), m.group(2).strip()
        if name in sheet.given:
            if not _is_number(value) or not _right(float(value), sheet.given[name]):
                raise WorksheetError(f"{source} line {i}: {name} = {value} differs from the "
                                     f"sheet's given {_fmt(sheet.given[name])} (seed {sheet.seed})")
            continue
        if name not in blanks:
            raise WorksheetError(f"{source} line {i}: unknown name {name!r} (expected one of "
                                 f"the sheet's names, e.g. {sheet.blanks[0].name})")
        if name in seen:
            raise WorksheetError(f"{source} line {i}: {name} is answered twice (first on line "
                                 f"{seen[name]})")
        seen[name] = i
        if value.strip("_ ") == "":
            continue                                   # left blank
        if not _is_number(value):
            raise WorksheetError(f"{source} line {i}: expected a number after '{name} =', "
                                 f"got {value!r}")
        answers[name] = (i, float(value))
    right, first_wrong = 0, None
    for b in sheet.blanks:
        if b.name in answers:
            line, got = answers[b.name]
            if _right(got, b.value):
                right += 1
            elif first_wrong is None:
                first_wrong = (line, b.name, got, b.value, b.equation)
    likely = _likely(sheet, answers, first_wrong) if first_wrong else None
    return Grade(len(sheet.blanks), len(answers), right, first_wrong, likely, sheet)


def _is_number(text):
    return re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text.strip()) is not None


def _likely(sheet, answers, first_wrong):
    """The likely mistake behind the first wrong answer: the recogniser on the student's
    deltas and gradients (where answered), or a few forward/update slips."""
    _, name, got, want, eq = first_wrong
    tr = _right_trace(sheet.sizes, sheet.cost, sheet.params, sheet.x, sheet.y)
    given = sheet.given
    if name.endswith("+"):
        w = given[name[:-1]]
        grad = next(b.value for b in sheet.blanks if b.name == f"dE/d{name[:-1]}")
        if _right(got, w + LR * grad):
            return f"{name} adds the gradient (w + eta dC/dw): the update must subtract it"
        if _right(got, w - grad):
            return f"{name} is w - dC/dw: the learning rate eta = {LR} is missing"
        return None
    if name.startswith("out_") and _right(got, next(b.value for b in sheet.blanks
                                                    if b.name == "net_" + name[4:])):
        return f"{name} equals net_{name[4:]}: the sigmoid was not applied"
    kind = eq.split(":")[0]
    if kind not in ("BP1", "BP2", "BP3", "BP4"):
        return None
    units, wnames, L = unit_names(sheet.sizes), weight_names(sheet.sizes), len(sheet.params)
    deltas = [d.copy() for d in tr.deltas]
    grads = [{k: v.copy() for k, v in g.items()} for g in tr.grads]
    layer = None
    for l in range(L):
        for j, u in enumerate(units[l + 1]):
            if f"delta_{u}" in answers:
                deltas[l][0, j] = answers[f"delta_{u}"][1]
            if f"dE/db_{u}" in answers:
                grads[l]["b"][j] = answers[f"dE/db_{u}"][1]
            if name in (f"delta_{u}", f"dE/db_{u}"):
                layer = l
            for i in range(sheet.sizes[l]):
                key = f"dE/d{wnames[l][i][j]}"
                if key in answers:
                    grads[l]["W"][i, j] = answers[key][1]
                if name == key:
                    layer = l
    got_tr = Trace(None, tr.zs, tr.activations, tuple(deltas), tuple(grads))
    net = MLP(sheet.sizes, "sigmoid", "sigmoid")
    return likely_mistake(net, sheet.params, sheet.x, sheet.y, COSTS[sheet.cost], 0.0, got_tr,
                          tr, f"layer {layer} {kind}", rtol=RTOL)
