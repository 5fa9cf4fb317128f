"""One step of gradient descent, written out number by number (``jaxbp.explain``).

Every number is taken from :func:`jaxbp.trace` (the forward pass, BP1's and BP2's deltas,
the gradients) and printed in the notation of Matt Mazur's "A Step by Step
Backpropagation Example":

* units: inputs ``i1, i2, ...``; hidden ``h1, h2, ...`` (with several hidden layers,
  ``h1_2`` is unit 2 of hidden layer 1); outputs ``o1, o2, ...``. ``net_u`` is unit u's
  weighted input (Nielsen's z), ``out_u`` its activation (a), ``target_oj`` the target (y).
* weights ``w1, w2, ...`` are numbered from the input layer up, and within a layer by
  destination unit, then source unit: in a 2-2-2 net w1: i1->h1, w2: i2->h1, w3: i1->h2,
  w4: i2->h2, w5: h1->o1, w6: h2->o1, w7: h1->o2, w8: h2->o2. In our ``W`` of shape
  ``(n_in, n_out)``, ``W[i, j]`` of layer l is ``w(offset_l + j * n_in + i + 1)``.
* biases: a layer whose biases are not trained and all equal has one name per layer, as in
  the post (``b1`` hidden, ``b2`` output); not trained and all zero: no bias term is
  written; otherwise one per unit, ``b_h1``, ``b_o1``, ...
* ``delta_u = dE_total/dnet_u`` (Nielsen's delta); ``w5+`` is w5 after the update.

With one training sample the error is Mazur's ``E_total``; with a batch of n samples
``E_total`` is the mean of the per-sample errors ``E_x`` (as in :func:`jaxbp.loss`), and
every gradient is the mean over the samples of the per-sample chain-rule products.
Numbers have 9 significant digits in float64 and 7 in float32 (the digits the dtype holds).
"""

import textwrap
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from ._doc import Doc, tex
from ._types import ArrayLike, Params
from .backprop import Trace, _trace
from .costs import CostLike
from .examples import Example, train_example
from ._checks import check_positive_int
from .network import MLP
from .optim import check_lr

__all__ = ["explain", "explain_example", "tex", "unit_names", "weight_names"]

MAX_WEIGHTS = 400     # the walkthrough prints every weight: keep it readable
MAX_SAMPLES = 16

_OUT = {  # activation -> (out_u = ..., dout_u/dnet_u = ...) in terms of the unit's names
    "sigmoid": ("1/(1 + e^-{net})", "{out}*(1 - {out})"),
    "tanh": ("tanh({net})", "1 - {out}^2"),
    "relu": ("max({net}, 0)", "[{net} > 0]"),
    "identity": ("{net}", "1"),
    "softmax": ("e^{net}/({sum})", None),
}


def unit_names(sizes: Sequence[int]) -> List[List[str]]:
    """Names of the units of every layer, e.g. ``[["i1", "i2"], ["h1", "h2"], ["o1"]]``."""
    hidden = len(sizes) - 2
    names = [[f"i{j + 1}" for j in range(sizes[0])]]
    for l in range(1, len(sizes) - 1):
        prefix = "h" if hidden == 1 else f"h{l}_"
        names.append([f"{prefix}{j + 1}" for j in range(sizes[l])])
    return names + [[f"o{j + 1}" for j in range(sizes[-1])]]


def weight_names(sizes: Sequence[int]) -> List[List[List[str]]]:
    """``names[l][i][j]``: the name of ``W[i, j]`` of layer l (destination unit, then source)."""
    names, offset = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        names.append([[f"w{offset + j * n_in + i + 1}" for j in range(n_out)] for i in range(n_in)])
        offset += n_in * n_out
    return names


