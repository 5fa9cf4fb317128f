"""Compiled demo programs kept on disk: a second ``jaxbp gates`` loads them without tracing.

JAX's persistent compilation cache (which the command line turns on) saves compiling a
program again, but JAX must still trace and lower it to find it in that cache: for
``jaxbp gates`` that is half a second, as long as the run itself. This module keeps the
*compiled* program of a demo in ``<cache folder>/programs`` under a key computed without
tracing: the demo's own description of the program (its Python constants), the source of
jaxbp and its demos, the versions of JAX and jaxlib, JAX's configuration, ``XLA_FLAGS``,
the compiler options and the devices, and the arguments' shapes and dtypes. Any change to
one of these is another key, hence a new compile; a file that fails to load is compiled
again and replaced. The files are pickles of JAX's serialised executables
(``jax.experimental.serialize_executable``): like JAX's own cache, the folder must be the
user's own.

Off (``FOLDER`` is None) unless the ``jaxbp`` command sets it: ``JAXBP_NO_CACHE=1`` turns
it off with the rest of the cache, and demos called from Python never write to disk.
"""
import contextlib
import hashlib
import os
import pickle
import tempfile
import threading
from typing import Any, Callable, Dict, Hashable, Iterator, Optional

import jax
import jaxlib
import numpy as np
from jax.experimental import serialize_executable

FOLDER: Optional[str] = None   # set by jaxbp.cli when the cache is on


def use(cache_folder: Optional[str]) -> None:
    """Keep programs in ``cache_folder``/programs from now on (None: off)."""
    global FOLDER
    FOLDER = None if cache_folder is None else os.path.join(cache_folder, "programs")


def compiled(fn: Callable, args: tuple, description: Optional[Hashable],
             options: Dict[str, Any]) -> jax.stages.Compiled:
    """``jax.jit(fn).lower(*args).compile(options)``, or the same program loaded from
    :data:`FOLDER`. ``description`` must name everything ``fn`` computes with apart from
    its arguments and jaxbp's code (the Python values it closes over); None: not kept."""
    if FOLDER is None or description is None:
        return jax.jit(fn).lower(*args).compile(options)
    path = os.path.join(FOLDER, _key(args, description, options) + ".pkl")
    try:
        with open(path, "rb") as f:
            return serialize_executable.deserialize_and_load(*pickle.load(f))
    except Exception:  # not there yet, or unreadable: compile it (again)
        pass

    def stored_program(*args):
        return fn(*args)
    lowered = jax.jit(stored_program).lower(*args)
    with _no_cache_writes():
        program = lowered.compile(options)
    try:
        payload = pickle.dumps(serialize_executable.serialize(program))
        os.makedirs(FOLDER, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=FOLDER, delete=False) as f:
            f.write(payload)
        os.replace(f.name, path)   # whole or not at all, even with two runs at once
    except Exception:  # a full disk, a backend that cannot serialise: a cache only saves time
        pass
    return program


_lock = threading.Lock()
_compiling = 0     # programs being compiled here, in any thread
_writes = 0.0      # JAX's own setting, while they are


@contextlib.contextmanager
def _no_cache_writes() -> Iterator[None]:
    """JAX's persistent cache keeps no program compiled inside (two threads may be)."""
    global _compiling, _writes
    with _lock:
        if _compiling == 0:
            _writes = jax.config.jax_persistent_cache_min_compile_time_secs
            jax.config.update("jax_persistent_cache_min_compile_time_secs", float("inf"))
        _compiling += 1
    try:
        yield
    finally:
        with _lock:
            _compiling -= 1
            if _compiling == 0:
                jax.config.update("jax_persistent_cache_min_compile_time_secs", _writes)


def _key(args: tuple, description: Hashable, options: Dict[str, Any]) -> str:
    device = jax.devices()[0]
    parts = (description, _source_digest(), jax.__version__, jaxlib.__version__,
             device.platform, device.client.platform_version, device.device_kind,
             jax.device_count(), sorted(options.items()),
             sorted((k, repr(v)) for k, v in jax.config.values.items()),
             os.environ.get("XLA_FLAGS", ""), jax.tree_util.tree_structure(args),
             [(np.shape(a), str(getattr(a, "dtype", None) or np.result_type(a)),
               getattr(a, "weak_type", False)) for a in jax.tree_util.tree_leaves(args)])
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _source_digest() -> str:
    """SHA-256 of every Python file of jaxbp and its demos."""
    import jaxbp
    import jaxbp.demos
    digest = hashlib.sha256()
    for root in [*jaxbp.__path__, *jaxbp.demos.__path__]:
        for folder, subfolders, files in os.walk(root):
            subfolders.sort()
            for name in sorted(files):
                if name.endswith(".py"):
                    digest.update(name.encode())
                    with open(os.path.join(folder, name), "rb") as f:
                        digest.update(f.read())
    return digest.hexdigest()
