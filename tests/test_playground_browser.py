"""The live playground in a real browser (headless Debian chromium driven by Playwright,
skipped with the reason when either is missing; see tests/test_viz_browser.py).

Proof, not trust: for the page's own data and initial weights, ``n`` updates of the page's
JavaScript backprop equal ``jaxbp.fit`` in float64 to 1e-9 on every parameter -- for every
data set, activation, cost and regulariser. L1 (which jaxbp.fit has no term for) is checked
against an independent loop: ``jax.grad`` of ``jaxbp.loss + l1 * sum|W|`` with ``optax.sgd``.
"""
import base64
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxbp
from jaxbp import playground
from test_viz_browser import Page, browser  # noqa: F401  (the chromium fixture)

pytestmark = pytest.mark.slow  # a real browser (chromium): left out of the inner loop


@pytest.fixture(scope="module")
def page(browser, tmp_path_factory):  # noqa: F811
    path = playground.playground(tmp_path_factory.mktemp("pg") / "playground.html")
    p = Page(browser, path)
    yield p
    p.check_clean()


def run(page, n, **settings):
    """The page's state before and after ``n`` updates with ``settings``."""
    page.page.evaluate("s => jaxbp.set(s)", settings)
    before = page.page.evaluate("jaxbp.state()")
    after = page.page.evaluate(f"jaxbp.step({n})")
    return before, after


def as_params(state):
    return tuple({"W": jnp.asarray(l["W"], jnp.float64), "b": jnp.asarray(l["b"], jnp.float64)}
                 for l in state["params"])


def net_of(settings):
    return jaxbp.MLP(tuple(settings["sizes"]), activations=tuple(settings["activations"]))


def assert_same_params(got, expected, tol=1e-9):
    assert len(got) == len(expected)
    for l, (g, e) in enumerate(zip(got, expected)):
        for k in ("W", "b"):
            g_, e_ = np.asarray(g[k], np.float64), np.asarray(e[k], np.float64)
            assert g_.shape == e_.shape, (l, k)
            err = np.max(np.abs(g_ - e_) / np.maximum(1.0, np.abs(e_)))
            assert err <= tol, f"layer {l} {k}: max difference {err:.3g}"


def reference_l1(net, params, x, y, cost, lr, l1, l2, steps):
    """An independent reference for L1: a plain loop of jax.grad and optax.sgd."""
    def total(p):
        return jaxbp.loss(net, p, x, y, cost, l2=l2) + l1 * sum(jnp.sum(jnp.abs(q["W"])) for q in p)
    opt = optax.sgd(lr)
    state = opt.init(params)
    grad = jax.jit(jax.grad(total))
    for _ in range(steps):
        updates, state = opt.update(grad(params), state, params)
        params = optax.apply_updates(params, updates)
    return params


# The grid: every data set (the six gates and the four Playground sets), every hidden and
# output activation, every cost, no regulariser / L2 / L1 / both, several feature sets.
slow = pytest.mark.slow   # still run in CI; left out of quick local runs (-m "not slow")
GRID = [
    dict(dataset="xor", sizes=[2, 2, 1], activations=["sigmoid", "sigmoid"], cost="cross_entropy", lr=1.0),
    pytest.param(dict(dataset="and", sizes=[2, 3, 1], activations=["tanh", "sigmoid"], cost="quadratic", lr=0.5), marks=slow),
    dict(dataset="or", sizes=[2, 3, 1], activations=["relu", "identity"], cost="quadratic", lr=0.1),
    pytest.param(dict(dataset="nand", sizes=[2, 2, 1], activations=["identity", "sigmoid"], cost="cross_entropy", lr=0.5, l2=0.01), marks=slow),
    dict(dataset="nor", sizes=[2, 3, 2], activations=["tanh", "softmax"], cost="softmax_cross_entropy", lr=0.5),
    pytest.param(dict(dataset="xnor", sizes=[2, 4, 1], activations=["sigmoid", "tanh"], cost="quadratic", lr=0.3, seed=3), marks=slow),
    dict(dataset="circle", sizes=[4, 5, 1], activations=["tanh", "sigmoid"], cost="cross_entropy", lr=0.05,
         features=["x1", "x2", "x1sq", "x2sq"], l2=0.001, noise=0.1),
    pytest.param(dict(dataset="xor_quadrants", sizes=[3, 4, 2], activations=["relu", "softmax"], cost="softmax_cross_entropy",
         lr=0.02, features=["x1", "x2", "x1x2"], seed=7), marks=slow),
    pytest.param(dict(dataset="gauss", sizes=[2, 3, 1], activations=["sigmoid", "sigmoid"], cost="quadratic", lr=0.2, noise=0.2), marks=slow),
    dict(dataset="spiral", sizes=[7, 6, 5, 1], activations=["tanh", "relu", "sigmoid"], cost="cross_entropy",
         lr=0.01, features=list(playground.FEATURES), noise=0.05, train_fraction=0.7),
    pytest.param(dict(dataset="spiral", sizes=[2, 8, 8, 1], activations=["identity", "tanh", "sigmoid"], cost="quadratic",
         lr=0.02, l2=0.003), marks=slow),
]
L1_GRID = [
    dict(dataset="xor", sizes=[2, 3, 1], activations=["tanh", "sigmoid"], cost="cross_entropy", lr=0.5, l1=0.01),
    dict(dataset="circle", sizes=[2, 4, 1], activations=["relu", "sigmoid"], cost="quadratic", lr=0.05,
         l1=0.003, l2=0.002),
    pytest.param(dict(dataset="gauss", sizes=[2, 3, 2], activations=["sigmoid", "softmax"], cost="softmax_cross_entropy",
         lr=0.1, l1=0.001), marks=slow),
]
STEPS = 40


