"""A playground that trains live in the browser: one self-contained HTML file.

:func:`playground` writes a page in which a small MLP trains on 2-D data with BP1-BP4
written out in JavaScript (float64; ``jaxbp/viz_assets/playground_core.js``; the trainer is
``playground_train.js``, the page ``playground.js``), drawing every
unit's activation and delta over the input plane, the gradients, the loss curves, and a
warning before divergence. Its settings use jaxbp's names and live in the URL hash, so a
link is a lesson. The page exposes ``window.jaxbp`` (``settings()``, ``set(settings)``,
``step(n)``, ``state()``, ...); ``tests/test_playground_browser.py`` drives it and checks
that ``n`` steps in the page equal :func:`jaxbp.fit` in float64. See ``docs/playground.md``.
"""
from __future__ import annotations

import html
import json
import math
import numbers
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Union

import numpy as np

if TYPE_CHECKING:  # for the hints only: this module imports no JAX
    from pathlib import Path

    from ._types import ArrayLike

DATASETS = ("and", "or", "nand", "nor", "xor", "xnor", "circle", "xor_quadrants", "gauss", "spiral")
FEATURES = ("x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2")
HIDDEN = ("tanh", "sigmoid", "relu", "identity")
OUTPUT = ("sigmoid", "softmax", "tanh", "identity", "relu")
COSTS = ("cross_entropy", "quadratic", "softmax_cross_entropy")
CONTROLS = ("dataset", "seed", "sizes", "features", "noise", "train_fraction", "lr", "batch_size",
            "l1", "l2", "cost", "stop_loss", "stop_step", "history", "export")

# The page's defaults: the Playground's opening lesson (two-arm data, a 2-4-2-1 tanh net).
DEFAULTS = {"dataset": "xor_quadrants", "seed": 0, "sizes": [2, 4, 2, 1],
            "activations": ["tanh", "tanh", "sigmoid"], "cost": "cross_entropy",
            "lr": 0.03, "batch_size": 10, "l1": 0.0, "l2": 0.0,
            "features": ["x1", "x2"], "noise": 0.0, "train_fraction": 0.5,
            "stop_loss": 0.0, "stop_step": 0}

MAX_BYTES = 1_000_000

# Setting names of version 0.2.0, read when the new name is absent, so that settings saved
# then (an exported run's JSON, a lesson script, a link: playground_train.js reads them too)
# still load.
OLD_NAMES = {"learning_rate": "lr"}


def _upgrade(given):
    """``given`` with the names of :data:`OLD_NAMES` renamed (the new name wins if both)."""
    given = dict(given)
    for old, new in OLD_NAMES.items():
        if old in given:
            value = given.pop(old)
            given.setdefault(new, value)
    return given


