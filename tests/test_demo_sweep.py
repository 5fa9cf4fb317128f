"""The `jaxbp sweep` demo: rows printed as each setting finishes, within 100 columns,
the Wilson interval of each rate, and its plot."""
import re

import numpy as np
import pytest

from jaxbp import sweep
from jaxbp.demos import sweep as demo
from jaxbp.demos import sweep_grid, table

ARGV = ["--runs", "40", "--steps", "300", "--widths", "2", "4", "--init", "uniform",
        "--cost", "cross_entropy", "--lr", "2", "--seed", "3"]


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    import contextlib
    import io
    png = tmp_path_factory.mktemp("sweep") / "rate.png"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert demo.main(ARGV + ["--plot", str(png)]) == 0
    return out.getvalue(), png


def test_table_states_its_conditions(printed, monkeypatch):
    out, _ = printed
    assert "all four XOR outputs are on the right side of 0.5" in " ".join(out.split())
    rows = re.findall(r"^\s*(\d) +(\w+) +(\w+) +(\S+) +(\S+) +\[(\S+), (\S+)\] +(\S+)", out, re.M)
    assert [r[:4] for r in rows] == [("2", "uniform", "cross_entropy", "2"),
                                     ("4", "uniform", "cross_entropy", "2")]
    for r in rows:            # rate, then its Wilson interval, both in percent
        k = round(float(r[4]) * 40 / 100)
        lo, hi = sweep.wilson_interval(k, 40)
        assert float(r[5]) == pytest.approx(100 * lo, abs=0.051)
        assert float(r[6]) == pytest.approx(100 * hi, abs=0.051)


def test_fits_100_columns_unless_wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert table.total_width(table.fit(demo.columns())) <= 100
    assert {c.key for c in table.fit(demo.columns(), wide=True)} >= {"steps", "runs"}


def test_plot(printed):
    pytest.importorskip("matplotlib")
    _, png = printed
    image = pytest.importorskip("matplotlib.image").imread(png)
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert float(np.std(image[..., :3])) > 0.01          # not blank


@pytest.mark.slow
def test_figure_labels():
    pytest.importorskip("matplotlib")
    rows = sweep_grid.run_grid([2], ["uniform"], ["quadratic"], [2.0], runs=8, steps=50)
    fig = demo.figure(rows)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "updates t" and ax.get_ylabel() == "% of 8 runs solved"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["2-2-1, lr 2"]


def test_rejects_bad_options(capsys):
    with pytest.raises(SystemExit) as e:
        demo.main(["--runs", "0"])
    assert e.value.code == 2
    assert "argument --runs: must be an int > 0, got 0" in capsys.readouterr().err