def case_id(s):
    return f"{s['dataset']}-{'-'.join(s['activations'])}-{s['cost']}"


@pytest.mark.parametrize("settings", GRID, ids=case_id)
def test_page_steps_equal_jaxbp_fit(page, settings):
    settings = dict(settings, batch_size=1000)   # full batch: jaxbp.fit's batch_size=None
    before, after = run(page, STEPS, **settings)
    s = page.page.evaluate("jaxbp.settings()")
    assert s["sizes"] == settings["sizes"] and s["activations"] == settings["activations"]
    net = net_of(s)
    x, y = jnp.asarray(before["x"]), jnp.asarray(before["y"])
    assert x.shape == (len(before["labels"]), s["sizes"][0]) and y.shape[1] == s["sizes"][-1]
    params = as_params(before)
    l2 = settings.get("l2", 0.0)
    trained, history = jaxbp.fit(net, params, x, y, settings["cost"], optax.sgd(settings["lr"]),
                                 STEPS, l2=l2)
    assert after["step"] == STEPS
    assert_same_params(after["params"], trained)
    # the page's loss is jaxbp.loss on the whole training set, at the first and last params
    assert abs(before["loss"] - float(history[0])) <= 1e-9 * max(1, abs(float(history[0])))
    final = float(jaxbp.loss(net, trained, x, y, settings["cost"], l2=l2))
    assert abs(after["loss"] - final) <= 1e-9 * max(1, abs(final))


@pytest.mark.parametrize("settings", L1_GRID, ids=lambda s: f"{s['dataset']}-l1")
def test_page_l1_equals_an_independent_jax_grad_loop(page, settings):
    settings = dict(settings, batch_size=1000)
    before, after = run(page, STEPS, **settings)
    s = page.page.evaluate("jaxbp.settings()")
    x, y = jnp.asarray(before["x"]), jnp.asarray(before["y"])
    expected = reference_l1(net_of(s), as_params(before), x, y, settings["cost"], settings["lr"],
                            settings["l1"], settings.get("l2", 0.0), STEPS)
    assert_same_params(after["params"], expected)
    # and L1 changes the result (the test would notice a page that ignored it)
    _, plain = run(page, STEPS, **dict(settings, l1=0.0))
    assert np.max(np.abs(np.asarray(plain["params"][0]["W"]) - np.asarray(after["params"][0]["W"]))) > 1e-6