def settings(**given: Any) -> Dict[str, Any]:
    """The full settings dict: :data:`DEFAULTS` updated with ``given``, checked.

    ``sizes`` lists every layer, input first; the page sets ``sizes[0]`` to the number of
    ``features`` and the last size to the number of outputs (1 for two classes, unless the
    output is softmax). ``activations`` has one name per weight layer.
    """
    fn = "playground"
    given = _upgrade(given)
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"{fn}: unknown setting(s) {unknown}; expected some of {sorted(DEFAULTS)}")
    s = dict(DEFAULTS, **given)
    if s["dataset"] not in DATASETS + ("custom",):
        raise ValueError(f"{fn}: dataset must be one of {list(DATASETS)}, got {s['dataset']!r}")
    for key in ("seed", "batch_size", "stop_step"):
        if isinstance(s[key], bool) or not isinstance(s[key], numbers.Integral):
            raise TypeError(f"{fn}: {key} must be an int, got {type(s[key]).__name__} {s[key]!r}")
        s[key] = int(s[key])
    if s["batch_size"] < 1 or s["stop_step"] < 0 or not 0 <= s["seed"] < 2 ** 31:
        raise ValueError(f"{fn}: need batch_size >= 1, stop_step >= 0 and 0 <= seed < 2**31, got "
                         f"{s['batch_size']}, {s['stop_step']}, {s['seed']}")
    for key, lo, hi in (("lr", 0, math.inf), ("l1", 0, math.inf), ("l2", 0, math.inf),
                        ("noise", 0, 0.5), ("train_fraction", 0.01, 1), ("stop_loss", 0, math.inf)):
        v = s[key]
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"{fn}: {key} must be a float, got {type(v).__name__} {v!r}")
        if not (math.isfinite(v) and lo <= v <= hi) or (key == "lr" and v == 0):
            raise ValueError(f"{fn}: {key} must be a finite float in [{lo}, {hi}]"
                             f"{' and > 0' if key == 'lr' else ''}, got {v!r}")
        s[key] = float(v)
    sizes = s["sizes"]
    if (not isinstance(sizes, (list, tuple)) or len(sizes) < 2 or
            any(isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1 for n in sizes)):
        raise ValueError(f"{fn}: sizes must be a list of at least two ints >= 1, got {sizes!r}")
    s["sizes"] = [int(n) for n in sizes]
    acts = s["activations"]
    if isinstance(acts, str) or not isinstance(acts, (list, tuple)) or len(acts) != len(sizes) - 1:
        raise ValueError(f"{fn}: activations must be a list of {len(sizes) - 1} names (one per "
                         f"weight layer for sizes {s['sizes']}), got {acts!r}")
    for l, a in enumerate(acts):
        allowed = OUTPUT if l == len(acts) - 1 else HIDDEN
        if a not in allowed:
            raise ValueError(f"{fn}: activations[{l}] must be one of {list(allowed)}, got {a!r}")
    s["activations"] = list(acts)
    if s["cost"] not in COSTS:
        raise ValueError(f"{fn}: cost must be one of {list(COSTS)}, got {s['cost']!r}")
    need = {"cross_entropy": "sigmoid", "softmax_cross_entropy": "softmax"}.get(s["cost"])
    if (need and acts[-1] != need) or (acts[-1] == "softmax" and s["cost"] != "softmax_cross_entropy"):
        raise ValueError(f"{fn}: cost {s['cost']!r} and output activation {acts[-1]!r} do not go "
                         f"together (cross_entropy needs sigmoid, softmax_cross_entropy softmax)")
    feats = s["features"]
    if isinstance(feats, str) or not isinstance(feats, (list, tuple)) or not feats or \
            any(f not in FEATURES for f in feats):
        raise ValueError(f"{fn}: features must be a non-empty list of {list(FEATURES)}, got {feats!r}")
    s["features"] = [f for f in FEATURES if f in feats]
    return s


def custom_data(x: ArrayLike, y: ArrayLike) -> Dict[str, List[Any]]:
    """``x`` (n, 2) floats and ``y`` class labels ``(n,)`` ints 0..k-1, or ``(n, 1)`` 0/1, or
    ``(n, k)`` one-hot, as the page embeds them: ``{"x": [[x1, x2], ...], "labels": [...]}``."""
    fn = "playground"
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2 or x.shape[1] != 2 or x.shape[0] < 2 or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{fn}: x must be numbers of shape (n, 2) with n >= 2, got shape {x.shape}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"{fn}: x must be finite")
    if y.ndim == 2 and y.shape[1] > 1:
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise ValueError(f"{fn}: a 2-D y with {y.shape[1]} columns must be one-hot rows")
        labels = y.argmax(axis=1)
    else:
        labels = y.reshape(-1) if y.ndim == 2 else y
        if labels.ndim != 1 or not np.all(np.equal(np.mod(labels, 1), 0)) or (labels < 0).any():
            raise ValueError(f"{fn}: y must be class labels 0, 1, ... of shape (n,) or (n, 1), "
                             f"or one-hot (n, k); got shape {y.shape}")
    if labels.shape[0] != x.shape[0]:
        raise ValueError(f"{fn}: x has {x.shape[0]} rows but y has {labels.shape[0]}")
    return {"x": x.tolist(), "labels": labels.astype(int).tolist()}


