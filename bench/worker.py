"""One worker process of the bench: ``python -m bench.worker GROUP OUTDIR CONFIG_JSON``.

Groups: ``jax32`` (jaxbp, the plain JAX peers and the fused reference in float32; also
draws the shuffling permutations for W4/W5 and measures the XLA side of the limits),
``jax64`` (the same for the float64 workload W3, run with ``JAX_ENABLE_X64=1``), ``numpy``
(both NumPy peers and pure Python), ``torch``, ``scaling`` (``bench.scaling.run``, if that
module exists).

For each workload: one first call of every implementation (its time is reported as the
compile/first-call time), then ``repeats`` rounds of timed calls, one call of each
implementation per round (interleaved; ``SHORT_FACTOR`` times as many rounds when a round
takes under ``SHORT_ROUND`` seconds, and in a full run ``BRIEF_FACTOR`` times under
``BRIEF_ROUND``); the final parameters of the last call are evaluated by
:func:`bench.workloads.evaluate`. Results go to ``OUTDIR/GROUP.json``.
"""
import json
import os
import sys
import time
import traceback

import numpy as np

from . import workloads as wl


def _pin(threads):
    try:
        cpus = sorted(os.sched_getaffinity(0))[:threads]
        os.sched_setaffinity(0, cpus)
        return cpus
    except (AttributeError, OSError):
        return None


def _variants(group, threads):
    if group == "jax32" or group == "jax64":
        from . import fused, impl_jax, impl_jaxbp
        return {**impl_jaxbp.variants(), **impl_jax.variants(), **fused.variants()}
    if group == "numpy":
        from . import impl_numpy, impl_python
        return {**impl_numpy.variants(threads), **impl_python.variants()}
    if group == "torch":
        from . import impl_torch
        return impl_torch.variants()
    raise ValueError(f"unknown group {group}")


def _batches(w, outdir, group):
    if not w.batch:
        return None, None
    path = os.path.join(outdir, f"perms_{w.wid}.npy")
    if group == "jax32":
        from . import impl_jaxbp
        perms = impl_jaxbp.fit_permutations(w)
        np.save(path, perms)
        return wl.batches(w, perms), perms
    if os.path.exists(path):
        return wl.batches(w, np.load(path)), None
    rng = np.random.default_rng(w.seed)        # jax worker missing: still run, flagged
    perms = np.stack([rng.permutation(wl.n_train(w)) for _ in range(w.epochs)])
    return wl.batches(w, perms), False


SHORT_ROUND, SHORT_FACTOR = 0.05, 5    # a round under 50 ms: 5x the rounds
BRIEF_ROUND, BRIEF_FACTOR = 1.0, 2      # under 1 s: 2x (a median of 10, not 5)


def timed(run):
    """``(seconds, result)`` of one call."""
    t0 = time.perf_counter()
    out = run()
    return time.perf_counter() - t0, out


def _time_in_rounds(cells, wid, notes, brief=True):
    """Timed calls in rounds, one call of each cell per round, in alternating order: a change
    of load on this shared machine then hits all of them alike, and no implementation
    always runs first or right after the same other one. Cheap workloads (a round under
    SHORT_ROUND s) get SHORT_FACTOR times the rounds: a 1 ms call is at the mercy of every
    other process on the machine. With ``brief`` (full runs), rounds under BRIEF_ROUND s
    get BRIEF_FACTOR times: on a shared machine one disturbed stretch of a few calls can
    move a median of 5 (docs/bench.md, Method).
    Fills each cell's ``times`` and ``out``."""
    rounds = max((c["repeats"] for c in cells), default=0)
    r = 0
    while r < rounds:
        t_round, failed = time.perf_counter(), False
        for c in (cells if r % 2 == 0 else cells[::-1]):   # ABBA
            if r < c["repeats"]:
                try:
                    t, c["out"] = timed(c["run"])
                    c["times"].append(t)
                except Exception:
                    notes.append(f"{c['name']} {wid}: {traceback.format_exc(limit=3)}")
                    c["repeats"], failed = 0, True
        if r == 0 and not failed:
            took = time.perf_counter() - t_round
            factor = (SHORT_FACTOR if took < SHORT_ROUND else
                      BRIEF_FACTOR if brief and took < BRIEF_ROUND else 1)
            for c in cells:
                c["repeats"] *= factor
            rounds *= factor
        r += 1


