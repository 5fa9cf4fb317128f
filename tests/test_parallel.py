"""Beyond one device: data-parallel fit, sharded sweeps, and two jax.distributed processes.

This pytest process has already initialised jax with one CPU device, so the multi-device
runs happen in subprocesses (tests/parallel_worker.py) started with
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (N = 4 and 8), and in two processes
of a ``jax.distributed`` job on 127.0.0.1 with 2 devices each. The workers only record
results; every assertion is here. The reference for a data-parallel run is the same
``jaxbp.fit`` call without a mesh (one device), and for a sharded sweep ``train_many``.
"""
import json
import os
import re
import socket
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, Mesh

import jaxbp
from jaxbp import parallel, sweep

sys.path.insert(0, os.path.dirname(__file__))
import parallel_worker  # noqa: E402

WORKER = parallel_worker.__file__
TIMEOUT = 300  # seconds for all workers together; on an idle 2-core machine they take ~20 s


def _env(devices):
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                        f" --xla_force_host_platform_device_count={devices}").strip()
    env["JAX_PLATFORMS"] = "cpu"
    return env


def _load(out):
    with open(f"{out}.json") as f:
        log = json.load(f)
    with np.load(f"{out}.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return log, arrays


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(out, names):
    """Start the named workers at once (they are independent): name -> (Popen, prefix, log)."""
    port = _free_port()
    argv = {"devices4": (["devices", "{out}"], 4), "devices8": (["devices", "{out}", "--few"], 8),
            "process0": (["process", "0", str(port), "{out}"], 2),
            "process1": (["process", "1", str(port), "{out}"], 2)}
    started = {}
    for name in names:
        args, devices = argv[name]
        prefix = out / name
        log = open(f"{prefix}.log", "w")
        command = [sys.executable, WORKER] + [a.format(out=prefix) for a in args]
        started[name] = (subprocess.Popen(command, env=_env(devices), stdout=log,
                                          stderr=subprocess.STDOUT), prefix, log)
    return started


def _finish(started):
    """Wait for every worker (bounded), kill any still running; name -> (exit code, output)."""
    deadline = time.monotonic() + TIMEOUT
    try:
        for proc, _, _ in started.values():
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for proc, _, log in started.values():  # never leave a process behind
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    return {name: (proc.returncode, open(f"{prefix}.log").read())
            for name, (proc, prefix, _) in started.items()}


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    """The 4-device, 8-device and two-process workers, run concurrently once per module."""
    out = tmp_path_factory.mktemp("parallel")
    done = _finish(_start(out, ("devices4", "devices8", "process0", "process1")))
    pair = ("process0", "process1")
    if any(done[p][0] != 0 for p in pair) and any("address already in use" in done[p][1].lower()
                                                  for p in pair):
        done.update(_finish(_start(out, pair)))  # the free port was taken meanwhile: retry once
    return {name: _load(out / name) if code == 0 else (code, text[-4000:])
            for name, (code, text) in done.items()}


def _result(workers, name):
    result = workers[name]
    assert isinstance(result[0], dict), f"worker {name} exited with {result[0]}:\n{result[1]}"
    return result


@pytest.fixture(params=[4, 8], ids=["4-devices", "8-devices"])
def devices_run(request, workers):
    n = request.param
    log, arrays = _result(workers, f"devices{n}")
    assert log["device_count"] == n
    return n, log, arrays


@pytest.fixture
def two_processes(workers):
    return [_result(workers, f"process{i}") for i in range(2)]


def _pairs(arrays, prefix, a="mesh", b="single"):
    keys = sorted(k for k in arrays if k.startswith(prefix) and f"/{a}/" in k)
    assert keys, f"no results for {prefix}"
    return [(k, arrays[k], arrays[k.replace(f"/{a}/", f"/{b}/")]) for k in keys]


# ---------------------------------------------------------------- data-parallel fit

@pytest.mark.slow
def test_fit_on_mesh_equals_single_device(devices_run):
    n, log, arrays = devices_run
    names = {k.split("/")[1] for k in arrays if k.startswith("fit/")}
    expected = set(parallel_worker.FEW) if n == 8 else {*parallel_worker.fit_cases(n), "jit_manual_full"}
    assert names == expected
    for name in sorted(names):
        pairs = _pairs(arrays, f"fit/{name}/")
        f32 = pairs[0][1].dtype == np.float32
        assert (name == "float32") == f32
        for key, got, want in pairs:
            assert got.dtype == want.dtype and got.shape == want.shape, key
            rtol, atol = (1e-5, 1e-6) if f32 else (1e-10, 1e-13)
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=key)
        history = pairs[-1][2]
        assert np.all(np.isfinite(history)), name
        assert np.mean(history[-20:]) < np.mean(history[:20]), name  # it trained