def html_page(title: Optional[str] = None, x: Optional[ArrayLike] = None,
              y: Optional[ArrayLike] = None, hide: Sequence[str] = (), notes: Sequence[str] = (),
              **given: Any) -> str:
    """The page (a str): :func:`playground` without writing it."""
    from .viz_assets import read
    if (x is None) != (y is None):
        raise ValueError("playground: pass both x and y (your own data), or neither")
    if x is not None:
        given.setdefault("dataset", "custom")
    s = settings(**given)
    data = custom_data(x, y) if x is not None else None
    if s["dataset"] == "custom" and data is None:
        raise ValueError("playground: dataset 'custom' needs x and y")
    if data is not None and s["dataset"] == "custom":
        classes = max(2, max(data["labels"]) + 1)
        if classes > 2 and s["activations"][-1] not in ("softmax", "sigmoid"):
            raise ValueError(f"playground: {classes} classes need a softmax or sigmoid output")
    if not isinstance(hide, str):
        hide = [OLD_NAMES.get(h, h) for h in hide]
    if isinstance(hide, str) or any(h not in CONTROLS for h in hide):
        raise ValueError(f"playground: hide must be a list of {list(CONTROLS)}, got {hide!r}")
    title = title or "jaxbp playground: backpropagation, live, with every delta and gradient"
    config = {"settings": s, "defaults": DEFAULTS, "data": data, "hide": list(hide)}
    payload = json.dumps(config, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    notes_html = "".join(f'<p class="note">{html.escape(str(n))}</p>' for n in notes)
    scripts = "\n".join(f"<script>{read(name)}</script>" for name in
                        ("common.js", "playground_core.js", "playground_train.js", "npz.js",
                                      "playground.js"))
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta name="generator" content="jaxbp.playground">\n<title>{html.escape(title)}</title>\n'
            f'<style>{read("page.css")}\n{read("playground.css")}</style>\n</head>\n<body>\n'
            f'<header><h1>{html.escape(title)}</h1>{notes_html}</header>\n'
            f'<noscript><p>The playground trains with JavaScript; please enable it.</p></noscript>\n'
            f'<main id="app"></main>\n'
            f'<svg id="svg-ns" width="0" height="0" aria-hidden="true" focusable="false"></svg>\n'
            f'<script type="application/json" id="jaxbp-playground">{payload}</script>\n'
            f'{scripts}\n</body>\n</html>\n')


def playground(path: Union[str, os.PathLike], x: Optional[ArrayLike] = None,
               y: Optional[ArrayLike] = None, *, hide: Sequence[str] = (),
               title: Optional[str] = None, notes: Sequence[str] = (), **settings_: Any) -> Path:
    """Write the live playground to ``path`` (one HTML file, no network); returns ``path``.

    ``settings_`` are the page's settings (:data:`DEFAULTS` names: ``dataset``, ``seed``,
    ``sizes``, ``activations``, ``cost``, ``lr`` (the learning rate), ``batch_size``, ``l1``,
    ``l2``, ``features``, ``noise``, ``train_fraction``, ``stop_loss``, ``stop_step``; the
    name ``learning_rate`` of version 0.2.0 is still read). ``x`` (n, 2)
    and ``y`` (class labels, or one-hot) train on your own data (``dataset="custom"``).
    ``hide`` lists controls to hide (a lesson page). A URL hash overrides the settings.
    """
    from .viz_assets import check_path, write
    path = check_path("playground", path)
    text = html_page(title, x, y, hide, notes, **settings_)
    if len(text.encode()) > MAX_BYTES:
        raise ValueError(f"playground: the page would be {len(text.encode())} bytes, more than "
                         f"{MAX_BYTES}; pass fewer data rows")
    return write(path, text)
