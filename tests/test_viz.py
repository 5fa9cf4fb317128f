"""jaxbp.viz: the recorded frames (checked against jaxbp.fit, jaxbp.trace, jax.grad and the
published figures of the worked examples) and the written page (self-contained, valid
JSON, small). The page in a real browser: tests/test_viz_browser.py."""
import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbp
from jaxbp import viz

XOR_X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
XOR_Y = [[0.0], [1.0], [1.0], [0.0]]


def embedded(html):
    """The JSON embedded in a page."""
    m = re.search(r'<script type="application/json" id="jaxbp-data">(.*?)</script>', html, re.S)
    assert m, "no embedded data"
    return json.loads(m.group(1))


def close(a, b, rtol=1e-12, atol=1e-14):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol)


# ---- which steps are recorded ----------------------------------------------------------------

@pytest.mark.parametrize("frames", [2, 3, 7, 300])
def test_frame_steps_keep_first_and_last_and_count(frames):
    for steps in range(1, 700, 7):
        chosen = viz.frame_steps(steps, frames)
        assert chosen[0] == 0 and chosen[-1] == steps
        assert len(chosen) == min(frames, steps + 1)
        assert all(a < b for a, b in zip(chosen, chosen[1:]))
        if frames >= 3:
            assert chosen[1] == 1  # the first update is always shown
        if steps + 1 <= frames:
            assert chosen == list(range(steps + 1))


def test_frame_steps_are_evenly_spaced():
    chosen = np.array(viz.frame_steps(10000, 300))
    gaps = np.diff(chosen[1:])
    assert gaps.min() >= 33 and gaps.max() <= 35  # 10000 / 299 = 33.4


# ---- the frames equal independent computations ----------------------------------------------

@pytest.fixture(scope="module")
def run():
    net = jaxbp.MLP((2, 3, 1), "tanh", "sigmoid")
    params = net.init(jax.random.key(3), dtype=jnp.float64)
    x, y = jnp.asarray(XOR_X), jnp.asarray(XOR_Y)
    data = viz.frames(net, params, x, y, "cross_entropy", 0.5, 40, frames=7)
    return net, params, x, y, data


@pytest.mark.slow
def test_frames_record_the_chosen_steps(run):
    net, params, x, y, data = run
    assert [f["step"] for f in data["frames"]] == viz.frame_steps(40, 7) == [0, 1, 9, 17, 24, 32, 40]
    assert data["sizes"] == [2, 3, 1] and data["activations"] == ["tanh", "sigmoid"]
    assert data["cost"] == "cross_entropy" and data["lr"] == 0.5 and data["steps"] == 40
    close(data["frames"][0]["params"][0]["W"], params[0]["W"], 0, 0)  # step 0 is the initial net


def test_first_update_is_gradient_descent_with_jax_grad(run):
    net, params, x, y, data = run
    _, grads = jaxbp.autodiff(net, params, x, y, "cross_entropy")  # jax.value_and_grad
    for l in range(2):
        for k in ("W", "b"):
            close(data["frames"][1]["params"][l][k], params[l][k] - 0.5 * grads[l][k])
            close(data["frames"][0]["grads"][l][k], grads[l][k])


@pytest.mark.slow
def test_frames_equal_fit_then_trace(run):
    net, params, x, y, data = run
    frame = data["frames"][-1]
    trained, _ = jaxbp.fit(net, params, x, y, "cross_entropy", 0.5, frame["step"])
    tr = jaxbp.trace(net, trained, x, y, "cross_entropy")
    close(frame["loss"], tr.loss, 1e-10)
    for l in range(2):
        for k in ("W", "b"):
            close(frame["params"][l][k], trained[l][k], 1e-10)
            close(frame["grads"][l][k], tr.grads[l][k], 1e-9)
        close(frame["zs"][l], tr.zs[l], 1e-10)
        close(frame["deltas"][l], tr.deltas[l], 1e-9)
    for l in range(3):
        close(frame["activations"][l], tr.activations[l], 1e-10)


@pytest.mark.slow
def test_curve_is_the_fit_history(run):
    net, params, x, y, data = run
    trained, history = jaxbp.fit(net, params, x, y, "cross_entropy", 0.5, 40)
    assert data["curve"]["step"] == list(range(41))
    close(data["curve"]["loss"][:40], history, 1e-10)
    close(data["curve"]["loss"][40], jaxbp.loss(net, trained, x, y, "cross_entropy"), 1e-10)
    assert [data["curve"]["loss"][f["step"]] for f in data["frames"]] == [f["loss"] for f in data["frames"]]


