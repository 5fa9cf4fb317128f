"""The pages' assets, shipped as package data: the stylesheet (``page.css``), the replay
page's script (``replay.js``) and the live playground's (``playground.js``, ``playground.css``).
:func:`read` returns one of them as text; :mod:`.page` assembles the replay page."""
from importlib.resources import files


def read(name):
    """The text of the asset file ``name`` (e.g. ``"replay.js"``)."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")
