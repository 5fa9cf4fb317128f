"""jaxbp.explain and `jaxbp explain`: the printed walkthrough against the published figures
(Mazur's post), a hand computation (the 2-2-1 example) and jax.grad (user-built nets).

Expected numbers never come from jaxbp: they are the post's printed figures, plain-Python
arithmetic in this file, or jax.grad of a loss written out here.
"""
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbp
from jaxbp import examples
from jaxbp.bugs import CATALOGUE
from jaxbp.demos import explain as demo

NUMBER = r"-?\d+(?:\.\d+)?(?:e[+-]\d+)?"


def equations(text):
    """Every printed equation chain, continuation lines joined: {lhs: [value after each =]}."""
    lines = []
    for line in text.splitlines():
        if re.match(r"^\s+= ", line) and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    out = {}
    for line in lines:
        parts = [p.strip() for p in line.strip().split(" = ")]
        if len(parts) >= 2 and re.fullmatch(NUMBER, parts[-1].split()[0]):
            out.setdefault(parts[0], []).append(float(parts[-1].split()[0]))
    return out


def close_to_printed(value, printed):
    """``value`` agrees with the figure ``printed`` (a string) to the digits printed."""
    decimals = len(printed.split(".")[1])
    return abs(value - float(printed)) <= 0.5 * 10.0 ** -decimals * (1 + 1e-6)


def run_demo(capsys, *argv):
    assert demo.main(list(argv)) == 0
    return capsys.readouterr().out


# Figures printed in Mazur's post "A Step by Step Backpropagation Example".
MAZUR_POST = {
    "net_h1": "0.3775", "out_h1": "0.593269992", "out_h2": "0.596884378",
    "out_o1": "0.75136507", "out_o2": "0.772928465", "E_total": "0.298371109",
    "dE_total/dout_o1": "0.74136507", "dout_o1/dnet_o1": "0.186815602",
    "dE_total/dw5": "0.082167041", "dE_total/dout_h1": "0.036350306",
    "dout_h1/dnet_h1": "0.241300709", "dE_total/dw1": "0.000438568",
    "w5+": "0.35891648", "w6+": "0.408666186", "w7+": "0.511301270", "w8+": "0.561370121",
    "w1+": "0.149780716", "w2+": "0.19956143", "w3+": "0.24975114", "w4+": "0.29950229",
}


@pytest.fixture(scope="module")
def mazur_text():
    ex = examples.mazur()
    return jaxbp.explain(ex.net, ex.params, ex.x, ex.y, ex.cost, ex.lr, trainable=ex.trainable,
                         steps=10000)


def test_mazur_walkthrough_has_the_posts_figures(mazur_text):
    eqs = equations(mazur_text)
    for name, printed in MAZUR_POST.items():
        assert name in eqs, name
        assert close_to_printed(eqs[name][0], printed), (name, eqs[name], printed)
    assert "Not trained" in mazur_text and "(b1)" in mazur_text and "(b2)" in mazur_text


def test_mazur_chain_factors_multiply_to_the_gradient(mazur_text):
    # the printed factors of every weight multiply to its printed gradient (to 9 digits)
    factor = r"\(?(" + NUMBER + r")\)?"
    chains = re.findall(r"dE_total/d(w\d) = \S+\s+= " + r"\*".join([factor] * 3) + r"\s+= ("
                        + NUMBER + ")", mazur_text)
    assert sorted(c[0] for c in chains) == [f"w{k}" for k in range(1, 9)]
    for _, a, b, c, g in chains:
        assert float(a) * float(b) * float(c) == pytest.approx(float(g), rel=2e-8)