def test_minibatches_follow_the_reported_batches(page):
    """Mini-batches: each update uses the rows the page reports (``state().batch``); the same
    updates from jaxbp.backprop on those rows give the same params."""
    settings = dict(dataset="circle", sizes=[2, 4, 1], activations=["tanh", "sigmoid"], cost="cross_entropy",
                    lr=0.1, batch_size=7, l2=0.001)
    before, _ = run(page, 0, **settings)
    net, params = net_of(page.page.evaluate("jaxbp.settings()")), as_params(before)
    x, y = jnp.asarray(before["x"]), jnp.asarray(before["y"])
    # 60 updates (more than one epoch of 200 // 7 = 28 batches), noting each one's rows
    got = page.page.evaluate("""() => { const batches = [];
        for (let k = 0; k < 60; k++) batches.push(jaxbp.step(1).batch);
        return {batches, params: jaxbp.state().params}; }""")
    seen = got["batches"]
    assert all(len(b) == 7 for b in seen)
    backprop = jax.jit(lambda p, xb, yb: jaxbp.backprop(net, p, xb, yb, "cross_entropy", l2=0.001))
    for batch in seen:
        _, grads = backprop(params, x[jnp.asarray(batch)], y[jnp.asarray(batch)])
        params = jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads)
    assert_same_params(got["params"], params)
    # an epoch visits distinct rows, and a new epoch reshuffles
    first_epoch = sum(seen[:28], [])
    assert len(set(first_epoch)) == 28 * 7
    assert seen[28] != seen[0]


def test_learning_rate_and_l2_change_without_reset(page):
    settings = dict(dataset="xor", sizes=[2, 2, 1], activations=["sigmoid", "sigmoid"], cost="cross_entropy",
                    lr=1.0, batch_size=4)
    before, mid = run(page, 10, **settings)
    page.page.evaluate("jaxbp.change({lr: 0.25, l2: 0.01})")
    after = page.page.evaluate("jaxbp.step(10)")
    assert after["step"] == 20
    net, x, y = net_of(page.page.evaluate("jaxbp.settings()")), jnp.asarray(before["x"]), jnp.asarray(before["y"])
    p1, _ = jaxbp.fit(net, as_params(before), x, y, "cross_entropy", optax.sgd(1.0), 10)
    assert_same_params(mid["params"], p1)
    p2, _ = jaxbp.fit(net, p1, x, y, "cross_entropy", optax.sgd(0.25), 10, l2=0.01)
    assert_same_params(after["params"], p2)


def test_the_data_is_what_it_says(page):
    """Gates: the truth table of jaxbp.gates; the features: computed from the raw points."""
    for gate in jaxbp.gates.NAMES:
        before, _ = run(page, 0, dataset=gate, sizes=[2, 2, 1], activations=["tanh", "sigmoid"],
                        cost="cross_entropy")
        x, y = jaxbp.gates.truth_table(gate)
        np.testing.assert_array_equal(before["x"], np.asarray(x))
        np.testing.assert_array_equal(before["y"], np.asarray(y))
    before, _ = run(page, 0, dataset="spiral", sizes=[7, 3, 1], activations=["tanh", "sigmoid"],
                    cost="cross_entropy", features=list(playground.FEATURES), noise=0.1)
    p = np.asarray(before["points"])
    x1, x2 = p[:, 0], p[:, 1]
    expected = np.stack([x1, x2, x1 ** 2, x2 ** 2, x1 * x2, np.sin(x1), np.sin(x2)], axis=1)
    np.testing.assert_allclose(before["x"], expected, rtol=1e-15, atol=0)
    assert len(before["x"]) == 200 and set(before["labels"]) == {0, 1}
    # the same seed gives the same data; another seed other data
    again, _ = run(page, 0, dataset="spiral", sizes=[7, 3, 1], activations=["tanh", "sigmoid"],
                   cost="cross_entropy", features=list(playground.FEATURES), noise=0.1)
    assert again["x"] == before["x"] and again["params"] == before["params"]
    other, _ = run(page, 0, dataset="spiral", sizes=[7, 3, 1], activations=["tanh", "sigmoid"],
                   cost="cross_entropy", features=list(playground.FEATURES), noise=0.1, seed=1)
    assert other["x"] != before["x"]