def _trainable_mask(fn, params, trainable):
    if trainable is None:
        return tuple({"W": True, "b": True} for _ in params)
    if not isinstance(trainable, (tuple, list)) or len(trainable) != len(params) or not all(
            isinstance(t, dict) and set(t) == {"W", "b"} for t in trainable):
        raise ValueError(f"{fn}: trainable must be None or one dict {{'W': bool, 'b': bool}} per "
                         f"layer ({len(params)} layers), got {trainable!r}")
    out = []
    for l, t in enumerate(trainable):
        for k in ("W", "b"):
            if not isinstance(t[k], (bool, np.bool_)):
                raise TypeError(f"{fn}: trainable[{l}]['{k}'] must be a bool, got {t[k]!r}")
        out.append({"W": bool(t["W"]), "b": bool(t["b"])})
    return tuple(out)


def _bias_names(P, mask, units):
    """Per layer: a list of per-unit bias names, or None when there is no bias term."""
    names = []
    for l, layer in enumerate(P):
        b = layer["b"]
        if not mask[l]["b"] and np.all(b == 0):
            names.append(None)
        elif not mask[l]["b"] and np.all(b == b[0]):
            names.append([f"b{l + 1}"] * len(b))
        else:
            names.append([f"b_{u}" for u in units[l + 1]])
    return names


class _Step:
    """The numbers of one gradient-descent step, as numpy arrays in the params dtype."""

    def __init__(self, net, cost, params, x, y, lr, mask, as_published, manual=None):
        tr = _trace(net, cost, params, x, y, jnp.zeros((), x.dtype))
        if manual is not None:   # a wrong backward pass (jaxbp.bugs): its deltas and grads
            wrong = manual(net, params, x, y, cost, jnp.zeros((), x.dtype))
            tr = tr._replace(deltas=wrong.deltas, grads=wrong.grads)
        self.loss = tr.loss
        self.P = [{k: np.asarray(v) for k, v in layer.items()} for layer in params]
        self.zs = [np.asarray(z) for z in tr.zs]
        self.acts = [np.asarray(a) for a in tr.activations]
        self.y = np.asarray(y)
        L, n = len(params), x.shape[0]
        self.primes = [None if act.prime is None else np.asarray(act.prime(z))
                       for act, z in zip(net.layers, tr.zs)]
        dtype = self.P[0]["W"].dtype
        lr = np.asarray(lr, dtype)
        # BP2 uses the weights above as they were (standard) or already updated (as published)
        self.deltas, self.grads, self.new, self.W_bp = [None] * L, [None] * L, [None] * L, [None] * L
        for l in reversed(range(L)):
            if not as_published:
                self.deltas[l] = np.asarray(tr.deltas[l])
                self.grads[l] = {k: np.asarray(v) for k, v in tr.grads[l].items()}
            else:
                self.deltas[l] = np.asarray(tr.deltas[l]) if l == L - 1 else \
                    (self.deltas[l + 1] @ self.W_bp[l + 1].T) * self.primes[l]
                self.grads[l] = {"W": self.acts[l].T @ self.deltas[l] / dtype.type(n),
                                 "b": np.mean(self.deltas[l], axis=0)}
            self.new[l] = {k: self.P[l][k] - lr * self.grads[l][k] if mask[l][k] else self.P[l][k]
                           for k in ("W", "b")}
            self.W_bp[l] = self.new[l]["W"] if as_published else self.P[l]["W"]


def _check_args(fn, net, params, x, y, cost, lr, trainable, steps):
    cost, x, y, _ = _checks.prepare(fn, net, params, x, y, cost)
    if not _checks.is_concrete(x, y, *jax.tree_util.tree_leaves(params)):
        raise TypeError(f"{fn}: prints numbers, so it needs concrete arrays; call it outside "
                        f"jax.jit / jax.vmap")
    if callable(lr):
        raise TypeError(f"{fn}: lr must be a number (one step is shown), got a schedule")
    lr = check_lr(fn, lr)
    mask = _trainable_mask(fn, params, trainable)
    n_weights = sum(a * b for a, b in zip(net.sizes[:-1], net.sizes[1:]))
    if n_weights > MAX_WEIGHTS:
        raise ValueError(f"{fn}: the walkthrough prints every weight; expected at most "
                         f"{MAX_WEIGHTS} weights, got {n_weights} for sizes {list(net.sizes)} "
                         f"(use jaxbp.trace for large nets)")
    if x.shape[0] > MAX_SAMPLES:
        raise ValueError(f"{fn}: the walkthrough prints every sample; expected at most "
                         f"{MAX_SAMPLES} samples, got x with {x.shape[0]} rows")
    if steps is not None and steps != 0:
        steps = check_positive_int(fn, "steps", steps)
    return cost, x, y, lr, mask, steps or 0