@pytest.mark.slow
def test_fit_frozen_leaves_stay_put_on_mesh(workers):
    _, arrays = _result(workers, "devices4")
    params = jaxbp.MLP((3, 5, 2)).init(jax.random.key(0), dtype=jnp.float64)
    # leaves of a layer dict in order W, b: the layer-0 bias is frozen in this case
    np.testing.assert_array_equal(arrays["fit/adam_l2_trainable_ce/mesh/1"], np.asarray(params[0]["b"]))
    assert not np.array_equal(arrays["fit/adam_l2_trainable_ce/mesh/0"], np.asarray(params[0]["W"]))


@pytest.mark.slow
def test_fit_returns_replicated_params(devices_run):
    n, log, _ = devices_run
    shardings = [v for k, v in log.items() if k.startswith("fit/") and k.endswith("params_sharding")]
    assert shardings and all(s == {"spec": "P()", "devices": n} for s in shardings)


@pytest.mark.slow
def test_rows_split_evenly_over_data_axis(devices_run):
    n, log, _ = devices_run
    assert log["place/x_shard_rows"] == [6] * n          # n = 6 * devices rows
    assert log["place/x_sharding"] == {"spec": "P('data',)", "devices": n}
    assert log["place/y_sharding"] == {"spec": "P('data',)", "devices": n}
    assert all(s == {"spec": "P()", "devices": n} for s in log["place/params_sharding"])
    assert log["place/x_equal"]


@pytest.mark.slow
def test_backprop_batch_sums_become_all_reduce(devices_run):
    """Same BP1-BP4 code; the sharded rows make XLA reduce BP3/BP4 across devices."""
    n, log, arrays = devices_run
    assert log["hlo/backprop_all_reduce"] >= 1
    for key, got, want in _pairs(arrays, "grads/", "sharded", "single"):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=key)
    for key, got, want in _pairs(arrays, "grads/", "sharded", "autodiff"):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=key)


ERRORS = {
    "error/full_batch_indivisible": ("ValueError",
                                     r"^fit: the full batch of {r} rows must be divisible by the {n} "
                                     r"devices on mesh axis 'data', got {r} % {n} = 1; drop 1 row\(s\) "
                                     r"\(n = {r1}\); pass batch_size={r1}"),
    "error/batch_size_indivisible": ("ValueError",
                                     r"^fit: batch_size must be divisible by the {n} devices on mesh "
                                     r"axis 'data', got batch_size={n1}; use batch_size={n} or "
                                     r"batch_size={n2}$"),
    "error/full_batch_fewer_rows_than_devices": ("ValueError",
                                                 r"^fit: the full batch of 3 rows must be divisible "
                                                 r"by the {n} devices on mesh axis 'data', got 3 % {n} "
                                                 r"= 3; use jaxbp\.parallel\.make_mesh\(3\)$"),
    "error/batch_size_below_devices": ("ValueError",
                                       r"^fit: batch_size must be divisible by the {n} devices on "
                                       r"mesh axis 'data', got batch_size=3; use "
                                       r"jaxbp\.parallel\.make_mesh\(3\)$"),
    "error/no_data_axis": ("ValueError", r"^fit: mesh must have an axis named 'data', got axes "
                                         r"\('batch',\); use jaxbp\.parallel\.make_mesh"),
    "error/not_a_mesh": ("TypeError", r"^fit: mesh must be a jax\.sharding\.Mesh .*got list$"),
    "error/make_mesh_too_many": ("ValueError", r"^make_mesh: devices must be an int in \[1, {n}\] "
                                               r"\(the number of devices\), got {n1}$"),
    "error/shard_runs_indivisible": ("ValueError",
                                     r"^shard_runs: the number of runs must be divisible by the {n} "
                                     r"devices on mesh axis 'runs', got {n1} runs; use {n2} runs, "
                                     r"or sharded_sweep, which pads them$"),
    "error/shard_runs_wrong_axis": ("ValueError", r"^shard_runs: mesh must have an axis named "
                                                  r"'runs', got axes \('data',\)"),
}