def test_exported_params_load_in_jaxbp(page, tmp_path):
    settings = dict(dataset="circle", sizes=[2, 5, 3, 1], activations=["relu", "tanh", "sigmoid"],
                    cost="cross_entropy", lr=0.05)
    _, after = run(page, 25, **settings)
    path = tmp_path / "net.npz"
    path.write_bytes(base64.b64decode(page.page.evaluate("jaxbp.exportParams()")))
    net, params = jaxbp.load(path)
    assert net == jaxbp.MLP((2, 5, 3, 1), activations=("relu", "tanh", "sigmoid"))
    for got, want in zip(params, after["params"]):
        assert got["W"].dtype == jnp.float64
        np.testing.assert_array_equal(got["W"], np.asarray(want["W"]))   # bit-exact
        np.testing.assert_array_equal(got["b"], np.asarray(want["b"]))
    run_json = page.page.evaluate("jaxbp.exportRun()")
    assert run_json["format"] == "jaxbp.playground/1" and run_json["step"] == 25
    assert run_json["params"] == after["params"] and run_json["settings"]["dataset"] == "circle"


def test_url_hash_round_trip_and_hidden_controls(browser, tmp_path):  # noqa: F811
    path = playground.playground(tmp_path / "p.html")
    settings = dict(dataset="spiral", seed=5, sizes=[3, 6, 4, 1], activations=["relu", "tanh", "sigmoid"],
                    cost="quadratic", lr=0.125, batch_size=17, l1=0.001, l2=0.0005,
                    features=["x1", "x2", "sinx1"], noise=0.15, train_fraction=0.6)
    first = Page(browser, path)
    first.page.evaluate("s => jaxbp.set(s)", settings)
    want = first.page.evaluate("jaxbp.settings()")
    for k, v in settings.items():
        assert want[k] == v, k
    hash_ = first.page.evaluate("location.hash")
    assert hash_ == first.page.evaluate("jaxbp.hash()")
    state = first.page.evaluate("jaxbp.state()")
    second = Page(browser, Path(path).as_uri() + hash_ + "&hide=lr,cost")
    assert second.page.evaluate("jaxbp.settings()") == want
    assert second.page.evaluate("jaxbp.state()")["params"] == state["params"]   # same seed, same net
    assert not second.page.is_visible("#lr") and not second.page.is_visible("#cost")
    assert second.page.is_visible("#batch_size")
    third = Page(browser, Path(path).as_uri() + hash_ + "&batch_size_hide=true")   # the Playground's form
    assert not third.page.is_visible("#batch_size") and third.page.is_visible("#cost")
    assert third.page.evaluate("jaxbp.settings()") == want
    for p in (first, second, third):
        p.check_clean()


def test_divergence_is_warned_before_nan(page):
    """A learning rate far above 2 / lambda_max: the page warns while the loss is still finite."""
    settings = dict(dataset="gauss", sizes=[2, 4, 1], activations=["identity", "identity"], cost="quadratic",
                    lr=0.3, batch_size=1000)
    run(page, 0, **settings)
    lam = page.page.evaluate("jaxbp.sharpness()")
    # lambda_max independently: the Hessian of jaxbp.loss by jax.hessian, on the same rows
    before = page.page.evaluate("jaxbp.state()")
    net, params = net_of(page.page.evaluate("jaxbp.settings()")), as_params(before)
    x, y = jnp.asarray(before["x"][:200]), jnp.asarray(before["y"][:200])
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    H = jax.jit(jax.hessian(lambda v: jaxbp.loss(net, unravel(v), x, y, "quadratic")))(flat)
    eig = np.linalg.eigvalsh(np.asarray(H))
    np.testing.assert_allclose(lam, eig[np.argmax(np.abs(eig))], rtol=1e-3)
    assert 0.3 > 2 / lam
    state = page.page.evaluate("jaxbp.step(1)")
    assert "2/λmax" in state["warning"] and np.isfinite(state["loss"])
    state = page.page.evaluate("""() => { let s;
        for (let k = 0; k < 50; k++) { s = jaxbp.step(1); if (s.warning.includes("rose")) break; }
        return s; }""")
    assert "rose at each of the last 5" in state["warning"] and np.isfinite(state["loss"])


def test_playground_screenshots(page):
    """Screenshots for docs/playground.md (kept when JAXBP_SCREENSHOTS is set)."""
    run(page, 0, dataset="xor_quadrants", sizes=[2, 4, 2, 1], activations=["tanh", "tanh", "sigmoid"],
        cost="cross_entropy", lr=0.03, batch_size=10)
    page.page.evaluate("() => { for (let k = 0; k < 30; k++) jaxbp.step(20); }")   # 30 points of the curves
    page.check_not_blank("playground.png")
    page.page.select_option("#view", "delta")
    page.page.select_option("#edges", "dC/dw")
    page.page.hover("#unit-1-0")
    assert "BP3" in page.text("#info")
    page.check_not_blank("playground-deltas.png")
    page.page.select_option("#view", "activation")
    page.page.select_option("#edges", "w")


