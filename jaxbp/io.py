"""Saving and loading a network: one ``.npz`` file you can trust (E36-E39, G12-G14).

File format (version 1): an uncompressed zip written by ``np.savez`` holding

* ``layer{l}/W`` and ``layer{l}/b`` for every layer, in the params dtype;
* ``metadata``: UTF-8 JSON stored as a uint8 array -- ``format`` ("jaxbp-params"),
  ``version`` (1), ``sizes``, ``activations``, ``dtype`` and ``sha256``, a SHA-256 over
  (key, dtype, shape, bytes) of every array above.

No pickle anywhere: :func:`load` reads with ``np.load(path, allow_pickle=False)`` only, so a
file can never run code. Every member's CRC-32 and the SHA-256 are verified, the metadata is
checked against the arrays (and against ``expected_sizes`` if given), and nothing is returned
unless all of it holds. The checksum detects corruption and accidental edits; it is not a
signature, so it does not prove who wrote the file.
"""
import hashlib
import json
import os
import tempfile
import zipfile
from typing import Mapping, Optional, Sequence, Tuple, Union

import jax.numpy as jnp
import numpy as np

from . import _checks
from ._types import Params
from .errors import ParamsFileError
from .network import MLP

FORMAT, VERSION = "jaxbp-params", 1
DTYPES = ("float16", "float32", "float64")   # the float dtypes that .npy stores natively