@pytest.mark.slow
def test_mesh_errors_come_before_tracing(devices_run):
    n, log, _ = devices_run
    assert log["error/fit_traces"] == 0  # fit's kernel was never traced for the bad calls


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_on_a_mesh(devices_run, case):
    n, log, _ = devices_run
    kind, pattern = ERRORS[case]
    rows = 6 * n + 1
    pattern = pattern.format(n=n, n1=n + 1, n2=2 * n, r=rows, r1=rows - 1)
    got_kind, message = log[case]
    assert got_kind == kind, message
    assert re.search(pattern, message), message


# ---------------------------------------------------------------- sharded sweeps

@pytest.mark.slow
def test_sharded_sweep_identical_to_train_many(devices_run):
    n, log, arrays = devices_run
    for runs in (2 * n + 1,) if n == 8 else (2 * n, 2 * n + 1):  # divisible; padded
        pairs = _pairs(arrays, f"sweep/{runs}/", "sharded", "single")
        assert len(pairs) == 4 + 5  # ManyResult: 4 params leaves, loss, outputs, solved, ...
        for key, got, want in pairs:
            assert got.shape[0] == runs, key
            np.testing.assert_array_equal(got, want, err_msg=key)
    assert log["shard_runs/rows_per_device"] == [2] * n
    assert log["shard_runs/sharding"] == {"spec": "P('runs',)", "devices": n}


# ---------------------------------------------------------------- two processes

@pytest.mark.slow
def test_two_processes_see_one_global_mesh(two_processes):
    for i, (log, _) in enumerate(two_processes):
        assert log["process_index"] == i
        assert log["process_count"] == 2
        assert log["device_count"] == 4 and log["local_device_count"] == 2
        # each process holds only its own rows of the global x: 24 rows, 6 per device
        assert not log["x_fully_addressable"]
        assert log["x_local_shard_rows"] == [6, 6]
        assert log["x_local_shards_equal"]


@pytest.mark.slow
def test_two_processes_agree_with_each_other_and_one_device(two_processes, workers):
    (_, first), (_, second) = two_processes
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    # The 4-device worker ran the same cases (same data, 4 devices in all) without a mesh.
    _, single = _result(workers, "devices4")
    for name in ("manual_full", "autodiff_full", "manual_mini"):
        keys = sorted(k for k in first if k.startswith(f"fit/{name}/"))
        assert len(keys) == 5, keys  # 4 params leaves and the history
        for key in keys:
            want = single[key.replace(f"fit/{name}/", f"fit/{name}/single/")]
            np.testing.assert_allclose(first[key], want, rtol=1e-10, atol=1e-13, err_msg=key)


@pytest.mark.slow
def test_two_processes_fit_on_process_local_data(two_processes, workers):
    """x and y built from each process's own rows (make_array_from_process_local_data):
    the checks run as global reductions, and the result equals the one-device run."""
    _, single = _result(workers, "devices4")
    for log, arrays in two_processes:
        assert log["local/x_fully_addressable"] is False
        for i in range(4):
            np.testing.assert_allclose(arrays[f"local/{i}"], single[f"fit/manual_full/single/{i}"],
                                       rtol=1e-10, atol=1e-13)
        kind, message = log["local/nan_error"]
        assert kind == "ValueError" and "y contains 1 non-finite value(s)" in message, message


@pytest.mark.slow
def test_two_processes_sharded_sweep(two_processes):
    (_, arrays), _ = two_processes
    net = jaxbp.MLP((2, 2, 1))
    gx, gy = parallel_worker.XOR
    pb = parallel_worker.xor_runs(9, seed=3)
    want = jax.tree_util.tree_leaves(sweep.train_many(net, pb, gx, gy, "quadratic", 2.0, 300))
    for i, w in enumerate(want):
        np.testing.assert_array_equal(arrays[f"sweep/{i}"], np.asarray(w))


# ---------------------------------------------------------------- in this process (1 device)