def explain(net: MLP, params: Params, x: ArrayLike, y: ArrayLike, cost: CostLike = "quadratic",
            lr: float = 0.5, *, trainable: Optional[Sequence[Dict[str, bool]]] = None,
            as_published: bool = False, markdown: bool = False, steps: Optional[int] = 10000,
            title: Optional[str] = None, bug: Union[str, Callable[..., Trace], None] = None
            ) -> str:
    """The step-by-step walkthrough of one gradient-descent step, as text.

    Forward pass (every ``net_u`` and ``out_u``), the total error, then for every weight
    the chain-rule factors ``dE_total/dout * dout/dnet * dnet/dw``, the gradient and the
    updated weight, then the error after the update and, if ``steps``, after ``steps``
    updates (:func:`jaxbp.examples.train_example`). Notation: see the module docstring.

    Args:
      net, params, x, y, cost: as for :func:`jaxbp.trace` (a small net: at most 400
        weights and 16 samples).
      lr: the learning rate eta of ``w+ = w - eta * dE_total/dw``.
      trainable: None (train everything) or one ``{"W": bool, "b": bool}`` per layer, as
        in :class:`jaxbp.examples.Example`; frozen parameters are shown but not updated.
      as_published: update the layers from the output down, each hidden delta computed with
        the weights above *already updated* (the sequential method, which reproduces some of
        Mazur's printed figures: see :mod:`jaxbp.examples`).
      markdown: Markdown with LaTeX formulas in ``$$...$$`` instead of plain text.
      steps: length of the long-run summary; 0 or None to skip it.
      title: a heading; default describes the net.
      bug: a name from :data:`jaxbp.bugs.CATALOGUE` (or any wrong backward pass with the
        signature ``check_grads`` takes as ``manual=``): every number it changes is
        followed by its wrong value (``bug:``), the first one marked ``>>``.

    Returns:
      The walkthrough as one string.

    Example::

        ex = jaxbp.examples.mazur()
        print(jaxbp.explain(ex.net, ex.params, ex.x, ex.y, ex.cost, ex.lr,
                            trainable=ex.trainable))
    """
    fn = "explain"
    cost, x, y, lr, mask, steps = _check_args(fn, net, params, x, y, cost, lr, trainable, steps)
    if not isinstance(as_published, (bool, np.bool_)) or not isinstance(markdown, (bool, np.bool_)):
        raise TypeError(f"{fn}: as_published and markdown must be bools, got "
                        f"{as_published!r}, {markdown!r}")
    manual = _resolve_bug(fn, bug, as_published)
    args = (net, cost, params, x, y, lr, mask, as_published, steps, markdown, title)
    if manual is None:
        return _build(Doc, *args).render()
    right = _build(_WideDoc, *args)
    wrong = _build(_WideDoc, *args, manual=manual)
    return _beside(right, wrong, bug if isinstance(bug, str) else None)


def _build(doc_class, net, cost, params, x, y, lr, mask, as_published, steps, markdown, title,
           manual=None):
    s = _Step(net, cost, params, x, y, lr, mask, as_published, manual)
    digits = 9 if s.P[0]["W"].dtype == np.float64 else 7 if s.P[0]["W"].dtype == np.float32 else 3
    doc = doc_class(markdown, digits)
    units, wnames = unit_names(net.sizes), weight_names(net.sizes)
    bnames = _bias_names(s.P, mask, units)
    c = _Context(doc, net, cost, s, x, y, lr, mask, units, wnames, bnames, as_published)
    c.manual, c.comparing = manual, doc_class is _WideDoc
    _header(c, title)
    _forward(c)
    _error(c)
    _backward(c)
    _after(c, steps)
    return doc


# ---- a wrong backward pass beside the right one --------------------------------------------

