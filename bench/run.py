"""Run the benchmark: ``python -m bench [--quick] [--out FILE]`` (or ``python bench/run.py``).

Every implementation runs in its own worker process, one after the other (never two at
once), so none competes with another for the two cores:

=========  ==============================================================================
worker     what runs in it
=========  ==============================================================================
jax32      jaxbp (`fit` with a number and with optax.sgd in jit, train_many), the plain JAX
           peers (bench/impl_jax.py) and the fused reference; float32, x64 off
jax64      the same for W3, with ``JAX_ENABLE_X64=1`` (the x64 choice: a separate process,
           so the float32 workloads never run with x64 on)
numpy      Nielsen's network.py, NumPy whole-batch, pure Python
torch      PyTorch eager (skipped with a note when torch is not importable)
scaling    ``bench.scaling.run(quick=...)``, if bench/scaling.py exists
vjp        ``python -m bench.vjp``: a user's loop through ``jaxbp.manual_vjp`` vs ``net.apply``
progress   ``python -m bench.progress``: ``fit`` with and without ``progress=``
gates      ``jaxbp gates`` (and ``jaxbp sweep``) from fresh processes, first and later runs
=========  ==============================================================================

Threads: every worker is pinned to the first ``--threads`` cores and each library is told
that number (XLA: its pool sizes itself from the affinity, and with 1 thread
``--xla_cpu_multi_thread_eigen=false``; ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` for
NumPy; ``torch.set_num_threads``). The default is **1**: every implementation gets the same
single core, and the results stay reproducible on a 2-core machine shared with other work,
where a second BLAS/OpenMP thread that has to wait for a busy core made NumPy and PyTorch
10-30x slower in our measurements. ``--threads 2`` measures both cores (with
``--threads 2`` NumPy's W5 is also run with one BLAS thread, as a separate row). ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``, when set
on this machine, are removed together from the numpy and torch workers' environment only,
so NumPy's OpenBLAS picks its best kernel (recorded in the header); ``--keep-blas-env``
leaves them. Nothing else in the environment is changed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):          # python bench/run.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "bench"

from bench import report, workloads as wl  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROUPS = ("jax32", "jax64", "numpy", "torch")


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller steps, 3 repeats (< 1 min)")
    p.add_argument("--smoke", action="store_true", help="CI size: tiny steps, 1 repeat")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results.md"),
                   help="Markdown output (default bench/results.md)")
    p.add_argument("--json", help="also write the raw results as JSON here")
    p.add_argument("--threads", type=int, default=1,
                   help="cores (and library threads) per worker; default 1, see above")
    p.add_argument("--repeats", type=int, help="timed runs after the first call")
    p.add_argument("--only", default="W1,W2,W3,W4,W5", help="workloads, e.g. W1,W3")
    p.add_argument("--skip", default="", help="workers to skip, e.g. torch,scaling,gates,vjp,progress")
    p.add_argument("--verbose", action="store_true", help="echo the workers' progress")
    p.add_argument("--keep-blas-env", action="store_true",
                   help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE in the peers' workers")
    args = p.parse_args(argv)
    args.mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    if args.repeats is None:
        args.repeats = {"smoke": 1, "quick": 3, "full": 5}[args.mode]
    args.only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    return args


def worker_env(group, args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    env["JAX_PLATFORMS"] = "cpu"
    n = str(args.threads)
    if group.startswith("jax"):
        env["JAX_ENABLE_X64"] = "1" if group == "jax64" else "0"
        if args.threads == 1:
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                                " intra_op_parallelism_threads=1").strip()
    else:
        env.update(OPENBLAS_NUM_THREADS=n, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n)
        if not args.keep_blas_env:
            env.pop("OPENBLAS_CORETYPE", None)
            env.pop("OPENBLAS_L2_SIZE", None)
    return env


def run_worker(group, outdir, args, timeout):
    config = {"mode": args.mode, "workloads": args.only, "repeats": args.repeats,
              "threads": args.threads}
    cmd = [sys.executable, "-m", "bench.worker", group, outdir, json.dumps(config)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=worker_env(group, args), timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if args.verbose:
        print(proc.stderr, file=sys.stderr, end="")
    path = os.path.join(outdir, f"{group}.json")
    if proc.returncode != 0 or not os.path.exists(path):
        return None, f"worker {group} failed (exit {proc.returncode}): {proc.stderr[-1500:]}"
    with open(path) as f:
        data = json.load(f)
    data["wall"] = time.perf_counter() - t0
    return data, None


def torch_available():
    probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True)
    return probe.returncode == 0


def gates_cold_start(args):
    """``python -m jaxbp gates`` from a fresh process (import + compile + run), in seconds:
    ``({"gates": [first, second, ...], "import": [...]}, None)`` or ``(None, why)``.

    The runs share one new, empty cache folder (``XDG_CACHE_HOME``), so the first run
    starts with no compiled programs cached there and the later ones find what it left;
    ``import`` times ``python -c "import jax, jaxbp"``, the floor under any run, in between.
    ``sweep`` times ``jaxbp sweep`` (first and second run, same cache folder).
    """
    try:
        import importlib.util
        if importlib.util.find_spec("jaxbp.demos.gates") is None:
            return None, "demos/gates.py does not exist yet"
    except ImportError as e:
        return None, str(e)
    runs = 2 if args.mode != "full" else 3
    times = {"gates": [], "import": [], "sweep": []}
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    commands = {"gates": [sys.executable, "-m", "jaxbp", "gates"],
                "import": [sys.executable, "-c", "import jax, jaxbp"],
                "sweep": [sys.executable, "-m", "jaxbp", "sweep"]}
    with tempfile.TemporaryDirectory(prefix="jaxbp-bench-cache-") as cache:
        env["XDG_CACHE_HOME"] = cache
        for r in range(runs):
            # jaxbp sweep twice (cold, then warm) in full and quick mode
            for what in ("gates", "import") + (("sweep",) if r < 2 and args.mode != "smoke" else ()):
                t0 = time.perf_counter()
                proc = subprocess.run(commands[what], cwd=ROOT, env=env, capture_output=True,
                                      text=True, timeout=120)
                times[what].append(time.perf_counter() - t0)
                if proc.returncode != 0:
                    return None, (f"`{' '.join(commands[what][1:])}` exited {proc.returncode}: "
                                  f"{proc.stderr[-500:]}")
    return times, None


def vjp_section(args):
    """``python -m bench.vjp`` (issue 14's benchmark: a user's loop whose gradient runs
    through ``jaxbp.manual_vjp`` vs the same on ``net.apply``) as a report section."""
    print("[bench] running bench.vjp ...", file=sys.stderr)
    cmd = [sys.executable, "-m", "bench.vjp"] + (["--quick"] if args.mode == "quick" else [])
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    body = proc.stdout.strip() if proc.returncode == 0 else f"failed: {proc.stderr[-500:]}"
    return ("\n\n## BP1-BP4 as jax.custom_vjp inside a user's loop (bench/vjp.py)\n\n"
            "Target (issue 14): the hand-written backward no slower than autodiff "
            "(manual ÷ autodiff <= 1.0).\n\n" + body + "\n")


def progress_section(args):
    """``python -m bench.progress`` (issue 17: what ``fit(..., progress=...)`` costs) as a
    report section."""
    print("[bench] running bench.progress ...", file=sys.stderr)
    cmd = [sys.executable, "-m", "bench.progress"] + (["--quick"] if args.mode == "quick" else [])
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    body = proc.stdout.strip() if proc.returncode == 0 else f"failed: {proc.stderr[-500:]}"
    return ("\n\n## Progress from inside the compiled loop (bench/progress.py)\n\n"
            "Target (issue 17): `fit(..., progress=True)` costs < 2%.\n\n" + body + "\n")


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    timeout = {"smoke": 300, "quick": 300, "full": 1800}[args.mode]
    data, notes = {}, []
    with tempfile.TemporaryDirectory(prefix="jaxbp-bench-") as outdir:
        for group in GROUPS:
            if group in args.skip:
                continue
            if group == "jax64" and not any(wl.specs()[w].dtype == "float64" for w in args.only):
                continue
            if group == "torch" and not torch_available():
                notes.append("PyTorch is not importable here: its rows are skipped "
                             "(`pip install torch` to include them; never a jaxbp dependency).")
                continue
            print(f"[bench] running worker {group} ...", file=sys.stderr)
            data[group], err = run_worker(group, outdir, args, timeout)
            if err:
                notes.append(err)
        if "scaling" not in args.skip and os.path.exists(os.path.join(ROOT, "bench", "scaling.py")):
            print("[bench] running bench.scaling ...", file=sys.stderr)
            scaling, err = run_worker("scaling", outdir, args, timeout)
            data["scaling"] = scaling
            if err:
                notes.append(err)
    gates = (None, "skipped") if "gates" in args.skip else gates_cold_start(args)
    meta = {"mode": args.mode, "threads": args.threads, "repeats": args.repeats,
            "load_before": load_before, "load_after": os.getloadavg(),
            "keep_blas_env": args.keep_blas_env, "wall": time.perf_counter() - t_start,
            "specs": wl.specs(quick=args.mode == "quick", smoke=args.mode == "smoke"),
            "workloads": args.only,
            "walls": {g: {"wall": d["wall"]} for g, d in data.items() if d and "wall" in d}}
    summary = report.build(data, meta, gates, notes)
    text = report.markdown(summary)
    if "vjp" not in args.skip and args.mode != "smoke":
        text += vjp_section(args)
    if "progress" not in args.skip and args.mode != "smoke":
        text += progress_section(args)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report.jsonable(summary), f, indent=1)
    return 0 if summary["all_agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
