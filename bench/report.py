"""Turn the workers' raw results into the summary (agreement, ratios, limits, targets) and
the Markdown report."""
import dataclasses
import os
import platform

import numpy as np

from . import limits as lim
from . import workloads as wl

REF = "jaxbp-manual"
ORDER = ("jaxbp-manual", "jaxbp-autodiff", "jaxbp-optax-manual", "jaxbp-optax-autodiff",
         "jaxbp-train_many", "jax-autodiff", "jax-manual", "jax-fused", "numpy-nielsen",
         "numpy-batch", "numpy-batch-1t", "torch", "python")
# Rows of jaxbp or of the plain JAX loops; every other row is a peer of another library.
JAX_ROWS = ("jaxbp-", "jax-")


def machine(data, meta):
    info = {"cpu": "unknown", "cores": os.cpu_count(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in text.splitlines()
                           if line.startswith("model name"))
        flags = next(line for line in text.splitlines() if line.startswith("flags")).split()
        info["simd"] = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
    except (OSError, StopIteration):
        pass
    versions, blas = {}, None
    for group in ("jax32", "numpy", "torch"):
        d = data.get(group) or {}
        versions.update(d.get("info", {}).get("versions", {}))
    numpy_info = (data.get("numpy") or {}).get("info", {})
    if numpy_info.get("blas"):
        blas = ", ".join(f"{b['internal_api']} {b['version']} kernel {b['architecture']}, "
                         f"{b['num_threads']} thread(s)" for b in numpy_info["blas"]
                         if "numpy" in (b.get("filepath") or ""))
    info.update(versions=versions, blas=blas, torch_threads=(data.get("torch") or {}).get(
        "info", {}).get("torch_threads"), numpy_env=numpy_info.get("env"))
    return info


def _rows(data):
    rows = {}
    for group, d in data.items():
        if group == "scaling" or not d:
            continue
        for name, per in d["results"].items():
            for key, entry in per.items():
                rows.setdefault(key, {})[name] = entry
    return rows


def build(data, meta, gates, notes):
    specs, raw = meta["specs"], _rows(data)
    table, all_agree = {}, True
    for wid in meta["workloads"]:
        w, out = specs[wid], []
        full, red = raw.get(wid, {}), raw.get(f"{wid}-reduced", {})
        ref = full.get(REF)
        for name in sorted(set(full) | set(red), key=lambda n: ORDER.index(n) if n in ORDER else 99):
            if name != REF and name in red and name not in full:
                entry, against, scale = red[name], red.get(REF), _work(w) / _work(wl.reduced(w))
                if wid == "W2" and ref is not None:   # runs are independent: the first R runs
                    r = wl.reduced(w).runs
                    against = {"result": {"losses": ref["result"]["losses"][:r]}}
            else:
                entry, against, scale = full.get(name), ref, 1.0
            if entry is None:
                continue
            times = np.asarray(entry["times"] or [entry["first"]]) * scale
            row = {"name": name, "label": entry["label"], "median": float(np.median(times)),
                   "min": float(times.min()), "max": float(times.max()), "first": entry["first"],
                   "repeats": len(entry["times"]), "scale": scale, "result": entry["result"],
                   "steps": entry["steps"], "runs": entry["runs"]}
            if against is None:
                row["agree"], row["agree_text"] = None, "no reference"
            else:
                row["agree"], row["agree_text"] = wl.agree(w, against["result"], entry["result"])
                all_agree &= bool(row["agree"])
            out.append(row)
        base = next((r["median"] for r in out if r["name"] == REF), None)
        for r in out:
            r["ratio"] = r["median"] / base if base else None
        table[wid] = out
    summary = {"machine": machine(data, meta), "meta": meta, "table": table, "notes": list(notes),
               "all_agree": all_agree, "gates": gates}
    summary["limits"] = _limits(data, specs, table)
    summary["targets"] = _targets(summary)
    for group, d in data.items():
        if d and d.get("notes"):
            summary["notes"] += d["notes"]
            summary["all_agree"] = False          # an implementation failed to run
        for k, v in ((d or {}).get("info") or {}).items():
            if k.startswith("perms_") and v is False:
                summary["notes"].append(f"{k}: the bench's replica of fit's shuffling does not "
                                        f"match jaxbp.fit any more (update bench/impl_jaxbp.py)")
    summary["scaling"] = (data.get("scaling") or {}).get("rows")
    for r in summary["scaling"] if isinstance(summary["scaling"], list) else []:
        if isinstance(r, dict) and "error" in r:
            summary["notes"].append(f"scaling {r['workload']} on {r['devices']} device(s) "
                                    f"failed: {r['error']}")
            summary["all_agree"] = False
    return summary


def _more_runs(table, repeats):
    """Which cells got more timed runs (a worker's round of calls took under
    ``worker.SHORT_ROUND`` or ``worker.BRIEF_ROUND`` s), as text for the header."""
    more = {}
    for wid, rows in table.items():
        for r in rows:
            if r["repeats"] > repeats:
                more.setdefault(r["repeats"], []).append(f"{wid} {r['name']}")
    return "".join(f" ({n} for {', '.join(cells)})" for n, cells in sorted(more.items()))


def _work(w):
    return w.runs * w.steps


def _limits(data, specs, table):
    jax_side = ((data.get("jax32") or {}).get("info") or {}).get("limits") or {}
    gemm = {}
    for group, lib in (("jax32", "XLA"), ("numpy", "OpenBLAS"), ("torch", "torch")):
        info = (data.get(group) or {}).get("info") or {}
        times = info.get("gemm") if group != "jax32" else jax_side.get("W5", {}).get("gemm_xla")
        if times:
            gemm[lib] = times
    out = {}
    for wid in ("W2", "W5"):
        if wid not in jax_side or wid not in table:
            continue
        res = lim.limit(specs[wid], jax_side, gemm)
        res["fractions"] = {r["name"]: res["seconds"] / r["median"] for r in table[wid]}
        res["gemm_by_library"] = gemm if wid == "W5" else {}
        res["gemm_xla_how"] = jax_side[wid].get("gemm_xla_how") or {}
        out[wid] = res
    return out


def _best(table, wid, names):
    rows = [r for r in table.get(wid, []) if r["name"] in names]
    return min(rows, key=lambda r: r["median"]) if rows else None


def _ratio(table, wid, a, b):
    """median(a) / median(b) in ``wid``'s table, or None when either row is missing."""
    ra, rb = _best(table, wid, {a}), _best(table, wid, {b})
    return ra["median"] / rb["median"] if ra and rb else None


# (text, row, against, bound): the ratio of two rows' medians in the same run, <= bound
PAIRS = [("manual <= 1.05x autodiff (`fit`, lr a number)", REF, "jaxbp-autodiff", 1.05),
         ("manual <= 1.05x autodiff (`fit`, `optax.sgd`, in `jit`)", "jaxbp-optax-manual",
          "jaxbp-optax-autodiff", 1.05)]
W2_PAIRS = [("W2: `vmap(fit)`, `optax.sgd` <= 1.0x the plain JAX peer (autodiff)",
             "jaxbp-optax-manual", "jax-autodiff", 1.0),
            ("W2: `vmap(fit)`, `optax.sgd` <= 1.15x the hand-written manual step",
             "jaxbp-optax-manual", "jax-manual", 1.15),
            ("W2: the sweep path (`train_many`) <= 0.35x the hand-written manual step",
             "jaxbp-train_many", "jax-manual", 0.35)]
W5_PAIRS = [("W5: `fit`, `optax.sgd`, in `jit` <= 1.0x the plain JAX peer (autodiff)",
             "jaxbp-optax-manual", "jax-autodiff", 1.0)]


def _targets(s):
    t, table, out = s["meta"], s["table"], []
    for wid in table:
        for text, a, b, bound in PAIRS:
            r = _ratio(table, wid, a, b)
            if r is not None:
                out.append((f"{wid}: {text}", f"{r:.2f}", r <= bound))
    for wid, pairs in (("W2", W2_PAIRS), ("W5", W5_PAIRS)):
        for text, a, b, bound in pairs:
            r = _ratio(table, wid, a, b)
            if r is not None:
                out.append((text, f"{r:.2f}", r <= bound))
    r = _ratio(table, "W5", "jaxbp-optax-manual", REF)
    if r is not None:
        out.append(("W5: `fit` with `optax.sgd` in `jit` within 5% of `fit` with a number",
                    f"{r:.2f}", abs(r - 1) <= 0.05))
    full = t["mode"] == "full"
    b = _best(table, "W2", {REF, "jaxbp-optax-manual", "jaxbp-train_many"})
    if b:
        out.append(("W2: 1,024-run sweep <= 0.1 s" + ("" if full else " (full size only)"),
                    f"{b['median']:.3f} s ({b['name']})", b["median"] <= 0.1 if full else None))
    only = "" if full else " (full size only)"     # fixed per-call costs dominate short runs
    if "W5" in s["limits"]:
        frac = s["limits"]["W5"]["fractions"].get(REF)
        peers = [r for r in table["W5"] if not r["name"].startswith(JAX_ROWS)]
        m = _best(table, "W5", {REF})
        if frac is not None:
            out.append(("W5: >= 0.8 of machine limit" + only, f"{frac:.2f}",
                        frac >= 0.8 if full else None))
        if m and peers:
            best = min(peers, key=lambda r: r["median"])
            out.append(("W5: ahead of every other library's peer" + only,
                        f"{best['median'] / m['median']:.2f}x vs {best['name']}",
                        m["median"] < best["median"] if full else None))
    for wid in ("W1", "W3"):
        m, p = _best(table, wid, {REF}), _best(table, wid, {"python"})
        if m and p:
            out.append((f"{wid}: >= 5x faster than pure Python" + only,
                        f"{p['median'] / m['median']:.1f}x",
                        p["median"] >= 5 * m["median"] if full else None))
    times, err = s["gates"]
    if times:
        gates, imp = times["gates"], float(np.median(times["import"]))
        out.append(("`jaxbp gates` cold start < 10 s", f"{gates[0]:.1f} s", gates[0] < 10))
        out.append(("`jaxbp gates`, first run (empty cache) <= 2.5x `import jax, jaxbp`",
                    f"{gates[0] / imp:.1f}x ({gates[0]:.1f} s / {imp:.1f} s)",
                    gates[0] <= 2.5 * imp))
        later = float(np.median(gates[1:]))
        out.append(("`jaxbp gates`, a second run <= 1.5x `import jax, jaxbp`",
                    f"{later / imp:.1f}x ({later:.1f} s)", later <= 1.5 * imp))
        for label, t in zip(("first run (empty cache)", "second run"), times.get("sweep", [])):
            out.append((f"`jaxbp sweep` <= 10 s, {label}", f"{t:.1f} s", t <= 10))
    else:
        out.append(("`jaxbp gates` cold start < 10 s", f"not measured: {err}", None))
    return out


def _fmt_time(s):
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} µs"


