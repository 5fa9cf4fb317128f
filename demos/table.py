"""Fixed-width text tables that fit a terminal, printed a row at a time.

Every column has a fixed width, so a row can be printed as soon as it is computed. A table
is at most :data:`WIDTH` characters wide (or the terminal's width, if wider): the columns
marked optional are left out, least important first, until it fits; ``wide=True`` keeps
them all. Numbers are right-aligned, text left-aligned.

This module imports only the standard library.
"""
import shutil
from typing import Dict, List, NamedTuple, Optional, Sequence

WIDTH = 100


class Column(NamedTuple):
    key: str            # the row dict's key
    title: str          # header, first line ("" for none; may run on over the next columns)
    label: str          # header, second line
    width: int
    right: bool = True  # right-aligned (numbers)
    optional: int = 0   # 0: always shown; k > 0: left out to fit, highest k first
    gap: int = 1        # spaces before the column


def limit(wide: bool = False) -> Optional[int]:
    """The widest a table may be: None with ``wide``, else the larger of :data:`WIDTH`
    and the terminal's width (``$COLUMNS`` when not on a terminal)."""
    if wide:
        return None
    return max(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns)


def total_width(columns: Sequence[Column]) -> int:
    return sum(c.gap + c.width for c in columns) - (columns[0].gap if columns else 0)


def fit(columns: Sequence[Column], wide: bool = False) -> List[Column]:
    """``columns`` without the optional ones that do not fit (least important first)."""
    kept, most = list(columns), limit(wide)
    while most is not None and total_width(kept) > most:
        optional = [c for c in kept if c.optional]
        if not optional:
            break
        drop = max(optional, key=lambda c: c.optional)
        kept = [c for c in kept if c.optional != drop.optional]
    return kept


def _join(columns: Sequence[Column], cells: Sequence[str]) -> str:
    line = ""
    for i, (c, cell) in enumerate(zip(columns, cells)):
        if i:
            line += " " * c.gap
        line += cell.rjust(c.width) if c.right else cell.ljust(c.width)
    return line.rstrip()


def header(columns: Sequence[Column]) -> str:
    """The two header lines and a rule."""
    first, x = "", 0
    for i, c in enumerate(columns):
        x += c.gap if i else 0
        if c.title:
            first = first.ljust(x) if len(first) < x or not first else first + " "
            first += c.title
        x += c.width
    second = _join(columns, [c.label for c in columns])
    return "\n".join([first.rstrip(), second, "-" * total_width(columns)])


def row(columns: Sequence[Column], values: Dict[str, str]) -> str:
    """One row; ``values`` maps each column's key to its formatted cell."""
    return _join(columns, [values[c.key] for c in columns])
