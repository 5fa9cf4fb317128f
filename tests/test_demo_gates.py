"""The `jaxbp gates` demo: run in-process, and check that its table says what it claims."""
import contextlib
import io
import sys

import jax
import numpy as np
import pytest

import jaxbp
from jaxbp import gates
from jaxbp.demos import gates as demo

NOT_SEPARABLE = {"xor", "xnor"}     # the textbook fact the table must show


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = demo.main(argv)
    return code, out.getvalue(), err.getvalue()


def parse(text, names):
    """The table rows by gate name, split into their columns."""
    rows = {}
    for line in text.splitlines():
        tokens = line.split()
        if tokens and tokens[0] in names and len(tokens) == 21:
            t = tokens
            rows[t[0]] = dict(verdict=t[1], epochs=int(t[2]), perceptron_acc=t[3], unit_acc=t[4],
                              unit_outputs=[float(v) for v in t[5:9]],
                              nets=[dict(acc=n[0], loss=float(n[1]), step=n[2], seed=int(n[3]), ok=n[4])
                                    for n in (t[9:14], t[14:19])],
                              bp=t[19], bp_diff=float(t[20]))
    return rows


@pytest.fixture(scope="module")
def six(tmp_path_factory):
    path = tmp_path_factory.mktemp("plot") / "gates.png"
    code, out, err = run(["--plot", str(path)])
    assert code == 0, err
    return out, path


@pytest.fixture(scope="module")
def sixteen():
    code, out, err = run(["--all16"])
    assert code == 0, err
    return out


def test_six_gates_table(six):
    out, _ = six
    rows = parse(out, gates.NAMES)
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
    closing = " ".join(out.split())                    # the closing text is wrapped
    assert "Perceptron: 4/6 learned; it fails on xor, xnor, which are not linearly" in closing
    assert "2-2-1 6/6, 2-3-1 6/6 solved" in closing


def test_steps_to_solve_is_the_first_step(six):
    """Re-train the reported XOR 2-2-1 seed with jaxbp.fit: right after `step` steps, and
    not after one step fewer."""
    out, _ = six
    row = parse(out, gates.NAMES)["xor"]["nets"][0]
    step, seed = int(row["step"]), row["seed"]
    x, y = gates.truth_table("xor")
    net = jaxbp.MLP((2, 2, 1))
    params = net.init(jax.random.key(seed))
    right = []
    for k in (step - 1, step):
        p, _ = jaxbp.fit(net, params, x, y, "cross_entropy", 2.0, steps=k)
        right.append(bool(np.all((np.asarray(net.apply(p, x)) > 0.5) == (np.asarray(y) > 0.5))))
    assert right == [False, True]


def test_plot_is_written_and_not_blank(six):
    import matplotlib.image
    _, path = six
    image = matplotlib.image.imread(str(path))
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 600
    assert float(np.var(image[..., :3])) > 0.01        # a blank canvas has variance 0


def test_all16(sixteen):
    names = [f.name for f in gates.BOOLEAN_FUNCTIONS]
    rows = parse(sixteen, names)
    assert set(rows) == set(names)
    failed = {n for n, r in rows.items() if r["verdict"] != "converged"}
    assert failed == NOT_SEPARABLE
    assert all(net["acc"] == "4/4" for r in rows.values() for net in r["nets"])
    closing = " ".join(sixteen.split())
    assert "Perceptron: 14/16 learned; it fails on xor, xnor," in closing
    assert "2-2-1 16/16, 2-3-1 16/16 solved" in closing


def test_help():
    with pytest.raises(SystemExit) as e:
        run(["--help"])
    assert e.value.code == 0


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--lr", "-1"], ["--seeds", "0"], ["--bogus"]])
def test_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as e:
        demo.main(argv)
    assert e.value.code == 2
    assert "usage: jaxbp gates" in capsys.readouterr().err


def test_plot_without_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # import matplotlib -> ImportError
    code, out, err = run(["--plot", str(tmp_path / "x.png")])
    assert code == 2 and "--plot needs matplotlib" in err and "pip install 'jaxbp[plot]'" in err
    assert not (tmp_path / "x.png").exists()