def run_group(group, outdir, config):
    specs = wl.specs(quick=config["mode"] == "quick", smoke=config["mode"] == "smoke")
    wanted = [wid for wid in config["workloads"]
              if (specs[wid].dtype == "float64") == (group == "jax64") or group in ("numpy", "torch")]
    info = {"cpus": _pin(config["threads"])}
    if group == "torch":
        from . import impl_torch
        info["torch_threads"] = impl_torch.threads(config["threads"])
    variants = _variants(group, config["threads"])
    results, notes = {}, []
    for wid in wanted:
        w = specs[wid]
        batches, perms = _batches(w, outdir, group)
        if perms is False:
            notes.append(f"{wid}: no permutations from the jax worker; peers used their own")
        cells = []        # every (implementation, size) of this workload, run interleaved
        for name, (label, runners, slow) in variants.items():
            if wid not in runners:
                continue
            configs = [wl.reduced(w)] if wid in slow else [w]
            if name == "jaxbp-manual" and wl.reduced(w) != w and wid != "W2":
                configs.append(wl.reduced(w))       # the reference for the slow peers
            for k, cw in enumerate(configs):
                try:
                    run = runners[wid](cw, wl.init_params(cw), wl.data(cw),
                                       None if batches is None else batches[:cw.steps])
                    first, out = timed(run)
                except Exception:
                    notes.append(f"{name} {wid}: {traceback.format_exc(limit=3)}")
                    continue
                cells.append(dict(name=name, label=label, cw=cw, run=run, first=first, out=out,
                                  times=[], repeats=config["repeats"] if k == 0 else 0,
                                  key=wid if cw == w else f"{wid}-reduced"))
        _time_in_rounds(cells, wid, notes, brief=config["mode"] == "full")
        for c in cells:
            try:
                result = wl.evaluate(c["cw"], c["out"])
            except Exception:
                notes.append(f"{c['name']} {wid}: {traceback.format_exc(limit=3)}")
                continue
            results.setdefault(c["name"], {})[c["key"]] = {
                "label": c["label"], "steps": c["cw"].steps, "runs": c["cw"].runs,
                "first": c["first"], "times": c["times"], "result": result}
            print(f"  {group}: {c['name']} {c['key']} first {c['first']:.3f}s"
                  + (f" median {np.median(c['times']):.4f}s" if c["times"] else ""),
                  file=sys.stderr)
        if group == "jax32" and batches is not None:     # after timing: it compiles fit
            from . import impl_jaxbp
            info[f"perms_{wid}_match_fit"] = impl_jaxbp.check_permutations(
                w, wl.init_params(w), wl.data(w), perms)
    info.update(_library_info(group, specs, config))
    with open(os.path.join(outdir, f"{group}.json"), "w") as f:
        json.dump({"results": results, "info": info, "notes": notes}, f)


def _library_info(group, specs, config):
    from . import limits
    limits.BUDGET = {"smoke": 0.02, "quick": 0.05}.get(config["mode"], 0.2)
    limits.ALL_LAYOUTS = config["mode"] == "full"
    info = {}
    if group == "jax32":
        import jax
        import jaxlib
        info["versions"] = {"jax": jax.__version__, "jaxlib": jaxlib.__version__}
        if config.get("limits", True):
            ws = {k: specs[k] for k in ("W2", "W5") if k in config["workloads"]}
            info["limits"] = limits.measure_jax(ws)
    if group in ("numpy", "torch") and config.get("limits", True) and "W5" in config["workloads"]:
        shapes = limits.gemm_shapes(specs["W5"])
        info["gemm"] = limits.gemm_numpy(shapes) if group == "numpy" else limits.gemm_torch(shapes)
    if group == "numpy":
        info["versions"] = {"numpy": np.__version__}
        try:
            import threadpoolctl
            info["blas"] = [{k: p.get(k) for k in ("internal_api", "version", "architecture",
                                                    "num_threads", "filepath")}
                            for p in threadpoolctl.threadpool_info()]
        except ImportError:
            pass
    if group == "torch":
        import torch
        info["versions"] = {"torch": torch.__version__}
        info["blas"] = torch.__config__.parallel_info().splitlines()[:6]
    info["env"] = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                  "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                  "XLA_FLAGS", "JAX_ENABLE_X64")}
    return info


if __name__ == "__main__":
    group, outdir, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    if group == "scaling":
        from . import scaling
        rows = scaling.run(quick=config["mode"] != "full")
        with open(os.path.join(outdir, "scaling.json"), "w") as f:
            json.dump({"rows": rows if isinstance(rows, (list, str)) else str(rows)}, f, default=str)
    else:
        run_group(group, outdir, config)