def _resolve_bug(fn, bug, as_published):
    if bug is None:
        return None
    from . import bugs
    if as_published:
        raise TypeError(f"{fn}: bug and as_published cannot be combined (as_published is "
                        f"itself a different update; see jaxbp.bugs.updated_weights)")
    if isinstance(bug, str):
        if bug not in bugs.CATALOGUE:
            raise ValueError(f"{fn}: bug must be one of {', '.join(sorted(bugs.CATALOGUE))}, "
                             f"got {bug!r}")
        return bugs.CATALOGUE[bug]
    if not callable(bug):
        raise TypeError(f"{fn}: bug must be a catalogue name or a backward pass, got "
                        f"{type(bug).__name__}")
    return bug


class _WideDoc(Doc):
    """A Doc that never wraps, so two walkthroughs of the same net align line by line."""

    def para(self, text):
        self.lines += [text, ""]

    def eq(self, *parts):
        parts = [p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1]]
        if self.markdown:
            self.lines += ["$$" + " = ".join(tex(p) for p in parts) + "$$", ""]
        else:
            self.lines.append("  " + " = ".join(parts))


def _wrap(line, markdown, prefix=""):
    """A wide line at 100 columns: equations split at ' = ', prose filled, with ``prefix``
    in place of an equation's indent (or before the prose)."""
    is_eq = line.startswith("  ") and " = " in line
    head = prefix + line[2:] if is_eq and prefix else prefix + line
    if markdown or len(head) <= 100 or set(line) <= {"=", "-"}:
        return [head]
    if is_eq:
        parts = line.strip().split(" = ")
        first = f"{prefix or '  '}{parts[0]} = {parts[1]}"
        indent = " " * (len(prefix or "  ") + len(parts[0]) + 1)
        return [first] + [f"{indent}= {p}" for p in parts[2:]]
    return textwrap.wrap(line, 100, initial_indent=prefix, subsequent_indent=" " * len(prefix),
                         break_on_hyphens=False)


def _beside(right, wrong, name):
    """The right walkthrough with each line the bug changes followed by its wrong version."""
    md = right.markdown
    out, first = [], True
    for i, (r, w) in enumerate(zip(right.lines, wrong.lines)):
        out += [r] if i < right.lines.index("") else _wrap(r, md)   # the title as it is
        if r != w:
            mark = ">> bug: " if first else "   bug: "
            if first:
                out += ["**>> the first number that differs:**" if md else
                        ">> the first number that differs:"]
            out += _wrap(w, md, mark)
            first = False
    from . import bugs
    story = f"'{name}' ({bugs.CATALOGUE[name].story})" if name else "the backward pass given"
    note = (f"With the bug {story}: every line whose numbers it changes is followed by the "
            f"wrong line, marked 'bug:'; '>>' marks the first.")
    if first:
        needs = bugs.CATALOGUE[name].needs if name else ""
        note += (" In this example no printed number differs" +
                 (f": the mistake only shows with {needs}." if needs else "."))
    head = out.index("") + 1    # after the title (and its underline)
    return "\n".join(out[:head] + _wrap(note, md) + [""] + out[head:]).rstrip() + "\n"


def explain_example(ex: Example, **kwargs: Any) -> str:
    """:func:`explain` for a worked example (``jaxbp.examples.mazur()`` etc.)."""
    if not isinstance(ex, Example):
        raise TypeError(f"explain_example: ex must be a jaxbp.examples.Example, got {type(ex).__name__}")
    kwargs.setdefault("trainable", ex.trainable)
    return explain(ex.net, ex.params, ex.x, ex.y, ex.cost, ex.lr, **kwargs)


# ---- the sections --------------------------------------------------------------------------

