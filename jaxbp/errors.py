"""The public exceptions of jaxbp (also exported as ``jaxbp.ParamsFileError`` and
``jaxbp.NonFiniteError``). Every other bad input raises a plain ``ValueError`` or ``TypeError``."""
from typing import Any, Optional


class ParamsFileError(ValueError):
    """A params file that cannot be read, or whose contents are invalid."""


class NonFiniteError(FloatingPointError):
    """Training produced a non-finite loss. ``.step`` (the first step whose loss was not
    finite), ``.params`` (the last parameters whose loss was finite) and ``.history`` are
    attached."""

    def __init__(self, message: str, step: Optional[int] = None, params: Optional[tuple] = None,
                 history: Any = None) -> None:
        super().__init__(message)
        self.step, self.params, self.history = step, params, history