def test_mazur_standard_long_run(mazur_text):
    # standard method (every gradient from one backward pass), by hand in plain Python
    w = [.15, .20, .25, .30, .40, .45, .50, .55]
    i1, i2, t1, t2, b1, b2, lr = .05, .10, .01, .99, .35, .60, .5
    sig = lambda z: 1 / (1 + math.exp(-z))
    for _ in range(2):   # errors before and after one update
        h1, h2 = sig(w[0] * i1 + w[1] * i2 + b1), sig(w[2] * i1 + w[3] * i2 + b1)
        o1, o2 = sig(w[4] * h1 + w[5] * h2 + b2), sig(w[6] * h1 + w[7] * h2 + b2)
        error = 0.5 * (t1 - o1) ** 2 + 0.5 * (t2 - o2) ** 2
        d1, d2 = (o1 - t1) * o1 * (1 - o1), (o2 - t2) * o2 * (1 - o2)
        e1, e2 = (d1 * w[4] + d2 * w[6]) * h1 * (1 - h1), (d1 * w[5] + d2 * w[7]) * h2 * (1 - h2)
        grads = [e1 * i1, e1 * i2, e2 * i1, e2 * i2, d1 * h1, d1 * h2, d2 * h1, d2 * h2]
        w = [wk - lr * g for wk, g in zip(w, grads)]
    m = re.search(r"updated parameters: E_total = (" + NUMBER + r") \(before the update: ("
                  + NUMBER + r")\)", mazur_text)
    assert float(m.group(1)) == pytest.approx(error, rel=1e-8)
    assert float(m.group(1)) != pytest.approx(0.291027924, abs=5e-10)   # not the post's figure
    m = re.search(r"times \(standard update.*?E_total\s*=\s*(" + NUMBER + ")", mazur_text, re.S)
    assert float(m.group(1)) == pytest.approx(3.5101877e-05, rel=1e-6)


@pytest.mark.slow
def test_as_published_has_the_posts_sequential_figures(capsys):
    text = run_demo(capsys, "mazur", "--as-published")
    walk, table = text.split("Which of the post's figures")
    m = re.search(r"updated parameters: E_total = (" + NUMBER + ")", walk)
    assert close_to_printed(float(m.group(1)), "0.291027924")
    outs = re.search(r"out_o1 = (" + NUMBER + r") \(target 0\.01\), out_o2 = (" + NUMBER + ")", walk)
    assert close_to_printed(float(outs.group(1)), "0.015912196")
    assert close_to_printed(float(outs.group(2)), "0.984065734")
    # the output weights are the same in both variants; the hidden ones are not the post's
    eqs = equations(walk)
    for name in ("w5+", "w6+", "w7+", "w8+"):
        assert close_to_printed(eqs[name][0], MAZUR_POST[name])
    assert not close_to_printed(eqs["w1+"][0], MAZUR_POST["w1+"])
    assert "w5+" in walk and "ALREADY UPDATED" in walk
    # the comparison says which figure comes from which method, and the off-by-one
    rows = {line.split("  ")[1].strip(): line for line in table.splitlines() if "  " in line}
    assert rows["E_total after 1 update"].rstrip().endswith("sequential")
    assert rows["w1+"].rstrip().endswith("standard")
    assert rows["E_total after 10,000 updates"].rstrip().endswith("neither")
    assert rows["E_total after 9,999 updates"].rstrip().endswith("standard")
    prose = " ".join(table.split())
    assert "0.015912196 / 0.984065734" in prose and "before the last update" in prose


def test_no_bias_221_by_hand(capsys):
    text = run_demo(capsys, "no-bias-221")
    sig = lambda z: 1 / (1 + math.exp(-z))
    i1, i2, t = 0.35, 0.9, 0.5
    h1, h2 = sig(0.1 * i1 + 0.8 * i2), sig(0.4 * i1 + 0.6 * i2)
    out = sig(0.3 * h1 + 0.9 * h2)
    delta = (out - t) * out * (1 - out)
    eqs = equations(text)
    assert eqs["out_o1"][0] == pytest.approx(out, rel=1e-8)
    assert close_to_printed(eqs["out_o1"][0], "0.69028349")
    assert close_to_printed(eqs["E_total"][0], "0.0181039")
    assert eqs["w5+"][0] == pytest.approx(0.3 - delta * h1, rel=1e-8)
    assert eqs["w6+"][0] == pytest.approx(0.9 - delta * h2, rel=1e-8)
    assert close_to_printed(eqs["w5+"][0], "0.27232597")
    assert close_to_printed(eqs["w6+"][0], "0.87299836")
    assert "No biases" in text and "net_h1 = w1*i1 + w2*i2 = " in text
    prose = " ".join(text.split())
    assert "0.272392 / 0.87305" in prose and "rounded by hand" in prose and "sequential" in prose
    assert "rounding alone" in prose and "which the update order cannot change" in prose


def _mlp_loss(params, x, y, hidden, output, cost):
    """The cost written out here, independently of jaxbp, for jax.grad."""
    acts = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu}
    a = x
    for l, layer in enumerate(params):
        z = a @ layer["W"] + layer["b"][None, :]
        a = acts[output if l == len(params) - 1 else hidden](z)
    if cost == "quadratic":
        return jnp.mean(0.5 * jnp.sum((a - y) ** 2, axis=1))
    return jnp.mean(-jnp.sum(y * jnp.log(a) + (1 - y) * jnp.log(1 - a), axis=1))


