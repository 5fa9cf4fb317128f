"""Subprocess side of tests/test_parallel.py: runs jaxbp on several (simulated CPU) devices.

The main pytest process has initialised jax with one device, so multi-device runs happen
here, in a fresh interpreter started with ``XLA_FLAGS=--xla_force_host_platform_device_count=N``:

    python parallel_worker.py devices OUT [--few]    # one process with all N devices
                                                     # (--few: a smaller set of fit cases)
    python parallel_worker.py process ID PORT OUT    # process ID (0 or 1) of a 2-process
                                                     # jax.distributed job on 127.0.0.1:PORT

It only runs things and records raw results -- arrays in ``OUT.npz``, everything else
(shardings, error messages, counts) in ``OUT.json`` -- and the test makes the assertions.
In ``devices`` mode each data-parallel run is paired with the same ``jaxbp.fit`` call
without a mesh (one device), the reference it must equal.
"""
import json
import sys

import numpy as np


def problem(n, seed=0):
    """A small regression problem: x (n, 3) standard normal, y (n, 2) in (0, 1)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)), rng.uniform(0.05, 0.95, (n, 2))


def xor_runs(runs, seed):
    """``runs`` random 2-2-1 parameter sets stacked on a leading run axis (float64, N(0, 1))."""
    rng = np.random.default_rng(seed)
    return tuple({"W": rng.standard_normal((runs, n_in, n_out)), "b": rng.standard_normal((runs, n_out))}
                 for n_in, n_out in ((2, 2), (2, 1)))


XOR = (np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float), np.array([[0], [1], [1], [0]], float))


def record_error(log, name, fn):
    try:
        fn()
    except (TypeError, ValueError) as e:
        log[name] = [type(e).__name__, str(e)]
    else:
        log[name] = ["no error", ""]


def fit_cases(d):
    """name -> (fit arguments, mesh factory); n = 6d rows, mini-batches of 2d rows."""
    import jax
    import optax
    from jax.sharding import Mesh

    from jaxbp import parallel

    n = 6 * d
    key = jax.random.key(7)
    full = dict(steps=100, optimizer=0.5, cost="quadratic")
    mini = dict(steps=100, optimizer=0.5, cost="quadratic", batch_size=2 * d, key=key)
    one_axis = lambda: parallel.make_mesh()
    return {
        "manual_full": (dict(full, grad="manual", n=n), one_axis),
        "autodiff_full": (dict(full, grad="autodiff", n=n), one_axis),
        "manual_mini": (dict(mini, grad="manual", n=n), one_axis),
        "autodiff_mini": (dict(mini, grad="autodiff", n=n), one_axis),
        # n not divisible by d: x and y are replicated, each batch is still split.
        "manual_mini_uneven_n": (dict(mini, grad="manual", n=n + 1, batch_size=d), one_axis),
        "adam_l2_trainable_ce": (dict(steps=60, optimizer=optax.adam(0.05), cost="cross_entropy",
                                      grad="manual", n=n, l2=0.01,
                                      trainable=({"W": True, "b": False}, {"W": True, "b": True})),
                                 one_axis),
        "float32": (dict(full, grad="manual", n=n, dtype="float32"), one_axis),
        # jax.make_mesh gives Explicit axes in this jax; fit must still work.
        "explicit_mesh": (dict(mini, grad="manual", n=n), lambda: jax.make_mesh((d,), ("data",))),
        # a 2-D mesh: the batch is split over "data" and replicated over "model".
        "two_axis_mesh": (dict(mini, grad="autodiff", n=n),
                          lambda: Mesh(np.array(jax.devices()).reshape(d // 2, 2), ("data", "model"))),
    }


def run_fit(case, mesh=None, jit=False):
    import jax
    import jax.numpy as jnp

    import jaxbp

    case = dict(case)
    n, dtype = case.pop("n"), case.pop("dtype", "float64")
    net = jaxbp.MLP((3, 5, 2))
    params = net.init(jax.random.key(0), dtype=jnp.dtype(dtype))
    x, y = problem(n)
    cost, optimizer = case.pop("cost"), case.pop("optimizer")
    from jaxbp import parallel
    if mesh is None:
        train = lambda p: jaxbp.fit(net, p, x, y, cost, optimizer, **case)
    else:
        train = lambda p: parallel.fit(net, p, x, y, cost, optimizer, mesh=mesh, **case)
    params, history = (jax.jit(train) if jit else train)(params)
    leaves = jax.tree_util.tree_leaves(params)
    return [np.asarray(a) for a in leaves] + [np.asarray(history)], leaves[0].sharding


def describe(sharding):
    return {"spec": str(sharding.spec), "devices": len(sharding.device_set)}


FEW = ("manual_full", "autodiff_mini")


def devices_mode(out, few=False):
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_rank_promotion", "raise")
    import jax.numpy as jnp
    from jax.sharding import Mesh

    import jaxbp
    from jaxbp import _checks, parallel, sweep

    d = jax.device_count()
    arrays, log = {}, {"device_count": d}

    for name, (case, make) in fit_cases(d).items():
        if few and name not in FEW:
            continue
        with_mesh, sharding = run_fit(case, make())
        single, _ = run_fit(case)
        for i, (a, b) in enumerate(zip(with_mesh, single)):
            arrays[f"fit/{name}/mesh/{i}"], arrays[f"fit/{name}/single/{i}"] = a, b
        log[f"fit/{name}/params_sharding"] = describe(sharding)
    if not few:  # fit(..., mesh=...) inside jax.jit: placement becomes sharding constraints
        case, make = fit_cases(d)["manual_full"]
        jitted, sharding = run_fit(case, make(), jit=True)
        for i, a in enumerate(jitted):
            arrays[f"fit/jit_manual_full/mesh/{i}"] = a
            arrays[f"fit/jit_manual_full/single/{i}"] = arrays[f"fit/manual_full/single/{i}"]
        log["fit/jit_manual_full/params_sharding"] = describe(sharding)

    # Placement: rows of x split evenly, params replicated on every device.
    net = jaxbp.MLP((3, 5, 2))
    params = net.init(jax.random.key(0), dtype=jnp.float64)
    x, y = problem(6 * d)
    cost, x2, y2, _ = _checks.prepare("fit", net, params, x, y, "quadratic")
    p, xs, ys = parallel.place_for_fit("fit", parallel.make_mesh(), params, x2, y2, None)
    log["place/x_shard_rows"] = sorted(s.data.shape[0] for s in xs.addressable_shards)
    log["place/x_sharding"] = describe(xs.sharding)
    log["place/y_sharding"] = describe(ys.sharding)
    log["place/params_sharding"] = [describe(a.sharding) for a in jax.tree_util.tree_leaves(p)]
    log["place/x_equal"] = bool(np.array_equal(np.asarray(xs), np.asarray(x2)))
    # The manual kernel on sharded rows: BP3/BP4 batch sums become cross-device all-reduces.
    hlo = jax.jit(lambda p, x, y: jaxbp.backprop(net, p, x, y, "quadratic")).lower(p, xs, ys) \
        .compile().as_text()
    log["hlo/backprop_all_reduce"] = hlo.count("all-reduce(")
    grads_sharded = jaxbp.backprop(net, p, xs, ys, "quadratic")[1]
    grads_single = jaxbp.backprop(net, params, x2, y2, "quadratic")[1]
    grads_autodiff = jaxbp.autodiff(net, params, x2, y2, "quadratic")[1]
    for i, (a, b, c) in enumerate(zip(*map(jax.tree_util.tree_leaves,
                                           (grads_sharded, grads_single, grads_autodiff)))):
        arrays[f"grads/sharded/{i}"], arrays[f"grads/single/{i}"] = np.asarray(a), np.asarray(b)
        arrays[f"grads/autodiff/{i}"] = np.asarray(c)

    # Errors: each must be raised before any tracing, with a clear message.
    from jaxbp.train import TRACES
    traces = TRACES["fit"]
    xb, yb = problem(6 * d + 1)
    fit = lambda **kw: parallel.fit(net, params, kw.pop("x", x), kw.pop("y", y), "quadratic", 0.5,
                                    steps=3, **kw)
    record_error(log, "error/full_batch_indivisible", lambda: fit(x=xb, y=yb, mesh=parallel.make_mesh()))
    record_error(log, "error/batch_size_indivisible",
                 lambda: fit(batch_size=d + 1, key=jax.random.key(0), mesh=parallel.make_mesh()))
    record_error(log, "error/full_batch_fewer_rows_than_devices",
                 lambda: fit(x=x[:3], y=y[:3], mesh=parallel.make_mesh()))
    record_error(log, "error/batch_size_below_devices",
                 lambda: fit(x=x[:3], y=y[:3], batch_size=3, key=jax.random.key(0),
                             mesh=parallel.make_mesh()))
    record_error(log, "error/no_data_axis", lambda: fit(mesh=Mesh(np.array(jax.devices()), ("batch",))))
    record_error(log, "error/not_a_mesh", lambda: fit(mesh=jax.devices()))
    record_error(log, "error/make_mesh_too_many", lambda: parallel.make_mesh(d + 1))
    log["error/fit_traces"] = TRACES["fit"] - traces

    # Sharded sweeps: R divisible by d, and not (padded).
    net = jaxbp.MLP((2, 2, 1))
    gx, gy = XOR
    for runs in (2 * d + 1,) if few else (2 * d, 2 * d + 1):  # divisible, padded
        pb = xor_runs(runs, seed=runs)
        lr = np.linspace(0.5, 8.0, runs)
        sharded = parallel.sharded_sweep(net, pb, gx, gy, "quadratic", lr, 300)
        single = sweep.train_many(net, pb, gx, gy, "quadratic", lr, 300)
        for i, (a, b) in enumerate(zip(jax.tree_util.tree_leaves(sharded), jax.tree_util.tree_leaves(single))):
            arrays[f"sweep/{runs}/sharded/{i}"], arrays[f"sweep/{runs}/single/{i}"] = np.asarray(a), np.asarray(b)
    pb = xor_runs(2 * d, seed=0)
    placed = parallel.shard_runs(pb, parallel.make_mesh(axis="runs"))
    log["shard_runs/rows_per_device"] = sorted(s.data.shape[0] for s in placed[0]["W"].addressable_shards)
    log["shard_runs/sharding"] = describe(placed[0]["W"].sharding)
    record_error(log, "error/shard_runs_indivisible",
                 lambda: parallel.shard_runs(xor_runs(d + 1, seed=0),
                                             parallel.make_mesh(axis="runs")))
    record_error(log, "error/shard_runs_wrong_axis",
                 lambda: parallel.shard_runs(pb, parallel.make_mesh(axis="data")))
    save(out, arrays, log)


def process_mode(process_id, port, out):
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_rank_promotion", "raise")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                               process_id=process_id, initialization_timeout=60)
    try:
        import jax.numpy as jnp
        from jax.experimental import multihost_utils

        import jaxbp
        from jaxbp import _checks, parallel

        d = jax.device_count()
        log = {"process_index": jax.process_index(), "process_count": jax.process_count(),
               "device_count": d, "local_device_count": jax.local_device_count()}
        arrays = {}
        mesh = parallel.make_mesh()
        for name in ("manual_full", "autodiff_full", "manual_mini"):
            case, _ = fit_cases(d)[name]
            leaves, sharding = run_fit(case, mesh)
            for i, a in enumerate(leaves):
                arrays[f"fit/{name}/{i}"] = a
            log[f"fit/{name}/params_sharding"] = describe(sharding)
        net = jaxbp.MLP((3, 5, 2))
        params = net.init(jax.random.key(0), dtype=jnp.float64)
        x, y = problem(6 * d)
        _, x2, y2, _ = _checks.prepare("fit", net, params, x, y, "quadratic")
        _, xs, _ = parallel.place_for_fit("fit", mesh, params, x2, y2, None)
        log["x_fully_addressable"] = bool(xs.is_fully_addressable)
        log["x_local_shard_rows"] = [s.data.shape[0] for s in xs.addressable_shards]
        log["x_local_shards_equal"] = all(
            bool(np.array_equal(np.asarray(s.data), x[s.index])) for s in xs.addressable_shards)
        # Process-local data: each process passes only its own half of the rows.
        case, _ = fit_cases(d)["manual_full"]
        x, y = problem(case["n"])
        half = slice(process_id * (case["n"] // 2), (process_id + 1) * (case["n"] // 2))
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
        gx = jax.make_array_from_process_local_data(sharding, x[half])
        gy = jax.make_array_from_process_local_data(sharding, y[half])
        log["local/x_fully_addressable"] = bool(gx.is_fully_addressable)
        params = jaxbp.MLP((3, 5, 2)).init(jax.random.key(0), dtype=jnp.float64)
        fitted, history = parallel.fit(jaxbp.MLP((3, 5, 2)), params, gx, gy, "quadratic", 0.5,
                                       steps=100, mesh=mesh)
        for i, a in enumerate(jax.tree_util.tree_leaves(fitted)):  # replicated: any shard is all
            arrays[f"local/{i}"] = np.asarray(a.addressable_shards[0].data)
        bad = y[half].copy()
        bad[0, 0] = np.nan if process_id == 1 else bad[0, 0]  # a NaN in process 1's rows only
        gbad = jax.make_array_from_process_local_data(sharding, bad)
        record_error(log, "local/nan_error", lambda: parallel.fit(
            jaxbp.MLP((3, 5, 2)), params, gx, gbad, "quadratic", 0.5, steps=2, mesh=mesh))
        net = jaxbp.MLP((2, 2, 1))
        gx, gy = XOR
        pb = xor_runs(2 * d + 1, seed=3)
        result = parallel.sharded_sweep(net, pb, gx, gy, "quadratic", 2.0, 300)
        # The runs are spread over both processes: gather them to read them here.
        result = multihost_utils.process_allgather(result, tiled=True)
        for i, a in enumerate(jax.tree_util.tree_leaves(result)):
            arrays[f"sweep/{i}"] = np.asarray(a)
        save(out, arrays, log)
    finally:
        jax.distributed.shutdown()


def save(out, arrays, log):
    np.savez(out + ".npz", **arrays)
    with open(out + ".json", "w") as f:
        json.dump(log, f)


if __name__ == "__main__":
    if sys.argv[1] == "devices":
        devices_mode(sys.argv[2], few="--few" in sys.argv)
    else:
        process_mode(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
