"""Small real data sets, bundled with their libraries (no download, no network).

:func:`load_digits` is scikit-learn's copy of the UCI optical handwritten digits: 1,797
images of 8x8 pixels, ten classes -- a laptop-sized stand-in for MNIST on which Nielsen's
chapter-1 experiment runs in well under a second. It needs the optional extra ``data``
(``pip install jaxbp[data]``, i.e. scikit-learn).
"""
import numbers
from typing import NamedTuple

import numpy as np

__all__ = ["Split", "load_digits"]


class Split(NamedTuple):
    """A train/test split; unpack it as ``x_train, y_train, x_test, y_test = split``."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _sklearn_datasets(fn):
    try:
        from sklearn import datasets
    except ImportError as e:
        raise ImportError(f"{fn} needs scikit-learn, which is the optional 'data' extra of "
                          f"jaxbp: pip install 'jaxbp[data]' (or pip install scikit-learn)") from e
    return datasets


def load_digits(test_size: int = 297, seed: int = 0) -> Split:
    """The 8x8 digits as float32 arrays, split at random (but reproducibly) in two.

    Args:
      test_size: number of held-out samples, an int in [1, 1796]. The default 297 leaves
        1,500 for training.
      seed: the split is ``numpy.random.RandomState(seed).permutation(1797)``: the first
        ``test_size`` indices are the test set, the rest (in that shuffled order) the
        training set -- the same split as scikit-learn's ``train_test_split(...,
        test_size=test_size, random_state=seed)``. NumPy keeps that legacy generator's
        stream fixed, so the same seed gives the same split everywhere.

    Returns:
      a :class:`Split`: ``x`` of shape ``(n, 64)`` with pixel intensities scaled from
      0..16 to [0, 1], row-major; ``y`` one-hot of shape ``(n, 10)``. The class of a row is
      ``y.argmax(1)``.
    """
    fn = "load_digits"
    for name, value, low, high in (("test_size", test_size, 1, 1796), ("seed", seed, 0, 2**32 - 1)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{fn}: {name} must be an int, got {type(value).__name__} {value!r}")
        if not low <= value <= high:
            raise ValueError(f"{fn}: {name} must be an int in [{low}, {high}], got {value}")
    digits = _sklearn_datasets(fn).load_digits()
    x = (np.asarray(digits.data, np.float32) / 16.0).astype(np.float32)
    labels = np.asarray(digits.target, np.int64)
    y = np.eye(10, dtype=np.float32)[labels]
    order = np.random.RandomState(int(seed)).permutation(len(x))
    test, train = order[:test_size], order[test_size:]
    return Split(x[train], y[train], x[test], y[test])
