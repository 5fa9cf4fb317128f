"""HTML tables for Jupyter: what :class:`jaxbp.GradReport` and :class:`jaxbp.Trace` show as
``_repr_html_``.

Pure functions from a report or a trace to an HTML string (a ``<table>``), attached as
methods by their classes::

    class GradReport(NamedTuple):
        ...
        def _repr_html_(self):
            return _html.grad_report(self)

Every number is escaped text; nothing here imports JAX or runs a computation (the arrays
of a trace are converted with NumPy).
"""
from html import escape
from typing import Any, Iterable, List, Sequence

import numpy as np

STYLE = ("border-collapse:collapse;font-family:monospace;font-size:12px;"
         "text-align:right")
CELL = "padding:2px 8px;border-bottom:1px solid #ddd"


def _table(caption: str, head: Sequence[str], rows: Iterable[Sequence[Any]],
           foot: str = "") -> str:
    cell = lambda tag, value, align="right": (f'<{tag} style="{CELL};text-align:{align}">'
                                              f"{escape(str(value))}</{tag}>")
    parts = [f'<table style="{STYLE}">', f"<caption style=\"text-align:left\">"
             f"{escape(caption)}</caption>",
             "<thead><tr>" + "".join(cell("th", h) for h in head) + "</tr></thead><tbody>"]
    for row in rows:
        parts.append("<tr>" + "".join(cell("td", v) for v in row) + "</tr>")
    parts.append("</tbody>")
    if foot:
        parts.append(f'<tfoot><tr><td colspan="{len(head)}" style="{CELL};text-align:left">'
                     f"{escape(foot)}</td></tr></tfoot>")
    parts.append("</table>")
    return "".join(parts)


def grad_report(report: Any) -> str:
    """A :class:`jaxbp.GradReport` as an HTML table: per layer and equation, the relative
    error of backprop against ``jax.grad`` and against finite differences, then the verdict."""
    rows: List[Sequence[Any]] = []
    last = len(report.per_layer) - 1
    for l, errors in enumerate(report.per_layer):
        rows.append((l, ("BP1" if l == last else "BP2") + " delta", f"{errors['delta']:.2e}", ""))
        for key in ("BP3", "BP4"):
            rows.append((l, key, f"{errors[key]:.2e}", f"{errors[key + ' numeric']:.2e}"))
    verdict = "ok" if report.ok else f"FAILED (first wrong: {report.worst})"
    foot = (f"tolerances {report.tolerance[0]:.0e} (jax.grad), {report.tolerance[1]:.0e} "
            f"(numeric): {verdict}")
    return _table("check_grads: backprop by hand vs jax.grad vs finite differences",
                  ("layer", "equation", "vs jax.grad", "vs numeric"), rows, foot)


def _summary(a: Any) -> str:
    """An array in a few characters: its values when small, else shape and range."""
    a = np.asarray(a)
    if a.size <= 6:
        return np.array2string(a, precision=4, separator=", ", suppress_small=False)
    return f"{a.shape} in [{a.min():.4g}, {a.max():.4g}]"


def trace(tr: Any) -> str:
    """A :class:`jaxbp.Trace` as an HTML table: one row per layer with its weighted input z,
    its activation, its delta and the gradients of its W and b; the cost in the caption.
    Arrays of more than six numbers are shown by shape and range."""
    rows = []
    for l, (z, a, delta, grads) in enumerate(zip(tr.zs, tr.activations[1:], tr.deltas,
                                                 tr.grads)):
        rows.append((l, _summary(z), _summary(a), _summary(delta), _summary(grads["W"]),
                     _summary(grads["b"])))
    return _table(f"backprop trace: cost C = {float(np.asarray(tr.loss)):.6g}, input "
                  f"{_summary(tr.activations[0])}",
                  ("layer", "z", "activation", "delta", "dC/dW", "dC/db"), rows)