def checksum(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 (hex) over ``(key, dtype, shape, bytes)`` of each array, in key order."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        for field in (key.encode(), a.dtype.str.encode(), repr(tuple(a.shape)).encode(), a.tobytes()):
            h.update(len(field).to_bytes(8, "little"))
            h.update(field)
    return h.hexdigest()


def save(path: Union[str, os.PathLike], net: MLP, params: Params) -> None:
    """Write ``net`` and ``params`` to exactly one file at ``path`` (no suffix is added).

    The write is atomic: the data go to a temporary file in the same directory, which is
    flushed, fsynced and then renamed over ``path`` (the directory is fsynced too). If
    anything fails, the temporary file is removed and an existing file at ``path`` is left
    byte-identical; a reader sees the old file or the new one, never a mix.

    Raises ``FileNotFoundError`` if the directory does not exist, and ``TypeError``/
    ``ValueError`` (before touching the disk) for anything that is not an MLP and matching,
    concrete float16/32/64 params.
    """
    path = _check_path("save", path)
    if not hasattr(net, "sizes") or not hasattr(net, "activations"):
        raise TypeError(f"save: net must be a jaxbp.MLP, got {type(net).__name__}")
    dtype = _checks.check_params("save", net, params)
    _checks.require_concrete("save", "params", params)
    if dtype.name not in DTYPES:
        raise TypeError(f"save: params dtype must be one of {list(DTYPES)}, got {dtype}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: directory '{directory}' does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"save: path '{path}' is a directory")
    arrays = {f"layer{l}/{name}": np.asarray(layer[name])
              for l, layer in enumerate(params) for name in ("W", "b")}
    meta = {"format": FORMAT, "version": VERSION, "sizes": list(net.sizes),
            "activations": list(net.activations), "dtype": dtype.name, "sha256": checksum(arrays)}
    arrays["metadata"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
    _atomic_write(path, directory, arrays)


def _write_npz(f, arrays):
    """Serialise ``arrays`` into the open binary file ``f`` (a seam for crash tests)."""
    np.savez(f, **arrays)


def _atomic_write(path, directory, arrays):
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
        os.chmod(tmp, mode)            # mkstemp makes 0600 files; keep the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:                               # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:                    # e.g. platforms that cannot fsync a directory
        pass


def load(path: Union[str, os.PathLike], expected_sizes: Optional[Sequence[int]] = None
         ) -> Tuple[MLP, Params]:
    """Read a file written by :func:`save`; returns ``(net, params)``, bit-identical.

    ``expected_sizes`` (optional) is the architecture you require, e.g. ``[2, 3, 1]``.
    Params come back as jax arrays in the dtype they were saved in; a float64 file while
    ``jax_enable_x64`` is off raises ``ValueError`` rather than silently truncating.

    Raises :class:`jaxbp.ParamsFileError` (a ``ValueError``) naming the file and the problem
    -- not a zip, truncated, a failed CRC-32 or SHA-256, pickled objects, missing, extra or
    mis-shaped arrays, another format or version -- with the original exception chained.
    A missing file raises ``FileNotFoundError``.
    """
    path = _check_path("load", path)
    if expected_sizes is not None:
        expected_sizes = list(_checks.check_sizes("load", expected_sizes))
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: '{path}'")
    if os.path.isdir(path):
        raise IsADirectoryError(f"load: '{path}' is a directory, not a params file")
    fail = lambda problem: ParamsFileError(f"load: cannot read params file '{path}': {problem}")
    _check_zip(path, fail)
    arrays = _read_arrays(path, fail)
    meta = _metadata(arrays.pop("metadata", None), fail)
    net = _net(meta, fail)
    _check_arrays(arrays, meta, expected_sizes, fail)
    if checksum(arrays) != meta["sha256"]:
        raise fail(f"checksum mismatch: the arrays' SHA-256 is {checksum(arrays)[:16]}..., the "
                   f"metadata records {str(meta['sha256'])[:16]}...; the file was corrupted or edited")
    if meta["dtype"] == "float64" and not _checks.x64_enabled():
        raise ValueError(f"load: params file '{path}' holds float64 params: {_checks.X64_HINT}")
    params = tuple({name: jnp.asarray(arrays[f"layer{l}/{name}"]) for name in ("W", "b")}
                   for l in range(len(net.sizes) - 1))
    return net, params


def _check_zip(path, fail):
    """The zip layer: structure, CRC-32 of every member, and .npy headers that are plain
    numeric arrays no larger than the data actually stored (no allocation bombs)."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            for m in members:
                if m.compress_type != zipfile.ZIP_STORED:
                    raise zipfile.BadZipFile(f"unexpected compressed member '{m.filename}'")
            bad = zf.testzip()
            if bad is not None:
                raise zipfile.BadZipFile(f"Bad CRC-32 for file '{bad}'")
            headers = {}
            for m in members:
                with zf.open(m) as f:
                    version = np.lib.format.read_magic(f)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    headers[m.filename] = read_header(f), m.file_size
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as e:   # zipfile raises many kinds on damaged input; all mean the same
        kind = "" if isinstance(e, zipfile.BadZipFile) else f"{type(e).__name__}: "
        raise fail(f"not a valid jaxbp params archive (BadZipFile: {kind}{e})") from e
    for name, ((shape, _, dtype), stored) in headers.items():
        if dtype.hasobject:
            raise fail(f"array '{name.removesuffix('.npy')}' holds pickled Python objects, "
                       f"which jaxbp never loads")
        if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > stored:
            raise fail(f"array '{name.removesuffix('.npy')}' claims shape {shape} {dtype}, "
                       f"more than the {stored} bytes stored")


def _read_arrays(path, fail):
    """Every array, read with ``np.load(path, allow_pickle=False)`` and nothing else."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as e:
        raise fail(f"not a valid jaxbp params archive ({type(e).__name__}: {e})") from e


def _check_path(fn, path):
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{fn}: path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


def _metadata(raw, fail):
    if raw is None:
        raise fail("missing array 'metadata' (not a jaxbp params file)")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise fail(f"'metadata' must be uint8 bytes, got {raw.dtype} {raw.shape}")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise fail(f"metadata is not valid JSON ({type(e).__name__}: {e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise fail(f"format is {got!r}, expected {FORMAT!r}")
    if meta.get("version") != VERSION:
        raise fail(f"unsupported format version {meta.get('version')!r} (this jaxbp reads "
                   f"version {VERSION})")
    missing = [k for k in ("sizes", "activations", "dtype", "sha256") if k not in meta]
    if missing:
        raise fail(f"metadata lacks {missing}")
    if meta["dtype"] not in DTYPES:
        raise fail(f"metadata dtype {meta['dtype']!r} is not one of {list(DTYPES)}")
    if not isinstance(meta["sha256"], str):
        raise fail(f"metadata sha256 must be a hex string, got {meta['sha256']!r}")
    return meta


def _net(meta, fail):
    from .network import MLP
    try:
        return MLP(tuple(meta["sizes"]) if isinstance(meta["sizes"], list) else meta["sizes"],
                   activations=tuple(meta["activations"])
                   if isinstance(meta["activations"], list) else meta["activations"])
    except (TypeError, ValueError) as e:
        raise fail(f"invalid architecture in metadata ({e})") from e


def _check_arrays(arrays, meta, expected_sizes, fail):
    """Keys, shapes and dtypes against the sizes (``expected_sizes`` or the metadata's)."""
    stored = list(meta["sizes"])
    if expected_sizes is not None and len(expected_sizes) != len(stored):
        raise fail(f"the file has {len(stored) - 1} layers (sizes {stored}), expected "
                   f"{len(expected_sizes) - 1} for sizes {expected_sizes}")
    for sizes, against in ((expected_sizes, "expected"), (stored, "stored")):
        if sizes is None:
            continue
        keys = {f"layer{l}/{name}" for l in range(len(sizes) - 1) for name in ("W", "b")}
        for key in sorted(keys - set(arrays)):
            raise fail(f"missing array '{key}' for sizes {sizes}")
        for key in sorted(set(arrays) - keys):
            raise fail(f"unexpected array '{key}' for sizes {sizes}")
        for l in range(len(sizes) - 1):
            for name, shape in (("W", (sizes[l], sizes[l + 1])), ("b", (sizes[l + 1],))):
                a = arrays[f"layer{l}/{name}"]
                if a.shape != shape:
                    where = "" if against == "expected" else " (the metadata's sizes)"
                    raise fail(f"layer {l} '{name}' has shape {a.shape}, expected {shape} "
                               f"for sizes {sizes}{where}")
                if a.dtype != np.dtype(meta["dtype"]):
                    raise fail(f"layer {l} '{name}' has dtype {a.dtype}, expected "
                               f"{meta['dtype']} (the metadata's dtype)")