def _rate(w, r):
    per = r["median"] / r["scale"]
    if w.wid in ("W1", "W3"):
        return f"{per / r['steps'] * 1e6:.2f} µs/step"
    if w.wid == "W2":
        return f"{per / (r['steps'] * r['runs']) * 1e9:.1f} ns/run-step"
    if w.wid == "W4":
        return f"{per / w.epochs * 1e3:.1f} ms/epoch"
    return f"{r['steps'] * w.batch / per / 1e3:.0f}k samples/s"


def _result(w, res):
    if w.wid == "W2":
        return f"loss {res['loss']:.5f}, solved {100 * res['solved']:.1f}%"
    if w.wid == "W4":
        return f"acc {100 * res['accuracy']:.1f}%, loss {res['loss']:.4f}"
    return f"loss {res['loss']:.6g}" if w.wid != "W3" else f"loss {res['loss']:.10g}"


def markdown(s):
    m, meta = s["machine"], s["meta"]
    v = m["versions"]
    lines = [f"# jaxbp benchmark ({meta['mode']})", "",
             f"- Machine: {m['cpu']} ({m.get('simd', '?')}), {m['cores']} cores; "
             f"Python {m['python']}",
             "- Versions: " + ", ".join(f"{k} {v[k]}" for k in sorted(v)),
             f"- Threads: every worker pinned to {meta['threads']} core(s); XLA: "
             + ("1 thread (`--xla_cpu_multi_thread_eigen=false`)" if meta["threads"] == 1
                else "its default pool")
             + f"; NumPy BLAS: {m['blas'] or 'n/a'}; torch threads: {m['torch_threads'] or 'n/a'}",
             "- OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE in the NumPy/torch workers: "
             + ("kept as set" if meta["keep_blas_env"] else "unset (jax workers: unchanged)"),
             f"- Load average before/after: {meta['load_before'][0]:.2f} / "
             f"{meta['load_after'][0]:.2f}; timed runs per cell: {meta['repeats']}"
             + _more_runs(s["table"], meta["repeats"]) + " after a first (compile/warm-up) "
             f"call, in rounds interleaving the implementations of a worker (ABBA order); "
             f"bench wall time {meta['wall']:.0f} s ("
             + ", ".join(f"{g} {d['wall']:.0f} s" for g, d in meta.get("walls", {}).items())
             + ")", ""]
    for wid, rows in s["table"].items():
        w = meta["specs"][wid]
        full = wl.specs()[wid]
        size = "" if (w.steps, w.runs, w.n) == (full.steps, full.runs, full.n) else \
            f" -- this run: {w.steps:,} steps" + (f" x {w.runs:,} runs" if w.runs > 1 else "") \
            + (f", {wl.n_train(w):,} samples" if w.n else "")
        lines += [f"## {wid}: {w.title}{size}", "",
                  "| implementation | median | min-max | first call | rate | result | agrees | "
                  "÷ jaxbp manual |", "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            est = "≈" if r["scale"] != 1 else ""
            agree = {True: "yes", False: "**NO**", None: "-"}[r["agree"]]
            lines.append(
                f"| {r['label']} | {est}{_fmt_time(r['median'])} | {est}{_fmt_time(r['min'])}"
                f"-{_fmt_time(r['max'])} | {_fmt_time(r['first'])} | {_rate(w, r)} | "
                f"{_result(w, r['result'])} | {agree} ({r['agree_text']}) | "
                + (f"{r['ratio']:.2f}" if r["ratio"] else "-") + " |")
        if any(r["scale"] != 1 for r in rows):
            lines.append("")
            lines.append(f"≈: run on {wl.reduced(w).runs} run(s) x {wl.reduced(w).steps} steps "
                         "and scaled linearly to the full workload; its result is checked "
                         "against jaxbp manual on the same reduced problem.")
        lines.append("")
    if s["limits"]:
        lines += ["## Machine limit (W2, W5)", "",
                  "| workload | limit | GEMM part | elementwise | sigmoid | GEMM rates from | "
                  "fraction of limit reached |", "|---|---|---|---|---|---|---|"]
        for wid, L in s["limits"].items():
            fr = ", ".join(f"{n} {f:.2f}" for n, f in L["fractions"].items())
            lines.append(f"| {wid} | {_fmt_time(L['seconds'])} | {_fmt_time(L['gemm'])} | "
                         f"{_fmt_time(L['elementwise'])} | {_fmt_time(L['exp'])} | "
                         f"{', '.join(L['gemm_from'])} | {fr} |")
        g = s["limits"].get("W5", {}).get("gemm_by_library")
        if g:
            lines += ["", "W5 GEMM time per shape (m x k x n, µs):", "",
                      "| library | " + " | ".join(next(iter(g.values()))) + " |",
                      "|---|" + "---|" * len(next(iter(g.values())))]
            how = s["limits"]["W5"].get("gemm_xla_how") or {}
            for lib, times in g.items():
                lines.append(f"| {lib} | " + " | ".join(
                    f"{t * 1e6:.1f}" + (f" (`{how[k]}`)" if lib == "XLA" and k in how else "")
                    for k, t in times.items()) + " |")
            if how:
                lines += ["", "XLA: the fastest of its 8 layouts of each product (A or A.T "
                          "stored, B or B.T stored, C or C.T written; a full run measures all 8, "
                          "--quick and --smoke only A @ B); in brackets, which."]
        lines.append("")
    lines += ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for name, value, ok in s["targets"]:
        lines.append(f"| {name} | {value} | {'yes' if ok else '-' if ok is None else '**no**'} |")
    lines.append("")
    if s.get("scaling"):
        lines += ["## Scaling (bench/scaling.py)", "", _scaling(s["scaling"]), ""]
    if s["notes"]:
        lines += ["## Notes", ""] + [f"- {n.strip()}" for n in s["notes"]] + [""]
    lines.append(f"All implementations agree: {'yes' if s['all_agree'] else '**NO**'}")
    return "\n".join(lines) + "\n"


def _scaling(rows):
    if isinstance(rows, str):
        return rows
    try:
        from . import scaling
        return scaling.table(rows)
    except Exception:       # another engineer's module: fall back to a generic table
        pass
    if rows and isinstance(rows[0], dict):
        keys = list(rows[0])
        return "\n".join(["| " + " | ".join(keys) + " |", "|---" * len(keys) + "|"]
                         + ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows])
    return "\n".join(f"- {r}" for r in rows)


def jsonable(s):
    def conv(o):
        if dataclasses.is_dataclass(o):
            return dataclasses.asdict(o)
        if isinstance(o, dict):
            return {str(k): conv(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [conv(v) for v in o]
        if isinstance(o, (np.floating, np.integer, np.bool_)):
            return o.item()
        return o
    return conv(s)
