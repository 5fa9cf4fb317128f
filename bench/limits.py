"""This machine's limit for W2 and W5: what the workload would take if every operation ran
at the best rate measured here for it.

``limit = sum over the step's GEMMs of (2 m k n / best GEMM rate for that shape)
         + elementwise FLOPs / vector rate + sigmoids / sigmoid rate``

* GEMM rates are measured per shape, in every library the bench runs (XLA inside a compiled
  loop, in each of its 8 operand/result layouts; NumPy's BLAS; PyTorch's), and the best is
  kept.
* The vector rate is a chain of fused multiply-adds over an in-cache float32 array the
  size of the workload's activations, the transcendental rate likewise (both in XLA, inside
  a compiled loop, so no dispatch is counted). The transcendental is the one the
  workloads use, the sigmoid (``jax.nn.sigmoid``, one per unit and sample).
* W2's matrices are 4x2 @ 2x2 per run: far too small for a GEMM kernel, so its matmul
  FLOPs are priced at the vector rate (the fastest way to do them, see bench/fused.py).

FLOP counts are per step; the elementwise count is an estimate (about 8 operations per
unit and sample: bias add, sigmoid, its derivative, the Hadamard products of BP1/BP2, the
bias gradient, plus 2 per parameter for the update).
"""
import time

import numpy as np


def gemm_shapes(w):
    """The step's matrix products as ``(m, k, n)``: forward, BP2 and BP4."""
    n, sizes, shapes = w.batch or 4, w.sizes, []
    for l, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes.append((n, i, o))             # z = a @ W
        shapes.append((i, n, o))             # dC/dW = a.T @ delta            (BP4)
        if l:
            shapes.append((n, o, i))         # delta @ W.T                    (BP2)
    return shapes


def counts(w):
    """Per step, per run: ``(matmul_flops, elementwise_flops, transcendentals)``."""
    n = w.batch or 4
    matmul = sum(2 * m * k * q for m, k, q in gemm_shapes(w))
    units = sum(w.sizes[1:])
    n_params = sum(i * o + o for i, o in zip(w.sizes[:-1], w.sizes[1:]))
    elementwise = 8 * n * units + 2 * n_params
    return matmul, elementwise, n * units


BUDGET = 0.2   # seconds spent per measurement (after one warm-up call)
ALL_LAYOUTS = True   # XLA GEMMs in all 8 layouts (full runs); else only A @ B (--quick, --smoke)


def _best_time(fn, inner):
    """Seconds per call of ``fn`` (which does ``inner`` calls), best of repeats."""
    budget = BUDGET
    fn()
    best, spent = float("inf"), 0.0
    while spent < budget or best == float("inf"):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent = min(best, dt), spent + dt
    return best / inner


