"""``python -m bench.progress``: what does ``fit(..., progress=...)`` cost?

The paths users take (as in ``bench/impl_jaxbp.py``): W2 as ``jax.jit(jax.vmap(fit))`` with
``optax.sgd`` (1,024 XOR runs), W5 as ``fit`` with a number optimizer (mini-batches of 128,
784-100-10), each made ten times longer (50,000 and 4,680 steps: 1-2 s), since progress is
for runs a person waits for (issue 17: "anything that takes over ~2 s"). Each is timed
without progress, with ``progress=True`` (its lines go to a string buffer, as when stderr
is a file) and with a callable that does nothing. Rounds are interleaved so a disturbance
hits all three; medians and the median per-round ratio to the run without progress are
reported, in wall time and in this process's CPU time. The goal (issue 17): < 2%.
``--short`` times the benchmark's own step counts (0.1-0.2 s runs), where a program's host
callback costs about 3 ms once plus 0.5 ms a report: 5-10%.

    python -m bench.progress [--quick] [--rounds N] [--threads N]

As the benchmark's workers, it runs on one core by default (``--threads 0``: all cores).
"""
import argparse
import contextlib
import io
import os
import platform
import resource
import statistics
import sys
import time

import jax
import numpy as np
import optax

import jaxbp

from bench.impl_jaxbp import _fit_kwargs, _net, _params, _ready
from bench.workloads import data, init_params, specs


def _nothing(done, steps):
    """A reporter that does nothing: the callback's own cost."""


def runners(w):
    net, params = _net(w), _params(init_params(w))
    x, y = (jax.numpy.asarray(a) for a in data(w)[:2])
    kwargs = _fit_kwargs(w)
    out = {}
    for name, progress in (("off", None), ("True", True), ("callable", _nothing)):
        if w.wid == "W2":
            optimizer = optax.sgd(w.lr)
            many = jax.jit(jax.vmap(lambda p, progress=progress, optimizer=optimizer: jaxbp.fit(
                net, p, x, y, w.cost, optimizer, w.steps, progress=progress)))
            out[name] = lambda many=many: _ready(many(params))
        else:
            out[name] = lambda progress=progress: _ready(jaxbp.fit(
                net, params, x, y, w.cost, w.lr, w.steps, progress=progress, **kwargs))
    return out


def _pin(threads):
    """Run on the first ``threads`` cores (0: all), as ``bench/run.py`` pins its workers, so
    that XLA's threads do not meet the machine's other work on the other core; before
    XLA's backend starts (its thread pool sizes itself from the affinity). Returns the
    cores, or "all"."""
    if threads and hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[:threads]
        os.sched_setaffinity(0, cpus)
        if threads == 1 and "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                       + " --xla_cpu_multi_thread_eigen=false").strip()
        return "core " + ", ".join(map(str, cpus))
    return "all cores"


def _cpu():
    """This process's CPU seconds (all threads): less disturbed than wall time by other
    programs on a shared machine."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(w, rounds):
    runs = runners(w)
    times = {k: [] for k in runs}
    cpu = {k: [] for k in runs}
    with contextlib.redirect_stderr(io.StringIO()):
        results = {k: run() for k, run in runs.items()}  # compile
        order = list(runs)
        for r in range(rounds):
            for k in order if r % 2 == 0 else order[::-1]:
                t0, c0 = time.perf_counter(), _cpu()
                runs[k]()
                times[k].append(time.perf_counter() - t0)
                cpu[k].append(_cpu() - c0)
    same = all(np.array_equal(a, b) for k in results for a, b in
               zip(jax.tree_util.tree_leaves(results[k]), jax.tree_util.tree_leaves(results["off"])))
    return times, cpu, same


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.progress", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the --quick workload sizes")
    ap.add_argument("--short", action="store_true",
                    help="the workloads' own step counts instead of ten times as many")
    ap.add_argument("--rounds", type=int, default=11, help="timed rounds (default 11)")
    ap.add_argument("--threads", type=int, default=1,
                    help="cores to run on, as the benchmark's workers (default 1; 0: all)")
    args = ap.parse_args(argv)
    cpus = _pin(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"jax {jax.__version__}, {platform.machine()}, {os.cpu_count()} cores, "
          f"pinned to {cpus}, load average {load:.1f}, {args.rounds} interleaved rounds\n")
    print("| workload | steps | no progress, median | progress=True | ÷ no progress (per-round "
          "median) | in CPU time | a no-op callable | ÷ no progress | in CPU time | results "
          "identical |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for wid in ("W2", "W5"):
        w = specs(quick=args.quick)[wid]
        if not args.short:
            w = w.replace(steps=10 * w.steps)
        times, cpu, same = measure(w, args.rounds)
        med = {k: statistics.median(v) for k, v in times.items()}
        ratio = {k: statistics.median(a / b for a, b in zip(times[k], times["off"]))
                 for k in ("True", "callable")}
        cpu_ratio = {k: statistics.median(a / b for a, b in zip(cpu[k], cpu["off"]))
                     for k in ("True", "callable")}
        worst = max(worst, *ratio.values())
        what = "jit(vmap(fit)), optax.sgd, 1,024 runs" if wid == "W2" else "fit, a number, batch 128"
        print(f"| {wid} {what} | {w.steps} | {med['off'] * 1e3:.1f} ms | "
              f"{med['True'] * 1e3:.1f} ms | {ratio['True']:.3f} | {cpu_ratio['True']:.3f} | "
              f"{med['callable'] * 1e3:.1f} ms | {ratio['callable']:.3f} | "
              f"{cpu_ratio['callable']:.3f} | {'yes' if same else 'NO'} |", flush=True)
    print(f"\nworst per-round ratio {worst:.3f} (goal < 1.02)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
