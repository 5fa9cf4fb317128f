"""The pages' assets, shipped as package data: the stylesheet (``page.css``), the replay
page's script (``replay.js``) and the live playground's (``playground.js``, ``playground.css``).
:func:`read` returns one of them as text; :mod:`.page` assembles the replay page."""
import os
import tempfile
from importlib.resources import files
from pathlib import Path
from typing import Union


def read(name: str) -> str:
    """The text of the asset file ``name`` (e.g. ``"replay.js"``)."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def check_path(fn: str, path: Union[str, os.PathLike]) -> Path:
    """``path`` as a Path whose folder exists (checked before any work)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{fn}: path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{fn}: directory '{path.parent}' does not exist")
    return path


def write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (a temporary file, then a rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0o22)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a page is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path
