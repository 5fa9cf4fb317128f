"""Scaling out: the same jaxbp code on 1, 2 and 4 (simulated) devices.

The workloads are the bench's own (``bench/workloads.py``: same sizes, seeds and data):

W2  1,024 random initialisations of a 2-2-1 sigmoid XOR net, 5,000 full-batch steps at
    lr 0.5, quadratic cost, float32: one ``jaxbp.parallel.sharded_sweep`` (the runs are
    split over the devices; no communication).
W5  a 784-100-10 sigmoid MLP (quadratic cost, SGD lr 3, float32) on 60,000 synthetic
    samples, mini-batches of 128, one epoch (468 steps) of data-parallel
    ``jaxbp.parallel.fit(..., mesh=...)`` (each batch split over the devices, gradients all-reduced);
    reported as throughput in samples/s.

Every device count runs in its own subprocess started with
``XLA_FLAGS=--xla_force_host_platform_device_count=k``, the way to get k devices out of
one CPU. Those devices are slices of the same cores, so on a CPU the table shows that
the code runs and agrees at every device count -- not a speed-up. On a host with k GPUs
or TPU cores the same code (one ``Mesh`` over ``jax.devices()``) splits the work for real.

Times are medians of 5 timed repetitions after one compiling warm-up run.

    python bench/scaling.py [--quick]      # prints a Markdown table
"""
import json
import os
import statistics
import subprocess
import sys
import time

if __package__ in (None, ""):  # python bench/scaling.py: make ``bench`` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import workloads as wl  # noqa: E402

DEVICE_COUNTS = (1, 2, 4)
REPEATS = 5


def _timed(fn, repeats=REPEATS):
    """``(median, min, max)`` seconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def _params(w):
    import jax.numpy as jnp
    return tuple({"W": jnp.asarray(W), "b": jnp.asarray(b)} for W, b in wl.init_params(w))


def _worker(quick):
    """Runs inside one subprocess: both workloads on every device jax sees."""
    import jax
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P

    import jaxbp
    from jaxbp import parallel

    spec = wl.specs(quick=quick)
    devices = jax.device_count()
    rows, out = [], {}

    w = spec["W2"]  # many independent XOR runs, split over the devices
    net = jaxbp.MLP(w.sizes, output=w.output)
    x, y, _, _ = wl.data(w)
    params_batch, mesh = _params(w), parallel.make_mesh(axis="runs")

    def w2():
        out["r"] = jax.block_until_ready(parallel.sharded_sweep(
            net, params_batch, x, y, w.cost, w.lr, w.steps, mesh=mesh))

    def w2_row(median):
        return {"throughput": w.runs * w.steps / median, "unit": "run-steps/s",
                "solved": int(np.sum(np.asarray(out["r"].solved))), "runs": w.runs,
                "check": float(np.mean(np.asarray(out["r"].loss)))}
    rows.append(_row("W2", devices, w2, w2_row))

    w5 = spec["W5"]  # data-parallel mini-batch training
    net5 = jaxbp.MLP(w5.sizes, output=w5.output)
    x5, y5, _, _ = wl.data(w5)
    params, mesh5 = _params(w5), parallel.make_mesh()
    rows_sharding = NamedSharding(mesh5, P("data"))
    x5, y5 = jax.device_put(x5, rows_sharding), jax.device_put(y5, rows_sharding)  # once

    def w5_run():
        out["r"] = jax.block_until_ready(parallel.fit(
            net5, params, x5, y5, w5.cost, w5.lr, steps=w5.steps, batch_size=w5.batch,
            key=jax.random.key(w5.seed), mesh=mesh5))

    def w5_row(median):
        return {"throughput": w5.steps * w5.batch / median, "unit": "samples/s",
                "check": float(np.asarray(out["r"][1])[-1])}
    rows.append(_row("W5", devices, w5_run, w5_row))
    return rows


def _row(workload, devices, fn, fields):
    """One table row: the timing of ``fn`` and ``fields(median)``; a failure is a row with
    its ``error`` (the other workload still runs)."""
    try:
        median, low, high = _timed(fn)
        return {"workload": workload, "devices": devices, "seconds": median, "min": low,
                "max": high, **fields(median)}
    except Exception as e:  # noqa: BLE001  (reported in the table)
        return {"workload": workload, "devices": devices,
                "error": f"{type(e).__name__}: {str(e).splitlines()[0][:150]}"}


def run(quick=False):
    """Both workloads at 1, 2 and 4 simulated devices; one row dict per (workload, devices).

    Keys: ``workload``, ``devices``, ``seconds`` (median of 5), ``min``, ``max``,
    ``throughput`` and ``unit``, ``check`` (W2: mean final loss over the runs; W5: loss of
    the last step), and for W2 ``solved`` out of ``runs``. ``check`` and ``solved`` agree
    across device counts (W5's ``check`` up to float32 summation order). ``quick`` uses
    the bench's ``--quick`` sizes (W2: 500 steps; W5: 40 steps).
    """
    rows = []
    for devices in DEVICE_COUNTS:
        env = dict(os.environ)
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                            f" --xla_force_host_platform_device_count={devices}").strip()
        args = [sys.executable, os.path.abspath(__file__), "--worker"] + (["--quick"] if quick else [])
        done = subprocess.run(args, env=env, capture_output=True, text=True,
                              timeout=600 if quick else 3600)
        if done.returncode != 0:
            raise RuntimeError(f"bench/scaling.py worker with {devices} device(s) failed:\n"
                               f"{done.stderr[-3000:]}")
        rows += json.loads(done.stdout.strip().splitlines()[-1])
    return rows


def table(rows):
    """The rows as a Markdown table; "vs 1 device" is the relative difference of ``check``
    (W2: mean final loss of the runs; W5: loss of the last step) from the 1-device row."""
    first = {r["workload"]: r["check"] for r in rows if r["devices"] == 1 and "error" not in r}
    lines = ["| workload | devices | median (min-max) s | throughput | check | vs 1 device | solved |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['workload']} | {r['devices']} | failed: {r['error']} | | | | |")
            continue
        solved = f"{r['solved']}/{r['runs']}" if "solved" in r else ""
        ref = first.get(r["workload"])
        diff = f"{abs(r['check'] - ref) / abs(ref):.1e}" if ref else ""
        lines.append(f"| {r['workload']} | {r['devices']} | {r['seconds']:.3f} "
                     f"({r['min']:.3f}-{r['max']:.3f}) | {r['throughput']:,.0f} {r['unit']} | "
                     f"{r['check']:.6g} | {diff} | {solved} |")
    return "\n".join(lines)


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    if "--worker" in sys.argv:
        print(json.dumps(_worker(quick)))
    else:
        print(table(run(quick)))
        print("\nSimulated CPU devices share the same cores: this shows correctness at every "
              "device count, not speed-up.")
