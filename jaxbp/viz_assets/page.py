"""The HTML shell of the :mod:`jaxbp.viz` replay page; its stylesheet and script are the
package-data files ``page.css`` and ``common.js`` + ``playground_core.js`` (the forward pass,
shared with the playground) + ``replay.js``, inlined so that the page is one file. No
external URL of any kind: the SVG namespace is read from an inline ``<svg>`` element at run
time."""
import html

from . import read

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


def page(title: str, payload: str) -> str:
    """The complete page; ``payload`` is JSON with every ``<`` already escaped."""
    script = "\n".join(read(name) for name in ("common.js", "playground_core.js", "replay.js"))
    return TEMPLATE.format(title=html.escape(title), css=read("page.css"), payload=payload,
                           script=script)