class _Context:
    def __init__(self, doc, net, cost, step, x, y, lr, mask, units, wnames, bnames, published):
        self.doc, self.net, self.cost, self.s, self.x, self.y, self.lr = doc, net, cost, step, x, y, lr
        self.mask, self.units, self.wnames, self.bnames, self.published = mask, units, wnames, bnames, published
        self.manual, self.comparing = None, False
        self.n = x.shape[0]
        self.E = "E_total" if self.n == 1 else "E_x"
        self.matched = cost.output is not None     # BP1 in the fused form a - y

    def samples(self):
        """(index, label) per sample; the label is empty for a single sample."""
        if self.n == 1:
            return [(0, "")]
        doc, u = self.doc, self.units
        return [(s, f"Sample {s + 1} of {self.n}: " + ", ".join(
            [f"{name} = {doc.n(v)}" for name, v in zip(u[0], self.s.acts[0][s])]
            + [f"target_{name} = {doc.n(v)}" for name, v in zip(u[-1], self.s.y[s])]))
            for s in range(self.n)]


def _describe_net(net):
    acts = net.activations
    kinds = f"{acts[0]} hidden, {acts[-1]} output" if len(set(acts[:-1])) == 1 and len(acts) > 1 \
        else f"activations {', '.join(acts)}"
    return f"{'-'.join(map(str, net.sizes))} net ({kinds})"


def _header(c, title):
    doc, s, u = c.doc, c.s, c.units
    dtype = s.P[0]["W"].dtype
    doc.title(title or f"One step of backpropagation, by hand: {_describe_net(c.net)}, "
                       f"{c.cost.name} cost, eta = {c.lr:g}")
    doc.para(f"Every number below comes from jaxbp.trace ({dtype}, {doc.digits} significant "
             f"digits). Notation as in Mazur's post: inputs {', '.join(u[0])}; "
             + "".join(f"hidden layer {l}: {', '.join(names)}; " if len(u) > 3 else
                       f"hidden units {', '.join(names)}; " for l, names in enumerate(u[1:-1], 1))
             + f"outputs {', '.join(u[-1])}. net_u is unit u's weighted input (Nielsen's z), "
             f"out_u its output (a), delta_u = dE_total/dnet_u. Weights are numbered by "
             f"destination unit, then source unit; w+ is w after the update.")
    lines = []
    for l, layer in enumerate(s.P):
        for j, dest in enumerate(u[l + 1]):
            terms = [f"{c.wnames[l][i][j]} ({src}->{dest}) = {doc.n(layer['W'][i, j])}"
                     for i, src in enumerate(u[l])]
            names = c.bnames[l]
            if names is not None and (j == 0 or names[j] != names[j - 1]):
                shared = " (one bias for the layer)" if len(names) > 1 and names[0] == names[-1] else ""
                terms.append(f"{names[j]} = {doc.n(layer['b'][j])}{shared}")
            lines.append(f"- {dest}: " + ", ".join(terms))
    doc.lines += lines + [""]
    frozen = []
    for l, m in enumerate(c.mask):
        which = "output" if l == len(c.mask) - 1 else "hidden" if len(u) == 3 else f"layer {l + 1}"
        if not m["b"] and c.bnames[l] is not None:
            frozen.append(f"the {which} biases ({', '.join(dict.fromkeys(c.bnames[l]))})")
        if not m["W"]:
            frozen.append(f"the {which} weights")
    if frozen:
        doc.para("Not trained (kept fixed, as in the example): " + "; ".join(frozen) + ".")
    if all(names is None for names in c.bnames):
        doc.para("No biases: they are all zero and not trained.")
    if c.published:
        doc.para("Update order: AS PUBLISHED (sequential). The layers are updated from the output "
                 "down, and each hidden layer's delta is computed with the weights above it "
                 "ALREADY UPDATED (w+ instead of w). The standard method uses the original "
                 "weights for every gradient.")
    if c.n == 1:
        doc.para("Training sample: " + ", ".join(
            [f"{name} = {doc.n(v)}" for name, v in zip(u[0], s.acts[0][0])]
            + [f"target_{name} = {doc.n(v)}" for name, v in zip(u[-1], s.y[0])]))