def _gemm_eager(shapes, operands, matmul):
    """Per-shape time of ``matmul`` on ``operands(m, k, n)``, repeated to ~2e7 FLOP."""
    out = {}
    for m, k, n in shapes:
        a, b = operands(m, k, n)
        reps = max(1, int(2e7 // (2 * m * k * n + 1)))

        def loop():
            for _ in range(reps):
                matmul(a, b)
        out[f"{m}x{k}x{n}"] = _best_time(loop, reps)
    return out


def gemm_numpy(shapes, dtype="float32"):
    rng = np.random.default_rng(0)
    return _gemm_eager(shapes, lambda m, k, n: (rng.random((m, k), dtype=dtype),
                                                rng.random((k, n), dtype=dtype)), np.matmul)


def gemm_torch(shapes):
    import torch
    return _gemm_eager(shapes, lambda m, k, n: (torch.rand(m, k), torch.rand(k, n)), torch.mm)


def _formulations(m, k, n):
    """Every way XLA can be asked for the product C = A @ B (m x k x n): A stored (m, k) or
    (k, m), B stored (k, n) or (n, k), and the result written as C (m, n) or as its
    transpose (n, m) -- XLA's CPU kernels differ by up to 2x between them (jaxbp's BP4
    writes the transpose). As ``(name, shape_a, shape_b, fn)``; all are the same FLOPs."""
    import jax
    out = []
    for a_t in (False, True):
        for b_t in (False, True):
            for c_t in (False, True):
                dn = (((0 if a_t else 1,), (1 if b_t else 0,)), ((), ()))   # contracted axes
                if c_t:
                    fn = lambda a, b, dn=dn: jax.lax.dot_general(b, a, (dn[0][::-1], dn[1]))
                else:
                    fn = lambda a, b, dn=dn: jax.lax.dot_general(a, b, dn)
                name = (f"{'A.T' if a_t else 'A'} @ {'B.T' if b_t else 'B'}"
                        + (" -> C.T" if c_t else ""))
                out.append((name, (k, m) if a_t else (m, k), (n, k) if b_t else (k, n), fn))
    return out


def gemm_jax(shapes):
    """Per-shape GEMM time inside a compiled loop (4 different left operands, so XLA cannot
    hoist the product out of the loop), the fastest of :func:`_formulations` (with
    ``ALL_LAYOUTS`` off, only ``A @ B``: 40 compilations cost --quick 20-50 s); also which
    formulation that was (``{"mxkxn": seconds}``, ``{"mxkxn": name}``)."""
    import jax
    import jax.numpy as jnp
    out, how = {}, {}
    rng = np.random.default_rng(0)      # uniform [0, 1) operands, drawn without a compilation
    for m, k, n in shapes:
        reps = max(8, int(2e7 // (2 * m * k * n + 1)))
        for name, sa, sb, fn in _formulations(m, k, n)[:None if ALL_LAYOUTS else 1]:
            a = jnp.asarray(rng.random((4,) + sa, dtype=np.float32))
            b = jnp.asarray(rng.random(sb, dtype=np.float32))
            shape = jax.eval_shape(fn, a[0], b).shape
            f = jax.jit(lambda a, b, fn=fn, shape=shape: jax.lax.fori_loop(
                0, reps, lambda i, acc: acc + fn(a[i % 4], b), jnp.zeros(shape, jnp.float32)))
            t = _best_time(lambda: f(a, b).block_until_ready(), reps)
            key = f"{m}x{k}x{n}"
            if t < out.get(key, float("inf")):
                out[key], how[key] = t, name
    return out, how


def vector_rates(size, width=8):
    """``(flops_per_s, sigmoids_per_s)`` for float32 arrays of ``size`` elements (XLA).

    Each loop iteration does ``width`` independent multiply-adds (or sigmoids) per element and
    sums them, so the measurement is throughput-bound, not latency-bound."""
    import jax
    import jax.numpy as jnp
    a = jnp.linspace(0.1, 0.9, size, dtype=jnp.float32)
    reps = max(10, int(1e8 // (2 * width * size)))
    cs = [1.0 - 0.01 * k for k in range(width)]

    def fma_body(i, a):
        return sum(a * c + 0.001 for c in cs) * (1.0 / width)

    def exp_body(i, a):
        return sum(jax.nn.sigmoid(c * a) for c in cs) * (1.0 / width)
    fma = jax.jit(lambda a: jax.lax.fori_loop(0, reps, fma_body, a))
    exp = jax.jit(lambda a: jax.lax.fori_loop(0, reps, exp_body, a))
    t_fma = _best_time(lambda: fma(a).block_until_ready(), reps)
    t_exp = _best_time(lambda: exp(a).block_until_ready(), reps)
    return 2 * width * size / t_fma, width * size / t_exp


def measure_jax(workloads):
    """Everything XLA-side for the limits of W2 and W5 (run in the jax worker)."""
    out = {}
    for wid in ("W2", "W5"):
        if wid not in workloads:
            continue
        w = workloads[wid]
        n = w.batch or 4
        size = n * sum(w.sizes[1:]) * w.runs
        flops, exps = vector_rates(size)
        gemm, how = gemm_jax(gemm_shapes(w)) if wid == "W5" else ({}, {})
        out[wid] = {"vector_flops": flops, "exps": exps, "gemm_xla": gemm, "gemm_xla_how": how}
    return out


def limit(w, jax_side, gemm_by_library):
    """Seconds for the whole workload ``w`` at this machine's measured rates, and the parts.

    ``gemm_by_library``: ``{library: {"mxkxn": seconds}}`` (W5); W2's tiny products are
    priced at the vector rate."""
    matmul, elementwise, trans = counts(w)            # per step and run
    rates = jax_side[w.wid]
    if w.wid == "W5":
        best = {}                                     # shape -> (seconds, library)
        for lib, times in gemm_by_library.items():
            for shape, t in times.items():
                if shape not in best or t < best[shape][0]:
                    best[shape] = (t, lib)
        gemm_per_run_step = sum(best[f"{m}x{k}x{q}"][0] for m, k, q in gemm_shapes(w))
        libs = sorted({lib for _, lib in best.values()})
    else:
        gemm_per_run_step, libs = matmul / rates["vector_flops"], ["XLA (vector ops)"]
    run_steps = w.runs * w.steps
    parts = {"gemm": gemm_per_run_step * run_steps,
             "elementwise": elementwise / rates["vector_flops"] * run_steps,
             "exp": trans / rates["exps"] * run_steps}
    return {"seconds": sum(parts.values()), **parts, "gemm_from": libs,
            "matmul_flops": matmul * run_steps, "transcendentals": trans * run_steps}
