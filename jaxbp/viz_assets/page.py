"""The HTML shell and stylesheet of the :mod:`jaxbp.viz` pages (kept as Python strings, so
they ship with the package without package-data). No external URL of any kind: the SVG
namespace is read from an inline ``<svg>`` element at run time."""
import html

from .script import SCRIPT

CSS = """
:root { --pos: #1f5fa8; --neg: #b2182b; --ink: #1a1a1a; --muted: #555; --line: #d0d0d0;
        --c0: #e66101; --c1: #5e3c99; --focus: #ffbf47; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1320px; padding: 1rem 1.25rem 3rem; color: var(--ink);
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; background: #fff; }
h1 { font-size: 1.45rem; margin: 0.2rem 0 0.4rem; }
h2 { font-size: 1.15rem; margin: 1.2rem 0 0.4rem; }
h3 { font-size: 1rem; margin: 1rem 0 0.3rem; }
p.note { color: var(--muted); max-width: 75ch; margin: 0.3rem 0; }
.meta { color: var(--muted); font-size: 0.9rem; }
.player { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 0.75rem;
          padding: 0.5rem 0.75rem; background: #f4f4f4; border: 1px solid var(--line);
          border-radius: 6px; margin: 0.5rem 0; }
.player input[type=range] { flex: 1 1 16rem; min-width: 12rem; accent-color: var(--pos); }
.player button { font: inherit; min-width: 5.5rem; padding: 0.25rem 0.75rem; cursor: pointer;
                 border: 1px solid #888; border-radius: 4px; background: #fff; }
.player output { font-variant-numeric: tabular-nums; min-width: 12ch; }
.options { display: flex; flex-wrap: wrap; gap: 0.5rem 1.25rem; align-items: center;
           margin: 0.25rem 0; font-size: 0.92rem; }
.options fieldset { border: 0; padding: 0; margin: 0; display: inline-flex; gap: 0.6rem; }
.options legend { float: left; margin-right: 0.5rem; padding: 0; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.status { font-variant-numeric: tabular-nums; margin: 0.3rem 0; }
.views { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.side { display: grid; grid-template-columns: repeat(auto-fit, minmax(330px, 1fr)); gap: 1.25rem; }
figure { margin: 0; }
figcaption { font-size: 0.85rem; color: var(--muted); max-width: 40ch; }
svg text { font-family: inherit; }
svg .halo { paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
canvas.plane { border: 1px solid var(--line); width: 320px; height: 320px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 0.9rem;
        margin-bottom: 0.5rem; }
caption { text-align: left; color: var(--muted); font-size: 0.85rem; padding-bottom: 0.2rem; }
th, td { border-bottom: 1px solid var(--line); padding: 0.2rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f4f4f4; }
.tables { display: flex; flex-wrap: wrap; gap: 0 2rem; }
.legend { display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; font-size: 0.85rem; color: var(--muted); }
.legend svg { vertical-align: middle; }
.curve-box label { font-size: 0.85rem; }
noscript p { background: #fff3cd; padding: 0.5rem; }
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="jaxbp.viz">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<div id="notes"></div>
</header>
<noscript><p>This page draws the network with JavaScript; please enable it to see the
training run.</p></noscript>
<main id="app"></main>
<svg id="svg-ns" width="0" height="0" aria-hidden="true" focusable="false"></svg>
<script type="application/json" id="jaxbp-data">{payload}</script>
<script>{script}</script>
</body>
</html>
"""


def page(title, payload):
    """The complete page; ``payload`` is JSON with every ``<`` already escaped."""
    return TEMPLATE.format(title=html.escape(title), css=CSS, payload=payload, script=SCRIPT)