@pytest.mark.slow
@pytest.mark.parametrize("sizes, hidden, cost, batch", [
    ((2, 3, 1), "sigmoid", "quadratic", 1),
    ((2, 3, 1), "tanh", "cross_entropy", 4),
    ((3, 2, 2, 2), "relu", "quadratic", 2),
])
def test_user_net_gradients_equal_jax_grad(sizes, hidden, cost, batch):
    net = jaxbp.MLP(sizes, hidden=hidden, output="sigmoid")
    key_p, key_x = jax.random.split(jax.random.key(7))
    params = net.init(key_p, dtype=jnp.float64)
    x = jax.random.uniform(key_x, (batch, sizes[0]), jnp.float64)
    y = jnp.asarray(np.arange(batch * sizes[-1]).reshape(batch, sizes[-1]) % 2, jnp.float64)
    lr = 0.7
    text = jaxbp.explain(net, params, x, y, cost, lr, steps=None)
    want = jax.grad(_mlp_loss)(params, x, y, hidden, "sigmoid", cost)
    eqs = equations(text)
    units = jaxbp.walkthrough.unit_names(sizes)
    k = 0
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        for j in range(n_out):          # numbered by destination unit, then source unit
            for i in range(n_in):
                k += 1
                g, w = float(want[l]["W"][i, j]), float(params[l]["W"][i, j])
                assert eqs[f"dE_total/dw{k}"][0] == pytest.approx(g, rel=1e-8, abs=1e-15)
                assert eqs[f"w{k}+"][0] == pytest.approx(w - lr * g, rel=1e-8, abs=1e-15)
            name = f"b_{units[l + 1][j]}"
            assert eqs[f"dE_total/d{name}"][0] == pytest.approx(float(want[l]["b"][j]),
                                                                rel=1e-8, abs=1e-15)
    assert k == sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    assert eqs["E_total"][-1] == pytest.approx(float(_mlp_loss(params, x, y, hidden, "sigmoid", cost)),
                                               rel=1e-8)


@pytest.mark.slow
def test_as_published_user_net_matches_sequential_training():
    net = jaxbp.MLP((2, 3, 2))
    params = net.init(jax.random.key(3), dtype=jnp.float64)
    x, y = jnp.array([[0.2, 0.7]]), jnp.array([[0.1, 0.9]])
    text = jaxbp.explain(net, params, x, y, "quadratic", 0.5, as_published=True, steps=None)
    ex = examples.Example("user", net, params, x, y, 0.5, "quadratic", ({"W": True, "b": True},) * 2)
    seq, _ = examples.train_example(ex, 1, as_published=True)
    std, _ = examples.train_example(ex, 1, as_published=False)
    eqs = equations(text)
    for k, (i, j) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)], 1):
        assert eqs[f"w{k}+"][0] == pytest.approx(float(seq[0]["W"][i, j]), rel=1e-8)
        assert eqs[f"w{k}+"][0] != pytest.approx(float(std[0]["W"][i, j]), rel=1e-8)


@pytest.mark.slow
def test_markdown_has_latex_that_parses(capsys):
    text = run_demo(capsys, "mazur", "--markdown", "--steps", "10")
    blocks = re.findall(r"\$\$(.+?)\$\$", text)
    assert len(blocks) > 40 and text.startswith("# ")
    assert any(r"\frac{\partial E_{total}}{\partial w_{5}}" in b for b in blocks)
    mathtext = pytest.importorskip("matplotlib.mathtext")
    parser = mathtext.MathTextParser("agg")
    for block in blocks:
        parser.parse(f"${block}$")      # raises ValueError on invalid LaTeX


def test_markdown_out_file(tmp_path, capsys):
    path = tmp_path / "nb.md"
    run_demo(capsys, "no-bias-221", "--markdown", "--out", str(path), "--steps", "5")
    text = path.read_text()
    assert "$$" in text and "## The forward pass" in text


