"""The `jaxbp xnor` demo: the hand-built XNOR = OR(AND, NOR) truth table, and the learned
2-2-1 net's hidden units."""
import contextlib
import io
import re

import numpy as np
import pytest

from jaxbp import gates
from jaxbp.demos import xnor as demo

# By hand: x1, x2 | AND | NOR | XNOR = OR(AND, NOR)
HAND = [(0, 0, 0, 1, 1),
        (0, 1, 0, 0, 0),
        (1, 0, 0, 0, 0),
        (1, 1, 1, 0, 1)]
ROW = re.compile(r"^\s*([01])\s+([01])\s+\|\s+([\d.]+)\s+([\d.]+)\s+\|\s+([\d.]+)\s+\|\s+([01])\s*$")


@pytest.fixture(scope="module")
def output():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert demo.main([]) == 0
    return out.getvalue()


def tables(text):
    """The two truth tables (hand-set, learned) as lists of parsed rows."""
    found, current = [], []
    for line in text.splitlines():
        m = ROW.match(line)
        if m:
            current.append(tuple(float(v) for v in m.groups()))
        elif current:
            found.append(current)
            current = []
    return found


def test_hand_built_truth_table(output):
    hand, _ = tables(output)
    assert len(hand) == 4
    for row, expected in zip(hand, HAND):
        x1, x2, h1, h2, out, target = row
        assert (x1, x2) == expected[:2]
        assert (int(h1 > 0.5), int(h2 > 0.5), int(out > 0.5)) == expected[2:]
        assert target == expected[4]
        # the hand-set units are saturated: every printed activation is within 1e-3 of 0 or 1
        assert all(min(v, 1 - v) < 1e-3 for v in (h1, h2, out))
    assert "h1 (AND)" in output and "h2 (NOR)" in output
    assert "sigmoid(20 x1 + 20 x2 - 30)" in output        # the weights of xnor_by_hand
    assert "sigmoid(-20 x1 - 20 x2 + 10)" in output
    assert "sigmoid(20 h1 + 20 h2 - 10)" in output


def test_learned_net_solves_xnor(output):
    _, learned = tables(output)
    assert len(learned) == 4
    for row, expected in zip(learned, HAND):
        assert row[:2] == expected[:2]
        assert int(row[4] > 0.5) == expected[4] and row[5] == expected[4]
    assert "NOT solved" not in output


def test_learned_units_are_named_by_their_truth_table(output):
    """The Boolean function printed for each learned hidden unit is the one its printed
    activations compute (thresholded at 0.5)."""
    _, learned = tables(output)
    units = {t[0]: (t[1], t[5]) for t in (line.split() for line in output.splitlines())
             if len(t) == 9 and t[0] in ("h1", "h2", "output")}
    assert set(units) == {"h1", "h2", "output"}
    assert [units[u][0] for u in ("h1", "h2", "output")] == ["AND", "NOR", "OR"]   # hand-set
    for j, unit in enumerate(("h1", "h2")):
        index = sum(int(row[2 + j] > 0.5) << k for k, row in enumerate(learned))
        assert units[unit][1] == gates.BOOLEAN_FUNCTIONS[index].name.upper()


def test_unit_function():
    assert demo.unit_function([0.01, 0.2, 0.3, 0.97]).name == "and"
    assert demo.unit_function(np.array([0.9, 0.1, 0.2, 0.8])).name == "xnor"


def test_help():
    with pytest.raises(SystemExit) as e:
        demo.main(["--help"])
    assert e.value.code == 0


@pytest.mark.slow
def test_plot_draws_both_nets_hidden_lines(tmp_path):
    pytest.importorskip("matplotlib")
    import jax
    import jaxbp
    net, hand = jaxbp.examples.xnor_by_hand()
    seed, learned, solved = demo.train(2.0, 3000, 0, 8)
    fig = demo.figure(net, hand, learned, seed)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == [
        "by hand: OR(AND, NOR)", f"learned from random weights (seed {seed})"]
    for ax in panels:
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("x1", "x2")
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert len(labels) == 2 and all("w.x + b = 0" in label for label in labels)
    assert [t.get_text() for t in panels[0].get_legend().get_texts()] == [
        "h1 = AND: w.x + b = 0", "h2 = NOR: w.x + b = 0"]
    # the hand-set h1 line: 20 x1 + 20 x2 - 30 = 0 passes through (0.75, 0.75)
    W, b = np.asarray(hand[0]["W"]), np.asarray(hand[0]["b"])
    assert W[0, 0] * 0.75 + W[1, 0] * 0.75 + b[0] == pytest.approx(0.0)
    assert any(ax.get_ylabel() == "network output" for ax in fig.axes)      # colour key
    path = tmp_path / "x.png"
    demo.plot(net, hand, learned, seed, str(path))
    assert path.stat().st_size > 10_000
    del jax


def test_bad_plot_path_is_refused_before_training(capsys):
    with pytest.raises(SystemExit) as e:
        demo.main(["--plot", "no/such/folder/x.png"])
    assert e.value.code == 2
    assert capsys.readouterr().err.startswith("jaxbp xnor: error: argument --plot: cannot write")