@pytest.mark.slow
def test_benchmark_spiral_6x8(page):
    """Steps per second on the spiral with six hidden layers of 8 tanh units, batch 10, and
    redraws per second while playing (the loop yields to the page after each slice)."""
    run(page, 0, dataset="spiral", sizes=[2] + [8] * 6 + [1], activations=["tanh"] * 6 + ["sigmoid"],
        cost="cross_entropy", lr=0.03, batch_size=10)
    steps_per_s = page.page.evaluate("jaxbp.bench(2000)")
    page.page.bring_to_front()   # a hidden tab gets no animation frames
    r0 = page.page.evaluate("jaxbp.perf()")
    page.page.evaluate("jaxbp.play()")
    page.page.wait_for_timeout(3000)
    page.page.evaluate("jaxbp.pause()")
    r1 = page.page.evaluate("jaxbp.perf()")
    redraws_per_s = (r1["redraws"] - r0["redraws"]) / 3.0
    played = (r1["steps"] - r0["steps"]) / 3.0
    line = (f"spiral 2-8x6-1 tanh, batch 10: {steps_per_s:.0f} steps/s (synchronous); while playing "
            f"{played:.0f} steps/s and {redraws_per_s:.0f} redraws/s")
    print(line)
    if os.environ.get("JAXBP_BENCH_OUT"):
        Path(os.environ["JAXBP_BENCH_OUT"]).write_text(line + "\n")
    assert steps_per_s > 1000
    # >= 30 redraws a second on this machine when it is not shared; a loaded machine (load
    # average above its cores) only shows that the loop keeps yielding to the page
    loaded = os.getloadavg()[0] > (os.cpu_count() or 1)
    assert redraws_per_s >= (5 if loaded else 30), (line, os.getloadavg())


def test_your_own_data_multiclass_and_csv_drop(browser, tmp_path):  # noqa: F811
    """Three classes from Python (softmax output) train as jaxbp.fit does; a CSV dropped on
    the page becomes the data set."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2))
    labels = np.argmax(x @ np.array([[1.0, -1.0, 0.2], [0.3, 0.5, -1.0]]), axis=1)
    path = playground.playground(tmp_path / "own.html", x, labels, sizes=[2, 5, 3],
                                 activations=["tanh", "softmax"], cost="softmax_cross_entropy",
                                 lr=0.3, batch_size=1000, train_fraction=1.0)
    p = Page(browser, path)
    before = p.page.evaluate("jaxbp.state()")
    after = p.page.evaluate("jaxbp.step(30)")
    order = np.lexsort(np.asarray(before["points"]).T[::-1])
    np.testing.assert_array_equal(np.asarray(before["points"])[order], x[np.lexsort(x.T[::-1])])
    np.testing.assert_array_equal(np.asarray(before["y"]), np.eye(3)[before["labels"]])
    net = jaxbp.MLP((2, 5, 3), activations=("tanh", "softmax"))
    trained, _ = jaxbp.fit(net, as_params(before), jnp.asarray(before["x"]), jnp.asarray(before["y"]),
                           "softmax_cross_entropy", optax.sgd(0.3), 30)
    assert_same_params(after["params"], trained)
    csv = "x1,x2,label\n0,0,0\n1,0,1\n0,1,1\n1,1,0\n2,2,0\n"
    p.page.evaluate("""csv => { const dt = new DataTransfer();
        dt.items.add(new File([csv], "mine.csv", {type: "text/csv"}));
        document.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true})); }""", csv)
    p.page.wait_for_function("jaxbp.state().points.length + jaxbp.state().x_test.length === 5 "
                             "&& jaxbp.settings().dataset === 'custom'", timeout=5000)
    s = p.page.evaluate("jaxbp.settings()")
    assert s["sizes"][0] == 2 and s["sizes"][-1] == 2   # two classes, softmax output kept
    p.check_clean()


LESSON = ("#dataset=xor&seed=0&sizes=2-1&activations=sigmoid&cost=cross_entropy&lr=1"
          "&batch_size=4&hide=dataset,features,noise,train_fraction,l1,l2,cost,history")


def test_links_and_runs_of_version_0_2_0_still_load(browser, tmp_path):  # noqa: F811
    """0.2.0 called the learning rate learning_rate: its links (hash and hide list) and its
    exported runs' settings load with that value as lr; lr wins when a link has both."""
    path = playground.playground(tmp_path / "old.html")
    old_link = LESSON.replace("&lr=1", "&learning_rate=0.5").replace("hide=", "hide=learning_rate,")
    p = Page(browser, path.as_uri() + old_link)
    s = p.page.evaluate("jaxbp.settings()")
    assert s["lr"] == 0.5 and "learning_rate" not in s and s["sizes"] == [2, 1]
    assert not p.page.is_visible("#lr") and p.page.is_visible("#batch_size")
    assert "&lr=0.5&" in p.page.evaluate("location.hash")              # rewritten in the new name
    assert "learning_rate" not in p.page.evaluate("location.hash")
    assert p.page.evaluate("jaxbp.fromHash('#lr=0.2&learning_rate=0.7').settings") == {"lr": 0.2}
    # an exported run of 0.2.0: its settings as they were saved
    old_run = dict(dataset="xor", seed=2, sizes=[2, 2, 1], activations=["sigmoid", "sigmoid"],
                   cost="cross_entropy", learning_rate=0.75, batch_size=4, l1=0.0, l2=0.0,
                   features=["x1", "x2"], noise=0.0, train_fraction=0.5, stop_loss=0.0, stop_step=0)
    s = p.page.evaluate("s => jaxbp.set(s)", old_run)
    assert s["lr"] == 0.75 and "learning_rate" not in s and s["seed"] == 2
    # and the old name in a change: a new rate without a reset, not ignored
    assert p.page.evaluate("jaxbp.change({learning_rate: 0.25})")["lr"] == 0.25
    assert "&lr=0.25&" in p.page.evaluate("location.hash")
    p.check_clean()


