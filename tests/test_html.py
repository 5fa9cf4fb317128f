"""jaxbp._html: GradReport and Trace as HTML tables (what Jupyter shows)."""
from html.parser import HTMLParser

import pytest

import jaxbp
from jaxbp import _html
from jaxbp.gradcheck import GradReport


class Cells(HTMLParser):
    """The text of every <th>/<td>, by row, and the caption."""
    def __init__(self, text):
        super().__init__()
        self.rows, self.caption, self._in = [], "", None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th", "caption"):
            self._in = tag
            if tag != "caption":
                self.rows[-1].append("")

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "caption":
            self.caption += data
        elif self._in:
            self.rows[-1][-1] += data


def test_trace_table_shows_mazurs_published_numbers():
    ex = jaxbp.examples.mazur()
    tr = jaxbp.trace(ex.net, ex.params, ex.x, ex.y, ex.cost)
    table = Cells(_html.trace(tr))
    assert "cost C = 0.298371" in table.caption          # E_total = 0.298371109 (Mazur)
    head, *body = table.rows
    assert head == ["layer", "z", "activation", "delta", "dC/dW", "dC/db"]
    assert [row[0] for row in body] == ["0", "1"]
    assert "0.3775" in body[0][1]                          # net_h1 = 0.3775
    assert "0.5933" in body[0][2] and "0.5969" in body[0][2]   # out_h1, out_h2
    assert "0.7514" in body[1][2] and "0.7729" in body[1][2]   # out_o1, out_o2


def test_large_arrays_are_summarised():
    assert _html._summary(list(range(12))) == "(12,) in [0, 11]"
    assert _html._summary([1.5, 2.0]) == "[1.5, 2. ]"


@pytest.mark.slow
def test_grad_report_table():
    ex = jaxbp.examples.mazur()
    report = jaxbp.check_grads(ex.net, ex.params, ex.x, ex.y, ex.cost)
    table = Cells(_html.grad_report(report))
    head, *body, foot = table.rows
    assert head == ["layer", "equation", "vs jax.grad", "vs numeric"]
    assert [row[:2] for row in body] == [["0", "BP2 delta"], ["0", "BP3"], ["0", "BP4"],
                                         ["1", "BP1 delta"], ["1", "BP3"], ["1", "BP4"]]
    assert float(body[2][2]) == pytest.approx(report.per_layer[0]["BP4"], rel=5e-3)
    assert foot[0].endswith(": ok")


def test_failed_report_names_the_equation_and_escapes_text():
    row = {"delta": 0.5, "BP3": 0.5, "BP4": 0.5, "BP3 numeric": 0.5, "BP4 numeric": 0.5}
    report = GradReport(False, 0.5, 0.5, 0.0, (row,), "layer 0 <BP2>", (1e-9, 1e-5))
    text = _html.grad_report(report)
    assert "<BP2>" not in text and "&lt;BP2&gt;" in text
    assert Cells(text).rows[-1][0].endswith("FAILED (first wrong: layer 0 <BP2>)")
