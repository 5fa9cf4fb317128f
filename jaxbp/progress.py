"""Progress from inside a compiled training loop: ``jaxbp.fit(..., progress=True)``.

A long ``fit`` is one compiled ``lax.scan``: nothing comes back to Python until it ends.
With ``progress``, :func:`scan` splits the loop into :data:`CHUNKS` chunks -- an outer
``lax.scan`` over inner scans of the *same* body, so every step does the same work and
writes its entry of the history in place -- and after each chunk a ``jax.debug.callback``
tells the host how many steps are done. The callback receives only that count, which no
``jax.vmap`` batches: under ``jit`` and ``vmap`` it is called once per chunk for all runs
together. Each report costs 0.1-1.5 ms (more when the program is busy with big matrix
products), hence only a few of them; the cost on the benchmark's workloads
(``python -m bench.progress``) is in docs/bench.md.

``progress`` is ``True`` (:func:`print_progress`: one line on stderr, rewritten in place on
a terminal) or any callable ``progress(done, steps)``; it is part of the compiled program
(hashed by identity), so pass the same function each time to reuse it.
"""
import sys
import time
from functools import partial
from typing import Callable, Dict, Optional, TextIO, Tuple, TypeVar, Union

import jax
import jax.numpy as jnp

CHUNKS = 5  # reports per loop (the last one when all steps are done)

__all__ = ["CHUNKS", "Reporter", "print_progress", "reporter", "scan"]

Reporter = Callable[[int, int], object]   # report(done, steps); what it returns is ignored
Carry = TypeVar("Carry")
Y = TypeVar("Y")


def scan(body: Callable[[Carry, jax.Array], Tuple[Carry, Y]], carry: Carry, steps: int,
         report: Optional[Reporter] = None) -> Tuple[Carry, Y]:
    """``jax.lax.scan(body, carry, jnp.arange(steps))``, with ``report(done, steps)`` called
    on the host after each of :data:`CHUNKS` chunks, in order, when ``report`` is given.
    Returns ``(carry, ys)`` exactly as the plain scan does."""
    index = jnp.arange(steps, dtype=jnp.int32)
    if report is None:
        return jax.lax.scan(body, carry, index)
    tell = partial(_tell, report, steps)
    # The history is written in place into buffers carried through both loops, as the plain
    # scan writes its ys: stacking each chunk's ys instead would copy the history once more.
    y_shapes = jax.eval_shape(body, carry, index[0])[1]
    ys = jax.tree_util.tree_map(lambda s: jnp.zeros((steps,) + s.shape, s.dtype), y_shapes)

    def step(state, i):
        carry, ys = state
        carry, y = body(carry, i)
        put = lambda a, v: jax.lax.dynamic_update_index_in_dim(a, v, i, 0)
        return (carry, jax.tree_util.tree_map(put, ys, y)), None

    def chunk(state, idx):
        state, _ = jax.lax.scan(step, state, idx)
        # The count leaves the barrier with the state: the report waits for the chunk.
        state, done = jax.lax.optimization_barrier((state, idx[-1] + 1))
        jax.debug.callback(tell, done, ordered=True)
        return state, None

    every = max(1, steps // CHUNKS)
    whole = steps // every * every
    state, _ = jax.lax.scan(chunk, (carry, ys), index[:whole].reshape(-1, every))
    if whole < steps:
        state, _ = chunk(state, index[whole:])
    return state


def _tell(report, steps, done):
    report(int(done), steps)


def reporter(fn: str, progress: Union[bool, Reporter, None]) -> Optional[Reporter]:
    """``fit``'s ``progress`` argument as the function :func:`scan` calls (None for off)."""
    if progress is None or progress is False:
        return None
    if progress is True:
        return print_progress
    if callable(progress):
        return progress
    raise TypeError(f"{fn}: progress must be True, False, None or a callable "
                    f"progress(done, steps), got {type(progress).__name__} {progress!r}")


# steps -> (done, time) of a loop's first report, for the time left
_first: Dict[int, Tuple[int, float]] = {}


def print_progress(done: int, steps: int, file: Optional[TextIO] = None) -> None:
    """The default reporter: ``fit: 4,000/10,000 steps (40%), about 1.8 s left`` on stderr,
    rewritten in place on a terminal (one line per report otherwise)."""
    file = sys.stderr if file is None else file
    now = time.perf_counter()
    first_done, first_time = _first.setdefault(steps, (done, now))
    if done <= first_done:
        _first[steps] = (done, now)  # a new loop with as many steps
    line = f"fit: {done:,}/{steps:,} steps ({100 * done // steps}%)"
    if first_done < done < steps:
        rate = (now - first_time) / (done - first_done)
        line += f", about {rate * (steps - done):.1f} s left"
    if file.isatty():
        file.write("\r\033[K" + line + ("\n" if done == steps else ""))
    else:
        file.write(line + "\n")
    file.flush()