def test_xor_lesson_link(browser, tmp_path):  # noqa: F811
    """docs/playground.md's lesson: with no hidden layer XOR stays at 50% (loss ln 2); one
    click on "+ layer" (2 sigmoid units) and it is learned."""
    path = playground.playground(tmp_path / "lesson.html")
    p = Page(browser, path.as_uri() + LESSON)
    s = p.page.evaluate("jaxbp.settings()")
    assert (s["dataset"], s["sizes"], s["activations"], s["lr"]) == ("xor", [2, 1], ["sigmoid"], 1.0)
    assert not p.page.is_visible("#dataset") and not p.page.is_visible("#cost")
    state = p.page.evaluate("jaxbp.step(1000)")
    assert state["accuracy"] == 0.5 and abs(state["loss"] - np.log(2)) < 1e-6
    p.page.click("#add-layer")
    s = p.page.evaluate("jaxbp.settings()")
    assert s["sizes"] == [2, 2, 1] and s["activations"] == ["sigmoid", "sigmoid"]
    state = p.page.evaluate("jaxbp.step(1000)")
    assert state["accuracy"] == 1.0 and state["loss"] < 0.05
    p.check_not_blank("playground-xor-lesson.png")
    p.check_clean()


def test_history_scrubber_branches(page):
    """Back to a recorded step, then on with a new learning rate: the branch equals jaxbp.fit
    from that step's params."""
    settings = dict(dataset="and", sizes=[2, 2, 1], activations=["sigmoid", "sigmoid"], cost="cross_entropy",
                    lr=1.0, batch_size=4)
    before, _ = run(page, 0, **settings)
    at20 = None
    for _ in range(3):
        state = page.page.evaluate("jaxbp.step(10)")
        if state["step"] == 20:
            at20 = state
    page.page.evaluate("jaxbp.scrub(2)")          # recorded steps 0, 10, 20, 30
    back = page.page.evaluate("jaxbp.state()")
    assert back["step"] == 20 and back["params"] == at20["params"]
    assert page.page.get_attribute("#scrub", "max") == "2"   # the later history is dropped
    page.page.evaluate("jaxbp.change({lr: 0.5})")
    after = page.page.evaluate("jaxbp.step(10)")
    assert after["step"] == 30
    net, x, y = net_of(page.page.evaluate("jaxbp.settings()")), jnp.asarray(before["x"]), jnp.asarray(before["y"])
    branch, _ = jaxbp.fit(net, as_params(at20), x, y, "cross_entropy", optax.sgd(0.5), 10)
    assert_same_params(after["params"], branch)


