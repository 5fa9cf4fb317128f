"""A third oracle (G4): PyTorch float64 autograd agrees with backprop by hand to 1e-12.

torch is never a dependency of jaxbp; this test runs where it is installed (CI installs the
CPU wheel) and is skipped, with the reason, elsewhere.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbp


@pytest.fixture(scope="module")
def torch():
    # imported here, not at collection: every xdist worker collects this file, one runs it
    return pytest.importorskip("torch", reason="torch not installed: the third oracle is skipped")


CASES = [((3, 5, 2), "tanh", "identity", "quadratic"),
         ((4, 6, 5, 3), "sigmoid", "sigmoid", "cross_entropy"),
         ((5, 7, 4), "relu", "softmax", "softmax_cross_entropy")]


def torch_grads(torch, params, x, y, hidden, output, cost):
    act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "identity": lambda z: z}
    ws = [(torch.tensor(np.asarray(p["W"]), requires_grad=True),
           torch.tensor(np.asarray(p["b"]), requires_grad=True)) for p in params]
    a = torch.tensor(x)
    for l, (W, b) in enumerate(ws):
        z = a @ W + b
        a = act[hidden](z) if l < len(ws) - 1 else z
    t = torch.tensor(y)
    if cost == "quadratic":
        loss = (0.5 * ((a - t) ** 2).sum(dim=1)).mean()
    elif cost == "cross_entropy":
        loss = torch.nn.functional.binary_cross_entropy_with_logits(a, t, reduction="sum") / len(x)
    else:
        loss = -(t * torch.log_softmax(a, dim=1)).sum(dim=1).mean()
    loss.backward()
    return loss.item(), [(W.grad.numpy(), b.grad.numpy()) for W, b in ws]


@pytest.mark.parametrize("sizes, hidden, output, cost", CASES)
def test_torch_autograd_agrees_with_manual_backprop(torch, sizes, hidden, output, cost):
    net = jaxbp.MLP(sizes, hidden=hidden, output=output)
    params = net.init(jax.random.key(4), dtype=jnp.float64)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(9, sizes[0]))
    y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], 9)] if output == "softmax" \
        else rng.uniform(size=(9, sizes[-1]))
    loss, grads = jaxbp.backprop(net, params, x, y, cost)
    t_loss, t_grads = torch_grads(torch, params, x, y, hidden, output, cost)
    assert abs(float(loss) - t_loss) <= 1e-12
    for g, (tW, tb) in zip(grads, t_grads):
        assert np.max(np.abs(np.asarray(g["W"]) - tW)) <= 1e-12
        assert np.max(np.abs(np.asarray(g["b"]) - tb)) <= 1e-12