def test_float32_prints_seven_digits():
    ex = examples.mazur()
    params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), ex.params)
    text = jaxbp.explain(ex.net, params, ex.x, ex.y, "quadratic", 0.5, steps=0)
    assert "float32, 7 significant digits" in text
    assert "out_h1 = 1/(1 + e^-net_h1) = 1/(1 + e^-0.3775) = 0.59327\n" in text


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(lr=0.0), ValueError, r"^explain: lr must be a finite float > 0, got 0\.0"),
    (dict(lr="0.5"), TypeError, r"^explain: lr must be a finite float"),
    (dict(trainable=({"W": True},)), ValueError, r"^explain: trainable must be None or one dict"),
    (dict(steps=-1), ValueError, r"^explain: steps must be an int > 0, got -1"),
    (dict(cost="quadratc"), ValueError, r"^explain: unknown cost 'quadratc'.*did you mean 'quadratic'"),
    (dict(x=jnp.ones((1, 3))), ValueError, r"^explain: layer 0 expects 2 input features"),
    (dict(markdown="yes"), TypeError, r"^explain: as_published and markdown must be bools"),
])
def test_bad_input(kwargs, error, match):
    ex = examples.mazur()
    args = dict(net=ex.net, params=ex.params, x=ex.x, y=ex.y, cost="quadratic", lr=0.5)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        jaxbp.explain(**args)


@pytest.mark.slow
def test_large_net_and_jit_are_refused():
    net = jaxbp.MLP((30, 20, 1))
    params = net.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"^explain: the walkthrough prints every weight; "
                                         r"expected at most 400 weights, got 620"):
        jaxbp.explain(net, params, jnp.ones((1, 30)), jnp.ones((1, 1)))
    ex = examples.mazur()
    with pytest.raises(TypeError, match=r"^explain: prints numbers, so it needs concrete arrays"):
        jax.jit(lambda p: jaxbp.explain(ex.net, p, ex.x, ex.y) and 0)(ex.params)


# ---- explain --bug: a wrong backward pass beside the right numbers ---------------------------

def sequential_w1_by_hand():
    """Mazur's w1+ when the hidden delta uses the already-updated output weights (numpy)."""
    sig = lambda z: 1 / (1 + np.exp(-z))
    x, t = np.array([.05, .10]), np.array([.01, .99])
    W1, W2 = np.array([[.15, .25], [.20, .30]]), np.array([[.40, .50], [.45, .55]])
    h = sig(x @ W1 + .35)
    o = sig(h @ W2 + .60)
    d2 = (o - t) * o * (1 - o)
    d1 = (d2 @ (W2 - 0.5 * np.outer(h, d2)).T) * h * (1 - h)
    return .15 - 0.5 * x[0] * d1[0]


@pytest.mark.slow
def test_bug_beside_the_right_numbers(capsys):
    text = run_demo(capsys, "mazur", "--bug", "updated_weights", "--steps", "20")
    assert all(len(line) <= 100 for line in text.splitlines())
    assert text.count(">> the first number that differs:") == 1
    before, after = text.split(">> the first number that differs:")
    first = after.strip().splitlines()[0]
    assert first.startswith(">> bug: delta_h1 = ")           # BP2 of the hidden layer
    assert "w5+" in before and "bug: w5+" not in text        # output weights are unchanged
    eqs = equations(before + after.replace("bug: ", "BUG "))
    assert close_to_printed(eqs["w1+"][0], MAZUR_POST["w1+"])            # the right one
    assert eqs["BUG w1+"][0] == pytest.approx(sequential_w1_by_hand(), rel=1e-8)
    assert "likely: layer 0 BP2 uses the weights above already updated" in " ".join(text.split())


def test_a_bug_that_cannot_show_in_the_example_says_so(capsys):
    text = run_demo(capsys, "mazur", "--bug", "batch_sum", "--steps", "5")
    prose = " ".join(text.split())
    assert "   bug: " not in text and ">> bug: " not in text
    assert "no printed number differs" in prose
    assert "a batch of two or more" in prose


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_catalogue_entry_explains(name):
    ex = examples.mazur()
    text = jaxbp.walkthrough.explain_example(ex, bug=name, steps=0)
    assert f"With the bug '{name}'" in " ".join(text.split())
    assert text.count(">> the first number that differs:") <= 1
    assert all(len(line) <= 100 for line in text.splitlines()[2:])


def test_bug_list_and_unknown_bug(capsys):
    from jaxbp import bugs
    assert demo.main(["mazur", "--bug", "list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in bugs.CATALOGUE)
    assert demo.main(["mazur", "--bug", "no_such_bug"]) == 2
    assert "unknown --bug 'no_such_bug'" in capsys.readouterr().err
    with pytest.raises(TypeError, match="explain: bug and as_published cannot be combined"):
        jaxbp.walkthrough.explain_example(examples.mazur(), bug="batch_sum", as_published=True)
    with pytest.raises(ValueError, match="explain: bug must be one of"):
        jaxbp.walkthrough.explain_example(examples.mazur(), bug="nope")