def test_long_runs_subsample_the_curve():
    net = jaxbp.MLP((2, 1), output="sigmoid")
    params = net.init(jax.random.key(0), dtype=jnp.float64)
    data = viz.frames(net, params, XOR_X, XOR_Y, "quadratic", 1.0, 5000, frames=50)
    assert len(data["frames"]) == 50 and len(data["curve"]["step"]) == viz.CURVE_POINTS
    assert data["curve"]["step"][0] == 0 and data["curve"]["step"][-1] == 5000


@pytest.fixture(scope="module")
def ten():
    """A 2-2-1 net and 10 samples (one compiled recording for the two tests below)."""
    net = jaxbp.MLP((2, 2, 1))
    params = net.init(jax.random.key(1), dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(2), (10, 2), jnp.float64)
    return net, params, x, (x[:, :1] > 0).astype(jnp.float64)


@pytest.mark.slow
def test_max_samples_keeps_per_sample_values_of_the_first_rows_only(ten):
    net, params, x, y = ten
    data = viz.frames(net, params, x, y, "quadratic", 2.0, 20, frames=5, max_samples=3)
    tr = jaxbp.trace(net, params, x, y, "quadratic")
    f = data["frames"][0]
    assert data["samples"] == [0, 1, 2] and len(data["x"]) == 10
    assert [np.shape(a) for a in f["activations"]] == [(3, 2), (3, 2), (3, 1)]
    close(f["deltas"][0], tr.deltas[0][:3])
    close(f["grads"][0]["W"], tr.grads[0]["W"])  # gradients are over the whole batch


def test_trainable_freezes_leaves(ten):
    net, params, x, y = ten
    frozen = ({"W": False, "b": True}, {"W": True, "b": False})
    data = viz.frames(net, params, x, y, "quadratic", 2.0, 20, frames=5, trainable=frozen,
                      max_samples=3)
    first, last = data["frames"][0]["params"], data["frames"][-1]["params"]
    assert first[0]["W"] == last[0]["W"] and first[1]["b"] == last[1]["b"]
    assert first[0]["b"] != last[0]["b"] and first[1]["W"] != last[1]["W"]
    assert data["trainable"] == [{"W": False, "b": True}, {"W": True, "b": False}]


# ---- the worked examples, against the published figures ---------------------------------------

@pytest.fixture(scope="module")
def mazur():
    return viz.explain_data("mazur")  # 10000 steps, 300 frames: the page's defaults


def test_mazur_frames_match_the_published_figures(mazur):
    data = mazur
    f0, f1, last = data["frames"][0], data["frames"][1], data["frames"][-1]
    assert (f0["step"], f1["step"], last["step"]) == (0, 1, 10000)
    assert format(f0["activations"][2][0][0], ".8f") == "0.75136507"   # out_o1
    assert format(f0["activations"][2][0][1], ".8f") == "0.77292847"   # out_o2
    assert format(f0["loss"], ".9f") == "0.298371109"                  # E_total
    assert format(f0["grads"][1]["W"][0][0], ".9f") == "0.082167041"   # dE/dw5
    assert format(f1["params"][1]["W"][0][0], ".8f") == "0.35891648"   # w5+
    assert format(f1["params"][0]["W"][0][0], ".9f") == "0.149780716"  # w1+
    # The method as described (simultaneous update): 0.29102777369 after one update, and
    # 3.5101877e-05 with outputs 0.0159136 / 0.9840642 after 10,000 (jaxbp.examples docs).
    assert format(f1["loss"], ".11f") == "0.29102777369"
    assert format(last["loss"], ".7e") == "3.5101878e-05"
    assert [format(a, ".7f") for a in last["activations"][2][0]] == ["0.0159136", "0.9840643"]
    assert all(f["params"][0]["b"] == [0.35, 0.35] for f in data["frames"])  # biases frozen


@pytest.mark.slow
def test_mazur_as_published_reproduces_the_printed_update():
    data = viz.explain_data("mazur", as_published=True, steps=10000, frames=3)
    assert data["update"] == "as_published"
    f1, last = data["frames"][1], data["frames"][-1]
    assert format(f1["loss"], ".9f") == "0.291027924"                  # printed after one update
    assert [format(a, ".9f") for a in last["activations"][2][0]] == ["0.015912196", "0.984065734"]


@pytest.mark.slow
def test_no_bias_221_frames():
    data = viz.explain_data("no-bias-221", steps=10, frames=3)
    f0, f1 = data["frames"][0], data["frames"][1]
    assert format(f0["activations"][2][0][0], ".8f") == "0.69028349"
    assert format(f0["loss"], ".7f") == "0.0181039"
    assert [format(w[0], ".8f") for w in f1["params"][1]["W"]] == ["0.27232597", "0.87299836"]


