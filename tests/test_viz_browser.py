"""The jaxbp.viz pages in a real browser: Debian's chromium (``apt-get install -y chromium``)
driven by Playwright's Python package (``pip install playwright``; no browser download).

Skipped, with the reason, when either is missing. Set ``JAXBP_CHROMIUM`` to use another
chromium binary, and ``JAXBP_SCREENSHOTS`` to a directory to keep the screenshots.
"""
import io
import os
import shutil
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbp
from jaxbp import viz

pytestmark = pytest.mark.slow  # a real browser (chromium): left out of the inner loop

CHROMIUM = os.environ.get("JAXBP_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        pytest.skip("browser test skipped: the 'playwright' Python package is not installed "
                    "(pip install playwright; it drives the system chromium, no download)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"browser test skipped: no chromium executable at {CHROMIUM} "
                    f"(apt-get install -y chromium, or set JAXBP_CHROMIUM)")
    profile = tempfile.mkdtemp(prefix="jaxbp-chromium-profile-")  # a fresh --user-data-dir
    try:
        with sync_playwright() as p:
            try:
                context = p.chromium.launch_persistent_context(
                    profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
                    viewport={"width": 1280, "height": 900}, offline=True)
            except Error as e:
                pytest.skip(f"browser test skipped: chromium at {CHROMIUM} did not start: {e}")
            yield context
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class Page:
    """A page opened from disk (a path, or a file: URL with a hash), recording console errors, page errors and every request."""

    def __init__(self, context, path):
        self.page = context.new_page()
        self.problems, self.requests = [], []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(m.text))
        self.page.on("pageerror", lambda e: self.problems.append(f"uncaught: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path if str(path).startswith("file:") else Path(path).as_uri())
        self.page.wait_for_selector("body[data-ready=true]", timeout=15000)

    def text(self, selector):
        return self.page.inner_text(selector)

    def press(self, key, times=1):
        for _ in range(times):
            self.page.keyboard.press(key)

    def check_clean(self):
        assert self.problems == []
        assert self.requests and all(u.startswith(("file://", "data:")) for u in self.requests), \
            self.requests

    def check_not_blank(self, name):
        from PIL import Image
        png = self.page.screenshot(full_page=True)
        if os.environ.get("JAXBP_SCREENSHOTS"):
            Path(os.environ["JAXBP_SCREENSHOTS"], name).write_bytes(png)
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        assert pixels.std() > 15, "the screenshot is (nearly) blank"
        packed = pixels.astype(np.int32) @ np.array([65536, 256, 1], np.int32)
        assert len(np.unique(packed)) > 200  # text, lines and regions
        # every decision-region canvas has been drawn (shaded, with points and lines)
        colours = self.page.evaluate("""() => [...document.querySelectorAll('canvas.plane')].map(c => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, seen = new Set();
            for (let i = 0; i < d.length; i += 4) seen.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]);
            return seen.size; })""")
        return colours


def nine(v):
    """How the page prints a number: 9 significant digits, like format(v, "#.9g")."""
    return format(float(v), "#.9g")


def test_mazur_page_in_chromium(browser, tmp_path):
    ex = jaxbp.examples.mazur()
    tr = jaxbp.trace(ex.net, ex.params, ex.x, ex.y, ex.cost)
    once, errors = jaxbp.examples.train_example(ex, 1)
    trained, history = jaxbp.examples.train_example(ex, 10000)
    page = Page(browser, viz.write_explain_html(tmp_path / "mazur.html"))

    # step 0: the tutorial's forward and backward pass
    assert page.text("#net-label") == "step 0 of 10000"
    assert page.text("#net-w5-value") == "0.400000000"
    assert page.text("#net-o1-a") == nine(tr.activations[2][0, 0]) == "0.751365070"
    assert page.text("#net-o1-delta") == nine(tr.deltas[1][0, 0])
    assert page.text("#net-h1-delta") == nine(tr.deltas[0][0, 0])
    assert page.text("#net-w5-grad") == nine(tr.grads[1]["W"][0, 0])
    assert page.text("#net-w1-grad") == nine(tr.grads[0]["W"][0, 0])
    assert page.text("#net-loss") == "loss C = " + nine(tr.loss)
    assert page.text("#net-w5-next") == nine(once[1]["W"][0, 0])

    # the keyboard: one step right is the first update
    page.page.focus("#net-slider")
    page.press("ArrowRight")
    assert page.text("#net-label") == "step 1 of 10000"
    assert page.text("#net-w5-value") == nine(once[1]["W"][0, 0]) == "0.358916480"
    assert page.text("#net-w1-value") == nine(once[0]["W"][0, 0])
    assert page.text("#net-loss") == "loss C = " + nine(errors[1])

    # setting the slider's value (an input event) jumps to the last frame
    page.page.eval_on_selector("#net-slider", "el => { el.value = el.max; "
                               "el.dispatchEvent(new Event('input', {bubbles: true})); }")
    assert page.text("#net-label") == "step 10000 of 10000"
    assert page.text("#net-loss") == "loss C = " + nine(history[-1])
    out = ex.net.apply(trained, ex.x)
    assert page.text("#net-o1-a") == nine(out[0, 0]) and page.text("#net-o2-a") == nine(out[0, 1])
    assert page.text("#net-h1-b") == "0.350000000" and page.text("#net-h1-bnext") == "frozen"

    # space plays and pauses; Home goes back to step 0
    page.press("Home")
    assert page.text("#net-label") == "step 0 of 10000"
    page.press("Space")
    assert page.page.get_attribute("#net-play", "aria-pressed") == "true"
    page.page.wait_for_function("+document.getElementById('net-slider').value >= 3", timeout=10000)
    page.press("Space")
    assert page.page.get_attribute("#net-play", "aria-pressed") == "false"
    paused = page.text("#net-label")
    page.page.wait_for_timeout(300)
    assert page.text("#net-label") == paused != "step 0 of 10000"

    # the labelled controls
    assert page.page.get_attribute("#net-slider", "aria-valuetext") == paused
    assert page.page.locator("label[for=net-slider]").inner_text() == "Training step"
    colours = page.check_not_blank("mazur.png")
    assert len(colours) == 1 and colours[0] > 20
    page.check_clean()


def test_gates_page_in_chromium(browser, tmp_path):
    x, y = jaxbp.gates.truth_table("xor")
    res = jaxbp.perceptron.fit(x, y, lr=1.0, max_epochs=100)
    net = jaxbp.MLP((2, 2, 1), "sigmoid", "sigmoid")
    params = net.init(jax.random.key(0), dtype=jnp.float32)
    trained, _ = jaxbp.fit(net, params, x, y, "cross_entropy", 1.0, 2000)
    page = Page(browser, viz.write_gates_html(tmp_path / "gates.html"))

    # it opens on the outcome: the trained net classifies all four right, the perceptron cycles
    assert page.text("#net-label") == "step 2000 of 2000"
    assert page.text("#net-correct") == "; classified right: 4 of 4"
    assert page.text("#perceptron-label").startswith("final weights after")
    page.page.focus("#net-slider")
    page.press("Home")

    # step 0 of the float32 network: the update column is the first gradient-descent step
    once, _ = jaxbp.fit(net, params, x, y, "cross_entropy", 1.0, 1)
    for name, value in (("w1", once[0]["W"][0, 0]), ("w6", once[1]["W"][1, 0])):
        np.testing.assert_allclose(float(page.text(f"#net-{name}-next")), float(value), rtol=1e-6)
    assert page.text("#net-w1-value") == nine(params[0]["W"][0, 0])  # exact float32 values

    # the perceptron, one presented sample per key press: after 4, epoch 2 starts
    page.page.focus("#perceptron-slider")
    page.press("Home")
    page.press("ArrowRight", 4)
    assert page.text("#perceptron-label") == "epoch 2, sample 1 of 4"
    w, b = np.asarray(res.w_history[1]), float(res.b_history[1])
    f4 = lambda v: format(float(v), "#.4g")
    assert page.text("#perceptron-status").startswith(f"w = ({f4(w[0])}, {f4(w[1])}), b = {f4(b)};")
    assert "Never converges" in page.text("#perceptron-verdict")

    # the network after training classifies all four right
    page.page.focus("#net-slider")
    page.press("End")
    assert page.text("#net-label") == "step 2000 of 2000"
    assert page.text("#net-correct") == "; classified right: 4 of 4"
    shown = float(page.text("#net-loss").removeprefix("loss C = "))
    np.testing.assert_allclose(shown, float(jaxbp.loss(net, trained, x, y, "cross_entropy")), rtol=1e-4)

    # space outside the controls plays and pauses both panels together
    page.page.click("h1")
    page.press("Space")
    assert [page.page.get_attribute(f"#{p}-play", "aria-pressed") for p in ("perceptron", "net")] \
        == ["true", "true"]
    page.press("Space")
    assert [page.page.get_attribute(f"#{p}-play", "aria-pressed") for p in ("perceptron", "net")] \
        == ["false", "false"]
    colours = page.check_not_blank("gates.png")
    assert len(colours) == 2 and min(colours) > 20

    # the picker: any of the six gates; AND is linearly separable, so the perceptron converges
    page.page.select_option("#gate-picker", "and")
    assert page.text("h1").startswith("AND: a perceptron vs")
    assert page.text("#perceptron-verdict").startswith("Converged")
    assert page.text("#net-label") == "step 2000 of 2000"
    x, y = jaxbp.gates.truth_table("and")
    trained, _ = jaxbp.fit(net, params, x, y, "cross_entropy", 1.0, 2000)
    shown = float(page.text("#net-loss").removeprefix("loss C = "))
    np.testing.assert_allclose(shown, float(jaxbp.loss(net, trained, x, y, "cross_entropy")), rtol=1e-4)
    page.press("Space")   # the keyboard drives the new gate's players only
    assert page.page.get_attribute("#net-play", "aria-pressed") == "true"
    page.press("Space")
    page.check_not_blank("gates-and.png")
    page.check_clean()


def test_any_net_page_in_chromium(browser, tmp_path):
    net = jaxbp.MLP((3, 4, 2), "relu", "softmax")  # as in test_viz.py (shares its compiles)
    params = net.init(jax.random.key(0), dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(1), (6, 3), jnp.float64)
    labels = jnp.asarray([0, 1, 1, 0, 1, 0])
    path = viz.write_html(tmp_path / "any.html", net, params, x, labels,
                          "softmax_cross_entropy", 0.3, 25, frames=10)
    _, grads = jaxbp.autodiff(net, params, x, labels, "softmax_cross_entropy")
    page = Page(browser, path)
    assert page.page.locator("canvas.plane").count() == 0  # 3 inputs: no plane
    page.page.select_option("#net-sample", "2")
    h1 = jaxbp.trace(net, params, x, labels, "softmax_cross_entropy").activations[1][2, 0]
    assert page.text("#net-h1-a") == nine(h1)
    page.page.focus("#net-slider")
    page.press("ArrowRight")
    assert page.text("#net-w1-value") == nine(params[0]["W"][0, 0] - 0.3 * grads[0]["W"][0, 0])
    page.check_not_blank("any.png")
    page.check_clean()


def labels_overlapping(page):
    """Pairs of visible SVG labels of the network diagram whose boxes overlap, and unit
    activations wider than their circle."""
    return page.page.evaluate("""() => {
        const svg = document.querySelector("svg[aria-label^='Network diagram']");
        const texts = [...svg.querySelectorAll("text")].filter(t => t.getAttribute("visibility") !== "hidden"
                                                              && t.textContent.trim() !== "");
        const boxes = texts.map(t => t.getBoundingClientRect()), bad = [];
        for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
            const a = boxes[i], b = boxes[j];
            if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)
                bad.push(texts[i].textContent + " / " + texts[j].textContent);
        }
        for (const c of svg.querySelectorAll("circle")) {
            const t = c.parentNode.querySelectorAll("text")[0], r = +c.getAttribute("r");
            if (t && t.getComputedTextLength() > 2 * r) bad.push("spills: " + t.textContent);
        }
        return bad; }""")


@pytest.mark.parametrize("which", ["mazur", "gates"])
def test_diagram_labels_never_overlap(browser, tmp_path, which):
    path = (viz.write_explain_html(tmp_path / "m.html") if which == "mazur"
            else viz.write_gates_html(tmp_path / "g.html", frames=20))
    page = Page(browser, path)
    for grads in (False, True):
        if grads:
            page.page.check("#net-show-grads")
        for key in ("Home", "ArrowRight", "End"):
            page.page.focus("#net-slider")
            page.press(key)
            assert labels_overlapping(page) == [], (grads, key)
    # every edge label that is shown carries a number; at least most are shown
    shown = page.page.evaluate("""() => [...document.querySelectorAll("text.edge-label")]
        .filter(t => t.getAttribute("visibility") !== "hidden").length""")
    total = page.page.locator("text.edge-label").count()
    assert total and shown >= total // 2
    page.check_clean()


def test_mazur_plane_shows_the_output_not_an_empty_square(browser, tmp_path):
    page = Page(browser, viz.write_explain_html(tmp_path / "m.html"))
    caption = page.text("figure:has(canvas.plane) figcaption")
    assert "no decision regions" in caption and "lightest" in caption
    # the shading spans many shades (the output varies over the plane), not one flat colour
    shades = page.page.evaluate("""() => { const c = document.querySelector('canvas.plane');
        const d = c.getContext('2d').getImageData(20, 20, c.width - 40, c.height - 40).data, seen = new Set();
        for (let i = 0; i < d.length; i += 4) seen.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]);
        return seen.size; }""")
    assert shades > 30
    page.check_clean()
