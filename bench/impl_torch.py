"""The PyTorch peer: eager mode, autograd and ``torch.optim.SGD``, as a user writes it.

``nn.Sequential`` of ``nn.Linear`` + ``nn.Sigmoid`` layers (their weights are ``(n_out,
n_in)``: jaxbp's ``W`` transposed), ``loss.backward()``, ``opt.step()``. For the sweep W2
all runs are trained at once as stacked parameters with ``torch.baddbmm``. Frozen biases
(W3) get ``requires_grad_(False)`` and stay out of the optimizer. Optional: the bench
prints a note and skips this peer when torch is not importable (torch is never a
dependency of jaxbp).
"""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _model(w, params0):
    layers = []
    for l, (W, b) in enumerate(params0):
        lin = nn.Linear(*W.shape, dtype=DTYPES[w.dtype])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            lin.bias.copy_(torch.from_numpy(b))
        if w.frozen_biases:
            lin.bias.requires_grad_(False)
        layers.append(lin)
        if l < len(params0) - 1 or w.output == "sigmoid":
            layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


def _loss(w, out, target):
    if w.cost == "softmax_cross_entropy":                 # out are logits, target labels
        return F.cross_entropy(out, target)
    return 0.5 * ((out - target) ** 2).sum(dim=1).mean()


def runner(w, params0, data, batches):
    if w.wid == "W2":
        return _runs_runner(w, params0, data)
    x = torch.from_numpy(data[0].astype(w.dtype))
    y = torch.from_numpy(data[1].astype(w.dtype))
    if w.cost == "softmax_cross_entropy":
        y = y.argmax(dim=1)
    idx = None if batches is None else torch.from_numpy(batches.astype(np.int64))

    def run():
        model = _model(w, params0)
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=w.lr)
        for step in range(w.steps):
            xb, yb = (x, y) if idx is None else (x[idx[step]], y[idx[step]])
            opt.zero_grad()
            loss = _loss(w, model(xb), yb)
            loss.backward()
            opt.step()
        linears = [m for m in model if isinstance(m, nn.Linear)]
        return [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
                for m in linears]
    return run


def _runs_runner(w, params0, data):
    x = torch.from_numpy(data[0]).expand(w.runs, *data[0].shape)   # (R, n, n_in)
    y = torch.from_numpy(data[1]).expand(w.runs, *data[1].shape)

    def run():
        params = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True))
                  for W, b in params0]                              # W (R, n_in, n_out)
        opt = torch.optim.SGD([t for p in params for t in p], lr=w.lr)
        for _ in range(w.steps):
            opt.zero_grad()
            a = x
            for W, b in params:
                a = torch.sigmoid(torch.baddbmm(b.unsqueeze(1), a, W))
            # sum over runs of each run's mean cost: every run gets its own gradient
            loss = (0.5 * ((a - y) ** 2).sum(dim=2).mean(dim=1)).sum()
            loss.backward()
            opt.step()
        return [(W.detach().numpy().copy(), b.detach().numpy().copy()) for W, b in params]
    return run


def variants():
    return {"torch": ("PyTorch eager, autograd + optim.SGD",
                      dict.fromkeys(("W1", "W2", "W3", "W4", "W5"), runner), set())}


def threads(n):
    torch.set_num_threads(n)
    return torch.get_num_threads()