def _forward(c):
    doc, s, u = c.doc, c.s, c.units
    doc.heading("The forward pass")
    for k, label in c.samples():
        if label:
            doc.para(label)
        for l, layer in enumerate(s.P):
            src = u[l] if l == 0 else [f"out_{name}" for name in u[l]]
            act = c.net.activations[l]
            for j, dest in enumerate(u[l + 1]):
                sym = [f"{c.wnames[l][i][j]}*{src[i]}" for i in range(len(src))]
                val = [f"{doc.n(layer['W'][i, j], True)}*{doc.n(s.acts[l][k, i], True)}"
                       for i in range(len(src))]
                if c.bnames[l] is not None:
                    sym.append(f"{c.bnames[l][j]}*1")
                    val.append(f"{doc.n(layer['b'][j], True)}*1")
                doc.eq(f"net_{dest}", " + ".join(sym), " + ".join(val), doc.n(s.zs[l][k, j]))
                net, z = f"net_{dest}", s.zs[l][k, j]
                form = _OUT[act][0]
                if act == "softmax":
                    total = " + ".join(f"e^net_{o}" for o in u[l + 1])
                    nums = " + ".join(f"e^{doc.n(v)}" for v in s.zs[l][k])
                    doc.eq(f"out_{dest}", form.format(net=net, sum=total),
                           form.format(net=doc.n(z), sum=nums), doc.n(s.acts[l + 1][k, j]))
                elif act == "sigmoid":
                    doc.eq(f"out_{dest}", form.format(net=net),
                           f"1/(1 + e^{doc.n(-z)})", doc.n(s.acts[l + 1][k, j]))
                else:
                    doc.eq(f"out_{dest}", form.format(net=net), form.format(net=doc.n(z)),
                           doc.n(s.acts[l + 1][k, j]))
        doc.gap()


def _unit_errors(c):
    """Each output unit's share of each sample's error E_x, ``(batch, n_out)``, from the
    logits (so that cross-entropy stays finite when an output saturates)."""
    z, y, a = c.s.zs[-1], c.s.y, c.s.acts[-1]
    name = c.cost.name
    if name == "quadratic":
        vals = 0.5 * (a - y) ** 2
    elif name == "cross_entropy":
        vals = -(y * np.asarray(jax.nn.log_sigmoid(z)) + (1 - y) * np.asarray(jax.nn.log_sigmoid(-z)))
    else:
        vals = -y * np.asarray(jax.nn.log_softmax(z, axis=-1))
    return vals


def _error(c):
    doc, s, u = c.doc, c.s, c.units
    doc.heading("The total error")
    forms = {"quadratic": ("1/2*(target_{o} - out_{o})^2", "1/2*({t} - {a})^2"),
             "cross_entropy": ("-(target_{o}*ln(out_{o}) + (1 - target_{o})*ln(1 - out_{o}))",
                               "-({t}*ln({a}) + (1 - {t})*ln(1 - {a}))"),
             "softmax_cross_entropy": ("-target_{o}*ln(out_{o})", "-{t}*ln({a})")}
    sym, num = forms[c.cost.name]
    vals = _unit_errors(c)
    per_sample = []
    for k, label in c.samples():
        if label:
            doc.para(label)
        for j, o in enumerate(u[-1]):
            doc.eq(f"E_{o}", sym.format(o=o), num.format(t=doc.n(s.y[k, j]), a=doc.n(s.acts[-1][k, j])),
                   doc.n(vals[k, j]))
        total = vals[k].sum()
        per_sample.append(total)
        if len(u[-1]) > 1:
            doc.eq(c.E, " + ".join(f"E_{o}" for o in u[-1]),
                   " + ".join(doc.n(v, True) for v in vals[k]), doc.n(total if c.n > 1 else s.loss))
        elif c.n == 1:
            doc.eq("E_total", f"E_{u[-1][0]}", doc.n(s.loss))
        doc.gap()
    if c.n > 1:
        doc.eq("E_total", "mean_x(E_x)", "(" + " + ".join(doc.n(v) for v in per_sample)
               + f")/{c.n}", doc.n(s.loss))
        doc.gap()


def _unit_factors(c, l, k):
    """Per unit j of layer l for sample k: (dE/dout or None, dout/dnet or None, delta)."""
    s = c.s
    L = len(s.P)
    delta = s.deltas[l][k]
    if l == L - 1:
        if c.matched:
            return [(None, None, d) for d in delta]
        dedout = s.acts[-1][k] - s.y[k]
    else:
        dedout = s.deltas[l + 1][k] @ s.W_bp[l + 1].T
    return list(zip(dedout, s.primes[l][k], delta))


