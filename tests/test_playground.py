"""jaxbp.playground and ``jaxbp playground`` (demos/playground.py): the written page
(self-contained, < 1 MB, the settings embedded as checked), the settings' checks, your own
data, the CLI. The page's training in a real browser: tests/test_playground_browser.py."""
import json
import re
from importlib.resources import files

import numpy as np
import pytest

from jaxbp import playground, viz
from jaxbp.demos import playground as demo


def config(html):
    m = re.search(r'<script type="application/json" id="jaxbp-playground">(.*?)</script>', html, re.S)
    assert m, "no embedded settings"
    return json.loads(m.group(1))


def test_page_is_one_small_offline_file(tmp_path):
    path = viz.playground(tmp_path / "p.html", dataset="spiral", sizes=[2, 8, 8, 1],
                          activations=["tanh", "tanh", "sigmoid"])
    html = path.read_text()
    assert len(html.encode()) < 1_000_000
    # nothing is fetched: no external script, stylesheet, image, font or import
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<(link|img|iframe|object|embed)\b", html, re.I)
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I)
    assert "@import" not in html and "url(" not in html and "fetch(" not in html
    assert "XMLHttpRequest" not in html and "WebSocket" not in html
    assert html.count("<script>") == 5   # the five script files, inlined
    cfg = config(html)
    assert cfg["settings"]["dataset"] == "spiral" and cfg["settings"]["sizes"] == [2, 8, 8, 1]
    assert cfg["data"] is None


def test_assets_are_package_files_and_the_backprop_reads_like_the_math():
    assets = files("jaxbp.viz_assets")
    for name in ("common.js", "playground_core.js", "playground_train.js", "playground.js", "npz.js",
                 "playground.css", "replay.js", "page.css"):
        assert assets.joinpath(name).is_file(), name
    core = assets.joinpath("playground_core.js").read_text()
    for label in ("BP1", "BP2", "BP3", "BP4"):
        assert label in core
    assert not any(p.name == "script.py" for p in assets.iterdir())  # no JS in Python strings


def test_settings_defaults_and_checks():
    s = playground.settings()
    assert s == playground.DEFAULTS
    s = playground.settings(features=("x2", "x1"), sizes=(2, 3, 1), activations=("relu", "sigmoid"))
    assert s["features"] == ["x1", "x2"] and s["sizes"] == [2, 3, 1]
    bad = [
        (dict(dataset="moons"), ValueError, "dataset must be one of"),
        (dict(lr=0.0), ValueError, "lr must be a finite float in [0, inf] and > 0, got 0.0"),
        (dict(lr=float("nan")), ValueError, "lr must be"),
        (dict(learning_rate=0.0), ValueError, "lr must be"),   # the name of 0.2.0, still read
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(batch_size=2.5), TypeError, "batch_size must be an int"),
        (dict(sizes=[2]), ValueError, "sizes"),
        (dict(sizes=[2, 3, 1], activations=["tanh"]), ValueError, "one per"),
        (dict(sizes=[2, 3, 1], activations=["softmax", "sigmoid"]), ValueError, "activations[0]"),
        (dict(cost="hinge"), ValueError, "cost must be one of"),
        (dict(cost="softmax_cross_entropy"), ValueError, "do not go together"),
        (dict(features=["x3"]), ValueError, "features"),
        (dict(noise=0.9), ValueError, "noise"),
        (dict(eta=0.1), TypeError, "unknown setting"),
    ]
    for given, kind, words in bad:
        with pytest.raises(kind, match=re.escape(words)):
            playground.settings(**given)