def test_perceptron_states_follow_the_rule_update_by_update():
    x, y = jaxbp.gates.truth_table("and")
    data = viz.perceptron_data(x, y)
    states = data["states"]
    assert data["converged"] and not data["cycled"]
    assert len(states) == 4 * data["epochs"] + 1 and states[0]["w"] == [0.0, 0.0]
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)[:, 0]
    for now, after in zip(states[:-1], states[1:]):  # Rosenblatt's rule, step(0) = 0, lr 1
        i = now["sample"]
        predicted = 1.0 if np.dot(now["w"], x[i]) + now["b"] > 0 else 0.0
        assert (now["predicted"], now["target"]) == (predicted, y[i])
        assert after["w"] == (np.asarray(now["w"]) + (y[i] - predicted) * x[i]).tolist()
        assert after["b"] == now["b"] + (y[i] - predicted)
    w, b = states[-1]["w"], states[-1]["b"]
    assert ((x @ np.asarray(w) + b > 0) == (y == 1)).all()


# ---- the page -----------------------------------------------------------------------------------

def assert_self_contained(html):
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    assert not re.search(r"<(link|img|iframe|object|embed)\b", html, re.I)
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I)
    assert "@import" not in html and "url(" not in html and "@font-face" not in html
    assert "fetch(" not in html and "XMLHttpRequest" not in html
    assert html.count("<script") == 2  # the data and the code, both inline


def test_explain_page_is_one_small_self_contained_file(tmp_path, mazur):
    path = viz.write_explain_html(tmp_path / "mazur.html")
    html = path.read_text(encoding="utf-8")
    assert_self_contained(html)
    assert path.stat().st_size < 1_000_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mazur.html"]  # no temp files left
    data = embedded(html)
    assert data["format"] == viz.FORMAT and len(data["frames"]) == 300
    assert data["frames"][1]["step"] == 1 and data["frames"][-1]["step"] == 10000
    assert data["frames"] == mazur["frames"] and data["curve"] == mazur["curve"]


@pytest.mark.slow
def test_gates_page_is_small_and_self_contained(tmp_path):
    path = viz.write_gates_html(tmp_path / "gates.html")
    assert path.stat().st_size < 1_000_000
    html = path.read_text(encoding="utf-8")
    assert_self_contained(html)
    every = embedded(html)
    # all six gates, for the page's picker; it opens on XOR
    assert list(every["pages"]) == list(jaxbp.gates.NAMES) and every["gate"] == "xor"
    for name, page in every["pages"].items():
        x, y = jaxbp.gates.truth_table(name)
        assert page["gate"] == name and page["y"] == np.asarray(y).tolist()
        assert len(page["net"]["frames"]) == 100
    data = every["pages"]["xor"]
    # float32 runs embed each number as its shortest float32 repr; Math.fround (float32
    # rounding) in the page gives back the exact recorded value.
    exact = viz.gates_data(frames=100)["net"]["frames"][-1]["grads"][0]["W"]
    shown = np.asarray(data["net"]["frames"][-1]["grads"][0]["W"], np.float64)
    assert np.array_equal(shown.astype(np.float32), np.asarray(exact, np.float32))
    assert len(json.dumps(data["net"]["frames"][-1])) < 0.8 * len(json.dumps(
        viz.gates_data(frames=100)["net"]["frames"][-1]))
    x, y = jaxbp.gates.truth_table("xor")
    assert data["x"] == np.asarray(x).tolist() and data["y"] == np.asarray(y).tolist()
    # The perceptron, as jaxbp.perceptron.fit runs it: the state at each epoch boundary.
    res = jaxbp.perceptron.fit(x, y, lr=1.0, max_epochs=100)
    states = data["perceptron"]["states"]
    assert len(states) == 4 * int(res.epochs) + 1
    for e in range(int(res.epochs) + 1):
        assert states[4 * e]["w"] == np.asarray(res.w_history[e]).tolist()
        assert states[4 * e]["b"] == float(res.b_history[e])
    assert data["perceptron"]["converged"] is False and data["perceptron"]["cycled"] is True
    # The network: 2-2-1 sigmoid, cross-entropy, key 0, lr 1, 2000 steps -> solves XOR.
    net = jaxbp.MLP((2, 2, 1), "sigmoid", "sigmoid")
    params = net.init(jax.random.key(0), dtype=jnp.float32)
    run = data["net"]
    f32 = lambda a: np.asarray(a, np.float32)  # float32 runs embed shortest float32 reprs
    assert np.array_equal(f32(run["frames"][0]["params"][0]["W"]), params[0]["W"])
    trained, _ = jaxbp.fit(net, params, x, y, "cross_entropy", 1.0, 2000)
    close(run["frames"][-1]["params"][1]["W"], trained[1]["W"], 1e-4, 1e-5)
    out = net.apply([{k: jnp.asarray(v, jnp.float32) for k, v in layer.items()}
                     for layer in run["frames"][-1]["params"]], x)
    assert np.array_equal(np.asarray(out) > 0.5, np.asarray(y) > 0.5)