def test_make_mesh_defaults():
    mesh = parallel.make_mesh()
    assert mesh.axis_names == ("data",)
    assert mesh.size == jax.device_count() and list(mesh.devices.flat) == jax.devices()
    assert mesh.axis_types == (AxisType.Auto,)
    assert parallel.make_mesh(1, axis="runs").axis_names == ("runs",)
    assert parallel.make_mesh(jax.devices()[:1]).size == 1


@pytest.mark.parametrize("devices, kind, pattern", [
    (0, ValueError, r"^make_mesh: devices must be an int in \[1, 1\] \(the number of devices\), got 0$"),
    ("cpu", TypeError, r"^make_mesh: devices must be None, an int or a sequence of jax devices, got str$"),
    ([0, 1], TypeError, r"^make_mesh: devices must be jax devices \(from jax.devices\(\)\), got int$"),
    ([], TypeError, r"^make_mesh: devices must be jax devices .*got an empty sequence$"),
])
def test_make_mesh_errors(devices, kind, pattern):
    with pytest.raises(kind, match=pattern):
        parallel.make_mesh(devices)


def test_make_mesh_rejects_duplicates_and_bad_axis():
    d = jax.devices()[0]
    with pytest.raises(ValueError, match=r"^make_mesh: devices must be distinct"):
        parallel.make_mesh([d, d])
    with pytest.raises(TypeError, match=r"^make_mesh: axis must be a str, got int$"):
        parallel.make_mesh(axis=0)


def _xor():
    return (np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float), np.array([[0], [1], [1], [0]], float))


def test_fit_mesh_errors_before_tracing():
    net = jaxbp.MLP((2, 2, 1))
    params = net.init(jax.random.key(0), dtype=jnp.float64)
    x, y = _xor()
    with pytest.raises(ValueError, match=r"^fit: mesh must have an axis named 'data', got axes "
                                         r"\('x', 'y'\)"):
        parallel.fit(net, params, x, y, "quadratic", 0.5, steps=2,
                     mesh=Mesh(np.array(jax.devices()).reshape(1, 1), ("x", "y")))
    with pytest.raises(TypeError, match=r"^fit: mesh must be a jax\.sharding\.Mesh .*got str$"):
        parallel.fit(net, params, x, y, "quadratic", 0.5, steps=2, mesh="data")


def test_one_device_mesh_is_a_no_op():
    net = jaxbp.MLP((2, 2, 1))
    params = net.init(jax.random.key(0), dtype=jnp.float64)
    x, y = _xor()
    got = parallel.fit(net, params, x, y, "quadratic", 2.0, steps=50, mesh=parallel.make_mesh())
    want = jaxbp.fit(net, params, x, y, "quadratic", 2.0, steps=50)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


def test_shard_runs_checks_the_run_axis():
    mesh = parallel.make_mesh(axis="runs")
    with pytest.raises(ValueError, match=r"^shard_runs: every leaf must have the same leading "
                                         r"\(run\) axis, got shapes \[\(3, 2\), \(4,\)\]"):
        parallel.shard_runs({"a": np.zeros((3, 2)), "b": np.zeros(4)}, mesh)
    with pytest.raises(ValueError, match=r"^shard_runs: every leaf must have the same leading"):
        parallel.shard_runs(np.float64(1.0), mesh)
    with pytest.raises(ValueError, match=r"^shard_runs: expected a pytree of arrays"):
        parallel.shard_runs((), mesh)
    placed = parallel.shard_runs({"a": np.arange(3.0)}, mesh)
    np.testing.assert_array_equal(placed["a"], np.arange(3.0))


@pytest.mark.slow
def test_sharded_sweep_on_one_device_matches_train_many():
    net = jaxbp.MLP((2, 2, 1))
    x, y = _xor()
    pb = parallel_worker.xor_runs(3, seed=5)
    got = parallel.sharded_sweep(net, pb, x, y, "quadratic", np.array([0.5, 2.0, 4.0]), 100)
    want = sweep.train_many(net, pb, x, y, "quadratic", np.array([0.5, 2.0, 4.0]), 100)
    assert type(got) is type(want)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"^sharded_sweep: params_batch must be a params pytree"):
        parallel.sharded_sweep(net, net.init(jax.random.key(0))[0]["b"][0], x, y, "quadratic", 1.0, 5)