def _backward(c):
    doc, s, u, E = c.doc, c.s, c.units, c.E
    L = len(s.P)
    doc.heading("The backward pass")
    doc.para(f"Each weight's gradient is a product of three chain-rule factors, "
             f"dE_total/dw = dE_total/dout * dout/dnet * dnet/dw, and the update is "
             f"w+ = w - eta * dE_total/dw with eta = {c.lr:g}. The output layer comes first.")
    for l in reversed(range(L)):
        first = c.wnames[l][0][0]
        last = c.wnames[l][-1][-1]
        where = "Output layer" if l == L - 1 else \
            ("Hidden layer" if L == 2 else f"Hidden layer {l + 1}")
        doc.subheading(f"{where}: {first}..{last}")
        if l < L - 1 and c.published:
            doc.para("As published: the deltas of the layer above are combined with its weights "
                     "already updated (" + ", ".join(
                         f"{c.wnames[l + 1][i][j]}+" for j in range(len(u[l + 2]))
                         for i in range(len(u[l + 1]))) + ").")
        if l == L - 1 and c.matched:
            doc.para(f"With {c.cost.name} after a {c.net.activations[-1]} output, "
                     f"dE/dout * dout/dnet simplifies to out - target (BP1 in closed form), so the "
                     f"chain starts at dE/dnet = delta.")
        factors = {}
        for k, label in c.samples():
            if label:
                doc.para(label)
            factors[k] = _unit_factors(c, l, k)
            for j, unit in enumerate(u[l + 1]):
                dedout, prime, delta = factors[k][j]
                out = f"out_{unit}"
                if l == L - 1 and c.matched:
                    doc.eq(f"delta_{unit}", f"d{E}/dnet_{unit}", f"{out} - target_{unit}",
                           f"{doc.n(s.acts[-1][k, j])} - {doc.n(s.y[k, j], True)}", doc.n(delta))
                    continue
                if l == L - 1:
                    doc.eq(f"d{E}/d{out}", f"{out} - target_{unit}",
                           f"{doc.n(s.acts[-1][k, j])} - {doc.n(s.y[k, j], True)}", doc.n(dedout))
                else:
                    above = u[l + 2]
                    plus = "+" if c.published else ""
                    W = s.W_bp[l + 1]
                    doc.eq(f"d{E}/d{out}",
                           " + ".join(f"d{E}/dnet_{o}*dnet_{o}/d{out}" for o in above),
                           " + ".join(f"delta_{o}*{c.wnames[l + 1][j][m]}{plus}"
                                      for m, o in enumerate(above)),
                           " + ".join(f"{doc.n(s.deltas[l + 1][k, m], True)}*{doc.n(W[j, m], True)}"
                                      for m in range(len(above))), doc.n(dedout))
                act = c.net.activations[l]
                sym = _OUT[act][1].format(out=out, net=f"net_{unit}")
                num = _OUT[act][1].format(out=doc.n(s.acts[l + 1][k, j], True),
                                          net=doc.n(s.zs[l][k, j], True))
                doc.eq(f"d{out}/dnet_{unit}", sym, num, doc.n(prime))
                doc.eq(f"delta_{unit}", f"d{E}/d{out}*d{out}/dnet_{unit}",
                       f"{doc.n(dedout, True)}*{doc.n(prime, True)}", doc.n(delta))
            doc.gap()
        _layer_updates(c, l, factors)


def _chain(c, l, unit, wrt):
    out, E = f"out_{unit}", c.E
    if l == len(c.s.P) - 1 and c.matched:
        return f"d{E}/dnet_{unit}*dnet_{unit}/d{wrt}"
    return f"d{E}/d{out}*d{out}/dnet_{unit}*dnet_{unit}/d{wrt}"