def test_settings_of_version_0_2_0_still_load(tmp_path, capsys):
    """0.2.0 called the learning rate learning_rate: an exported run's settings, a lesson
    script's keywords and hide list, and the CLI flag still load; lr wins when both are given."""
    old_run = {"format": "jaxbp.playground/1", "settings": dict(
        dataset="xor", seed=3, sizes=[2, 2, 1], activations=["sigmoid", "sigmoid"],
        cost="cross_entropy", learning_rate=0.7, batch_size=4, l1=0.0, l2=0.0,
        features=["x1", "x2"], noise=0.0, train_fraction=0.5, stop_loss=0.0, stop_step=0)}
    s = playground.settings(**json.loads(json.dumps(old_run))["settings"])
    assert s["lr"] == 0.7 and "learning_rate" not in s and s["seed"] == 3
    assert playground.settings(lr=0.2, learning_rate=0.7)["lr"] == 0.2
    cfg = config(playground.html_page(learning_rate=0.25, hide=["learning_rate", "cost"]))
    assert cfg["settings"]["lr"] == 0.25 and cfg["hide"] == ["lr", "cost"]
    assert "learning_rate" not in cfg["settings"] and "learning_rate" not in cfg["defaults"]
    assert demo.main([str(tmp_path / "old.html"), "--learning-rate", "0.5"]) == 0
    assert config((tmp_path / "old.html").read_text())["settings"]["lr"] == 0.5
    capsys.readouterr()
    with pytest.raises(SystemExit):
        demo.main(["--help"])
    help_text = capsys.readouterr().out
    assert "--lr" in help_text and "--learning-rate" not in help_text


def test_your_own_data(tmp_path):
    x = np.array([[0.0, 1.0], [2.0, 3.0], [1.0, -1.0]])
    for y in ([0, 2, 1], [[0], [2], [1]], np.eye(3)[[0, 2, 1]]):
        html = playground.html_page(x=x, y=y, sizes=[2, 4, 3], activations=["tanh", "softmax"],
                                    cost="softmax_cross_entropy")
        cfg = config(html)
        assert cfg["data"] == {"x": x.tolist(), "labels": [0, 2, 1]}
        assert cfg["settings"]["dataset"] == "custom"
    with pytest.raises(ValueError, match="x has 3 rows but y has 2"):
        playground.html_page(x=x, y=[0, 1])
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        playground.html_page(x=np.zeros((3, 3)), y=[0, 1, 0])
    with pytest.raises(ValueError, match="both x and y"):
        playground.html_page(x=x)
    with pytest.raises(ValueError, match="class labels"):
        playground.html_page(x=x, y=[0.5, 1, 0])


def test_page_size_limit(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40000, 2))
    with pytest.raises(ValueError, match="more than 1000000"):
        playground.playground(tmp_path / "big.html", x, (x[:, 0] > 0).astype(int))
    assert not (tmp_path / "big.html").exists()


def test_demo_main(tmp_path, capsys):
    out = tmp_path / "xor.html"
    assert demo.main([str(out), "--dataset", "xor", "--sizes", "2-2-1", "--activations", "sigmoid,sigmoid",
                      "--lr", "1", "--hide", "sizes,features"]) == 0
    assert "wrote" in capsys.readouterr().out
    cfg = config(out.read_text())
    assert cfg["settings"]["dataset"] == "xor" and cfg["settings"]["lr"] == 1.0
    assert cfg["hide"] == ["sizes", "features"]
    assert demo.main([str(tmp_path / "bad.html"), "--lr", "-1"]) == 2
    assert "lr must be a finite float" in capsys.readouterr().err
    assert demo.main([str(tmp_path / "no" / "dir.html")]) == 2
    csv = tmp_path / "d.csv"
    csv.write_text("x1,x2,label\n0,0,0\n1,1,1\n0.5,0.2,1\n")
    assert demo.main([str(tmp_path / "c.html"), "--csv", str(csv)]) == 0
    cfg = config((tmp_path / "c.html").read_text())
    assert cfg["data"]["labels"] == [0, 1, 1] and cfg["settings"]["dataset"] == "custom"
    csv.write_text("0,0,0\n1,oops,1\n")
    assert demo.main([str(tmp_path / "c2.html"), "--csv", str(csv)]) == 2
    assert "line 2" in capsys.readouterr().err