def test_buttons_stop_conditions_and_weight_editing(page):
    run(page, 0, dataset="xor", sizes=[2, 2, 1], activations=["sigmoid", "sigmoid"], cost="cross_entropy",
        lr=1.0, batch_size=2, stop_step=37)
    page.page.click("#step1")
    assert page.page.evaluate("jaxbp.state().step") == 1
    page.page.click("#epoch1")                     # 4 rows, batch 2: an epoch is 2 updates
    assert page.page.evaluate("jaxbp.state().step") == 3
    page.page.bring_to_front()
    page.page.click("#play")
    page.page.wait_for_function("!jaxbp.playing()", timeout=10000)
    state = page.page.evaluate("jaxbp.state()")
    assert state["step"] == 37 and "reached step 37" in state["stopped"]
    # stop at a loss
    run(page, 0, dataset="xor", sizes=[2, 2, 1], activations=["sigmoid", "sigmoid"], cost="cross_entropy",
        lr=1.0, batch_size=4, stop_loss=0.3, seed=1)
    page.page.click("#play")
    page.page.wait_for_function("!jaxbp.playing()", timeout=20000)
    state = page.page.evaluate("jaxbp.state()")
    assert state["loss"] <= 0.3 and "training loss" in state["stopped"]
    # click an edge, type a weight
    page.page.once("dialog", lambda d: d.accept("0.625"))
    page.page.click("#w-0-1-0", force=True)
    assert page.page.evaluate("jaxbp.state().params[0].W[1][0]") == 0.625
    # hover shows the exact numbers of BP4
    page.page.hover("#w-1-0-0", force=True)
    assert "dC/dw" in page.text("#info") and "BP4" in page.text("#info")


def test_training_stops_before_a_weight_becomes_non_finite(page):
    run(page, 0, dataset="gauss", sizes=[2, 3, 1], activations=["identity", "identity"], cost="quadratic",
        lr=50.0, batch_size=1000)
    state = page.page.evaluate("jaxbp.step(2000)")
    assert 0 < state["step"] < 2000 and "non-finite" in state["stopped"]
    assert all(np.isfinite(np.asarray(l["W"])).all() for l in state["params"])


def test_bad_settings_are_refused_with_a_reason(page):
    run(page, 0, dataset="xor", sizes=[2, 2, 1], activations=["sigmoid", "sigmoid"], cost="cross_entropy")
    for bad, words in (({"lr": -1}, "lr must be a finite number > 0"),
                       ({"sizes": [2, 0, 1]}, "sizes must be whole numbers"),
                       ({"activations": ["softmax", "sigmoid"]}, "activations[0] must be one of"),
                       ({"cost": "softmax_cross_entropy"}, "needs a softmax output layer"),
                       ({"dataset": "moons"}, "dataset must be one of")):
        message = page.page.evaluate("s => { try { jaxbp.set(Object.assign(jaxbp.settings(), s)); return ''; } "
                                     "catch (e) { return e.message; } }", bad)
        assert words in message, (bad, message)
    # a bad value typed into a control is refused on the page, and the net is kept
    step = page.page.evaluate("jaxbp.step(3).step")
    page.page.fill("#lr", "-2")
    page.page.dispatch_event("#lr", "change")
    assert "lr must be" in page.text("#warning")
    assert page.page.evaluate("jaxbp.state().step") == step and page.page.evaluate("jaxbp.settings().lr") > 0


def test_params_file_checksums_equal_pythons(page):
    """npz.js's SHA-256 and CRC-32 equal hashlib's and zlib's, around the block boundaries."""
    import hashlib
    import zlib
    for n in (0, 1, 55, 56, 63, 64, 65, 119, 120, 1000):
        data = bytes((7 * i + 3) % 256 for i in range(n))
        got = page.page.evaluate("b => [NPZ.sha256hex(new Uint8Array(b)), NPZ.crc32(new Uint8Array(b))]", list(data))
        assert got == [hashlib.sha256(data).hexdigest(), zlib.crc32(data)], n