@pytest.mark.slow
def test_write_html_any_net(tmp_path):
    net = jaxbp.MLP((3, 4, 2), "relu", "softmax")
    params = net.init(jax.random.key(0), dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(1), (6, 3), jnp.float64)
    labels = jnp.asarray([0, 1, 1, 0, 1, 0])
    title = "</script><b>3-4-2</b>"
    path = viz.write_html(str(tmp_path / "any.html"), net, params, x, labels,
                          "softmax_cross_entropy", 0.3, 25, frames=10, title=title,
                          notes=["a note"])
    html = path.read_text(encoding="utf-8")
    assert_self_contained(html)
    assert "<title>&lt;/script&gt;&lt;b&gt;3-4-2&lt;/b&gt;</title>" in html
    data = embedded(html)
    assert data["title"] == title and data["notes"] == ["a note"]
    assert np.shape(data["y"]) == (6, 2)  # integer labels are one-hot encoded
    _, grads = jaxbp.autodiff(net, params, x, labels, "softmax_cross_entropy")
    close(data["frames"][1]["params"][1]["W"], params[1]["W"] - 0.3 * grads[1]["W"])


# ---- bad input --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small():
    net = jaxbp.MLP((2, 2, 1))
    return net, net.init(jax.random.key(0), dtype=jnp.float64)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"frames": 1}, ValueError, r"^frames: frames must be an int >= 2 \(step 0 and the last\), got 1"),
    ({"frames": 2.0}, TypeError, r"^frames: frames must be an int >= 2, got float 2\.0"),
    ({"frames": True}, TypeError, r"^frames: frames must be an int >= 2, got bool"),
    ({"steps": 0}, ValueError, r"^frames: steps must be an int > 0, got 0"),
    ({"lr": -0.5}, ValueError, r"^frames: lr must be a finite float > 0, got -0\.5"),
    ({"lr": float("nan")}, ValueError, r"^frames: lr must be a finite float > 0, got nan"),
    ({"lr": "0.1"}, TypeError, r"^frames: lr must be a finite float > 0, got str '0\.1'"),
    ({"max_samples": 0}, ValueError, r"^frames: max_samples must be an int > 0, got 0"),
    ({"title": 3}, TypeError, r"^frames: title must be a str or None, got int"),
    ({"trainable": ({"W": True},)}, ValueError, r"^frames: trainable must be None, a bool, or a pytree"),
    ({"cost": "quadratc"}, ValueError, r"^frames: unknown cost 'quadratc'.*did you mean 'quadratic'"),
    ({"y": [[0.0], [1.0]]}, ValueError, r"^frames: x has 4 rows but y has 2"),
])
def test_bad_arguments(small, kwargs, error, message):
    net, params = small
    args = dict(net=net, params=params, x=XOR_X, y=XOR_Y, cost="quadratic", lr=1.0, steps=5)
    args.update(kwargs)
    with pytest.raises(error, match=message):
        viz.frames(**args)


@pytest.mark.slow
def test_divergence_raises(small):
    net = jaxbp.MLP((2, 3, 1), "identity", "identity")
    params = net.init(jax.random.key(0), dtype=jnp.float64)
    with pytest.raises(jaxbp.NonFiniteError, match=r"^frames: non-finite loss at step \d+; last finite loss"):
        viz.frames(net, params, [[30.0, -40.0]], [[1.0]], "quadratic", 50.0, 200, frames=4)


def test_bad_demo_arguments(tmp_path, small):
    with pytest.raises(ValueError, match=r"^write_explain_html: unknown example_name 'mazr'; expected "
                                         r"one of .*'mazur'.*\(did you mean 'mazur'\?\)"):
        viz.write_explain_html(tmp_path / "a.html", "mazr")
    with pytest.raises(ValueError, match=r"^write_gates_html: unknown gate 'XOR'.*did you mean 'xor'"):
        viz.write_gates_html(tmp_path / "a.html", "XOR")
    with pytest.raises(TypeError, match=r"^write_gates_html: seed must be an int, got str"):
        viz.write_gates_html(tmp_path / "a.html", "xor", seed="0")
    with pytest.raises(FileNotFoundError, match=r"^write_html: directory '.*missing' does not exist"):
        viz.write_html(tmp_path / "missing" / "a.html", small[0], small[1], XOR_X, XOR_Y,
                       "quadratic", 1.0, 5)
    with pytest.raises(TypeError, match=r"^write_explain_html: path must be a str or os\.PathLike, got int"):
        viz.write_explain_html(3)
    assert list(tmp_path.iterdir()) == []
