"""The `jaxbp gates` demo: run in-process, and check that its table says what it claims."""
import contextlib
import io

import jax
import numpy as np
import pytest

import jaxbp
from jaxbp import gates
from jaxbp.demos import gates as demo
from jaxbp.demos import table

NOT_SEPARABLE = {"xor", "xnor"}     # the textbook fact the table must show


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = demo.main(argv)
    return code, out.getvalue(), err.getvalue()


def parse(text, names):
    """The rows of the --wide table by gate name, split into their columns."""
    rows = {}
    for line in text.splitlines():
        t = line.split()
        if t and t[0] in names and len(t) == 21:
            rows[t[0]] = dict(verdict=t[1], epochs=int(t[2]), perceptron_acc=t[3], unit_acc=t[4],
                              unit_outputs=[float(v) for v in t[5:9]],
                              nets=[dict(acc=n[0], loss=float(n[1]), step=n[2], seed=int(n[3]),
                                         ok=n[4]) for n in (t[9:14], t[14:19])],
                              bp=t[19], bp_diff=float(t[20]))
    return rows


@pytest.fixture(scope="module")
def main_and_results():
    """`jaxbp gates --wide`: its output, and the results it printed."""
    kept, run_ = [], demo.run
    demo.run = lambda *a, **k: kept.append(run_(*a, **k)) or kept[-1]
    try:
        code, out, err = run(["--wide"])
    finally:
        demo.run = run_
    assert code == 0, err
    return out, kept[0]


@pytest.fixture(scope="module")
def six(main_and_results):
    return main_and_results[0]


@pytest.fixture(scope="module")
def results(main_and_results):
    return main_and_results[1]


@pytest.mark.slow
def test_six_gates_table(six):
    rows = parse(six, gates.NAMES)
    assert set(rows) == set(gates.NAMES)
    for name, row in rows.items():
        if name in NOT_SEPARABLE:
            assert row["verdict"] == "cycled" and row["perceptron_acc"] != "4/4"
            # a single sigmoid unit ends at 1/2 on every row
            assert row["unit_outputs"] == [0.5] * 4
        else:
            assert row["verdict"] == "converged" and row["perceptron_acc"] == "4/4"
            assert row["epochs"] <= 10 and row["unit_acc"] == "4/4"
        for net in row["nets"]:                        # one hidden layer solves every gate
            assert net["acc"] == "4/4" and net["step"] != "-"
        assert row["bp"] == "equal" and row["bp_diff"] < 1e-5
    assert rows["and"]["epochs"] == 6                  # hand trace in test_perceptron.py
    closing = " ".join(six.split())                    # the closing text is wrapped
    assert "Perceptron: 4/6 learned; it fails on xor, xnor, which are not linearly" in closing
    assert "2-2-1 6/6, 2-3-1 6/6 solved" in closing


def test_steps_to_solve_is_the_first_step(six):
    """Re-train the reported XOR 2-2-1 seed with jaxbp.fit: right after `step` steps, and
    not after one step fewer."""
    row = parse(six, gates.NAMES)["xor"]["nets"][0]
    step, seed = int(row["step"]), row["seed"]
    x, y = gates.truth_table("xor")
    net = jaxbp.MLP((2, 2, 1))
    params = net.init(jax.random.key(seed))
    right = []
    for k in (step - 1, step):
        p, _ = jaxbp.fit(net, params, x, y, "cross_entropy", 2.0, steps=k)
        right.append(bool(np.all((np.asarray(net.apply(p, x)) > 0.5) == (np.asarray(y) > 0.5))))
    assert right == [False, True]


def test_the_unit_is_logistic_regression(results):
    """The sigmoid unit's weights are those of jaxbp.fit on MLP((2, 1)) from the same seed."""
    r = next(r for r in results if r.name == "or")
    x, y = gates.truth_table("or")
    net = jaxbp.MLP((2, 1))
    params, _ = jaxbp.fit(net, net.init(jax.random.key(r.unit.seed)), x, y, "cross_entropy",
                          2.0, steps=3000)
    np.testing.assert_allclose(r.unit.params[0]["W"], params[0]["W"], rtol=1e-3, atol=1e-4)


def test_default_table_fits_100_columns(results, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")       # not a terminal: shutil reads COLUMNS
    lines = demo.format_table(results, 8).splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "loss" not in lines[1] and "seed" not in lines[1]      # the optional columns went
    wide = demo.format_table(results, 8, wide=True).splitlines()
    assert "loss" in wide[1] and "seed" in wide[1] and max(map(len, wide)) > 100
    sixteen = demo.format_table(results[:1] * 2, 8)               # any row count
    assert max(len(line) for line in sixteen.splitlines()) <= 100


def test_figure_has_labels_key_and_every_hidden_line(results):
    pytest.importorskip("matplotlib")
    fig = demo.figure(results)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2 * len(results)
    for ax in panels:
        assert ax.get_xlabel() == "x1" and ax.get_ylabel() == "x2"
    nets = [ax for ax in panels if "2-2-1 net" in ax.get_title()]
    assert len(nets) == len(results)
    for ax in nets:                        # the two hidden units' dashed lines on every panel
        dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert len(dashed) == 2
    bar = [ax for ax in fig.axes if ax.get_ylabel().startswith("output")]
    assert len(bar) == 1                                        # the colour key
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "target 1" in labels and "target 0" in labels
    assert any("hidden unit" in label for label in labels)


@pytest.mark.slow
def test_plot_is_written(results, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image
    demo.plot(results, tmp_path / "g.png")
    image = matplotlib.image.imread(str(tmp_path / "g.png"))
    assert image.ndim == 3 and image.shape[1] > 600
    assert float(np.var(image[..., :3])) > 0.01        # a blank canvas has variance 0


@pytest.mark.slow
def test_all16():
    code, out, err = run(["--all16", "--wide"])
    assert code == 0, err
    names = [f.name for f in gates.BOOLEAN_FUNCTIONS]
    rows = parse(out, names)
    assert set(rows) == set(names)
    failed = {n for n, r in rows.items() if r["verdict"] != "converged"}
    assert failed == NOT_SEPARABLE
    assert all(net["acc"] == "4/4" for r in rows.values() for net in r["nets"])
    closing = " ".join(out.split())
    assert "Perceptron: 14/16 learned; it fails on xor, xnor," in closing
    assert "2-2-1 16/16, 2-3-1 16/16 solved" in closing


def test_table_module_drops_optional_columns_least_important_first(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    C = table.Column
    cols = [C("a", "", "a", 60, right=False), C("b", "", "b", 30, optional=1), C("c", "", "c", 30, optional=2)]
    assert [c.key for c in table.fit(cols)] == ["a", "b"]          # 60+1+30 = 91 <= 100
    assert [c.key for c in table.fit(cols, wide=True)] == ["a", "b", "c"]
    monkeypatch.setenv("COLUMNS", "200")                            # a wide terminal
    assert [c.key for c in table.fit(cols)] == ["a", "b", "c"]
    line = table.row(cols, {"a": "x", "b": "1", "c": "22"})
    assert line == "x".ljust(60) + " " + "1".rjust(30) + " " + "22".rjust(30)


def test_help():
    with pytest.raises(SystemExit) as e:
        run(["--help"])
    assert e.value.code == 0


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--lr", "-1"], ["--seeds", "0"], ["--bogus"]])
def test_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as e:
        demo.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxbp gates: error: ") and err.count("\n") == 1