def _layer_updates(c, l, factors):
    doc, s, u = c.doc, c.s, c.units
    src_names = u[l] if l == 0 else [f"out_{name}" for name in u[l]]
    params = [("W", i, j) for j in range(len(u[l + 1])) for i in range(len(u[l]))]
    if c.mask[l]["b"]:
        params += [("b", None, j) for j in range(len(u[l + 1]))]
    for kind, i, j in params:
        unit = u[l + 1][j]
        name = c.wnames[l][i][j] if kind == "W" else c.bnames[l][j]
        grad = s.grads[l][kind][i, j] if kind == "W" else s.grads[l][kind][j]
        old = s.P[l][kind][i, j] if kind == "W" else s.P[l][kind][j]
        new = s.new[l][kind][i, j] if kind == "W" else s.new[l][kind][j]

        def product(k):
            dedout, prime, _ = factors[k][j]
            src = s.acts[l][k, i] if kind == "W" else 1.0
            fs = [dedout, prime] if dedout is not None else [s.deltas[l][k, j]]
            return "*".join(doc.n(f, True) for f in fs + [src])

        if c.n == 1:
            doc.eq(f"dnet_{unit}/d{name}", src_names[i] if kind == "W" else "1",
                   doc.n(s.acts[l][0, i]) if kind == "W" else "1")
            doc.eq(f"dE_total/d{name}", _chain(c, l, unit, name), product(0), doc.n(grad))
        else:
            doc.eq(f"dE_total/d{name}", f"mean_x({_chain(c, l, unit, name)})",
                   "(" + " + ".join(product(k) for k in range(c.n)) + f")/{c.n}", doc.n(grad))
        if c.mask[l][kind]:
            doc.eq(f"{name}+", f"{name} - eta*dE_total/d{name}",
                   f"{doc.n(old)} - {doc.n(c.lr)}*{doc.n(grad, True)}", doc.n(new))
        else:
            doc.eq(f"{name}+", name, doc.n(new) + "   (not trained)")
        doc.gap()


def _train_with(manual, ex, steps):
    """``steps`` updates of plain gradient descent with a wrong backward pass's gradients."""
    zero = jnp.zeros((), ex.x.dtype)

    def step(params, _):
        grads = manual(ex.net, params, ex.x, ex.y, ex.cost, zero).grads
        return tuple({k: layer[k] - ex.lr * grads[l][k] if ex.trainable[l][k] else layer[k]
                      for k in ("W", "b")} for l, layer in enumerate(params)), None

    return jax.jit(lambda p: jax.lax.scan(step, p, None, length=steps)[0])(ex.params)


def _after(c, steps):
    doc, s, u = c.doc, c.s, c.units
    new = tuple({k: jnp.asarray(v) for k, v in layer.items()} for layer in s.new)
    tr = _trace(c.net, c.cost, new, c.x, c.y, jnp.zeros((), c.x.dtype))
    doc.heading("After the update")
    doc.para(f"A forward pass with the updated parameters: E_total = {doc.n(tr.loss)} "
             f"(before the update: {doc.n(s.loss)}).")
    if steps:
        ex = Example("explain", c.net, tuple({k: jnp.asarray(v) for k, v in layer.items()}
                                              for layer in s.P),
                     c.x, c.y, c.lr, c.cost, c.mask)
        if c.manual is None:
            final, errors = train_example(ex, steps, as_published=c.published)
        else:
            final = _train_with(c.manual, ex, steps)
            errors = [_trace(c.net, c.cost, final, c.x, c.y, jnp.zeros((), c.x.dtype)).loss]
        outputs = np.asarray(c.net.apply(final, c.x))
        method = "sequential update, as published" if c.published else "standard update"
        how = method if c.comparing else f"{method}, jaxbp.examples.train_example"
        doc.heading(f"After {steps:,} updates")
        doc.para(f"Repeating the same step {steps:,} times ({how}): "
                 f"E_total = {doc.n(errors[-1])}.")
        for k, label in c.samples():
            doc.para((label + ": " if label else "Outputs: ") + ", ".join(
                f"out_{o} = {doc.n(v)} (target {doc.n(t)})"
                for o, v, t in zip(u[-1], outputs[k], s.y[k])))
